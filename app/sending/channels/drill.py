"""The drill inbox: a channel that delivers nowhere, instantly. Every delivery of a drill incident
goes here, and so does everything on a new install with no account configured; the real senders
also hand any message marked as a drill to `drill_outcome` instead of the network."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Callable, Sequence

from .base import SENT, AccountDTO, Begin, OutgoingMessage, SendOutcome, go_ahead
from .wire import WEBHOOK_KINDS, Unbuildable, email_bytes, sms_form, webhook_body

DRILL_DETAIL = "delivered to the drill inbox"
# Who a drill's messages are from when the drill inbox has no identity of its own: an address
# that can never be delivered to (RFC 2606), so a drill's record never looks like real mail.
DRILL_FROM_NAME = "Clarion drill"
DRILL_FROM_ADDRESS = "drill@clarion.invalid"
DRILL_FROM_NUMBER = "+15005550006"  # a documented test number: never a real sender


def drill_outcome(message: OutgoingMessage) -> SendOutcome:
    return SendOutcome(message.delivery_id, SENT, DRILL_DETAIL,
                       provider_id=f"drill:{message.delivery_id}")


class DrillSender:
    """Sender protocol (app/sending/channels/base.py): every message is SENT at once, nothing leaves."""

    def __init__(self, account: AccountDTO | None = None, secret: str | None = None,
                 like: dict[str, AccountDTO] | None = None) -> None:
        self.account = account
        # channel -> the account a real send would use: a drill's messages carry its identity
        # (from-address and name, from number), so the drill shows what recipients would see
        self.like = dict(like or {})

    def freeze(self, message: OutgoingMessage, now: datetime) -> bytes | None:
        """Sender protocol: the bytes a real send over this channel would carry (same
        builders), from the identity of the account a real send would use (`like`), else the
        drill inbox's own, so a drill keeps a real record."""
        real = self.like.get(message.channel)
        s = real.settings if real is not None else \
            (self.account.settings if self.account is not None else {})
        try:
            if message.channel == "email":
                return email_bytes(message, now=now, reply_to="",
                                   from_name=str(s.get("from_name") or DRILL_FROM_NAME),
                                   from_address=str(s.get("from_address") or
                                                    DRILL_FROM_ADDRESS))
            if message.channel == "sms":
                return sms_form(message,
                                messaging_service_sid=str(s.get("messaging_service_sid") or ""),
                                from_number=str(s.get("from_number") or DRILL_FROM_NUMBER))
            if message.channel in WEBHOOK_KINDS:
                return webhook_body(message.channel, message)
        except Unbuildable:
            return None
        return None

    in_flight = 0   # Sender protocol: nothing goes on a wire (no start marks, no begin)

    async def send(self, messages: Sequence[OutgoingMessage],
                   on_outcome: Callable[[SendOutcome], None],
                   begin: Begin = go_ahead) -> None:
        for n, message in enumerate(messages, 1):
            on_outcome(drill_outcome(message))
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the loop breathe during a 10,000-message drill

    async def test_connection(self) -> str:
        return ("The drill inbox is built in: messages are delivered to it at once "
                "and go nowhere else.")

    async def aclose(self) -> None:
        return None
