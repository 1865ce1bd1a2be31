"""The window's mailbox readers (ui/outbox/mailbox.py) against a real Dovecot
(tests/integration/imap_fixtures.py): an email account with an IMAP server gets a reader as
soon as it is saved, a regulator's notification that bounces is told in a notification within
seconds and heads Due next, and an account whose IMAP server is removed is no longer read."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from imap_fixtures import ImapServer, imap_fixture, imap_server_fixture  # noqa: E402,F401

from app.clocks.board import clock_rows  # noqa: E402
from app.domain.enums import DeliveryState  # noqa: E402
from tests.integration.test_clocks_service import add_person, flush, queue  # noqa: E402
from tests.integration.test_mailbox_recorder import deliveries_of, dsn  # noqa: E402


def test_a_bounced_regulator_notice_is_told_at_once_and_heads_due_next(
        qtbot, services, memory_keyring, imap: ImapServer):
    from ui.incidents.notifier import ClockNotifier
    from ui.outbox.mailbox import MailboxReaders

    store, clock = services.store, services.clock
    from app.stakeholders.clients import list_clients

    client_id = list_clients(store)[0].id
    rex = add_person(store, clock, client_id, "Rex Regulator", "regulators")
    incident = services.incidents.open(client_id=client_id, title="Payroll data exposed",
                                       severity="SEV2", detected_at=clock.now())
    letter = queue(store, clock, incident.id, "regulatory_notification", [rex])
    flush(store, clock)
    sent = deliveries_of(store, letter)["Rex Regulator"]
    assert sent.state == DeliveryState.SENT

    notifier = ClockNotifier(services)
    readers = MailboxReaders(services)
    try:
        notifier.start()
        readers.start()
        assert readers.watching == []            # no account reads a mailbox yet
        account = services.accounts.create("email", "Desk mailbox", {
            "host": "smtp.example.com", "from_address": "desk@example.test",
            "username": imap.user, "ca_file": str(imap.ca_file), "imap_host": "127.0.0.1",
            "imap_port": imap.tls_port, "imap_security": "tls"}, secret=imap.password)
        qtbot.waitUntil(lambda: account.id in readers.last, timeout=10_000)
        assert readers.last[account.id].error == ""
        assert readers.watching == ["Desk mailbox"]

        with qtbot.waitSignal(notifier.notified, timeout=15_000,
                              check_params_cb=lambda title, text: "bounced" in text) as told:
            imap.deliver(dsn(sent))
        assert "Regulator notification bounced: Rex Regulator" in told.args[1]
        assert deliveries_of(store, letter)["Rex Regulator"].state == DeliveryState.BOUNCED
        first = clock_rows(services.clocks.evaluate(incident.id), clock.now())[0]
        assert first.kind == "bounce" and first.stakeholder_ids == (rex,)

        services.accounts.update(account.id, "Desk mailbox", {
            **services.accounts.get(account.id).settings, "imap_host": ""})
        qtbot.waitUntil(lambda: readers.watching == [], timeout=10_000)
    finally:
        readers.stop()
        notifier.stop()
