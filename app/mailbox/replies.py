"""What was read back from the mailbox, for the window and the CLI (issue 24): the replies of
an incident to deal with, its bounces, and marking one handled (a `reply_handled` entry in the
timeline: who dealt with it and when is part of the record). The SMS replies read from the SMS
provider (issue 25, app/mailbox/sms.py) are listed with them (`channel` "sms"); an SMS reply
matched to the wrong incident (it goes to the latest SMS sent to that number) can be moved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select

from app import events as ev
from app.clock import Clock
from app.coordinators.service import sign
from app.domain.enums import Phase, TimelineKind
from app.domain.models import Delivery, InboundMail, InboundSms, Incident, Message
from app.incidents.entries import append_entry
from app.errors import ClarionError, NotFound
from app.incidents.lifecycle import _default_actor

# what inbound_mail.kind holds (app/mailbox/recorder.py writes them). Light on purpose: the
# incident view reads replies just after start-up, without the mail parsing behind the recorder
BOUNCE, AUTO_REPLY, REPLY = "bounce", "auto_reply", "reply"
ACK = "ack"     # a reply that only confirms (issue 25): recorded, never a reply to handle
OPT_OUT, OPT_IN = "stop", "start"    # an SMS that was only STOP / START (issue 25)
KINDS = (REPLY, BOUNCE, AUTO_REPLY, ACK, OPT_OUT, OPT_IN)
KIND_LABELS = {REPLY: "Reply", BOUNCE: "Bounce", AUTO_REPLY: "Automatic reply",
               ACK: "Confirmation", OPT_OUT: "Opt-out (STOP)", OPT_IN: "Opt-in (START)"}
EMAIL, SMS = "email", "sms"


class RepliesError(ClarionError):
    pass


@dataclass(frozen=True)
class InboundDTO:
    id: int
    kind: str                   # reply | bounce | auto_reply
    incident_id: int
    delivery_id: int
    message_id: int             # the message it answers
    template_type: str
    recipient_name: str         # whom that delivery went to
    address: str
    from_address: str
    from_name: str
    subject: str
    sent_at: datetime | None    # its Date: header
    received_at: datetime       # when Clarion read it
    text: str                   # the new text (quote and signature stripped)
    reason: str                 # a bounce's: the server's words
    handled_at: datetime | None
    handled_by: str
    channel: str = EMAIL        # email | sms (an SMS: from_address is the number, no subject)

    @property
    def sender(self) -> str:
        if self.from_name and self.from_address:
            return f"{self.from_name} <{self.from_address}>"
        return self.from_name or self.from_address


_LIST = select(
    InboundMail.id, InboundMail.kind, InboundMail.incident_id, InboundMail.delivery_id,
    Delivery.message_id, Message.template_type, Delivery.recipient_name, Delivery.address,
    InboundMail.from_address, InboundMail.from_name, InboundMail.subject, InboundMail.sent_at,
    InboundMail.received_at, InboundMail.text, InboundMail.reason, InboundMail.handled_at,
    InboundMail.handled_by,
).join(Delivery, Delivery.id == InboundMail.delivery_id).join(
    Message, Message.id == Delivery.message_id)
# an SMS as a row of the same shape: from the number, named as the delivery's recipient
_LIST_SMS = select(
    InboundSms.id, InboundSms.kind, InboundSms.incident_id, InboundSms.delivery_id,
    Delivery.message_id, Message.template_type, Delivery.recipient_name, Delivery.address,
    InboundSms.from_number, Delivery.recipient_name, literal(""), InboundSms.sent_at,
    InboundSms.received_at, InboundSms.body, literal(""), InboundSms.handled_at,
    InboundSms.handled_by, literal(SMS),
).join(Delivery, Delivery.id == InboundSms.delivery_id).join(
    Message, Message.id == Delivery.message_id)


class RepliesService:
    def __init__(self, store: Any, clock: Clock, events: ev.EventBus | None = None,
                 actor: Any = None) -> None:
        self.store, self.clock = store, clock
        self.events = events or ev.EventBus()
        self.actor = actor or _default_actor()

    def list(self, incident_id: int, kinds: Sequence[str] = (REPLY,),
             include_handled: bool = True) -> list[InboundDTO]:
        """The incident's replies (or other kinds), by email and by SMS, newest first."""
        query = _LIST.where(InboundMail.incident_id == incident_id,
                            InboundMail.kind.in_(list(kinds)))
        texts = _LIST_SMS.where(InboundSms.incident_id == incident_id,
                                InboundSms.kind.in_(list(kinds)))
        if not include_handled:
            query = query.where(InboundMail.handled_at.is_(None))
            texts = texts.where(InboundSms.handled_at.is_(None))
        with self.store.reading() as session:
            rows = [InboundDTO(*row) for row in session.execute(query)]
            rows += [InboundDTO(*row) for row in session.execute(texts)]
        rows.sort(key=lambda r: (r.received_at, r.id, r.channel == EMAIL), reverse=True)
        return rows

    def get(self, inbound_id: int, channel: str = EMAIL) -> InboundDTO:
        with self.store.reading() as session:
            row = session.execute(_one(inbound_id, channel)).first()
        if row is None:
            raise NotFound(f"There is no {'SMS ' if channel == SMS else ''}reply "
                           f"{inbound_id}.")
        return InboundDTO(*row)

    def open_count(self, incident_id: int) -> int:
        """Replies not handled yet, by email and by SMS (the pane's tab shows it)."""
        return sum(1 for _ in self.list(incident_id, include_handled=False))

    def mark_handled(self, inbound_id: int, handled: bool = True,
                     channel: str = EMAIL) -> InboundDTO:
        """Mark a reply (or a bounce) handled, or open again; either way a timeline entry
        says who did it."""
        table = InboundSms if channel == SMS else InboundMail
        with self.store.session() as session, session.begin():
            row = session.get(table, inbound_id)
            if row is None:
                raise NotFound(f"There is no {'SMS ' if channel == SMS else ''}reply "
                               f"{inbound_id}.")
            if row.incident_id is None:
                raise RepliesError("This SMS answers no incident: there is nothing to handle.")
            _refuse_closed(session, row.incident_id)
            if (row.handled_at is not None) == handled:
                return self.get_in(session, inbound_id, channel)
            now = self.clock.now()
            row.handled_at, row.handled_by = (now, sign(self.actor)[0]) if handled else \
                (None, "")
            what = KIND_LABELS.get(row.kind, row.kind).lower()
            data: dict[str, Any] = {"inbound_id": row.id, "delivery_id": row.delivery_id,
                                    "handled": handled}
            if channel == SMS:
                what = f"SMS {what}"
                sender = _texter(session, row)
                data["channel"] = SMS
            else:
                sender = row.from_name or row.from_address
            summary = (f"Handled the {what} from {sender}" if handled
                       else f"Opened the {what} from {sender} again")
            dto = append_entry(session, row.incident_id, now, TimelineKind.REPLY_HANDLED,
                               summary, data, self.actor)
            result = self.get_in(session, inbound_id, channel)
        self.events.publish(ev.TIMELINE_APPENDED, dto)
        self.events.publish(ev.MAILBOX_READ, ())
        return result

    def move_sms(self, inbound_id: int, incident_id: int) -> InboundDTO:
        """Move an SMS reply to another open incident (it was matched to the latest SMS sent
        to that number, which may be another incident's): an entry on each incident says so,
        signed; the reply keeps the delivery it answered."""
        with self.store.session() as session, session.begin():
            row = session.get(InboundSms, inbound_id)
            if row is None:
                raise NotFound(f"There is no SMS reply {inbound_id}.")
            if row.kind != REPLY or row.incident_id is None:
                raise RepliesError("Only an SMS reply to an incident can be moved; "
                                   f"this one is {KIND_LABELS.get(row.kind, row.kind).lower()}"
                                   + ("" if row.incident_id else " about no incident") + ".")
            if row.incident_id == incident_id:
                raise RepliesError("The SMS reply is about that incident already.")
            target = session.get(Incident, incident_id)
            if target is None:
                raise NotFound(f"There is no incident {incident_id}.")
            source = _refuse_closed(session, row.incident_id)
            if target.phase == Phase.CLOSED.value:
                raise RepliesError(f"Incident {incident_id} is closed: its record is final.")
            now = self.clock.now()
            name = sign(self.actor)[0]
            sender = _texter(session, row)
            text = " ".join(row.body.split())[:160]
            data = {"inbound_id": row.id, "delivery_id": row.delivery_id, "channel": SMS,
                    "from_incident": row.incident_id, "to_incident": incident_id}
            left = append_entry(
                session, row.incident_id, now, TimelineKind.DECISION,
                f"Moved the SMS reply from {sender} to incident {incident_id} "
                f"({target.title})", data, self.actor)
            arrived = append_entry(
                session, incident_id, now, TimelineKind.REPLY_RECEIVED,
                f"SMS reply from {sender} (moved here from incident {row.incident_id}, "
                f"{source.title})" + (f": {text}" if text else ""),
                {**data, "from": row.from_number}, self.actor)
            row.incident_id, row.moved_by = incident_id, name
            session.flush()
            result = self.get_in(session, inbound_id, SMS)
        self.events.publish(ev.TIMELINE_APPENDED, left)
        self.events.publish(ev.TIMELINE_APPENDED, arrived)
        self.events.publish(ev.MAILBOX_READ, ())
        return result

    @staticmethod
    def get_in(session: Any, inbound_id: int, channel: str = EMAIL) -> InboundDTO:
        return InboundDTO(*session.execute(_one(inbound_id, channel)).one())


def _one(inbound_id: int, channel: str) -> Any:
    if channel == SMS:
        return _LIST_SMS.where(InboundSms.id == inbound_id)
    if channel != EMAIL:
        raise NotFound(f"There are no replies by {channel}.")
    return _LIST.where(InboundMail.id == inbound_id)


def _refuse_closed(session: Any, incident_id: int) -> Any:
    incident = session.get(Incident, incident_id)
    if incident is not None and incident.phase == Phase.CLOSED.value:
        raise RepliesError("This incident is closed: its record is final.")
    return incident


def _texter(session: Any, row: InboundSms) -> str:
    """'Ada Ops (+12065550101)': the SMS's number, named as the delivery it answers."""
    name = session.scalar(select(Delivery.recipient_name).where(
        Delivery.id == row.delivery_id)) if row.delivery_id else ""
    return f"{name} ({row.from_number})" if name else row.from_number
