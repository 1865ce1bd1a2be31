"""What was read back from the mailbox, for the window and the CLI (issue 24): the replies of
an incident to deal with, its bounces, and marking one handled (a `reply_handled` entry in the
timeline: who dealt with it and when is part of the record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app import events as ev
from app.clock import Clock
from app.coordinators.service import sign
from app.domain.enums import Phase, TimelineKind
from app.domain.models import Delivery, InboundMail, Incident, Message
from app.incidents.entries import append_entry
from app.errors import ClarionError, NotFound
from app.incidents.lifecycle import _default_actor

# what inbound_mail.kind holds (app/mailbox/recorder.py writes them). Light on purpose: the
# incident view reads replies just after start-up, without the mail parsing behind the recorder
BOUNCE, AUTO_REPLY, REPLY = "bounce", "auto_reply", "reply"
ACK = "ack"     # a reply that only confirms (issue 25): recorded, never a reply to handle
KINDS = (REPLY, BOUNCE, AUTO_REPLY, ACK)
KIND_LABELS = {REPLY: "Reply", BOUNCE: "Bounce", AUTO_REPLY: "Automatic reply",
               ACK: "Confirmation"}


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


class RepliesService:
    def __init__(self, store: Any, clock: Clock, events: ev.EventBus | None = None,
                 actor: Any = None) -> None:
        self.store, self.clock = store, clock
        self.events = events or ev.EventBus()
        self.actor = actor or _default_actor()

    def list(self, incident_id: int, kinds: Sequence[str] = (REPLY,),
             include_handled: bool = True) -> list[InboundDTO]:
        """The incident's replies (or other kinds), newest first."""
        query = _LIST.where(InboundMail.incident_id == incident_id,
                            InboundMail.kind.in_(list(kinds)))
        if not include_handled:
            query = query.where(InboundMail.handled_at.is_(None))
        with self.store.reading() as session:
            return [InboundDTO(*row) for row in session.execute(
                query.order_by(InboundMail.received_at.desc(), InboundMail.id.desc()))]

    def get(self, inbound_id: int) -> InboundDTO:
        with self.store.reading() as session:
            row = session.execute(_LIST.where(InboundMail.id == inbound_id)).first()
        if row is None:
            raise NotFound(f"There is no reply {inbound_id}.")
        return InboundDTO(*row)

    def open_count(self, incident_id: int) -> int:
        """Replies not handled yet (the pane's tab shows it)."""
        return sum(1 for _ in self.list(incident_id, include_handled=False))

    def mark_handled(self, inbound_id: int, handled: bool = True) -> InboundDTO:
        """Mark a reply (or a bounce) handled, or open again; either way a timeline entry
        says who did it."""
        with self.store.session() as session, session.begin():
            row = session.get(InboundMail, inbound_id)
            if row is None:
                raise NotFound(f"There is no reply {inbound_id}.")
            incident = session.get(Incident, row.incident_id)
            if incident is not None and incident.phase == Phase.CLOSED.value:
                raise RepliesError("This incident is closed: its record is final.")
            if (row.handled_at is not None) == handled:
                return self.get_in(session, inbound_id)
            now = self.clock.now()
            row.handled_at, row.handled_by = (now, sign(self.actor)[0]) if handled else \
                (None, "")
            what = KIND_LABELS.get(row.kind, row.kind).lower()
            sender = row.from_name or row.from_address
            summary = (f"Handled the {what} from {sender}" if handled
                       else f"Opened the {what} from {sender} again")
            dto = append_entry(session, row.incident_id, now, TimelineKind.REPLY_HANDLED,
                               summary, {"inbound_id": row.id, "delivery_id": row.delivery_id,
                                         "handled": handled}, self.actor)
            result = self.get_in(session, inbound_id)
        self.events.publish(ev.TIMELINE_APPENDED, dto)
        self.events.publish(ev.MAILBOX_READ, ())
        return result

    @staticmethod
    def get_in(session: Any, inbound_id: int) -> InboundDTO:
        return InboundDTO(*session.execute(_LIST.where(InboundMail.id == inbound_id)).one())
