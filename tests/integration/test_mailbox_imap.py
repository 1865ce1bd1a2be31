"""Reading the coordinator's mailbox from a real server (issue 24): a private Dovecot IMAP
(tests/integration/imap_fixtures.py) holding a bounce written by a real Postfix
(tests/integration/mta_fixtures.py) about bytes Clarion sent, a reply and an out-of-office.
app/mailbox/reader.py reads it over implicit TLS and STARTTLS, once and as a watcher
(IDLE and polling); the mail stays unread on the server and nothing is read twice, across a
restart too. `clarion mailbox check` and `clarion replies` run as processes. Where Dovecot or
Postfix cannot start, the tests skip and say why."""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from imap_fixtures import ImapServer, imap_fixture, imap_server_fixture  # noqa: F401 - fixtures
from mta_fixtures import PostfixInstance, _wait_for, mta, postfix  # noqa: F401 - fixtures
from sqlalchemy import select

from app.clocks.regulatory import ClockStatus
from app.domain.enums import DeliveryState, TimelineKind
from app.domain.models import InboundMail, MailboxPosition
from app.sending.accounts import AccountService
from app.sending.channels.base import AccountDTO
from app.mailbox.reader import MailboxWatcher, check_account
from app.mailbox.replies import RepliesService
from app.sending.secrets import MemorySecretBackend, SecretStore
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, hipaa_client, people, regulatory,
)
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    answer, deliveries_of, dsn, entries, sent_letter,
)

ROOT = Path(__file__).resolve().parents[2]
DESK = "desk@example.test"      # in the test MTA's own domain: its bounces land in the Maildir


def imap_account(store, clock, imap: ImapServer, *, security: str = "tls",
                 password: str | None = None, name: str = "Desk mailbox") -> AccountDTO:
    port = imap.tls_port if security == "tls" else imap.starttls_port
    accounts = AccountService(store, clock, SecretStore(MemorySecretBackend()))
    return accounts.create("email", name, {
        "host": "smtp.example.com", "from_address": DESK, "username": imap.user,
        "ca_file": str(imap.ca_file), "imap_host": "127.0.0.1", "imap_port": port,
        "imap_security": security}, secret=password or imap.password)


class _Refusing:
    """A remote MTA that knows none of its users (aiosmtpd): every RCPT gets a 550."""

    async def handle_RCPT(self, server, session, envelope, address,  # type: ignore[no-untyped-def]
                          rcpt_options):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local " \
               "recipient table"


def postfix_bounce(mta: PostfixInstance, wire: bytes) -> bytes:  # noqa: F811
    """Submit these exact bytes to the real Postfix for a domain whose server refuses the
    recipient, and return the delivery status notification Postfix writes to the sender."""
    from aiosmtpd.controller import Controller
    from smtp_fixtures import free_port

    mta.clear()
    remote = Controller(_Refusing(), hostname="127.0.0.1", port=free_port())
    remote.start()
    try:
        mta.route("nowhere.test", remote.port)
        context = ssl.create_default_context(cafile=str(mta.ca_file))
        with smtplib.SMTP(mta.host, mta.port, local_hostname="clarion.example.test",
                          timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login(mta.user, mta.password)
            smtp.sendmail(DESK, ["cal.customer@nowhere.test"], wire)
        [raw] = mta.wait_for_messages(1, timeout=30)
    finally:
        remote.stop()
    assert b"delivery-status" in raw and b"5.1.1" in raw, raw[:3000]
    return raw


def test_a_real_postfix_bounce_a_reply_and_an_out_of_office_read_over_tls(
        store, frozen_clock, sent_letter, imap, mta, clocks):  # noqa: F811
    incident_id, letter = sent_letter
    sent = deliveries_of(store, letter)
    cal, lee = sent["Cal Customer"], sent["Lee Legal"]
    imap.deliver(postfix_bounce(mta, cal.wire))
    imap.deliver(answer(lee, "I am away until Monday.", auto=True))
    imap.deliver(answer(lee, "Which records were affected?\n\n> The mailbox server is down."))
    imap.deliver(b"From: news@vendor.example\r\nSubject: Offers\r\n"
                 b"Message-ID: <n1@vendor.example>\r\n\r\nBuy now.\r\n")
    account = imap_account(store, frozen_clock, imap)

    report = check_account(store, frozen_clock, account, imap.password)

    assert report.error == ""
    assert report.read == 4 and report.unmatched == 1
    assert sorted(r.kind for r in report.recorded) == ["auto_reply", "bounce", "reply"]
    after = deliveries_of(store, letter)
    assert after["Cal Customer"].state == DeliveryState.BOUNCED
    # the remote server's words, as Postfix reported them
    assert "User unknown in local recipient table" in after["Cal Customer"].bounce_reason
    assert after["Lee Legal"].auto_reply_at is not None
    assert regulatory(clocks.evaluate(incident_id))["hipaa_individuals"].status != \
        ClockStatus.SATISFIED
    assert entries(store, incident_id, TimelineKind.CLOCK_REOPENED)
    [reply] = RepliesService(store, frozen_clock).list(incident_id)
    assert reply.text == "Which records were affected?"
    # the coordinator's mail is untouched: nothing marked read, moved or deleted
    assert imap.flags() == [set(), set(), set(), set()]

    # read again, and again after the server restarts: nothing twice; a new one is read
    assert check_account(store, frozen_clock, account, imap.password).read == 0
    imap.restart()
    assert check_account(store, frozen_clock, account, imap.password).read == 0
    imap.deliver(answer(cal, "Please use my new address.", sender="cal@new.example"))
    again = check_account(store, frozen_clock, account, imap.password)
    assert again.read == 1 and [r.kind for r in again.recorded] == ["reply"]
    with store.reading() as session:
        assert session.scalar(select(InboundMail.id).where(InboundMail.kind == "bounce"))
        assert len(session.scalars(select(InboundMail)).all()) == 4


def test_starttls_and_the_servers_refusal_in_words(
        store, frozen_clock, sent_letter, imap):  # noqa: F811
    _incident, letter = sent_letter
    sent = deliveries_of(store, letter)
    lee, cal = sent["Lee Legal"], sent["Cal Customer"]
    imap.deliver(answer(lee, "Received, thanks."))
    # a submission service gave the message its own Message-ID: the token still matches it
    imap.deliver(dsn(cal, rewrite_message_id=True))
    account = imap_account(store, frozen_clock, imap, security="starttls")
    report = check_account(store, frozen_clock, account, imap.password)
    assert report.error == ""
    # "Received, thanks." only confirms (issue 25): a confirmation, not a reply to handle
    assert [(r.kind, r.delivery_id) for r in report.recorded] == \
        [("ack", lee.id), ("bounce", cal.id)]
    assert deliveries_of(store, letter)["Cal Customer"].state == DeliveryState.BOUNCED
    assert deliveries_of(store, letter)["Lee Legal"].ack_via == "email"

    wrong = imap_account(store, frozen_clock, imap, password="not-it", name="Wrong password")
    refused = check_account(store, frozen_clock, wrong, "not-it")
    assert "refused the user name or password" in refused.error
    assert "not-it" not in refused.error
    with store.reading() as session:
        position = session.get(MailboxPosition, (wrong.id, "INBOX"))
        assert position.last_error == refused.error
    no_tls = imap_account(store, frozen_clock, imap, name="Plain port as TLS")
    no_tls = AccountDTO(no_tls.id, "email", no_tls.name,
                        {**no_tls.settings, "imap_port": imap.starttls_port})
    broken = check_account(store, frozen_clock, no_tls, imap.password)
    assert "TLS" in broken.error


@pytest.mark.parametrize("use_idle", [True, False], ids=["idle", "poll"])
def test_the_watcher_records_what_arrives(
        store, frozen_clock, sent_letter, imap, use_idle):  # noqa: F811
    incident_id, letter = sent_letter
    lee = deliveries_of(store, letter)["Lee Legal"]
    account = imap_account(store, frozen_clock, imap)
    reports = []
    watcher = MailboxWatcher(store, frozen_clock, account, lambda: imap.password,
                             poll_seconds=0.2, on_report=reports.append, use_idle=use_idle)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert _wait_for(lambda: reports, 10), "the first check never reported"
        assert watcher.mode == ("idle" if use_idle else "poll")
        imap.deliver(answer(lee, "Can we talk at 11?"))
        assert _wait_for(lambda: RepliesService(store, frozen_clock).list(incident_id), 10)
        assert not [r for r in reports if r.error]
    finally:
        watcher.stop()
        thread.join(10)
    assert not thread.is_alive()
    [reply] = RepliesService(store, frozen_clock).list(incident_id)
    assert reply.text == "Can we talk at 11?"
    assert imap.flags() == [set()]


# ---------------------------------------------------------------- the CLI, as processes

CHILD = """
import sys
from app.sending.secrets import SecretStore, use_memory_keyring
SecretStore(use_memory_keyring()).set(int(sys.argv[1]), sys.argv[2])
from ui.main import main
sys.exit(main(sys.argv[3:]))
"""


def clarion(data_dir: Path, account_id: int, password: str,
            *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", CHILD, str(account_id), password, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_mailbox_check_and_replies_as_processes(tmp_path, imap):
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.storage import Store
    from tests.integration.test_clocks_service import add_person, flush, open_incident, queue
    from app.incidents.lifecycle import IncidentService
    from app.stakeholders.clients import ensure_default_organisation

    config = AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)})
    config.ensure_dirs()
    store = Store.open(config.db_path)
    clock = SystemClock()
    try:
        client = ensure_default_organisation(store, clock)
        lee = add_person(store, clock, client.id, "Lee Legal", "compliance_legal")
        incidents = IncidentService(store, clock, actor="Test Coordinator")
        incident_id = open_incident(incidents, client.id)
        letter = queue(store, clock, incident_id, "status_update", [lee])
        flush(store, clock)
        delivery = deliveries_of(store, letter)["Lee Legal"]
        account = imap_account(store, clock, imap)
    finally:
        store.dispose()
    imap.deliver(answer(delivery, "Who is the contact at the vendor?"))

    check = clarion(tmp_path, account.id, imap.password, "mailbox", "check")
    assert check.returncode == 0, check.stderr
    assert "Desk mailbox (INBOX): read 1 new message: 1 matched" in check.stdout
    assert f"reply      incident {incident_id}, delivery {delivery.id}: Reply from Lee " \
           "Legal: Who is the contact at the vendor?" in check.stdout
    assert clarion(tmp_path, account.id, imap.password, "mailbox", "check",
                   "--json").stdout.count('"read": 0') == 1

    listed = clarion(tmp_path, account.id, imap.password, "replies", str(incident_id))
    assert listed.returncode == 0, listed.stderr
    assert "Mail relay down: 1 open reply\n" in listed.stdout
    assert "  | Who is the contact at the vendor?" in listed.stdout
    as_json = json.loads(clarion(tmp_path, account.id, imap.password, "replies",
                                 str(incident_id), "--json").stdout)
    assert [(r["kind"], r["delivery"], r["text"]) for r in as_json] == \
        [("reply", delivery.id, "Who is the contact at the vendor?")]

    wrong = clarion(tmp_path, account.id, "not-the-password", "mailbox", "check")
    assert wrong.returncode == 1 and "refused the user name or password" in wrong.stderr
    unknown = clarion(tmp_path, account.id, imap.password, "mailbox", "check",
                      "--account", "Nope")
    assert unknown.returncode == 2 and "Desk mailbox" in unknown.stderr
    missing = clarion(tmp_path, account.id, imap.password, "replies", "9999")
    assert missing.returncode == 2


MAIL = ROOT / "tests" / "data" / "mail"


def as_if_about(name: str, replacements: dict[str, str]) -> bytes:
    """A real-format sample (tests/data/mail) about one of this test's deliveries: its
    original's Message-ID and token replaced by that delivery's."""
    raw = (MAIL / name).read_bytes()
    for old, new in replacements.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def test_the_forms_exchange_online_and_gmail_send_read_from_the_server(
        store, frozen_clock, sent_letter, imap):  # noqa: F811
    incident_id, letter = sent_letter
    sent = deliveries_of(store, letter)
    cal, lee = sent["Cal Customer"], sent["Lee Legal"]
    # Exchange Online rewrote the Message-ID: only the token in its copy names the delivery
    imap.deliver(as_if_about("exchange_online_ndr.eml",
                             {"1b2c3d4e5f60718293a4b5c6d7e8f90a": cal.idempotency_key}))
    imap.deliver(as_if_about("gmail_vacation.eml",
                             {"<dlv.d7e8f9.vacation@clarion.test>": lee.email_message_id}))
    imap.deliver(as_if_about("outlook_reply_html.eml",
                             {"<dlv.0a1b2c.outlook@clarion.test>": lee.email_message_id}))
    report = check_account(store, frozen_clock, imap_account(store, frozen_clock, imap),
                           imap.password)
    assert report.error == ""
    assert [(r.kind, r.delivery_id) for r in report.recorded] == \
        [("bounce", cal.id), ("auto_reply", lee.id), ("reply", lee.id)]
    after = deliveries_of(store, letter)
    assert after["Cal Customer"].state == DeliveryState.BOUNCED
    assert after["Lee Legal"].auto_reply_at is not None
    [reply] = RepliesService(store, frozen_clock).list(incident_id)
    assert reply.text.startswith("Hi team,\n\nThanks for the update.")
    assert reply.text.endswith("Olivia")          # the quoted original is gone
    assert imap.flags() == [set(), set(), set()]
