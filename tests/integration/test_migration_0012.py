"""Migration 0012 (start marks, issue 15) on a real SQLite file: a 0011 database whose sender
was interrupted keeps its rows; those left `sending` count as started (the old rule made them
unknown, so none is sent again on the strength of a missing mark); downgrade takes it away."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from app.storage import Store
from tests.integration.test_migration_0008 import columns, downgrade, query
from tests.integration.test_migration_0009 import T, database_at


def test_0012_counts_rows_left_sending_as_started_and_recovers_them_as_unknown(tmp_path):
    path = database_at(tmp_path, "0011")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO messages (id, incident_id, template_type, template_keys, "
                     f"audience, created_at) VALUES (1, 1, 'initial', '[]', '{{}}', '{T}')")
        for i, state in ((1, "sending"), (2, "sent"), (3, "queued")):
            conn.execute(
                "INSERT INTO deliveries (id, message_id, recipient_name, channel, address, "
                "detail_level, template_key, subject, body_text, idempotency_key, state, "
                "attempts, created_at, updated_at) VALUES (?, 1, 'Maya', 'email', "
                "'maya@example.com', 'impact', 'initial', 'Email down', 'Text', ?, ?, 1, ?, ?)",
                (i, f"k{i}", state, T, T))
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert query(path, "SELECT id, started_at FROM deliveries ORDER BY id") == [
            (1, T), (2, None), (3, None)]
        assert query(path, "SELECT name FROM sqlite_master WHERE name = "
                           "'ix_deliveries_started'") == [("ix_deliveries_started",)]
        from app.clock import SystemClock
        from app.sending.outbox import Outbox

        outbox = Outbox(store, SystemClock(), None, lambda c, d: None)
        assert (outbox.recover(), outbox.requeued) == (1, 0)
    finally:
        store.dispose()
    assert query(path, "SELECT id, state FROM deliveries ORDER BY id") == [
        (1, "unknown"), (2, "sent"), (3, "queued")]
    downgrade(path, "0011")
    assert "started_at" not in columns(path, "deliveries")
    assert query(path, "SELECT count(*) FROM deliveries") == [(3,)]
