"""The durable outbox: claim before send, outcomes → states, backoff, account pauses, the
coordinator's decisions, the timeline as the record, batched commits, and the scheduler.
A fake Sender stands in for the channels (they have their own tests against real servers)."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

from app.sending.channels.base import (
    AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO, OutgoingMessage, SendOutcome,
)
from app.messages.composer import Sender as ComposerSender, queue_message
from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import DeliveryState, Severity
from app.domain.models import ChannelAccount, Delivery, TimelineEntry
from app.events import TIMELINE_APPENDED, EventBus
from app.sending.outbox import (
    ID_CHUNK, OUTBOX_CHANGED, DeliveryDTO, FlushReport, Outbox,
)
from app.sending.runner import flush_headless, run_forever
from app.sending.wording import describe_retry
from tests.outbox_support import add_account, add_message, begun, people


# ---------------------------------------------------------------- fakes and helpers

class FakeSender:
    """Answers per address: `plan[address]` is a result or (result, detail, retry_after);
    anything else gets `default`. Records every call; can check what the database says at
    the moment send() is called (from its own session) and can crash after `crash_after`."""

    in_flight = 8   # like an email account: up to 8 begun and unanswered

    def __init__(self, store=None, plan=None, default=SENT, crash_after=None):
        self.store, self.plan, self.default, self.crash_after = store, plan or {}, default, crash_after
        self.calls: list[list[int]] = []
        self.states_at_send: list[set[str]] = []
        self.frozen: list[int] = []
        self.sent: dict[int, bytes] = {}   # delivery id -> the wire it was handed, last attempt

    def freeze(self, m, now):
        """What a channel would put on the wire: here, the delivery, its subject and the time."""
        self.frozen.append(m.delivery_id)
        return f"{m.delivery_id}|{m.subject}|{now.isoformat()}".encode()

    async def send(self, messages, on_outcome, begin=None):
        ids = [m.delivery_id for m in messages]
        self.calls.append(ids)
        self.sent.update((m.delivery_id, m.wire) for m in messages)
        if self.store is not None:
            with self.store.session() as s:
                self.states_at_send.append({st.value for st in s.scalars(
                    select(Delivery.state).where(Delivery.id.in_(ids)))})
        for n, m in enumerate(messages):
            if not await begun(begin, m):
                return
            if self.crash_after is not None and n >= self.crash_after:
                raise ConnectionResetError("connection reset by peer")
            answer = self.plan.get(m.address, self.default)
            result, detail, retry_after = (answer, "", None) if isinstance(answer, str) else answer
            on_outcome(SendOutcome(m.delivery_id, result, detail,
                                   provider_id=f"p-{m.delivery_id}" if result == SENT else "",
                                   retry_after=retry_after))
            await asyncio.sleep(0)

    async def test_connection(self):
        return "250 ok"

    async def aclose(self):
        pass

    @property
    def sent_ids(self):
        return [i for call in self.calls for i in call]


def states(store, ids=None) -> dict[int, str]:
    with store.session() as s:
        stmt = select(Delivery.id, Delivery.state)
        if ids is not None:
            stmt = stmt.where(Delivery.id.in_(ids))
        return {i: st.value for i, st in s.execute(stmt)}


def row(store, delivery_id) -> Delivery:
    with store.session() as s:
        return s.get(Delivery, delivery_id)


def timeline(store, incident_id, kinds=("delivery_sent", "delivery_failed", "delivery_retry",
                                       "decision")):
    with store.session() as s:
        return list(s.scalars(select(TimelineEntry).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind.in_(kinds))
            .order_by(TimelineEntry.id)))


@pytest.fixture
def incident(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Mail outage", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


@pytest.fixture
def email_account(store, frozen_clock):
    return add_account(store, frozen_clock, "email", "Relay")


@pytest.fixture
def sms_account(store, frozen_clock):
    return add_account(store, frozen_clock, "sms", "Twilio")


def make_outbox(store, clock, routes, events=None, **kw) -> Outbox:
    """routes: {channel: (account, sender)}; drill deliveries use routes[('drill', channel)]
    when given, else the same route."""
    def resolve(channel, is_drill):
        return routes.get(("drill", channel) if is_drill else channel,
                          routes.get(channel) if not is_drill else routes.get(channel))
    kw.setdefault("rng", random.Random(7))
    return Outbox(store, clock, events, resolve, **kw)


# ---------------------------------------------------------------- claim and outcomes

def test_claim_is_committed_before_send(store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(5))
    fake = FakeSender(store)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    report = asyncio.run(outbox.flush())
    assert fake.states_at_send == [{"sending"}]
    assert sorted(fake.sent_ids) == ids
    assert report == FlushReport(claimed=5, sent=5, retry_wait=0, failed=0, unknown=0,
                                 paused_accounts=())
    d = row(store, ids[0])
    assert d.state == DeliveryState.SENT and d.attempts == 1 and d.account_id == email_account.id
    assert d.sent_at == frozen_clock.now() and d.provider_id == f"p-{ids[0]}"


def test_outcomes_map_to_states(store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, [
        ("Ana", "ana@example.com"), ("Ben", "ben@example.com"), ("Cy", "cy@example.com"),
        ("Di", "di@example.com")])
    fake = FakeSender(plan={"ben@example.com": (TRANSIENT, "451 4.3.0 try later", None),
                            "cy@example.com": (PERMANENT, "550 5.1.1 no such user", None),
                            "di@example.com": (UNKNOWN, "connection lost after DATA", None)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    report = asyncio.run(outbox.flush())
    assert (report.sent, report.retry_wait, report.failed, report.unknown) == (1, 1, 1, 1)
    assert states(store) == dict(zip(ids, ["sent", "retry_wait", "failed", "unknown"]))
    ben, cy, di = (row(store, i) for i in ids[1:])
    assert ben.last_error == "451 4.3.0 try later" and ben.sent_at is None
    assert ben.next_attempt_at > frozen_clock.now()
    assert cy.last_error == "550 5.1.1 no such user" and cy.next_attempt_at is None
    assert di.last_error == "connection lost after DATA"
    # unknown is never sent again by itself, retry_wait not before its time
    assert outbox.due() == []
    assert asyncio.run(outbox.flush()).claimed == 0


def test_sender_crash_mid_batch_leaves_the_started_unknown_and_the_rest_for_later(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(6))
    fake = FakeSender(crash_after=2)   # raises while the third is on the wire
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    report = asyncio.run(outbox.flush())
    assert (report.claimed, report.sent, report.unknown, report.retry_wait) == (6, 2, 1, 3)
    got = states(store)
    assert [got[i] for i in ids] == ["sent"] * 2 + ["unknown"] + ["retry_wait"] * 3
    assert row(store, ids[2]).last_error == \
        "the channel stopped: connection reset by peer"
    # never started, but the channel is broken: later, with backoff — never at once again
    never = row(store, ids[3])
    assert never.last_error == "the channel stopped: connection reset by peer"
    assert never.next_attempt_at > frozen_clock.now()
    assert "sending" not in got.values()


def test_a_sender_that_ends_without_reporting_leaves_those_unknown_and_says_so(
        store, frozen_clock, incident, email_account, caplog):
    ids = add_message(store, frozen_clock, incident.id, people(3))

    class Quiet(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:     # all three go out; one answer comes back
                assert await begun(begin, m)
            on_outcome(SendOutcome(messages[0].delivery_id, SENT, provider_id="p"))

    report = asyncio.run(make_outbox(store, frozen_clock,
                                     {"email": (email_account, Quiet())}).flush())
    assert (report.sent, report.unknown) == (1, 2)
    assert row(store, ids[2]).last_error == "the channel reported nothing for this delivery"
    crash = add_message(store, frozen_clock, incident.id, people(1, "c"))
    with caplog.at_level("ERROR", logger="app.sending.outbox"):
        asyncio.run(make_outbox(store, frozen_clock, {"email": (
            email_account, FakeSender(crash_after=0))}).flush())
    assert [r.getMessage() for r in caplog.records if r.name == "app.sending.outbox"] == [
        f"sender for {email_account.name} failed"]
    assert row(store, crash[0]).state == DeliveryState.UNKNOWN


def test_cancelling_a_flush_records_what_is_known(store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(4))

    class Hanging(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for m in messages:    # all four go out; one answer comes back
                assert await begun(begin, m)
            on_outcome(SendOutcome(messages[0].delivery_id, SENT))
            outbox.ANSWERED.set()
            await asyncio.Event().wait()  # the others' never come

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, Hanging())})
    outbox.ANSWERED = asyncio.Event()

    async def main():
        task = asyncio.create_task(outbox.flush())
        while not outbox.ANSWERED.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    got = states(store)
    assert got[ids[0]] == "sent" and {got[i] for i in ids[1:]} == {"unknown"}


# ---------------------------------------------------------------- backoff

def test_backoff_grows_is_capped_and_jittered_within_20_percent(store, frozen_clock):
    outbox = Outbox(store, frozen_clock, None, lambda c, d: None, base_backoff_s=30,
                    max_backoff_s=1800, rng=random.Random(42))
    for attempts in range(1, 12):
        nominal = min(30 * 2 ** (attempts - 1), 1800)
        samples = [outbox.backoff(attempts) for _ in range(200)]
        assert all(0.8 * nominal <= x <= min(1.2 * nominal, 1800) for x in samples), attempts
        assert len({round(x, 6) for x in samples}) > 50  # really jittered
    assert outbox.backoff(1) < 36.0 < 48.0 <= outbox.backoff(3)  # grows
    assert outbox.backoff(10_000) <= 1800  # no overflow, capped
    # a seeded rng gives the same sequence
    a = Outbox(store, frozen_clock, None, lambda c, d: None, rng=random.Random(1))
    b = Outbox(store, frozen_clock, None, lambda c, d: None, rng=random.Random(1))
    assert [a.backoff(3) for _ in range(5)] == [b.backoff(3) for _ in range(5)]


def test_retry_after_from_the_server_wins_when_larger(store, frozen_clock, incident,
                                                      sms_account):
    ids = add_message(store, frozen_clock, incident.id,
                      [("Ana", "+12065550101"), ("Ben", "+12065550102")], channel="sms")
    fake = FakeSender(plan={"+12065550101": (TRANSIENT, "429 Too Many Requests", 900.0),
                            "+12065550102": (TRANSIENT, "429 Too Many Requests", 1.0)})
    outbox = make_outbox(store, frozen_clock, {"sms": (sms_account, fake)}, base_backoff_s=30)
    asyncio.run(outbox.flush())
    now = frozen_clock.now()
    ana, ben = row(store, ids[0]), row(store, ids[1])
    assert ana.next_attempt_at == now + timedelta(seconds=900)
    assert now + timedelta(seconds=24) <= ben.next_attempt_at <= now + timedelta(seconds=36)
    assert outbox.retry_delay(1, None) <= 36


def test_due_respects_next_attempt_at_with_the_clock(store, frozen_clock, incident,
                                                     email_account):
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    flaky = FakeSender(plan={"ana@example.com": (TRANSIENT, "421 busy", None)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, flaky)},
                         base_backoff_s=60, rng=random.Random(3))
    assert [m.delivery_id for m in outbox.due()] == [ana]
    asyncio.run(outbox.flush())
    at = row(store, ana).next_attempt_at
    assert outbox.due() == [] and outbox.next_due_at() == at
    frozen_clock.set(at - timedelta(seconds=1))
    assert outbox.due() == []
    frozen_clock.set(at)
    [m] = outbox.due()
    assert m.delivery_id == ana and m.attempts == 1 and m.email_message_id.startswith("<")
    flaky.plan.clear()
    assert asyncio.run(outbox.flush()).sent == 1
    d = row(store, ana)
    assert d.state == DeliveryState.SENT and d.attempts == 2
    assert flaky.calls[1] == [ana]
    assert outbox.next_due_at() is None


def test_oldest_first_and_limit(store, frozen_clock, incident, email_account):
    first = add_message(store, frozen_clock, incident.id, people(3, "a"))
    frozen_clock.advance(minutes=1)
    second = add_message(store, frozen_clock, incident.id, people(3, "b"))
    fake = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    assert [m.delivery_id for m in outbox.due(limit=4)] == first + second[:1]
    assert asyncio.run(outbox.flush(limit=4)).claimed == 4
    assert fake.sent_ids == first + second[:1]
    assert outbox.waiting() == 2


def test_list_by_ids_returns_exactly_those_across_chunks(store, frozen_clock, incident,
                                                        email_account):
    ids = add_message(store, frozen_clock, incident.id, people(ID_CHUNK + 40))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())})
    wanted = ids[3:ID_CHUNK + 20]                         # more than one IN (...) list
    got = outbox.list(ids=wanted + wanted[:5], limit=len(wanted))
    assert sorted(d.id for d in got) == sorted(wanted)
    assert all(d.state == "queued" and d.incident_id == incident.id for d in got)
    assert outbox.list(ids=[]) == []
    assert outbox.list(ids=[ids[0]], state="sent") == []  # the other filters still apply


# ---------------------------------------------------------------- accounts

def test_auth_failure_pauses_the_account_and_others_continue(store, frozen_clock, incident,
                                                             email_account, sms_account):
    mail = add_message(store, frozen_clock, incident.id, people(3))
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+12065550101"), ("Ben", "+12065550102")], channel="sms")
    refused = FakeSender(default=(AUTH_FAILED, "535 5.7.8 authentication failed", None))
    sms = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, refused),
                                               "sms": (sms_account, sms)})
    report = asyncio.run(outbox.flush())
    assert report.paused_accounts == ("Relay",) and report.sent == 2
    got = states(store)
    assert {got[i] for i in mail} == {"queued"} and {got[i] for i in texts} == {"sent"}
    assert row(store, mail[0]).attempts == 0  # the refused login was not an attempt
    with store.session() as s:
        assert s.get(ChannelAccount, email_account.id).paused_reason.startswith("535")
    # the paused queue stops; the other account carries on
    more = add_message(store, frozen_clock, incident.id, [("Cy", "+12065550103")], channel="sms")
    report = asyncio.run(outbox.flush())
    assert len(refused.calls) == 1 and sms.calls[-1] == more
    assert report.sent == 1 and report.paused_accounts == ("Relay",)
    assert outbox.waiting() == 3
    assert outbox.next_due_at() is None  # nothing the scheduler can do: it waits for `wake`
    # credentials fixed (the accounts service clears the reason): the queue goes out
    with store.session() as s, s.begin():
        s.get(ChannelAccount, email_account.id).paused_reason = ""
    refused.default = SENT
    assert asyncio.run(outbox.flush()).sent == 3


def test_two_accounts_refused_in_one_flush_are_each_paused_with_their_own_reason(
        store, frozen_clock, incident, email_account, sms_account):
    """The refusals of two accounts can land in one batch of outcomes: each account is
    paused with its own server's words, and each one's deliveries wait for it."""
    mail = add_message(store, frozen_clock, incident.id, people(3))
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+12065550101"), ("Ben", "+12065550102")], channel="sms")
    relay = FakeSender(default=(AUTH_FAILED, "535 5.7.8 authentication failed", None))
    twilio = FakeSender(default=(AUTH_FAILED, "401 Authenticate (20003)", None))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, relay),
                                               "sms": (sms_account, twilio)}, commit_every=50)
    report = asyncio.run(outbox.flush())
    assert sorted(report.paused_accounts) == ["Relay", "Twilio"] and report.sent == 0
    with store.session() as s:
        reasons = {a.name: a.paused_reason for a in s.scalars(select(ChannelAccount))}
    assert reasons == {"Relay": "535 5.7.8 authentication failed",
                       "Twilio": "401 Authenticate (20003)"}
    assert set(states(store, mail + texts).values()) == {"queued"}
    again = asyncio.run(outbox.flush())
    assert again.claimed == 0 and (len(relay.calls), len(twilio.calls)) == (1, 1)


def test_a_refusal_settled_elsewhere_meanwhile_pauses_nothing_and_the_next_still_pauses(
        store, frozen_clock, incident, email_account, sms_account):
    """Only recorded refusals pause an account: when the rows a refusal was about were
    settled by someone else meanwhile (not `sending` in this attempt any more), its account
    stays usable, and a refusal of another account in the same batch still pauses that one."""
    mail = add_message(store, frozen_clock, incident.id, people(2))
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+12065550101")], channel="sms")

    class SettledElsewhere(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            with store.session() as s, s.begin():   # another writer settles them first
                s.execute(update(Delivery).where(Delivery.id.in_(
                    [m.delivery_id for m in messages])).values(state=DeliveryState.UNKNOWN))
            await super().send(messages, on_outcome, begin)

    relay = SettledElsewhere(default=(AUTH_FAILED, "535 5.7.8 authentication failed", None))
    twilio = FakeSender(default=(AUTH_FAILED, "401 Authenticate (20003)", None))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, relay),
                                               "sms": (sms_account, twilio)}, commit_every=50)
    report = asyncio.run(outbox.flush())
    assert report.paused_accounts == ("Twilio",)
    with store.session() as s:
        reasons = {a.name: a.paused_reason for a in s.scalars(select(ChannelAccount))}
    assert reasons == {"Relay": "", "Twilio": "401 Authenticate (20003)"}
    assert set(states(store, mail).values()) == {"unknown"}
    assert set(states(store, texts).values()) == {"queued"}


def test_every_entry_a_flush_writes_is_signed_by_the_outbox_and_published(
        store, frozen_clock, incident, email_account, sms_account):
    """A refusal (written at once) and the sends told in several summaries in the same
    transaction: each entry the flush writes is signed "outbox" and reaches the window's
    event, none left out."""
    from app import events as ev
    from app.events import EventBus

    add_message(store, frozen_clock, incident.id, people(2))
    add_message(store, frozen_clock, incident.id,
                [(f"T{i}", f"+1206555{i:04d}") for i in range(7)], channel="sms")
    with store.session() as s:
        before = s.scalar(select(func.max(TimelineEntry.id)))
    bus = EventBus()
    seen: list = []
    bus.subscribe(ev.TIMELINE_APPENDED, seen.append)
    relay = FakeSender(default=(AUTH_FAILED, "535 5.7.8 authentication failed", None))
    twilio = FakeSender(plan={f"+1206555{i:04d}": (TRANSIENT, "503 busy", None)
                              for i in range(3)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, relay),
                                               "sms": (sms_account, twilio)}, events=bus,
                         commit_every=2)
    report = asyncio.run(outbox.flush())
    assert (report.sent, report.retry_wait, report.paused_accounts) == (4, 3, ("Relay",))
    with store.session() as s:
        written = list(s.scalars(select(TimelineEntry).where(TimelineEntry.id > before)))
    assert len(written) >= 4   # the refusal, and the sends in summaries of two at most
    assert {e.actor for e in written} == {"outbox"}
    assert sorted(e.id for e in seen) == [e.id for e in written]
    assert len({e.kind for e in written}) >= 3


def test_a_paused_account_with_nothing_waiting_is_not_named_nor_its_sender_asked_for(
        store, frozen_clock, incident, email_account, sms_account):
    """Only what is due makes a route: an account paused after its texts all went out has
    nothing waiting, so the flush neither names it as paused nor resolves its sender."""
    texts = add_message(store, frozen_clock, incident.id, [("Ana", "+12065550101")],
                        channel="sms")
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id.in_(texts)).values(
            state=DeliveryState.SENT, sent_at=frozen_clock.now(), attempts=1))
        s.get(ChannelAccount, sms_account.id).paused_reason = "401 Authenticate (20003)"
    mail = add_message(store, frozen_clock, incident.id, people(2))
    asked: list[str] = []
    relay = FakeSender()

    def resolve(channel, is_drill):
        asked.append(channel)
        return (email_account, relay) if channel == "email" else (sms_account, FakeSender())

    report = asyncio.run(Outbox(store, frozen_clock, None, resolve).flush())
    assert (report.sent, report.paused_accounts, asked) == (2, (), ["email"])
    assert set(states(store, mail).values()) == {"sent"}


def test_no_account_for_a_channel_keeps_its_deliveries_queued(store, frozen_clock, incident,
                                                              email_account):
    texts = add_message(store, frozen_clock, incident.id, [("Ana", "+12065550101")], "sms")
    mail = add_message(store, frozen_clock, incident.id, [("Ben", "ben@example.com")])
    drill = add_message(store, frozen_clock, incident.id, [("Cy", "cy@example.com")],
                        is_drill=True)
    asked = []
    fake, drill_inbox = FakeSender(), FakeSender()
    drill_account = AccountDTO(id=0, kind="drill", name="Drill inbox")  # embedded, no row

    def resolve(channel, is_drill):
        asked.append((channel, is_drill))
        if is_drill:
            return drill_account, drill_inbox
        return (email_account, fake) if channel == "email" else None

    outbox = Outbox(store, frozen_clock, None, resolve)
    report = asyncio.run(outbox.flush())
    assert report.claimed == 2 and fake.sent_ids == mail and drill_inbox.sent_ids == drill
    assert drill_inbox.calls and row(store, drill[0]).account_id is None
    assert states(store, texts) == {texts[0]: "queued"}
    assert outbox.waiting() == 1 and outbox.next_due_at() is None
    assert sorted(asked) == [("email", False), ("email", True), ("sms", False)]


@pytest.fixture
def accounts(store, frozen_clock):
    """The accounts service, as the accounts window uses it (pausing needs no secret)."""
    from app.sending.accounts import AccountService
    from app.sending.secrets import SecretStore

    return AccountService(store, frozen_clock, SecretStore())


class PausingSender(FakeSender):
    """A FakeSender that, when its first batch is handed to it, runs `meanwhile` first (what
    the coordinator does while that batch is out, e.g. pausing another account)."""

    def __init__(self, meanwhile, **kw):
        super().__init__(**kw)
        self.meanwhile = meanwhile

    async def send(self, messages, on_outcome, begin=None):
        if not self.calls:
            self.meanwhile()
        await super().send(messages, on_outcome, begin)


def test_an_account_paused_after_its_route_was_checked_gets_nothing_claimed(
        store, frozen_clock, incident, email_account, sms_account, accounts):
    """The coordinator pauses the mail account after this flush looked at it and before it
    claims (here: while the flush resolves the SMS sender, with no transaction open, the moment
    another thread's write lands): no email is claimed or sent, no attempt is counted, and the
    other account's texts go out."""
    mail = add_message(store, frozen_clock, incident.id, people(3))   # older: checked first
    frozen_clock.advance(seconds=1)
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+12065550101"), ("Ben", "+12065550102")], "sms")
    relay, sms = FakeSender(), FakeSender()
    asked = []

    def resolve(channel, is_drill):
        asked.append(channel)
        if channel == "sms":
            accounts.pause(email_account.id, "Paused by Dana")
            return sms_account, sms
        return email_account, relay

    outbox = Outbox(store, frozen_clock, None, resolve)
    report = asyncio.run(outbox.flush())
    assert asked == ["email", "sms"]                  # the mail route was checked unpaused
    assert relay.calls == [] and sorted(sms.sent_ids) == texts
    assert report.claimed == 2 and report.sent == 2
    for i in mail:
        d = row(store, i)
        assert (d.state, d.attempts, d.account_id) == (DeliveryState.QUEUED, 0, None)
    assert timeline(store, incident.id) and all(
        e.data["delivery_id"] in texts for e in timeline(store, incident.id))
    # the next flush finds the pause at once, and still claims nothing for it
    again = asyncio.run(outbox.flush())
    assert (again.claimed, again.paused_accounts) == (0, ("Relay",)) and relay.calls == []


def test_an_account_paused_between_rounds_gets_no_further_round(store, frozen_clock, incident,
                                                                email_account, sms_account,
                                                                accounts):
    """The coordinator pauses the mail account while the flush's first round is out: what was
    already handed to its sender finishes, no later round is claimed for it, the flush reports
    it paused, and the scheduler is told to wait for `wake` rather than look again."""
    mail = add_message(store, frozen_clock, incident.id, people(8))
    texts = add_message(store, frozen_clock, incident.id,
                        [("Ana", "+12065550101"), ("Ben", "+12065550102")], "sms")
    relay = FakeSender()
    sms = PausingSender(lambda: accounts.pause(email_account.id, "Paused by Dana"))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, relay),
                                               "sms": (sms_account, sms)}, batch_size=4)
    report = asyncio.run(outbox.flush())
    # round 1 shared the room: two emails and both texts
    assert len(relay.sent_ids) == 2 and set(relay.sent_ids) <= set(mail)
    assert sorted(sms.sent_ids) == texts
    assert report.claimed == 4 and report.sent == 4 and report.paused_accounts == ("Relay",)
    rest = [i for i in mail if i not in relay.sent_ids]
    assert len(rest) == 6
    for i in rest:
        d = row(store, i)
        assert (d.state, d.attempts, d.account_id) == (DeliveryState.QUEUED, 0, None)
    assert outbox.next_due_at() is None      # the paused route is left to `wake`
    # resumed: the rest goes out with the next flush
    accounts.resume(email_account.id)
    assert asyncio.run(outbox.flush()).sent == 6 and sorted(relay.sent_ids) == mail


# ---------------------------------------------------------------- start-up recovery

def test_recover_turns_started_sending_into_unknown_and_puts_the_rest_back(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(6))
    other = add_message(store, frozen_clock, incident.id, people(1, "x"))
    with store.session() as s, s.begin():
        for d in s.scalars(select(Delivery).where(Delivery.id.in_(ids[:3] + other))):
            d.state, d.attempts = DeliveryState.SENDING, 1
            d.started_at, d.wire = frozen_clock.now(), b"on the wire"
        for d in s.scalars(select(Delivery).where(Delivery.id.in_(ids[3:5]))):
            d.state, d.attempts = DeliveryState.SENDING, 2 - (d.id == ids[3])  # claimed only
            d.wire = b"built"
    bus, seen = EventBus(), []
    bus.subscribe(OUTBOX_CHANGED, seen.append)
    outbox = make_outbox(store, frozen_clock, {}, events=bus)
    assert outbox.recover() == 4 and outbox.requeued == 2
    got = states(store)
    assert [got[i] for i in ids] == ["unknown"] * 3 + ["queued"] * 3 and \
        got[other[0]] == "unknown"
    assert "interrupted" in row(store, ids[0]).last_error
    first, second = row(store, ids[3]), row(store, ids[4])
    # never started: not an attempt; a first attempt's wire is built again at its next claim
    assert (first.attempts, first.next_attempt_at) == (0, frozen_clock.now())
    assert second.attempts == 1
    with store.session() as s:
        wires = dict(s.execute(select(Delivery.id, Delivery.wire)
                               .where(Delivery.id.in_(ids[3:5]))).all())
    assert wires == {ids[3]: None, ids[4]: b"built"}
    assert first.last_error == "not sent: the application stopped before its turn"
    assert {row(store, i).started_at for i in ids} == {None}
    entries = timeline(store, incident.id)
    assert [e.summary.split(" (")[0] for e in entries] == [
        "3 deliveries were interrupted while sending", "1 delivery was interrupted while sending"]
    assert entries[0].data["state"] == "unknown" and entries[0].data["delivery_ids"] == ids[:3]
    assert set(seen[0]) == set(ids[:5] + other)   # the unknown and the requeued
    assert outbox.recover() == 0


# ---------------------------------------------------------------- the coordinator's decisions

def test_retry_cancel_resend_and_mark_sent_follow_the_state_machine(store, frozen_clock, incident,
                                                                    email_account):
    ids = add_message(store, frozen_clock, incident.id, people(6))
    plan = {f"p{i}@example.com": r for i, r in enumerate(
        [SENT, (PERMANENT, "550 no", None), (UNKNOWN, "lost", None), (UNKNOWN, "lost", None),
         (TRANSIENT, "451 later", None)])}
    fake = FakeSender(plan=plan)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)},
                         actor="Dana")
    asyncio.run(outbox.flush())
    sent, failed, unk1, unk2, waiting, queued = ids
    queued_now = add_message(store, frozen_clock, incident.id, [("Q", "q@example.com")])[0]
    assert states(store)[queued] == "sent"  # the sixth had the default answer
    # refusals: sent stays sent, queued cannot be marked sent or retried, failed not cancelled
    assert outbox.cancel([sent]) == 0 and outbox.mark_sent([sent]) == 0
    assert outbox.retry([sent, queued_now]) == 0 and outbox.resend_unknown([failed]) == 0
    assert outbox.cancel([failed]) == 0 and outbox.mark_sent([waiting]) == 0
    assert outbox.retry([]) == 0
    # allowed moves
    assert outbox.mark_sent([unk1, sent]) == 1
    assert outbox.resend_unknown([unk2, unk1]) == 1
    assert outbox.retry([failed, waiting, sent]) == 2
    got = states(store)
    assert (got[unk1], got[unk2], got[failed], got[waiting]) == ("sent", "queued", "queued",
                                                                 "queued")
    assert row(store, unk1).sent_at == frozen_clock.now()
    assert {m.delivery_id for m in outbox.due()} == {unk2, failed, waiting, queued_now}
    assert outbox.cancel([unk2, queued_now, sent, unk1]) == 2
    assert states(store, [unk2, queued_now]) == {unk2: "cancelled", queued_now: "cancelled"}
    assert outbox.retry([unk2]) == 0 and outbox.resend_unknown([unk2]) == 0  # final
    # the email keeps its Message-ID on the resend
    fake.plan.clear()
    before = row(store, failed).email_message_id
    asyncio.run(outbox.flush())
    assert row(store, failed).email_message_id == before
    assert states(store, [failed, waiting]) == {failed: "sent", waiting: "sent"}
    decisions = [e for e in timeline(store, incident.id) if e.actor == "Dana"]
    assert {e.data["action"] for e in decisions} == {"mark_sent", "resend", "retry", "cancel"}
    assert any(e.summary.startswith("Marked as sent to Person 2 by email") for e in decisions)
    assert any(e.kind == "decision" and e.summary.startswith("Cancelled delivery to Person 3")
               for e in decisions)


# ---------------------------------------------------------------- the timeline as the record

def test_timeline_entries_have_the_right_kinds_and_words(store, frozen_clock, incident,
                                                         email_account, sms_account):
    mail = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com"),
                                                          ("Eve", "eve@example.com")])
    texts = add_message(store, frozen_clock, incident.id, [("Ben", "+12065550102"),
                                                           ("Cy", "+12065550103")], "sms")
    bus, published = EventBus(), []
    bus.subscribe(TIMELINE_APPENDED, published.append)
    email = FakeSender(plan={"eve@example.com": (UNKNOWN, "connection lost after DATA", None)})
    sms = FakeSender(plan={"+12065550102": (PERMANENT, "550 21211 invalid number", None),
                           "+12065550103": (TRANSIENT, "429 slow down", 120.0)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, email),
                                               "sms": (sms_account, sms)}, events=bus)
    asyncio.run(outbox.flush())
    entries = {e.data["delivery_id"]: e for e in timeline(store, incident.id)}
    assert entries[mail[0]].kind == "delivery_sent"
    assert entries[mail[0]].summary == "Sent to Ana by email"
    assert entries[mail[0]].data["provider_id"] == f"p-{mail[0]}"
    assert entries[texts[0]].kind == "delivery_failed"
    assert entries[texts[0]].summary == "Not delivered to Ben by SMS: 550 21211 invalid number"
    assert entries[texts[0]].data["state"] == "failed"
    retry = entries[texts[1]]
    assert retry.kind == "delivery_retry" and retry.data["state"] == "retry_wait"
    # the record keeps the time in UTC in its data and says "later"; a reader sees the time
    assert retry.summary == "Not yet delivered to Cy by SMS; will retry later: 429 slow down"
    at = datetime.fromisoformat(retry.data["next_attempt_at"])
    assert at >= frozen_clock.now() + timedelta(seconds=120)
    assert describe_retry(retry, lambda t: t.strftime("%H:%M UTC")) == (
        f"Not yet delivered to Cy by SMS; will retry at {at:%H:%M} UTC (429 slow down)")
    assert entries[mail[1]].data["state"] == "unknown"
    assert entries[mail[1]].data["account_id"] == email_account.id
    assert sorted(e.id for e in published) == sorted(e.id for e in entries.values())


def test_a_big_fan_out_is_summarised_not_thousands_of_entries(store, frozen_clock, incident,
                                                              email_account):
    ids = add_message(store, frozen_clock, incident.id, people(1000))
    bounce = {f"p{i}@example.com": (PERMANENT, "550 mailbox full", None) for i in range(0, 1000, 40)}
    fake = FakeSender(plan=bounce)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)},
                         batch_size=1000, commit_every=50)
    report = asyncio.run(outbox.flush())
    assert (report.sent, report.failed) == (975, 25)
    entries = timeline(store, incident.id)
    # one summary of the sends per committed batch, and each of the 25 bounces named
    assert len(entries) == math.ceil(1000 / 50) + 25
    summaries = [e for e in entries if "count" in e.data]
    assert summaries and all(e.summary.startswith("Sent to ") and " recipients by email" in e.summary
                             for e in summaries)
    # the record stays complete: every delivery is named by exactly one entry
    named = [i for e in entries for i in (e.data.get("delivery_ids") or [e.data["delivery_id"]])]
    assert sorted(named) == ids
    single = [e for e in entries if "delivery_id" in e.data]
    assert all(e.summary.startswith("Not delivered to Person") for e in single)


def test_commits_are_grouped_within_the_start_mark_bound(store, frozen_clock, incident,
                                                         email_account):
    """Outcomes and start marks share commits: never a commit per message, and never more
    outcomes waiting for one than the gate allows (twice the sender's in-flight limit)."""
    n, every = 1000, 50
    add_message(store, frozen_clock, incident.id, people(n))
    bus, changed = EventBus(), []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())},
                         batch_size=n, commit_every=every, events=bus)
    commits = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(store.engine, "commit", listener)
    try:
        assert asyncio.run(outbox.flush()).sent == n
    finally:
        event.remove(store.engine, "commit", listener)
    settled = [len(c) for c in changed[1:]]          # changed[0]: the claim
    assert sum(settled) == n and max(settled) <= 2 * FakeSender.in_flight
    # a commit marks what the senders take next while it settles what they finished
    assert len(commits) <= n / FakeSender.in_flight + 2, len(commits)


def test_a_message_queued_by_the_composer_goes_out(store, frozen_clock, incident, email_account,
                                                   sms_account, client_id):
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients
    from app.stakeholders.service import StakeholderService
    from app.messages.library import parse_template

    svc = StakeholderService(store, frozen_clock)
    svc.create(StakeholderData(client_id=client_id, name="Ana", category="affected_users",
                               contacts=(ContactPointData("email", "ana@example.com", 1),)))
    svc.create(StakeholderData(client_id=client_id, name="Ben", category="it_staff_msp",
                               detail_level="simple",
                               contacts=(ContactPointData("sms", "+12065550101", 1),)))
    templates = {
        "status_update/simple/email": parse_template(
            "---\ntype: status_update\nlevel: simple\nchannel: email\ntitle: t\n---\n"
            "=== subject ===\nUpdate: {{ incident.title }}\n=== text ===\nHello {{ recipient.name }}\n"
            "=== html ===\n<p>Hello</p>\n"),
        "status_update/simple/sms": parse_template(
            "---\ntype: status_update\nlevel: simple\nchannel: sms\ntitle: t\n---\n"
            "=== text ===\n{{ incident.title }}\n")}
    client = next(c for c in list_clients(store) if c.id == client_id)
    queued = queue_message(store, frozen_clock, None, incident=incident, client=client,
                           template_type="status_update", templates=templates,
                           recipients=resolve_recipients(store, client_id,
                                                         timing_needs=["immediate"]),
                           sender=ComposerSender("Dana", "Harbor IT"))
    email, sms = FakeSender(), FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, email),
                                               "sms": (sms_account, sms)})
    [m] = outbox.due(limit=1)
    assert m.subject == "Update: Mail outage" and "Hello Ana" in m.text
    report = asyncio.run(outbox.flush())
    assert report.sent == queued.deliveries == 2
    assert len(email.calls) == 1 and len(sms.calls) == 1


# ---------------------------------------------------------------- reading

def test_list_counts_waiting_and_dtos(store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(3))
    fake = FakeSender(plan={"p1@example.com": (PERMANENT, "550 no", None)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    counts = outbox.counts()
    assert counts["queued"] == 3 and set(counts) == {s.value for s in DeliveryState}
    assert outbox.waiting() == 3 and outbox.next_due_at() == frozen_clock.now()
    asyncio.run(outbox.flush())
    assert outbox.counts()["sent"] == 2 and outbox.counts()["failed"] == 1
    rows = outbox.list()
    assert [r.id for r in rows] == ids and all(isinstance(r, DeliveryDTO) for r in rows)
    r = rows[1]
    assert (r.state, r.channel, r.incident_title, r.template_type, r.last_error, r.attempts,
            r.account_id, r.is_drill, r.subject) == ("failed", "email", "Mail outage",
                                                     "status_update", "550 no", 1,
                                                     email_account.id, False, "Subject")
    with pytest.raises(FrozenInstanceError):
        r.state = "sent"  # type: ignore[misc]
    assert [x.id for x in outbox.list(state="failed")] == [ids[1]]
    assert outbox.list(incident_id=incident.id + 999) == []
    assert len(outbox.list(limit=2)) == 2
    assert outbox.waiting() == 0 and outbox.next_due_at() is None


def test_flush_headless_runs_without_a_loop(store, frozen_clock, incident, email_account):
    add_message(store, frozen_clock, incident.id, people(3))
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())})
    assert flush_headless(outbox).sent == 3


# ---------------------------------------------------------------- the scheduler

class CountingOutbox(Outbox):
    """An Outbox that notes the clock at each flush and sets `flushed` (an asyncio.Event)
    after each. Its first flushes raise the errors in `fail`. After `most` flushes it sets
    `stop`: a runner that spins then ends, and its test fails on the count instead of hanging."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.flushed_at: list = []
        self.flushed: asyncio.Event | None = None
        self.stop: asyncio.Event | None = None
        self.most = 30
        self.fail: list[Exception] = []

    @property
    def flushes(self) -> int:
        return len(self.flushed_at)

    async def flush(self, limit=None):
        self.flushed_at.append(self.clock.now())
        if self.stop is not None and self.flushes >= self.most:
            self.stop.set()
        if self.fail:
            raise self.fail.pop(0)
        report = await super().flush(limit)
        if self.flushed is not None:
            self.flushed.set()
        return report


class FrozenWaits:
    """Stands in for asyncio.wait inside app.sending.runner, so the runner runs on the frozen
    clock: it records how long each wait was asked to last (seconds, or None: until woken) and
    lets that time pass on the frozen clock at once. Like the real wait, it ends early when
    `wake` or `stop` is set; `meanwhile(n, timeout, wake)` plays what happens during the n-th
    wait (something queued, an account resumed). A wait with no timeout that nothing ends
    would last for ever: the run ends there (stop is set)."""

    def __init__(self, clock, stop, wake, meanwhile):
        self.clock, self.stop, self.wake, self.meanwhile = clock, stop, wake, meanwhile
        self.asked: list[float | None] = []

    async def __call__(self, waiters, timeout=None, return_when=asyncio.ALL_COMPLETED):
        self.asked.append(timeout)
        self.meanwhile(len(self.asked) - 1, timeout, self.wake)
        if not (self.stop.is_set() or self.wake.is_set()):
            if timeout is None:
                self.stop.set()
            else:
                self.clock.advance(seconds=max(timeout, 0.0))
        await asyncio.sleep(0)
        return set(), set(waiters)


class _AsyncioWithWait:
    """The asyncio module as app.sending.runner sees it, with `wait` replaced."""

    def __init__(self, wait):
        self.wait = wait

    def __getattr__(self, name):
        return getattr(asyncio, name)


def run_frozen(outbox, monkeypatch, meanwhile=lambda n, timeout, wake: None,
               **kw) -> FrozenWaits:
    """run_forever(outbox, **kw) with FrozenWaits, until it waits for ever or stops."""
    from app.sending import runner

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()
        waits = FrozenWaits(outbox.clock, stop, wake, meanwhile)
        monkeypatch.setattr(runner, "asyncio", _AsyncioWithWait(waits))
        outbox.stop = stop
        await run_forever(outbox, stop, wake, **kw)
        return waits

    return asyncio.run(main())


def test_run_forever_wakes_on_wake_and_stops_on_stop(store, frozen_clock, incident,
                                                     email_account):
    """With the real asyncio.wait: while nothing is due the runner waits until `wake` is set
    (something was queued), and `stop` ends it while it waits. How long it waits otherwise
    is pinned by the tests below, on the frozen clock."""
    add_message(store, frozen_clock, incident.id, people(2))
    fake = FakeSender()
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake))

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()
        outbox.flushed = asyncio.Event()
        task = asyncio.create_task(run_forever(outbox, stop, wake))
        await asyncio.wait_for(outbox.flushed.wait(), 5)
        assert outbox.flushes == 1 and len(fake.sent_ids) == 2
        assert outbox.next_due_at() is None          # nothing due: only `wake` ends the wait
        outbox.flushed.clear()
        add_message(store, frozen_clock, incident.id, people(1, "late"))
        wake.set()
        await asyncio.wait_for(outbox.flushed.wait(), 5)
        assert outbox.flushes == 2 and len(fake.sent_ids) == 3
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert outbox.flushes == 2


def test_run_forever_sleeps_until_the_next_attempt(store, frozen_clock, incident, email_account,
                                                   monkeypatch):
    """A transient failure: the runner sleeps exactly until the retry is due (nobody sets
    `wake`), sends it then, and afterwards waits for `wake` with nothing left to do."""
    start = frozen_clock.now()
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    fake = FakeSender(plan={"ana@example.com": (TRANSIENT, "421 busy", None)})
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=60, max_backoff_s=60, rng=random.Random(3))
    retry_at = []

    def meanwhile(n, timeout, wake):
        if n == 0:
            retry_at.append(row(store, ana).next_attempt_at)
            fake.plan.clear()                   # the server is back; nobody tells the runner

    waits = run_frozen(outbox, monkeypatch, meanwhile)
    [due] = retry_at
    assert start + timedelta(seconds=48) <= due <= start + timedelta(seconds=60)
    assert waits.asked == [(due - start).total_seconds(), None]
    assert outbox.flushed_at == [start, due]
    assert fake.calls == [[ana], [ana]] and states(store, [ana]) == {ana: "sent"}


def test_run_forever_waits_for_wake_while_only_unsendable_deliveries_are_due(
        store, frozen_clock, incident, email_account, accounts, monkeypatch):
    """Due deliveries that cannot go — an SMS with no account, emails for a paused account —
    are not polled: the runner waits for `wake`, with no timeout and no flush meanwhile.
    Resuming the account and setting `wake` (what the window does) gets the emails out at
    once, and the runner waits again."""
    start = frozen_clock.now()
    texts = add_message(store, frozen_clock, incident.id, [("Ana", "+12065550101")], "sms")
    mail = add_message(store, frozen_clock, incident.id, people(2))
    accounts.pause(email_account.id, "535 authentication failed")
    fake = FakeSender()
    outbox = CountingOutbox(store, frozen_clock, None,
                            lambda c, d: (email_account, fake) if c == "email" else None,
                            base_backoff_s=60)

    def meanwhile(n, timeout, wake):
        if n == 0:
            accounts.resume(email_account.id)
            wake.set()

    waits = run_frozen(outbox, monkeypatch, meanwhile)
    assert waits.asked == [None, None]
    assert outbox.flushed_at == [start, start]
    assert sorted(fake.sent_ids) == mail and states(store, texts) == {texts[0]: "queued"}


def test_run_forever_backs_off_when_due_deliveries_could_not_be_claimed(
        store, frozen_clock, incident, email_account, accounts, monkeypatch):
    """The mail account is paused after the flush checked it and before its claim (while the
    SMS route, which has no account, is resolved): the emails are due, yet nothing was
    claimed. The runner then waits base_backoff_s (60 s) before it looks again — never at
    once, which would spin — and then, seeing the pause, waits for `wake`."""
    mail = add_message(store, frozen_clock, incident.id, people(2))     # older: checked first
    frozen_clock.advance(seconds=1)
    add_message(store, frozen_clock, incident.id, [("Ana", "+12065550101")], "sms")
    start = frozen_clock.now()
    fake = FakeSender()

    def resolve(channel, is_drill):
        if channel == "sms":
            if not accounts.get(email_account.id).paused_reason:
                accounts.pause(email_account.id, "Paused by Dana")
            return None
        return email_account, fake

    outbox = CountingOutbox(store, frozen_clock, None, resolve, base_backoff_s=60)
    waits = run_frozen(outbox, monkeypatch)
    assert waits.asked == [60.0, None]
    assert outbox.flushed_at == [start, start + timedelta(seconds=60)]
    assert fake.calls == [] and states(store, mail) == {i: "queued" for i in mail}


def test_run_forever_flushes_again_at_once_when_more_became_due_while_sending(
        store, frozen_clock, incident, email_account, monkeypatch):
    """A message queued while a flush is sending is due now and was not in that flush: the
    runner flushes again straight away, without waiting."""
    start = frozen_clock.now()
    first = add_message(store, frozen_clock, incident.id, people(2))
    late = []

    class QueuedMeanwhile(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            if not self.calls:
                late.extend(add_message(store, frozen_clock, incident.id, people(1, "late")))
            await super().send(messages, on_outcome, begin)

    fake = QueuedMeanwhile()
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=60)
    waits = run_frozen(outbox, monkeypatch)
    assert fake.calls == [first, late]
    assert waits.asked == [None] and outbox.flushed_at == [start, start]


def test_run_forever_looks_again_at_least_every_ten_minutes(store, frozen_clock, incident,
                                                            email_account, monkeypatch):
    """A retry an hour away (the server said Retry-After 3600): the runner still wakes every
    10 minutes (MAX_IDLE_WAIT_S, so a jump of the system clock is noticed), flushing each
    time, and sends it when it is due."""
    start = frozen_clock.now()
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    fake = FakeSender(plan={"ana@example.com": (TRANSIENT, "452 too many mails", 3600.0)})
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=30)

    def meanwhile(n, timeout, wake):
        fake.plan.clear()

    waits = run_frozen(outbox, monkeypatch, meanwhile)
    assert waits.asked == [600.0] * 6 + [None]
    assert outbox.flushed_at == [start + timedelta(seconds=600 * k) for k in range(7)]
    assert fake.calls == [[ana], [ana]] and states(store, [ana]) == {ana: "sent"}


def test_run_forever_tries_again_after_base_backoff_when_a_flush_fails(
        store, frozen_clock, incident, email_account, monkeypatch, caplog):
    """A flush that fails (the database is busy) is logged; the runner tries again after
    base_backoff_s — not at once, and not only when woken."""
    import sqlite3

    start = frozen_clock.now()
    mail = add_message(store, frozen_clock, incident.id, people(2))
    fake = FakeSender()
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=60)
    outbox.fail = [sqlite3.OperationalError("database is locked")]
    waits = run_frozen(outbox, monkeypatch)
    assert waits.asked == [60.0, None]
    assert outbox.flushed_at == [start, start + timedelta(seconds=60)]
    assert sorted(fake.sent_ids) == mail
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "outbox flush failed"]


def test_run_forever_takes_a_database_it_cannot_write_as_a_pause_not_a_failure(
        store, frozen_clock, incident, email_account, monkeypatch, caplog):
    """SQLite refuses every write for two turns (read-only): that is a pause, not a failure —
    `on_failure` (after which the window stops sending and asks about a damaged file) hears
    nothing, and neither the runner nor the flush logs an error (one warning: the pause); the
    window hears once that sending paused and once that it resumed, each paused turn leaves a
    debug line with its cause, and the runner tries again after base_backoff_s until the mail
    goes out."""
    import logging

    from app.storage.space import READ_ONLY, problem_of
    from tests.storage_support import QueryOnly

    start = frozen_clock.now()
    mail = add_message(store, frozen_clock, incident.id, people(2))
    fake = FakeSender()
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=60)
    refusing = QueryOnly(store.engine)
    refusing.on = True
    failures: list[BaseException] = []
    heard: list[str | None] = []

    def meanwhile(n, timeout, wake):
        if n == 1:
            refusing.on = False

    try:
        with caplog.at_level(logging.DEBUG, logger="app.sending.outbox"):
            waits = run_frozen(outbox, monkeypatch, meanwhile, on_pause=heard.append,
                               on_failure=failures.append)
    finally:
        refusing.remove()
    assert waits.asked == [60.0, 60.0, None]
    assert outbox.flushed_at == [start + timedelta(seconds=60 * k) for k in range(3)]
    assert failures == [] and [r.getMessage() for r in caplog.records
                               if r.levelno >= logging.WARNING] == [   # once, not each turn
        "Sending paused: the database cannot be written (read-only or no permission); "
        "sending resumes once the database can be written"]
    assert heard == ["Sending paused: the database cannot be written (read-only or no "
                     "permission)", None]
    paused = [r for r in caplog.records if r.getMessage() == "outbox flush paused"]
    assert [(r.levelname, problem_of(r.exc_info[1]).kind) for r in paused if r.exc_info] == [
        ("DEBUG", READ_ONLY)] * 2
    # and each paused turn's flush, with nothing of its own to record, says why in a debug line
    assert [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"
            and "nothing to record" in r.getMessage()] == [
        "nothing to record; the database cannot be written: The database cannot be written "
        "(read-only folder or file, or no permission): make "
        f"{store.path.parent} writable for Clarion; nothing was saved from this change."] * 2
    assert sorted(fake.sent_ids) == mail and states(store, mail) == dict.fromkeys(mail, "sent")


def test_a_runner_that_can_write_never_says_sending_paused_or_resumed(store, frozen_clock,
                                                                     caplog):
    """Nothing was paused: after a first flush that could write, neither the window
    (`on_pause`) nor the log hears that sending paused or resumed."""
    import logging

    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: None)
    outbox.most = 1    # one turn, then stop
    heard: list[str | None] = []

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()
        outbox.stop = stop
        await asyncio.wait_for(run_forever(outbox, stop, wake, on_pause=heard.append), 10)

    with caplog.at_level(logging.INFO, logger="app.sending.outbox"):
        asyncio.run(main())
    assert outbox.flushes == 1 and outbox.paused is None
    assert heard == [] and [r.getMessage() for r in caplog.records] == []


def test_run_forever_stopped_during_a_flush_ends_without_waiting(store, frozen_clock, incident,
                                                                 email_account, monkeypatch):
    """`stop` set while a flush is sending (the window closes): the flush finishes and records
    its outcomes, and the runner ends without waiting again."""
    mail = add_message(store, frozen_clock, incident.id, people(2))
    outbox = None

    class StoppedMeanwhile(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            outbox.stop.set()
            await super().send(messages, on_outcome, begin)

    fake = StoppedMeanwhile()
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake))
    waits = run_frozen(outbox, monkeypatch)
    assert waits.asked == [] and outbox.flushes == 1
    assert states(store, mail) == {i: "sent" for i in mail}


def test_outbox_changed_events_after_each_committed_batch(store, frozen_clock, incident,
                                                          email_account):
    ids = add_message(store, frozen_clock, incident.id, people(120))
    bus, changed = EventBus(), []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())},
                         events=bus, commit_every=50)
    asyncio.run(outbox.flush())
    assert sorted(changed[0]) == ids  # the claim
    assert sorted(i for c in changed[1:] for i in c) == ids    # then each settled once
    assert all(0 < len(c) <= 2 * FakeSender.in_flight for c in changed[1:])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)
                        .where(Delivery.state == DeliveryState.SENDING)) == 0


@pytest.mark.parametrize("counts, words", [
    ({}, "Outbox: nothing waiting"),
    ({"sent": 40}, "Outbox: nothing waiting"),
    ({"queued": 3}, "Outbox: 3 waiting"),
    ({"sending": 1200, "queued": 8800}, "Outbox: sending 1,200, 8,800 waiting"),
    ({"sending": 16}, "Outbox: sending 16"),
    ({"retry_wait": 2, "queued": 1, "sending": 5}, "offline — 3 waiting"),
    ({"unknown": 2}, "Outbox: nothing waiting · 2 need a decision"),
    ({"retry_wait": 1, "unknown": 1}, "offline — 1 waiting · 1 need a decision"),
])
def test_status_line_says_what_is_out_waiting_or_needs_a_decision(counts, words):
    from app.sending.outbox import status_line

    assert status_line(counts) == words


# ---------------------------------------------------------------- what the sender and window see

def test_due_hands_the_sender_each_delivery_exactly_as_queued(store, frozen_clock, incident,
                                                              email_account, sms_account):
    """Every field of a due delivery reaches the sender unchanged — channel, address, name,
    subject, text and HTML bodies, Message-ID, idempotency key, attempts — and a drill is
    marked as a drill (the channels label drills; a real message must never go as one)."""
    [mail] = add_message(store, frozen_clock, incident.id, [("Ana Ruiz", "ana@example.com")])
    [text] = add_message(store, frozen_clock, incident.id, [("Ben", "+12065550102")], "sms",
                         is_drill=True)
    with store.session() as s, s.begin():
        s.get(Delivery, mail).body_html = "<p>Hi Ana</p>"
    outbox = make_outbox(store, frozen_clock, {})
    got = {m.delivery_id: m for m in outbox.due()}
    for delivery_id, drill in ((mail, False), (text, True)):
        d = row(store, delivery_id)
        assert got[delivery_id] == OutgoingMessage(
            delivery_id=d.id, channel=d.channel.value, address=d.address,
            recipient_name=d.recipient_name, subject=d.subject, text=d.body_text,
            html=d.body_html, email_message_id=d.email_message_id,
            idempotency_key=d.idempotency_key, attempts=0, is_drill=drill)
        assert got[delivery_id].is_drill is drill
    assert (got[mail].channel, got[mail].address, got[mail].recipient_name, got[mail].html) == (
        "email", "ana@example.com", "Ana Ruiz", "<p>Hi Ana</p>")
    assert got[text].channel == "sms" and len(got[text].idempotency_key) == 32


def _set_next_attempt(store, times: dict[int, object]) -> None:
    with store.session() as s, s.begin():
        for delivery_id, at in times.items():
            s.get(Delivery, delivery_id).next_attempt_at = at


def test_due_goes_by_next_attempt_time_then_by_queue_order(store, frozen_clock, incident,
                                                          email_account):
    """The delivery that has waited longest goes first, whatever order the rows were queued
    in; among those due at the same moment, the one queued first goes first."""
    start = frozen_clock.now()
    a, b, c, d = add_message(store, frozen_clock, incident.id, people(4))
    _set_next_attempt(store, {a: start - timedelta(minutes=1), b: start - timedelta(minutes=5),
                              c: start - timedelta(minutes=3), d: start - timedelta(minutes=3)})
    with store.session() as s, s.begin():  # c waits to retry, d is queued: same due time
        s.get(Delivery, c).state = DeliveryState.RETRY_WAIT
    outbox = make_outbox(store, frozen_clock, {})
    assert [m.delivery_id for m in outbox.due()] == [b, c, d, a]
    assert [m.delivery_id for m in outbox.due(limit=2)] == [b, c]


def test_list_shows_the_newest_message_first_and_every_column(store, frozen_clock, incident,
                                                              email_account, sms_account):
    """The outbox window's rows: the newest message's deliveries first (in queue order
    within a message), each with its recipient, address, provider id, times and drill flag
    as stored."""
    first = add_message(store, frozen_clock, incident.id, people(2))
    frozen_clock.advance(minutes=1)
    [drill] = add_message(store, frozen_clock, incident.id, [("Ben", "+12065550102")], "sms",
                          is_drill=True)
    fake = FakeSender(plan={"p1@example.com": (TRANSIENT, "421 busy", None)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake),
                                               ("drill", "sms"): (sms_account, FakeSender())})
    queued_at = frozen_clock.now()
    frozen_clock.advance(minutes=1)
    asyncio.run(outbox.flush())
    rows = outbox.list()
    assert [r.id for r in rows] == [drill] + first
    by_id = {r.id: r for r in rows}
    sent, waiting, text = by_id[first[0]], by_id[first[1]], by_id[drill]
    assert (sent.recipient_name, sent.address, sent.state, sent.provider_id, sent.sent_at,
            sent.created_at, sent.is_drill) == ("Person 0", "p0@example.com", "sent",
                                                f"p-{first[0]}", frozen_clock.now(),
                                                queued_at - timedelta(minutes=1), False)
    assert (waiting.state, waiting.sent_at, waiting.provider_id, waiting.next_attempt_at) == (
        "retry_wait", None, "", row(store, first[1]).next_attempt_at)
    assert waiting.next_attempt_at > frozen_clock.now()
    assert (text.recipient_name, text.address, text.channel, text.is_drill, text.created_at,
            text.incident_id, text.incident_title, text.account_id) == (
        "Ben", "+12065550102", "sms", True, queued_at, incident.id, "Mail outage",
        sms_account.id)


def test_list_of_one_incident_gives_its_deliveries_each_with_its_message(
        store, frozen_clock, incidents, client_id, incident, email_account):
    """list(incident_id=…): that incident's deliveries and none of another's, each naming the
    message it belongs to (the outbox view groups deliveries by message)."""
    other = incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV3,
                           detected_at=frozen_clock.now())
    first = add_message(store, frozen_clock, incident.id, people(2))
    [theirs] = add_message(store, frozen_clock, other.id, people(1, "o"))
    second = add_message(store, frozen_clock, incident.id, people(1, "s"))
    outbox = make_outbox(store, frozen_clock, {})
    mine = outbox.list(incident_id=incident.id)
    message = {i: row(store, i).message_id for i in first + second + [theirs]}
    assert [(r.id, r.message_id, r.incident_id) for r in mine] == [
        (i, message[i], incident.id) for i in second + first]
    assert len({message[first[0]], message[second[0]], message[theirs]}) == 3
    assert [(r.id, r.message_id, r.incident_title) for r in outbox.list(
        incident_id=other.id)] == [(theirs, message[theirs], "Portal down")]


def test_list_shows_at_most_5000_deliveries_unless_asked_for_more(store, frozen_clock, incident,
                                                                 email_account):
    """The window's list is capped at 5000 rows by default (a fan-out to more stays usable);
    the newest ones are those shown."""
    ids = add_message(store, frozen_clock, incident.id, people(5001))
    outbox = make_outbox(store, frozen_clock, {})
    shown = outbox.list()
    assert len(shown) == 5000 and [r.id for r in shown] == ids[:5000]
    assert len(outbox.list(limit=6000)) == 5001


def test_counts_are_zero_for_every_state_of_an_empty_outbox(store, frozen_clock):
    """Nothing queued yet: every state is counted as 0 (the status bar says nothing waiting)."""
    from app.sending.outbox import status_line

    outbox = make_outbox(store, frozen_clock, {})
    counts = outbox.counts()
    assert counts == {s.value: 0 for s in DeliveryState}
    assert status_line(counts) == "Outbox: nothing waiting"


# ---------------------------------------------------------------- decisions: times and the record

def test_decisions_stamp_their_time_and_set_when_a_delivery_goes_next(store, frozen_clock,
                                                                      incident, email_account):
    """A retry makes a delivery due now (even one whose backoff had an hour to run); a
    cancel leaves no next attempt; marking as sent stamps sent_at; every decision stamps
    updated_at with the moment it was taken."""
    start = frozen_clock.now()
    waiting, lost, queued = add_message(store, frozen_clock, incident.id, people(3))
    fake = FakeSender(plan={"p0@example.com": (TRANSIENT, "452 later", 3600.0),
                            "p1@example.com": (UNKNOWN, "lost", None),
                            "p2@example.com": (TRANSIENT, "452 later", 3600.0)})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    asyncio.run(outbox.flush())
    assert row(store, waiting).next_attempt_at == start + timedelta(seconds=3600)
    frozen_clock.advance(minutes=5)
    now = frozen_clock.now()
    assert outbox.retry([waiting]) == 1
    w = row(store, waiting)
    assert (w.state, w.next_attempt_at, w.updated_at) == (DeliveryState.QUEUED, now, now)
    assert [m.delivery_id for m in outbox.due()] == [waiting]
    frozen_clock.advance(minutes=1)
    assert outbox.cancel([queued]) == 1
    q = row(store, queued)
    assert (q.state, q.next_attempt_at, q.updated_at) == (
        DeliveryState.CANCELLED, None, frozen_clock.now())
    frozen_clock.advance(minutes=1)
    assert outbox.mark_sent([lost]) == 1
    m = row(store, lost)
    assert (m.state, m.sent_at, m.updated_at) == (DeliveryState.SENT, frozen_clock.now(),
                                                  frozen_clock.now())
    assert outbox.list(ids=[queued])[0].next_attempt_at is None


def test_a_decision_is_recorded_with_the_state_it_came_from_and_announced(store, frozen_clock,
                                                                          incident,
                                                                          email_account):
    """The timeline entry of a decision says which state the delivery was in before; the
    window is told which deliveries changed (their ids) and gets the new timeline entries."""
    failed, lost = add_message(store, frozen_clock, incident.id, people(2))
    fake = FakeSender(plan={"p0@example.com": (PERMANENT, "550 no", None),
                            "p1@example.com": (UNKNOWN, "lost", None)})
    bus, changed, appended = EventBus(), [], []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    bus.subscribe(TIMELINE_APPENDED, appended.append)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         actor="Dana")
    asyncio.run(outbox.flush())
    changed.clear()
    appended.clear()
    assert outbox.retry([lost, failed]) == 2
    assert changed == [(failed, lost)]
    decisions = [e for e in timeline(store, incident.id, kinds=("decision",))]
    assert {e.data["delivery_id"]: e.data["from"] for e in decisions} == {
        failed: "failed", lost: "unknown"}
    assert sorted(e.id for e in appended) == sorted(e.id for e in decisions)
    assert all(e.actor == "Dana" for e in appended)


# ---------------------------------------------------------------- when the runner looks next

def test_next_due_at_leaves_out_only_the_blocked_route(store, frozen_clock, incident,
                                                       email_account, sms_account):
    """A flush that found no route for SMS, nor for drill emails, leaves those out of
    next_due_at — but a real email waiting to retry on the same channel, and a drill SMS on
    the same drill flag, still count: the runner wakes for them."""
    start = frozen_clock.now()
    add_message(store, frozen_clock, incident.id, [("Ana", "+12065550101")], "sms")
    add_message(store, frozen_clock, incident.id, [("Dee", "dee@example.com")], is_drill=True)
    [real] = add_message(store, frozen_clock, incident.id, [("Eve", "eve@example.com")])
    [drill_sms] = add_message(store, frozen_clock, incident.id, [("Cy", "+12065550103")], "sms",
                              is_drill=True)
    fake = FakeSender(plan={"eve@example.com": (TRANSIENT, "452 later", 600.0),
                            "+12065550103": (TRANSIENT, "429 slow", 900.0)})

    def resolve(channel, is_drill):
        if channel == "email":
            return None if is_drill else (email_account, fake)
        return (sms_account, fake) if is_drill else None

    outbox = Outbox(store, frozen_clock, None, resolve, rng=random.Random(7))
    asyncio.run(outbox.flush())
    assert states(store, [real, drill_sms]) == {real: "retry_wait", drill_sms: "retry_wait"}
    assert outbox.next_due_at() == start + timedelta(seconds=600)
    assert outbox.cancel([real]) == 1
    assert outbox.next_due_at() == start + timedelta(seconds=900)


def test_a_waiting_delivery_without_a_next_attempt_time_is_due_since_it_was_queued(
        store, frozen_clock, incident, email_account):
    """A queued row with no next_attempt_at (the column allows it) is due: next_due_at says
    since when (its creation), so the runner does not wait for a wake that may never come."""
    start = frozen_clock.now()
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    _set_next_attempt(store, {ana: None})
    frozen_clock.advance(minutes=2)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, FakeSender())})
    assert [m.delivery_id for m in outbox.due()] == [ana]
    assert outbox.next_due_at() == start


def test_run_forever_waits_for_a_retry_due_in_under_a_second(store, frozen_clock, incident,
                                                             email_account, monkeypatch):
    """A retry due in less than a second is waited for — that fraction of a second, not a
    flush at once (which finds nothing due) followed by a full base_backoff_s."""
    start = frozen_clock.now()
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    fake = FakeSender(plan={"ana@example.com": (TRANSIENT, "421 busy", None)})
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, fake),
                            base_backoff_s=1, max_backoff_s=1, rng=random.Random(3))
    retry_at = []

    def meanwhile(n, timeout, wake):
        if n == 0:
            retry_at.append(row(store, ana).next_attempt_at)
            fake.plan.clear()

    waits = run_frozen(outbox, monkeypatch, meanwhile)
    [due] = retry_at
    assert 0.8 <= (due - start).total_seconds() < 1.0
    assert waits.asked == [(due - start).total_seconds(), None]
    assert outbox.flushed_at == [start, due]
    assert fake.calls == [[ana], [ana]] and states(store, [ana]) == {ana: "sent"}


def test_run_forever_leaves_no_task_of_its_own_behind_when_it_ends(store, frozen_clock,
                                                                  email_account):
    """With the real asyncio.wait: when run_forever returns, the waits it started on `stop`
    and `wake` have finished too — none is left pending for the loop's shutdown to destroy
    (with a 'Task was destroyed but it is pending' in the log)."""
    outbox = CountingOutbox(store, frozen_clock, None, lambda c, d: (email_account, FakeSender()))

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()
        outbox.flushed = asyncio.Event()
        mine = asyncio.current_task()

        async def run_and_look():
            await run_forever(outbox, stop, wake)
            here = asyncio.current_task()
            return [t for t in asyncio.all_tasks() if t not in (mine, here)]

        task = asyncio.create_task(run_and_look())
        await asyncio.wait_for(outbox.flushed.wait(), 5)
        for _ in range(3):
            await asyncio.sleep(0)          # the runner is now waiting on stop and wake
        assert len([t for t in asyncio.all_tasks() if t not in (mine, task)]) == 2
        stop.set()
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(main()) == []
    assert outbox.flushes == 1


def test_sends_are_told_in_the_timeline_fifty_at_a_time_and_a_crash_between_is_told_later(
        store, frozen_clock, incident, email_account):
    """Outcomes commit in small groups (with the start marks), but the timeline tells sends
    commit_every at a time, so a fan-out reads as a few summaries. Rows committed and not yet
    told keep their start mark; after a crash recover() tells them, once."""
    add_message(store, frozen_clock, incident.id, people(120))
    told_during: list[int] = []

    class Watching(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            for n, m in enumerate(messages):
                if n == 60:   # 50 told; the next ones committed, their story not yet written
                    with store.session() as s:
                        told_during.extend(s.scalars(select(Delivery.id).where(
                            Delivery.state == DeliveryState.SENT,
                            Delivery.started_at.is_(None))))
                assert await begun(begin, m)
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p-{m.delivery_id}"))
                await asyncio.sleep(0)

    outbox = make_outbox(store, frozen_clock, {"email": (email_account, Watching())},
                         commit_every=50)
    asyncio.run(outbox.flush())
    assert len(told_during) == 50
    sent = timeline(store, incident.id, kinds=("delivery_sent",))
    assert [e.data["count"] for e in sent[:2]] == [50, 50] and len(sent) == 2 + 20
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)
                        .where(Delivery.started_at.is_not(None))) == 0

    # a crash after 3 outcomes committed and before they were told
    more = add_message(store, frozen_clock, incident.id, people(3, "late"))
    later = frozen_clock.now() + timedelta(minutes=5)
    with store.session() as s, s.begin():
        for i, state in zip(more, (DeliveryState.SENT, DeliveryState.SENT,
                                   DeliveryState.RETRY_WAIT)):
            d = s.get(Delivery, i)
            d.state, d.attempts, d.started_at = state, 1, frozen_clock.now()
            d.provider_id = f"q{i}" if state == DeliveryState.SENT else ""
            d.next_attempt_at = later if state == DeliveryState.RETRY_WAIT else None
            d.last_error = "451 try later" if state == DeliveryState.RETRY_WAIT else ""
    before = len(timeline(store, incident.id))
    assert make_outbox(store, frozen_clock, {}).recover() == 0     # none was in doubt
    told = timeline(store, incident.id)[before:]
    assert [(e.data["delivery_id"], e.data["state"], e.data["recovered"]) for e in told] == [
        (more[0], "sent", True), (more[1], "sent", True), (more[2], "retry_wait", True)]
    assert told[0].data["provider_id"] == f"q{more[0]}"
    assert told[2].data["next_attempt_at"] == later.isoformat()
    assert make_outbox(store, frozen_clock, {}).recover() == 0
    assert len(timeline(store, incident.id)) == before + 3        # told once


def test_recover_says_why_in_the_delivery_and_stamps_the_time(store, frozen_clock, incident,
                                                              email_account):
    """A delivery found `sending` at start-up shows the coordinator why it is `unknown`
    (the application stopped while sending) and when that was found."""
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    with store.session() as s, s.begin():
        d = s.get(Delivery, ana)
        d.state, d.started_at = DeliveryState.SENDING, frozen_clock.now()
    frozen_clock.advance(hours=2)
    assert make_outbox(store, frozen_clock, {}).recover() == 1
    d = row(store, ana)
    assert (d.state, d.last_error, d.updated_at) == (
        DeliveryState.UNKNOWN, "interrupted while sending (the application stopped)",
        frozen_clock.now())


def test_a_claimed_delivery_that_never_started_is_due_again_from_its_recovery(
        store, frozen_clock, incident, email_account):
    """Claimed (its turn had not come) when the application stopped, two hours ago: at the
    next start it is back in the queue, its attempt not counted, due from that moment, and
    the row says it changed then — not when it was claimed."""
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    with store.session() as s, s.begin():
        d = s.get(Delivery, ana)
        d.state, d.attempts, d.updated_at = DeliveryState.SENDING, 1, frozen_clock.now()
    frozen_clock.advance(hours=2)
    outbox = make_outbox(store, frozen_clock, {})
    assert outbox.recover() == 0 and outbox.requeued == 1
    d = row(store, ana)
    now = frozen_clock.now()
    assert (d.state, d.attempts, d.next_attempt_at, d.updated_at, d.last_error) == (
        DeliveryState.QUEUED, 0, now, now, "not sent: the application stopped before its turn")
    assert outbox.list(ids=[ana])[0].next_attempt_at == now


def _committed_untold(store, clock, rows: dict[int, dict]) -> None:  # type: ignore[type-arg]
    """Rows as a flush leaves them between committing their outcomes and telling them in
    the timeline (their start mark kept): then the application stopped."""
    with store.session() as s, s.begin():
        for i, values in rows.items():
            d = s.get(Delivery, i)
            d.started_at = clock.now()
            for name, value in values.items():
                setattr(d, name, value)


def test_an_outcome_told_after_a_crash_is_recorded_as_the_flush_tells_it(
        store, frozen_clock, incident, email_account):
    """recover() tells outcomes a crashed flush had committed but not yet told as the flush
    would have: in the outbox's name, with the attempt it was, the server's words and the
    provider's id (empty when the channel gave none) — marked `recovered`."""
    sent, failed, later = add_message(store, frozen_clock, incident.id, people(3))
    retry_at = frozen_clock.now() + timedelta(minutes=5)
    _committed_untold(store, frozen_clock, {
        sent: {"state": DeliveryState.SENT, "attempts": 2, "provider_id": "",
               "next_attempt_at": None, "sent_at": frozen_clock.now()},
        failed: {"state": DeliveryState.FAILED, "attempts": 3, "next_attempt_at": None,
                 "last_error": "550 no such user"},
        later: {"state": DeliveryState.RETRY_WAIT, "attempts": 1, "next_attempt_at": retry_at,
                "last_error": "451 try later"}})
    assert make_outbox(store, frozen_clock, {}).recover() == 0
    told = {e.data["delivery_id"]: e for e in timeline(store, incident.id)}
    assert {i: (e.actor, e.data["attempt"], e.data.get("error"), e.data["recovered"])
            for i, e in told.items()} == {
        sent: ("outbox", 2, None, True), failed: ("outbox", 3, "550 no such user", True),
        later: ("outbox", 1, "451 try later", True)}
    assert told[sent].data["provider_id"] == ""
    assert told[sent].summary == "Sent to Person 0 by email"
    assert told[failed].summary == "Not delivered to Person 1 by email: 550 no such user"
    assert told[later].summary.endswith(": 451 try later")
    assert told[later].data["next_attempt_at"] == retry_at.isoformat()


def test_an_untold_retry_without_a_next_attempt_time_is_still_told(store, frozen_clock,
                                                                    incident, email_account):
    """The column allows a waiting row without next_attempt_at (due since it was queued): a
    committed retry like that is told at recovery all the same, naming no next attempt, and
    start-up goes on."""
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    _committed_untold(store, frozen_clock, {ana: {
        "state": DeliveryState.RETRY_WAIT, "attempts": 1, "next_attempt_at": None,
        "last_error": "451 try later"}})
    assert make_outbox(store, frozen_clock, {}).recover() == 0
    [entry] = timeline(store, incident.id)
    assert (entry.kind, entry.data["state"], entry.data["recovered"]) == (
        "delivery_retry", "retry_wait", True)
    assert "next_attempt_at" not in entry.data


def test_recover_announces_the_deliveries_it_changed_and_every_entry_it_wrote(
        store, frozen_clock, incident, email_account):
    """The outbox view and the incident's timeline follow recover() by its events: deliveries
    only put back in the queue (no timeline entry) are announced, and so are the entries of a
    crashed flush's untold outcomes along with those of the interrupted sends."""
    bus, changed, appended = EventBus(), [], []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    bus.subscribe(TIMELINE_APPENDED, appended.append)
    outbox = make_outbox(store, frozen_clock, {}, events=bus)
    back = add_message(store, frozen_clock, incident.id, people(2))
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id.in_(back))
                  .values(state=DeliveryState.SENDING, attempts=1))
    assert outbox.recover() == 0 and outbox.requeued == 2
    assert [sorted(c) for c in changed] == [back] and appended == []

    changed.clear()
    told, cut = add_message(store, frozen_clock, incident.id, people(2, "t"))
    _committed_untold(store, frozen_clock, {
        told: {"state": DeliveryState.SENT, "attempts": 1, "provider_id": "q1",
               "next_attempt_at": None},
        cut: {"state": DeliveryState.SENDING, "attempts": 1}})
    before = {e.id for e in timeline(store, incident.id, kinds=("delivery_sent",
                                                                "delivery_failed"))}
    assert outbox.recover() == 1
    written = [e for e in timeline(store, incident.id, kinds=("delivery_sent", "delivery_failed"))
               if e.id not in before]
    assert len(written) == 2      # the untold send, and the interrupted one
    assert sorted(e.id for e in appended) == [e.id for e in written]
    assert changed == [(cut,)]


def test_the_application_sending_policy_is_rounds_of_200_and_retries_from_30_s_to_30_min(
        store, frozen_clock, incident, email_account):
    """The window and the CLI build the outbox with its defaults, which are the sending
    policy: a round is at most 200 deliveries, outcomes are committed 50 at a time, the
    first retry waits 30 s (±20 %) and no retry waits more than 30 minutes."""
    ids = add_message(store, frozen_clock, incident.id, people(450))
    fake, bus, changed = FakeSender(), EventBus(), []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    outbox = Outbox(store, frozen_clock, bus, lambda c, d: (email_account, fake),
                    rng=random.Random(11))
    assert asyncio.run(outbox.flush()).sent == 450
    assert [len(c) for c in fake.calls] == [200, 200, 50] and fake.sent_ids == ids
    # claims of 200, 200 and 50; outcomes committed with the start marks, at most twice the
    # sender's in-flight limit waiting; the timeline tells them 50 at a time
    assert sorted(len(c) for c in changed)[-3:] == [50, 200, 200]
    assert max(sorted(len(c) for c in changed)[:-3]) <= 2 * fake.in_flight
    sent = [e for e in timeline(store, incident.id) if e.kind == "delivery_sent"]
    assert [e.data["count"] for e in sent] == [50] * 9
    jitter = random.Random(11)
    assert outbox.backoff(1) == 30 * jitter.uniform(0.8, 1.2)
    assert outbox.backoff(2) == 60 * jitter.uniform(0.8, 1.2)
    capped = [outbox.backoff(20) for _ in range(50)]
    expected = [min(1800 * jitter.uniform(0.8, 1.2), 1800) for _ in range(50)]
    assert capped == expected and max(capped) == 1800 and min(capped) < 1800


def test_rounds_and_commit_batches_must_hold_at_least_one_delivery(store, frozen_clock,
                                                                   incident, email_account):
    """A round or a commit batch of 0 would never send anything: either is refused when the
    outbox is made. One (the smallest) works: each delivery is claimed and committed alone."""
    for bad in ({"batch_size": 0}, {"commit_every": 0}, {"batch_size": 0, "commit_every": 0}):
        with pytest.raises(ValueError, match="^batch_size and commit_every must be at least 1$"):
            make_outbox(store, frozen_clock, {}, **bad)
    ids = add_message(store, frozen_clock, incident.id, people(3))
    fake, bus, changed = FakeSender(), EventBus(), []
    bus.subscribe(OUTBOX_CHANGED, changed.append)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, events=bus,
                         batch_size=1, commit_every=1)
    assert asyncio.run(outbox.flush()).sent == 3
    assert fake.calls == [[i] for i in ids]
    assert sorted(changed) == sorted([(i,) for i in ids] * 2)  # each claimed, each committed


def test_decisions_taken_without_a_name_are_recorded_as_the_coordinators(store, frozen_clock,
                                                                         incident,
                                                                         email_account):
    """An outbox made without an actor (the CLI's) records its decisions as 'coordinator'."""
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    outbox = Outbox(store, frozen_clock, None, lambda c, d: None)
    assert outbox.cancel([ana]) == 1
    [entry] = timeline(store, incident.id, kinds=("decision",))
    assert entry.actor == "coordinator"


def test_recover_and_decisions_reach_every_delivery_beyond_one_id_list(store, frozen_clock,
                                                                        incident,
                                                                        email_account):
    """More deliveries than one IN (...) list holds: every one is recovered, then decided."""
    ids = add_message(store, frozen_clock, incident.id, people(ID_CHUNK + 20))
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id.in_(ids))
                  .values(state=DeliveryState.SENDING, attempts=1,
                          started_at=frozen_clock.now()))
    outbox = make_outbox(store, frozen_clock, {})
    assert outbox.recover() == ID_CHUNK + 20
    assert set(states(store, ids).values()) == {"unknown"}
    assert outbox.cancel(ids) == ID_CHUNK + 20
    assert set(states(store, ids).values()) == {"cancelled"}


def test_a_drill_delivery_is_recorded_as_a_drill_when_recovered_and_decided(store,
                                                                           frozen_clock,
                                                                           incident,
                                                                           email_account):
    [cy] = add_message(store, frozen_clock, incident.id, [("Cy", "cy@example.com")],
                       is_drill=True)
    with store.session() as s, s.begin():   # (as a version before start marks left it)
        d = s.get(Delivery, cy)
        d.state, d.started_at = DeliveryState.SENDING, frozen_clock.now()
    outbox = make_outbox(store, frozen_clock, {})
    assert outbox.recover() == 1
    assert outbox.mark_sent([cy]) == 1
    summaries = [e.summary for e in timeline(store, incident.id, kinds=(
        "delivery_sent", "delivery_failed", "decision", "delivery_unknown"))]
    assert summaries and all(s.endswith("(drill)") for s in summaries), summaries


def test_run_forever_tells_on_failure_of_a_damaged_file_and_nothing_is_sent(
        store, frozen_clock, incident, email_account):
    """A flush that meets a damaged page (SQLITE_CORRUPT) is reported to `on_failure` — the
    window then stops the loop and asks what to do (ui/backups/watch.py) — instead of only
    being logged and tried again every minute."""
    import sqlite3

    from app.backups.damage import damage_of

    add_message(store, frozen_clock, incident.id, people(3))
    store.engine.dispose()
    db = store.path
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name IN ('deliveries', 'ix_deliveries_state_next')")]
    conn.close()
    with open(db, "r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * size)
            fh.write(b"\xa5" * size)
    fake = FakeSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    heard: list[BaseException] = []

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()

        def failed(exc: BaseException) -> None:
            heard.append(exc)
            stop.set()

        await asyncio.wait_for(run_forever(outbox, stop, wake, on_failure=failed), 10)

    asyncio.run(main())
    assert len(heard) == 1 and damage_of(heard[0]) == "a page of it is damaged"
    assert fake.calls == []


def test_a_pause_and_its_end_are_said_once_each_in_the_log_and_to_the_window(caplog):
    """_say_pause: the log says why sending paused (a warning naming the reason) and that it
    resumed (info), and `on_pause` hears the words, then None — only when the state changed."""
    import logging
    from types import SimpleNamespace

    from app.sending.runner import _say_pause

    heard: list[object] = []
    words = "Sending paused: the disk holding the database is full"
    outbox = SimpleNamespace(paused=words)
    with caplog.at_level(logging.INFO, logger="app.sending.outbox"):
        _say_pause(outbox, None, heard.append)          # paused now
        _say_pause(outbox, words, heard.append)         # still paused: nothing more
        outbox.paused = None
        _say_pause(outbox, words, heard.append)         # resumed
        _say_pause(outbox, None, None)                  # nothing changed, nobody to tell
    assert heard == [words, None]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"{words}; sending resumes once the database can be written"),
        ("INFO", "sending resumed: the database can be written again")]


def _heartbeat_sets(event: asyncio.Event, renewed: list,  # type: ignore[type-arg]
                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """From now on (called on the running loop), each heartbeat's renewal is recorded in
    `renewed` and sets `event` on this loop; the renewal itself succeeds."""
    from app.sending import runner

    loop = asyncio.get_running_loop()

    def renew(store_, clock, lease):  # type: ignore[no-untyped-def]
        renewed.append(lease)
        loop.call_soon_threadsafe(event.set)
        return True

    monkeypatch.setattr(runner, "renew", renew)


def test_run_forever_keeps_the_lease_alive_while_it_waits(store, frozen_clock, monkeypatch):
    """The heartbeat runs beside the loop: with nothing to send, the lease is still renewed
    (else another sender would take over after TTL_S while this one idles)."""
    from app.sending import runner
    from app.sending.lease import take

    outbox = make_outbox(store, frozen_clock, {})
    outbox.lease = take(store, frozen_clock, "the Clarion window (process 1 on desk)")
    renewed: list[object] = []
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0)

    async def main():
        stop, wake = asyncio.Event(), asyncio.Event()
        _heartbeat_sets(stop, renewed, monkeypatch)
        await asyncio.wait_for(run_forever(outbox, stop, wake), 10)

    asyncio.run(main())
    assert renewed and renewed[0] is outbox.lease


def test_a_headless_flush_keeps_the_lease_alive_while_it_sends(store, frozen_clock, incident,
                                                               email_account, monkeypatch):
    """`clarion outbox flush` runs the heartbeat beside its flush: a send that lasts longer
    than a beat sees the lease renewed (the sender here waits for that renewal)."""
    from app.sending import runner
    from app.sending.lease import take

    add_message(store, frozen_clock, incident.id, people(1))
    renewed: list[object] = []
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0)

    class SlowSender(FakeSender):
        async def send(self, messages, on_outcome, begin=None):  # type: ignore[no-untyped-def]
            beaten = asyncio.Event()
            _heartbeat_sets(beaten, renewed, monkeypatch)
            await asyncio.wait_for(beaten.wait(), 5)
            return await super().send(messages, on_outcome, begin)

    fake = SlowSender()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    outbox.lease = take(store, frozen_clock, "clarion outbox flush (process 2 on desk)")
    report = flush_headless(outbox)
    assert report.sent == 1 and renewed and renewed[0] is outbox.lease


def test_an_untold_outcome_is_told_before_the_coordinators_decision_about_it(
        store, frozen_clock, incident, email_account):
    """A failure the flush had committed but not yet told, then retried by the coordinator:
    the timeline says the failure, then the retry — and a crash after it leaves recover()
    nothing to tell (it used to say the retried delivery "may or may not have gone out")."""
    [ana] = add_message(store, frozen_clock, incident.id, [("Ana", "ana@example.com")])
    _committed_untold(store, frozen_clock, {ana: {
        "state": DeliveryState.FAILED, "attempts": 1, "next_attempt_at": None,
        "last_error": "550 no such user"}})
    outbox = make_outbox(store, frozen_clock, {})
    assert outbox.retry([ana]) == 1
    told = [(e.kind, e.summary) for e in timeline(store, incident.id)]
    assert told == [("delivery_failed", "Not delivered to Ana by email: 550 no such user"),
                    ("decision", "Queued again for Ana by email (retry)")]
    assert make_outbox(store, frozen_clock, {}).recover() == 0
    assert [(e.kind, e.summary) for e in timeline(store, incident.id)] == told
    assert states(store, [ana]) == {ana: "queued"}


def test_a_decision_tells_only_the_untold_outcomes_of_the_deliveries_it_decides(
        store, frozen_clock, incident, email_account):
    """Another delivery's untold outcome is the flush's to tell (it is still in its list):
    a decision about Ana leaves Ben's alone, marked for the flush or recover()."""
    ana, ben = add_message(store, frozen_clock, incident.id, people(2))
    _committed_untold(store, frozen_clock, {
        i: {"state": DeliveryState.FAILED, "attempts": 1, "next_attempt_at": None,
            "last_error": "550 no such user"} for i in (ana, ben)})
    assert make_outbox(store, frozen_clock, {}).cancel([ana]) == 0     # failed: not cancelled
    assert make_outbox(store, frozen_clock, {}).retry([ana]) == 1
    told = [e.data["delivery_id"] for e in timeline(store, incident.id)]
    assert told == [ana, ana]                        # its failure, then the retry
    assert make_outbox(store, frozen_clock, {}).recover() == 0
    later = [(e.data["delivery_id"], e.data.get("recovered")) for e in timeline(store,
                                                                                 incident.id)]
    assert later[2:] == [(ben, True)]               # Ben's, told once, by recover()
