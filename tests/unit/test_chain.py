"""The timeline's hash chain (app/domain/chain.py) and its verification (app/record/verify.py),
on a real migrated SQLite file: every way of appending is chained, a change made outside Clarion
is named, what must not break the chain does not."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import text

from app.domain import chain
from app.domain.chain import Content
from app.record.verify import chain_head, match_head, verify_incident
from app.storage.migrate import HEAD_REVISION

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = ROOT / "app" / "storage" / "migrations" / "versions" / "0014_timeline_hashes.py"


def frozen_migration():
    spec = importlib.util.spec_from_file_location("m0014", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


frozen_migration.cached = frozen_migration()


AT = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=timezone.utc)
SAMPLE = Content(incident_id=7, entry_id=42, at=AT, kind="note", actor="Dana Brooks",
                 coordinator_id=3, summary="Zoë confirmed 🚨 — مرحبا 王伟中",
                 data={"b": [1.0, 0.1, 1e20, None, True], "a": {"z": "x", "y": 2**70}})


def test_the_migration_hashes_with_the_same_encoding_as_the_application():
    m = frozen_migration()
    assert m.revision == "0014" and HEAD_REVISION >= "0014"
    for content, seq, previous in [(SAMPLE, 1, chain.GENESIS), (SAMPLE, 9, "ab" * 32),
                                   (Content(1, 2, AT.replace(microsecond=0), "k", "", None, "",
                                            {}), 1, chain.GENESIS),
                                   # whole floats past 2**53: the integer their short form names
                                   (Content(1, 3, AT, "k", "", None, "",
                                            {"x": 1e23, "y": float(2**60), "z": 1.5e300}), 2,
                                    chain.GENESIS)]:
        assert m.hash_v1(content.incident_id, content.entry_id, seq, content.at, content.kind,
                         content.actor, content.coordinator_id, content.summary, content.data,
                         previous) == chain.entry_hash(content, seq, previous)


_scalars = (st.none() | st.booleans() | st.integers(-2**80, 2**80) | st.text(max_size=8)
            | st.floats(allow_nan=False, allow_infinity=False))
_data = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                     | st.tuples(inner, inner)
                     | st.dictionaries(st.text(max_size=5) | st.integers(-9, 9), inner,
                                       max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(data=_data, summary=st.text(max_size=20), micro=st.integers(0, 999_999))
def test_the_quick_encoding_equals_the_frozen_one_for_any_data(data, summary, micro):
    """chain.py skips the storage round trip for data already as stored; the migration's
    frozen copy always takes it: any data must give the same hash both ways."""
    m = frozen_migration.cached
    content = Content(3, 9, AT.replace(microsecond=micro), "note", "Zoë", 2, summary, data)
    assert chain.entry_hash(content, 4, chain.GENESIS) == m.hash_v1(
        3, 9, 4, content.at, "note", "Zoë", 2, summary, data, chain.GENESIS)


def test_the_encoding_is_canonical_json_with_utc_at_fixed_precision():
    encoded = chain.encode(SAMPLE, 5, chain.GENESIS).decode("utf-8")
    assert encoded == (
        '["clarion-timeline",1,7,42,5,"2026-03-02T09:00:00.123456Z","note","Dana Brooks",3,'
        '"Zoë confirmed 🚨 — مرحبا 王伟中",'
        '{"a":{"y":1180591620717411303424,"z":"x"},"b":[1,0.1,100000000000000000000,null,true]},'
        f'"{chain.GENESIS}"]')


@pytest.mark.parametrize("same", [
    {"a": {"y": 2**70, "z": "x"}, "b": [1, 0.1, 10**20, None, True]},     # keys, numbers
    {"b": (Decimal("1.00"), Decimal("0.1"), Decimal("1E+20"), None, True),
     "a": {"z": "x", "y": 2**70}},                                       # PostgreSQL's numerics
])
def test_key_order_and_number_forms_do_not_change_the_hash(same):
    assert chain.entry_hash(SAMPLE, 1, chain.GENESIS) == chain.entry_hash(
        Content(**{**SAMPLE.__dict__, "data": same}), 1, chain.GENESIS)


def test_the_same_moment_in_another_zone_or_without_microseconds_is_written_alike():
    paris = AT.astimezone(ZoneInfo("Europe/Paris"))
    assert chain.utc_text(paris) == "2026-03-02T09:00:00.123456Z"
    assert chain.utc_text(AT.replace(tzinfo=None)) == "2026-03-02T09:00:00.123456Z"
    assert chain.utc_text(AT.replace(microsecond=0)) == "2026-03-02T09:00:00.000000Z"


@pytest.mark.parametrize("field,value", [
    ("incident_id", 8), ("entry_id", 43), ("at", AT + timedelta(microseconds=1)),
    ("kind", "decision"), ("actor", "Dana Brooks "), ("coordinator_id", None),
    ("summary", "Zoe confirmed 🚨 — مرحبا 王伟中"), ("data", {**SAMPLE.data, "c": 0}),
    ("data", {"a": SAMPLE.data["a"], "b": [1.5, 0.1, 1e20, None, True]}),
])
def test_every_field_is_covered_by_the_hash(field, value):
    changed = Content(**{**SAMPLE.__dict__, field: value})
    assert chain.entry_hash(changed, 1, chain.GENESIS) != chain.entry_hash(SAMPLE, 1,
                                                                          chain.GENESIS)


def test_the_sequence_number_and_the_previous_hash_are_covered():
    first = chain.entry_hash(SAMPLE, 1, chain.GENESIS)
    assert chain.entry_hash(SAMPLE, 2, chain.GENESIS) != first
    assert chain.entry_hash(SAMPLE, 1, "1" * 64) != first


# ---------------------------------------------------------------- on a real database


@pytest.fixture
def opened(incidents, client_id, frozen_clock):
    from app.domain.enums import Severity

    return incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV2,
                          detected_at=frozen_clock.now())


def links(store, incident_id):
    with store.engine.connect() as conn:
        return conn.execute(text(
            "SELECT h.seq, h.entry_id, h.hash FROM timeline_hashes h "
            "WHERE h.incident_id = :i ORDER BY h.seq"), {"i": incident_id}).all()


def tamper(store, *sql: str) -> None:
    """What someone with the sqlite3 shell could do: drop the triggers, change rows."""
    raw = store.engine.raw_connection()
    try:
        raw.execute("PRAGMA foreign_keys=OFF")
        for statement in ("DROP TRIGGER IF EXISTS timeline_entries_no_update",
                          "DROP TRIGGER IF EXISTS timeline_entries_no_delete",
                          "DROP TRIGGER IF EXISTS timeline_hashes_no_update",
                          "DROP TRIGGER IF EXISTS timeline_hashes_no_delete", *sql):
            raw.execute(statement)
        raw.commit()
    finally:
        raw.close()


def test_every_entry_gets_the_next_number_in_its_incident_as_it_is_appended(
        store, incidents, opened, client_id, frozen_clock):
    from app.domain.enums import Severity

    other = incidents.open(client_id=client_id, title="Mail slow", severity=Severity.SEV4,
                           detected_at=frozen_clock.now())
    incidents.add_note(opened.id, "first")
    incidents.add_note(other.id, "elsewhere")
    incidents.add_note(opened.id, "second")
    ours = links(store, opened.id)
    entries = [e.id for e in incidents.timeline(opened.id)]
    assert [r.seq for r in ours] == list(range(1, len(entries) + 1))
    assert [r.entry_id for r in ours] == entries
    assert [r.seq for r in links(store, other.id)] == [1, 2]
    report = verify_incident(store, opened.id)
    assert report.holds and report.hashed == len(entries) == report.head_seq
    assert (report.head_seq, report.head_hash) == chain_head(store, opened.id) == \
        (ours[-1].seq, ours[-1].hash)


def test_a_hash_is_written_in_the_appending_transaction_and_rolled_back_with_it(
        store, incidents, opened, frozen_clock):
    from app.domain.models import TimelineEntry

    before = links(store, opened.id)
    with pytest.raises(RuntimeError):
        with store.session() as s, s.begin():
            s.add(TimelineEntry(incident_id=opened.id, at=frozen_clock.now(), kind="note",
                                actor="x", summary="never kept", data={}))
            s.flush()
            assert len(s.execute(text("SELECT * FROM timeline_hashes WHERE incident_id = :i"),
                                 {"i": opened.id}).all()) == len(before) + 1
            raise RuntimeError("the operation fails after the entry was written")
    assert links(store, opened.id) == before
    assert verify_incident(store, opened.id).holds


def test_the_outbox_core_insert_is_chained_too(store, opened, frozen_clock):
    from app.sending.timeline import entry_row, insert_entries

    with store.session() as s, s.begin():
        written = insert_entries(s, [
            entry_row(opened.id, frozen_clock.now(), "delivery_sent", "outbox", f"Sent to {n}",
                      {"delivery_id": n, "state": "sent"}) for n in range(3)])
    assert [r.entry_id for r in links(store, opened.id)][-3:] == [e.id for e in written]
    assert verify_incident(store, opened.id).holds


def test_a_backdated_entry_keeps_the_chain(store, incidents, opened, frozen_clock):
    frozen_clock.advance(hours=2)
    incidents.add_note(opened.id, "now")
    frozen_clock.advance(hours=-5)      # an entry timed before the ones before it
    late = incidents.add_note(opened.id, "recorded late, timed earlier")
    timeline = incidents.timeline(opened.id)
    assert timeline[0].id == late.id               # shown first by its time...
    assert links(store, opened.id)[-1].entry_id == late.id   # ...chained last by its number
    assert verify_incident(store, opened.id).holds


def test_a_changed_summary_is_named_with_its_entry(store, incidents, opened):
    incidents.add_note(opened.id, "Root cause: expired certificate")
    target = incidents.add_note(opened.id, "Decided to notify the regulator at 10:00")
    incidents.add_note(opened.id, "later")
    tamper(store, f"UPDATE timeline_entries SET summary = 'Decided to wait' "
                  f"WHERE id = {target.id}")
    report = verify_incident(store, opened.id)
    assert not report.holds
    assert report.broken.entry_id == target.id
    assert report.broken.summary == "Decided to wait"
    assert "does not match its hash" in report.broken.reason


@pytest.mark.parametrize("column,value", [
    ("at", "'2026-03-02 08:00:00.000000'"), ("kind", "'decision'"), ("actor", "'Someone else'"),
    ("coordinator_id", "999"), ("data", "'{\"note\": \"changed\"}'")])
def test_any_changed_column_is_found(store, incidents, opened, column, value):
    target = incidents.add_note(opened.id, "kept")
    tamper(store, f"UPDATE timeline_entries SET {column} = {value} WHERE id = {target.id}")
    assert verify_incident(store, opened.id).broken.entry_id == target.id


def test_reordered_json_keys_in_data_do_not_break_the_chain(store, opened, frozen_clock):
    from app.domain.models import TimelineEntry

    with store.session() as s, s.begin():
        entry = TimelineEntry(incident_id=opened.id, at=frozen_clock.now(), kind="decision",
                              actor="Dana", summary="s",
                              data={"alpha": 1, "beta": {"x": 1.0, "y": [2, 3]}, "gamma": "ü"})
        s.add(entry)
        s.flush()
        entry_id = entry.id
    rewritten = json.dumps({"gamma": "ü", "beta": {"y": [2, 3], "x": 1}, "alpha": 1.0},
                           ensure_ascii=True, indent=2)
    tamper(store, f"UPDATE timeline_entries SET data = '{rewritten}' WHERE id = {entry_id}")
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT data FROM timeline_entries WHERE id = {entry_id}")
                            ).scalar_one().startswith('{\n  "gamma"')
    assert verify_incident(store, opened.id).holds


def test_a_deleted_entry_is_found(store, incidents, opened):
    gone = incidents.add_note(opened.id, "an embarrassing decision")
    incidents.add_note(opened.id, "after it")
    tamper(store, f"DELETE FROM timeline_entries WHERE id = {gone.id}")
    report = verify_incident(store, opened.id)
    assert report.broken.entry_id == gone.id and "deleted" in report.broken.reason


def test_a_deleted_entry_with_its_link_is_found_by_the_gap(store, incidents, opened):
    gone = incidents.add_note(opened.id, "an embarrassing decision")
    after = incidents.add_note(opened.id, "after it")
    tamper(store, f"DELETE FROM timeline_hashes WHERE entry_id = {gone.id}",
           f"DELETE FROM timeline_entries WHERE id = {gone.id}")
    report = verify_incident(store, opened.id)
    assert report.broken.entry_id == after.id and "missing" in report.broken.reason


def test_an_entry_added_outside_clarion_is_found(store, opened):
    tamper(store, "INSERT INTO timeline_entries (incident_id, at, kind, actor, summary, data) "
                  f"VALUES ({opened.id}, '2026-03-02 08:00:00.000000', 'note', 'x', "
                  "'added later', '{}')")
    report = verify_incident(store, opened.id)
    assert not report.holds and "added outside Clarion" in report.broken.reason


def test_a_removed_last_entry_is_found_against_the_remembered_head(store, incidents, opened,
                                                                    frozen_clock):
    last = incidents.add_note(opened.id, "the last word")
    assert verify_incident(store, opened.id, now=frozen_clock.now()).holds    # remembered
    tamper(store, f"DELETE FROM timeline_hashes WHERE entry_id = {last.id}",
           f"DELETE FROM timeline_entries WHERE id = {last.id}")
    assert verify_incident(store, opened.id).holds      # the chain alone cannot tell...
    report = verify_incident(store, opened.id, incremental=True)
    assert not report.holds and "entries were removed" in report.broken.reason  # ...memory can


def test_the_incremental_check_hashes_only_what_came_after_the_remembered_link(
        store, incidents, opened, frozen_clock):
    for n in range(5):
        incidents.add_note(opened.id, f"note {n}")
    cold = verify_incident(store, opened.id, incremental=True, now=frozen_clock.now())
    assert cold.holds and cold.hashed == cold.entries and cold.from_seq == 0
    incidents.add_note(opened.id, "one more")
    warm = verify_incident(store, opened.id, incremental=True, now=frozen_clock.now())
    assert warm.holds and warm.hashed == 1 and warm.from_seq == cold.head_seq
    assert warm.head_seq == cold.head_seq + 1
    again = verify_incident(store, opened.id, incremental=True, now=frozen_clock.now())
    assert again.holds and again.hashed == 0


def test_a_rewritten_remembered_link_is_found_by_the_incremental_check(
        store, incidents, opened, frozen_clock):
    incidents.add_note(opened.id, "note")
    head = verify_incident(store, opened.id, now=frozen_clock.now())
    tamper(store, f"UPDATE timeline_hashes SET hash = '{'f' * 64}' "
                  f"WHERE incident_id = {opened.id} AND seq = {head.head_seq}")
    report = verify_incident(store, opened.id, incremental=True)
    assert not report.holds and "rewritten" in report.broken.reason


def test_a_printed_head_is_matched(store, incidents, opened):
    seq, digest = chain_head(store, opened.id)
    assert match_head(store, opened.id, digest).is_head
    assert match_head(store, opened.id, digest[:12].upper()).is_head
    incidents.add_note(opened.id, "after the report")
    grown = match_head(store, opened.id, digest)
    assert not grown.is_head and grown.found_seq == seq and grown.head_seq == seq + 1
    assert match_head(store, opened.id, "0123456789ab").found_seq is None


def test_no_code_appends_entries_around_the_chain():
    """The ORM's unit of work chains each entry (an after_insert listener); Core inserts and
    the ORM's bulk insert bypass it, so the one Core path (the outbox's) seals by itself and
    no other module may insert into timeline_entries."""
    import re

    around = re.compile(r"insert\(\s*(TimelineEntry|_TE)\b|TimelineEntry\.__table__|"
                        r"INSERT\s+INTO\s+timeline_entries|bulk_save_objects|bulk_insert_mappings",
                        re.IGNORECASE)
    found = {str(path.relative_to(ROOT)) for folder in ("app", "ui")
             for path in (ROOT / folder).rglob("*.py")
             if "migrations" not in path.parts and around.search(path.read_text("utf-8"))}
    assert found == {"app/sending/timeline.py"}


def test_the_daily_cold_check_finds_a_change_before_the_remembered_link_and_forgets_it(
        store, incidents, opened, frozen_clock):
    from app.record.verify import verify_all

    early = incidents.add_note(opened.id, "an early decision")
    incidents.add_note(opened.id, "later")
    assert verify_incident(store, opened.id, incremental=True, now=frozen_clock.now()).holds
    tamper(store, f"UPDATE timeline_entries SET summary = 'rewritten' WHERE id = {early.id}")
    assert verify_incident(store, opened.id, incremental=True).holds   # starts after it
    [report] = verify_all(store, frozen_clock.now())
    assert report.broken.entry_id == early.id
    again = verify_incident(store, opened.id, incremental=True, now=frozen_clock.now())
    assert again.from_seq == 0 and again.broken.entry_id == early.id
