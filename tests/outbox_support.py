"""Deliveries written straight into the outbox's tables, for tests and benchmarks that need
queued work without going through the composer."""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from app.domain.enums import DeliveryState
from app.domain.models import ChannelAccount, Delivery, Message
from app.sending.channels.base import AccountDTO


def add_account(store, clock, kind: str = "email", name: str | None = None,  # type: ignore[no-untyped-def]
                settings: dict[str, Any] | None = None) -> AccountDTO:
    """A channel account row (no secret); its DTO."""
    now = clock.now()
    with store.session() as s, s.begin():
        row = ChannelAccount(kind=kind, name=name or f"{kind} account", settings=settings or {},
                             created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        return AccountDTO(id=row.id, kind=kind, name=row.name, settings=dict(row.settings))


def add_message(store, clock, incident_id: int, recipients: Iterable[tuple[str, str]],  # type: ignore[no-untyped-def]
                channel: str = "email", is_drill: bool = False) -> list[int]:
    """A Message with one queued Delivery per (name, address), due now; their ids in order."""
    now = clock.now()
    with store.session() as s, s.begin():
        msg = Message(incident_id=incident_id, template_type="status_update", template_keys=[],
                      audience={}, created_at=now, is_drill=is_drill)
        s.add(msg)
        s.flush()
        rows = [Delivery(message_id=msg.id, recipient_name=name, channel=channel, address=address,
                         detail_level="simple", template_key="k", subject="Subject", body_text="Hi",
                         email_message_id=f"<{uuid.uuid4().hex}@x>" if channel == "email" else "",
                         idempotency_key=uuid.uuid4().hex, state=DeliveryState.QUEUED,
                         attempts=0, next_attempt_at=now, created_at=now, updated_at=now)
                for name, address in recipients]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def people(n: int, prefix: str = "p", domain: str = "example.com") -> list[tuple[str, str]]:
    return [(f"Person {i}", f"{prefix}{i}@{domain}") for i in range(n)]


async def begun(begin, message) -> bool:  # type: ignore[no-untyped-def]
    """What a real sender does before a message's first byte goes out: await the outbox's
    start mark (app/sending/starts.py). False: withheld, send nothing of it."""
    return begin is None or await begin(message.delivery_id)
