"""The outbox against a real, controllable SMTP server (aiosmtpd with STARTTLS and AUTH, the
account configured through the accounts service, its password in the keyring): 421/450/451/452
wait in retry_wait and go out once the server takes them; 550/553 fail for that recipient, with
the server's words in the outbox and the timeline, while the others go out; a server that is
down leaves everything waiting, and it goes out once the server is up. The clock is frozen and
moved past the backoff, so nothing sleeps."""

from __future__ import annotations

import asyncio

import pytest
from smtp_fixtures import PASSWORD, USER, Recorder, free_port, make_cert, smtp_server

from app.clock import ensure_utc
from app.domain.enums import Severity
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.sending.accounts import AccountService
from app.sending.outbox import Outbox
from app.sending.secrets import SecretStore
from app.stakeholders.clients import ensure_default_organisation
from tests.outbox_support import add_message

TRANSIENT = {"closing": "421 4.3.2 Service shutting down",
             "busy": "450 4.2.1 Mailbox busy, try later",
             "local": "451 4.3.0 Local error in processing",
             "full": "452 4.2.2 Insufficient system storage"}
PERMANENT = {"nobody": "550 5.1.1 No such user",
             "bad": "553 5.1.3 Bad destination mailbox address"}
FINE = ["ops1", "ops2", "ops3", "ops4"]


@pytest.fixture
def cert(tmp_path):
    return make_cert(tmp_path)


def setup(store, clock, port, cert):
    """An email account on 127.0.0.1:port, an open incident, and an Outbox sending through the
    application's pool of senders (the password read from the keyring)."""
    from ui.outbox.runner import SenderPool  # Qt-free: only the pool of senders

    bus = EventBus()
    accounts = AccountService(store, clock, SecretStore(), bus)
    accounts.create("email", "Relay", {
        "host": "127.0.0.1", "port": port, "security": "starttls", "ca_file": str(cert.cert),
        "username": USER, "from_address": "alerts@example.com", "concurrency": 2},
        secret=PASSWORD)
    client = ensure_default_organisation(store, clock)
    incident = IncidentService(store, clock, bus).open(
        client_id=client.id, title="Mail relay trouble", severity=Severity.SEV2,
        detected_at=clock.now())
    pool = SenderPool(accounts)
    return incident, pool, Outbox(store, clock, bus, pool.resolve)


def queue(store, clock, incident_id, names) -> dict[str, int]:
    names = list(names)
    ids = add_message(store, clock, incident_id, [(n.title(), f"{n}@example.com") for n in names])
    return dict(zip(names, ids))


def by_name(outbox, ids):
    rows = {d.id: d for d in outbox.list()}
    return {name: rows[i] for name, i in ids.items()}


def test_transient_refusals_wait_then_go_out_and_permanent_ones_fail_with_the_reason(
        store, frozen_clock, memory_keyring, cert):
    recorder = Recorder(rcpt_faults={f"{n}@example.com": reply
                                     for n, reply in {**TRANSIENT, **PERMANENT}.items()})
    with smtp_server(recorder, cert) as server:
        incident, pool, outbox = setup(store, frozen_clock, server.port, cert)
        ids = queue(store, frozen_clock, incident.id, [*TRANSIENT, *PERMANENT, *FINE])
        queued_at = frozen_clock.now()

        async def run():
            try:
                first = await outbox.flush()
                after_first = by_name(outbox, ids)
                recorder.rcpt_faults.clear()       # the server takes everything again
                frozen_clock.advance(hours=1)      # past the longest backoff
                second = await outbox.flush()
                return first, after_first, second
            finally:
                await pool.aclose()

        first, after_first, second = asyncio.run(asyncio.wait_for(run(), 30))

    assert (first.sent, first.retry_wait, first.failed) == (4, 4, 2)
    for name, reply in TRANSIENT.items():
        d = after_first[name]
        assert d.state == "retry_wait" and d.attempts == 1, d
        assert d.last_error.startswith(reply[:3]), d
        assert ensure_utc(d.next_attempt_at) > queued_at, d   # waits out a backoff
    for name, reply in PERMANENT.items():
        assert after_first[name].state == "failed"
        assert after_first[name].last_error == reply
    assert (second.claimed, second.sent) == (4, 4)

    final = by_name(outbox, ids)
    assert {n: final[n].state for n in TRANSIENT} == dict.fromkeys(TRANSIENT, "sent")
    assert {n: final[n].attempts for n in TRANSIENT} == dict.fromkeys(TRANSIENT, 2)
    assert {n: final[n].state for n in PERMANENT} == dict.fromkeys(PERMANENT, "failed")
    arrived = sorted(r.rcpt_tos[0].split("@")[0] for r in recorder.received)
    assert arrived == sorted([*TRANSIENT, *FINE])        # each exactly once

    timeline = IncidentService(store, frozen_clock).timeline(incident.id)
    failed = [e for e in timeline if e.kind == "delivery_failed"]
    assert any("550 5.1.1 No such user" in (e.summary + str(e.data)) for e in failed)
    sent = [e for e in timeline if e.kind == "delivery_sent"]
    assert len(sent) == len(FINE) + len(TRANSIENT)


def test_a_server_that_is_down_leaves_everything_waiting_and_it_goes_out_once_it_is_up(
        store, frozen_clock, memory_keyring, cert):
    port = free_port()                      # nothing listens there yet
    incident, pool, outbox = setup(store, frozen_clock, port, cert)
    ids = queue(store, frozen_clock, incident.id, FINE)
    recorder = Recorder()

    async def down():
        return await outbox.flush()

    report = asyncio.run(asyncio.wait_for(down(), 30))
    assert (report.claimed, report.retry_wait, report.sent) == (4, 4, 0)
    assert outbox.counts()["retry_wait"] == 4
    assert all("127.0.0.1" in d.last_error for d in by_name(outbox, ids).values())

    with smtp_server(recorder, cert, port=port):
        frozen_clock.advance(hours=1)

        async def up():
            try:
                return await outbox.flush()
            finally:
                await pool.aclose()

        report = asyncio.run(asyncio.wait_for(up(), 30))
    assert report.sent == 4
    assert {d.state for d in by_name(outbox, ids).values()} == {"sent"}
    assert sorted(r.rcpt_tos[0] for r in recorder.received) == \
        sorted(f"{n}@example.com" for n in FINE)


def stored_wire(store, delivery_id: int) -> bytes | None:
    from app.domain.models import Delivery

    with store.session() as s:
        return s.get(Delivery, delivery_id).wire


def test_what_the_server_receives_is_the_stored_wire_byte_for_byte_on_every_attempt(
        store, frozen_clock, memory_keyring, cert):
    """First attempt, a retry after a 451 an hour later, and a resend of a delivery whose
    outcome was lost after DATA: each time the server gets exactly the bytes stored at the
    first claim (the Date: of that claim, not of the attempt)."""
    from email.utils import format_datetime, parsedate_to_datetime

    recorder = Recorder(rcpt_faults={"later@example.com": TRANSIENT["local"]},
                        drop_after_data={"lost@example.com"})
    with smtp_server(recorder, cert) as server:
        incident, pool, outbox = setup(store, frozen_clock, server.port, cert)
        ids = queue(store, frozen_clock, incident.id, ["first", "later", "lost"])
        claimed_at = frozen_clock.now()

        async def run():
            try:
                await outbox.flush()
                stored = {n: stored_wire(store, i) for n, i in ids.items()}
                recorder.rcpt_faults.clear()
                recorder.drop_after_data.clear()
                frozen_clock.advance(hours=1)
                assert outbox.resend_unknown([ids["lost"]]) == 1
                await outbox.flush()
                return stored
            finally:
                await pool.aclose()

        stored = asyncio.run(asyncio.wait_for(run(), 30))

    final = by_name(outbox, ids)
    assert {n: d.state for n, d in final.items()} == dict.fromkeys(ids, "sent")
    assert (final["later"].attempts, final["lost"].attempts) == (2, 2)
    got: dict[str, list[bytes]] = {}
    for r in recorder.received:
        got.setdefault(r.rcpt_tos[0].split("@")[0], []).append(r.raw)
    assert sorted(got) == ["first", "later", "lost"]
    assert len(got["later"]) == 1 and len(got["lost"]) == 2   # the resend arrived again
    for name, wires in got.items():
        assert stored[name] and all(w == stored[name] for w in wires), name
        # nothing changed it since the first claim, and its Date: is that claim's
        assert stored_wire(store, ids[name]) == stored[name]
        header = next(r for r in recorder.received if r.rcpt_tos[0].startswith(name)).parsed
        assert parsedate_to_datetime(header["Date"]) == claimed_at.replace(microsecond=0)
        assert header["Date"] == format_datetime(claimed_at.replace(microsecond=0))


def test_the_command_line_flush_ends_its_smtp_sessions_with_quit(tmp_path, monkeypatch,
                                                                 memory_keyring):
    """`clarion outbox flush` (its command function, in this process for the in-memory
    keyring): what it sent arrives, and each session ends with QUIT before the process
    would exit — the relay logs a clean goodbye, not a lost connection."""
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.storage import Store
    from ui.cli.outbox import outbox_command

    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    recorder = Recorder()
    with smtp_server(recorder, None, starttls=False, auth=False, wiretap=True) as server:
        config = AppConfig.from_env()
        config.ensure_dirs()
        store = Store.open(config.db_path)
        clock = SystemClock()
        AccountService(store, clock, SecretStore()).create("email", "Relay", {
            "host": "127.0.0.1", "port": server.port, "security": "none",
            "from_address": "alerts@example.com", "concurrency": 2})
        client = ensure_default_organisation(store, clock)
        incident = IncidentService(store, clock).open(
            client_id=client.id, title="Relay test", severity=Severity.SEV3,
            detected_at=clock.now())
        queue(store, clock, incident.id, FINE)
        store.dispose()
        assert outbox_command("flush", demo=False) == 0
        heard = bytes(recorder.heard)
    assert len(recorder.received) == len(FINE)
    sessions = heard.count(b"EHLO ") + heard.count(b"HELO ")
    assert sessions >= 1 and heard.count(b"QUIT\r\n") == sessions


def test_the_command_line_says_why_an_account_was_paused(tmp_path, monkeypatch, memory_keyring,
                                                         capsys, cert):
    """Issue 18: not just "account paused" — the relay's own words, and what to do."""
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.storage import Store
    from ui.cli.outbox import outbox_command

    monkeypatch.setenv("CLARION_DATA_DIR", str(tmp_path))
    recorder = Recorder(login_reply="535 5.7.8 Error: authentication failed: bad password")
    with smtp_server(recorder, cert) as server:
        config = AppConfig.from_env()
        config.ensure_dirs()
        store = Store.open(config.db_path)
        clock = SystemClock()
        incident, _pool, _outbox = setup(store, clock, server.port, cert)
        queue(store, clock, incident.id, FINE)
        store.dispose()
        assert outbox_command("flush", demo=False) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("account paused: Relay — "))
    assert "535 5.7.8 Error: authentication failed: bad password" in line
    assert line.endswith("(fix it under Settings → Sending accounts, then resume it there)")
    assert recorder.received == []
