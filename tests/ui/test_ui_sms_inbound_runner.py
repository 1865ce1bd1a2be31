"""The window reads what people texted to the default SMS account (issue 25) on the outbox
runner's timer: on the bridge's thread, never the GUI's, one read at a time — against the local
Twilio-shaped server (tests/integration/sms_fixtures.py)."""

from __future__ import annotations

import threading

import pytest

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.models import Delivery
from app.events import MAILBOX_READ
from app.messages.composer import Sender, queue_message
from app.messages.library import builtin_templates
from app.stakeholders.clients import list_clients
from app.stakeholders.recipients import resolve_recipients
from tests.integration.sms_fixtures import SID, TOKEN, Provider, http_server

FROM, ADA = "+14155550100", "+12065550101"


@pytest.fixture
def provider():
    p = Provider(number=FROM)
    with http_server(p) as url:
        yield p, url


def test_the_runner_reads_inbound_sms_on_the_bridge_once_at_a_time(
        qtbot, services, memory_keyring, provider):
    from ui.bridge import AsyncBridge
    from ui.outbox.runner import OutboxRunner

    server, url = provider
    services.accounts.create("sms", "Twilio", {"base_url": url, "account_sid": SID,
                                               "from_number": FROM}, secret=TOKEN)
    client = list_clients(services.store)[0]
    ada = services.stakeholders.create(StakeholderData(
        client_id=client.id, name="Ada Ops", category="it_staff_msp",
        contacts=(ContactPointData("sms", ADA, 1),))).id
    incident = services.incidents.open(client_id=client.id, title="Portal down",
                                       severity="SEV2", detected_at=services.clock.now())
    queue_message(services.store, services.clock, services.events, incident=incident,
                  client=client, template_type="status_update", templates=builtin_templates(),
                  recipients=resolve_recipients(services.store, client.id,
                                                stakeholder_ids=[ada], channels=["sms"]),
                  sender=Sender("Dana", "Harbor IT"))
    threads: list[int] = []
    services.events.subscribe(MAILBOX_READ, lambda _r: threads.append(threading.get_ident()))
    runner = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
    try:
        runner.start()
        qtbot.waitUntil(lambda: services.outbox.counts().get("sent", 0) == 1, timeout=10000)
        assert runner.poll_timer.isActive()       # the timer that reads them every 2 min
        server.receive(ADA, "YES")

        assert runner.read_sms() is True
        assert runner.read_sms() is False          # one read at a time
        qtbot.waitUntil(lambda: runner.last_sms_read is not None, timeout=10000)

        report = runner.last_sms_read
        assert (report.error, report.read, [r.kind for r in report.recorded]) == \
            ("", 1, ["ack"])
        [delivery] = services.outbox.list()
        with services.store.reading() as session:
            assert session.get(Delivery, delivery.id).ack_via == "sms"
        assert threads and threading.main_thread().ident not in threads
        assert runner.read_sms() is True           # done: the next one may start
        qtbot.waitUntil(lambda: not runner._reading_sms, timeout=10000)
        assert runner.last_sms_read.read == 0
    finally:
        runner.stop()
