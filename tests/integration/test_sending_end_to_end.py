"""From the composer's queue to a real SMTP server: an account configured through the accounts
service (password in the keyring), deliveries sent by the outbox through aiosmtpd with STARTTLS
and AUTH, the timeline as the record — and the password nowhere in the database or the log."""

from __future__ import annotations

import asyncio
import logging

from smtp_fixtures import PASSWORD, USER, Recorder, make_cert, smtp_server

from app.clock import SystemClock
from app.domain.dto import ContactPointData, StakeholderData
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.logs import configure_logging
from app.messages.composer import Sender, queue_message
from app.messages.library import builtin_templates
from app.sending.accounts import AccountService
from app.sending.outbox import Outbox
from app.sending.secrets import SecretStore
from app.stakeholders.clients import ensure_default_organisation
from app.stakeholders.recipients import resolve_recipients
from app.stakeholders.service import StakeholderService
from app.storage import Store


def test_queued_message_reaches_a_real_smtp_server_and_secrets_stay_out(tmp_path,
                                                                        memory_keyring):
    from ui.outbox.runner import SenderPool  # Qt-free: only the pool of senders

    cert = make_cert(tmp_path)
    recorder = Recorder()
    log_path = tmp_path / "logs" / "clarion.log"
    handler = configure_logging(log_path, level=logging.DEBUG)
    clock = SystemClock()
    store = Store.open(tmp_path / "clarion.db")
    bus = EventBus()
    try:
        with smtp_server(recorder, cert) as controller:
            accounts = AccountService(store, clock, SecretStore(), bus)
            accounts.create("email", "Relay", {
                "host": "127.0.0.1", "port": controller.port, "security": "starttls",
                "ca_file": str(cert.cert), "username": USER,
                "from_address": "alerts@example.com", "from_name": "Harbor IT Alerts"},
                secret=PASSWORD)
            client = ensure_default_organisation(store, clock)
            people = StakeholderService(store, clock, bus)
            for i in range(5):
                people.create(StakeholderData(
                    client_id=client.id, name=f"Engineer {i}", category="it_staff_msp",
                    contacts=(ContactPointData("email", f"eng{i}@example.com", 1),)))
            incident = IncidentService(store, clock, bus).open(
                client_id=client.id, title="Core switch failure", severity="SEV1",
                detected_at=clock.now())
            queued = queue_message(
                store, clock, bus, incident=incident, client=client,
                template_type="initial_acknowledgment", templates=builtin_templates(),
                recipients=resolve_recipients(store, client.id, timing_needs=["immediate"]),
                sender=Sender("Dana", "Harbor IT"))
            assert queued.deliveries == 5
            pool = SenderPool(accounts)
            outbox = Outbox(store, clock, bus, pool.resolve)

            async def run():
                try:
                    return await outbox.flush()
                finally:
                    await pool.aclose()

            report = asyncio.run(run())
        assert report.sent == 5
        arrived = sorted(to for r in recorder.received for to in r.rcpt_tos)
        assert arrived == sorted(f"eng{i}@example.com" for i in range(5))
        assert all(r.parsed["Subject"] for r in recorder.received)
        states = {d.state for d in outbox.list()}
        assert states == {"sent"}
        kinds = [e.kind for e in IncidentService(store, clock).timeline(incident.id)]
        assert "delivery_sent" in kinds
        # the password never reaches the database (file and WAL) or the log
        handler.flush()
        store.dispose()
        blobs = b"".join(p.read_bytes() for p in tmp_path.glob("clarion.db*"))
        assert PASSWORD.encode() not in blobs
        assert PASSWORD not in log_path.read_text(encoding="utf-8")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
