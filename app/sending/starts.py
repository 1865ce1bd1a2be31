"""Durable start marks (issue 15): only what may have been on the wire is in doubt after a crash.

Before a sender puts a message's first byte on the network it awaits `StartGate.begin(id)`,
which returns once the delivery's `started_at` is committed. A crash then leaves `unknown` only
the `sending` rows with a start mark; the others were claimed but never left, and go back to the
queue (Outbox.recover).

No fsync per message: the marks ride in the flush writer's transactions, with the outcomes
(app/sending/flush.py), and the gate marks ahead — the next messages in the order the sender
takes them — so a connection that finishes a message usually finds its next one marked already.
What bounds the doubt is `cap`: at most cap deliveries of one route are marked (or being marked)
and not yet settled by a committed outcome; a transaction that settles outcomes may mark as many
new ones (`take(settling)`), since it commits both at once. With cap = 2 × the sender's
in-flight limit, a crash leaves at most that many `unknown` per account: the ones on the wire,
plus outcomes and marks waiting for the same commit (issue 15: 16 for an email account with 8
connections).

The writer asks `urgent()` whether to commit now: when a sender waits for a mark, or when fewer
than `low` marked messages are ready ahead of the senders.

Runs on the flush's event loop only; no I/O here."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, Iterable


class StartGate:
    """The start marks of one route (account) during one flush, across its rounds."""

    def __init__(self, cap: int, wake: Callable[[], None]) -> None:
        self.cap = max(1, cap)
        self.low = max(1, self.cap // 8)    # fewer marked ready than this (a quarter of the
                                            # in-flight limit): commit now
        self.wake = wake                    # tells the writer there are marks to write
        self.order: deque[int] = deque()    # the rounds' messages, as the sender takes them
        self.first: deque[int] = deque()    # begun out of that order: marked before the rest
        self.open: set[int] = set()         # mark asked or written, outcome not committed yet
        self.asked: list[int] = []          # marks the writer has not taken yet
        self.marked: set[int] = set()       # marks committed
        self.ready: set[int] = set()        # marked, not begun, no outcome: ahead of senders
        self.reported: set[int] = set()     # an outcome came: never marked from now on
        self.begun: set[int] = set()        # begin() said yes: may be on the wire
        self.waiters: dict[int, asyncio.Future[bool]] = {}
        self.closed = False

    def add(self, ids: Iterable[int]) -> None:
        """A new round for this route, in the order its sender takes the messages."""
        self.order.extend(ids)
        self.top_up()

    async def begin(self, delivery_id: int) -> bool:
        """Wait until the delivery's start mark is committed. False: the outbox withholds it
        (the flush is stopping, its lease was lost, or the row is no longer this attempt's):
        send nothing of it."""
        if self.closed or delivery_id in self.reported:
            return False
        if delivery_id in self.marked:
            self._go(delivery_id)
            return True
        waiter = self.waiters.get(delivery_id)
        if waiter is None:
            waiter = self.waiters[delivery_id] = asyncio.get_running_loop().create_future()
        if delivery_id not in self.open:
            self.first.append(delivery_id)
            self.top_up()
        self.wake()   # a sender waits: the writer commits now
        if await asyncio.shield(waiter):
            self._go(delivery_id)
            return True
        return False

    def _go(self, delivery_id: int) -> None:
        self.begun.add(delivery_id)
        self.ready.discard(delivery_id)
        if len(self.ready) < self.low:
            self.wake()

    def reported_outcome(self, delivery_id: int) -> None:
        """An outcome for it reached the collector (committed later)."""
        self.reported.add(delivery_id)
        self.ready.discard(delivery_id)
        if delivery_id in self.asked:   # not written yet: an outcome came first, no mark
            self.asked.remove(delivery_id)
            self.open.discard(delivery_id)
            self._answer(delivery_id, False)
            self.top_up()

    def urgent(self, outcomes_waiting: bool) -> bool:
        """Should the writer commit now for this route: a sender waits for its mark, or few
        marked messages are ready — and the commit can help (marks to write, or outcomes
        waiting whose settling makes room)?"""
        if not (self.waiters or len(self.ready) < self.low) or self.closed:
            return False
        return bool(self.asked) or (outcomes_waiting and self._peek() is not None)

    def take(self, settling: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
        """The marks to write in the writer's next transaction; `settling`: deliveries whose
        outcomes that transaction records (room for as many new marks)."""
        self.top_up(len(self.open & settling) if settling else 0)
        taken, self.asked = self.asked, []
        return taken

    def committed(self, written: list[int], marked: set[int], settled: Iterable[int]) -> None:
        """A transaction committed: `written` were tried and `marked` of them are marked
        (the others are no longer `sending` in this attempt); `settled` got their outcome."""
        for i in written:
            if i in marked:
                self.marked.add(i)
                if i not in self.reported:
                    self.ready.add(i)
                self._answer(i, True)
            else:
                self.open.discard(i)
                self._answer(i, False)
        for i in settled:
            self.open.discard(i)
        self.top_up()

    def close(self) -> None:
        """Stop: every waiting begin() answers False and nothing more is marked."""
        self.closed = True
        for i in list(self.waiters):
            self._answer(i, False)

    def top_up(self, room: int = 0) -> None:
        """Ask for marks, next first, while fewer than cap (+ room) are open."""
        asked = False
        while not self.closed and len(self.open) < self.cap + room:
            i = self._next()
            if i is None:
                break
            self.open.add(i)
            self.asked.append(i)
            asked = True
        if asked:
            self.wake()

    def _next(self) -> int | None:
        i = self._peek()
        if i is not None:
            (self.first if self.first else self.order).popleft()
        return i

    def _peek(self) -> int | None:
        """The next delivery to mark (dropping from the queues' fronts those that need none)."""
        for queue in (self.first, self.order):
            while queue:
                i = queue[0]
                if i not in self.open and i not in self.reported and i not in self.marked:
                    return i
                queue.popleft()
        return None

    def _answer(self, delivery_id: int, yes: bool) -> None:
        waiter = self.waiters.pop(delivery_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(yes)
