"""Migration 0009 (each delivery's wire content) on a real SQLite file: a 0008 database with
deliveries in every state upgrades in place; those attempted before it are marked "not kept",
those never attempted are left to be built at their first claim; and it downgrades back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from app.storage import Store, make_engine
from app.storage.migrate import HEAD_REVISION, current_revision, upgrade_to_head
from tests.integration.test_migration_0008 import columns, downgrade, query

T = "2026-03-01 10:00:00.000000"
# (id, state, attempts): what a 0008 outbox can hold
ROWS = [(1, "queued", 0), (2, "sending", 1), (3, "sent", 1), (4, "retry_wait", 2),
        (5, "failed", 1), (6, "unknown", 1), (7, "cancelled", 0), (8, "cancelled", 3),
        (9, "queued", 1)]


def database_at(tmp_path: Path, revision: str) -> Path:
    """A real database file migrated to `revision`, with one client and one open incident
    (id 1), written with plain SQL as that version's tables are."""
    path = tmp_path / "clarion.db"
    engine = make_engine(path)
    upgrade_to_head(engine, path, tmp_path / "backups", target=revision)
    engine.dispose()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO clients (id, name, is_msp, created_at, regimes) "
                     f"VALUES (1, 'Northwind', 0, '{T}', '[]')")
        conn.execute(
            "INSERT INTO incidents (id, client_id, title, severity, phase, detected_at, "
            "created_at, updated_at, affected_services) VALUES (1, 1, 'Email down', 'SEV2', "
            f"'investigating', '{T}', '{T}', '{T}', '[]')")
    return path


@pytest.fixture
def db_0008(tmp_path) -> Path:
    path = database_at(tmp_path, "0008")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO messages (id, incident_id, template_type, template_keys, "
                     f"audience, created_at) VALUES (1, 1, 'initial', '[]', '{{}}', '{T}')")
        for i, state, attempts in ROWS:
            conn.execute(
                "INSERT INTO deliveries (id, message_id, recipient_name, channel, address, "
                "detail_level, template_key, subject, body_text, idempotency_key, state, "
                "attempts, created_at, updated_at) VALUES (?, 1, 'Maya', 'email', "
                "'maya@example.com', 'impact', 'initial', 'Email down', 'Text', ?, ?, ?, ?, ?)",
                (i, f"k{i}", state, attempts, T, T))
    return path


def test_0008_deliveries_keep_everything_and_say_whether_their_bytes_were_kept(db_0008, tmp_path):
    path = db_0008
    rootpage = query(path, "SELECT rootpage FROM sqlite_master WHERE name='deliveries'")
    before = query(path, "SELECT * FROM deliveries ORDER BY id")
    assert "wire" not in columns(path, "deliveries")

    store = Store.open(path, backup_dir=tmp_path / "backups")
    store.dispose()
    assert HEAD_REVISION >= "0009"
    assert query(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    # ADD COLUMN only: the table was not rebuilt, every row is as it was
    assert query(path, "SELECT rootpage FROM sqlite_master WHERE name='deliveries'") == rootpage
    width = len(before[0])   # later versions' columns (wire, started_at) come after
    assert [r[:width] for r in query(path, "SELECT * FROM deliveries ORDER BY id")] == before
    # attempted before this version: an empty value ("not kept"); never attempted: NULL,
    # built at the first claim
    assert query(path, "SELECT id, wire FROM deliveries ORDER BY id") == [
        (1, None), (2, b""), (3, b""), (4, b""), (5, b""), (6, b""), (7, None), (8, b""),
        (9, b"")]

    downgrade(path, "0008")
    assert query(path, "SELECT version_num FROM alembic_version") == [("0008",)]
    assert "wire" not in columns(path, "deliveries")
    assert query(path, "SELECT * FROM deliveries ORDER BY id") == before
    assert query(path, "PRAGMA foreign_key_check") == []

    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert current_revision(store.engine) == HEAD_REVISION
    finally:
        store.dispose()
