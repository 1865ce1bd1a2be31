"""The drill inbox: a channel that delivers nowhere, instantly. Every delivery of a drill incident
goes here, and so does everything on a new install with no account configured; the real senders
also hand any message marked as a drill to `drill_outcome` instead of the network."""

from __future__ import annotations

import asyncio
from typing import Callable, Sequence

from .base import SENT, AccountDTO, OutgoingMessage, SendOutcome

DRILL_DETAIL = "delivered to the drill inbox"


def drill_outcome(message: OutgoingMessage) -> SendOutcome:
    return SendOutcome(message.delivery_id, SENT, DRILL_DETAIL,
                       provider_id=f"drill:{message.delivery_id}")


class DrillSender:
    """Sender protocol (app/sending/channels/base.py): every message is SENT at once, nothing leaves."""

    def __init__(self, account: AccountDTO | None = None, secret: str | None = None) -> None:
        self.account = account

    async def send(self, messages: Sequence[OutgoingMessage],
                   on_outcome: Callable[[SendOutcome], None]) -> None:
        for n, message in enumerate(messages, 1):
            on_outcome(drill_outcome(message))
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the loop breathe during a 10,000-message drill

    async def test_connection(self) -> str:
        return ("The drill inbox is built in: messages are delivered to it at once "
                "and go nowhere else.")

    async def aclose(self) -> None:
        return None
