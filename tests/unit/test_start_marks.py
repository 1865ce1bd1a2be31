"""The start marks' gate (app/sending/starts.py, issue 15): it marks ahead in the order the sender
takes messages, never more than `cap` unsettled, makes room in a transaction that settles, and
answers every waiting sender when it closes."""

from __future__ import annotations

import asyncio

from app.sending.starts import StartGate


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
