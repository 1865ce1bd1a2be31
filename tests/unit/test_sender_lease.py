"""One sender at a time (app/sending/lease.py): a live lease keeps a second sender out and from
recovering rows on the wire; a lease whose heartbeat stopped is taken over with a new epoch; a
sender that lost its lease claims nothing and records nothing over its successor."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery, SenderLease, TimelineEntry
from app.sending.channels.base import SENT, SendOutcome
from app.sending.lease import (
    TTL_S, LeaseHeld, release, renew, take, who_holds,
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
