"""How the outbox records what a send did: one statement per batch, only over the attempt this
flush claimed, the commit off the event loop's thread, and an interrupted commit neither lost
nor recorded twice. (test_outbox.py covers the states, the timeline's words and the scheduler.)"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from app.sending.channels.base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, AccountDTO,
                                       SendOutcome)
from app.domain.enums import DeliveryState, Severity
from app.domain.models import ChannelAccount, Delivery
from app.events import OUTBOX_CHANGED, EventBus
from app.sending import commits
from app.sending.flush import Flush
from app.sending.outbox import Outbox
from app.sending.rows import write_outcomes
from test_outbox import (
    FakeSender, add_account, add_message, make_outbox, people, row, states, timeline,
)
from tests.outbox_support import begun


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
    executed, commits = [], []

    def count(conn, cursor, statement, parameters, context, executemany):
        executed.append((statement.split()[0].upper(), executemany))

    with Listen(store.engine, "before_cursor_execute", count), \
            Listen(store.engine, "commit", lambda conn: commits.append(1)):
        report = asyncio.run(outbox.flush())
    assert report.sent == 200
    assert not any(many for _, many in executed), "no executemany: one step per row"
    writes = [verb for verb, _ in executed if verb in ("UPDATE", "INSERT")]
    # the claim and its 2 statements storing the wire content (100 rows each); then per
    # commit the write-lock probe, one UPDATE of outcomes and one of start marks; per 50
    # sends told, one timeline INSERT, one INSERT of their hash chain links and one UPDATE
    # (4 of them)
    assert len(writes) <= 1 + 2 + 3 * (len(commits) - 1) + 4 * 3, (len(writes), len(commits))
    # (+ per commit its BEGIN, the lease check and the stale-outcome check; the claim's
    # reads and the look for a next round)
    assert len(executed) <= 12 + 6 * len(commits), (len(executed), len(commits))
    assert len(commits) <= 200 / FakeSender.in_flight + 2     # grouped, not one per send
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)
                        .where(Delivery.wire.is_not(None))) == 200


@pytest.mark.parametrize("slow_disk", [False, True])
def test_outcome_commits_leave_the_event_loop_thread_only_on_a_slow_disk(
        store, frozen_clock, incident, email_account, monkeypatch, slow_disk):
    """A COMMIT that syncs quickly runs on the loop's thread (a thread's round trip for the
    GIL cost more than the fsync); on a disk measured slow, the outcome writer's COMMITs go
    to a thread (app/sending/commits.py)."""
    # the disk's real speed varies (a CI disk syncs in 0.3 ms or, at times, in 5): the
    # threshold decides which this test sees — every COMMIT slow, or none
    monkeypatch.setattr(commits, "SLOW_COMMIT_S", 0.0 if slow_disk else 60.0)
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
    assert len(threads) >= 4                  # the claim, then outcomes and marks in groups
    if slow_disk:
        # the claim, and the writer's first COMMIT (measured there: it finds the disk slow)
        assert len(on_loop) == 2
    else:
        assert len(on_loop) == len(threads)
    assert set(states(store).values()) == {"sent"}


def test_a_late_outcome_never_overwrites_a_newer_attempt(store, frozen_clock, incident,
                                                         email_account):
    """Another process recovered the delivery and claimed it again (attempt 2) while this
    flush's attempt 1 was still out: attempt 1's answer must not settle attempt 2."""
    ids = add_message(store, frozen_clock, incident.id, people(3))
    taken = ids[1]

    class TakenOver(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            with store.session() as s, s.begin():
                s.execute(update(Delivery).where(Delivery.id == taken)
                          .values(attempts=Delivery.attempts + 1))
            await super().send(messages, on_outcome, begin)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, TakenOver())})
    report = asyncio.run(outbox.flush())
    assert report.sent == 2
    d = row(store, taken)
    assert d.state == DeliveryState.SENDING and d.attempts == 2 and d.sent_at is None
    recorded = [i for e in timeline(store, incident.id) for i in [e.data.get("delivery_id")]]
    assert taken not in recorded and set(recorded) == {ids[0], ids[2]}


def test_an_outcome_reported_twice_is_recorded_once(store, frozen_clock, incident,
                                                    email_account, caplog):
    """A channel that reports a delivery twice (here: "sent", then a contradicting "failed",
    both before the batch is recorded): the first answer counts; state, attempts, the report
    and the timeline have it once, and the repeat is logged as ignored."""
    ids = add_message(store, frozen_clock, incident.id, people(3))

    class Twice(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.calls.append([m.delivery_id for m in messages])
            for m in messages:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
                on_outcome(SendOutcome(m.delivery_id, PERMANENT, "550 said twice"))

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, Twice())},
                         commit_every=50)
    report = asyncio.run(outbox.flush())
    assert (report.claimed, report.sent, report.failed) == (3, 3, 0)
    for i in ids:
        d = row(store, i)
        assert (d.state, d.attempts, d.provider_id, d.last_error) == (
            DeliveryState.SENT, 1, f"p-{i}", "")
    entries = timeline(store, incident.id)
    assert sorted(e.data["delivery_id"] for e in entries) == ids     # one entry each
    assert {e.kind for e in entries} == {"delivery_sent"}
    assert sorted(r.getMessage() for r in caplog.records
                  if "ignored an outcome" in r.getMessage()) == sorted(
        f"ignored an outcome for delivery {i} (not in this flush, or repeated)" for i in ids)


def test_an_outcome_for_a_delivery_this_flush_did_not_claim_is_ignored(
        store, frozen_clock, incident, email_account):
    """A channel answering for a delivery it was not given (one still waiting its turn):
    nothing changes for that delivery, and the flush records the others normally."""
    ids = add_message(store, frozen_clock, incident.id, people(3))
    waiting = ids[2]

    class Stray(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            on_outcome(SendOutcome(waiting, SENT, provider_id="p-stray"))
            await super().send(messages, on_outcome, begin)

    fake = Stray()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    report = asyncio.run(outbox.flush(limit=2))
    assert fake.sent_ids == ids[:2] and (report.claimed, report.sent) == (2, 2)
    d = row(store, waiting)
    assert (d.state, d.attempts, d.provider_id, d.sent_at) == (DeliveryState.QUEUED, 0, "", None)
    assert waiting not in {e.data["delivery_id"] for e in timeline(store, incident.id)}


def test_outcomes_are_written_only_over_the_attempt_that_was_claimed(store, frozen_clock,
                                                                     incident):
    """The SQL under every recorded outcome (app/sending/rows.py): write_outcomes() changes
    a row only while it is still `sending` in the attempt the flush claimed — never one
    already recorded, recovered as unknown, or claimed again since (a newer attempt) — and
    names the rows it changed (only those are told in the timeline)."""
    ids = add_message(store, frozen_clock, incident.id, people(4))
    mine, claimed_again, recorded, recovered = ids
    with store.session() as s, s.begin():
        for i, state, attempts in ((mine, DeliveryState.SENDING, 1),
                                   (claimed_again, DeliveryState.SENDING, 2),
                                   (recorded, DeliveryState.SENT, 1),
                                   (recovered, DeliveryState.UNKNOWN, 1)):
            s.execute(update(Delivery).where(Delivery.id == i)
                      .values(state=state, attempts=attempts))
    claimed = {i: 1 for i in ids}                       # what this flush claimed: attempt 1
    now = frozen_clock.now()
    outcome = {"state": DeliveryState.FAILED, "attempts": 1, "next_attempt_at": None,
               "last_error": "550 late answer", "provider_id": "", "sent_at": None}
    with store.session() as s, s.begin():
        conn = s.connection()
        assert write_outcomes(conn, [{"id": i, **outcome} for i in ids], claimed, now) == {mine}
    got = {i: (row(store, i).state, row(store, i).attempts) for i in ids}
    assert got == {mine: (DeliveryState.FAILED, 1),
                   claimed_again: (DeliveryState.SENDING, 2),
                   recorded: (DeliveryState.SENT, 1),
                   recovered: (DeliveryState.UNKNOWN, 1)}
    assert row(store, recorded).last_error == "" and row(store, mine).last_error == \
        "550 late answer"


def test_cancelled_while_a_batch_commits_in_its_thread(store, frozen_clock, incident,
                                                       email_account, monkeypatch):
    """The flush is cancelled while a batch's COMMIT is still running in its thread: that
    batch stays recorded once (not again as part of the interrupted rest), and what never got
    an answer becomes unknown."""
    ids = add_message(store, frozen_clock, incident.id, people(4))
    committing, release = threading.Event(), threading.Event()

    answered = threading.Event()

    class TwoThenHang(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:   # all four go out; two answers come back
                assert await begun(begin, m)
            for m in messages[:2]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
            answered.set()
            await asyncio.Event().wait()

    loop_thread = []

    def hold_outcome_commit(conn):   # the commit of the two outcomes (not of the marks)
        if threading.get_ident() != loop_thread[0] and answered.is_set() and \
                not committing.is_set():
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


# ---------------------------------------------------------------- the next round, claimed early

def test_the_next_round_is_claimed_while_this_one_finishes_and_committed_before_it_is_sent(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(12))
    fake = FakeSender(store)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, batch_size=4,
                         commit_every=2)
    report = asyncio.run(outbox.flush())
    assert report.claimed == 12 and report.sent == 12
    assert fake.calls == [ids[0:4], ids[4:8], ids[8:12]]   # each round once, in order
    assert fake.states_at_send == [{"sending"}] * 3        # claimed and committed before
    assert set(states(store).values()) == {"sent"}


class RefusedAtTheEnd(FakeSender):
    """Sends three of its round, then — once round 2 is claimed (`round_2_claimed`, an
    asyncio.Event the test sets) — is refused for the fourth."""

    async def send(self, messages, on_outcome, begin=None):
        self.calls.append([m.delivery_id for m in messages])
        for m in messages[:3]:
            on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
        await self.round_2_claimed.wait()
        on_outcome(SendOutcome(messages[3].delivery_id, AUTH_FAILED,
                               "535 5.7.8 bad credentials"))


def test_a_round_claimed_early_for_an_account_refused_meanwhile_goes_back_unsent(
        store, frozen_clock, incident, email_account):
    """The account is refused at the end of round 1, after round 2 was claimed for it (and
    before anything was recorded: commit_every is large): round 2 is never handed to the
    sender and goes back to the queue with no attempt counted."""
    ids = add_message(store, frozen_clock, incident.id, people(8))
    bus = EventBus()

    fake = RefusedAtTheEnd()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         batch_size=4)

    async def main():
        fake.round_2_claimed = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED,
                      lambda changed: changed and set(changed) == set(ids[4:])
                      and fake.round_2_claimed.set())
        return await asyncio.wait_for(outbox.flush(), 10)

    report = asyncio.run(main())
    assert fake.calls == [ids[:4]]
    assert report.claimed == 8 and report.sent == 3 and report.paused_accounts == ("Relay",)
    got = states(store)
    assert [got[i] for i in ids] == ["sent"] * 3 + ["queued"] * 5
    for i in ids[4:]:
        d = row(store, i)
        assert d.attempts == 0 and d.next_attempt_at == frozen_clock.now()
        assert "refused" in d.last_error
    recorded = {e.data.get("delivery_id") for e in timeline(store, incident.id)}
    assert recorded.isdisjoint(ids[4:])   # nothing happened to those recipients
    assert asyncio.run(outbox.flush()).claimed == 0  # the account is paused


def test_cancelled_with_a_round_claimed_but_not_yet_sent(store, frozen_clock, incident,
                                                         email_account):
    """What was claimed but never handed to a sender goes back to the queue (it did not go
    out) as it was before the claim — its earlier attempts, no provider id; only what a sender
    had without an answer becomes unknown."""
    ids = add_message(store, frozen_clock, incident.id, people(8))
    with store.session() as s, s.begin():   # round 2 had been tried twice before
        s.execute(update(Delivery).where(Delivery.id.in_(ids[4:]))
                  .values(attempts=2, provider_id="old-id"))
    bus = EventBus()

    class ThreeThenHang(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.calls.append([m.delivery_id for m in messages])
            for m in messages:   # all four go out; three answers come back
                assert await begun(begin, m)
            for m in messages[:3]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
            await asyncio.Event().wait()

    fake = ThreeThenHang()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         batch_size=4)

    async def main():
        second_claim = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED,
                      lambda changed: changed and set(changed) == set(ids[4:])
                      and second_claim.set())
        task = asyncio.create_task(outbox.flush())
        await asyncio.wait_for(second_claim.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert fake.calls == [ids[:4]]
    got = states(store)
    assert [got[i] for i in ids] == ["sent"] * 3 + ["unknown"] + ["queued"] * 4
    assert [(row(store, i).attempts, row(store, i).provider_id) for i in ids[4:]] == \
        [(2, "")] * 4
    assert row(store, ids[4]).last_error == "not sent: sending stopped before its turn"
    assert row(store, ids[3]).last_error == "sending was stopped before the server answered"


def test_a_writer_that_fails_stops_the_flush_before_the_next_round(store, frozen_clock, incident,
                                                                   email_account, monkeypatch,
                                                                   caplog):
    """Outcomes that cannot be recorded must not pile up behind more rounds: the flush stops,
    records what it knows in one last transaction, and puts the round claimed early back. A
    failure that is not the database refusing writes (a bug) is not reported as one."""
    ids = add_message(store, frozen_clock, incident.id, people(12))
    stage, calls = Flush.stage, []

    def fail_first(self, s, batch, infos, final=False):
        if batch:    # the first outcomes (start marks before them were written)
            calls.append(len(batch))
            if len(calls) == 1:
                raise RuntimeError("disk I/O error")
        return stage(self, s, batch, infos, final)

    monkeypatch.setattr(Flush, "stage", fail_first)
    fake = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, batch_size=4,
                         commit_every=2)
    with pytest.raises(RuntimeError, match="disk I/O error"), \
            caplog.at_level("WARNING", logger="app.sending.outbox"):
        asyncio.run(outbox.flush())
    assert not [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert fake.calls == [ids[:4]]
    got = states(store)
    # the answers recorded on the way out; the sender stopped at its next start: the rest
    # of its round never went out and is back in the queue, not an attempt
    assert [got[i] for i in ids[:2]] == ["sent"] * 2
    assert {got[i] for i in ids[2:4]} <= {"sent", "queued"}
    assert all(row(store, i).attempts == 0 for i in ids[2:4] if got[i] == "queued")
    assert [got[i] for i in ids[4:8]] == ["queued"] * 4        # claimed early, never sent
    assert all(row(store, i).attempts == 0 for i in ids[4:])
    assert "sending" not in got.values()


def test_a_round_claimed_early_keeps_the_deliveries_of_the_accounts_still_working(
        store, frozen_clock, incident, email_account):
    """Round 2 was claimed for two accounts; the email account is refused before it is handed
    over: its part goes back to the queue, the SMS part is sent."""
    sms_account = add_account(store, frozen_clock, "sms", "Texts")
    mails = add_message(store, frozen_clock, incident.id, people(8))
    texts = add_message(store, frozen_clock, incident.id,
                        [(f"P{i}", f"+1555010{i:04d}") for i in range(8)], channel="sms")
    bus = EventBus()

    mail, text = RefusedAtTheEnd(), FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, mail),
                                               "sms": (sms_account, text)},
                         events=bus, batch_size=8)
    later = set(mails[4:] + texts[4:])

    async def main():
        mail.round_2_claimed = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED, lambda changed: changed and set(changed) == later
                      and mail.round_2_claimed.set())
        return await asyncio.wait_for(outbox.flush(), 10)

    report = asyncio.run(main())
    assert mail.calls == [mails[:4]]
    assert text.calls == [texts[:4], texts[4:]]
    assert report.sent == 3 + 8 and report.paused_accounts == ("Relay",)
    got = states(store)
    assert [got[i] for i in texts] == ["sent"] * 8
    assert [got[i] for i in mails] == ["sent"] * 3 + ["queued"] * 5
    assert row(store, mails[5]).last_error == ("not sent: the account was refused meanwhile "
                                               "and its queue is paused")


def test_outcomes_reported_from_a_senders_own_thread_are_recorded(store, frozen_clock,
                                                                  incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(5))

    class Threaded(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            def report():
                for m in messages:
                    on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="t"))
            await asyncio.to_thread(report)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, Threaded())})
    report = asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert report.sent == 5
    assert set(states(store, ids).values()) == {"sent"}


def test_a_full_batch_of_outcomes_is_recorded_at_once_without_waiting_for_more(
        store, frozen_clock, incident, email_account):
    """commit_every outcomes in: they are written then, while the sender is still busy with
    the rest (a crash now loses none of them)."""
    ids = add_message(store, frozen_clock, incident.id, people(5))
    bus = EventBus()

    class TwoThenWait(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages[:2]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="x"))
            await asyncio.wait_for(self.recorded.wait(), 5)   # fails the flush if never
            for m in messages[2:]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="x"))

    fake = TwoThenWait()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         commit_every=2)

    async def main():
        fake.recorded = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED, lambda changed: changed and set(changed) == set(ids[:2])
                      and fake.recorded.set())
        return await asyncio.wait_for(outbox.flush(), 10)

    assert asyncio.run(main()).sent == 5


def test_what_each_outcome_leaves_in_the_row_and_the_timeline(store, frozen_clock, incident,
                                                               email_account):
    ids = add_message(store, frozen_clock, incident.id, people(4))
    plan = {ids[0]: SendOutcome(ids[0], SENT),                       # no provider id given
            ids[1]: SendOutcome(ids[1], TRANSIENT, "451 later", retry_after=120.0),
            ids[2]: SendOutcome(ids[2], "exploded"),                 # not an outcome at all
            ids[3]: SendOutcome(ids[3], PERMANENT, "  550 " + "x" * 3000 + "  ")}

    class Planned(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:
                on_outcome(plan[m.delivery_id])

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, Planned())})
    report = asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    # the odd answer is counted where its row went: unknown
    assert (report.sent, report.retry_wait, report.unknown, report.failed) == (1, 1, 1, 1)
    now = frozen_clock.now()
    sent, waiting, odd, failed = (row(store, i) for i in ids)
    assert (sent.state, sent.provider_id) == (DeliveryState.SENT, "")
    assert waiting.state == DeliveryState.RETRY_WAIT
    assert (odd.state, odd.last_error) == (DeliveryState.UNKNOWN,
                                           "unexpected outcome 'exploded'")
    assert failed.last_error == ("550 " + "x" * 3000)[:2000] and len(failed.last_error) == 2000
    data = {e.data["delivery_id"]: e.data for e in timeline(store, incident.id)}
    assert {d["message_id"] for d in data.values()} == {row(store, ids[0]).message_id}
    assert data[ids[0]]["attempt"] == 1 and data[ids[0]]["provider_id"] == ""
    assert data[ids[1]]["attempt"] == 1
    assert data[ids[1]]["next_attempt_at"] == waiting.next_attempt_at.isoformat()
    assert waiting.next_attempt_at == now + timedelta(seconds=data[ids[1]]["retry_in_s"])
    assert data[ids[1]]["retry_in_s"] >= 120.0


def test_a_refused_account_is_paused_with_the_servers_words_once_and_its_delivery_waits(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(2))
    with store.session() as s, s.begin():   # tried twice before
        s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(attempts=2))
    frozen_clock.advance(minutes=5)

    class Refused(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            on_outcome(SendOutcome(messages[0].delivery_id, AUTH_FAILED, ""))   # no words
            with store.session() as s, s.begin():   # meanwhile, another desk paused it
                s.get(ChannelAccount, email_account.id).paused_reason = "paused by hand"
            on_outcome(SendOutcome(messages[1].delivery_id, AUTH_FAILED, "535 again"))

    report = asyncio.run(make_outbox(store, frozen_clock,
                                     {"email": (email_account, Refused())}).flush())
    assert report.paused_accounts == ("Relay",)
    now = frozen_clock.now()
    for i in ids:   # nothing reached the recipient: not an attempt, due again at once
        d = row(store, i)
        assert (d.state, d.attempts, d.next_attempt_at) == (DeliveryState.QUEUED, 2, now)
    with store.session() as s:
        account = s.get(ChannelAccount, email_account.id)
        assert account.paused_reason == "paused by hand"    # the first reason stays
    data = [e.data for e in timeline(store, incident.id)]
    assert data and all(d["account"] == "Relay" and d["account_id"] == email_account.id
                        for d in data)


def test_the_first_refusal_pauses_with_a_reason_even_without_the_servers_words(
        store, frozen_clock, incident, email_account):
    add_message(store, frozen_clock, incident.id, people(1))
    frozen_clock.advance(minutes=5)
    asyncio.run(make_outbox(store, frozen_clock, {"email": (
        email_account, FakeSender(default=AUTH_FAILED))}).flush())
    with store.session() as s:
        account = s.get(ChannelAccount, email_account.id)
        assert (account.paused_reason, account.updated_at) == (
            "authentication refused", frozen_clock.now())


def test_a_retry_says_in_how_many_seconds_to_a_tenth(store, frozen_clock, incident,
                                                     email_account):
    [i] = add_message(store, frozen_clock, incident.id, people(1))
    asyncio.run(make_outbox(store, frozen_clock, {"email": (
        email_account, FakeSender(default=TRANSIENT))}).flush())
    waited = (row(store, i).next_attempt_at - frozen_clock.now()).total_seconds()
    [entry] = timeline(store, incident.id)
    assert entry.data["retry_in_s"] == round(waited, 1) != waited   # jitter has decimals


def test_an_embedded_account_with_no_row_is_not_named_by_id(store, frozen_clock, incident):
    drill = AccountDTO(id=0, kind="drill", name="Drill inbox")   # built in, no row
    add_message(store, frozen_clock, incident.id, people(2), is_drill=True)
    asyncio.run(make_outbox(store, frozen_clock, {("drill", "email"): (drill, FakeSender()),
                                                  "email": (drill, FakeSender())}).flush())
    entries = timeline(store, incident.id)
    assert entries and all("account_id" not in e.data for e in entries)
    assert all(e.summary.endswith("(drill)") for e in entries)


class Recording(FakeSender):
    """Keeps every message it was handed."""

    def __init__(self):
        super().__init__()
        self.handed = []

    async def send(self, messages, on_outcome, begin=None):
        self.handed.append(list(messages))
        await super().send(messages, on_outcome, begin)


def test_a_round_is_shared_between_accounts_and_the_room_left_goes_to_who_has_more(
        store, frozen_clock, incident, email_account):
    """Round of 12, three accounts with 1, 1 and 20 due: each gets its share (4) or what it
    has, then the 6 left go to the one with more — nothing claimed is left unsent."""
    slack = add_account(store, frozen_clock, "slack", "Chat")
    sms = add_account(store, frozen_clock, "sms", "Texts")
    [chat] = add_message(store, frozen_clock, incident.id, [("Ops", "#ops")], channel="slack")
    [text] = add_message(store, frozen_clock, incident.id, [("Ana", "+15550100001")],
                         channel="sms")
    frozen_clock.advance(seconds=1)     # the small queues are the oldest: served first
    mails = add_message(store, frozen_clock, incident.id, people(20))
    senders = {"email": Recording(), "slack": Recording(), "sms": Recording()}
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, senders["email"]),
                                               "slack": (slack, senders["slack"]),
                                               "sms": (sms, senders["sms"])},
                         batch_size=12)
    report = asyncio.run(asyncio.wait_for(outbox.flush(limit=12), 10))
    assert report.claimed == 12 == report.sent
    assert [[m.delivery_id for m in b] for b in senders["email"].handed] == [mails[:10]]
    assert [[m.delivery_id for m in b] for b in senders["slack"].handed] == [[chat]]
    assert [[m.delivery_id for m in b] for b in senders["sms"].handed] == [[text]]
    assert "sending" not in states(store).values()


def test_the_sender_is_handed_each_delivery_as_queued_oldest_due_first(store, frozen_clock,
                                                                        incident,
                                                                        email_account):
    first, second = add_message(store, frozen_clock, incident.id, people(2))
    now = frozen_clock.now()
    with store.session() as s, s.begin():   # the later id has waited longer
        s.execute(update(Delivery).where(Delivery.id == first).values(
            state=DeliveryState.RETRY_WAIT, attempts=1,
            next_attempt_at=now - timedelta(minutes=1), body_html="<p>Hi</p>"))
        s.execute(update(Delivery).where(Delivery.id == second).values(
            state=DeliveryState.RETRY_WAIT, attempts=3,
            next_attempt_at=now - timedelta(minutes=5)))
    sender = Recording()
    asyncio.run(make_outbox(store, frozen_clock,
                            {"email": (email_account, sender)}).flush())
    [batch] = sender.handed
    assert [m.delivery_id for m in batch] == [second, first]
    b, a = batch
    assert (a.channel, a.html, a.text, a.subject, a.attempts) == (
        "email", "<p>Hi</p>", "Hi", "Subject", 1)
    assert (b.channel, b.html, b.attempts, b.is_drill) == ("email", "", 3, False)
    assert a.email_message_id == row(store, first).email_message_id
    assert a.idempotency_key == row(store, first).idempotency_key


def test_a_long_crash_message_is_kept_to_500_characters(store, frozen_clock, incident,
                                                        email_account):
    [i] = add_message(store, frozen_clock, incident.id, people(1))

    class Crashing(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            assert await begun(begin, messages[0])   # it raises with the message out
            raise RuntimeError("x" * 1000)

    asyncio.run(make_outbox(store, frozen_clock, {"email": (email_account, Crashing())})
                .flush())
    error = row(store, i).last_error
    assert error == ("the channel stopped: " + "x" * 1000)[:500]


def test_recording_fits_a_sqlite_built_with_the_old_999_variable_limit(store, frozen_clock,
                                                                        incident,
                                                                        email_account):
    """SQLite before 3.32 takes at most 999 variables a statement (some system builds still
    do): outcomes go 100 rows a statement (800 variables), the check of what is still
    `sending` 100 pairs at a time."""
    import sqlite3
    ids = add_message(store, frozen_clock, incident.id, people(520))

    def limit(dbapi_connection, _record):
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    with Listen(store.engine, "connect", limit):
        store.engine.dispose()    # every connection from now on has the limit
        outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())},
                             batch_size=600, commit_every=600)
        report = asyncio.run(asyncio.wait_for(outbox.flush(), 30))
    store.engine.dispose()
    assert report.sent == 520
    assert set(states(store, ids).values()) == {"sent"}


def test_hundreds_of_outcomes_in_one_write_fit_the_old_999_variable_limit(store, frozen_clock,
                                                                          incident):
    """One transaction can record hundreds of outcomes (an interrupted send, a sender with no
    start marks): they are written 100 rows a statement, 8 variables each, under 999."""
    import sqlite3

    ids = add_message(store, frozen_clock, incident.id, people(260))
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(
            state=DeliveryState.SENDING, attempts=1))
    now = frozen_clock.now()
    rows = [{"id": i, "state": DeliveryState.SENT, "attempts": 1, "next_attempt_at": None,
             "last_error": "", "provider_id": f"p-{i}", "sent_at": now} for i in ids]
    with store.engine.begin() as conn:
        raw = conn.connection.driver_connection
        before = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        try:
            done = write_outcomes(conn, rows, {i: 1 for i in ids}, now)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    assert done == set(ids)
    assert set(states(store, ids).values()) == {"sent"}


def test_the_next_round_is_claimed_only_when_a_quarter_of_this_one_is_still_out(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(16))
    bus = EventBus()
    answered: list[int] = []
    answered_when_claimed: list[int] = []
    bus.subscribe(OUTBOX_CHANGED, lambda changed: changed and set(changed) == set(ids[8:])
                  and answered_when_claimed.append(len(answered)))

    class OneByOne(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:
                answered.append(m.delivery_id)
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="p"))
                await asyncio.sleep(0)   # a turn of the loop: the flush may claim now

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, OneByOne())},
                         events=bus, batch_size=8, commit_every=100)
    assert asyncio.run(asyncio.wait_for(outbox.flush(), 10)).sent == 16
    assert answered_when_claimed and answered_when_claimed[0] >= 6   # 2 of 8 still out


def test_a_message_queued_while_a_refused_round_is_dropped_still_goes_in_this_flush(
        store, frozen_clock, incident, email_account):
    """Round 2 was all for the email account, which was refused meanwhile: nothing of it is
    sent, but an SMS queued in the meantime is claimed and sent by the same flush."""
    sms = add_account(store, frozen_clock, "sms", "Texts")
    mails = add_message(store, frozen_clock, incident.id, people(8))
    bus = EventBus()
    text_sender = Recording()
    queued: list[int] = []

    class RefusedAfterAnSmsIsQueued(RefusedAtTheEnd):
        async def send(self, messages, on_outcome, begin=None):
            async def wait_then_queue():
                await self.claimed.wait()
                queued.extend(add_message(store, frozen_clock, incident.id,
                                          [("Ana", "+15550100001")], channel="sms"))
                self.round_2_claimed.set()
            self.round_2_claimed = asyncio.Event()
            task = asyncio.ensure_future(wait_then_queue())
            await super().send(messages, on_outcome, begin)
            await task

    mail = RefusedAfterAnSmsIsQueued()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, mail),
                                               "sms": (sms, text_sender)},
                         events=bus, batch_size=4)

    async def main():
        mail.claimed = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED, lambda changed: changed and set(changed) == set(mails[4:8])
                      and mail.claimed.set())
        return await asyncio.wait_for(outbox.flush(), 10)

    report = asyncio.run(main())
    assert mail.calls == [mails[:4]]
    assert [[m.delivery_id for m in b] for b in text_sender.handed] == [queued]
    assert report.sent == 3 + 1


def test_a_claim_that_fails_in_the_database_is_raised_as_it_is_and_leaves_nothing_sending(
        store, frozen_clock, incident, email_account):
    import sqlite3
    ids = add_message(store, frozen_clock, incident.id, people(3))

    def locked(conn, cursor, statement, *args):
        if statement.startswith("UPDATE deliveries SET state"):
            raise sqlite3.OperationalError("database is locked")

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())})
    with Listen(store.engine, "before_cursor_execute", locked):
        with pytest.raises(Exception, match="database is locked"):
            asyncio.run(outbox.flush())
    assert set(states(store, ids).values()) == {"queued"}


def test_a_claim_takes_the_longest_waiting_first_and_stamps_the_rows(store, frozen_clock,
                                                                     incident, email_account):
    a, b, c = add_message(store, frozen_clock, incident.id, people(3))
    now = frozen_clock.now()
    with store.session() as s, s.begin():   # c waited longest, then b; a is newest
        for i, minutes in ((a, 1), (b, 5), (c, 9)):
            s.execute(update(Delivery).where(Delivery.id == i).values(
                state=DeliveryState.RETRY_WAIT, next_attempt_at=now - timedelta(minutes=minutes)))
    frozen_clock.advance(seconds=30)
    stamped = []

    class Looking(Recording):
        async def send(self, messages, on_outcome, begin=None):
            with store.session() as s:   # as committed by the claim, before any outcome
                stamped.extend(s.scalars(select(Delivery.updated_at).where(
                    Delivery.id.in_([m.delivery_id for m in messages]))))
            await super().send(messages, on_outcome, begin)

    sender = Looking()
    asyncio.run(make_outbox(store, frozen_clock, {"email": (email_account, sender)})
                .flush(limit=2))
    assert [m.delivery_id for m in sender.handed[0]] == [c, b]
    assert row(store, a).state == DeliveryState.RETRY_WAIT
    assert row(store, c).account_id == email_account.id
    assert stamped == [frozen_clock.now()] * 2


def test_a_claim_clears_the_start_mark_a_previous_attempt_left(store, frozen_clock, incident,
                                                              email_account):
    """A retry claimed while its previous attempt's start mark is still set (that attempt not
    yet told): the new attempt has not started, so the claim clears the mark — a crash before
    it begins puts it back in the queue instead of calling it unknown."""
    [retry] = add_message(store, frozen_clock, incident.id, people(1))
    earlier = frozen_clock.now() - timedelta(minutes=2)
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == retry).values(
            state=DeliveryState.RETRY_WAIT, attempts=1, started_at=earlier,
            next_attempt_at=frozen_clock.now()))
    flush, claim = first_claim(store, frozen_clock, email_account)

    async def main():
        assert list(await claim()) == [retry]

    asyncio.run(main())
    flush.writer_db.close()
    claimed = row(store, retry)
    assert (claimed.state, claimed.attempts, claimed.started_at) == (
        DeliveryState.SENDING, 2, None)


def interrupt_unrecorded(store, frozen_clock, account, error: Exception):
    """A flush hung in its sender, cancelled while recording what was interrupted fails with
    `error` (raised by the outcomes' UPDATE); returns the outbox."""
    class Hang(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.started.set()
            await asyncio.Event().wait()

    def broken(conn, cursor, statement, *args):
        if statement.startswith("UPDATE deliveries SET state = v.column2"):
            raise error

    hang = Hang()
    outbox = make_outbox(store, frozen_clock, {"email": (account, hang)})

    async def main():
        hang.started = asyncio.Event()
        task = asyncio.create_task(outbox.flush())
        await hang.started.wait()
        with Listen(store.engine, "before_cursor_execute", broken):
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(asyncio.wait_for(main(), 10))
    return outbox


def test_an_interrupted_send_that_cannot_be_recorded_says_so_and_leaves_it_to_recovery(
        store, frozen_clock, incident, email_account, caplog):
    import sqlite3
    ids = add_message(store, frozen_clock, incident.id, people(2))
    with caplog.at_level("WARNING", logger="app.sending.outbox"):
        interrupt_unrecorded(store, frozen_clock, email_account,
                             sqlite3.OperationalError("disk I/O error"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "2 outcomes kept in memory until the database can be written (The disk "
                    "holding the database reported an error (disk I/O error): nothing was saved "
                    "from this change. Check that the disk is still there and has space.)")]
    assert caplog.records[0].exc_info is None      # a storage problem: said, no traceback
    assert set(states(store, ids).values()) == {"sending"}    # recover() settles them
    assert make_outbox(store, frozen_clock, {}).recover() == 2


def test_an_interrupted_send_that_fails_to_record_for_another_reason_is_an_error(
        store, frozen_clock, incident, email_account, caplog):
    add_message(store, frozen_clock, incident.id, people(2))
    with caplog.at_level("WARNING", logger="app.sending.outbox"):
        outbox = interrupt_unrecorded(store, frozen_clock, email_account,
                                      RuntimeError("a bug in the outcome writer"))
    assert [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        ("ERROR", "could not record the outcomes of an interrupted send", True)]
    assert outbox.held == []                    # nothing kept for a database that can write


def test_the_longest_waiting_accounts_are_served_first_when_a_round_cannot_hold_all(
        store, frozen_clock, incident, email_account):
    sms = add_account(store, frozen_clock, "sms", "Texts")
    slack = add_account(store, frozen_clock, "slack", "Chat")
    [text] = add_message(store, frozen_clock, incident.id, [("Ana", "+15550100001")],
                         channel="sms")
    frozen_clock.advance(seconds=1)
    [chat] = add_message(store, frozen_clock, incident.id, [("Ops", "#ops")], channel="slack")
    frozen_clock.advance(seconds=1)
    add_message(store, frozen_clock, incident.id, people(1))     # the newest
    senders = {"email": Recording(), "slack": Recording(), "sms": Recording()}
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, senders["email"]),
                                               "slack": (slack, senders["slack"]),
                                               "sms": (sms, senders["sms"])},
                         batch_size=2)
    asyncio.run(outbox.flush(limit=2))
    handed = {k: [m.delivery_id for b in s.handed for m in b] for k, s in senders.items()}
    assert handed == {"email": [], "slack": [chat], "sms": [text]}


def test_a_refused_account_gets_no_further_round_in_the_same_flush(store, frozen_clock,
                                                                   incident, email_account):
    """Refused while round 2 (claimed early) waits, with round 3 still queued: neither round
    reaches the refused account, though its refusal is not recorded yet."""
    ids = add_message(store, frozen_clock, incident.id, people(12))
    bus = EventBus()
    fake = RefusedAtTheEnd()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         batch_size=4, commit_every=100)

    async def main():
        fake.round_2_claimed = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED,
                      lambda changed: changed and set(changed) == set(ids[4:8])
                      and fake.round_2_claimed.set())
        return await asyncio.wait_for(outbox.flush(), 10)

    report = asyncio.run(main())
    assert fake.calls == [ids[:4]]
    assert report.claimed == 8
    got = states(store)
    assert [got[i] for i in ids[8:]] == ["queued"] * 4


def test_a_sender_that_cannot_be_made_holds_its_queue_and_says_why(store, frozen_clock,
                                                                    incident, caplog):
    ids = add_message(store, frozen_clock, incident.id, people(2))

    def resolve(channel, is_drill):
        raise RuntimeError("the keyring is locked")

    with caplog.at_level("ERROR", logger="app.sending.outbox"):
        report = asyncio.run(Outbox(store, frozen_clock, None, resolve).flush())
    assert report.claimed == 0
    assert set(states(store, ids).values()) == {"queued"}
    assert [r.getMessage() for r in caplog.records] == ["no sender for email (drill=False)"]


def test_cancelled_after_a_batch_was_recorded_settles_the_rest(store, frozen_clock, incident,
                                                               email_account):
    ids = add_message(store, frozen_clock, incident.id, people(4))
    bus = EventBus()

    class TwoThenHang(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:    # all four go out; two answers come back
                assert await begun(begin, m)
            for m in messages[:2]:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="p"))
            await asyncio.Event().wait()

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, TwoThenHang())},
                         events=bus, commit_every=2)

    async def main():
        recorded = asyncio.Event()
        bus.subscribe(OUTBOX_CHANGED, lambda changed: changed and set(changed) == set(ids[:2])
                      and recorded.set())
        task = asyncio.create_task(outbox.flush())
        await asyncio.wait_for(recorded.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    got = states(store)
    assert [got[i] for i in ids] == ["sent", "sent", "unknown", "unknown"]


def test_the_account_row_not_a_stale_copy_says_whether_it_is_paused(store, frozen_clock,
                                                                    incident, email_account):
    from dataclasses import replace
    ids = add_message(store, frozen_clock, incident.id, people(1))
    stale = replace(email_account, paused_reason="paused an hour ago")   # row says: live
    report = asyncio.run(make_outbox(store, frozen_clock,
                                     {"email": (stale, FakeSender())}).flush())
    assert report.sent == 1 and states(store, ids)[ids[0]] == "sent"
    embedded = AccountDTO(id=0, kind="drill", name="Drill inbox", paused_reason="off")
    more = add_message(store, frozen_clock, incident.id, people(1, "d"))
    report = asyncio.run(make_outbox(store, frozen_clock,
                                     {"email": (embedded, FakeSender())}).flush())
    assert report.claimed == 0 and report.paused_accounts == ("Drill inbox",)
    assert states(store, more)[more[0]] == "queued"


def first_claim(store, clock, account):  # type: ignore[no-untyped-def]
    """A flush of `account`'s queue (commit_every 50) and, to await inside its event loop,
    its first claim: the collector made, the round claimed, nothing handed to a sender."""
    from app.sending.flush import Collector

    flush = Flush(make_outbox(store, clock, {"email": (account, FakeSender())},
                              commit_every=50), None)

    async def claim():  # type: ignore[no-untyped-def]
        flush.col = Collector(50)
        _work, infos = flush.claim(flush.routes(), 10)
        flush.infos.update(infos)
        return infos

    return flush, claim


def test_a_send_is_told_in_the_timeline_once_even_if_its_telling_is_staged_twice(
        store, frozen_clock, incident, email_account):
    """A commit that told sends may finish in its thread after the flush was stopped, unseen:
    the stopped flush then stages the same story again. Only rows whose start mark it clears
    are told, so each send is told once."""
    ids = add_message(store, frozen_clock, incident.id, people(3))
    flush, claim = first_claim(store, frozen_clock, email_account)

    async def main():
        await claim()
        await flush.record([SendOutcome(i, SENT, provider_id="p") for i in ids], flush.infos)
        waiting = list(flush.unnarrated)          # committed, not yet told (fewer than 50)
        assert len(waiting) == 3
        flush.record_interrupted([], flush.infos)  # told
        flush.unnarrated = waiting                 # as if that commit's end was never seen
        flush.record_interrupted([], flush.infos)  # tells nothing again

    asyncio.run(main())
    sent = timeline(store, incident.id, kinds=("delivery_sent",))
    assert sorted(e.data["delivery_id"] for e in sent) == ids


def test_a_retry_told_while_its_next_attempt_is_on_the_wire_keeps_that_attempts_start_mark(
        store, frozen_clock, incident, email_account):
    """A retry can wait to be told (fewer than commit_every) while its delivery is claimed
    and started again. Telling it must not clear the new attempt's start mark: after a crash
    that mark is what says the message may be on the wire (unknown), not back in the queue
    to go out twice."""
    retried, other = add_message(store, frozen_clock, incident.id, people(2))
    flush, claim = first_claim(store, frozen_clock, email_account)

    async def main():
        await claim()
        await flush.record([SendOutcome(retried, TRANSIENT, "451 try later")], flush.infos)
        assert [c.info.id for c in flush.unnarrated] == [retried]   # committed, not told

    asyncio.run(main())
    started = frozen_clock.now() + timedelta(seconds=40)
    with store.session() as s, s.begin():   # its next attempt, claimed and started
        s.execute(update(Delivery).where(Delivery.id == retried).values(
            state=DeliveryState.SENDING, attempts=2, started_at=started))
    flush.record_interrupted([SendOutcome(other, SENT, provider_id="p")], flush.infos)
    flush.writer_db.close()
    assert (row(store, retried).state, row(store, retried).started_at) == (
        DeliveryState.SENDING, started)
    assert row(store, other).started_at is None   # told, its mark cleared
    assert [e.data["delivery_id"] for e in timeline(store, incident.id,
                                                    kinds=("delivery_sent",))] == [other]


def test_a_finished_flush_commits_once_more_while_sends_are_still_untold(store, frozen_clock,
                                                                         email_account):
    """Sends are told in the timeline commit_every at a time; when the flush is done with
    nothing left to record but some still untold, the writer commits once more to tell them
    (else it would wait for outcomes that never come)."""
    from app.sending.flush import Collector
    from app.sending.rows import Info
    from app.sending.timeline import Change

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())})
    flush = Flush(outbox, None)
    untold = [Change(Info(1, 1, 1, "Ana", "email", False), "send", DeliveryState.SENT)]

    async def main():
        col = Collector(50)
        assert not flush.commit_due(col)
        flush.unnarrated = untold
        assert not flush.commit_due(col)   # still sending: told with a later batch
        col.close()
        assert flush.commit_due(col)       # done: told now
        flush.unnarrated = []
        assert not flush.commit_due(col)

    asyncio.run(main())
    flush.writer_db.close()


# ---------------------------------------------------------------- start marks: who gets a gate

def doubt(store) -> int:
    """Rows that may be on the wire: `sending` with a start mark committed."""
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.state == DeliveryState.SENDING, Delivery.started_at.is_not(None)))


class SaysNoLimit:
    """A channel that does not say its in-flight limit (no `in_flight`): taken as one message
    at a time, so at most 2 deliveries are marked and unsettled at once. Notes, at each
    start, how many rows are in doubt."""

    def __init__(self, store):
        self.store, self.in_doubt = store, []

    def freeze(self, m, now):
        return f"{m.delivery_id}".encode()

    async def send(self, messages, on_outcome, begin=None):
        for m in messages:
            assert await begun(begin, m)
            self.in_doubt.append(doubt(self.store))
            on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="p"))
            await asyncio.sleep(0)


@pytest.mark.parametrize("batch_size", [200, 3])
def test_a_sender_that_does_not_say_its_in_flight_limit_is_taken_as_one_at_a_time(
        store, frozen_clock, incident, email_account, batch_size):
    ids = add_message(store, frozen_clock, incident.id, people(9))
    sender = SaysNoLimit(store)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, sender)},
                         batch_size=batch_size, commit_every=100)
    report = asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert report.sent == 9 and set(states(store, ids).values()) == {"sent"}
    assert len(sender.in_doubt) == 9 and max(sender.in_doubt) <= 2, sender.in_doubt


class NotesBegin(FakeSender):
    """Notes the `begin` it was handed (None: no start marks for this route)."""

    def __init__(self, in_flight=8):
        super().__init__()
        self.in_flight, self.begins = in_flight, []

    async def send(self, messages, on_outcome, begin=None):
        self.begins.append(begin)
        await super().send(messages, on_outcome, begin)


def test_a_drill_and_a_sender_that_puts_nothing_on_a_wire_get_no_start_marks(
        store, frozen_clock, incident, email_account):
    sms = add_account(store, frozen_clock, "sms", "Texts")
    drills = add_message(store, frozen_clock, incident.id, people(2, "d"), is_drill=True)
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+15550100001"), ("Ben", "+15550100002")], channel="sms")
    drill, inbox = NotesBegin(), NotesBegin(in_flight=0)
    outbox = make_outbox(store, frozen_clock, {("drill", "email"): (email_account, drill),
                                               "sms": (sms, inbox)})
    report = asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert report.sent == 4 and set(states(store, drills + texts).values()) == {"sent"}
    assert drill.begins == [None] and inbox.begins == [None]
    with store.session() as s:
        assert s.scalars(select(Delivery.started_at).where(
            Delivery.id.in_(drills + texts))).all() == [None] * 4


def test_a_delivery_already_answered_is_never_started(store, frozen_clock, incident,
                                                      email_account):
    """A channel that answers for a message before starting it (refused locally, say) and
    then asks to start it anyway: the outbox withholds it, marked ahead or not."""
    ids = add_message(store, frozen_clock, incident.id, people(3))
    answered_first = []

    class AnswersFirst(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            first, second, third = messages
            assert await begin(first.delivery_id)           # marks ahead: all three
            on_outcome(SendOutcome(second.delivery_id, PERMANENT, "550 refused locally"))
            answered_first.append(await begin(second.delivery_id))
            for m in (first, third):
                assert await begun(begin, m)
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="p"))

    report = asyncio.run(asyncio.wait_for(make_outbox(
        store, frozen_clock, {"email": (email_account, AnswersFirst())}).flush(), 10))
    assert answered_first == [False]
    assert (report.sent, report.failed) == (2, 1)
    assert states(store, ids) == {ids[0]: "sent", ids[1]: "failed", ids[2]: "sent"}


# ---------------------------------------------------------------- the lease lost mid-flush

def test_a_lease_lost_mid_flush_withholds_the_next_starts_and_marks_nothing_more(
        store, frozen_clock, incident, email_account, caplog):
    """The writer finds the lease someone else's: it records nothing (and says so), writes
    no start mark, and the senders are told not to start what they have not started."""
    from app.sending.lease import TTL_S, take
    ids = add_message(store, frozen_clock, incident.id, people(4))
    started = []

    class TakenOver(FakeSender):
        in_flight = 1     # two marked ahead at most: the third is marked after an outcome

        async def send(self, messages, on_outcome, begin=None):
            for n, m in enumerate(messages):
                started.append(await begin(m.delivery_id))
                if not started[-1]:
                    return
                if n == 0:
                    frozen_clock.advance(seconds=TTL_S + 1)
                    take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id="p"))
                await asyncio.sleep(0)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, TakenOver())},
                         commit_every=100)
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    with caplog.at_level("WARNING", logger="app.sending.outbox"):
        report = asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert outbox.lease_lost and report.sent == 0
    assert started == [True, True, False]
    assert set(states(store, ids).values()) == {"sending"}    # the successor's to recover
    with store.session() as s:
        marked = s.scalars(select(Delivery.id).where(Delivery.id.in_(ids),
                                                     Delivery.started_at.is_not(None))).all()
    assert sorted(marked) == ids[:2]
    assert [r.getMessage() for r in caplog.records if "lease" in r.getMessage()] == [
        "the sender lease was taken over: 2 outcomes not recorded here"]


# ---------------------------------------------------------------- the writer fails

def test_when_the_writer_fails_what_never_started_goes_back_to_the_queue_and_says_why(
        store, frozen_clock, incident, email_account, caplog):
    """The first start marks cannot be written: no message starts; the flush fails, and
    records its claimed deliveries back in the queue (no attempt) with the reason."""
    import sqlite3
    ids = add_message(store, frozen_clock, incident.id, people(4))
    failed = []

    def fail_once(conn, cursor, statement, *args):
        if statement.startswith("UPDATE deliveries SET started_at") and not failed:
            failed.append(statement)
            raise sqlite3.OperationalError("disk I/O error")

    sender = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, sender)})
    with Listen(store.engine, "before_cursor_execute", fail_once), \
            caplog.at_level("WARNING", logger="app.sending.outbox"):
        with pytest.raises(Exception, match="disk I/O error"):
            asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert failed and sender.calls == [ids]
    for i in ids:
        d = row(store, i)
        assert (d.state, d.attempts, d.started_at, d.last_error) == (
            DeliveryState.QUEUED, 0, None, "not sent: sending stopped before its turn")
    assert not [r for r in caplog.records if "ignored an outcome" in r.getMessage()]


def test_a_routes_start_marks_are_bounded_across_rounds_not_per_round(
        store, frozen_clock, incident, email_account):
    """Round 2 of a route shares its gate with round 1: marks of round 1 not yet settled by a
    committed outcome leave no room for round 2's (cap: 2 × in_flight, here 2)."""
    from app.sending.flush import Collector

    ids = add_message(store, frozen_clock, incident.id, people(4))
    outbox = make_outbox(store, frozen_clock,
                         {"email": (email_account, NotesBegin(in_flight=1))})
    flush = Flush(outbox, None)

    async def main():
        flush.col = Collector(50)
        [(route, first)], _ = flush.claim(flush.routes(), 2)
        gate = flush.gate(route, first)
        marks = gate.take()
        gate.committed(marks, set(marks), [])       # marked, no outcome yet
        [(route, second)], _ = flush.claim(flush.routes(), 2)
        again = flush.gate(route, second)
        return marks, again is gate, again.take()

    marks, same, more = asyncio.run(main())
    assert marks == ids[:2] and same and more == []


# ---------------------------------------------------------------- outcomes held in memory

def test_outcomes_held_while_nothing_could_be_written_are_written_once_and_counted(
        store, frozen_clock, incident, email_account):
    """SQLite refuses every write (read-only) once the three messages went out, before their
    answers are recorded: the flush fails and the outbox holds the three outcomes in memory.
    While writing still fails, write_held() raises and keeps them; once it can write, it
    records them, says how many it wrote, and holds nothing more (a second call writes none)."""
    from app.storage.space import problem_of
    from tests.storage_support import QueryOnly

    ids = add_message(store, frozen_clock, incident.id, people(3))
    refusing = QueryOnly(store.engine)

    class RefusedAfterSending(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.calls.append([m.delivery_id for m in messages])
            for m in messages:
                assert await begun(begin, m)      # its start mark written: it goes out
            refusing.on = True
            for m in messages:
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
            await asyncio.sleep(0)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, RefusedAfterSending())})
    try:
        with pytest.raises(Exception) as failed:
            asyncio.run(asyncio.wait_for(outbox.flush(), 10))
        assert problem_of(failed.value) is not None
        assert sorted(o.delivery_id for _, held in outbox.held for o in held) == ids
        assert {d.state for d in outbox.list(ids=ids)} == {"sending"}   # (a read works)
        with pytest.raises(Exception) as again:
            outbox.write_held()
        assert problem_of(again.value) is not None and len(outbox.held) == 1
        refusing.on = False
        assert outbox.write_held() == 3
    finally:
        refusing.remove()
    assert outbox.held == [] and outbox.write_held() == 0
    assert states(store, ids) == dict.fromkeys(ids, "sent")
    assert [row(store, i).provider_id for i in ids] == [f"p-{i}" for i in ids]


def test_a_next_round_that_cannot_be_read_halts_the_flush_and_says_why_once(
        store, frozen_clock, incident, email_account, caplog):
    """The disk fails while the next round is looked for (the read of what is due, as the
    current round finishes): this round's outcomes are recorded, nothing more is claimed, and
    the flush fails with the storage problem — said once, with its words, and the outbox
    paused."""
    import sqlite3

    from app.storage import StorageUnavailable

    ids = add_message(store, frozen_clock, incident.id, people(8))
    reads, claims = [], []

    def disk_fails_on_the_second_look(conn, cursor, statement, *args):
        if statement.startswith("SELECT deliveries.channel, messages.is_drill"):
            reads.append(statement)
            if len(reads) == 2:   # the first round was found; the next one cannot be
                raise sqlite3.OperationalError("database or disk is full")
        elif statement.startswith("UPDATE deliveries SET state="):   # a claim
            claims.append(statement)

    fake = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, batch_size=4)
    with Listen(store.engine, "before_cursor_execute", disk_fails_on_the_second_look), \
            caplog.at_level("WARNING", logger="app.sending.outbox"):
        with pytest.raises(StorageUnavailable) as failed:
            asyncio.run(asyncio.wait_for(outbox.flush(), 10))
    assert failed.value.kind == "full"
    assert len(reads) == 2 and len(claims) == 1   # no claim after the failed look
    assert fake.calls == [ids[:4]]
    assert states(store, ids) == {**dict.fromkeys(ids[:4], "sent"),
                                  **dict.fromkeys(ids[4:], "queued")}
    assert outbox.paused == "Sending paused: the disk holding the database is full"
    said = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("the database cannot be written")]
    assert said == [f"the database cannot be written: nothing more is sent ({failed.value})"]
    assert str(failed.value).startswith("The disk holding the database is full")
