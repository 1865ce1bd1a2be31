"""Backups and restore (app/backups/): online copies of a live WAL database, checked and
written whole or not at all; the rolling set's pruning; a restore that keeps the replaced file
aside, refuses while a sender is live, and holds every delivery that was not final."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from app.backups.copies import (
    Backup, BackupError, backup_name, kept, list_backups, online_backup, rolling_backup,
)
from app.backups.restore import RestoreRefused, check_backup, restore
from app.clock import FrozenClock
from app.demo.seed import ensure_demo
from app.storage import Store

SEEDED_AT = datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc)


@pytest.fixture
def demo(tmp_path):
    """(db_path, clock) of a seeded demo database, closed."""
    path = tmp_path / "data" / "clarion.db"
    clock = FrozenClock(SEEDED_AT)
    assert ensure_demo(path, clock)
    return path, clock


def count(path: Path, table: str, where: str = "1") -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
    finally:
        conn.close()


def damage_page(path: Path, page: int) -> None:
    """Overwrite one page of the file (1-based, the database's page size) with garbage."""
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xa5" * size)


# ---------------------------------------------------------------- taking a backup

def test_a_backup_of_a_live_wal_database_holds_what_is_still_in_the_wal(demo, tmp_path):
    path, _clock = demo
    store = Store(path)
    try:
        with store.engine.begin() as conn:   # committed, not yet checkpointed into the file
            conn.execute(text("UPDATE incidents SET title = 'After the seed' WHERE id = 1"))
        assert Path(str(path) + "-wal").stat().st_size > 0
        target = tmp_path / "backups" / backup_name("clarion", SEEDED_AT)
        backup = online_backup(path, target)
    finally:
        store.dispose()
    assert (backup.path, backup.check, backup.size) == (target, "ok", target.stat().st_size)
    assert backup.taken_at == SEEDED_AT and backup.rolling
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT title FROM incidents WHERE id = 1").fetchone() == (
            "After the seed",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)   # one file
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == [target.name]   # no .part left


def test_a_damaged_database_gives_no_backup_and_keeps_the_earlier_one(demo, tmp_path):
    path, _clock = demo
    target = tmp_path / "backups" / "clarion-20260302T173000Z.db"
    online_backup(path, target)
    before = target.read_bytes()
    pages = path.stat().st_size // sqlite3.connect(path).execute(
        "PRAGMA page_size").fetchone()[0]
    damage_page(path, pages // 2)   # a table or index page in the middle
    with pytest.raises(BackupError) as caught:
        online_backup(path, target)
    assert "clarion.db" in str(caught.value) and ("may be damaged" in str(caught.value)
                                                   or "malformed" in str(caught.value))
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_no_database_no_backup(tmp_path):
    with pytest.raises(BackupError, match="no database"):
        online_backup(tmp_path / "missing.db", tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()


# ---------------------------------------------------------------- the rolling set

def _b(at: datetime, size: int = 10, tag: str = "") -> Backup:
    return Backup(Path(f"/b/{backup_name('clarion', at)[:-3]}{tag and '-' + tag}.db"), at, size,
                  tag=tag)


def test_the_rolling_set_keeps_hourly_then_daily_and_the_newest_always():
    now = datetime(2026, 12, 6, 14, 25, tzinfo=timezone.utc)
    every_10_min = [_b(now - timedelta(minutes=10 * i)) for i in range(6 * 24 * 20)]  # 20 days
    keep, drop = kept(every_10_min, now, db_size=10_000)
    assert keep[0].taken_at == now                       # the newest
    hours = {int((now - b.taken_at) // timedelta(hours=1)) for b in keep
             if now - b.taken_at < timedelta(hours=24)}
    assert hours == set(range(24))                       # one in each of the last 24 hours
    days = {b.taken_at.date() for b in keep}
    assert len(days) == 14 and min(days) == (now - timedelta(days=13)).date()
    # today's newest is the newest of the hours; yesterday's (23:55) is not: 13 days more
    assert len(keep) == 24 + 13 and len(keep) + len(drop) == len(every_10_min)
    assert datetime(2026, 12, 5, 23, 55, tzinfo=timezone.utc) in {b.taken_at for b in keep}
    # in each of the last 24 hours, its newest backup
    assert {now - timedelta(hours=h) for h in range(24)} <= {b.taken_at for b in keep}


def test_the_rolling_set_stays_within_its_budget_oldest_first_and_spares_migrations():
    now = datetime(2026, 12, 6, 14, 25, tzinfo=timezone.utc)
    backups = [_b(now - timedelta(hours=i), size=100) for i in range(10)]
    migration = _b(now - timedelta(days=40), size=10_000, tag="before-upgrade-from-0012")
    keep, drop = kept(backups + [migration], now, db_size=30)   # budget 300: three backups
    assert [b.taken_at for b in keep] == [now - timedelta(hours=i) for i in range(3)]
    assert migration not in keep and migration not in drop
    keep, _ = kept(backups, now, db_size=30, cap_bytes=150)     # a cap below 10x
    assert [b.taken_at for b in keep] == [now]
    keep, _ = kept(backups, now, db_size=1)                     # even over budget: the newest
    assert [b.taken_at for b in keep] == [now]


def test_rolling_backups_are_named_listed_and_pruned(demo, tmp_path):
    path, _clock = demo
    folder = tmp_path / "backups"
    t0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
    first, removed = rolling_backup(path, folder, t0)
    assert removed == [] and first.path.name == "clarion-20261206T090000Z.db"
    again, removed = rolling_backup(path, folder, t0)   # the same second: a second file…
    assert again.path.name == "clarion-20261206T090000Z-2.db" and again.rolling
    assert removed == [first.path]   # …the newer of that hour: the first goes
    _, removed = rolling_backup(path, folder, t0 + timedelta(minutes=20))
    assert removed == [again.path]
    listed = list_backups(folder)
    assert [b.taken_at for b in listed] == [t0 + timedelta(minutes=20)]
    assert not first.path.exists() and listed[0].path.exists()


# ---------------------------------------------------------------- restoring

def _make_pending(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id LIMIT 4")]
            for state, i in zip(("queued", "retry_wait", "sending", "unknown"), ids):
                conn.execute("UPDATE deliveries SET state = ? WHERE id = ?", (state, i))
    finally:
        conn.close()


def test_a_restore_keeps_the_current_file_aside_and_holds_what_was_not_final(demo, tmp_path):
    path, clock = demo
    _make_pending(path)
    backup = online_backup(path, tmp_path / "backups" / backup_name("clarion", SEEDED_AT))
    entries_in_backup = count(path, "timeline_entries")
    conn = sqlite3.connect(path)   # a change after the backup: the restore loses it…
    with conn:
        conn.execute("UPDATE incidents SET title = 'Changed later' WHERE id = 1")
    conn.close()
    clock.advance(hours=2)
    done = restore(path, backup.path, clock, backup_dir=tmp_path / "backups")
    # …but the file it was in is kept aside, whole
    assert done.aside is not None and done.aside.exists()
    assert sqlite3.connect(done.aside).execute(
        "SELECT title FROM incidents WHERE id = 1").fetchone() == ("Changed later",)
    restored = sqlite3.connect(path)
    try:
        assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert restored.execute("SELECT title FROM incidents WHERE id = 1").fetchone() != (
            "Changed later",)
        states = dict(restored.execute(
            "SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        # the four not final: held for review; the demo's bounce (final) stays bounced
        assert states == {"sent": 35, "bounced": 1, "unknown": 4}
        reasons = {r[0] for r in restored.execute(
            "SELECT last_error FROM deliveries WHERE state = 'unknown'")}
        assert len(reasons) == 1 and "held after the restore of the backup of 2026-03-02 " \
            "17:30 UTC" in reasons.pop()
        entries = restored.execute(
            "SELECT incident_id, summary, actor, json_extract(data, '$.held'), "
            "json_extract(data, '$.backup') FROM timeline_entries WHERE kind = 'restored' "
            "ORDER BY incident_id").fetchall()
    finally:
        restored.close()
    assert done.held == 4 and [e[0] for e in entries] == list(done.incidents)
    assert len(entries) == 2 and all(e[2] == "restore" for e in entries)
    assert sum(e[3] for e in entries) == 4 and {e[4] for e in entries} == {backup.path.name}
    for _, summary, _, held, _ in entries:
        assert summary.startswith("The database was restored from the backup of 2026-03-02 "
                                  "17:30 UTC; ")
        assert (f"{held} deliver" in summary and "held for review" in summary) if held else \
            summary.endswith("nothing was waiting to be sent")
    assert count(path, "timeline_entries") == entries_in_backup + 2
    assert backup.path.exists()   # the backup itself is untouched


def test_a_restore_is_refused_while_a_sender_holds_the_lease(demo, tmp_path):
    from app.sending.lease import take

    path, clock = demo
    backup = online_backup(path, tmp_path / "b" / backup_name("clarion", SEEDED_AT))
    store = Store(path)
    try:
        take(store, clock, "the Clarion window (process 7 on desk-2)")
    finally:
        store.dispose()
    before = path.read_bytes()
    with pytest.raises(RestoreRefused, match="the Clarion window .* is sending"):
        restore(path, backup.path, clock)
    assert path.read_bytes() == before
    assert not list(path.parent.glob("*.before-restore-*"))
    clock.advance(minutes=5)   # the heartbeat stopped: the sender is gone
    assert restore(path, backup.path, clock).aside is not None


@pytest.mark.parametrize("make", ["text", "damaged", "foreign", "missing"])
def test_only_a_whole_clarion_database_can_be_restored(demo, tmp_path, make):
    path, clock = demo
    candidate = tmp_path / "candidate.db"
    if make == "text":
        candidate.write_text("name,email\n")
    elif make == "damaged":
        online_backup(path, candidate)
        damage_page(candidate, 3)
    elif make == "foreign":
        other = sqlite3.connect(candidate)
        other.execute("CREATE TABLE notes (x)")
        other.close()
    before = path.read_bytes()
    with pytest.raises(RestoreRefused) as caught:
        restore(path, candidate, clock)
    assert "cannot be restored" in str(caught.value) or "There is no backup" in str(caught.value)
    assert path.read_bytes() == before
    if make != "missing":
        with pytest.raises(RestoreRefused):
            check_backup(candidate)


def test_a_restore_into_a_missing_database_creates_it(demo, tmp_path):
    path, clock = demo
    backup = online_backup(path, tmp_path / "b" / backup_name("clarion", SEEDED_AT))
    fresh = tmp_path / "elsewhere" / "clarion.db"
    done = restore(fresh, backup.path, clock)
    assert done.aside is None and count(fresh, "incidents") == count(path, "incidents")
    assert fresh.stat().st_mode & 0o777 == 0o600
    assert os.path.exists(backup.path)


# ---------------------------------------------------------------- backups by themselves

def test_an_automatic_backup_follows_changes_at_most_every_ten_minutes(demo, tmp_path):
    from app.backups.schedule import AutoBackup

    path, _clock = demo
    folder = tmp_path / "backups"
    auto = AutoBackup(path, folder)
    t0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
    first = auto.due(t0)
    assert first is not None                   # never backed up: now
    rolling_backup(path, folder, t0)
    auto.taken(first, t0)
    assert auto.due(t0 + timedelta(hours=5)) is None           # nothing changed since
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE incidents SET title = 'Moved on' WHERE id = 1")
    conn.close()
    assert auto.due(t0 + timedelta(minutes=9)) is None          # changed, but too soon
    assert auto.due(t0 + timedelta(minutes=9), closing=True) is not None   # closing: now
    assert auto.due(t0 + timedelta(minutes=10)) is not None
    # a new run finds the newest backup: unchanged since → nothing due, however long after
    rolling_backup(path, folder, t0 + timedelta(minutes=10))
    again = AutoBackup(path, folder)
    assert again.last_at == t0 + timedelta(minutes=10)
    assert again.due(t0 + timedelta(days=3)) is None


# ---------------------------------------------------------------- a damaged file in words

@pytest.mark.parametrize("how", ["header", "middle page", "overwritten"])
def test_a_damaged_database_is_named_with_the_newest_backup(demo, tmp_path, how):
    from app.backups.damage import DamagedDatabase, damaged

    path, _clock = demo
    folder = tmp_path / "backups"
    older = rolling_backup(path, folder, SEEDED_AT)[0]
    newest = rolling_backup(path, folder, SEEDED_AT + timedelta(minutes=20))[0]
    assert older.path != newest.path
    if how == "header":
        damage_page(path, 1)
    elif how == "middle page":   # of the pages the reads below walk (not an overflow page,
        # whose bytes SQLite never checks, nor an index page they do not read)
        with closing(sqlite3.connect(path)) as conn:
            pages = [n for (n,) in conn.execute(
                "SELECT pageno FROM dbstat WHERE pagetype = 'leaf' AND name IN "
                "('deliveries', 'incidents', 'timeline_entries') ORDER BY pageno")]
        damage_page(path, pages[len(pages) // 2])
    else:
        path.write_bytes(b"name,email\nAnn,ann@example.com\n" * 100)
    store = Store(path)
    try:
        with pytest.raises(Exception) as caught:
            with store.engine.connect() as conn:
                conn.execute(text("PRAGMA integrity_check")).all()
                conn.execute(text("SELECT count(*) FROM timeline_entries")).all()
                conn.execute(text("SELECT * FROM deliveries")).all()
                conn.execute(text("SELECT * FROM incidents")).all()
                raise AssertionError("the damage was not seen")
    finally:
        store.dispose()
    found = damaged(path, caught.value, folder)
    if found is None:   # integrity_check reported rows instead of raising: say so plainly
        pytest.fail(f"not recognised as damage: {caught.value!r}")
    assert isinstance(found, DamagedDatabase) and found.newest.path == newest.path
    assert f"The database {path} is damaged: " in str(found)
    assert f"`clarion restore {newest.path}` puts it back" in str(found)
    assert "Nothing is sent from it." in str(found)


def test_other_errors_are_not_damage(tmp_path):
    from sqlalchemy.exc import OperationalError

    from app.backups.damage import damage_of, damaged

    locked = OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    assert damage_of(locked) is None and damage_of(ValueError("x")) is None
    assert damaged(tmp_path / "c.db", locked, tmp_path) is None
    wrapped = RuntimeError("while starting")
    wrapped.__cause__ = sqlite3.DatabaseError("file is not a database")
    assert damage_of(wrapped) == ("it is not a database file (its first page is damaged or it "
                                  "was overwritten)")
