"""Who was asked to confirm an incident's messages, who did (when, how, in which words) and who
never did (issue 25): what `clarion replies` and the post-incident report say. One read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from app.domain.enums import DeliveryState
from app.domain.models import Delivery, Message

# a delivery that never reached its reader cannot be confirmed: not counted as silence
NEVER_ARRIVED = frozenset({DeliveryState.FAILED.value, DeliveryState.CANCELLED.value,
                           DeliveryState.BOUNCED.value})


@dataclass(frozen=True)
class Confirmation:
    delivery_id: int
    message_id: int
    template_type: str
    recipient_name: str
    channel: str
    address: str
    state: str
    sent_at: datetime | None
    asked: bool
    acknowledged_at: datetime | None
    via: str                      # email | sms | manual
    words: str

    @property
    def confirmed(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def silent(self) -> bool:
        """Asked, reached (as far as Clarion knows), and not confirmed."""
        return self.asked and not self.confirmed and self.state not in NEVER_ARRIVED


@dataclass(frozen=True)
class ConfirmationSummary:
    items: tuple[Confirmation, ...]

    @property
    def asked(self) -> int:
        return sum(1 for c in self.items if c.asked)

    @property
    def confirmed(self) -> tuple[Confirmation, ...]:
        return tuple(c for c in self.items if c.confirmed)

    @property
    def silent(self) -> tuple[Confirmation, ...]:
        return tuple(c for c in self.items if c.silent)

    @property
    def unreached(self) -> tuple[Confirmation, ...]:
        """Asked, but the message never reached them (failed, bounced, cancelled)."""
        return tuple(c for c in self.items if c.asked and not c.confirmed
                     and c.state in NEVER_ARRIVED)


def incident_confirmations(store: Any, incident_id: int) -> ConfirmationSummary:
    """The incident's deliveries that were asked to confirm or did, by message, then name."""
    with store.reading() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.message_id, Message.template_type,
                   Delivery.recipient_name, Delivery.channel, Delivery.address, Delivery.state,
                   Delivery.sent_at, Delivery.ack_requested, Delivery.acknowledged_at,
                   Delivery.ack_via, Delivery.ack_text)
            .join(Message, Message.id == Delivery.message_id)
            .where(Message.incident_id == incident_id,
                   or_(Delivery.ack_requested.is_(True), Delivery.acknowledged_at.is_not(None)))
            .order_by(Delivery.message_id, Delivery.recipient_name, Delivery.id)).all()
    return ConfirmationSummary(tuple(
        Confirmation(r.id, r.message_id, r.template_type, r.recipient_name, r.channel.value,
                     r.address, r.state.value, r.sent_at, bool(r.ack_requested),
                     r.acknowledged_at, r.ack_via or "", r.ack_text or "") for r in rows))
