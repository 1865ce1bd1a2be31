"""What the coordinator records about an incident's clocks — a regulatory trigger (possibly
backdated), a deadline met by a message or reopened, an overdue reminder — each one an entry in
the append-only timeline, which stays the incident's one record. ClockService (app/clocks/evaluation.py)
adds evaluation and the escalation rules on top."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import events as ev
from app.clock import Clock, ensure_utc
from app.clocks.regulatory import load_rules
from app.domain.enums import ClockTrigger, DeliveryState, Phase, TimelineKind
from app.domain.models import Delivery, Incident, Message, TimelineEntry
from app.incidents.entries import append_entry
from app.errors import ClarionError, NotFound, ValidationError, too_long
from app.incidents.lifecycle import _default_actor
from app.storage.engine import Store
from app.clocks.wording import utc_text

# a bounced email reached nobody: it counts as neither communication nor a met deadline
NOT_COMMUNICATED = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value,
                    DeliveryState.BOUNCED.value)
TRIGGER_FUTURE_TOLERANCE = timedelta(minutes=5)


class ClockError(ClarionError):
    pass


class ClockActions:
    def __init__(self, store: Store, clock: Clock, events: ev.EventBus | None = None,
                 actor: str | None = None) -> None:
        self.store, self.clock = store, clock
        self.events = events or ev.EventBus()
        self.actor = actor or _default_actor()
        self._regulatory_rules = load_rules()

    # ---------------------------------------------------------------- regulatory

    def record_trigger(self, incident_id: int, trigger: ClockTrigger | str,
                       effective_at: datetime, note: str = "") -> None:
        """The coordinator's timestamped decision that a clock's trigger happened (awareness,
        discovery, …). It may be backdated; recording it again corrects it (the later entry
        wins, the earlier stays in the record)."""
        try:
            trigger = ClockTrigger(trigger)
        except ValueError:
            raise ValidationError({"trigger": "Choose what happened."}) from None
        if trigger == ClockTrigger.DETECTION:
            raise ValidationError({"trigger": "Detection is the incident's own detection time."})
        now = self.clock.now()
        effective_at = ensure_utc(effective_at)
        if effective_at > now + TRIGGER_FUTURE_TOLERANCE:
            raise ValidationError({"effective_at": "This time is in the future; record a "
                                                   "trigger when it has happened."})
        note = (note or "").strip()
        if len(note) > 2000:
            raise ValidationError({"note": too_long("The note", 2000, len(note))})
        with self.store.session() as session, session.begin():
            self._writable(session, incident_id)
            when = utc_text(effective_at)   # shown in the reader's zone (app/clocks/wording.py)
            summary = f"Decision: {trigger.label.lower()} established at {when}"
            if effective_at < now - TRIGGER_FUTURE_TOLERANCE:
                summary += " (recorded later)"
            if note:
                summary += f" — {note}"
            entry = self._append(session, incident_id, TimelineKind.CLOCK_STARTED, summary,
                                 {"trigger": trigger.value,
                                  "effective_at": effective_at.isoformat(), "note": note})
        self._publish([entry])

    def regulatory_messages(self, incident_id: int) -> list[tuple[int, datetime, str, str]]:
        """(message id, queued at, template type, first subject) of the incident's messages,
        newest first — the candidates to satisfy a regulatory clock."""
        with self.store.session() as session:
            rows = session.execute(
                select(Message.id, Message.created_at, Message.template_type)
                .where(Message.incident_id == incident_id).order_by(Message.id.desc())).all()
            subjects = dict(session.execute(
                select(Delivery.message_id, Delivery.subject)
                .where(Delivery.message_id.in_([r.id for r in rows]))).all()) if rows else {}
        return [(r.id, r.created_at, r.template_type, subjects.get(r.id, "")) for r in rows]

    def mark_satisfied(self, incident_id: int, rule_id: str, message_id: int,
                       at: datetime | None = None) -> None:
        """Link the notification that satisfied a regulatory clock; the time is when it was
        first sent (or queued, for a channel without a sent time) unless given. A message none
        of whose deliveries counts as communication (all cancelled or failed, an SMS reported
        undelivered included) satisfies nothing."""
        rule = next((r for r in self._regulatory_rules if r.id == rule_id), None)
        if rule is None:
            raise NotFound(f"There is no regulatory rule “{rule_id}”.")
        with self.store.session() as session, session.begin():
            self._writable(session, incident_id)
            self._check_message(session, incident_id, message_id)
            counted = session.execute(
                select(func.min(Delivery.sent_at), func.count(Delivery.id)).where(
                    Delivery.message_id == message_id,
                    Delivery.state.not_in(NOT_COMMUNICATED))).one()
            if not counted[1]:
                raise ValidationError({"message": "Nothing of this message went out: every "
                                                  "delivery was cancelled or failed. Choose "
                                                  "a message that was sent."})
            if at is None:
                at = counted[0] or session.get(Message, message_id).created_at
            at = ensure_utc(at)
            entry = self._append(session, incident_id, TimelineKind.CLOCK_SATISFIED,
                                 f"Clock satisfied: {rule.title} — message {message_id}, "
                                 f"{utc_text(at)}",
                                 {"rule_id": rule_id, "message_id": message_id,
                                  "satisfied_at": at.isoformat()})
        self._publish([entry])

    def clear_satisfied(self, incident_id: int, rule_id: str, reason: str) -> None:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"reason": "Say why the clock is not satisfied after all."})
        rule = next((r for r in self._regulatory_rules if r.id == rule_id), None)
        if rule is None:
            raise NotFound(f"There is no regulatory rule “{rule_id}”.")
        with self.store.session() as session, session.begin():
            self._writable(session, incident_id)
            entry = self._append(session, incident_id, TimelineKind.CLOCK_SATISFIED,
                                 f"Clock reopened: {rule.title} — {reason}",
                                 {"rule_id": rule_id, "cleared": True, "reason": reason})
        self._publish([entry])

    # ---------------------------------------------------------------- reminders

    def record_reminders(self, incident_id: int,
                         items: Iterable[tuple[str, datetime, str]]) -> list[tuple[str, datetime, str]]:
        """Record one `reminder` entry for the overdue items not reminded before; returns those
        (the desktop notification shows them). Each (key, due time) is reminded once ever."""
        items = list(items)
        if not items:
            return []
        with self.store.session() as session, session.begin():
            done = set()
            for data in session.scalars(select(TimelineEntry.data).where(
                    TimelineEntry.incident_id == incident_id,
                    TimelineEntry.kind == TimelineKind.REMINDER.value)):
                done.update(str(i.get("key")) for i in (data or {}).get("items", ()))
            new = [i for i in items if i[0] not in done]
            if not new:
                return []
            titles = ", ".join(title for _k, _d, title in new[:5])
            more = f" and {len(new) - 5} more" if len(new) > 5 else ""
            entry = self._append(session, incident_id, TimelineKind.REMINDER,
                                 f"Overdue: {titles}{more}",
                                 {"items": [{"key": k, "due_at": d.isoformat(), "title": t}
                                            for k, d, t in new]},
                                 actor="Clarion (clocks)")
        self._publish([entry])
        return new

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _writable(session: Session, incident_id: int) -> Incident:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"Incident {incident_id} does not exist.")
        if incident.phase == Phase.CLOSED.value:
            raise ClockError("This incident is closed: its record is final.")
        return incident

    @staticmethod
    def _check_message(session: Session, incident_id: int, message_id: int) -> None:
        message = session.get(Message, message_id)
        if message is None or message.incident_id != incident_id:
            raise ValidationError({"message": "Choose a message of this incident."})

    def _append(self, session: Session, incident_id: int, kind: TimelineKind, summary: str,
                data: dict[str, Any], actor: str | None = None) -> Any:
        return append_entry(session, incident_id, self.clock.now(), kind, summary, data,
                            actor or self.actor)

    def _publish(self, entries: Sequence[Any]) -> None:
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)


