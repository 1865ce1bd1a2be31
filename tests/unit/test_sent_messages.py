"""Reading back what was sent (app/messages/sent.py): messages with their variants (one per
template form, the copies compared without each recipient's name), recipients counted by state
and named when not sent, the raw source of one delivery in each of its lives, the plain-text
description `clarion messages` prints."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.domain.enums import DeliveryState as S, Severity
from app.domain.models import Client, Delivery, Message
from app.errors import NotFound
from app.messages.sent import (
    NOT_KEPT, counts_text, describe, format_time, list_messages, load_message, raw_source,
)
from app.sending.channels.drill import DrillSender
from app.timefmt import zone_named
from tests.outbox_support import add_account
from tests.unit.test_outbox import make_outbox


@pytest.fixture
def incident(incidents, client_id, frozen_clock, store):
    with store.session() as s, s.begin():
        s.execute(update(Client).values(time_zone="America/Los_Angeles"))
    return incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


def queue(store, clock, incident_id, people, template_type="status_update", drill=False):
    """One message; people: (name, address, channel, template_key, state, last_error)."""
    now = clock.now()
    with store.session() as s, s.begin():
        msg = Message(incident_id=incident_id, template_type=template_type, template_keys=[],
                      audience={}, created_at=now, created_by="Dana Brooks", is_drill=drill)
        s.add(msg)
        s.flush()
        rows = []
        for name, address, channel, key, state, error in people:
            level = key.split("/")[1]
            rows.append(Delivery(
                message_id=msg.id, recipient_name=name, channel=channel, address=address,
                detail_level=level, template_key=key,
                subject=f"Portal down ({level})" if channel == "email" else "",
                body_text=f"Hello {name},\n\nThe portal is down ({level}).",
                body_html=f"<p>Hello {name}</p>" if channel == "email" else "",
                email_message_id=f"<{uuid.uuid4().hex}@x>", idempotency_key=uuid.uuid4().hex,
                state=S(state), attempts=0 if state == "queued" else 1, last_error=error,
                next_attempt_at=now, created_at=now, updated_at=now))
        s.add_all(rows)
        s.flush()
        return msg.id, [r.id for r in rows]


TECH, SIMPLE, SMS = ("status_update/technical/email", "status_update/simple/email",
                     "status_update/simple/sms")


def test_a_message_reads_back_by_template_form_with_every_recipient(store, frozen_clock,
                                                                    incident):
    mid, ids = queue(store, frozen_clock, incident.id, [
        ("Alex Novak", "alex@example.com", "email", TECH, "sent", ""),
        ("Ben Ortiz", "ben@example.com", "email", TECH, "failed", "550 5.1.1 No such user"),
        ("Front desk", "desk@example.com", "email", SIMPLE, "unknown", "connection lost"),
        ("Maya Lind", "+12065550101", "sms", SMS, "cancelled", ""),
        ("Cy Lead", "cy@example.com", "email", TECH, "queued", "")])
    sent = load_message(store, mid)
    assert sent.incident_title == "Portal down" and sent.summary.type_label == "Status update"
    assert [(v.channel, v.detail_level, [r.name for r in v.recipients]) for v in sent.variants] \
        == [("email", "technical", ["Alex Novak", "Ben Ortiz", "Cy Lead"]),
            ("email", "simple", ["Front desk"]), ("sms", "simple", ["Maya Lind"])]
    tech = sent.variants[0]
    assert (tech.subject, tech.text, tech.html) == (
        "Portal down (technical)", "Hello Alex Novak,\n\nThe portal is down (technical).",
        "<p>Hello Alex Novak</p>")
    assert tech.same_for_all                    # the copies differ only by the name
    assert tech.counts == {"sent": 1, "failed": 1, "queued": 1}
    assert [(r.name, r.last_error) for r in tech.not_sent] == [
        ("Ben Ortiz", "550 5.1.1 No such user")]
    assert sent.summary.counts == {"sent": 1, "failed": 1, "unknown": 1, "cancelled": 1,
                                   "queued": 1}
    assert counts_text(sent.summary.counts) == "1 sent, 1 failed, 1 unknown, 1 cancelled, 1 queued"
    # a copy that says more than the name is not "the same for all"
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == ids[1])
                  .values(body_text="Hello Ben Ortiz,\n\nSomething else entirely."))
    assert not load_message(store, mid).variants[0].same_for_all
    with pytest.raises(NotFound):
        load_message(store, 999)


def test_the_incidents_messages_are_listed_oldest_first_with_their_counts(store, frozen_clock,
                                                                          incident):
    first, _ = queue(store, frozen_clock, incident.id, [
        ("Alex Novak", "alex@example.com", "email", TECH, "sent", "")],
        template_type="initial_acknowledgment")
    frozen_clock.advance(minutes=30)
    second, _ = queue(store, frozen_clock, incident.id, [
        ("Maya Lind", "+12065550101", "sms", SMS, "sent", ""),
        ("Cy Lead", "+12065550102", "sms", SMS, "failed", "21211")], drill=True)
    listed = list_messages(store, incident.id)
    assert [(m.id, m.type_label, m.subject, m.recipients, m.counts, m.is_drill)
            for m in listed] == [
        (first, "Initial acknowledgment", "Portal down (technical)", 1, {"sent": 1}, False),
        (second, "Status update", "Hello Maya Lind, The portal is down (simple).", 2,
         {"sent": 1, "failed": 1}, True)]
    assert list_messages(store, incident.id + 1) == []


def test_times_are_the_clients_with_the_zones_abbreviation(frozen_clock):
    la = zone_named("America/Los_Angeles")
    assert format_time(frozen_clock.now(), la) == "2026-03-02 01:00 PST"
    assert format_time(frozen_clock.now() + timedelta(days=30), la) == "2026-04-01 02:00 PDT"
    assert format_time(frozen_clock.now(), zone_named("Not/AZone")) == "2026-03-02 09:00 UTC"
    assert format_time(None, la) == ""


def test_the_raw_source_in_each_life_of_a_delivery(store, frozen_clock, incident):
    mid, ids = queue(store, frozen_clock, incident.id, [
        ("Alex Novak", "alex@example.com", "email", TECH, "queued", ""),
        ("Maya Lind", "+12065550101", "sms", SMS, "queued", ""),
        ("Old", "old@example.com", "email", TECH, "queued", ""),
        ("Cancelled", "c@example.com", "email", TECH, "cancelled", ""),
        ("Refused", "r@example.com", "email", TECH, "failed", "The subject contains a line "
                                                              "break (CR/LF): refused")])
    assert raw_source(store, ids[0]).note == ("Not built yet: the content is fixed when the "
                                              "delivery is first sent.")
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id.in_(ids[2:4]))
                  .values(state=S.CANCELLED, attempts=0))
        s.execute(update(Delivery).where(Delivery.id == ids[2]).values(wire=b"", attempts=1))
        s.execute(update(Delivery).where(Delivery.id == ids[4]).values(attempts=1))
    drill = add_account(store, frozen_clock, "drill", "Drill inbox")
    sender = DrillSender(drill)
    outbox = make_outbox(store, frozen_clock, {c: (drill, sender) for c in ("email", "sms")})
    asyncio.run(outbox.flush())

    mail = raw_source(store, ids[0])
    assert mail.kept and mail.channel == "email"
    assert "To: Alex Novak <alex@example.com>\n" in mail.text and "\r" not in mail.text
    assert "Subject: Portal down (technical)\n" in mail.text
    assert "Date: Mon, 02 Mar 2026 09:00:00 +0000\n" in mail.text
    sms = raw_source(store, ids[1])
    assert sms.kept and sms.text.startswith(
        "To: +12065550101\nBody: Hello Maya Lind,\n\nThe portal is down (simple).\nFrom: ")
    assert sms.text.endswith("\n\nTo=%2B12065550101&Body=Hello+Maya+Lind%2C%0A%0AThe+portal+is"
                             "+down+%28simple%29.&From=%2B15005550006")
    assert (raw_source(store, ids[2]).kept, raw_source(store, ids[2]).note) == (False, NOT_KEPT)
    assert raw_source(store, ids[3]).note == "Never sent: cancelled before its first try."
    assert raw_source(store, ids[4]).note == ("Nothing was built to send: The subject contains "
                                              "a line break (CR/LF): refused")
    with pytest.raises(NotFound):
        raw_source(store, 10_000)


def test_the_description_names_what_was_not_sent_and_full_adds_the_texts(store, frozen_clock,
                                                                         incident):
    mid, _ = queue(store, frozen_clock, incident.id, [
        ("Alex Novak", "alex@example.com", "email", TECH, "sent", ""),
        ("Ben Ortiz", "ben@example.com", "email", TECH, "failed", "550 5.1.1 No such user"),
        ("Maya Lind", "+12065550101", "sms", SMS, "sent", "")], drill=True)
    short = describe(load_message(store, mid))
    assert short.splitlines() == [
        f"Message {mid} (drill): Status update, queued 2026-03-02 01:00 PST by Dana Brooks — "
        f"3 recipients: 2 sent, 1 failed",
        "  Variant 1 · email · technical · subject “Portal down (technical)” — 2: 1 sent, "
        "1 failed",
        "    failed: Ben Ortiz <ben@example.com>: 550 5.1.1 No such user",
        "  Variant 2 · sms · simple · “Hello Maya Lind, The portal is down (simple).” — 1: "
        "1 sent"]
    full = describe(load_message(store, mid), full=True).splitlines()
    assert full[2:8] == [
        "    As sent to Alex Novak (every recipient's copy is this one with their own name):",
        "    Subject: Portal down (technical)",
        "    Hello Alex Novak,", "", "    The portal is down (technical).",
        "    (also sent as HTML)"]
