"""Migration 0008 (post-incident fields, remediation items, feedback) on a real SQLite file:
a 0007 database with an incident upgrades without rebuilding incidents, gets the defaults, and
downgrades back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from app.storage import Store, make_engine
from app.storage.migrate import (
    HEAD_REVISION, alembic_config, current_revision, upgrade_to_head,
)
from app.storage.triggers import TIMELINE_TRIGGERS

# the columns every version has (later ones add theirs)
TIMELINE_ROWS = "SELECT id, incident_id, at, kind, actor, summary, data FROM timeline_entries"
NEW_COLUMNS = {"resolution_confirmed_by", "resolution_confirmed_at", "impact_summary",
               "root_cause", "root_cause_under_investigation", "lessons_learned"}


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


def columns(path: Path, table: str) -> set[str]:
    return {r[1] for r in query(path, f"PRAGMA table_info({table})")}


def tables(path: Path) -> set[str]:
    return {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}


def triggers(path: Path) -> set[str]:
    return {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type='trigger'")}


def downgrade(path: Path, target: str) -> None:
    """Like upgrade_to_head(): foreign keys off before the transaction, commit ourselves."""
    from alembic import command

    engine = make_engine(path)
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                command.downgrade(alembic_config(conn), target)
                conn.commit()
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
    finally:
        engine.dispose()


@pytest.fixture
def db_0007(tmp_path) -> Path:
    path = tmp_path / "clarion.db"
    engine = make_engine(path)
    upgrade_to_head(engine, path, tmp_path / "backups", target="0007")
    engine.dispose()
    assert query(path, "SELECT version_num FROM alembic_version") == [("0007",)]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO clients (id, name, is_msp, created_at, regimes) "
                     "VALUES (1, 'Northwind', 0, '2026-03-01 10:00:00.000000', '[]')")
        conn.execute("INSERT INTO stakeholders (id, client_id, name, category, timing_need, "
                     "detail_level) VALUES (1, 1, 'Maya', 'executives', 'when_relevant', "
                     "'impact')")
        conn.execute(
            "INSERT INTO incidents (id, client_id, title, severity, phase, detected_at, "
            "created_at, updated_at, affected_services) VALUES (1, 1, 'Email down', 'SEV2', "
            "'resolved', '2026-03-01 10:00:00.000000', '2026-03-01 10:00:00.000000', "
            "'2026-03-01 11:00:00.000000', '[]')")
        conn.execute("INSERT INTO timeline_entries (incident_id, at, kind, actor, summary, data) "
                     "VALUES (1, '2026-03-01 10:00:00.000000', 'created', 'me', 'opened', '{}')")
    return path


def test_0007_database_upgrades_in_place_with_the_defaults_and_downgrades(db_0007, tmp_path):
    path = db_0007
    rootpage = query(path, "SELECT rootpage FROM sqlite_master WHERE name='incidents'")
    timeline_before = query(path, TIMELINE_ROWS)
    assert not NEW_COLUMNS & columns(path, "incidents")

    store = Store.open(path, backup_dir=tmp_path / "backups")
    store.dispose()
    assert HEAD_REVISION >= "0008"  # Store.open goes to the newest; 0008 is on the way
    assert query(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    # ADD COLUMN only: the incidents table was not rebuilt (same b-tree page), so nothing that
    # references it was touched; the timeline's append-only triggers are still there
    assert query(path, "SELECT rootpage FROM sqlite_master WHERE name='incidents'") == rootpage
    assert set(TIMELINE_TRIGGERS) <= triggers(path)
    assert query(path, TIMELINE_ROWS) == timeline_before
    # the existing incident gets the defaults
    assert query(path, "SELECT resolution_confirmed_by, resolution_confirmed_at, impact_summary, "
                       "root_cause, root_cause_under_investigation, lessons_learned "
                       "FROM incidents WHERE id = 1") == [("", None, "", "", 1, "")]
    assert {"remediation_items", "feedback"} <= tables(path)
    assert query(path, "PRAGMA foreign_key_check") == []

    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            with conn:
                conn.execute("INSERT INTO feedback (incident_id, stakeholder_name, rating, "
                             "created_at) VALUES (1, 'Maya', 6, '2026-03-02 09:00:00')")
        with conn:
            conn.execute("INSERT INTO feedback (incident_id, stakeholder_id, stakeholder_name, "
                         "rating, created_at) VALUES (1, 1, 'Maya', 5, '2026-03-02 09:00:00')")
            conn.execute("INSERT INTO remediation_items (incident_id, position, text, "
                         "created_at, updated_at) VALUES (1, 0, 'Add a second MX', "
                         "'2026-03-02 09:00:00', '2026-03-02 09:00:00')")
        # the stakeholder goes; the feedback stays with the name (ON DELETE SET NULL)
        with conn:
            conn.execute("DELETE FROM stakeholders WHERE id = 1")
        assert conn.execute("SELECT stakeholder_id, stakeholder_name, comment, rating "
                            "FROM feedback").fetchall() == [(None, "Maya", "", 5)]
        assert conn.execute("SELECT owner, due_date, done FROM remediation_items").fetchall() \
            == [("", None, 0)]
        # incidents are referenced with RESTRICT
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            with conn:
                conn.execute("DELETE FROM incidents WHERE id = 1")

    downgrade(path, "0007")
    assert query(path, "SELECT version_num FROM alembic_version") == [("0007",)]
    assert not NEW_COLUMNS & columns(path, "incidents")
    assert not {"remediation_items", "feedback"} & tables(path)
    assert query(path, "SELECT id, title, phase FROM incidents") == [(1, "Email down", "resolved")]
    assert query(path, TIMELINE_ROWS) == timeline_before
    assert set(TIMELINE_TRIGGERS) <= triggers(path)
    assert query(path, "PRAGMA foreign_key_check") == []

    # and up again
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert current_revision(store.engine) == HEAD_REVISION
    finally:
        store.dispose()
    assert NEW_COLUMNS <= columns(path, "incidents")
