"""Checking the database file (app/backups/integrity.py) on real damaged copies: quick_check
at every start, integrity_check on the first start of each day, remembered beside the file."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from app.backups.integrity import (
    check_database, full_check_due, marker_of, record_full_check,
)
from app.clock import FrozenClock
from app.demo.seed import ensure_demo
from tests.unit.test_backups import damage_page


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "clarion.db"
    assert ensure_demo(path, FrozenClock(datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc)))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def copy_of(seeded: Path, tmp_path: Path) -> Path:
    target = tmp_path / "clarion.db"
    shutil.copyfile(seeded, target)
    return target


def pages_of(path: Path, name: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (name,))]
    finally:
        conn.close()


def test_a_sound_database_passes_both_checks(seeded, tmp_path):
    db = copy_of(seeded, tmp_path)
    for full in (False, True):
        result = check_database(db, full=full)
        assert result.ok and result.full is full and result.what == ""
        assert result.problems == () and result.seconds >= 0


def test_a_damaged_table_page_is_found_by_the_quick_check(seeded, tmp_path):
    db = copy_of(seeded, tmp_path)
    damage_page(db, pages_of(db, "timeline_entries")[-1])
    result = check_database(db)
    assert not result.ok and result.problems
    assert result.what == "a page of it is damaged"


def test_an_index_out_of_step_with_its_table_needs_the_full_check(seeded, tmp_path):
    db = copy_of(seeded, tmp_path)
    conn = sqlite3.connect(db)   # the index now claims another column: its entries are wrong
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX ix_stakeholders_client_id ON "
                 "stakeholders (id)' WHERE name = 'ix_stakeholders_client_id'")
    conn.commit()
    conn.close()
    assert check_database(db).ok                    # every page is whole
    full = check_database(db, full=True)
    assert not full.ok and full.full
    assert "missing from index ix_stakeholders_client_id" in full.problems[0]
    assert len(full.problems) == 10                 # bounded: enough to say what
    assert full.what == "an index of it is damaged (the rows themselves may be whole)"


def test_a_file_that_is_not_a_database_is_damage_and_a_missing_one_is_not(tmp_path):
    junk = tmp_path / "clarion.db"
    junk.write_bytes(b"\x00garbage" * 1024)
    result = check_database(junk)
    assert not result.ok
    assert result.what.startswith("it is not a database file")
    with pytest.raises(FileNotFoundError):
        check_database(tmp_path / "missing.db")


def test_the_checks_never_change_the_file(seeded, tmp_path):
    db = copy_of(seeded, tmp_path)
    damage_page(db, pages_of(db, "deliveries")[-1])
    before = db.read_bytes()
    check_database(db, full=True)
    check_database(db)
    assert db.read_bytes() == before
    wal = Path(f"{db}-wal")   # a reader of a WAL database may make one; it writes nothing
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_full_check_runs_on_the_first_start_of_each_day(seeded, tmp_path):
    db = copy_of(seeded, tmp_path)
    monday, tuesday = date(2026, 12, 7), date(2026, 12, 8)
    assert full_check_due(db, monday)            # never checked
    record_full_check(db, monday)
    assert not full_check_due(db, monday)        # the second start that day: quick only
    assert full_check_due(db, tuesday)
    assert marker_of(db).stat().st_mode & 0o777 == 0o600
    marker_of(db).write_text("{not json")
    assert full_check_due(db, monday)            # unreadable: checked again, never skipped
