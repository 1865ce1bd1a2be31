"""Migration 0010 (coordinators) on a real SQLite file: a 0009 database with a timeline
upgrades in place — the append-only table is not rebuilt, its rows and triggers stay, and the
record notes from which entry on coordinators are kept — and downgrades back."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from app.storage import Store
from app.storage.migrate import HEAD_REVISION
from app.storage.triggers import TIMELINE_TRIGGERS
from tests.integration.test_migration_0008 import (
    TIMELINE_ROWS, columns, downgrade, query, tables, triggers,
)

from tests.integration.test_migration_0009 import T, database_at


@pytest.fixture
def db_0009(tmp_path):
    path = database_at(tmp_path, "0009")
    with closing(sqlite3.connect(path)) as conn, conn:
        for n in range(3):
            conn.execute("INSERT INTO timeline_entries (incident_id, at, kind, actor, summary, "
                         f"data) VALUES (1, '{T}', 'note', 'root', 'note {n}', '{{}}')")
    return path


def test_0009_timeline_is_kept_as_written_and_marked_as_before_coordinators(db_0009, tmp_path):
    path = db_0009
    rootpage = query(path, "SELECT rootpage FROM sqlite_master WHERE name='timeline_entries'")
    before = query(path, TIMELINE_ROWS)
    store = Store.open(path, backup_dir=tmp_path / "backups")
    store.dispose()
    assert HEAD_REVISION >= "0010"
    assert query(path, "SELECT rootpage FROM sqlite_master WHERE name='timeline_entries'") \
        == rootpage
    assert query(path, TIMELINE_ROWS) == before
    assert query(path, "SELECT DISTINCT coordinator_id FROM timeline_entries") == [(None,)]
    assert set(TIMELINE_TRIGGERS) <= triggers(path)
    assert query(path, "SELECT key, value FROM record_meta") == [("coordinators_from_entry", "4")]
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            with conn:
                conn.execute("INSERT INTO timeline_entries (incident_id, at, kind, actor, "
                             f"summary, data, coordinator_id) VALUES (1, '{T}', 'note', 'x', "
                             "'y', '{}', 42)")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            with conn:
                conn.execute("UPDATE timeline_entries SET coordinator_id = NULL")

    downgrade(path, "0009")
    assert "coordinator_id" not in columns(path, "timeline_entries")
    assert not {"coordinators", "record_meta"} & tables(path)
    assert query(path, TIMELINE_ROWS) == before
    assert set(TIMELINE_TRIGGERS) <= triggers(path)      # the rebuilt table has them again
    assert query(path, "PRAGMA foreign_key_check") == []


def test_the_report_marks_a_persons_entries_from_before_coordinators(db_0009, tmp_path):
    from app.clock import FrozenClock
    from app.reports.builder import build_report, render_markdown
    from datetime import datetime, timezone

    store = Store.open(db_0009, backup_dir=tmp_path / "backups")
    try:
        clock = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
        report = build_report(store, clock, 1, "technical")
    finally:
        store.dispose()
    assert {line.actor for line in report.timeline} == {
        "root (written before coordinators were kept)"}
    assert "root (written before coordinators were kept)" in render_markdown(report)


def test_0011_adds_the_sender_lease_and_takes_it_away(db_0009, tmp_path):
    store = Store.open(db_0009, backup_dir=tmp_path / "backups")
    store.dispose()
    assert "sender_lease" in tables(db_0009)
    assert columns(db_0009, "sender_lease") == {"name", "holder", "pid", "host", "epoch",
                                                "taken_at", "heartbeat_at"}
    downgrade(db_0009, "0010")
    assert "sender_lease" not in tables(db_0009)
    assert query(db_0009, TIMELINE_ROWS)          # the record is untouched
