"""Alembic migrations on a real SQLite file (DESIGN.md "Alembic + SQLite", "Backups")."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text

from app.storage import Store, make_engine
from app.storage.migrate import (
    HEAD_REVISION, current_revision, script_head, upgrade_to_head,
)
from app.storage.triggers import TIMELINE_TRIGGERS


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def query(path: Path, sql: str) -> list[tuple]:
    with closing(raw(path)) as conn:
        return conn.execute(sql).fetchall()


def test_an_empty_file_migrates_to_head(tmp_path):
    path = tmp_path / "fresh.db"
    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert HEAD_REVISION == script_head()
        assert current_revision(store.engine) == HEAD_REVISION
        assert query(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
        tables = {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"clients", "stakeholders", "contact_points", "incidents",
                "timeline_entries"} <= tables
        triggers = {r[0] for r in query(path, "SELECT name FROM sqlite_master "
                                              "WHERE type='trigger' AND tbl_name='timeline_entries'")}
        assert triggers == set(TIMELINE_TRIGGERS) | {"clock_change_timeline"}
        assert set(TIMELINE_TRIGGERS) == {"timeline_entries_no_update",
                                          "timeline_entries_no_delete"}
        # a new file has nothing to back up
        assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
    finally:
        store.dispose()


def test_pragmas_on_every_connection(store):
    # two connections at once: the pool has to open a second one, which must get them too
    with store.engine.connect() as a, store.engine.connect() as b:
        for conn in (a, b):
            raw_conn = conn.connection.driver_connection  # no BEGIN: see engine._on_begin
            assert raw_conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw_conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert raw_conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert raw_conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def _fill_revision_0001(conn: sqlite3.Connection) -> None:
    with conn:
        conn.execute("INSERT INTO clients (id, name, is_msp, created_at) "
                     "VALUES (1, 'Northwind', 0, '2026-03-01 10:00:00.000000')")
        conn.execute("INSERT INTO clients (id, name, is_msp, created_at) "
                     "VALUES (2, 'Harbor IT', 1, '2026-03-01 10:00:00.000000')")
        for sid, client, name in ((1, 1, "Maya"), (2, 1, "Tom"), (3, 2, "Rachel")):
            conn.execute("INSERT INTO stakeholders (id, client_id, name, category, timing_need, "
                         "detail_level, max_silence_minutes) VALUES (?, ?, ?, 'executives', "
                         "'when_relevant', 'impact', 60)", (sid, client, name))
        for cid, sid, addr in ((1, 1, "maya@example.com"), (2, 1, "+12065550101"),
                               (3, 2, "tom@example.com"), (4, 3, "rachel@example.com")):
            conn.execute("INSERT INTO contact_points (id, stakeholder_id, channel, address) "
                         "VALUES (?, ?, 'email', ?)", (cid, sid, addr))


def test_child_rows_survive_the_batch_migration(tmp_path):
    path = tmp_path / "old.db"
    backups = tmp_path / "backups"
    engine = make_engine(path)
    assert upgrade_to_head(engine, path, backups, target="0001") is None  # nothing to back up
    engine.dispose()
    assert query(path, "SELECT version_num FROM alembic_version") == [("0001",)]
    assert "time_zone" not in {r[1] for r in query(path, "PRAGMA table_info(clients)")}
    # Write the rows and keep them in the WAL (no checkpoint, connection left open): a plain
    # copy of the database file would miss them; SQLite's backup API does not.
    keeper = raw(path)
    keeper.execute("PRAGMA wal_autocheckpoint=0")
    _fill_revision_0001(keeper)
    stakeholders_before = keeper.execute("SELECT * FROM stakeholders ORDER BY id").fetchall()
    contacts_before = keeper.execute("SELECT * FROM contact_points ORDER BY id").fetchall()
    assert len(stakeholders_before) == 3 and len(contacts_before) == 4
    file_copy = tmp_path / "file-copy.db"
    shutil.copyfile(path, file_copy)
    assert query(file_copy, "SELECT count(*) FROM stakeholders") == [(0,)], \
        "the rows should still be in the WAL only"

    try:
        store = Store.open(path, backup_dir=backups)
    finally:
        keeper.close()
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        with store.engine.connect() as conn:
            # later revisions add columns: compare the columns revision 0001 had
            width = len(stakeholders_before[0])
            assert [tuple(r)[:width] for r in conn.execute(
                text("SELECT * FROM stakeholders ORDER BY id"))] == \
                [tuple(r) for r in stakeholders_before]
            width = len(contacts_before[0])
            assert [tuple(r)[:width] for r in conn.execute(
                text("SELECT * FROM contact_points ORDER BY id"))] == \
                [tuple(r) for r in contacts_before]
            assert conn.execute(text(
                "SELECT id, name, time_zone, default_region FROM clients ORDER BY id")).all() == \
                [(1, "Northwind", "UTC", "US"), (2, "Harbor IT", "UTC", "US")]
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        # foreign keys are back on for every pooled connection, the migrating one included ...
        pooled = store.engine.pool.checkedin()
        assert pooled >= 1
        conns = [store.engine.connect() for _ in range(pooled + 1)]
        try:
            # read on the raw connections: a SQLAlchemy execute would BEGIN IMMEDIATE on each,
            # and several connections of one thread holding write transactions block each other
            assert [c.connection.driver_connection.execute("PRAGMA foreign_keys").fetchone()[0]
                    for c in conns] == [1] * len(conns)
        finally:
            for c in conns:
                c.close()
        # ... and enforced: the new clients table is the one stakeholders reference
        with pytest.raises(Exception, match="FOREIGN KEY"):
            with store.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO stakeholders (client_id, name, category, timing_need, "
                    "detail_level) VALUES (99, 'ghost', 'media', 'if_needed', 'simple')"))
        with store.engine.connect() as conn:
            triggers = {r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type='trigger'")}
            assert set(TIMELINE_TRIGGERS) <= triggers
            # the CHECK constraint the batch recreate added is there
        with pytest.raises(Exception, match="CHECK"):
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE clients SET default_region = 'USA' WHERE id = 1"))
    finally:
        store.dispose()

    # the backup was taken with the backup API, before the upgrade, at revision 0001
    [backup] = list(backups.iterdir())
    assert "0001" in backup.name
    with closing(sqlite3.connect(backup)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert conn.execute("SELECT * FROM stakeholders ORDER BY id").fetchall() == \
            stakeholders_before
        assert conn.execute("SELECT * FROM contact_points ORDER BY id").fetchall() == \
            contacts_before
        assert "time_zone" not in {r[1] for r in conn.execute("PRAGMA table_info(clients)")}

    # opening again at head takes no second backup
    again = Store.open(path, backup_dir=backups)
    again.dispose()
    assert list(backups.iterdir()) == [backup]


def test_an_unknown_future_revision_is_refused_and_data_untouched(tmp_path):
    path = tmp_path / "future.db"
    store = Store.open(path, backup_dir=tmp_path / "backups")
    from app.stakeholders.clients import ensure_default_organisation
    from app.clock import SystemClock

    ensure_default_organisation(store, SystemClock())
    store.dispose()
    with closing(raw(path)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = {t: query(path, f"SELECT * FROM {t} ORDER BY 1")
              for t in ("clients", "alembic_version")}
    schema = query(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name")

    from app.storage.migrate import MigrationError

    with pytest.raises(MigrationError, match="newer version of Clarion") as err:
        Store.open(path, backup_dir=tmp_path / "backups")
    assert "9999" in str(err.value)
    assert not list((tmp_path / "backups").glob("*9999*")), "no useless backup is taken"
    assert {t: query(path, f"SELECT * FROM {t} ORDER BY 1") for t in before} == before
    assert query(path, "SELECT type, name, sql FROM sqlite_master ORDER BY name") == schema
    assert query(path, "PRAGMA integrity_check") == [("ok",)]


def test_a_read_then_write_transaction_survives_a_concurrent_writer(tmp_path):
    """BEGIN IMMEDIATE: a transaction that reads, then writes, while another thread commits in
    between, waits for its turn instead of failing with "database is locked"."""
    import threading

    from app.clock import SystemClock
    from app.stakeholders.clients import ensure_default_organisation

    store = Store.open(tmp_path / "c.db")
    ensure_default_organisation(store, SystemClock())
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(n: int) -> None:
        try:
            barrier.wait(5)
            for i in range(50):
                with store.session() as s, s.begin():
                    s.execute(text("SELECT count(*) FROM clients")).scalar()  # read first
                    s.execute(text("UPDATE clients SET name = :n WHERE id = 1"),
                              {"n": f"writer {n} step {i}"})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    store.dispose()
    assert errors == []


def test_a_reading_session_reads_a_snapshot_beside_an_open_writer_without_waiting(tmp_path):
    """Store.reading(): while another connection holds the write lock (the sending thread in
    the middle of a batch), a read neither waits for it nor sees its uncommitted rows; an
    ordinary session would wait (BEGIN IMMEDIATE) until the writer commits. Whether it waited
    is not timed: the reading connection's busy_timeout is 0 here, so a wait for the lock would
    be an immediate "database is locked" error instead."""
    from sqlalchemy import event

    from app.clock import SystemClock
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage.engine import BUSY_TIMEOUT_MS, READ_ONLY

    store = Store.open(tmp_path / "r.db")
    ensure_default_organisation(store, SystemClock())
    read_statements: list[str] = []

    def no_waiting(dbapi_connection, record, proxy):   # the reader's, taken from the pool now
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    def note(conn, cursor, statement, parameters, context, executemany):
        if conn.get_execution_options().get(READ_ONLY):
            read_statements.append(" ".join(statement.split()))

    writer = store.session()
    try:
        writer.begin()
        writer.execute(text("UPDATE clients SET name = 'renamed, not committed' WHERE id = 1"))
        event.listen(store.engine, "checkout", no_waiting)
        event.listen(store.engine, "before_cursor_execute", note)
        try:
            with store.reading() as s:
                name = s.execute(text("SELECT name FROM clients WHERE id = 1")).scalar()
                s.connection().exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            event.remove(store.engine, "checkout", no_waiting)
            event.remove(store.engine, "before_cursor_execute", note)
        assert read_statements[:2] == ["BEGIN", "SELECT name FROM clients WHERE id = 1"]
        assert name != "renamed, not committed"

        # ...while the write lock was really held: BEGIN IMMEDIATE (every ordinary session's
        # start) cannot get it now
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA busy_timeout=50")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                cursor.execute("BEGIN IMMEDIATE")
        finally:
            raw.close()
    finally:
        writer.rollback()
        writer.close()
        store.dispose()


def test_revision_0007_splits_us_state_and_seeds_the_escalation_rules(tmp_path):
    """A 0006 database: the generic "us_state" regime becomes the four state regimes (each
    once, the others kept), the escalation rule table holds the built-in rules, and the new
    incident counts are empty. (No downgrade: no test here runs one.)"""
    import json

    from app.clocks.rules import ClockRules
    from app.clocks.escalation import load_default_rules, rule_to_dict

    path = tmp_path / "at-0006.db"
    engine = make_engine(path)
    upgrade_to_head(engine, path, tmp_path / "backups", target="0006")
    engine.dispose()
    assert query(path, "SELECT version_num FROM alembic_version") == [("0006",)]
    tables = {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "escalation_rules" not in tables and "cadence_policies" not in tables
    with closing(raw(path)) as conn, conn:
        for cid, name, regimes in ((1, "Northwind Health", ["hipaa", "us_state"]),
                                   (2, "Lakeside Bank", ["gdpr", "us_state", "us_wa"]),
                                   (3, "Plain Co", ["gdpr"])):
            conn.execute("INSERT INTO clients (id, name, is_msp, created_at, regimes) "
                         "VALUES (?, ?, 0, '2026-03-01 10:00:00.000000', ?)",
                         (cid, name, json.dumps(regimes)))
        conn.execute("INSERT INTO incidents (id, client_id, title, severity, phase, detected_at, "
                     "created_at, updated_at, affected_services) VALUES (1, 1, 'Lab results "
                     "mis-sent', 'SEV2', 'investigating', '2026-03-01 10:00:00.000000', "
                     "'2026-03-01 10:00:00.000000', '2026-03-01 10:00:00.000000', '[]')")

    store = Store.open(path, backup_dir=tmp_path / "backups")
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        regimes = {cid: json.loads(r) for cid, r in
                   query(path, "SELECT id, regimes FROM clients ORDER BY id")}
        assert regimes == {1: ["hipaa", "us_co", "us_fl", "us_tx", "us_wa"],
                           2: ["gdpr", "us_wa", "us_co", "us_fl", "us_tx"],
                           3: ["gdpr"]}
        defaults = load_default_rules()
        stored = query(path, "SELECT key, position, definition FROM escalation_rules "
                             "ORDER BY position")
        assert [(k, p) for k, p, _d in stored] == [(r.key, n) for n, r in enumerate(defaults)]
        assert [json.loads(d) for _k, _p, d in stored] == [rule_to_dict(r) for r in defaults]
        assert ClockRules(store).escalation_rules() == defaults
        assert query(path, "SELECT count(*) FROM cadence_policies") == [(0,)]
        assert query(path, "SELECT affected_individuals, max_state_residents FROM incidents") \
            == [(None, None)]
        assert query(path, "PRAGMA foreign_key_check") == []
    finally:
        store.dispose()
    assert any("0006" in p.name for p in (tmp_path / "backups").iterdir())
