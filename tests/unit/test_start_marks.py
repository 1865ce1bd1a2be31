"""The start marks' gate (app/sending/starts.py, issue 15): it marks ahead in the order the sender
takes messages, never more than `cap` unsettled, makes room in a transaction that settles, and
answers every waiting sender when it closes."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

import pytest
from sqlalchemy import text, update

from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery
from app.sending.rows import write_starts
from app.sending.starts import StartGate
from tests.outbox_support import add_message, people


class Writer:
    """Stands for the flush's writer: takes the asked marks and commits them (all, or those
    `still` sending), settling outcomes in the same transaction."""

    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1

    @staticmethod
    def commit(gate: StartGate, settled=(), still=None):  # type: ignore[no-untyped-def]
        written = gate.take(set(settled))
        marked = set(written) if still is None else set(written) & set(still)
        gate.committed(written, marked, settled)
        return written


def test_marks_ahead_in_order_and_never_more_than_cap_unsettled():
    w = Writer()
    gate = StartGate(4, w.wake)
    gate.add(range(1, 11))
    assert w.woken and Writer.commit(gate) == [1, 2, 3, 4]
    assert gate.ready == {1, 2, 3, 4}
    assert Writer.commit(gate) == []                     # full: nothing more until settled

    async def main():
        assert await gate.begin(1) and await gate.begin(2)   # marked: at once
        gate.reported_outcome(1)
        assert Writer.commit(gate) == []                 # reported is not settled: still 4
        # a transaction that settles 1 may mark one more: both commit together
        assert Writer.commit(gate, settled=[1]) == [5]
        assert gate.open == {2, 3, 4, 5}
    asyncio.run(main())


def test_a_sender_waits_for_its_mark_and_is_refused_when_the_row_moved_or_the_gate_closes():
    w = Writer()
    gate = StartGate(2, w.wake)
    gate.add([1, 2, 3])

    async def main():
        first = asyncio.ensure_future(gate.begin(1))
        await asyncio.sleep(0)
        assert not first.done()                          # not committed yet
        Writer.commit(gate, still=[2])                   # 1 is no longer `sending`
        assert await first is False and 2 in gate.marked
        third = asyncio.ensure_future(gate.begin(3))     # begun out of order, cap full
        await asyncio.sleep(0)
        gate.close()
        assert await third is False and await gate.begin(2) is False
        assert gate.begun == set()
    asyncio.run(main())


def test_an_outcome_before_its_mark_is_written_needs_no_mark():
    gate = StartGate(2, lambda: None)
    gate.add([1, 2, 3])
    gate.reported_outcome(1)              # e.g. a message the channel could not build
    assert Writer.commit(gate) == [2, 3]
    assert gate.urgent(outcomes_waiting=False) is False   # nothing left to mark


def test_urgent_when_a_sender_waits_or_few_are_ready():
    gate = StartGate(16, lambda: None)    # 8 in flight: low 2
    gate.add(range(1, 40))
    Writer.commit(gate)
    assert not gate.urgent(outcomes_waiting=True)     # 16 ready ahead of the senders

    async def main():
        for i in range(1, 16):
            assert await gate.begin(i)
        assert len(gate.ready) == 1
        # full (15 begun + 1 ready): only settling outcomes can make room
        assert not gate.urgent(outcomes_waiting=False)
        assert gate.urgent(outcomes_waiting=True)
    asyncio.run(main())


async def turns() -> None:
    """A few turns of the event loop: a waiter that was answered has returned by then (no
    waiting on time; one that was not stays pending and the test says so)."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_writer_is_woken_only_once_fewer_than_low_marked_are_ready():
    w = Writer()
    gate = StartGate(16, w.wake)          # low 2
    gate.add(range(1, 40))
    Writer.commit(gate)
    woken = w.woken

    async def main():
        for i in range(1, 15):
            assert await gate.begin(i)
        assert len(gate.ready) == 2 and w.woken == woken   # still low ready ahead: no commit
        assert await gate.begin(15)
        assert len(gate.ready) == 1 and w.woken == woken + 1
    asyncio.run(main())


def test_a_sender_that_waited_for_its_mark_has_begun_it():
    """Begun means it may be on the wire: a flush stopped now leaves it `unknown`, not queued
    again (sent twice)."""
    gate = StartGate(2, lambda: None)
    gate.add([1, 2])

    async def main():
        first = asyncio.ensure_future(gate.begin(1))
        await asyncio.sleep(0)
        Writer.commit(gate)
        assert await first is True
        assert gate.begun == {1} and gate.ready == {2}
    asyncio.run(main())


def test_two_waits_for_the_same_mark_both_get_the_answer():
    gate = StartGate(2, lambda: None)
    gate.add([1, 2])

    async def main():
        first = asyncio.ensure_future(gate.begin(1))
        again = asyncio.ensure_future(gate.begin(1))
        await asyncio.sleep(0)
        Writer.commit(gate)
        await turns()
        assert first.done() and again.done()
        assert first.result() is True and again.result() is True
    asyncio.run(main())


def test_a_message_begun_out_of_order_is_marked_next():
    gate = StartGate(2, lambda: None)
    gate.add([1, 2, 3, 4, 5])
    assert Writer.commit(gate) == [1, 2]

    async def main():
        fifth = asyncio.ensure_future(gate.begin(5))     # the sender took 5 first
        await asyncio.sleep(0)
        assert await gate.begin(1)
        gate.reported_outcome(1)
        assert Writer.commit(gate, settled=[1]) == [5]   # the room goes to the waiting one
        assert await fifth is True
        assert await gate.begin(2)
        gate.reported_outcome(2)
        assert Writer.commit(gate, settled=[2]) == [3]   # then the order goes on
    asyncio.run(main())


def test_a_waiting_sender_whose_outcome_came_first_is_refused_at_once():
    """An outcome reached the collector before the mark was written (e.g. the flush gave up
    on the delivery): the sender waiting for that mark is told not to send, now."""
    gate = StartGate(2, lambda: None)
    gate.add([1, 2, 3])

    async def main():
        first = asyncio.ensure_future(gate.begin(1))
        await asyncio.sleep(0)
        gate.reported_outcome(1)
        await turns()
        assert first.done() and first.result() is False
        assert gate.begun == set()
        assert Writer.commit(gate) == [2, 3]
    asyncio.run(main())


def test_a_delivery_with_an_outcome_is_never_marked_nor_begun():
    gate = StartGate(2, lambda: None)
    gate.add([1, 2, 3, 4])
    assert Writer.commit(gate) == [1, 2]
    gate.reported_outcome(3)              # not asked yet: its outcome came first
    gate.reported_outcome(1)

    async def main():
        third = asyncio.ensure_future(gate.begin(3))
        await turns()
        assert third.done() and third.result() is False    # at once, not after a mark
        assert Writer.commit(gate, settled=[1]) == [4]
    asyncio.run(main())


def test_a_marked_message_whose_outcome_came_is_no_longer_ready():
    """It will not be sent: it no longer counts as ready ahead of the senders, so the writer
    commits for more marks sooner."""
    gate = StartGate(16, lambda: None)    # low 2
    gate.add(range(1, 40))
    Writer.commit(gate)

    async def main():
        for i in range(1, 15):
            assert await gate.begin(i)
        assert not gate.urgent(outcomes_waiting=True)      # 15 and 16 ready
        gate.reported_outcome(15)                          # e.g. the account was refused
        assert gate.ready == {16}
        assert gate.urgent(outcomes_waiting=True)
    asyncio.run(main())


def test_low_is_a_quarter_of_the_in_flight_limit_rounded_down():
    gate = StartGate(12, lambda: None)    # 6 in flight: a quarter is 1.5, low 1
    gate.add(range(1, 40))
    Writer.commit(gate)

    async def main():
        for i in range(1, 12):
            assert await gate.begin(i)
        assert gate.ready == {12}
        assert not gate.urgent(outcomes_waiting=True)      # one ready is not fewer than 1
        assert await gate.begin(12)
        assert gate.urgent(outcomes_waiting=True)
    asyncio.run(main())


def test_a_cap_of_one_marks_one_at_a_time():
    for cap in (0, 1):
        gate = StartGate(cap, lambda: None)
        gate.add([1, 2, 3])
        assert Writer.commit(gate) == [1]
        assert Writer.commit(gate) == []
        assert Writer.commit(gate, settled=[1]) == [2]


def test_a_mark_refused_because_the_row_moved_frees_its_place():
    gate = StartGate(2, lambda: None)
    gate.add([1, 2, 3])
    assert Writer.commit(gate, still=[2]) == [1, 2]       # 1 is no longer `sending`
    assert gate.open == {2, 3}                            # its place went to the next
    assert Writer.commit(gate) == [3]


def test_the_writer_is_woken_only_when_there_are_marks_to_write():
    w = Writer()
    gate = StartGate(2, w.wake)
    gate.add([1, 2, 3])
    assert w.woken == 1                                   # 1 and 2 asked
    assert Writer.commit(gate) == [1, 2]
    assert w.woken == 1                                   # full: nothing more to write
    gate.add([4])
    assert w.woken == 1                                   # still full
    assert Writer.commit(gate, settled=[1]) == [3]
    assert w.woken == 2                                   # once, for 3


# ---------------------------------------------------------------- the marks' statement

@pytest.fixture
def sending(store, frozen_clock, incidents, client_id):  # type: ignore[no-untyped-def]
    """520 deliveries claimed (`sending`, attempt 1), created at the frozen clock's now."""
    incident = incidents.open(client_id=client_id, title="Mail outage",
                              severity=Severity.SEV2, detected_at=frozen_clock.now())
    ids = add_message(store, frozen_clock, incident.id, people(520))
    with store.session() as s, s.begin():
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, attempts=1))
    return ids


def test_start_marks_fit_a_sqlite_built_with_the_old_999_variable_limit(store, frozen_clock,
                                                                       sending):
    """Two variables a mark: any number of them go 100 a statement, never over 999."""
    with store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        try:
            marked = write_starts(conn, [(i, 1) for i in sending], frozen_clock.now())
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    assert marked == set(sending)


def test_a_start_mark_is_stored_as_naive_utc_and_only_on_its_attempt(store, frozen_clock,
                                                                      sending):
    """Like every time in the table (the column type's rule: SQLite has no time zones), the
    mark is the UTC instant without an offset; a row no longer in the attempt given is not
    marked."""
    with store.engine.begin() as conn:
        marked = write_starts(conn, [(sending[0], 1), (sending[1], 2)], frozen_clock.now())
    assert marked == {sending[0]}
    with store.engine.connect() as conn:
        got = dict(conn.execute(text("SELECT id, started_at FROM deliveries WHERE id IN "
                                     "(:a, :b)"), {"a": sending[0], "b": sending[1]}).all())
    assert got[sending[1]] is None
    stored = datetime.fromisoformat(got[sending[0]])
    assert stored.tzinfo is None
    assert stored == frozen_clock.now().replace(tzinfo=None)
    # in the one fixed-width text form the ORM writes (SQLite compares times as text): at a
    # whole second too, where sqlite3's own adapter would drop ".000000"
    assert got[sending[0]] == "2026-03-02 09:00:00.000000"
