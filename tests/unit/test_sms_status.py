"""Polling the SMS provider after sending: delivered is recorded, undelivered/failed turn the
delivery into `failed` with a timeline entry; drill and final ones are not asked about."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from app.domain.enums import DeliveryState
from app.domain.models import Delivery, Message, TimelineEntry
from app.sending.channels.base import AccountDTO
from app.sending.provider_status import poll_sms_statuses


class FakeSms:
    def __init__(self, answers):
        self.answers, self.asked = answers, []

    async def poll_status(self, sid):
        self.asked.append(sid)
        answer = self.answers[sid]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _sent_sms(store, incident_id, now, specs, is_drill=False):
    with store.session() as s, s.begin():
        message = Message(incident_id=incident_id, template_type="status_update",
                          created_at=now, is_drill=is_drill)
        s.add(message)
        s.flush()
        for name, sid, status in specs:
            s.add(Delivery(message_id=message.id, recipient_name=name, channel="sms",
                           address="+12065550101", detail_level="simple", template_key="k",
                           body_text="x", idempotency_key=uuid.uuid4().hex,
                           state=DeliveryState.SENT, provider_id=sid, provider_status=status,
                           sent_at=now - timedelta(minutes=5), created_at=now, updated_at=now))


def test_poll_records_statuses_and_fails_the_undelivered(store, frozen_clock, incidents,
                                                         client_id):
    now = frozen_clock.now()
    inc = incidents.open(client_id=client_id, title="Pager outage", severity="SEV2",
                         detected_at=now - timedelta(minutes=30))
    _sent_sms(store, inc.id, now, [("Ana", "SM1", ""), ("Ben", "SM2", "sent"),
                                   ("Cy", "SM3", ""), ("Dee", "SM4", "delivered")])
    _sent_sms(store, inc.id, now, [("Drill", "drill:9", "")], is_drill=True)
    sender = FakeSms({"SM1": "delivered", "SM2": "undelivered", "SM3": RuntimeError("503")})
    report = asyncio.run(poll_sms_statuses(
        store, frozen_clock, None, lambda ch, drill: (AccountDTO(1, "sms", "P"), sender)))
    assert sorted(sender.asked) == ["SM1", "SM2", "SM3"]  # not the final one, not the drill
    assert (report.delivered, report.not_delivered, report.errors) == (1, 1, 1)
    with store.session() as s:
        rows = {d.recipient_name: d for d in s.scalars(select(Delivery))}
        entries = s.scalars(select(TimelineEntry).where(
            TimelineEntry.kind == "delivery_failed")).all()
    assert rows["Ana"].provider_status == "delivered" and rows["Ana"].state.value == "sent"
    assert rows["Ben"].state.value == "failed" and "undelivered" in rows["Ben"].last_error
    assert rows["Cy"].provider_status == "" and rows["Cy"].state.value == "sent"  # ask again
    assert len(entries) == 1 and "Ben" in entries[0].summary
    # a second poll asks only about what is still open
    sender.asked.clear()
    sender.answers["SM3"] = "delivered"
    asyncio.run(poll_sms_statuses(
        store, frozen_clock, None, lambda ch, drill: (AccountDTO(1, "sms", "P"), sender)))
    assert sender.asked == ["SM3"]


def test_no_sms_account_means_nothing_is_asked(store, frozen_clock, incidents, client_id):
    now = frozen_clock.now()
    inc = incidents.open(client_id=client_id, title="X", severity="SEV3", detected_at=now)
    _sent_sms(store, inc.id, now, [("Ana", "SM1", "")])
    report = asyncio.run(poll_sms_statuses(store, frozen_clock, None, lambda ch, drill: None))
    assert report.asked == 0
