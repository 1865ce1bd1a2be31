"""Salvaging a damaged database before a restore (app/backups/salvage.py), on real Clarion
databases damaged on purpose: a leaf page of the timeline in the middle, an interior page, the
header, an index page, a garbled entry in the list of tables, text that is not UTF-8. Each is
salvaged table by table and with the sqlite3 shell's `.recover`: where the shell's `.recover`
cannot work (Debian 12 builds it without sqlite_dbpage) the salvage must say so and copy table
by table; where it works, its result is checked. `CLARION_TEST_SQLITE3=/path/to/sqlite3` tests
another shell than the one on PATH. Then restore() and `clarion restore` with the salvage."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.backups import salvage as salvage_module
from app.backups.copies import backup_name, online_backup
from app.backups.integrity import check_database
from app.backups.restore import restore
from app.backups.salvage import RECOVER, TABLE_BY_TABLE, Salvaged, salvage
from app.clock import FrozenClock
from app.demo.seed import ensure_demo

SEEDED_AT = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 14, 20, tzinfo=UTC)
SIDE = "clarion.db.salvaged-20261206T142000Z.db"
SHELL = os.environ.get("CLARION_TEST_SQLITE3") or shutil.which("sqlite3")


@functools.cache
def recover_works() -> bool:
    """Whether the shell's `.recover` runs at all (it needs sqlite_dbpage in its library)."""
    if SHELL is None:
        return False
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.db"
        conn = sqlite3.connect(probe)
        conn.execute("CREATE TABLE t (a)")
        conn.close()
        done = subprocess.run([SHELL, "-init", os.devnull, str(probe), ".recover"],
                              capture_output=True, timeout=60, check=False)
    return done.returncode == 0


# ---------------------------------------------------------------- real databases, damaged

@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A seeded demo database with 544 timeline entries (43 leaf pages) and 40 deliveries
    (their wire copies on overflow pages), closed: one file, no -wal."""
    path = tmp_path_factory.mktemp("pristine") / "clarion.db"
    assert ensure_demo(path, FrozenClock(SEEDED_AT))
    conn = sqlite3.connect(path)
    cols = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(timeline_entries)")
                     if r[1] != "id")
    with conn:
        for _ in range(3):
            conn.execute(f"INSERT INTO timeline_entries ({cols}) SELECT {cols} "
                         "FROM timeline_entries")
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["clarion.db"]
    return path


@pytest.fixture
def db(pristine, tmp_path) -> Path:
    """A fresh copy of the pristine database, alone in its folder."""
    path = tmp_path / "data" / "clarion.db"
    path.parent.mkdir()
    shutil.copyfile(pristine, path)
    return path


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def pages(path: Path, name: str, kind: str) -> list[tuple[int, int]]:
    """(page number, cells) of b-tree `name`'s pages of `kind` (leaf, internal, overflow), in
    the b-tree's order."""
    conn = read_only(path)
    try:
        return conn.execute("SELECT pageno, ncell FROM dbstat WHERE name = ? AND pagetype = ? "
                            "ORDER BY path", (name, kind)).fetchall()
    finally:
        conn.close()


def damage(path: Path, page: int, size: int = 4096, length: int | None = None) -> None:
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xa5" * (length or size))


def counts(path: Path) -> dict[str, int]:
    conn = read_only(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def timeline_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM timeline_entries ORDER BY id")]
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(db: Path, how: str) -> Salvaged:
    """Salvage `db` (into its folder, named by NOW) the way `how` says, checking what holds
    for every salvage: the damaged file's bytes unchanged and nothing but the side file added
    beside it (no -wal, -shm, -journal or temporary file)."""
    if how == "shell" and SHELL is None:
        pytest.skip("the sqlite3 shell is not installed (apt-get install sqlite3): the salvage "
                    "with .recover is not tested here")
    before, there = digest(db), {p.name for p in db.parent.iterdir()}
    got = salvage(db, now=NOW, shell=SHELL if how == "shell" else None)
    assert got is not None
    assert digest(db) == before
    added = sorted({p.name for p in db.parent.iterdir()} - there)
    assert added == ([got.path.name] if got.path is not None else [])
    if how == "shell" and not recover_works():   # Debian 12's shell: it says why, then copies
        assert got.method == TABLE_BY_TABLE and "sqlite3 .recover failed (exit" in got.note
    elif how == "shell" and got.path is not None:
        assert got.method == RECOVER
    else:
        assert got.method == TABLE_BY_TABLE
    return got


def side_file_ok(got: Salvaged) -> Path:
    assert got.path is not None and got.path.name == SIDE and got.path.is_file()
    assert got.path.stat().st_mode & 0o777 == 0o600
    conn = sqlite3.connect(got.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    assert got.tables == counts(got.path)   # counted in the side file
    return got.path


HOW = ["table by table", "shell"]


@pytest.mark.parametrize("how", HOW)
def test_a_destroyed_leaf_page_loses_only_its_rows(db, how):
    before = counts(db)
    all_ids = timeline_ids(db)
    leaves = pages(db, "timeline_entries", "leaf")
    page, cells = leaves[len(leaves) // 2]
    damage(db, page)
    assert not check_database(db).ok
    got = run(db, how)
    side = side_file_ok(got)
    ids = timeline_ids(side)
    missing = sorted(set(all_ids) - set(ids))
    # the first and the last entry are there; exactly the page's rows are not, one run of ids
    assert ids[0] == all_ids[0] and ids[-1] == all_ids[-1] and not set(ids) - set(all_ids)
    assert len(missing) == cells and missing == list(range(missing[0], missing[-1] + 1))
    assert all_ids[0] < missing[0] and missing[-1] < all_ids[-1]
    assert {n: c for n, c in got.tables.items() if n != "timeline_entries"} == {
        n: c for n, c in before.items() if n != "timeline_entries"}
    assert got.failed == ()
    if got.method == TABLE_BY_TABLE:
        assert got.partial == ("timeline_entries",)
        assert "rows of timeline_entries were lost to the damage" in got.summary()
    total = sum(before.values()) - cells
    assert got.summary().startswith(
        f"Salvaged {total:,} rows of {len(before)} tables (timeline_entries: "
        f"{len(all_ids) - cells}, ")
    assert f" into {side} (" in got.summary()


@pytest.mark.parametrize("how", HOW)
def test_a_destroyed_deliveries_leaf_keeps_the_other_deliveries(db, how):
    before = counts(db)
    conn = sqlite3.connect(db)
    first, last = conn.execute("SELECT min(id), max(id) FROM deliveries").fetchone()
    conn.close()
    leaves = pages(db, "deliveries", "leaf")
    damage(db, leaves[len(leaves) // 2][0])
    got = run(db, how)
    side = side_file_ok(got)
    conn = sqlite3.connect(side)
    ids = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id")]
    wires = conn.execute("SELECT count(*) FROM deliveries WHERE wire IS NOT NULL").fetchone()[0]
    conn.close()
    assert ids[0] == first and ids[-1] == last and 0 < len(ids) < before["deliveries"]
    assert wires == len(ids)   # the rows came whole, their overflow pages too
    assert got.tables["timeline_entries"] == before["timeline_entries"]


@pytest.mark.parametrize("how", HOW)
def test_a_row_whose_content_is_damaged_is_the_only_one_lost(db, how):
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id")]
    middle = ids[len(ids) // 2]
    with conn:   # a wire copy over five overflow pages: the first one destroyed breaks the chain
        conn.execute("UPDATE deliveries SET wire = randomblob(20000) WHERE id = ?", (middle,))
    conn.close()
    conn = read_only(db)
    overflow = dict(conn.execute("SELECT path, pageno FROM dbstat WHERE name = 'deliveries' "
                                 "AND pagetype = 'overflow'").fetchall())
    conn.close()
    [second] = [path for path in overflow if path.endswith("+000001")]
    damage(db, overflow[second[:-7] + "+000000"])   # the row's own page is whole
    got = run(db, how)
    side = side_file_ok(got)
    conn = sqlite3.connect(side)
    kept = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id")]
    conn.close()
    if got.method == TABLE_BY_TABLE:
        assert kept == [i for i in ids if i != middle] and got.partial == ("deliveries",)
    else:
        assert set(ids) - {middle} <= set(kept)


@pytest.mark.parametrize("how", HOW)
def test_a_destroyed_interior_page(db, how):
    before = counts(db)
    [(page, _cells)] = pages(db, "timeline_entries", "internal")   # the table's root
    damage(db, page)
    got = run(db, how)
    side_file_ok(got)
    if got.method == TABLE_BY_TABLE:   # no way down to the leaves: the table is lost
        assert got.failed == ("timeline_entries",) and got.tables["timeline_entries"] == 0
        assert "1 table could not be read: timeline_entries." in got.summary()
    else:                              # .recover reads the orphaned leaves into lost_and_found
        assert got.tables.get("lost_and_found", 0) + got.tables["timeline_entries"] == \
            before["timeline_entries"]
    assert got.tables["deliveries"] == before["deliveries"]


@pytest.mark.parametrize("length", [100, 4096], ids=["header", "first page"])
@pytest.mark.parametrize("how", HOW)
def test_a_destroyed_header(db, how, length):
    before = counts(db)
    damage(db, 1, length=length)
    got = run(db, how)
    if got.path is None:   # table by table always; the shell's .recover where it cannot
        assert got.tables == {} and got.rows == 0
        assert "file is not a database" in got.note
        assert got.summary() == f"Nothing could be salvaged from {db}: {got.note}."
    else:                  # a .recover that rebuilds the header: what it found, checked
        assert got.method == RECOVER and side_file_ok(got)
        assert 0 < got.tables.get("timeline_entries", 0) <= before["timeline_entries"]
    if how == "table by table":
        assert got.path is None


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_index_loses_no_row(db, how):
    before = counts(db)
    leaves = pages(db, "ix_timeline_incident_at", "leaf")
    damage(db, leaves[len(leaves) // 2][0])
    assert not check_database(db).ok   # quick_check sees it: a restore will salvage
    got = run(db, how)
    side = side_file_ok(got)
    assert got.tables == before and got.failed == () and got.partial == ()
    conn = sqlite3.connect(side)
    kinds = dict(conn.execute("SELECT type, count(*) FROM sqlite_master GROUP BY type"))
    indexed = conn.execute("SELECT count(*) FROM timeline_entries INDEXED BY "
                           "ix_timeline_incident_at WHERE incident_id > 0").fetchone()[0]
    conn.close()
    assert indexed == before["timeline_entries"]   # the index was rebuilt from the rows
    if got.method == TABLE_BY_TABLE:
        assert "trigger" not in kinds and "view" not in kinds   # evidence: nothing writes to it


def test_a_garbled_create_statement_costs_that_table_only(db):
    before = counts(db)
    data = bytearray(db.read_bytes())
    at = data.find(b"CREATE TABLE feedback")
    assert at > 0
    data[at + 13:at + 21] = b"(((((((("   # still 8 bytes: only the statement is broken
    db.write_bytes(bytes(data))
    got = run(db, "table by table")
    side_file_ok(got)
    assert got.failed == ("feedback",)
    assert got.tables == {n: c for n, c in before.items() if n != "feedback"}


def test_text_that_is_not_utf8_keeps_its_row(db):
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TRIGGER timeline_entries_no_update")
        conn.execute("UPDATE timeline_entries SET summary = CAST(x'4869ff20c3' AS TEXT) "
                     "WHERE id = 5")
    conn.close()
    leaves = pages(db, "timeline_entries", "leaf")
    damage(db, leaves[-2][0])
    got = run(db, "table by table")
    side = side_file_ok(got)
    conn = sqlite3.connect(side)
    row = conn.execute("SELECT summary, typeof(summary) FROM timeline_entries WHERE id = 5"
                       ).fetchone()
    conn.close()
    assert row == ("Hi\ufffd \ufffd", "text")


def test_committed_changes_still_in_the_wal_are_salvaged(db, tmp_path):
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    with conn:
        conn.execute("UPDATE incidents SET title = 'Only in the WAL' WHERE id = 1")
    shutil.copyfile(db, crashed / "clarion.db")          # as a crash leaves it: the file and
    shutil.copyfile(f"{db}-wal", crashed / "clarion.db-wal")   # its WAL, not checkpointed
    conn.close()
    damaged = crashed / "clarion.db"
    damage(damaged, pages(damaged, "timeline_entries", "leaf")[3][0])
    wal = digest(crashed / "clarion.db-wal")
    before = digest(damaged)
    got = salvage(damaged, now=NOW, shell=None)
    assert got is not None and got.path is not None
    assert digest(damaged) == before and digest(crashed / "clarion.db-wal") == wal
    conn = sqlite3.connect(got.path)
    assert conn.execute("SELECT title FROM incidents WHERE id = 1").fetchone() == (
        "Only in the WAL",)
    conn.close()


# ---------------------------------------------------------------- names, and no file at all

def test_side_files_are_named_by_the_time_and_never_overwrite(db, tmp_path):
    damage(db, pages(db, "timeline_entries", "leaf")[5][0])
    first = salvage(db, now=NOW, shell=None)
    second = salvage(db, now=NOW, shell=None)
    elsewhere = salvage(db, tmp_path / "evidence" / "salvage", now=NOW, shell=None)
    assert first is not None and second is not None and elsewhere is not None
    assert first.path == db.parent / SIDE
    assert second.path == db.parent / "clarion.db.salvaged-20261206T142000Z-2.db"
    assert elsewhere.path == tmp_path / "evidence" / "salvage" / SIDE
    assert first.tables == second.tables == elsewhere.tables
    assert salvage(tmp_path / "missing.db", now=NOW) is None


# ---------------------------------------------------------------- the shell, stood in for

def fake_shell(tmp_path: Path, script: str) -> str:
    """An executable standing in for the sqlite3 shell: it records its arguments to
    `args.txt` beside it, then runs `script` (Python)."""
    path = tmp_path / "bin" / "sqlite3"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport sys\n"
                    f"open({str(path.parent / 'args.txt')!r}, 'w').write('\\n'.join(sys.argv))\n"
                    + script)
    path.chmod(0o700)
    return str(path)


RECOVERED = '''
print("""PRAGMA foreign_keys=OFF;
BEGIN;
PRAGMA writable_schema = on;
CREATE TABLE IF NOT EXISTS  t(a, b);
INSERT INTO "t"("_rowid_", "a", "b") VALUES( 1, 'one;
two', 2 );
INSERT INTO "t"("_rowid_", "a", "b") VALUES( 2, 'it''s', x'00ff' );
INSERT INTO "nowhere" VALUES (1);
CREATE TABLE extra(a); INSERT INTO extra VALUES (1);
CREATE TABLE IF NOT EXISTS lost_and_found(rootpgno INTEGER, pgno INTEGER, nfield INTEGER,
  id INTEGER, c0, c1);
INSERT INTO "lost_and_found" VALUES(12, 40, 2, 7, 'a', 'b');
INSERT INTO "lost_and_found" VALUES(12, 41, 2, 8, 'c', 'd');
PRAGMA writable_schema = off;
COMMIT;""")
'''


def test_the_shells_recover_is_loaded_lost_and_found_kept(db, tmp_path, monkeypatch):
    shell = fake_shell(tmp_path, RECOVERED)
    monkeypatch.setattr(salvage_module.shutil, "which", lambda name: shell)
    damage(db, pages(db, "timeline_entries", "leaf")[5][0])
    got = salvage(db, now=NOW)   # "auto": the shell on PATH
    assert got is not None and got.method == RECOVER
    side = side_file_ok(got)
    assert got.tables == {"t": 2, "lost_and_found": 2, "extra": 1} and got.failed == ()
    conn = sqlite3.connect(side)
    assert conn.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == [
        ("one;\ntwo", 2), ("it's", b"\x00\xff")]
    conn.close()
    args = (tmp_path / "bin" / "args.txt").read_text().split("\n")
    assert args[1:] == ["-init", os.devnull,
                        f"{db.resolve().as_uri()}?mode=ro&immutable=1", ".recover"]
    assert got.summary() == (f"Salvaged 5 rows of 3 tables (lost_and_found: 2, t: 2, extra: 1) "
                             f"into {side} (with sqlite3 .recover).")
    monkeypatch.setattr(salvage_module.shutil, "which", lambda name: None)
    assert salvage(db, now=NOW).method == TABLE_BY_TABLE   # no shell on PATH
    assert salvage(db, now=NOW, shell=None).method == TABLE_BY_TABLE


def test_no_shell_is_run_when_told_not_to(db, tmp_path, monkeypatch):
    shell = fake_shell(tmp_path, RECOVERED)
    monkeypatch.setattr(salvage_module.shutil, "which", lambda name: shell)
    got = salvage(db, now=NOW, shell=None)
    assert got is not None and got.method == TABLE_BY_TABLE
    assert not (tmp_path / "bin" / "args.txt").exists()


@pytest.mark.parametrize("script, said", [
    (('print("BEGIN;\\nPRAGMA writable_schema = on;")\n'
      'sys.stderr.write("Error: no such table: sqlite_dbpage\\n")\nsys.exit(1)'),
     "sqlite3 .recover failed (exit 1: Error: no such table: sqlite_dbpage)"),
    ("import threading\nthreading.Event().wait()", "sqlite3 .recover did not finish within 1 s"),
    ('print("BEGIN;\\nPRAGMA writable_schema = on;\\nCOMMIT;")', "sqlite3 .recover found no table"),
], ids=["fails", "hangs", "finds nothing"])
def test_a_shell_that_fails_gives_way_to_table_by_table(db, tmp_path, monkeypatch, script, said):
    monkeypatch.setattr(salvage_module, "SHELL_TIMEOUT_S", 1.0)
    before = counts(db)
    got = salvage(db, now=NOW, shell=fake_shell(tmp_path, script))
    assert got is not None and got.method == TABLE_BY_TABLE and got.note == said
    assert side_file_ok(got) and got.tables == before   # the partial output was not kept
    assert sorted(p.name for p in db.parent.iterdir()) == ["clarion.db", SIDE]


def test_sql_from_the_shell_cannot_reach_another_file(db, tmp_path):
    script = ('print("ATTACH \'%s\' AS x;\\nCREATE TABLE x.t(a);\\nCREATE TABLE t(a);\\n'
              'INSERT INTO t VALUES (1);")' % (tmp_path / "elsewhere.db"))
    got = salvage(db, now=NOW, shell=fake_shell(tmp_path, script))
    assert got is not None and got.method == RECOVER and got.tables == {"t": 1}
    assert not (tmp_path / "elsewhere.db").exists()


# ---------------------------------------------------------------- restore

@pytest.fixture
def restoring(db, tmp_path):
    """(db, backup of it, clock at NOW) for a restore."""
    backup = online_backup(db, tmp_path / "backups" / backup_name("clarion", SEEDED_AT))
    return db, backup.path, FrozenClock(NOW)


def test_a_restore_over_a_damaged_database_salvages_it_first(restoring):
    db, backup, clock = restoring
    damage(db, pages(db, "timeline_entries", "leaf")[20][0])
    damaged = digest(db)
    done = restore(db, backup, clock)
    assert done.salvaged is not None and done.salvaged.path == db.parent / SIDE
    assert done.salvaged.path.is_file() and done.salvaged.rows > 0
    assert done.salvaged.tables["timeline_entries"] < counts(backup)["timeline_entries"]
    assert done.salvaged.summary().startswith("Salvaged ")
    assert done.aside is not None and digest(done.aside) == damaged   # kept aside as it was
    assert check_database(db).ok


def test_a_restore_over_a_sound_database_salvages_nothing(restoring):
    db, backup, clock = restoring
    done = restore(db, backup, clock)
    assert done.salvaged is None and done.aside is not None
    assert not list(db.parent.glob("*.salvaged-*"))


def test_a_restore_over_an_unreadable_database_says_nothing_could_be_salvaged(restoring):
    db, backup, clock = restoring
    damage(db, 1, length=100)
    done = restore(db, backup, clock)
    assert done.salvaged is not None and done.salvaged.path is None
    assert done.salvaged.summary().startswith(f"Nothing could be salvaged from {db}: ")
    assert not list(db.parent.glob("*.salvaged-*")) and check_database(db).ok


def test_a_salvage_that_breaks_does_not_stop_the_restore(restoring, monkeypatch):
    import app.backups.restore as restore_module

    def broken(*_args, **_kwargs):
        raise RuntimeError("the salvage broke")

    monkeypatch.setattr(restore_module, "salvage", broken)
    db, backup, clock = restoring
    damage(db, pages(db, "timeline_entries", "leaf")[20][0])
    done = restore(db, backup, clock)
    assert done.salvaged is None and done.aside is not None and check_database(db).ok


def test_clarion_restore_prints_what_was_salvaged(tmp_path):
    from tests.integration.test_export_cli import clarion

    data = tmp_path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0   # seeds the demo
    copy = tmp_path / "copy.db"
    assert clarion("backup", "--demo", "-o", str(copy), data_dir=data).returncode == 0
    db = data / "demo" / "clarion-demo.db"
    damage(db, pages(db, "deliveries", "leaf")[10][0])
    back = clarion("restore", str(copy), "--demo", data_dir=data)
    assert back.returncode == 0, back.stderr
    [side] = db.parent.glob("clarion-demo.db.salvaged-*.db")
    assert "The database it replaced was damaged. Salvaged " in back.stdout
    assert f" into {side} (" in back.stdout and "Traceback" not in back.stderr

    damage(db, 1, length=100)   # now the restored one, beyond reading
    again = clarion("restore", str(copy), "--demo", data_dir=data)
    assert again.returncode == 0, again.stderr
    assert (f"The database it replaced was damaged. Nothing could be salvaged from {db}: "
            in again.stdout)
    assert len(list(db.parent.glob("clarion-demo.db.salvaged-*.db"))) == 1
