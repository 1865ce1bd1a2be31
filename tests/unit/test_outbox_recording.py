"""How the outbox records what a send did: one statement per batch, only over the attempt this
flush claimed, the commit off the event loop's thread, and an interrupted commit neither lost
nor recorded twice. (test_outbox.py covers the states, the timeline's words and the scheduler.)"""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import event, update

from app.channels.base import SENT, SendOutcome
from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery
from app.outbox_flush import Flush
from test_outbox import (
    FakeSender, add_account, add_message, make_outbox, people, row, states, timeline,
)


@pytest.fixture
def incident(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Mail outage", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


@pytest.fixture
def email_account(store, frozen_clock):
    return add_account(store, frozen_clock, "email", "Relay")


class Listen:
    """An engine event listener for the duration of a `with` block."""

    def __init__(self, engine, name, fn, **kw):
        self.engine, self.name, self.fn, self.kw = engine, name, fn, kw

    def __enter__(self):
        event.listen(self.engine, self.name, self.fn, **self.kw)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, self.name, self.fn)


def test_a_batch_of_outcomes_is_a_handful_of_statements_not_one_per_delivery(
        store, frozen_clock, incident, email_account):
    add_message(store, frozen_clock, incident.id, people(200))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())},
                         batch_size=200, commit_every=50)
    executed = []

    def count(conn, cursor, statement, parameters, context, executemany):
        executed.append((statement.split()[0].upper(), executemany))

    with Listen(store.engine, "before_cursor_execute", count):
        report = asyncio.run(outbox.flush())
    assert report.sent == 200
    assert not any(many for _, many in executed), "no executemany: one step per row"
    writes = [verb for verb, _ in executed if verb in ("UPDATE", "INSERT")]
    # the claim (+ the write-lock probe of each of the 4 outcome batches), one UPDATE and one
    # timeline INSERT per batch
    assert len(writes) <= 1 + 4 * 3
    assert len(executed) <= 40


def test_outcome_commits_run_off_the_event_loop_thread(store, frozen_clock, incident,
                                                       email_account):
    add_message(store, frozen_clock, incident.id, people(100))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())},
                         batch_size=200, commit_every=50)
    threads = []
    with Listen(store.engine, "commit", lambda conn: threads.append(threading.get_ident())):
        async def main():
            loop_thread = threading.get_ident()
            await outbox.flush()
            return loop_thread

        loop_thread = asyncio.run(main())
    on_loop = [t for t in threads if t == loop_thread]
    assert len(on_loop) == 1                 # the claim, committed before any send
    assert len(threads) - len(on_loop) == 2  # two batches of outcomes, each in a thread
    assert set(states(store).values()) == {"sent"}


def test_a_late_outcome_never_overwrites_a_newer_attempt(store, frozen_clock, incident,
                                                         email_account):
    """Another process recovered the delivery and claimed it again (attempt 2) while this
    flush's attempt 1 was still out: attempt 1's answer must not settle attempt 2."""
    ids = add_message(store, frozen_clock, incident.id, people(3))
    taken = ids[1]

    class TakenOver(FakeSender):
        async def send(self, messages, on_outcome):
            with store.session() as s, s.begin():
                s.execute(update(Delivery).where(Delivery.id == taken)
                          .values(attempts=Delivery.attempts + 1))
            await super().send(messages, on_outcome)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, TakenOver())})
    report = asyncio.run(outbox.flush())
    assert report.sent == 2
    d = row(store, taken)
    assert d.state == DeliveryState.SENDING and d.attempts == 2 and d.sent_at is None
    recorded = [i for e in timeline(store, incident.id) for i in [e.data.get("delivery_id")]]
    assert taken not in recorded and set(recorded) == {ids[0], ids[2]}


def test_cancelled_while_a_batch_commits_in_its_thread(store, frozen_clock, incident,
                                                       email_account, monkeypatch):
    """The flush is cancelled while a batch's COMMIT is still running in its thread: that
    batch stays recorded once (not again as part of the interrupted rest), and what never got
    an answer becomes unknown."""
    ids = add_message(store, frozen_clock, incident.id, people(4))
    committing, release = threading.Event(), threading.Event()

    class TwoThenHang(FakeSender):
        async def send(self, messages, on_outcome):
            for m in messages[:2]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
            await asyncio.Event().wait()

    loop_thread = []

    def hold_outcome_commit(conn):
        if threading.get_ident() != loop_thread[0] and not committing.is_set():
            committing.set()
            assert release.wait(10), "the test never released the commit"

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, TwoThenHang())},
                         commit_every=2)
    record_interrupted = Flush.record_interrupted

    def record_while_the_commit_is_held(self, batch, infos):
        # the interrupted flush records what it knows in a transaction of its own, which
        # waits for the held commit (as for a slow disk): let that commit finish now
        assert not release.is_set()
        release.set()
        return record_interrupted(self, batch, infos)

    monkeypatch.setattr(Flush, "record_interrupted", record_while_the_commit_is_held)

    async def main():
        loop_thread.append(threading.get_ident())
        task = asyncio.create_task(outbox.flush())
        await asyncio.get_running_loop().run_in_executor(None, committing.wait, 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    with Listen(store.engine, "commit", hold_outcome_commit):
        assert asyncio.run(main())
    release.set()
    got = states(store)
    assert [got[i] for i in ids] == ["sent", "sent", "unknown", "unknown"]
    entries = timeline(store, incident.id)
    sent_entries = [e for e in entries if e.data.get("state") == "sent"]
    assert sorted(e.data["delivery_id"] for e in sent_entries) == ids[:2]  # each once
