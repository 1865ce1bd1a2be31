"""What a message read from the mailbox changes in the record (app/mailbox/recorder.py),
on a real migrated SQLite file: deliveries queued by the composer and sent through the outbox
(their wire bytes carry the Message-ID and the X-Clarion-Delivery token), then a bounce, an
automatic reply and a reply fed to the recorder as the IMAP reader would
(tests/integration/test_mailbox_imap.py reads them from a real Dovecot)."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from app.clocks.board import OVERDUE, clock_rows
from app.clocks.regulatory import ClockStatus
from app.domain.enums import DeliveryState, Phase, TimelineKind
from app.domain.models import Delivery, InboundMail, MailboxPosition, TimelineEntry
from app.events import EventBus
from app.sending.accounts import AccountService
from app.mailbox.recorder import MAILBOX_READ, MailboxRecorder, ReadMail
from app.mailbox.replies import RepliesError, RepliesService
from app.sending.secrets import MemorySecretBackend, SecretStore
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, flush, hipaa_client, open_incident, people, queue, regulatory,
)

FOLDER = "INBOX"
VALIDITY = 1700000001


@pytest.fixture
def account_id(store, frozen_clock) -> int:
    accounts = AccountService(store, frozen_clock, SecretStore(MemorySecretBackend()))
    return accounts.create("email", "Desk mailbox", {
        "host": "smtp.example.com", "from_address": "desk@example.com",
        "username": "desk@example.com", "imap_host": "imap.example.com"}, secret="pw").id


def deliveries_of(store, message_id: int) -> dict[str, Delivery]:
    with store.reading() as session:
        rows = session.scalars(select(Delivery).where(Delivery.message_id == message_id)).all()
        for row in rows:
            row.wire    # noqa: B018 - load the deferred column before the session ends
        session.expunge_all()
        return {row.recipient_name: row for row in rows}


def original_headers(delivery: Delivery) -> str:
    """The header block of what went on the wire for this delivery."""
    assert delivery.wire, "the outbox stored the bytes it sent"
    return delivery.wire.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"


def dsn(delivery: Delivery, *, status: str = "5.1.1", action: str = "failed",
        rewrite_message_id: bool = False) -> bytes:
    """An RFC 3464 report about this delivery, as Postfix writes it (text/rfc822-headers)."""
    headers = original_headers(delivery)
    if rewrite_message_id:   # a submission service that gives messages its own Message-ID
        headers = headers.replace(delivery.email_message_id,
                                  "<AM0PR01MB1234.rewritten@eurprd01.prod.outlook.com>")
    boundary = f"B{delivery.id}.{action}/mta.example.net"
    text = (
        "From: MAILER-DAEMON@mta.example.net (Mail Delivery System)\r\n"
        "To: desk@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(T0 + 20 * MIN)}\r\n"
        f"Message-ID: <bounce-{delivery.id}-{action}@mta.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"'
        "\r\n\r\n"
        "This is a MIME-encapsulated message.\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mta.example.net.\r\n\r\nI'm sorry to have to "
        "inform you that your message could not\r\nbe delivered to one or more recipients.\r\n"
        f"\r\n--{boundary}\r\nContent-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mta.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {delivery.address}\r\n"
        f"Original-Recipient: rfc822;{delivery.address}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\n"
        "Remote-MTA: dns; mx.example.com\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{delivery.address}>: Recipient address "
        "rejected: User unknown in virtual mailbox table\r\n"
        f"\r\n--{boundary}\r\nContent-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{headers}\r\n--{boundary}--\r\n")
    return text.encode("ascii")


def answer(delivery: Delivery, text: str, *, auto: bool = False, sender: str = "",
           html: str = "") -> bytes:
    reply = EmailMessage()
    reply["From"] = f"{delivery.recipient_name} <{sender or delivery.address}>"
    reply["To"] = "desk@example.com"
    reply["Subject"] = ("Automatic reply: " if auto else "Re: ") + delivery.subject
    reply["Date"] = format_datetime(T0 + 25 * MIN)
    reply["Message-ID"] = f"<answer-{delivery.id}-{auto}@example.com>"
    reply["In-Reply-To"] = delivery.email_message_id
    reply["References"] = delivery.email_message_id
    if auto:
        reply["Auto-Submitted"] = "auto-replied"
    reply.set_content(text)
    if html:
        reply.add_alternative(html, subtype="html")
    return reply.as_bytes(policy=email.policy.SMTP)


def entries(store, incident_id: int, kind: TimelineKind) -> list[TimelineEntry]:
    with store.reading() as session:
        rows = session.scalars(select(TimelineEntry).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind.value)
            .order_by(TimelineEntry.id)).all()
        session.expunge_all()
        return list(rows)


@pytest.fixture
def sent_letter(store, frozen_clock, incidents, hipaa_client, people, clocks):  # noqa: F811
    """A HIPAA incident whose notice to individuals went to a customer and the legal team,
    was sent, and met the clock."""
    incident_id = open_incident(incidents, hipaa_client, impact_regulatory=True)
    clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=2))
    frozen_clock.set(T0 + 10 * MIN)
    letter = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Cal Customer"], people["Lee Legal"]])
    frozen_clock.set(T0 + 13 * MIN)
    assert flush(store, frozen_clock).sent == 2
    clocks.mark_satisfied(incident_id, "hipaa_individuals", letter)
    assert regulatory(clocks.evaluate(incident_id))["hipaa_individuals"].status == \
        ClockStatus.SATISFIED
    frozen_clock.set(T0 + 30 * MIN)
    return incident_id, letter


def test_the_email_on_the_wire_carries_the_delivery_token(store, sent_letter):
    _incident, letter = sent_letter
    for d in deliveries_of(store, letter).values():
        parsed = email.message_from_bytes(d.wire, policy=email.policy.default)
        assert parsed["X-Clarion-Delivery"] == d.idempotency_key
        assert parsed["Message-ID"] == d.email_message_id


def test_a_bounce_matched_by_token_marks_bounced_reopens_the_clock_and_is_due_next(
        store, frozen_clock, sent_letter, account_id, clocks):  # noqa: F811
    incident_id, letter = sent_letter
    cal = deliveries_of(store, letter)["Cal Customer"]
    bus = EventBus()
    told: list = []
    bus.subscribe(MAILBOX_READ, told.append)
    recorder = MailboxRecorder(store, frozen_clock, bus)

    result = recorder.record(account_id, FOLDER, VALIDITY,
                             [ReadMail(7, dsn(cal, rewrite_message_id=True))])

    assert [(r.kind, r.delivery_id, r.urgent) for r in result.recorded] == \
        [("bounce", cal.id, True)]
    assert result.recorded[0].reopened == ("HIPAA §164.404 — notify affected individuals",)
    after = deliveries_of(store, letter)
    assert after["Cal Customer"].state == DeliveryState.BOUNCED
    assert after["Cal Customer"].bounced_at == T0 + 30 * MIN
    assert "User unknown" in after["Cal Customer"].bounce_reason
    assert after["Lee Legal"].state == DeliveryState.SENT
    [bounced] = entries(store, incident_id, TimelineKind.DELIVERY_BOUNCED)
    assert bounced.data["delivery_id"] == cal.id and bounced.data["status"] == "5.1.1"
    assert bounced.actor == "Clarion (mailbox)"
    [reopened] = entries(store, incident_id, TimelineKind.CLOCK_REOPENED)
    assert reopened.data["rule_id"] == "hipaa_individuals"
    # the clock is open again, and the bounce is the first thing due
    snapshot = clocks.evaluate(incident_id)
    assert regulatory(snapshot)["hipaa_individuals"].satisfied is None
    rows = clock_rows(snapshot, frozen_clock.now())
    assert rows[0].kind == "bounce" and rows[0].urgency == OVERDUE
    assert rows[0].title == f"Customer notification bounced: Cal Customer <{cal.address}>"
    assert rows[0].stakeholder_ids == (cal.stakeholder_id,)
    overdue = clocks.overdue_unreminded([incident_id])[incident_id][1]
    assert overdue[0][2] == rows[0].title
    assert told and told[0][0].delivery_id == cal.id
    with store.reading() as session:
        position = session.get(MailboxPosition, (account_id, FOLDER))
        assert (position.uidvalidity, position.last_uid) == (VALIDITY, 7)

    # read again (a restart before the position moved, or the same message under a new
    # UIDVALIDITY): nothing is recorded twice
    again = recorder.record(account_id, FOLDER, VALIDITY, [ReadMail(7, dsn(cal))])
    assert not again.recorded and [x.why for x in again.left_alone] == ["already recorded"]
    renumbered = recorder.record(account_id, FOLDER, VALIDITY + 1, [ReadMail(2, dsn(cal))])
    assert not renumbered.recorded
    assert len(entries(store, incident_id, TimelineKind.DELIVERY_BOUNCED)) == 1

    # sent again to the same address: it will bounce again, so it is still due; sent to the
    # customer's corrected address: no longer
    def bounce_rows() -> list:
        return [r for r in clock_rows(clocks.evaluate(incident_id), frozen_clock.now())
                if r.kind == "bounce"]
    frozen_clock.set(T0 + 40 * MIN)
    queue(store, frozen_clock, incident_id, "regulatory_notification", [cal.stakeholder_id])
    assert len(bounce_rows()) == 1
    from app.domain.dto import ContactPointData, StakeholderData
    from app.stakeholders.service import StakeholderService

    directory = StakeholderService(store, frozen_clock)
    person = directory.get(cal.stakeholder_id)
    directory.update(person.id, StakeholderData(
        client_id=person.client_id, name=person.name, category=person.category,
        contacts=(ContactPointData("email", "cal@corrected.example.com", 1),)))
    queue(store, frozen_clock, incident_id, "regulatory_notification", [cal.stakeholder_id])
    assert bounce_rows() == []


def test_a_bounce_of_one_of_two_audience_deliveries_keeps_the_clock_met(
        store, frozen_clock, incidents, hipaa_client, people, clocks, account_id):  # noqa: F811
    incident_id = open_incident(incidents, hipaa_client, impact_regulatory=True)
    clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=2))
    letter = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Cal Customer"], people["Cora Customer"]])
    flush(store, frozen_clock)
    clocks.mark_satisfied(incident_id, "hipaa_individuals", letter)
    cora = deliveries_of(store, letter)["Cora Customer"]
    result = MailboxRecorder(store, frozen_clock).record(account_id, FOLDER, VALIDITY,
                                                         [ReadMail(1, dsn(cora))])
    assert result.recorded[0].kind == "bounce" and result.recorded[0].reopened == ()
    assert not entries(store, incident_id, TimelineKind.CLOCK_REOPENED)
    assert regulatory(clocks.evaluate(incident_id))["hipaa_individuals"].status == \
        ClockStatus.SATISFIED


def test_a_delay_notice_and_unrelated_mail_are_left_alone(store, frozen_clock, sent_letter,
                                                          account_id):
    _incident, letter = sent_letter
    cal = deliveries_of(store, letter)["Cal Customer"]
    newsletter = EmailMessage()
    newsletter["From"] = "news@vendor.example"
    newsletter["Subject"] = "Our December offers"
    newsletter["Message-ID"] = "<n1@vendor.example>"
    newsletter.set_content("Buy now.")
    result = MailboxRecorder(store, frozen_clock).record(account_id, FOLDER, VALIDITY, [
        ReadMail(3, dsn(cal, status="4.4.1", action="delayed")),
        ReadMail(4, newsletter.as_bytes())])
    assert not result.recorded and result.unmatched == 1
    assert [x.kind for x in result.left_alone] == ["delay"]
    assert deliveries_of(store, letter)["Cal Customer"].state == DeliveryState.SENT
    with store.reading() as session:
        assert session.scalars(select(InboundMail)).all() == []
        assert session.get(MailboxPosition, (account_id, FOLDER)).last_uid == 4


def test_an_automatic_reply_is_recorded_on_the_delivery_and_a_reply_is_listed_to_handle(
        store, frozen_clock, sent_letter, account_id):
    incident_id, letter = sent_letter
    lee = deliveries_of(store, letter)["Lee Legal"]
    recorder = MailboxRecorder(store, frozen_clock)
    result = recorder.record(account_id, FOLDER, VALIDITY, [
        ReadMail(10, answer(lee, "I am out of the office until Monday.", auto=True)),
        ReadMail(11, answer(lee, "Which records were affected? We need the list by noon.\n\n"
                                 "On Mon, 2 Mar 2026 at 09:13, Desk <desk@example.com> wrote:\n"
                                 "> The mailbox server is down.\n> Next update at 10:00.\n"))])
    assert [r.kind for r in result.recorded] == ["auto_reply", "reply"]
    after = deliveries_of(store, letter)["Lee Legal"]
    assert after.state == DeliveryState.SENT            # an answer does not change the state
    assert after.auto_reply_at == T0 + 30 * MIN
    assert "out of the office" in after.auto_reply_text
    [auto] = entries(store, incident_id, TimelineKind.AUTO_REPLY)
    assert auto.summary.startswith("Automatic reply from Lee Legal")
    [reply_entry] = entries(store, incident_id, TimelineKind.REPLY_RECEIVED)
    assert "Which records were affected?" in reply_entry.summary

    replies = RepliesService(store, frozen_clock, actor="Test Coordinator")
    [reply] = replies.list(incident_id)                 # the out-of-office is not listed
    assert reply.kind == "reply" and reply.delivery_id == lee.id
    assert reply.message_id == letter
    assert reply.text == "Which records were affected? We need the list by noon."
    assert replies.open_count(incident_id) == 1
    handled = replies.mark_handled(reply.id)
    assert handled.handled_by == "Test Coordinator" and handled.handled_at == T0 + 30 * MIN
    assert replies.list(incident_id, include_handled=False) == []
    assert [e.data["inbound_id"] for e in entries(store, incident_id,
                                                  TimelineKind.REPLY_HANDLED)] == [reply.id]
    assert replies.mark_handled(reply.id, handled=False).handled_at is None
    assert replies.open_count(incident_id) == 1


def test_mail_about_a_closed_incident_is_left_alone(store, frozen_clock, incidents,
                                                    sent_letter, account_id):
    incident_id, letter = sent_letter
    cal = deliveries_of(store, letter)["Cal Customer"]
    incidents.move_phase(incident_id, Phase.RESOLVED)
    incidents.move_phase(incident_id, Phase.CLOSED)
    result = MailboxRecorder(store, frozen_clock).record(account_id, FOLDER, VALIDITY,
                                                         [ReadMail(1, dsn(cal))])
    assert not result.recorded and "closed" in result.left_alone[0].why
    assert deliveries_of(store, letter)["Cal Customer"].state == DeliveryState.SENT
    with pytest.raises(RepliesError):
        lee = deliveries_of(store, letter)["Lee Legal"]
        with store.session() as session, session.begin():
            session.add(InboundMail(account_id=account_id, folder=FOLDER, uidvalidity=1, uid=1,
                                    kind="reply", incident_id=incident_id, delivery_id=lee.id,
                                    received_at=T0))
        [row] = RepliesService(store, frozen_clock).list(incident_id)
        RepliesService(store, frozen_clock).mark_handled(row.id)


def test_every_mailbox_write_moves_the_incidents_change_counter(store, frozen_clock, sent_letter,
                                                                account_id):
    """DESIGN: clocks re-evaluate an incident only when its counter moved; a bounce, an
    automatic reply, a reply and marking one handled are writes the clocks read."""
    from app.clocks.changes import change_counter

    incident_id, letter = sent_letter
    sent = deliveries_of(store, letter)

    def counter() -> object:
        with store.reading() as session:
            return change_counter(session, incident_id)
    recorder = MailboxRecorder(store, frozen_clock)
    for uid, raw in enumerate((dsn(sent["Cal Customer"]),
                               answer(sent["Lee Legal"], "Away.", auto=True),
                               answer(sent["Lee Legal"], "Noted.")), start=1):
        before = counter()
        assert recorder.record(account_id, FOLDER, VALIDITY, [ReadMail(uid, raw)]).recorded
        assert counter() != before, uid
    replies = RepliesService(store, frozen_clock, actor="Test Coordinator")
    [reply] = replies.list(incident_id)
    before = counter()
    replies.mark_handled(reply.id)
    assert counter() != before
