"""Migration 0015 (issue 22) on a real SQLite file: a 0014 database with an incident, its
message and deliveries gains the clocks' change counters at 0 and the triggers that bump them
(the migration's frozen copy is the application's CHANGE_TRIGGERS, word for word); the
evaluation it kept reads the same; downgrade takes counters, triggers and index away and
keeps the data."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timezone

from app.clocks.changes import change_counter
from app.clock import FrozenClock
from app.clocks.evaluation import ClockService
from app.storage import Store
from app.storage.triggers import CHANGE_TRIGGERS
from tests.integration.test_migration_0008 import columns, downgrade, query, triggers
from tests.integration.test_migration_0009 import T, database_at


def test_0015_adds_counters_at_zero_and_triggers_that_bump_them(tmp_path):
    path = database_at(tmp_path, "0014")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO stakeholders (id, client_id, name, role, category, "
                     "information_need, timing_need, detail_level, notes, active) VALUES "
                     "(1, 1, 'Ada Ops', '', 'it_staff_msp', '', 'immediate', 'technical', '', 1)")
        conn.execute("INSERT INTO messages (id, incident_id, template_type, template_keys, "
                     f"audience, created_at) VALUES (1, 1, 'status_update', '[]', '{{}}', '{T}')")
        conn.execute("INSERT INTO deliveries (id, message_id, stakeholder_id, recipient_name, "
                     "channel, address, detail_level, template_key, idempotency_key, state, "
                     "created_at, updated_at) VALUES (1, 1, 1, 'Ada Ops', 'email', "
                     f"'ada@example.com', 'technical', 'k', 'i1', 'queued', '{T}', '{T}')")
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert query(path, "SELECT change_seq FROM incidents") == [(0,)]
        assert query(path, "SELECT change_seq FROM clients") == [(0,)]
        assert query(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN "
                           "('ix_deliveries_clocks', 'ix_timeline_incident_kind_at') "
                           "ORDER BY name") == [("ix_deliveries_clocks",),
                                                ("ix_timeline_incident_kind_at",)]
        stored = {name: sql for name, sql in query(
            path, "SELECT name, sql FROM sqlite_master WHERE type='trigger'")}
        for name, sql in CHANGE_TRIGGERS.items():
            assert stored[name] == sql.replace(" IF NOT EXISTS", ""), name
        clocks = ClockService(store, FrozenClock(datetime(2026, 3, 1, 11, tzinfo=timezone.utc)))
        before = clocks.evaluate(1)
        assert before.cadence.stats.last_communication_at is not None
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE deliveries SET state = 'failed' WHERE id = 1")
        with store.reading() as session:
            assert change_counter(session, 1) == 1
        assert clocks.evaluate(1).cadence.stats.last_communication_at is None
    finally:
        store.dispose()
    downgrade(path, "0014")
    assert "change_seq" not in columns(path, "incidents") | columns(path, "clients")
    assert not {t for t in triggers(path) if t.startswith("clock_change")}
    assert not query(path, "SELECT name FROM sqlite_master WHERE name IN "
                           "('ix_deliveries_clocks', 'ix_timeline_incident_kind_at')")
    assert query(path, "SELECT id, title FROM incidents") == [(1, "Email down")]
    assert query(path, "SELECT id, state FROM deliveries") == [(1, "failed")]
    store = Store.open(path, backup_dir=tmp_path / "backups")   # and up again
    store.dispose()
    assert set(CHANGE_TRIGGERS) <= triggers(path)
