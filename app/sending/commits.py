"""The outcome writer's connection (app/sending/flush.py): one database connection for a whole
flush, a transaction per group commit, its COMMIT on the event loop's thread while the disk is
quick and in a thread when it is not.

Why: the start marks (app/sending/starts.py) keep at most twice a sender's in-flight limit in
doubt, so a fast fan-out commits every few messages — about 250 commits per 1,000 texts at
four requests in flight. Building a Session for each cost more than its statements, and handing
each COMMIT to a thread cost more than the fsync it waited for on a disk that syncs in a
fraction of a millisecond: the thread waits for the GIL of a busy loop (up to the interpreter's
switch interval) before and after, and the senders wait for their marks meanwhile. On a disk
whose COMMIT takes longer than SLOW_COMMIT_S, the loop would stop that long for each: there the
COMMIT goes to a thread, and one commit in PROBE_EVERY still runs on the loop's thread to
notice when the disk has become quick again (a commit measured in a thread also counts the
wait for the GIL, so it is not used).

Runs on the flush's event loop; the connection is used by one thread at a time (a commit in a
thread is awaited before the next transaction begins)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from sqlalchemy import Connection, Engine

SLOW_COMMIT_S = 0.002   # a COMMIT slower than this (on average) leaves the loop's thread
PROBE_EVERY = 32        # while in a thread, every 32nd commit is measured on the loop's thread
WEIGHT = 0.25           # of the newest measurement in the running average

log = logging.getLogger(__name__)


class WriterConnection:
    """One flush's outcome writer: begin() → statements → await commit() (or rollback())."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None
        self.commit_s: float | None = None   # running average of COMMITs on the loop's thread
        self.commits = 0
        self.in_thread = 0                   # how many went to a thread
        self._lock = threading.Lock()
        self._busy = False                   # a COMMIT runs in a thread
        self._close_wanted = False

    def begin(self) -> Connection:
        """The connection, in a new transaction (BEGIN IMMEDIATE: the engine's begin event)."""
        if self.conn is None:
            self.conn = self.engine.connect()
        self.conn.begin()
        return self.conn

    def rollback(self) -> None:
        if self.conn is not None and self.conn.in_transaction():
            self.conn.rollback()

    def _discard(self) -> None:
        """After a failed COMMIT: whatever state SQLite and SQLAlchemy were left in, the
        connection goes (closing it ends its transaction, so its write lock is released and
        nothing of it is kept); the next begin() opens another."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        for step in (conn.invalidate, conn.close):   # close even if invalidate failed
            try:
                step()
            except Exception:  # noqa: BLE001 - it is being thrown away
                log.exception("closing the outcome writer's connection failed")

    @property
    def slow(self) -> bool:
        return self.commit_s is not None and self.commit_s > SLOW_COMMIT_S

    async def commit(self) -> None:
        self.commits += 1
        if not self.slow or self.commits % PROBE_EVERY == 0:
            self._commit(measure=True)
            return
        self.in_thread += 1
        with self._lock:
            self._busy = True
        await asyncio.to_thread(self._commit_in_thread)

    def _commit(self, measure: bool = False) -> None:
        assert self.conn is not None
        start = time.perf_counter()
        try:
            self.conn.commit()
        except BaseException:
            self._discard()
            raise
        if measure:
            took = time.perf_counter() - start
            self.commit_s = took if self.commit_s is None else \
                (1 - WEIGHT) * self.commit_s + WEIGHT * took

    def _commit_in_thread(self) -> None:
        try:
            self._commit()
        finally:
            with self._lock:
                self._busy = False
                if self._close_wanted:
                    self._close()

    def close(self) -> None:
        """At the flush's end. A COMMIT still running in a thread (the flush was cancelled
        while it waited for it) closes the connection when it is done."""
        with self._lock:
            if self._busy:
                self._close_wanted = True
            else:
                self._close()

    def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()   # rolls back what was not committed
