"""What went on the wire (issue 13): each delivery's content is built by its channel when it is
claimed for its first attempt, stored in the claim's transaction, and handed to the sender on
every attempt; a first attempt undone (account refused, send stopped before its turn) builds it
again next time; the drill inbox builds what a real send would. The channels' own tests check
that the stored bytes are what the servers receive."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from app.domain.enums import Severity
from app.domain.models import ChannelAccount, Delivery
from app.sending.channels.base import (AUTH_FAILED, SENT, TRANSIENT, AccountDTO,
                                       OutgoingMessage, SendOutcome)
from app.sending.channels.drill import DRILL_FROM_ADDRESS, DRILL_FROM_NUMBER, DrillSender
from app.sending.channels.email import EmailSender
from app.sending.channels.wire import read_sms_form
from tests.outbox_support import add_account, add_message, begun, people
from tests.unit.test_outbox import FakeSender, make_outbox, row, states


def wire_of(store, delivery_id):
    with store.session() as s:
        return s.get(Delivery, delivery_id).wire


@pytest.fixture
def incident(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Mail outage", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


@pytest.fixture
def email_account(store, frozen_clock):
    return add_account(store, frozen_clock, "email", "Relay")


def test_the_first_claim_stores_the_wire_and_every_attempt_sends_it(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(3))
    fake = FakeSender(plan={"p1@example.com": TRANSIENT})
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    claimed_at = frozen_clock.now()
    asyncio.run(outbox.flush())
    stored = {i: wire_of(store, i) for i in ids}
    assert stored == {i: f"{i}|Subject|{claimed_at.isoformat()}".encode() for i in ids}
    assert fake.sent == stored                      # what the sender was handed

    fake.plan.clear()
    frozen_clock.advance(hours=1)
    asyncio.run(outbox.flush())
    assert states(store)[ids[1]] == "sent" and row(store, ids[1]).attempts == 2
    assert fake.frozen == ids                       # built once each, never on the retry
    assert fake.sent[ids[1]] == stored[ids[1]]      # the retry carried the first claim's bytes
    assert wire_of(store, ids[1]) == stored[ids[1]]

    assert outbox.retry([ids[0]]) == 0              # sent: nothing to retry
    frozen_clock.advance(hours=1)
    outbox.resend_unknown([ids[2]])                 # not unknown: nothing changes either
    assert {i: wire_of(store, i) for i in ids} == stored


def test_a_first_attempt_the_account_refused_is_built_again_from_the_fixed_account(
        store, frozen_clock, incident, email_account):
    """Refused at login (nothing reached anyone): the wire goes with the attempt, so the next
    claim builds it from the account as it is then — a corrected from-address is in it."""
    ids = add_message(store, frozen_clock, incident.id, people(2))
    fake = FakeSender(default=AUTH_FAILED)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    asyncio.run(outbox.flush())
    assert {i: (row(store, i).state.value, row(store, i).attempts, wire_of(store, i))
            for i in ids} == {i: ("queued", 0, None) for i in ids}

    with store.session() as s, s.begin():   # the coordinator fixes the account, resumes it
        s.execute(update(ChannelAccount).values(paused_reason=""))
    fake.default = SENT
    frozen_clock.advance(minutes=5)
    asyncio.run(outbox.flush())
    assert set(states(store, ids).values()) == {"sent"}
    assert fake.frozen == ids + ids                 # built at each first attempt
    assert wire_of(store, ids[0]).endswith(frozen_clock.now().isoformat().encode())


def test_a_refusal_on_a_later_attempt_keeps_the_wire_that_may_have_gone_out(
        store, frozen_clock, incident, email_account):
    ids = add_message(store, frozen_clock, incident.id, people(1))
    fake = FakeSender(default=TRANSIENT)
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)})
    asyncio.run(outbox.flush())
    first = wire_of(store, ids[0])
    fake.default = AUTH_FAILED
    frozen_clock.advance(hours=1)
    asyncio.run(outbox.flush())
    assert (row(store, ids[0]).state.value, row(store, ids[0]).attempts) == ("queued", 1)
    assert wire_of(store, ids[0]) == first and fake.frozen == ids


def test_a_round_claimed_ahead_and_released_at_a_stop_is_built_again_next_time(
        store, frozen_clock, incident, email_account):
    """batch 4: the second round is claimed (and its wire stored) while the first's last
    delivery is out; the flush is stopped there. The second round goes back to the queue
    unsent, without its wire; the delivery that was out keeps its own (it may have gone)."""
    ids = add_message(store, frozen_clock, incident.id, people(8))

    class LastHangs(FakeSender):
        async def send(self, messages, on_outcome, begin=None):
            self.sent.update((m.delivery_id, m.wire) for m in messages)
            for m in messages:    # all go out; the last one's answer never comes
                assert await begun(begin, m)
            for m in messages[:-1]:
                on_outcome(self.outcome(m))
            await asyncio.Event().wait()

        def outcome(self, m):
            return SendOutcome(m.delivery_id, SENT)

    fake = LastHangs()
    outbox = make_outbox(store, frozen_clock, {"email": (email_account, fake)}, batch_size=4)

    async def main():
        task = asyncio.create_task(outbox.flush())
        while len(fake.frozen) < 8:                 # the second round is claimed
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 10))
    got = {i: (states(store)[i], wire_of(store, i) is None) for i in ids}
    assert got == {**{i: ("sent", False) for i in ids[:3]}, ids[3]: ("unknown", False),
                   **{i: ("queued", True) for i in ids[4:]}}


def test_a_message_its_channel_cannot_build_stores_nothing_and_fails_with_the_reason(
        store, frozen_clock, incident):
    account = add_account(store, frozen_clock, "email", "Relay", settings={
        "host": "127.0.0.1", "security": "none", "from_address": "alerts@example.com"})
    ids = add_message(store, frozen_clock, incident.id, [("Bad\r\nBcc: x", "a@example.com")])
    outbox = make_outbox(store, frozen_clock, {"email": (account, EmailSender(account, None))})
    asyncio.run(outbox.flush())
    d = row(store, ids[0])
    assert (d.state.value, wire_of(store, ids[0])) == ("failed", None)
    assert d.last_error.startswith("The recipient name contains a line break — ")
    assert d.last_error.endswith(": refused, nothing was sent.")


# ---------------------------------------------------------------- the drill inbox

def message(channel: str, **kw) -> OutgoingMessage:
    base = dict(delivery_id=7, channel=channel, address="maya@example.com",
                recipient_name="Maya Lind", subject="Portail indisponible — accès refusé",
                text="Nous rétablissons le portail.", html="<p>Nous rétablissons.</p>",
                email_message_id="<m7@clarion.example>", idempotency_key="k7", is_drill=True)
    return OutgoingMessage(**{**base, **kw})


NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_a_drill_email_is_built_as_a_real_one_from_the_drill_identity():
    drill = DrillSender(AccountDTO(id=1, kind="drill", name="Drill inbox"))
    wire = drill.freeze(message("email"), NOW)
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed["From"] == f"Clarion drill <{DRILL_FROM_ADDRESS}>"
    assert parsed["To"] == "Maya Lind <maya@example.com>"
    assert parsed["Subject"] == "Portail indisponible — accès refusé"
    assert parsed["Message-ID"] == "<m7@clarion.example>"
    assert parsed["Date"] == "Mon, 02 Mar 2026 09:00:00 +0000"
    assert parsed.get_body(("plain",)).get_content().splitlines() == [
        "Nous rétablissons le portail."]
    # the same builder as the real channel: only the From differs
    real = EmailSender(AccountDTO(id=2, kind="email", name="Relay", settings={
        "from_address": DRILL_FROM_ADDRESS, "from_name": "Clarion drill"}), None)
    assert real.freeze(message("email"), NOW) == wire
    own = DrillSender(AccountDTO(id=1, kind="drill", name="Drill", settings={
        "from_address": "drills@harbor.example", "from_name": "Harbor drills"}))
    assert email.message_from_bytes(own.freeze(message("email"), NOW),
                                    policy=email.policy.default)["From"] == \
        "Harbor drills <drills@harbor.example>"


def test_a_drill_sms_and_chat_message_are_built_as_real_ones():
    drill = DrillSender(AccountDTO(id=1, kind="drill", name="Drill inbox"))
    sms = drill.freeze(message("sms", address="+12065550101", text="Portal down — ça va"), NOW)
    assert read_sms_form(sms) == {"To": "+12065550101", "Body": "Portal down — ça va",
                                  "From": DRILL_FROM_NUMBER}
    slack = drill.freeze(message("slack", subject="Portal", text="Restoring"), NOW)
    assert json.loads(slack) == {"text": "*Portal*\n\nRestoring"}
    assert drill.freeze(message("sms", address="12065550101"), NOW) is None   # not E.164
    assert drill.freeze(message("phone"), NOW) is None                        # nothing to send


def test_drill_deliveries_keep_their_wire_too(store, frozen_clock, incident):
    drill_account = add_account(store, frozen_clock, "drill", "Drill inbox")
    ids = add_message(store, frozen_clock, incident.id, people(2), is_drill=True)
    outbox = make_outbox(store, frozen_clock, {("drill", "email"): (
        drill_account, DrillSender(drill_account))})
    asyncio.run(outbox.flush())
    for i in ids:
        wire = wire_of(store, i)
        assert wire and email.message_from_bytes(wire)["To"].endswith("@example.com>")


def test_a_sender_without_wire_builds_it_itself_when_the_row_has_none():
    """A delivery queued before this version and claimed by a sender asked with no stored
    wire (b""): the email channel builds it then (as before)."""
    sender = EmailSender(AccountDTO(id=2, kind="email", name="Relay", settings={
        "from_address": "alerts@example.com"}), None)
    prepared = sender._prepare(replace(message("email", is_drill=False), wire=b""))
    assert b"Subject: =?utf-8?" in prepared.body
    assert sender._prepare(replace(message("email"), wire=b"stored")).body == b"stored"


def test_a_drill_carries_the_identity_of_the_account_a_real_send_would_use(store, frozen_clock):
    from app.sending.accounts import AccountService
    from app.sending.secrets import MemorySecretBackend, SecretStore
    from ui.outbox.runner import SenderPool  # Qt-free: only the pool of senders

    accounts = AccountService(store, frozen_clock, SecretStore(MemorySecretBackend()))
    pool = SenderPool(accounts)
    _, bare = pool.resolve("email", True)
    assert email.message_from_bytes(bare.freeze(message("email"), NOW))["From"] == \
        f"Clarion drill <{DRILL_FROM_ADDRESS}>"          # no real account yet
    accounts.create("email", "Relay", {
        "host": "relay.example.com", "security": "starttls", "username": "ops",
        "from_address": "servicedesk@harbor.example", "from_name": "Harbor IT Service Desk"},
        secret="pw")
    pool.forget()                                         # accounts changed
    _, drill = pool.resolve("email", True)
    assert isinstance(drill, DrillSender)
    parsed = email.message_from_bytes(drill.freeze(message("email"), NOW))
    assert parsed["From"] == "Harbor IT Service Desk <servicedesk@harbor.example>"


def test_a_drill_delivery_handed_to_a_real_accounts_sender_never_leaves(store, frozen_clock,
                                                                       incident):
    """No drill route: the real email account's sender gets the drill deliveries, marked as
    drills, and answers them from the drill inbox — nothing is sent (the relay is not even
    there); their wire is built as that account would send it."""
    account = add_account(store, frozen_clock, "email", "Relay", settings={
        "host": "127.0.0.1", "port": 9, "security": "none",
        "from_address": "alerts@example.com"})
    ids = add_message(store, frozen_clock, incident.id, people(2), is_drill=True)
    outbox = make_outbox(store, frozen_clock, {"email": (account, EmailSender(account, None))})
    report = asyncio.run(outbox.flush())
    assert (report.sent, report.retry_wait) == (2, 0)
    assert {row(store, i).provider_id for i in ids} == {f"drill:{i}" for i in ids}
    assert email.message_from_bytes(wire_of(store, ids[0]))["From"] == "alerts@example.com"


def test_a_blocked_real_route_does_not_hold_back_the_drills_of_its_channel(store, frozen_clock,
                                                                          incident):
    """The real email account is paused: its delivery waits; the drill emails go, round after
    round (batch 2), although the blocked route shares their channel."""
    real = add_account(store, frozen_clock, "email", "Relay")
    with store.session() as s, s.begin():
        s.execute(update(ChannelAccount).where(ChannelAccount.id == real.id)
                  .values(paused_reason="535 authentication failed"))
    drill = add_account(store, frozen_clock, "drill", "Drill inbox")
    waiting = add_message(store, frozen_clock, incident.id, people(1, "r"))
    drills = add_message(store, frozen_clock, incident.id, people(5, "d"), is_drill=True)
    outbox = make_outbox(store, frozen_clock, {
        "email": (real, FakeSender()), ("drill", "email"): (drill, DrillSender(drill))},
        batch_size=2)
    report = asyncio.run(outbox.flush())
    assert report.sent == 5 and report.paused_accounts == ("Relay",)
    assert set(states(store, drills).values()) == {"sent"}
    assert states(store, waiting) == {waiting[0]: "queued"}


def test_a_channel_that_fails_to_build_one_message_does_not_stop_the_claim(
        store, frozen_clock, incident, email_account, caplog):
    ids = add_message(store, frozen_clock, incident.id, people(3))

    class Buggy(FakeSender):
        def freeze(self, m, now):
            if m.delivery_id == ids[1]:
                raise TypeError("a bug")
            return super().freeze(m, now)

    fake = Buggy()
    with caplog.at_level("ERROR", logger="app.sending.outbox"):
        report = asyncio.run(make_outbox(store, frozen_clock,
                                         {"email": (email_account, fake)}).flush())
    assert report.sent == 3
    assert [wire_of(store, i) is None for i in ids] == [False, True, False]
    assert fake.sent[ids[1]] == b""                    # handed over unbuilt: built when sent
    assert [(r.getMessage(), r.exc_info[0]) for r in caplog.records] == [
        (f"building delivery {ids[1]} failed", TypeError)]   # with the bug's traceback
