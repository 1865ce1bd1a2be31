"""Recording a confirmation on its delivery (issue 25), inside the caller's transaction: the
mailbox recorder (an emailed YES), the SMS reader (a texted YES) and the coordinator (a phone
call: "manual") share it. Only the first confirmation of a delivery counts; it writes the
delivery's acknowledged_at, how and the words, and a `delivery_acknowledged` entry. The
delivery's trigger moves the incident's clock counter (the wait for it ends)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.domain.dto import TimelineEntryDTO
from app.domain.enums import TimelineKind
from app.domain.models import Delivery
from app.incidents.entries import append_entry

EMAIL, SMS, MANUAL = "email", "sms", "manual"
VIA_LABELS = {EMAIL: "by email", SMS: "by SMS", MANUAL: "noted by the coordinator"}
WORDS_MAX = 200


def acknowledge(session: Session, *, incident_id: int, message_id: int, delivery_id: int,
                who: str, at: datetime, now: datetime, via: str, words: str, actor: Any,
                inbound_id: int | None = None) -> TimelineEntryDTO | None:
    """Mark the delivery confirmed at `at` (when the answer was written, as its sender's
    clock says, never later than `now`) unless it already is; the entry (at `now`, when it was
    recorded) to publish after the commit, or None when it was confirmed before."""
    at = min(at, now)
    words = " ".join((words or "").split())[:WORDS_MAX]
    done = session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.acknowledged_at.is_(None))
        .values(acknowledged_at=at, ack_via=via, ack_text=words))
    if not done.rowcount:
        return None
    quoted = f" — “{words}”" if words and via != MANUAL else (f" — {words}" if words else "")
    summary = f"Confirmed received: {who} {VIA_LABELS.get(via, via)}{quoted}"
    data: dict[str, Any] = {"delivery_id": delivery_id, "message_id": message_id, "via": via,
                            "words": words}
    if inbound_id is not None:
        data["inbound_id"] = inbound_id
    return append_entry(session, incident_id, now, TimelineKind.DELIVERY_ACKNOWLEDGED, summary,
                        data, actor)


NOTE_MAX = 200


def confirm_by_hand(store: Any, clock: Any, events: Any, delivery_id: int, note: str,
                    actor: Any) -> TimelineEntryDTO:
    """The coordinator records a confirmation Clarion could not read (a phone call, a word
    in the corridor): `note` says how; it is signed by `actor`. Refused for a delivery already
    confirmed, one that never reached its reader, or a closed incident."""
    from app import events as ev
    from app.domain.enums import DeliveryState, Phase
    from app.domain.models import Incident, Message
    from app.errors import ClarionError, NotFound, ValidationError

    note = " ".join((note or "").split())
    if not note:
        raise ValidationError({"note": "Say how they confirmed (for example “phoned at 10:40, "
                                       "she has it”): it goes to the record."})
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"Keep it to {NOTE_MAX} characters."})
    now = clock.now()
    with store.session() as session, session.begin():
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        message = session.get(Message, delivery.message_id)
        incident = session.get(Incident, message.incident_id)
        if incident.phase == Phase.CLOSED.value:
            raise ClarionError("This incident is closed: its record is final.")
        if delivery.acknowledged_at is not None:
            raise ClarionError(f"{delivery.recipient_name} confirmed already.")
        if delivery.state in (DeliveryState.QUEUED, DeliveryState.CANCELLED,
                              DeliveryState.SENDING, DeliveryState.RETRY_WAIT):
            raise ClarionError(f"The message to {delivery.recipient_name} has not gone out "
                               f"({delivery.state.value.replace('_', ' ')}): nothing to "
                               "confirm yet.")
        entry = acknowledge(session, incident_id=incident.id, message_id=message.id,
                            delivery_id=delivery.id, who=delivery.recipient_name, at=now,
                            now=now, via=MANUAL, words=note, actor=actor)
        if entry is None:     # confirmed meanwhile
            raise ClarionError(f"{delivery.recipient_name} confirmed already.")
    if events is not None:
        events.publish(ev.TIMELINE_APPENDED, entry)
        events.publish(ev.OUTBOX_CHANGED, (delivery_id,))
    return entry
