"""The incident lifecycle: open, phase and severity moves, impact flags, facts, notes and
decisions. Every change appends to the append-only timeline in the same transaction."""

from __future__ import annotations

import getpass
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.coordinators.service import sign
from app import events as ev
from app.clock import Clock, ensure_utc
from app.domain.dto import FACT_LABELS, Facts, IncidentDTO, TimelineEntryDTO
from app.domain.enums import ImpactFlag, Phase, Severity, TimelineKind
from app.domain.models import Client, Incident, TimelineEntry
from app.errors import (
    ClarionError, ConfirmationRequired, NotFound, TransitionRefused, ValidationError, too_long,
)
from app.storage.engine import Store

TITLE_MAX = 200
TEXT_MAX = 4000
SERVICE_MAX = 100
FUTURE_TOLERANCE = timedelta(minutes=5)
OLD_DETECTION = timedelta(days=7)


class IncidentClosed(ClarionError):
    """A closed incident is final: its phase, severity, flags and facts no longer change."""


# ---------------------------------------------------------------- phase transitions (pure)

def transition_refusal(current: Phase, target: Phase) -> str | None:
    """None if the move is allowed, otherwise the reason it is refused, in plain words."""
    if target == current:
        return f"The incident is already {current.label.lower()}."
    if current == Phase.CLOSED:
        return "A closed incident is final: its phase can no longer change."
    if target.order > current.order:
        return None
    if current == Phase.RESOLVED:
        if target in (Phase.INVESTIGATING, Phase.RESPONDING):
            return None
        return ("A resolved incident can reopen to investigating or responding, "
                "not go back to detected.")
    return (f"Phases move forward only: {current.label.lower()} → {target.label.lower()} "
            "would go back. Only a resolved incident can be reopened.")


def allowed_targets(current: Phase) -> list[Phase]:
    return [p for p in Phase if transition_refusal(current, p) is None]


def is_reopen(current: Phase, target: Phase) -> bool:
    return current == Phase.RESOLVED and target in (Phase.INVESTIGATING, Phase.RESPONDING)


def is_severity_increase(old: Severity, new: Severity) -> bool:
    return new.rank < old.rank


# ---------------------------------------------------------------- conversions

def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def facts_of(incident: Incident) -> Facts:
    return Facts(
        status=incident.status_text,
        impact=incident.impact_text,
        affected_services=tuple(incident.affected_services or ()),
        eta_at=incident.eta_at,
        eta_qualifier=incident.eta_qualifier,
        workaround=incident.workaround,
        next_update_at=incident.next_update_at,
    )


def _apply_facts(incident: Incident, facts: Facts) -> None:
    incident.status_text = facts.status
    incident.impact_text = facts.impact
    incident.affected_services = list(facts.affected_services)
    incident.eta_at = facts.eta_at
    incident.eta_qualifier = facts.eta_qualifier
    incident.workaround = facts.workaround
    incident.next_update_at = facts.next_update_at


def incident_dto(incident: Incident, client_name: str) -> IncidentDTO:
    return IncidentDTO(
        id=incident.id, client_id=incident.client_id, client_name=client_name,
        title=incident.title, severity=Severity(incident.severity), phase=Phase(incident.phase),
        detected_at=incident.detected_at, created_at=incident.created_at,
        updated_at=incident.updated_at, is_drill=incident.is_drill, archived=incident.archived,
        impact_business=incident.impact_business, impact_external=incident.impact_external,
        impact_regulatory=incident.impact_regulatory, facts=facts_of(incident),
        affected_individuals=incident.affected_individuals,
        max_state_residents=incident.max_state_residents,
    )


def entry_dto(entry: TimelineEntry) -> TimelineEntryDTO:
    return TimelineEntryDTO(id=entry.id, incident_id=entry.incident_id, at=entry.at,
                            kind=entry.kind, actor=entry.actor, summary=entry.summary,
                            data=dict(entry.data or {}), coordinator_id=entry.coordinator_id)


# ---------------------------------------------------------------- validation (pure)

def _clean_text(value: str | None) -> str:
    return (value or "").strip()


def validate_facts(facts: Facts, detected_at: datetime) -> tuple[Facts, dict[str, str]]:
    """Return the normalised facts and the errors per field (empty when valid)."""
    errors: dict[str, str] = {}
    status, impact = _clean_text(facts.status), _clean_text(facts.impact)
    workaround, qualifier = _clean_text(facts.workaround), _clean_text(facts.eta_qualifier)
    for name, value in (("status", status), ("impact", impact), ("workaround", workaround)):
        if len(value) > TEXT_MAX:
            errors[name] = too_long("This", TEXT_MAX, len(value))
    if len(qualifier) > TITLE_MAX:
        errors["eta_qualifier"] = too_long("The ETA qualifier", TITLE_MAX, len(qualifier))
    services: list[str] = []
    seen: set[str] = set()
    for raw in facts.affected_services:
        name = " ".join(str(raw).split())
        if not name:
            continue
        if len(name) > SERVICE_MAX:   # the first one named: fixed, the next is said
            errors.setdefault("affected_services", (
                f"A service name is limited to {SERVICE_MAX} characters: “{name[:30]}…”."))
            continue
        if name.casefold() not in seen:
            seen.add(name.casefold())
            services.append(name)
    eta = ensure_utc(facts.eta_at) if facts.eta_at else None
    next_update = ensure_utc(facts.next_update_at) if facts.next_update_at else None
    if eta is not None and eta < detected_at:
        errors["eta_at"] = "The ETA cannot be before the incident was detected."
    if next_update is not None and next_update < detected_at:
        errors["next_update_at"] = "The next update cannot be before the incident was detected."
    cleaned = Facts(status=status, impact=impact, affected_services=tuple(services), eta_at=eta,
                    eta_qualifier=qualifier, workaround=workaround, next_update_at=next_update)
    return cleaned, errors


def validate_new_incident(title: str, detected_at: datetime | None, now: datetime,
                          confirm_old: bool) -> tuple[str, datetime]:
    errors: dict[str, str] = {}
    clean_title = " ".join((title or "").split())
    if not clean_title:
        errors["title"] = "Give the incident a title (what is affected, in a few words)."
    elif len(clean_title) > TITLE_MAX:
        errors["title"] = too_long("A title", TITLE_MAX, len(clean_title))
    if detected_at is None:
        errors["detected_at"] = "Say when the incident was detected."
        detected = now
    else:
        detected = ensure_utc(detected_at)
        if detected > now + FUTURE_TOLERANCE:
            errors["detected_at"] = ("Detection time is in the future; it can be at most "
                                     "5 minutes ahead of now (clock skew).")
    if errors:
        raise ValidationError(errors)
    if detected < now - OLD_DETECTION and not confirm_old:
        days = (now - detected).days
        raise ConfirmationRequired(
            "detected_at",
            f"Detected {days} days ago — more than 7 days. Confirm that this is right "
            "(for example, a breach discovered late).")
    return clean_title, detected


# ---------------------------------------------------------------- the service

class IncidentService:
    """Operations on incidents. Each call is one Session and one transaction; it returns DTOs
    and publishes events after commit."""

    def __init__(self, store: Store, clock: Clock, events: ev.EventBus | None = None,
                 actor: str | None = None) -> None:
        self.store = store
        self.clock = clock
        self.events = events or ev.EventBus()
        self.actor = actor if actor is not None else _default_actor()

    # -- reading

    def list(self, include_archived: bool = False) -> list[IncidentDTO]:
        with self.store.session() as session:
            stmt = (select(Incident, Client.name).join(Client)
                    .order_by(Incident.detected_at.desc()))
            if not include_archived:
                stmt = stmt.where(Incident.archived.is_(False))
            return [incident_dto(i, name) for i, name in session.execute(stmt)]

    def get(self, incident_id: int) -> IncidentDTO:
        with self.store.session() as session:
            incident = self._load(session, incident_id)
            return incident_dto(incident, incident.client.name)

    def timeline(self, incident_id: int) -> list[TimelineEntryDTO]:
        """Oldest first."""
        with self.store.session() as session:
            stmt = (select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
                    .order_by(TimelineEntry.at, TimelineEntry.id))
            return [entry_dto(e) for e in session.scalars(stmt)]

    # -- changing

    def open(self, *, client_id: int, title: str, severity: Severity,
             detected_at: datetime | None, is_drill: bool = False,
             impact_business: bool = False, impact_external: bool = False,
             impact_regulatory: bool = False, facts: Facts | None = None,
             confirm_old: bool = False) -> IncidentDTO:
        now = self.clock.now()
        clean_title, detected = validate_new_incident(title, detected_at, now, confirm_old)
        try:
            severity = Severity(severity)
        except ValueError:
            raise ValidationError({"severity": "Choose a severity from SEV1 to SEV4."}) from None
        cleaned, errors = validate_facts(facts or Facts(), detected)
        if errors:
            raise ValidationError(errors)
        with self.store.session() as session, session.begin():
            client = session.get(Client, client_id)
            if client is None:
                raise ValidationError({"client": "Choose the organisation this incident affects."})
            incident = Incident(
                client_id=client.id, title=clean_title, severity=severity,
                phase=Phase.DETECTED, detected_at=detected, created_at=now, updated_at=now,
                is_drill=is_drill, archived=False, impact_business=impact_business,
                impact_external=impact_external, impact_regulatory=impact_regulatory,
                affected_services=[])
            _apply_facts(incident, cleaned)
            session.add(incident)
            session.flush()
            kind = "Drill incident" if is_drill else "Incident"
            entry = self._append(session, incident, TimelineKind.CREATED,
                                 f"{kind} opened: {clean_title} ({severity.value})",
                                 {"title": clean_title, "severity": severity.value,
                                  "detected_at": detected.isoformat(), "drill": is_drill})
            dto = incident_dto(incident, client.name)
            entries = [entry_dto(entry)]
        self._publish(dto, entries)
        return dto

    def move_phase(self, incident_id: int, target: Phase, reason: str = "",
                   final_status: str | None = None) -> IncidentDTO:
        """Move the incident's phase. Into resolved, `final_status` (what is true at the
        resolution) becomes its current status, so the resolution notice and the report's
        Summary say it; the phase entry keeps it in its data."""
        target = Phase(target)
        final = (final_status or "").strip()
        if final_status is not None and target == Phase.RESOLVED:
            if not final:
                raise ValidationError({"final_status": "Say what is true now that it is "
                                                       "resolved."})
            if len(final) > TEXT_MAX:
                raise ValidationError({"final_status": too_long("The final status", TEXT_MAX,
                                                                len(final))})
        entries = []
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            current = Phase(incident.phase)
            refusal = transition_refusal(current, target)
            if refusal:
                raise TransitionRefused(refusal)
            if final and target == Phase.RESOLVED and final != (incident.status_text or ""):
                entries.append(entry_dto(self._append(
                    session, incident, TimelineKind.FACTS_CHANGED,
                    f"{FACT_LABELS['status']}: {_show(incident.status_text)} → {_show(final)}",
                    {"field": "status", "old": incident.status_text or "", "new": final,
                     "final": True})))
                incident.status_text = final
            reopen = is_reopen(current, target)
            incident.phase = target
            incident.updated_at = self.clock.now()
            verb = "Reopened" if reopen else "Phase"
            summary = f"{verb}: {current.label} → {target.label}"
            if reason.strip():
                summary += f" — {reason.strip()}"
            data = {"old": current.value, "new": target.value, "reopen": reopen,
                    "reason": reason.strip()}
            if final and target == Phase.RESOLVED:
                data["final_status"] = final
            entry = self._append(session, incident, TimelineKind.PHASE_CHANGED, summary, data)
            dto = incident_dto(incident, incident.client.name)
            entries.append(entry_dto(entry))
        self._publish(dto, entries)
        return dto

    def change_severity(self, incident_id: int, target: Severity, reason: str = "") -> IncidentDTO:
        target = Severity(target)
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            self._refuse_if_closed(incident)
            old = Severity(incident.severity)
            if old == target:
                raise TransitionRefused(f"The incident is already {target.value}.")
            increase = is_severity_increase(old, target)
            incident.severity = target
            incident.updated_at = self.clock.now()
            summary = (f"Severity {'raised' if increase else 'lowered'}: "
                       f"{old.value} → {target.value}")
            if reason.strip():
                summary += f" — {reason.strip()}"
            entry = self._append(session, incident, TimelineKind.SEVERITY_CHANGED, summary,
                                 {"old": old.value, "new": target.value, "increase": increase,
                                  "reason": reason.strip()})
            dto = incident_dto(incident, incident.client.name)
            entries = [entry_dto(entry)]
        self._publish(dto, entries)
        return dto

    def set_impact_flag(self, incident_id: int, flag: ImpactFlag, value: bool) -> IncidentDTO:
        flag = ImpactFlag(flag)
        attr = f"impact_{flag.value}"
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            self._refuse_if_closed(incident)
            entries = []
            if getattr(incident, attr) != value:
                setattr(incident, attr, value)
                incident.updated_at = self.clock.now()
                label = {"business": "Business impact", "external": "External impact",
                         "regulatory": "Regulatory impact"}[flag.value]
                entry = self._append(session, incident, TimelineKind.FLAG_CHANGED,
                                     f"{label} {'flagged' if value else 'cleared'}",
                                     {"flag": flag.value, "old": not value, "new": value})
                entries.append(entry_dto(entry))
            dto = incident_dto(incident, incident.client.name)
        self._publish(dto, entries)
        return dto

    def set_regulatory_figures(self, incident_id: int, affected_individuals: int | None,
                               max_state_residents: int | None) -> IncidentDTO:
        """The counts the regulatory thresholds need (HIPAA 500, media 500 residents of one
        state). None means "not yet known": the clocks then stay visible."""
        errors = {}
        for name, value in (("affected_individuals", affected_individuals),
                            ("max_state_residents", max_state_residents)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 0 <= value <= 10**10):
                errors[name] = "Enter a whole number of people (0 or more), or leave it empty."
        if (not errors and affected_individuals is not None and max_state_residents is not None
                and max_state_residents > affected_individuals):
            errors["max_state_residents"] = (
                "Residents of one state cannot outnumber the individuals affected.")
        if errors:
            raise ValidationError(errors)
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            self._refuse_if_closed(incident)
            entries = []
            for name, label, value in (
                    ("affected_individuals", "Individuals affected", affected_individuals),
                    ("max_state_residents", "Most residents of one state", max_state_residents)):
                old = getattr(incident, name)
                if old != value:
                    setattr(incident, name, value)
                    entry = self._append(session, incident, TimelineKind.FACTS_CHANGED,
                                         f"{label}: {_show(old)} → {_show(value)}",
                                         {"field": name, "old": old, "new": value})
                    entries.append(entry_dto(entry))
            if entries:
                incident.updated_at = self.clock.now()
            dto = incident_dto(incident, incident.client.name)
        self._publish(dto, entries)
        return dto

    def update_facts(self, incident_id: int, facts: Facts) -> IncidentDTO:
        """Replace the facts; one timeline entry per fact that changed (old → new)."""
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            self._refuse_if_closed(incident)
            cleaned, errors = validate_facts(facts, incident.detected_at)
            if errors:
                raise ValidationError(errors)
            old = facts_of(incident)
            entries = []
            changed = [f.name for f in fields(Facts)
                       if getattr(old, f.name) != getattr(cleaned, f.name)]
            if changed:
                _apply_facts(incident, cleaned)
                incident.updated_at = self.clock.now()
                for name in changed:
                    before, after = getattr(old, name), getattr(cleaned, name)
                    entry = self._append(
                        session, incident, TimelineKind.FACTS_CHANGED,
                        f"{FACT_LABELS[name]}: {_show(before)} → {_show(after)}",
                        {"field": name, "old": _jsonable(before), "new": _jsonable(after)})
                    entries.append(entry_dto(entry))
            dto = incident_dto(incident, incident.client.name)
        self._publish(dto, entries)
        return dto

    def add_note(self, incident_id: int, text: str) -> TimelineEntryDTO:
        return self._add_text(incident_id, TimelineKind.NOTE, text, "note")

    def add_decision(self, incident_id: int, text: str) -> TimelineEntryDTO:
        return self._add_text(incident_id, TimelineKind.DECISION, text, "decision")

    def hand_over(self, previous: str) -> list[TimelineEntryDTO]:
        """A shift change at this desk (its desk already names the new coordinator): one
        "coordinator_changed" entry in the timeline of every incident still open (not closed,
        not archived), signed by the one who took over."""
        name = str(self.actor)
        summary = f"{name} took over from {previous}" if previous and previous != name \
            else f"{name} is coordinating"
        out = []
        with self.store.session() as session, session.begin():
            open_ones = session.scalars(select(Incident).where(
                Incident.phase != Phase.CLOSED, Incident.archived.is_(False))
                .order_by(Incident.id))
            for incident in open_ones:
                entry = self._append(session, incident, TimelineKind.COORDINATOR_CHANGED,
                                     summary, {"previous": previous, "coordinator": name})
                out.append(entry_dto(entry))
        for entry in out:
            self.events.publish(ev.TIMELINE_APPENDED, entry)
        return out

    # -- internals

    def _add_text(self, incident_id: int, kind: TimelineKind, text: str,
                  noun: str) -> TimelineEntryDTO:
        clean = (text or "").strip()
        if not clean:
            raise ValidationError({"text": f"Write the {noun} before adding it."})
        if len(clean) > TEXT_MAX:
            raise ValidationError(
                {"text": too_long(f"A {noun}", TEXT_MAX, len(clean))})
        with self.store.session() as session, session.begin():
            incident = self._load(session, incident_id)
            entry = self._append(session, incident, kind, clean, {})
            incident.updated_at = self.clock.now()
            dto = incident_dto(incident, incident.client.name)
            out = entry_dto(entry)
        self._publish(dto, [out])
        return out

    def _load(self, session: Session, incident_id: int) -> Incident:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"Incident {incident_id} does not exist.")
        return incident

    @staticmethod
    def _refuse_if_closed(incident: Incident) -> None:
        if incident.phase == Phase.CLOSED:
            raise IncidentClosed("This incident is closed: its record is final.")

    def _append(self, session: Session, incident: Incident, kind: TimelineKind, summary: str,
                data: dict[str, Any]) -> TimelineEntry:
        name, coordinator_id = sign(self.actor)
        entry = TimelineEntry(incident_id=incident.id, at=self.clock.now(), kind=kind.value,
                              actor=name, coordinator_id=coordinator_id, summary=summary,
                              data=data)
        session.add(entry)
        session.flush()
        return entry

    def _publish(self, dto: IncidentDTO, entries: list[TimelineEntryDTO]) -> None:
        self.events.publish(ev.INCIDENT_CHANGED, dto)
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)


def _show(value: Any) -> str:
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, datetime):
        return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, tuple):
        return ", ".join(value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "coordinator"

