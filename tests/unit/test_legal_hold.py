"""Legal hold (app/reports/legal_hold.py): the mbox holds the stored bytes of every email
delivery (or one per variant), read back with the standard library's `mailbox`; the CSV beside
it has every delivery of every channel; neither is half-written nor readable by others."""

from __future__ import annotations

import asyncio
import csv
import mailbox
import stat

import pytest
from sqlalchemy import update

from app.domain.models import Delivery
from app.errors import ClarionError, NotFound
from app.reports.legal_hold import CSV_COLUMNS, csv_path_for, export_legal_hold
from app.sending.channels.drill import DrillSender
from tests.outbox_support import add_account
from tests.unit.test_outbox import make_outbox
from tests.unit.test_sent_messages import SIMPLE, SMS, TECH, incident, queue  # noqa: F401


def stored(store, ids):
    with store.session() as s:
        return {i: s.get(Delivery, i).wire for i in ids}


@pytest.fixture
def sent(store, frozen_clock, incident):  # noqa: F811 - the fixture imported above
    """Two messages through the drill inbox: emails in two variants, one with a body line
    that begins with "From ", an SMS, one email sent before bytes were kept, one queued."""
    first, a = queue(store, frozen_clock, incident.id, [
        ("Alex Novak", "alex@example.com", "email", TECH, "queued", ""),
        ("Ben Ortiz", "ben@example.com", "email", TECH, "queued", ""),
        ("Front desk", "desk@example.com", "email", SIMPLE, "queued", ""),
        ("Maya Lind", "+12065550101", "sms", SMS, "queued", "")])
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == a[1])
                  .values(body_text="Hello Ben Ortiz,\nFrom now on, use the VPN."))
    drill = add_account(store, frozen_clock, "drill", "Drill inbox")
    sender = DrillSender(drill)
    asyncio.run(make_outbox(store, frozen_clock, {
        c: (drill, sender) for c in ("email", "sms")}).flush())
    frozen_clock.advance(minutes=20)
    second, b = queue(store, frozen_clock, incident.id, [
        ("Old copy", "old@example.com", "email", TECH, "sent", ""),
        ("Later", "later@example.com", "email", TECH, "queued", "")])
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == b[0]).values(wire=b""))
    return incident.id, a, b


def test_every_email_as_stored_one_mbox_message_each_and_every_delivery_in_the_csv(
        store, tmp_path, sent):
    incident_id, a, b = sent
    out = tmp_path / "out"
    out.mkdir()
    path = out / "hold.mbox"
    files = export_legal_hold(store, incident_id, path)
    assert (files.mbox, files.csv) == (path, out / "hold.deliveries.csv")
    assert (files.in_mbox, files.deliveries, files.emails_without_source) == (3, 6, 2)

    box = mailbox.mbox(str(path))
    got = list(box)
    assert len(got) == 3
    wires = stored(store, a)
    for key, message, delivery_id in zip(box.keys(), got, a[:3]):
        # the stored bytes, with the mbox's own line ends; a body line that began with
        # "From " is quoted, as mbox readers expect
        expected = wires[delivery_id].replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
        assert box.get_bytes(key) == expected
        assert message.get_from() == "drill@clarion.invalid Mon Mar  2 09:00:00 2026"
    assert b"\n>From now on, use the VPN." in box.get_bytes(box.keys()[1])
    box.close()

    with open(files.csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [(r["recipient"], r["channel"], r["state"], r["source_in_mbox"]) for r in rows] == [
        ("Alex Novak", "email", "sent", "yes"), ("Ben Ortiz", "email", "sent", "yes"),
        ("Front desk", "email", "sent", "yes"), ("Maya Lind", "sms", "sent", "no: not an email"),
        ("Old copy", "email", "sent", "no: not kept"),
        ("Later", "email", "queued", "no: not sent yet")]
    sms = rows[3]
    assert sms["text"] == "Hello Maya Lind,\n\nThe portal is down (simple)."
    assert sms["address"] == "+12065550101"      # a phone number is not taken for a formula
    assert (rows[0]["queued_at_utc"], rows[0]["sent_at_utc"]) == ("2026-03-02T09:00:00Z",) * 2
    assert rows[0]["subject"] == "Portal down (technical)" and rows[0]["text"] == ""
    for f in (files.mbox, files.csv):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600   # personal data: the owner only
    assert sorted(p.name for p in out.iterdir()) == ["hold.deliveries.csv", "hold.mbox"]


def test_per_variant_keeps_one_example_of_each(store, tmp_path, sent):
    incident_id, a, _ = sent
    files = export_legal_hold(store, incident_id, tmp_path / "v.mbox", per_variant=True)
    assert files.in_mbox == 2
    box = mailbox.mbox(str(files.mbox))
    assert [m["To"] for m in box] == ["Alex Novak <alex@example.com>",
                                      "Front desk <desk@example.com>"]
    box.close()
    with open(files.csv, encoding="utf-8-sig", newline="") as fh:
        marks = [r["source_in_mbox"] for r in csv.DictReader(fh)]
    assert marks[:3] == ["yes", "no: one copy per variant", "yes"]


def test_an_unknown_incident_or_an_unwritable_place_writes_nothing(store, tmp_path, sent):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(NotFound):
        export_legal_hold(store, 999, out / "x.mbox")
    (out / "old.mbox").write_text("kept")
    with pytest.raises(ClarionError, match="it is a folder"):
        export_legal_hold(store, sent[0], out)
    with pytest.raises(ClarionError, match="Cannot write in"):
        export_legal_hold(store, sent[0], out / "missing" / "x.mbox")
    (out / "old.deliveries.csv").mkdir()      # the CSV cannot be written: nor is the mbox
    with pytest.raises(ClarionError, match="it is a folder"):
        export_legal_hold(store, sent[0], out / "old.mbox")
    assert sorted(p.name for p in out.iterdir()) == ["old.deliveries.csv", "old.mbox"]
    assert (out / "old.mbox").read_text() == "kept"
    assert csv_path_for(tmp_path / "hold") == tmp_path / "hold.deliveries.csv"
