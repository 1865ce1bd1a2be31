"""What people text back (issue 25, app/mailbox/sms.py), against the local Twilio-shaped HTTP
server (tests/integration/sms_fixtures.py), on a real migrated SQLite file: status updates
queued by the composer and sent by the outbox to people with SMS numbers, then someone texts
the account — YES, "Yes, but…", a question, STOP, START — and a check lists the provider's
messages and records them: acknowledgements, replies in the Replies pane's list, opt-outs that
the recipients and the outbox honour, and Twilio's own refusal (21610) opting a number out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sms_fixtures import SID, TOKEN, Provider, http_server
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.clocks.changes import change_counter
from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import Channel, Phase, TimelineKind
from app.domain.models import (
    ContactPoint, Delivery, InboundSms, Incident, SmsPosition, TimelineEntry,
)
from app.errors import ValidationError
from app.events import MAILBOX_READ, STAKEHOLDERS_CHANGED, EventBus
from app.incidents.lifecycle import IncidentService
from app.mailbox.replies import RepliesError, RepliesService
from app.mailbox.sms import SmsRecorder, check_sms_account
from app.messages.composer import Sender, queue_message
from app.messages.library import builtin_templates
from app.sending.accounts import AccountService
from app.sending.channels.base import AccountDTO, OutgoingMessage, PERMANENT
from app.sending.channels.sms import InboundSmsData, SmsSender
from app.sending.outbox import Outbox
from app.sending.rows import FlushReport
from app.sending.secrets import SecretStore
from app.stakeholders.clients import ensure_default_organisation
from app.stakeholders.opt_out import PROVIDER_REFUSES
from app.stakeholders.recipients import resolve_recipients
from app.stakeholders.service import StakeholderService

ROOT = Path(__file__).resolve().parents[2]
FROM = "+14155550100"
NUMBERS = {"Ada Ops": "+12065550101", "Ben Desk": "+12065550102", "Cy Lead": "+12065550103"}
ACTOR = "Test Coordinator"


@dataclass
class World:
    store: Any
    clock: FrozenClock
    provider: Provider
    url: str
    bus: EventBus
    account: AccountDTO
    client: Any
    incidents: IncidentService
    people: dict[str, int]        # name -> stakeholder id


@pytest.fixture
def world(store, frozen_clock, memory_keyring) -> Iterator[World]:
    """An SMS account (token in the keyring) on the local provider, three people reachable by
    SMS first and email second, and one open incident's worth of services."""
    provider = Provider(number=FROM, clock=frozen_clock.now)
    with http_server(provider) as url:
        bus = EventBus()
        accounts = AccountService(store, frozen_clock, SecretStore(), bus)
        account = accounts.create("sms", "Twilio", {
            "base_url": url, "account_sid": SID, "from_number": FROM}, secret=TOKEN)
        client = ensure_default_organisation(store, frozen_clock)
        directory = StakeholderService(store, frozen_clock, bus)
        people = {}
        for name, number in NUMBERS.items():
            slug = name.lower().replace(" ", ".")
            people[name] = directory.create(StakeholderData(
                client_id=client.id, name=name, category="it_staff_msp",
                contacts=(ContactPointData("sms", number, 1),
                          ContactPointData("email", f"{slug}@example.com", 2)))).id
        incidents = IncidentService(store, frozen_clock, bus, actor=ACTOR)
        yield World(store, frozen_clock, provider, url, bus, account, client, incidents,
                    people)


def open_incident(w: World, title: str = "Portal down") -> int:
    return w.incidents.open(client_id=w.client.id, title=title, severity="SEV2",
                            detected_at=w.clock.now()).id


def queue(w: World, incident_id: int, names: Sequence[str]) -> int:
    """A status update by SMS to these people, as the composer queues it; the message id."""
    recipients = resolve_recipients(w.store, w.client.id, channels=["sms"],
                                    stakeholder_ids=[w.people[n] for n in names])
    assert len(recipients.recipients) == len(names), recipients
    return queue_message(
        w.store, w.clock, w.bus, incident=w.incidents.get(incident_id), client=w.client,
        template_type="status_update", templates=builtin_templates(), recipients=recipients,
        sender=Sender("Dana", "Harbor IT"), actor=ACTOR).message_id


def flush(w: World) -> FlushReport:
    """One flush of the outbox through an SmsSender of the account."""
    sender = SmsSender(w.account, TOKEN)
    outbox = Outbox(w.store, w.clock, w.bus, lambda _channel, _drill: (w.account, sender),
                    actor=ACTOR)

    async def run() -> FlushReport:
        try:
            return await asyncio.wait_for(outbox.flush(), 15)
        finally:
            await sender.aclose()

    return asyncio.run(run())


def send_letter(w: World, incident_id: int, names: Sequence[str] = ("Ada Ops",)) -> int:
    message_id = queue(w, incident_id, names)
    assert flush(w).sent == len(names)
    return message_id


def check(w: World, token: str = TOKEN) -> Any:
    report = check_sms_account(w.store, w.clock, w.account, token, w.bus)
    assert report.error == "" or token != TOKEN, report.error
    return report


def deliveries(w: World, message_id: int) -> dict[str, Delivery]:
    with w.store.reading() as session:
        rows = session.scalars(select(Delivery).where(Delivery.message_id == message_id)).all()
        session.expunge_all()
        return {row.recipient_name: row for row in rows}


def entries(w: World, incident_id: int, kind: TimelineKind) -> list[TimelineEntry]:
    with w.store.reading() as session:
        rows = session.scalars(select(TimelineEntry).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind.value)
            .order_by(TimelineEntry.id)).all()
        session.expunge_all()
        return list(rows)


def contact(w: World, name: str, channel: str = "sms") -> ContactPoint:
    with w.store.reading() as session:
        row = session.scalar(select(ContactPoint).where(
            ContactPoint.stakeholder_id == w.people[name], ContactPoint.channel == channel))
        session.expunge_all()
        return row


def inbound_rows(w: World) -> list[InboundSms]:
    with w.store.reading() as session:
        rows = session.scalars(select(InboundSms).order_by(InboundSms.id)).all()
        session.expunge_all()
        return list(rows)


def incident_seq(w: World, incident_id: int) -> int:
    """incidents.change_seq: the incident's own half of its clocks' counter."""
    with w.store.reading() as session:
        return session.scalar(select(Incident.change_seq).where(Incident.id == incident_id))


def posts(w: World) -> list[str]:
    """The numbers the provider was asked to text, in order."""
    return [r["form"]["To"] for r in w.provider.requests if r["method"] == "POST"]


def lists(w: World) -> list[dict[str, str]]:
    """The query of each message-list request the provider answered."""
    return [r.get("query", {}) for r in w.provider.requests
            if r["method"] == "GET" and r["path"].endswith("/Messages.json")]


# ---------------------------------------------------------------- confirmations and replies

def test_a_texted_yes_confirms_the_delivery_by_sms(world):
    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident, ["Ada Ops", "Ben Desk"])
    told: list = []
    w.bus.subscribe(MAILBOX_READ, told.append)
    w.clock.advance(minutes=7)
    replied_at = w.clock.now()
    w.clock.advance(minutes=3)       # read three minutes after it was texted
    w.provider.receive(NUMBERS["Ada Ops"], "YES", date_sent=replied_at)

    report = check(w)

    assert (report.read, report.unmatched, report.left_alone) == (1, 0, [])
    [recorded] = report.recorded
    ada = deliveries(w, letter)["Ada Ops"]
    assert (recorded.kind, recorded.delivery_id, recorded.incident_id, recorded.acknowledged) \
        == ("ack", ada.id, incident, True)
    # the delivery is confirmed when the person texted, by SMS, in their words
    assert (ada.acknowledged_at, ada.ack_via, ada.ack_text) == (replied_at, "sms", "YES")
    assert deliveries(w, letter)["Ben Desk"].acknowledged_at is None
    [acked] = entries(w, incident, TimelineKind.DELIVERY_ACKNOWLEDGED)
    assert acked.summary == "Confirmed received: Ada Ops by SMS — “YES”"
    assert acked.data["delivery_id"] == ada.id and acked.actor == "Clarion (SMS)"
    # a bare confirmation is not a reply to handle
    assert RepliesService(w.store, w.clock).list(incident) == []
    assert entries(w, incident, TimelineKind.REPLY_RECEIVED) == []
    [row] = inbound_rows(w)
    assert (row.kind, row.from_number, row.to_number, row.delivery_id) == \
        ("ack", NUMBERS["Ada Ops"], FROM, ada.id)
    assert told and told[-1][0].delivery_id == ada.id
    # the list was asked for the account's own number, from the day of the first look-back
    [query] = lists(w)
    assert query == {"To": FROM, "DateSent>": "2026-02-23", "PageSize": "100"}


def test_yes_but_a_question_confirms_and_is_a_reply_to_handle(world):
    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident)
    w.clock.advance(minutes=5)
    w.provider.receive(NUMBERS["Ada Ops"], "Yes, but when is the portal back?")

    [recorded] = check(w).recorded

    ada = deliveries(w, letter)["Ada Ops"]
    assert recorded.kind == "reply" and recorded.acknowledged
    assert (ada.ack_via, ada.acknowledged_at) == ("sms", w.clock.now())
    assert len(entries(w, incident, TimelineKind.DELIVERY_ACKNOWLEDGED)) == 1
    [received] = entries(w, incident, TimelineKind.REPLY_RECEIVED)
    assert received.summary == \
        "SMS reply from Ada Ops (+12065550101): Yes, but when is the portal back?"
    assert received.data["channel"] == "sms"
    replies = RepliesService(w.store, w.clock, w.bus, actor=ACTOR)
    [reply] = replies.list(incident)
    assert (reply.channel, reply.kind, reply.from_address, reply.from_name, reply.subject,
            reply.text, reply.delivery_id, reply.message_id) == (
        "sms", "reply", NUMBERS["Ada Ops"], "Ada Ops", "", "Yes, but when is the portal back?",
        ada.id, letter)
    assert replies.open_count(incident) == 1
    assert replies.get(reply.id, channel="sms") == reply

    handled = replies.mark_handled(reply.id, channel="sms")
    assert (handled.handled_by, handled.handled_at) == (ACTOR, w.clock.now())
    assert replies.open_count(incident) == 0
    [done] = entries(w, incident, TimelineKind.REPLY_HANDLED)
    assert done.summary == "Handled the SMS reply from Ada Ops (+12065550101)"
    assert done.data == {"inbound_id": reply.id, "delivery_id": ada.id, "handled": True,
                         "channel": "sms"}


def test_free_text_is_a_reply_and_confirms_nothing(world):
    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident, ["Ada Ops", "Ben Desk"])
    w.clock.advance(minutes=5)
    w.provider.receive(NUMBERS["Ben Desk"], "Is the VPN affected too?")

    [recorded] = check(w).recorded

    ben = deliveries(w, letter)["Ben Desk"]
    assert (recorded.kind, recorded.delivery_id, recorded.acknowledged) == \
        ("reply", ben.id, False)
    assert ben.acknowledged_at is None and ben.ack_via == ""
    assert entries(w, incident, TimelineKind.DELIVERY_ACKNOWLEDGED) == []
    [reply] = RepliesService(w.store, w.clock).list(incident)
    assert (reply.from_name, reply.text) == ("Ben Desk", "Is the VPN affected too?")


def test_sms_and_email_replies_are_listed_together_newest_first(world):
    from app.domain.models import InboundMail

    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident)
    ada = deliveries(w, letter)["Ada Ops"]
    with w.store.session() as session, session.begin():   # an email reply read earlier
        session.add(InboundMail(account_id=None, folder="INBOX", uidvalidity=1, uid=1,
                                kind="reply", incident_id=incident, delivery_id=ada.id,
                                from_address="ada.ops@example.com", from_name="Ada Ops",
                                subject="Re: update", received_at=w.clock.now(),
                                text="By email: thanks."))
    w.clock.advance(minutes=5)
    w.provider.receive(NUMBERS["Ada Ops"], "By SMS: call me")
    check(w)
    replies = RepliesService(w.store, w.clock)
    listed = replies.list(incident)
    assert [(r.channel, r.id, r.text) for r in listed] == [
        ("sms", 1, "By SMS: call me"), ("email", 1, "By email: thanks.")]
    assert replies.open_count(incident) == 2
    # the same id, two channels: each is marked on its own
    replies.mark_handled(1, channel="sms")
    assert [(r.channel, r.handled_at is None) for r in replies.list(incident)] == \
        [("sms", False), ("email", True)]


# ---------------------------------------------------------------- STOP and START

def test_stop_opts_the_number_out_everywhere_the_outbox_and_the_recipients_honour_it(world):
    w = world
    incident = open_incident(w)
    send_letter(w, incident)
    waiting = queue(w, incident, ["Ada Ops"])       # queued before the STOP is read
    changed: list = []
    w.bus.subscribe(STAKEHOLDERS_CHANGED, changed.append)
    w.clock.advance(minutes=4)
    w.provider.receive(NUMBERS["Ada Ops"], "Stop")
    texted_before = len(posts(w))

    [recorded] = check(w).recorded

    now = w.clock.now()      # 2 Mar 2026 09:04 UTC
    assert (recorded.kind, recorded.incident_id, recorded.stakeholder_ids) == \
        ("stop", incident, (w.people["Ada Ops"],))
    ada = contact(w, "Ada Ops")
    assert (ada.opted_out_at, ada.opted_out_reason) == \
        (now, "replied STOP on 2 Mar 2026 09:04 UTC")
    assert contact(w, "Ada Ops", "email").opted_out_at is None
    assert contact(w, "Ben Desk").opted_out_at is None
    [stopped] = entries(w, incident, TimelineKind.OPTED_OUT)
    assert stopped.summary == \
        "Ada Ops (+12065550101) replied STOP: no more texts to this number"
    assert changed == [(w.people["Ada Ops"],)]
    dto = StakeholderService(w.store, w.clock).get(w.people["Ada Ops"])
    assert (dto.contacts[0].channel, dto.contacts[0].opted_out_at,
            dto.contacts[0].opted_out_reason) == \
        ("sms", now, "replied STOP on 2 Mar 2026 09:04 UTC")
    assert dto.contacts[1].opted_out_at is None

    # the next message: Ada by SMS only is unreachable, saying why; SMS or email: her email
    by_sms = resolve_recipients(w.store, w.client.id, channels=["sms"],
                                stakeholder_ids=[w.people["Ada Ops"]])
    assert by_sms.recipients == ()
    assert [u.reason for u in by_sms.unreachable] == \
        ["opted out of SMS — replied STOP on 2 Mar 2026 09:04 UTC"]
    either = resolve_recipients(w.store, w.client.id, channels=["sms", "email"],
                                stakeholder_ids=[w.people["Ada Ops"], w.people["Ben Desk"]])
    assert {(r.name, r.channel, r.address) for r in either.recipients} == {
        ("Ada Ops", "email", "ada.ops@example.com"), ("Ben Desk", "sms", NUMBERS["Ben Desk"])}

    # the SMS queued before the STOP is not sent after it: failed, and no request was made
    report = flush(w)
    assert (report.claimed, report.sent, report.failed) == (1, 0, 1)
    assert len(posts(w)) == texted_before
    held = deliveries(w, waiting)["Ada Ops"]
    assert (held.state, held.attempts, held.sent_at) == ("failed", 0, None)
    assert held.last_error == ("Not sent: +12065550101 opted out of SMS since it was queued "
                               "(replied STOP on 2 Mar 2026 09:04 UTC)")
    failed = [e for e in entries(w, incident, TimelineKind.DELIVERY_FAILED)
              if e.data.get("delivery_id") == held.id]
    assert [e.summary for e in failed] == [f"Not delivered to Ada Ops by SMS: {held.last_error}"]

    # and the provider itself now refuses the number, as Twilio does after a STOP
    outcomes: list = []

    async def post() -> None:
        sender = SmsSender(w.account, TOKEN)
        try:
            await sender.send([OutgoingMessage(99, "sms", NUMBERS["Ada Ops"], "Ada Ops", "",
                                               "Test", "", "", "k99")], outcomes.append)
        finally:
            await sender.aclose()
    asyncio.run(post())
    assert [(o.result, o.opted_out, o.detail) for o in outcomes] == [
        (PERMANENT, True, "400 Attempt to send to unsubscribed recipient (code 21610)")]


def test_start_lifts_the_opt_out(world):
    w = world
    incident = open_incident(w)
    send_letter(w, incident)
    w.clock.advance(minutes=2)
    w.provider.receive(NUMBERS["Ada Ops"], "STOP")
    w.clock.advance(minutes=2)
    w.provider.receive(NUMBERS["Ada Ops"], "start")

    report = check(w)        # both in one batch: oldest first, so texting is allowed again

    assert [r.kind for r in report.recorded] == ["stop", "start"]
    ada = contact(w, "Ada Ops")
    assert (ada.opted_out_at, ada.opted_out_reason) == (None, "")
    [opted_in] = entries(w, incident, TimelineKind.OPTED_IN)
    assert opted_in.summary == \
        "Ada Ops (+12065550101) replied START: texts to this number are allowed again"
    assert len(entries(w, incident, TimelineKind.OPTED_OUT)) == 1
    chosen = resolve_recipients(w.store, w.client.id, channels=["sms"],
                                stakeholder_ids=[w.people["Ada Ops"]])
    assert [(r.channel, r.address) for r in chosen.recipients] == [("sms", NUMBERS["Ada Ops"])]
    # and the provider texts it again
    queue(w, incident, ["Ada Ops"])
    assert flush(w).sent == 1
    assert posts(w)[-1] == NUMBERS["Ada Ops"]


def test_a_stop_from_a_number_not_texted_lately_is_kept_unmatched_and_still_opts_out(world):
    w = world
    w.provider.receive(NUMBERS["Cy Lead"], "UNSUBSCRIBE")
    w.provider.receive("+12065550188", "Who is this?")    # nobody's: not kept

    report = check(w)

    assert report.unmatched == 1
    [recorded] = report.recorded
    assert (recorded.kind, recorded.incident_id, recorded.delivery_id) == ("stop", None, None)
    assert contact(w, "Cy Lead").opted_out_reason == "replied UNSUBSCRIBE on 2 Mar 2026 09:00 UTC"
    [row] = inbound_rows(w)
    assert (row.kind, row.incident_id, row.from_number) == ("stop", None, NUMBERS["Cy Lead"])


def test_a_21610_answer_opts_the_number_out(world):
    """Ben replied STOP to the provider before Clarion read it: Twilio refuses to text him
    (400, code 21610). The delivery fails with the provider's words and every SMS contact
    point with his number is opted out, in the same transaction; the map is told."""
    w = world
    incident = open_incident(w)
    w.provider.opted_out.add(NUMBERS["Ben Desk"])
    changed: list = []
    w.bus.subscribe(STAKEHOLDERS_CHANGED, changed.append)
    letter = queue(w, incident, ["Ada Ops", "Ben Desk"])

    report = flush(w)

    assert (report.sent, report.failed) == (1, 1)
    ben = deliveries(w, letter)["Ben Desk"]
    assert (ben.state, ben.last_error) == \
        ("failed", "400 Attempt to send to unsubscribed recipient (code 21610)")
    cp = contact(w, "Ben Desk")
    assert (cp.opted_out_at, cp.opted_out_reason) == (w.clock.now(), PROVIDER_REFUSES)
    assert PROVIDER_REFUSES == ("the SMS provider refuses to text it: the number replied STOP "
                                "(Twilio 21610)")
    assert contact(w, "Ada Ops").opted_out_at is None
    [stopped] = entries(w, incident, TimelineKind.OPTED_OUT)
    assert stopped.data["number"] == NUMBERS["Ben Desk"]
    assert stopped.data["stakeholder_ids"] == [w.people["Ben Desk"]]
    assert changed == [(w.people["Ben Desk"],)]
    unreachable = resolve_recipients(w.store, w.client.id, channels=["sms"],
                                     stakeholder_ids=[w.people["Ben Desk"]]).unreachable
    assert [u.reason for u in unreachable] == [f"opted out of SMS — {PROVIDER_REFUSES}"]


def test_an_edit_keeps_the_opt_out_and_the_coordinator_sets_and_lifts_it(world):
    w = world
    directory = StakeholderService(w.store, w.clock, w.bus, actor=ACTOR)
    ben = directory.get(w.people["Ben Desk"])
    sms_id = ben.contacts[0].id

    changed = directory.set_sms_opt_out(sms_id, True, "asked by phone not to be texted")
    assert changed.contacts[0].opted_out_reason == \
        "set by Test Coordinator on 2 Mar 2026 09:00 UTC: asked by phone not to be texted"
    # the form's save brings no opt-out: the stored one stays with the number
    data = directory.get(ben.id).data()
    directory.update(ben.id, StakeholderData(
        client_id=data.client_id, name=data.name, category=data.category, role="On call",
        contacts=tuple(ContactPointData(c.channel, c.address, c.priority)
                       for c in data.contacts)))
    assert contact(w, "Ben Desk").opted_out_at == w.clock.now()
    with pytest.raises(ValidationError) as refused:     # (the edit wrote new contact points)
        directory.set_sms_opt_out(contact(w, "Ben Desk", "email").id, True)
    assert refused.value.errors == {"opted_out": "Only an SMS contact point opts out of texts; "
                                                 "ben.desk@example.com is email."}
    lifted = directory.set_sms_opt_out(contact(w, "Ben Desk").id, False)
    assert (lifted.contacts[0].opted_out_at, lifted.contacts[0].opted_out_reason) == (None, "")


# ---------------------------------------------------------------- matching

def test_a_reply_goes_to_the_latest_sms_to_that_number_in_the_48_hours_before_it(world):
    w = world
    first, second = open_incident(w, "Portal down"), open_incident(w, "VPN flapping")
    old = send_letter(w, first)
    w.clock.advance(hours=2)
    newer = send_letter(w, second)
    w.clock.advance(hours=1)
    w.provider.receive(NUMBERS["Ada Ops"], "Which one is worse?")

    [recorded] = check(w).recorded

    assert (recorded.incident_id, recorded.delivery_id) == \
        (second, deliveries(w, newer)["Ada Ops"].id)
    assert RepliesService(w.store, w.clock).list(first) == []

    # 50 hours after the last SMS to her: a text answers nothing any more
    w.clock.set(deliveries(w, newer)["Ada Ops"].sent_at + timedelta(hours=48, minutes=1))
    w.provider.receive(NUMBERS["Ada Ops"], "Still down here")
    late = check(w)
    assert (late.read, late.recorded, late.unmatched) == (1, [], 1)
    assert deliveries(w, old)["Ada Ops"].acknowledged_at is None
    assert len(inbound_rows(w)) == 1


def test_the_coordinator_moves_an_sms_reply_to_another_open_incident(world):
    w = world
    first, second = open_incident(w, "Portal down"), open_incident(w, "VPN flapping")
    send_letter(w, first)
    w.clock.advance(minutes=10)
    send_letter(w, second)
    w.clock.advance(minutes=5)
    w.provider.receive(NUMBERS["Ada Ops"], "The portal is back for me")
    check(w)
    replies = RepliesService(w.store, w.clock, w.bus, actor=ACTOR)
    [reply] = replies.list(second)

    def counter(incident_id: int) -> int:
        with w.store.reading() as session:
            return change_counter(session, incident_id)
    before = counter(first), counter(second)
    moved = replies.move_sms(reply.id, first)

    assert moved.incident_id == first
    assert [r.id for r in replies.list(first)] == [reply.id] and replies.list(second) == []
    assert inbound_rows(w)[0].moved_by == ACTOR
    [left] = [e for e in entries(w, second, TimelineKind.DECISION)
              if e.data.get("channel") == "sms"]
    assert left.summary == ("Moved the SMS reply from Ada Ops (+12065550101) to incident "
                            f"{first} (Portal down)")
    assert left.actor == ACTOR
    arrived = entries(w, first, TimelineKind.REPLY_RECEIVED)[-1]
    assert arrived.summary == (f"SMS reply from Ada Ops (+12065550101) (moved here from incident "
                               f"{second}, VPN flapping): The portal is back for me")
    assert counter(first) != before[0] and counter(second) != before[1]
    w.incidents.move_phase(second, Phase.RESOLVED)
    w.incidents.move_phase(second, Phase.CLOSED)
    with pytest.raises(RepliesError, match="closed"):
        replies.move_sms(reply.id, second)


def test_a_reply_about_a_closed_incident_is_left_alone_but_a_stop_still_counts(world):
    w = world
    incident = open_incident(w)
    send_letter(w, incident)
    w.incidents.move_phase(incident, Phase.RESOLVED)
    w.incidents.move_phase(incident, Phase.CLOSED)
    count_before = len(IncidentService(w.store, w.clock).timeline(incident))
    seq_before = incident_seq(w, incident)
    w.clock.advance(minutes=5)
    w.provider.receive(NUMBERS["Ada Ops"], "Thanks, all good here")
    w.clock.advance(minutes=1)
    w.provider.receive(NUMBERS["Ada Ops"], "STOP")

    report = check(w)

    assert [(x.kind, x.why) for x in report.left_alone] == \
        [("reply", f"incident {incident} is closed: its record is final")]
    [stop] = report.recorded
    assert (stop.kind, stop.incident_id) == ("stop", None)
    assert contact(w, "Ada Ops").opted_out_at == w.clock.now()
    # the closed incident's record is untouched (its own counter too: the opt-out moved only
    # the client's, as every contact point change does)
    assert len(IncidentService(w.store, w.clock).timeline(incident)) == count_before
    assert incident_seq(w, incident) == seq_before
    assert [r.kind for r in inbound_rows(w)] == ["stop"]


def test_each_recorded_sms_moves_the_incidents_change_counter(world):
    """DESIGN: the clocks re-evaluate an incident when its counter moved; an SMS confirmation
    ends a wait for it, a reply is a write the clocks read."""
    w = world
    incident = open_incident(w)
    send_letter(w, incident, ["Ada Ops", "Ben Desk"])

    def counter() -> int:
        with w.store.reading() as session:
            return change_counter(session, incident)
    for name, text in (("Ada Ops", "OK"), ("Ben Desk", "Which floor?"), ("Ben Desk", "STOP")):
        w.clock.advance(minutes=1)
        w.provider.receive(NUMBERS[name], text)
        before, own = counter(), incident_seq(w, incident)
        assert check(w).recorded, text
        assert counter() > before and incident_seq(w, incident) > own, text


# ---------------------------------------------------------------- reading the provider's list

def test_checking_twice_records_nothing_twice_and_the_position_moves(world):
    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident, ["Ada Ops", "Ben Desk"])
    w.clock.advance(minutes=3)
    w.provider.receive(NUMBERS["Ada Ops"], "yes.")
    w.provider.receive(NUMBERS["Ben Desk"], "On my way")
    newest = w.clock.now()
    first = check(w)
    assert sorted(r.kind for r in first.recorded) == ["ack", "reply"]
    timeline = len(IncidentService(w.store, w.clock).timeline(incident))

    w.clock.advance(minutes=2)
    again = check(w)

    assert (again.read, again.recorded, again.unmatched) == (0, [], 0)
    assert len(inbound_rows(w)) == 2
    assert len(IncidentService(w.store, w.clock).timeline(incident)) == timeline
    with w.store.reading() as session:
        position = session.get(SmsPosition, w.account.id)
        assert (position.last_sent_at, position.checked_at, position.last_error) == \
            (newest, w.clock.now(), "")
    # the second read asked only from the day of the position
    assert lists(w)[-1]["DateSent>"] == "2026-03-02"
    # a later confirmation is read
    w.clock.advance(minutes=1)
    w.provider.receive(NUMBERS["Ben Desk"], "Received")
    later = check(w)
    assert later.read == 1 and [r.kind for r in later.recorded] == ["ack"]
    assert deliveries(w, letter)["Ben Desk"].ack_via == "sms"


def test_every_page_of_the_list_is_read(world):
    """230 texts from strangers, then (oldest of all, so on the last page) Ada's YES: the
    check follows next_page_uri through three pages of 100."""
    w = world
    incident = open_incident(w)
    letter = send_letter(w, incident)
    w.clock.advance(minutes=1)
    w.provider.receive(NUMBERS["Ada Ops"], "YES")
    for n in range(230):
        w.clock.advance(seconds=1)
        w.provider.receive(f"+1312555{n:04d}", f"wrong number {n}")

    report = check(w)

    assert (report.read, report.unmatched) == (231, 230)
    assert [r.kind for r in report.recorded] == ["ack"]
    assert deliveries(w, letter)["Ada Ops"].ack_via == "sms"
    pages = lists(w)
    assert [q.get("Page") for q in pages] == [None, "1", "2"]
    assert all(q["PageSize"] == "100" and q["To"] == FROM for q in pages)


def test_a_messaging_service_account_lists_without_a_number_and_keeps_only_inbound(world):
    """An account sending through a messaging service has no number of its own: the list is
    not filtered by To, so it holds what the account sent too — only inbound is read."""
    w = world
    accounts = AccountService(w.store, w.clock, SecretStore(), w.bus)
    service = accounts.create("sms", "Twilio service", {
        "base_url": w.url, "account_sid": SID, "messaging_service_sid": "MG0123"},
        secret=TOKEN)
    w.account = service
    incident = open_incident(w)
    send_letter(w, incident, ["Ada Ops", "Ben Desk"])     # two outbound in the list
    w.clock.advance(minutes=1)
    w.provider.receive(NUMBERS["Cy Lead"], "Hello?", to="+14155550177")

    report = check(w)

    assert (report.read, report.unmatched, report.recorded) == (1, 1, [])
    assert "To" not in lists(w)[-1]


def test_a_refused_token_is_said_in_words_and_kept_beside_the_account(world):
    w = world
    report = check_sms_account(w.store, w.clock, w.account, "not-the-token")
    assert report.error == "127.0.0.1:%s answered 401 Authenticate (code 20003)" % \
        w.url.rsplit(":", 1)[1]
    assert "not-the-token" not in report.error and TOKEN not in report.error
    with w.store.reading() as session:
        assert session.get(SmsPosition, w.account.id).last_error == report.error
    # a later successful read clears it
    assert check(w).error == ""
    with w.store.reading() as session:
        assert session.get(SmsPosition, w.account.id).last_error == ""


def test_the_recorder_alone_skips_known_sids(world):
    """Fed twice the same message (a check interrupted after its commit), the recorder keeps
    one row and says the second was seen."""
    w = world
    message = InboundSmsData("SMfeed", "+12065550188", FROM, "STOP", w.clock.now())
    recorder = SmsRecorder(w.store, w.clock)
    assert len(recorder.record(w.account.id, [message]).recorded) == 1
    again = recorder.record(w.account.id, [message])
    assert (again.recorded, again.seen) == ([], 1)
    with w.store.reading() as session:
        assert session.scalar(select(func.count()).select_from(InboundSms)) == 1


# ---------------------------------------------------------------- the command line, a process

CHILD = """
import sys
from app.sending.secrets import SecretStore, use_memory_keyring
SecretStore(use_memory_keyring()).set(int(sys.argv[1]), sys.argv[2])
from ui.main import main
sys.exit(main(sys.argv[3:]))
"""


def clarion(data_dir: Path, account_id: int, token: str,
            *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", CHILD, str(account_id), token, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_mailbox_check_reads_the_sms_account_as_a_process(tmp_path, memory_keyring):
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.storage import Store

    clock = SystemClock()
    provider = Provider(number=FROM)
    with http_server(provider) as url:
        config = AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)})
        config.ensure_dirs()
        store = Store.open(config.db_path)
        try:
            bus = EventBus()
            account = AccountService(store, clock, SecretStore(), bus).create(
                "sms", "Twilio", {"base_url": url, "account_sid": SID, "from_number": FROM},
                secret=TOKEN)
            client = ensure_default_organisation(store, clock)
            people = {name: StakeholderService(store, clock).create(StakeholderData(
                client_id=client.id, name=name, category="it_staff_msp",
                contacts=(ContactPointData("sms", NUMBERS[name], 1),))).id
                for name in ("Ada Ops", "Ben Desk")}
            incidents = IncidentService(store, clock, bus, actor=ACTOR)
            w = World(store, clock, provider, url, bus, account, client, incidents, people)
            incident = open_incident(w)
            letter = send_letter(w, incident, ["Ada Ops", "Ben Desk"])
            sent = deliveries(w, letter)
        finally:
            store.dispose()
        provider.receive(NUMBERS["Ada Ops"], "Yes")
        provider.receive(NUMBERS["Ben Desk"], "STOP")

        checked = clarion(tmp_path, account.id, TOKEN, "mailbox", "check", "--json")
        assert checked.returncode == 0, checked.stderr
        [report] = json.loads(checked.stdout)
        assert (report["account"], report["channel"], report["read"], report["error"]) == \
            ("Twilio", "sms", 2, "")
        assert sorted((r["kind"], r["incident"], r["delivery"], r["from"])
                      for r in report["recorded"]) == [
            ("ack", incident, sent["Ada Ops"].id, "Ada Ops (+12065550101)"),
            ("stop", incident, sent["Ben Desk"].id, "Ben Desk (+12065550102)")]

        provider.receive(NUMBERS["Ada Ops"], "Is it fixed?")
        text = clarion(tmp_path, account.id, TOKEN, "mailbox", "check")
        assert text.returncode == 0, text.stderr
        assert "Twilio (SMS): read 1 new message: 1 recorded" in text.stdout
        assert (f"reply      incident {incident}, delivery {sent['Ada Ops'].id}: SMS reply "
                "from Ada Ops (+12065550101): Is it fixed?") in text.stdout

        wrong = clarion(tmp_path, account.id, "not-the-token", "mailbox", "check")
        assert wrong.returncode == 1 and "401 Authenticate" in wrong.stderr
        assert "not-the-token" not in wrong.stderr + wrong.stdout
        unknown = clarion(tmp_path, account.id, TOKEN, "mailbox", "check", "--account", "Nope")
        assert unknown.returncode == 2 and "Twilio" in unknown.stderr

    store = Store.open(config.db_path)
    try:
        with store.reading() as session:
            ben = session.scalar(select(ContactPoint).where(
                ContactPoint.stakeholder_id == people["Ben Desk"],
                ContactPoint.channel == Channel.SMS))
            assert ben.opted_out_at is not None and ben.opted_out_reason.startswith(
                "replied STOP on ")
            assert session.get(Delivery, sent["Ada Ops"].id).ack_via == "sms"
    finally:
        store.dispose()
