"""The post-incident fields of an incident: resolution confirmation, impact summary, root cause,
lessons learned, the remediation plan and stakeholder feedback (DESIGN.md "Close the loop").

A closed incident's record is final: every write is refused with app/incidents/lifecycle.py's
IncidentClosed, except feedback, which typically arrives after closure. Each call is one Session
and one transaction; values out are the frozen nouns of app/reports/model.py; events are published
after commit (POST_INCIDENT_CHANGED with the incident id, TIMELINE_APPENDED per entry)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.coordinators.service import sign
from app import events as ev
from app.clock import Clock, ensure_utc
from app.domain.dto import IncidentDTO, TimelineEntryDTO
from app.domain.enums import Phase, TimelineKind
from app.domain.models import FeedbackRow, Incident, RemediationItemRow, Stakeholder, TimelineEntry
from app.errors import ClarionError, NotFound, ValidationError
from app.stakeholders.importing.feedback import (
    COMMENT_MAX, NAME_MAX, FeedbackImportPlan, known_stakeholders, plan_rows, read_csv_bytes,
    recorded_feedback, store_plan,
)
from app.incidents.lifecycle import (
    FUTURE_TOLERANCE, IncidentClosed, _default_actor, entry_dto, incident_dto,
)
from app.reports.model import FeedbackEntry, PostIncident, RemediationItem
from app.storage.engine import Store

__all__ = ["PostIncidentService", "NotResolved", "FIELD_MAX", "ITEM_TEXT_MAX", "OWNER_MAX",
           "CLOSED_MESSAGE", "FeedbackImportPlan"]

FIELD_MAX = 20_000
ITEM_TEXT_MAX = 2_000
OWNER_MAX = 200
CLOSED_MESSAGE = "This incident is closed: its record is final."
FIELD_LABELS = {
    "impact_summary": "impact summary",
    "root_cause": "root cause",
    "root_cause_under_investigation": "investigation status",
    "lessons_learned": "lessons learned",
}


class NotResolved(ClarionError):
    """The resolution of an incident that is not resolved cannot be confirmed."""


def _item(row: RemediationItemRow) -> RemediationItem:
    return RemediationItem(id=row.id, text=row.text, owner=row.owner, due_date=row.due_date,
                           done=bool(row.done))


def _feedback(row: FeedbackRow) -> FeedbackEntry:
    return FeedbackEntry(id=row.id, stakeholder_id=row.stakeholder_id,
                         stakeholder_name=row.stakeholder_name, rating=row.rating,
                         comment=row.comment, created_at=row.created_at)


def _zone(name: str | None) -> tzinfo:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, LookupError):  # ZoneInfoNotFoundError is a KeyError
        return timezone.utc


def _when(value: datetime) -> str:
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def _text(value: Any, field: str, limit: int, errors: dict[str, str]) -> str:
    clean = str(value or "").strip()
    if len(clean) > limit:
        errors[field] = f"Keep this under {limit:,} characters (it has {len(clean):,})."
    return clean


class PostIncidentService:
    def __init__(self, store: Store, clock: Clock, events: ev.EventBus | None = None,
                 actor: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.events = events or ev.EventBus()
        self.actor = actor if actor is not None else _default_actor()

    # -- reading

    def get(self, incident_id: int) -> PostIncident:
        with self.store.session() as session:
            return self._snapshot(session, self._incident(session, incident_id))

    # -- the written fields

    def save_fields(self, incident_id: int, *, impact_summary: str, root_cause: str,
                    root_cause_under_investigation: bool, lessons_learned: str) -> PostIncident:
        """Store the four texts; one timeline entry naming what changed (none if nothing did)."""
        errors: dict[str, str] = {}
        new = {
            "impact_summary": _text(impact_summary, "impact_summary", FIELD_MAX, errors),
            "root_cause": _text(root_cause, "root_cause", FIELD_MAX, errors),
            "root_cause_under_investigation": bool(root_cause_under_investigation),
            "lessons_learned": _text(lessons_learned, "lessons_learned", FIELD_MAX, errors),
        }
        if not new["root_cause"] and not new["root_cause_under_investigation"]:
            errors.setdefault("root_cause", "Write the root cause, or tick 'under investigation'.")
        if errors:
            raise ValidationError(errors)
        with self.store.session() as session, session.begin():
            incident = self._writable(session, incident_id)
            changed = [name for name, value in new.items() if getattr(incident, name) != value]
            entries = []
            if changed:
                for name in changed:
                    setattr(incident, name, new[name])
                incident.updated_at = self.clock.now()
                summary = ("Post-incident: " + ", ".join(FIELD_LABELS[n] for n in changed)
                           + " updated")
                if "root_cause_under_investigation" in changed:
                    summary += (" (root cause under investigation)"
                                if new["root_cause_under_investigation"]
                                else " (root cause no longer under investigation)")
                entries.append(self._append(session, incident, TimelineKind.FACTS_CHANGED,
                                            summary, {"field": "post_incident",
                                                      "changed": changed}))
            result = self._snapshot(session, incident)
            dto = incident_dto(incident, incident.client.name) if changed else None
        self._publish(incident_id, entries, dto)
        return result

    def confirm_resolution(self, incident_id: int, confirmed_by: str,
                           confirmed_at: datetime | None = None) -> PostIncident:
        """Record who confirmed the resolution and when (default: now). Only for a resolved
        incident (a closed one is final); one "decision" entry on the timeline."""
        now = self.clock.now()
        errors: dict[str, str] = {}
        who = " ".join(str(confirmed_by or "").split())
        if not who:
            errors["confirmed_by"] = "Say who confirmed the resolution."
        elif len(who) > NAME_MAX:
            errors["confirmed_by"] = f"Keep the name under {NAME_MAX} characters."
        when = ensure_utc(confirmed_at) if confirmed_at is not None else now
        if when > now + FUTURE_TOLERANCE:
            errors["confirmed_at"] = "The confirmation time cannot be in the future."
        with self.store.session() as session, session.begin():
            incident = self._writable(session, incident_id)
            phase = Phase(incident.phase)
            if phase != Phase.RESOLVED:
                raise NotResolved(
                    f"The incident is {phase.label.lower()}, not resolved: its resolution can "
                    "be confirmed once it is moved to resolved.")
            if "confirmed_at" not in errors and when < incident.detected_at:
                errors["confirmed_at"] = ("The resolution cannot be confirmed before the "
                                          "incident was detected.")
            if errors:
                raise ValidationError(errors)
            entries = []
            if (incident.resolution_confirmed_by, incident.resolution_confirmed_at) != (who, when):
                incident.resolution_confirmed_by = who
                incident.resolution_confirmed_at = when
                incident.updated_at = now
                entries.append(self._append(
                    session, incident, TimelineKind.DECISION,
                    f"Resolution confirmed by {who} at {_when(when)}",
                    {"field": "resolution_confirmed", "confirmed_by": who,
                     "confirmed_at": when.isoformat()}))
            result = self._snapshot(session, incident)
            dto = incident_dto(incident, incident.client.name) if entries else None
        self._publish(incident_id, entries, dto)
        return result

    # -- the remediation plan

    def add_item(self, incident_id: int, text: str, owner: str = "",
                 due_date: date | None = None) -> RemediationItem:
        """Append a step to the end of the plan."""
        with self.store.session() as session, session.begin():
            incident = self._writable(session, incident_id)
            clean = self._item_fields(incident, text, owner, due_date)
            now = self.clock.now()
            count = len(self._items(session, incident_id))
            row = RemediationItemRow(incident_id=incident_id, position=count, done=False,
                                     created_at=now, updated_at=now, **clean)
            session.add(row)
            session.flush()
            result = _item(row)
        self._publish(incident_id)
        return result

    def update_item(self, item_id: int, text: str, owner: str, due_date: date | None,
                    done: bool) -> RemediationItem:
        with self.store.session() as session, session.begin():
            row = self._item_row(session, item_id)
            incident_id = row.incident_id
            incident = self._writable(session, incident_id)
            clean = self._item_fields(incident, text, owner, due_date)
            values = {**clean, "done": bool(done)}
            if any(getattr(row, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = self.clock.now()
            result = _item(row)
        self._publish(incident_id)
        return result

    def delete_item(self, item_id: int) -> tuple[RemediationItem, int]:
        """Remove a step; returns it and its position (0-based) for restore_item()."""
        with self.store.session() as session, session.begin():
            row = self._item_row(session, item_id)
            incident_id = row.incident_id
            self._writable(session, incident_id)
            rows = self._items(session, incident_id)
            position = rows.index(row)
            result = _item(row)
            session.delete(row)
            rows.remove(row)
            self._renumber(rows)
        self._publish(incident_id)
        return result, position

    def restore_item(self, incident_id: int, item: RemediationItem,
                     position: int) -> RemediationItem:
        """Undo of delete_item(): the same id and fields, back at `position`."""
        with self.store.session() as session, session.begin():
            incident = self._writable(session, incident_id)
            if session.get(RemediationItemRow, item.id) is not None:
                raise ClarionError("This remediation item is already in the plan.")
            clean = self._item_fields(incident, item.text, item.owner, item.due_date)
            now = self.clock.now()
            rows = self._items(session, incident_id)
            row = RemediationItemRow(id=item.id, incident_id=incident_id, done=bool(item.done),
                                     position=0, created_at=now, updated_at=now, **clean)
            session.add(row)
            rows.insert(max(0, min(position, len(rows))), row)
            self._renumber(rows)
            session.flush()
            result = _item(row)
        self._publish(incident_id)
        return result

    def move_item(self, item_id: int, new_position: int) -> tuple[RemediationItem, ...]:
        """Move a step to `new_position` (0-based, clamped); returns the plan in its new order."""
        with self.store.session() as session, session.begin():
            row = self._item_row(session, item_id)
            incident_id = row.incident_id
            self._writable(session, incident_id)
            rows = self._items(session, incident_id)
            rows.remove(row)
            rows.insert(max(0, min(new_position, len(rows))), row)
            self._renumber(rows)
            result = tuple(_item(r) for r in rows)
        self._publish(incident_id)
        return result

    # -- feedback (allowed after closure)

    def add_feedback(self, incident_id: int, stakeholder_id: int | None, stakeholder_name: str,
                     rating: int, comment: str = "") -> FeedbackEntry:
        """A stakeholder's rating of the communication, 1–5. With a stakeholder id the
        stakeholder's own name is stored; without one a name is required."""
        with self.store.session() as session, session.begin():
            incident = self._incident(session, incident_id)
            errors: dict[str, str] = {}
            name = " ".join(str(stakeholder_name or "").split())
            if stakeholder_id is not None:
                stakeholder = session.get(Stakeholder, stakeholder_id)
                if stakeholder is None or stakeholder.client_id != incident.client_id:
                    errors["stakeholder_id"] = (f"Choose one of {incident.client.name}'s "
                                                "stakeholders.")
                else:
                    name = stakeholder.name
            elif not name:
                errors["stakeholder_name"] = "Say who gave this feedback."
            elif len(name) > NAME_MAX:
                errors["stakeholder_name"] = f"Keep the name under {NAME_MAX} characters."
            if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
                errors["rating"] = "Give a rating from 1 (poor) to 5 (excellent)."
            clean_comment = _text(comment, "comment", COMMENT_MAX, errors)
            if errors:
                raise ValidationError(errors)
            row = FeedbackRow(incident_id=incident_id, stakeholder_id=stakeholder_id,
                              stakeholder_name=name, rating=rating, comment=clean_comment,
                              created_at=self.clock.now())
            session.add(row)
            session.flush()
            result = _feedback(row)
        self._publish(incident_id)
        return result

    def delete_feedback(self, feedback_id: int) -> FeedbackEntry:
        """Remove one entry; returns it for restore_feedback()."""
        with self.store.session() as session, session.begin():
            row = session.get(FeedbackRow, feedback_id)
            if row is None:
                raise NotFound(f"Feedback {feedback_id} does not exist.")
            incident_id, result = row.incident_id, _feedback(row)
            session.delete(row)
        self._publish(incident_id)
        return result

    def restore_feedback(self, incident_id: int, entry: FeedbackEntry) -> FeedbackEntry:
        """Undo of delete_feedback(): same id, name, rating, comment and time. The stakeholder
        link is dropped if that stakeholder was deleted meanwhile (the name stays)."""
        with self.store.session() as session, session.begin():
            self._incident(session, incident_id)
            if session.get(FeedbackRow, entry.id) is not None:
                raise ClarionError("This feedback is already recorded.")
            stakeholder_id = entry.stakeholder_id
            if stakeholder_id is not None and session.get(Stakeholder, stakeholder_id) is None:
                stakeholder_id = None
            row = FeedbackRow(id=entry.id, incident_id=incident_id, stakeholder_id=stakeholder_id,
                              stakeholder_name=entry.stakeholder_name, rating=entry.rating,
                              comment=entry.comment,
                              created_at=entry.created_at or self.clock.now())
            session.add(row)
            session.flush()
            result = _feedback(row)
        self._publish(incident_id)
        return result

    def plan_feedback_import(self, incident_id: int, data: bytes,
                             file_name: str = "The file") -> FeedbackImportPlan:
        """Read a CSV (name or email, rating, comment) and match each row to the client's
        stakeholders. Nothing is written. Raises ImportFileError for an unreadable file."""
        table = read_csv_bytes(data, file_name)
        with self.store.session() as session:
            incident = self._incident(session, incident_id)
            rows = plan_rows(table, known_stakeholders(session, incident.client_id),
                             incident.client.name, recorded_feedback(session, incident_id),
                             file_name)
            return FeedbackImportPlan(incident_id=incident_id, client_id=incident.client_id,
                                      file_name=file_name, encoding=table.encoding,
                                      delimiter=table.delimiter, rows=tuple(rows))

    def apply_feedback_import(self, plan: FeedbackImportPlan) -> int:
        """Store the plan's OK rows in one transaction; returns how many were stored. A row
        recorded meanwhile (the same plan applied twice) is not stored again."""
        with self.store.session() as session, session.begin():
            self._incident(session, plan.incident_id)
            stored = store_plan(session, plan, self.clock.now())
        if stored:
            self._publish(plan.incident_id)
        return stored

    # -- internals

    @staticmethod
    def _incident(session: Session, incident_id: int) -> Incident:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"Incident {incident_id} does not exist.")
        return incident

    def _writable(self, session: Session, incident_id: int) -> Incident:
        incident = self._incident(session, incident_id)
        if incident.phase == Phase.CLOSED:
            raise IncidentClosed(CLOSED_MESSAGE)
        return incident

    @staticmethod
    def _item_row(session: Session, item_id: int) -> RemediationItemRow:
        row = session.get(RemediationItemRow, item_id)
        if row is None:
            raise NotFound(f"Remediation item {item_id} does not exist.")
        return row

    @staticmethod
    def _items(session: Session, incident_id: int) -> list[RemediationItemRow]:
        return list(session.scalars(
            select(RemediationItemRow).where(RemediationItemRow.incident_id == incident_id)
            .order_by(RemediationItemRow.position, RemediationItemRow.id)))

    @staticmethod
    def _renumber(rows: list[RemediationItemRow]) -> None:
        for index, row in enumerate(rows):
            if row.position != index:
                row.position = index

    @staticmethod
    def _item_fields(incident: Incident, text: str, owner: str,
                     due_date: date | None) -> dict[str, Any]:
        errors: dict[str, str] = {}
        clean = str(text or "").strip()
        if not clean:
            errors["text"] = "Describe the remediation step."
        elif len(clean) > ITEM_TEXT_MAX:
            errors["text"] = (f"Keep a remediation step under {ITEM_TEXT_MAX:,} characters "
                              f"(it has {len(clean):,}).")
        who = " ".join(str(owner or "").split())
        if len(who) > OWNER_MAX:
            errors["owner"] = f"Keep the owner under {OWNER_MAX} characters."
        if due_date is not None:
            if isinstance(due_date, datetime) or not isinstance(due_date, date):
                errors["due_date"] = "Give the due date as a date (no time)."
            else:
                detected = ensure_utc(incident.detected_at).astimezone(
                    _zone(incident.client.time_zone)).date()
                if due_date < detected:
                    errors["due_date"] = (f"The due date cannot be before the incident was "
                                          f"detected ({detected.isoformat()}).")
        if errors:
            raise ValidationError(errors)
        return {"text": clean, "owner": who, "due_date": due_date}

    def _snapshot(self, session: Session, incident: Incident) -> PostIncident:
        feedback = session.scalars(
            select(FeedbackRow).where(FeedbackRow.incident_id == incident.id)
            .order_by(FeedbackRow.created_at, FeedbackRow.id))
        return PostIncident(
            incident_id=incident.id,
            resolution_confirmed_by=incident.resolution_confirmed_by or "",
            resolution_confirmed_at=incident.resolution_confirmed_at,
            impact_summary=incident.impact_summary or "",
            root_cause=incident.root_cause or "",
            root_cause_under_investigation=bool(incident.root_cause_under_investigation),
            lessons_learned=incident.lessons_learned or "",
            remediation=tuple(_item(r) for r in self._items(session, incident.id)),
            feedback=tuple(_feedback(r) for r in feedback))

    def _append(self, session: Session, incident: Incident, kind: TimelineKind, summary: str,
                data: dict[str, Any]) -> TimelineEntryDTO:
        name, coordinator_id = sign(self.actor)
        entry = TimelineEntry(incident_id=incident.id, at=self.clock.now(), kind=kind.value,
                              actor=name, coordinator_id=coordinator_id, summary=summary,
                              data=data)
        session.add(entry)
        session.flush()
        return entry_dto(entry)

    def _publish(self, incident_id: int, entries: Sequence[TimelineEntryDTO] = (),
                 dto: IncidentDTO | None = None) -> None:
        if dto is not None:
            self.events.publish(ev.INCIDENT_CHANGED, dto)
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)
        self.events.publish(ev.POST_INCIDENT_CHANGED, incident_id)
