"""The outcome writer's connection (app/sending/commits.py): one connection per flush, its COMMIT
on the loop's thread while the disk is quick, in a thread once it is slow (and measured on the
loop's thread now and then), a connection closed only after a COMMIT still running in a thread,
and a failed COMMIT that leaves nothing half-written."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import event, text

from app.sending import commits
from app.sending.commits import WriterConnection
from app.storage import Store

INSERT = text("INSERT INTO scratch (name) VALUES (:name)")


def names(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT name FROM scratch ORDER BY rowid"))]


@pytest.fixture()
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = Store.open(tmp_path / "w.db")   # the engine's WAL, FULL sync, BEGIN IMMEDIATE
    with s.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (name TEXT NOT NULL)"))
    yield s
    s.dispose()


def committing_threads(store: Store) -> list[int]:
    seen: list[int] = []
    event.listen(store.engine, "commit", lambda conn: seen.append(threading.get_ident()))
    return seen


async def write(w: WriterConnection, name: str) -> None:
    w.begin().execute(INSERT, {"name": name})
    await w.commit()


def test_a_quick_commit_stays_on_the_loop_a_slow_disk_sends_it_to_a_thread(store, monkeypatch):
    monkeypatch.setattr(commits, "SLOW_COMMIT_S", 0.1)   # quick: under 100 ms (any disk here)
    seen = committing_threads(store)
    w = WriterConnection(store.engine)

    async def main() -> None:
        loop_thread = threading.get_ident()
        await write(w, "A")
        assert seen == [loop_thread] and w.commit_s is not None and w.in_thread == 0
        assert not w.slow
        w.commit_s = 1.0                         # as if each COMMIT had waited a second
        await write(w, "B")
        assert seen[-1] != loop_thread and w.in_thread == 1
        while w.commits % commits.PROBE_EVERY != commits.PROBE_EVERY - 1:
            await write(w, "C")
        before = w.commit_s
        await write(w, "D")                       # the probe: measured on the loop's thread
        assert seen[-1] == loop_thread and w.commit_s < before
        assert w.in_thread == commits.PROBE_EVERY - 2
        w.close()

    asyncio.run(main())
    got = names(store)
    assert got[-2:] == ["C", "D"] and "A" in got and "B" in got
    assert w.conn is None


def test_the_connection_is_closed_after_a_commit_still_running_in_a_thread(store):
    entered, release = threading.Event(), threading.Event()
    w = WriterConnection(store.engine)
    w.commit_s = 1.0

    def slow_disk(conn):  # type: ignore[no-untyped-def]
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            assert release.wait(10)

    event.listen(store.engine, "commit", slow_disk)

    async def main() -> None:
        task = asyncio.ensure_future(write(w, "late"))
        assert await asyncio.to_thread(entered.wait, 10)
        task.cancel()                 # the flush stops; the COMMIT goes on in its thread
        w.close()
        assert w.conn is not None     # not closed under the running COMMIT
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())      # asyncio.run waits for the executor's threads at its end
    assert w.conn is None
    assert "late" in names(store)


def test_a_failed_commit_writes_nothing_and_the_next_transaction_works(store):
    w = WriterConnection(store.engine)
    fail = [True]

    def refuse(conn):  # type: ignore[no-untyped-def]
        if fail.pop() if fail else False:
            raise OSError("disk full")

    event.listen(store.engine, "commit", refuse)

    async def main() -> None:
        with pytest.raises(OSError, match="disk full"):
            await write(w, "lost")
        await write(w, "kept")
        w.close()

    asyncio.run(main())
    got = names(store)
    assert "kept" in got and "lost" not in got


def test_rollback_without_a_connection_does_nothing_and_a_failed_close_is_logged(store, caplog):
    w = WriterConnection(store.engine)
    w.rollback()                      # nothing begun yet (or thrown away): no connection to use
    assert w.conn is None
    conn = w.begin()
    conn.execute(INSERT, {"name": "A"})

    def broken() -> None:
        raise RuntimeError("the socket is gone")

    conn.invalidate = broken          # type: ignore[method-assign]
    with caplog.at_level("ERROR", logger="app.sending.commits"):
        w._discard()
    assert w.conn is None             # thrown away all the same
    assert [r.getMessage() for r in caplog.records] == [
        "closing the outcome writer's connection failed"]
    w.rollback()
    assert names(store) == []         # nothing of the discarded transaction was kept


def test_close_at_the_end_closes_at_once_and_drops_what_was_not_committed(store):
    w = WriterConnection(store.engine)

    async def main() -> None:
        await write(w, "kept")                 # on the loop's thread: nothing runs in a thread
        conn = w.begin()
        conn.execute(INSERT, {"name": "dropped"})
        w.close()
        assert w.conn is None and conn.closed

    asyncio.run(main())
    assert names(store) == ["kept"]


def test_a_commit_in_a_thread_keeps_the_connection_for_the_next_transaction(store):
    w = WriterConnection(store.engine)
    w.commit_s = 1.0                           # a slow disk: the COMMIT goes to a thread

    async def main() -> None:
        first = w.begin()
        first.execute(INSERT, {"name": "A"})
        await w.commit()
        assert w.in_thread == 1
        assert w.begin() is first              # one connection for the whole flush
        w.rollback()
        w.close()

    asyncio.run(main())
    assert names(store) == ["A"]


def test_the_commit_time_is_a_running_average_weighted_a_quarter_to_the_newest(store,
                                                                              monkeypatch):
    ticks = iter([10.0, 10.004, 20.0, 20.008, 30.0, 30.0])   # COMMITs of 4 ms, 8 ms, 0 ms

    monkeypatch.setattr(commits, "time", type("Clock", (), {
        "perf_counter": staticmethod(lambda: next(ticks))}))
    monkeypatch.setattr(commits, "SLOW_COMMIT_S", 0.1)   # all of them stay on the loop
    w = WriterConnection(store.engine)

    async def main() -> None:
        await write(w, "A")
        assert w.commit_s == pytest.approx(0.004)
        await write(w, "B")
        assert w.commit_s == pytest.approx(0.75 * 0.004 + 0.25 * 0.008)
        await write(w, "C")
        assert w.commit_s == pytest.approx(0.75 * 0.005)
        w.close()

    asyncio.run(main())
