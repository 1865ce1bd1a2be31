"""CSV export (app/stakeholders/export.py): the file Excel opens, atomic writing, and the
export → import round trip."""

from __future__ import annotations

import csv
import dataclasses

import pytest

import app.stakeholders.export as importing
from app.stakeholders.clients import ensure_default_organisation
from app.domain.dto import ContactPointData as CP
from app.domain.dto import StakeholderData
from app.stakeholders.export import EXPORT_COLUMNS, export_csv
from app.stakeholders.importing.apply import apply_import
from app.stakeholders.importing.columns import guess_columns
from app.stakeholders.importing.plan import plan_csv_import
from app.stakeholders.importing.read import read_csv_preview
from app.stakeholders.service import StakeholderService
from app.storage import Store

SPEC_COLUMNS = ["name", "role", "organisation", "category", "information_need", "timing_need",
                "detail_level", "max_silence_minutes", "active", "notes", "email", "sms",
                "phone", "slack", "teams", "webhook"]


@pytest.fixture
def service(store, frozen_clock) -> StakeholderService:
    return StakeholderService(store, frozen_clock)


@pytest.fixture
def people(service, client_id):
    rows = [
        StakeholderData(
            client_id=client_id, name="Ann Lee", category="executives", role="CTO",
            notes='Two lines,\nwith "quotes" and a comma', preferred_channel="sms",
            contacts=(CP("email", "ann@example.com", 1), CP("email", "ann.lee@example.org", 2),
                      CP("sms", "+12065550101", 3), CP("phone", "+14255550102", 4))),
        StakeholderData(
            client_id=client_id, name="=SUM(A1:A9)", category="media", role="-1 reporter",
            notes="@mention me", contacts=(CP("phone", "+442079460958", 1),)),
        StakeholderData(
            client_id=client_id, name="Bob Stone", category="it_staff_msp",
            information_need="Everything, raw", timing_need="if_needed", detail_level="simple",
            max_silence_minutes=5, active=False, preferred_channel="slack",
            contacts=(CP("sms", "+12065550103", 1), CP("sms", "+12065550104", 2),
                      CP("slack", "https://hooks.slack.com/services/T0/B0/x?a=1,2", 3),
                      CP("teams", "https://example.webhook.office.com/hook;v=2", 4),
                      CP("webhook", "https://example.com/hook", 5))),
        StakeholderData(client_id=client_id, name="Zoë Ørsted", category="customers"),
    ]
    return [service.create(r) for r in rows]


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_export_writes_one_row_per_stakeholder_with_a_bom(tmp_path, service, client_id,
                                                         people):
    path = tmp_path / "map.csv"
    assert export_csv(service.list(client_id), path) == 4
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfname,role,organisation,category,")
    rows = read_rows(path)
    assert rows[0][:16] == SPEC_COLUMNS and rows[0] == list(EXPORT_COLUMNS)
    assert len(rows) == 5
    by_name = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    ann = by_name["Ann Lee"]
    assert (ann["organisation"], ann["category"], ann["active"], ann["max_silence_minutes"]) \
        == ("My organisation", "executives", "yes", "60")
    assert ann["email"] == "ann@example.com; ann.lee@example.org"
    assert (ann["sms"], ann["phone"], ann["preferred_channel"]) == \
        ("+12065550101", "+14255550102", "sms")
    assert ann["notes"] == 'Two lines,\nwith "quotes" and a comma'
    bob = by_name["Bob Stone"]
    assert (bob["active"], bob["timing_need"], bob["sms"]) == \
        ("no", "if_needed", "+12065550103; +12065550104")
    zoe = by_name["Zoë Ørsted"]
    assert zoe["max_silence_minutes"] == "" and zoe["email"] == ""


def test_formulas_are_neutralised_but_phone_numbers_are_not(tmp_path, service, client_id,
                                                           people):
    path = tmp_path / "map.csv"
    export_csv(service.list(client_id), path)
    rows = read_rows(path)[1:]
    evil = next(r for r in rows if "SUM" in r[0])
    assert evil[0] == "'=SUM(A1:A9)" and evil[1] == "'-1 reporter" and evil[9] == "'@mention me"
    assert evil[12] == "+442079460958"  # a bare number stays a number
    bob = next(r for r in rows if r[0] == "Bob Stone")
    assert bob[11] == "+12065550103; +12065550104"
    assert sum(1 for r in rows for cell in r if cell.startswith("'")) == 3


def test_export_import_round_trip(tmp_path, service, client_id, people, frozen_clock):
    path = tmp_path / "map.csv"
    export_csv(service.list(client_id), path)

    other = Store.open(tmp_path / "other" / "clarion.db")
    try:
        other_client = ensure_default_organisation(other, frozen_clock).id
        target = StakeholderService(other, frozen_clock)
        preview = read_csv_preview(path)
        assert (preview.encoding, preview.delimiter, preview.total_rows) == ("utf-8", ",", 4)
        mapping = guess_columns(preview.headers)
        assert {preview.headers[i] for i, u in mapping.items() if u.imported} \
            == set(EXPORT_COLUMNS) - {"organisation"}
        assert "the client it was exported from" in \
            mapping[preview.headers.index("organisation")].reason
        plan = plan_csv_import(path, mapping, other_client, "GB", [])
        assert plan.problems == () and plan.duplicates == ()
        apply_import(target, plan, True, [])

        def comparable(s):
            return dataclasses.replace(s.data(), client_id=0)

        before = {s.name: comparable(s) for s in service.list(client_id)}
        after = {s.name: comparable(s) for s in target.list(other_client)}
        assert after == before
        assert after["=SUM(A1:A9)"].notes == "@mention me"

        # and importing the same export again finds every stakeholder a duplicate
        again = plan_csv_import(path, mapping, other_client, "GB", target.list(other_client))
        assert len(again.duplicates) == 4 and again.new == ()
        # Zoë has no contact point: she is met again by her name
        assert [d.matched_on for d in again.duplicates if d.data.name == "Zoë Ørsted"] == [
            "name Zoë Ørsted"]
    finally:
        other.dispose()


def test_export_replaces_the_file_atomically(tmp_path, service, client_id, people,
                                             monkeypatch):
    path = tmp_path / "map.csv"
    path.write_text("previous export\n")
    real = importing.export_row
    calls = []

    def failing(s):
        calls.append(s.id)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(s)

    monkeypatch.setattr(importing, "export_row", failing)
    with pytest.raises(importing.ClarionError, match="No space left"):
        export_csv(service.list(client_id), path)
    assert path.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["map.csv"]

    monkeypatch.undo()
    assert export_csv(service.list(client_id), path) == 4
    assert len(read_rows(path)) == 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["map.csv"]


def test_an_empty_map_exports_the_header_only(tmp_path):
    path = tmp_path / "empty.csv"
    assert export_csv([], path) == 0
    assert read_rows(path) == [list(EXPORT_COLUMNS)]
    with pytest.raises(importing.ClarionError, match="Cannot write in"):
        export_csv([], tmp_path / "missing-folder" / "x.csv")
