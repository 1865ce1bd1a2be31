"""`clarion messages INCIDENT [--demo] [--full]` as a process, on a freshly seeded demo: every
message of the incident with its variants and counts, the texts with --full, one line and exit
code 2 for an incident it cannot find; and the demo's drill deliveries keep their wire bytes."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.integration.test_export_cli import PORTAL, clarion


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    from sqlalchemy import select

    from app.clock import SystemClock
    from app.demo.seed import ensure_demo
    from app.domain.models import Delivery, Message
    from app.incidents.lifecycle import IncidentService
    from app.storage import Store

    data_dir = tmp_path_factory.mktemp("clarion-data")
    db = data_dir / "demo" / "clarion-demo.db"
    db.parent.mkdir(parents=True)
    ensure_demo(db, SystemClock())
    store = Store.open(db)
    try:
        portal = next(i for i in IncidentService(store, SystemClock()).list()
                      if i.title == PORTAL)
        with store.session() as s:
            rows = s.execute(select(Delivery.recipient_name, Delivery.subject, Delivery.wire,
                                    Delivery.state)
                             .join(Message, Message.id == Delivery.message_id)
                             .where(Message.incident_id == portal.id)).all()
    finally:
        store.dispose()
    return {"dir": data_dir, "id": portal.id, "rows": rows}


def test_the_demo_deliveries_were_built_as_real_sends_and_kept(demo):
    assert demo["rows"]
    for name, subject, wire, state in demo["rows"]:
        assert state.value == "sent" and wire, name
        parsed = email.message_from_bytes(wire, policy=email.policy.default)
        assert parsed["Subject"] == subject and parsed["To"].startswith(name)


def test_messages_prints_every_message_with_its_variants(demo):
    result = clarion("messages", str(demo["id"]), "--demo", data_dir=demo["dir"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{PORTAL}: 2 messages"
    heads = [line for line in lines if line.startswith("Message ")]
    assert len(heads) == 2 and "Initial acknowledgment, queued " in heads[0]
    assert all(f"{len(demo['rows']) // 2} recipients: {len(demo['rows']) // 2} sent" in h
               for h in heads)
    variants = [line for line in lines if line.startswith("  Variant ")]
    assert variants and all(" · email · " in v for v in variants)
    subjects = {subject for _, subject, _, _ in demo["rows"]}
    assert all(any(f"“{s}”" in v for v in variants) for s in subjects)
    assert "Hello " not in result.stdout            # the texts only with --full


def test_full_adds_each_variants_text(demo):
    result = clarion("messages", PORTAL[:12], "--demo", "--full", data_dir=demo["dir"])
    assert result.returncode == 0, result.stderr
    assert "    As sent to " in result.stdout and "    Hello " in result.stdout
    assert "    Subject: " in result.stdout


def test_an_unknown_incident_is_one_line_and_exit_code_2(demo):
    result = clarion("messages", "No such incident", "--demo", data_dir=demo["dir"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == ("clarion: no incident matches 'No such incident' "
                                     "(see `clarion incidents --all`)")


def test_export_mbox_holds_every_email_as_sent_and_a_csv_of_every_delivery(demo, tmp_path):
    import csv
    import mailbox

    out = tmp_path / "hold.mbox"
    result = clarion("export", PORTAL, "--demo", "--format", "mbox", "-o", str(out),
                     data_dir=demo["dir"])        # no --audience: not a report
    assert result.returncode == 0, result.stderr
    n = len(demo["rows"])
    assert result.stdout.splitlines() == [f"{out}: {n} emails as sent",
                                          f"{tmp_path / 'hold.deliveries.csv'}: {n} deliveries"]
    box = mailbox.mbox(str(out))
    try:
        wires = sorted(wire.replace(b"\r\n", b"\n") for _, _, wire, _ in demo["rows"])
        assert sorted(box.get_bytes(k) for k in box.keys()) == wires
    finally:
        box.close()
    with open(tmp_path / "hold.deliveries.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n and {r["source_in_mbox"] for r in rows} == {"yes"}
    assert sorted(r["recipient"] for r in rows) == sorted(name for name, *_ in demo["rows"])

    variants = clarion("export", PORTAL, "--demo", "--format", "mbox", "--per-variant",
                       "-o", str(tmp_path / "v.mbox"), data_dir=demo["dir"])
    assert variants.returncode == 0, variants.stderr
    assert int(variants.stdout.split(": ")[1].split()[0]) < n


def test_a_report_still_needs_its_audience(demo, tmp_path):
    result = clarion("export", PORTAL, "--demo", "-o", str(tmp_path / "r.html"),
                     data_dir=demo["dir"])
    assert result.returncode == 2 and not (tmp_path / "r.html").exists()
    assert result.stderr.strip() == "clarion: say --audience technical, executive or customer"
