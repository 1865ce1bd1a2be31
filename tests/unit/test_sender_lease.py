"""One sender at a time (app/sending/lease.py): a live lease keeps a second sender out and from
recovering rows on the wire; a lease whose heartbeat stopped is taken over with a new epoch; a
sender that lost its lease claims nothing and records nothing over its successor."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import select, update

from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery, SenderLease, TimelineEntry
from app.sending.channels.base import SENT, SendOutcome
from app.sending.lease import (
    TTL_S, Lease, LeaseHeld, release, renew, take, who_holds,
)
from tests.outbox_support import add_account, add_message, people
from tests.unit.test_outbox import FakeSender, make_outbox, states


@pytest.fixture
def incident(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Mail outage", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


def test_a_live_lease_keeps_others_out_and_a_silent_one_is_taken_over(store, frozen_clock):
    window = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    assert window.epoch == 1
    with pytest.raises(LeaseHeld) as held:
        take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    assert held.value.holder == "the Clarion window (process 1 on desk)"
    assert str(held.value) == ("the Clarion window (process 1 on desk) is sending from this "
                               "database; this one will not send while it does.")
    assert who_holds(store, frozen_clock) == "the Clarion window (process 1 on desk)"
    frozen_clock.advance(seconds=TTL_S - 1)
    assert renew(store, frozen_clock, window)               # alive: the heartbeat moves on
    frozen_clock.advance(seconds=TTL_S - 1)
    with pytest.raises(LeaseHeld):
        take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    frozen_clock.advance(seconds=2)                         # no heartbeat for TTL_S: gone
    cli = take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    assert cli.epoch == 2
    assert not renew(store, frozen_clock, window)           # the old holder learns it lost it
    release(store, window)                                  # and cannot release someone else's
    assert who_holds(store, frozen_clock) == "clarion outbox flush (process 2 on desk)"
    release(store, cli)
    assert who_holds(store, frozen_clock) is None
    assert take(store, frozen_clock, "the Clarion window (process 3 on desk)").epoch == 3


def test_no_recovery_beside_a_live_sender(store, frozen_clock, incident):
    ids = add_message(store, frozen_clock, incident.id, people(2))
    with store.session() as s, s.begin():
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, attempts=1,
                                          started_at=frozen_clock.now()))
    take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    beside = make_outbox(store, frozen_clock, {})
    assert beside.recover() == 0                            # on the wire, not lost
    assert set(states(store, ids).values()) == {"sending"}
    frozen_clock.advance(seconds=TTL_S + 1)                 # the sender died
    beside.lease = take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    assert beside.recover() == 2
    assert set(states(store, ids).values()) == {"unknown"}


def test_a_sender_without_the_lease_claims_nothing(store, frozen_clock, incident):
    ids = add_message(store, frozen_clock, incident.id, people(3))
    take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    account = add_account(store, frozen_clock, "email", "Relay")
    fake = FakeSender()
    report = asyncio.run(make_outbox(store, frozen_clock, {"email": (account, fake)}).flush())
    assert report.claimed == 0 and fake.calls == []
    assert set(states(store, ids).values()) == {"queued"}


def test_a_sender_that_lost_its_lease_records_nothing_over_its_successor(store, frozen_clock,
                                                                        incident):
    """The first sender hangs past the lease's life; a second takes over. The first one's late
    outcomes are refused (its rows are its successor's to recover), and it claims no more."""
    ids = add_message(store, frozen_clock, incident.id, people(4))
    account = add_account(store, frozen_clock, "email", "Relay")

    class TakenOverMidSend(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.calls.append([m.delivery_id for m in messages])
            frozen_clock.advance(seconds=TTL_S + 1)
            take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
            for m in messages:
                on_outcome(SendOutcome(m.delivery_id, SENT))

    outbox = make_outbox(store, frozen_clock, {"email": (account, TakenOverMidSend())},
                         batch_size=2)
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    report = asyncio.run(outbox.flush())
    assert outbox.lease_lost and report.sent == 0
    got = states(store, ids)
    assert sorted(got.values()) == ["queued", "queued", "sending", "sending"]  # one round only
    with store.session() as s:
        assert s.scalars(select(TimelineEntry.kind).where(
            TimelineEntry.kind == "delivery_sent")).all() == []
        assert s.get(SenderLease, "outbox").epoch == 2


def test_a_crashed_holder_on_this_machine_is_taken_over_without_waiting_for_its_heartbeat(
        store, frozen_clock):
    """A lease whose holder was a process of this machine that no longer exists (it crashed
    seconds ago: its heartbeat still looks alive) is taken at once; one whose process is
    alive, or that is on another machine, waits for the heartbeat to stop."""
    import socket
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()                                             # exited and reaped: no such pid
    take(store, frozen_clock, "crashed sender")

    def holder(pid: int, host: str) -> None:
        with store.session() as s, s.begin():
            row = s.get(SenderLease, "outbox")
            row.pid, row.host, row.holder = pid, host, "crashed sender"
            row.heartbeat_at = frozen_clock.now()

    holder(gone.pid, "another-desk")
    with pytest.raises(LeaseHeld):                          # elsewhere: only the heartbeat
        take(store, frozen_clock, "the Clarion window (process 3 on desk)")
    # alive, here: a process of the test's own (not the test runner's parent: a mutant that
    # signals the holder must not stop the run that tests it)
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        holder(alive.pid, socket.gethostname())
        with pytest.raises(LeaseHeld):
            take(store, frozen_clock, "the Clarion window (process 3 on desk)")
        assert alive.poll() is None                         # asked about, not signalled
    finally:
        alive.stdin.close()
        alive.wait()
    holder(0, socket.gethostname())                         # no pid recorded: the heartbeat
    with pytest.raises(LeaseHeld):
        take(store, frozen_clock, "the Clarion window (process 3 on desk)")
    holder(gone.pid, socket.gethostname())                  # gone, here
    lease = take(store, frozen_clock, "the Clarion window (process 3 on desk)")
    assert lease.epoch == 2
    assert who_holds(store, frozen_clock) == "the Clarion window (process 3 on desk)"


def test_the_lease_names_its_holder_and_a_refusal_says_when_it_was_last_heard_from(
        store, frozen_clock):
    lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    assert lease == Lease(1, "the Clarion window (process 1 on desk)")
    heard = frozen_clock.now()
    frozen_clock.advance(seconds=5)
    with pytest.raises(LeaseHeld) as refused:
        take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    assert refused.value.heartbeat_at == heard


def test_a_heartbeat_exactly_ttl_old_is_still_live(store, frozen_clock):
    """The boundary is the holder's: TTL_S after its last heartbeat it still holds the lease
    (take refuses, who_holds names it); only later is it taken over."""
    take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    frozen_clock.advance(seconds=TTL_S)
    with pytest.raises(LeaseHeld):
        take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    assert who_holds(store, frozen_clock) == "the Clarion window (process 1 on desk)"
    frozen_clock.advance(microseconds=1)
    assert who_holds(store, frozen_clock) is None
    assert take(store, frozen_clock, "clarion outbox flush (process 2 on desk)").epoch == 2


def test_a_silent_lease_has_no_holder_to_name(store, frozen_clock):
    take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    frozen_clock.advance(seconds=TTL_S + 1)                 # crashed: no heartbeat since
    assert who_holds(store, frozen_clock) is None


def test_a_released_lease_lets_a_sender_without_one_send_at_once(store, frozen_clock, incident):
    ids = add_message(store, frozen_clock, incident.id, people(2))
    window = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    release(store, window)                                  # a clean stop, no waiting for TTL_S
    account = add_account(store, frozen_clock, "email", "Relay")
    fake = FakeSender()
    report = asyncio.run(make_outbox(store, frozen_clock, {"email": (account, fake)}).flush())
    assert report.sent == 2
    assert set(states(store, ids).values()) == {"sent"}


def test_a_heartbeat_that_lands_after_the_release_does_not_bring_the_holder_back(
        store, frozen_clock):
    """The window stops: its last heartbeat, already under way in a thread, may commit after
    the release. The lease stays given up: no holder is named, and the next sender takes it."""
    window = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    release(store, window)
    renew(store, frozen_clock, window)                      # the late heartbeat
    assert who_holds(store, frozen_clock) is None
    assert take(store, frozen_clock, "clarion outbox flush (process 2 on desk)").epoch == 2


@pytest.mark.skipif(os.name != "posix", reason="asks about processes with POSIX signals")
def test_a_live_holder_on_this_machine_is_only_asked_about_never_signalled(store, frozen_clock):
    """take() asks with signal 0 whether the holder's process exists; it sends it no signal
    (the child resets the usual ones to their default, which would end it)."""
    import socket
    import subprocess
    import sys

    child = ("import signal, sys\n"
             "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1,\n"
             "          signal.SIGUSR2, signal.SIGALRM):\n"
             "    signal.signal(s, signal.SIG_DFL)\n"
             "print('ready', flush=True)\n"
             "sys.stdin.read()\n")
    alive = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert alive.stdout.readline() == "ready\n"
        take(store, frozen_clock, "crashed sender")
        with store.session() as s, s.begin():
            row = s.get(SenderLease, "outbox")
            row.pid, row.host, row.holder = alive.pid, socket.gethostname(), "the window"
        with pytest.raises(LeaseHeld):
            take(store, frozen_clock, "the Clarion window (process 3 on desk)")
    finally:
        alive.stdin.close()
        alive.wait()
        alive.stdout.close()
    assert alive.returncode == 0                            # ended by us, not by a signal


@pytest.mark.skipif(os.name != "posix", reason="asks about processes with POSIX signals")
def test_a_holder_process_of_another_user_counts_as_alive(store, frozen_clock, monkeypatch):
    """Signal 0 to another user's process is refused (EPERM): it exists, so its lease is not
    taken over before its heartbeat stops."""
    import socket

    take(store, frozen_clock, "crashed sender")
    with store.session() as s, s.begin():
        row = s.get(SenderLease, "outbox")
        row.pid, row.host, row.holder = os.getpid() + 1, socket.gethostname(), "another user's"
    asked: list[tuple[int, int]] = []

    def not_yours(pid: int, sig: int) -> None:
        asked.append((pid, sig))
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_yours)
    with pytest.raises(LeaseHeld):
        take(store, frozen_clock, "the Clarion window (process 3 on desk)")
    assert asked == [(os.getpid() + 1, 0)]


def test_the_outcome_writers_check_agrees_with_the_lease_to_the_microsecond(store,
                                                                          frozen_clock):
    """may_send_now (plain SQL, asked in every outcome transaction) says what held() and
    nobody_else() say: the holder may write, a stale epoch may not; a sender without a lease
    may not while a heartbeat is at most TTL_S old (to the microsecond), and may after."""
    from datetime import timedelta

    from app.sending.lease import held, may_send_now, nobody_else

    frozen_clock.advance(microseconds=500_000)              # a heartbeat with a fraction
    lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    beat = frozen_clock.now()
    stale = Lease(lease.epoch - 1, lease.holder)
    with store.engine.connect() as conn:
        for now, others_may in ((beat, False), (beat + timedelta(seconds=TTL_S), False),
                                (beat + timedelta(seconds=TTL_S, microseconds=1), True)):
            assert may_send_now(conn, lease, now) is True
            assert may_send_now(conn, stale, now) is False
            assert may_send_now(conn, None, now) is others_may, now
            assert conn.scalar(select(nobody_else(now))) is others_may
        assert conn.scalar(select(held(lease))) is True
        assert conn.scalar(select(held(stale))) is False


def test_the_holder_of_the_lease_sends_and_records(store, frozen_clock, incident):
    ids = add_message(store, frozen_clock, incident.id, people(3))
    account = add_account(store, frozen_clock, "email", "Relay")
    outbox = make_outbox(store, frozen_clock, {"email": (account, FakeSender())})
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    report = asyncio.run(outbox.flush())
    assert report.sent == 3 and not outbox.lease_lost
    assert set(states(store, ids).values()) == {"sent"}


class _Beats:
    """The asyncio module as app.sending.runner sees it, with sleep() recording its delay and
    returning at once: the heartbeat's rhythm counted, not waited for."""

    def __init__(self, on_beat=lambda n: None):  # type: ignore[no-untyped-def]
        self.delays: list[float] = []
        self.on_beat = on_beat

    async def sleep(self, delay):  # type: ignore[no-untyped-def]
        self.delays.append(delay)
        self.on_beat(len(self.delays))
        await asyncio.sleep(0)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(asyncio, name)


def _heartbeat(outbox, monkeypatch, beats):  # type: ignore[no-untyped-def]
    from app.sending import runner

    monkeypatch.setattr(runner, "asyncio", beats)
    asyncio.run(asyncio.wait_for(runner.keep_alive(outbox), 10))


def test_the_heartbeat_renews_every_ten_seconds_while_the_lease_is_held(
        store, frozen_clock, monkeypatch):
    from app.sending import runner
    from app.sending.lease import HEARTBEAT_S

    outbox = make_outbox(store, frozen_clock, {})
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    seen: list[object] = []

    def renewed(*args):  # type: ignore[no-untyped-def]
        alive = renew(*args)
        seen.append(store_heartbeat(store))
        if len(seen) == 3:
            outbox.lease = None   # released: the loop ends after this beat
        return alive

    monkeypatch.setattr(runner, "renew", renewed)
    beats = _Beats(lambda n: frozen_clock.advance(seconds=HEARTBEAT_S))
    _heartbeat(outbox, monkeypatch, beats)
    assert beats.delays == [10.0, 10.0, 10.0] and HEARTBEAT_S == 10.0
    assert not outbox.lease_lost   # each renewal moved the heartbeat on by one beat
    assert [(b - a).total_seconds() for a, b in zip(seen, seen[1:])] == [10.0, 10.0]


def store_heartbeat(store):  # type: ignore[no-untyped-def]
    with store.session() as s:
        return s.scalar(select(SenderLease.heartbeat_at))


def test_a_lease_taken_over_meanwhile_stops_the_heartbeat_and_marks_it_lost(
        store, frozen_clock, monkeypatch, caplog):
    outbox = make_outbox(store, frozen_clock, {})
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    frozen_clock.advance(seconds=TTL_S + 1)   # silent too long: another sender takes over
    successor = take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    before = store_heartbeat(store)
    beats = _Beats()
    _heartbeat(outbox, monkeypatch, beats)
    assert outbox.lease_lost and len(beats.delays) == 1   # one beat told it, then it ended
    assert who_holds(store, frozen_clock) == successor.holder
    assert store_heartbeat(store) == before   # the successor's heartbeat left alone
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "the sender lease was taken over by another process: not sending")]


def test_a_failed_heartbeat_is_tried_again_at_the_next_beat(store, frozen_clock, monkeypatch,
                                                             caplog):
    from sqlalchemy.exc import OperationalError

    from app.sending import runner

    outbox = make_outbox(store, frozen_clock, {})
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    calls: list[int] = []

    def flaky(store_, clock, lease):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, Exception("database is locked"))
        if len(calls) == 3:
            outbox.lease = None   # released meanwhile: the loop ends after this beat
        return True

    monkeypatch.setattr(runner, "renew", flaky)
    beats = _Beats()
    _heartbeat(outbox, monkeypatch, beats)
    assert len(calls) == 3 and len(beats.delays) == 3 and not outbox.lease_lost
    # the log says it once, with the database's own error (what to look at)
    [said] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert said.getMessage() == "the sender lease's heartbeat failed"
    assert said.exc_info and isinstance(said.exc_info[1], OperationalError)
    assert "database is locked" in caplog.text


def test_requeued_is_what_the_last_recovery_put_back_none_when_it_was_refused(
        store, frozen_clock, incident):
    """`requeued` (which `clarion outbox flush` reports as back in the queue) counts the last
    recover()'s: one refused beside a live sender put nothing back, whatever an earlier one
    did, and the claimed delivery stays as it is (its sender may still send it)."""
    def claimed_only(ids: list[int]) -> None:
        with store.session() as s, s.begin():
            s.execute(update(Delivery).where(Delivery.id.in_(ids))
                      .values(state=DeliveryState.SENDING, attempts=1))

    first = add_message(store, frozen_clock, incident.id, people(2))
    claimed_only(first)
    outbox = make_outbox(store, frozen_clock, {})
    assert outbox.recover() == 0 and outbox.requeued == 2
    second = add_message(store, frozen_clock, incident.id, people(1, "q"))
    claimed_only(second)
    take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    assert outbox.recover() == 0 and outbox.requeued == 0
    assert states(store, second) == {second[0]: "sending"}


@pytest.mark.parametrize("why", ["no lease", "lost"])
def test_no_heartbeat_without_a_live_lease(store, frozen_clock, monkeypatch, why):
    outbox = make_outbox(store, frozen_clock, {})
    if why == "lost":
        outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
        outbox.lease_lost = True
    beats = _Beats()
    _heartbeat(outbox, monkeypatch, beats)
    assert beats.delays == []
