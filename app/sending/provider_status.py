"""After an SMS is accepted, the provider may still fail to deliver it. A desktop has no public
callback URL, so Clarion asks (polls) the provider about recently sent SMS and records what it
says; an SMS the provider reports as undelivered or failed becomes `failed`, with a timeline
entry, so the communication record does not claim a delivery that did not happen."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import select

from app.clock import Clock
from app.domain.enums import Channel, DeliveryState, TimelineKind
from app.domain.models import Delivery, Message, TimelineEntry
from app.events import OUTBOX_CHANGED, TIMELINE_APPENDED, EventBus

log = logging.getLogger(__name__)

FINAL = ("delivered", "undelivered", "failed", "canceled", "read")
NOT_DELIVERED = ("undelivered", "failed")
POLL_WINDOW = timedelta(hours=48)  # older SMS are not asked about any more
CONCURRENCY = 4


@dataclass(frozen=True)
class PollReport:
    asked: int
    delivered: int
    not_delivered: int
    errors: int


async def poll_sms_statuses(store, clock: Clock, events: EventBus | None,  # type: ignore[no-untyped-def]
                            resolve_sender: Callable[[str, bool], Any],
                            limit: int = 200) -> PollReport:
    """Ask the provider about sent SMS whose final status is not known yet (newest first,
    at most `limit`), and record the answers in one transaction."""
    now = clock.now()
    with store.session() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.provider_id)
            .join(Message, Message.id == Delivery.message_id)
            .where(Delivery.channel == Channel.SMS, Delivery.state == DeliveryState.SENT,
                   Delivery.provider_id != "", Delivery.provider_id.not_like("drill:%"),
                   Delivery.provider_status.not_in(FINAL), Message.is_drill.is_(False),
                   Delivery.sent_at >= now - POLL_WINDOW)
            .order_by(Delivery.sent_at.desc()).limit(limit)).all()
    if not rows:
        return PollReport(0, 0, 0, 0)
    found = resolve_sender("sms", False)
    sender = found[1] if found else None
    if sender is None or not hasattr(sender, "poll_status"):
        return PollReport(0, 0, 0, 0)
    slots = asyncio.Semaphore(CONCURRENCY)
    answers: dict[int, str] = {}
    errors = 0

    async def ask(delivery_id: int, sid: str) -> None:
        nonlocal errors
        async with slots:
            try:
                answers[delivery_id] = str(await sender.poll_status(sid)).strip().lower()
            except Exception as exc:  # noqa: BLE001 - asked again next time
                errors += 1
                log.info("could not poll SMS %s: %s", delivery_id, exc)

    await asyncio.gather(*(ask(i, sid) for i, sid in rows))
    return _record(store, now, events, answers, errors)


def _record(store, now: datetime, events: EventBus | None,  # type: ignore[no-untyped-def]
            answers: dict[int, str], errors: int) -> PollReport:
    from app.incidents.lifecycle import entry_dto

    delivered = not_delivered = 0
    entries = []
    with store.session() as session, session.begin():
        for delivery in session.scalars(select(Delivery).where(Delivery.id.in_(list(answers)))):
            status = answers[delivery.id][:32]
            if delivery.state != DeliveryState.SENT or status == delivery.provider_status:
                continue
            delivery.provider_status = status
            delivery.updated_at = now
            if status == "delivered":
                delivered += 1
            if status in NOT_DELIVERED:
                not_delivered += 1
                delivery.state = DeliveryState.FAILED
                delivery.last_error = f"The SMS provider reports it was {status}."
                message = session.get(Message, delivery.message_id)
                entry = TimelineEntry(
                    incident_id=message.incident_id, at=now,
                    kind=TimelineKind.DELIVERY_FAILED.value, actor="outbox",
                    summary=f"SMS to {delivery.recipient_name} was not delivered "
                            f"(the provider reports: {status})",
                    data={"delivery_id": delivery.id, "state": "failed",
                          "provider_status": status})
                session.add(entry)
                entries.append(entry)
        session.flush()
        dtos = [entry_dto(e) for e in entries]
    if events is not None:
        for dto in dtos:
            events.publish(TIMELINE_APPENDED, dto)
        events.publish(OUTBOX_CHANGED, tuple(answers))
    return PollReport(len(answers) + errors, delivered, not_delivered, errors)
