"""Every way the database file breaks that issue 20 names, on real files and through the real
commands: a damaged header, a table's page, an index page, a truncated file, a -wal deleted after
a commit, a leftover -journal. For each: what the person sees (`clarion incidents`, the check
the window runs), nothing written into the broken file, and `clarion restore` of the backup —
after which the file passes integrity_check, holds every row of the backup, and the deliveries
that were not final in the backup are held for review."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from app.backups.integrity import check_database
from tests.integration.test_export_cli import clarion

TABLES = ("incidents", "timeline_entries", "messages", "deliveries", "stakeholders",
          "contact_points", "clients")
NOT_FINAL = ("queued", "retry_wait", "sending", "unknown")


def rows(path: Path) -> dict[str, set[int]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {t: {r[0] for r in conn.execute(f"SELECT id FROM {t}")} for t in TABLES}
    finally:
        conn.close()


def pages(path: Path, name: str, kind: str = "leaf") -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno",
            (name, kind))]
    finally:
        conn.close()


def overwrite(path: Path, page_numbers: list[int], size: int = 4096, length: int = 0) -> None:
    with open(path, "r+b") as fh:
        for page in page_numbers:
            fh.seek((page - 1) * size)
            fh.write(b"\xa5" * (length or size))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A demo data folder with four deliveries not final, and a backup of it (closed)."""
    data = tmp_path_factory.mktemp("matrix") / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    db = data / "demo" / "clarion-demo.db"
    conn = sqlite3.connect(db)
    with conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id LIMIT 4")]
        for state, i in zip(NOT_FINAL, ids):
            conn.execute("UPDATE deliveries SET state = ? WHERE id = ?", (state, i))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    made = clarion("backup", "--demo", data_dir=data)
    assert made.returncode == 0, made.stderr
    [backup] = (data / "backups").glob("clarion-demo-*.db")
    return data, backup, ids


def _damage(how: str, db: Path) -> None:
    if how == "header":
        overwrite(db, [1], length=100)
    elif how == "table page":
        overwrite(db, pages(db, "timeline_entries")[-3:])
    elif how == "index page":
        overwrite(db, pages(db, "ix_timeline_incident_at") or
                  pages(db, "ix_timeline_incident_at", "internal"))
    elif how == "truncated":
        with open(db, "r+b") as fh:
            fh.truncate(db.stat().st_size // 2)
    elif how == "-wal deleted after a commit":
        # a commit that lives only in the -wal, then the -wal lost (a sync tool, a cleaner)
        writer = sqlite3.connect(db)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        with writer:
            writer.execute("UPDATE incidents SET title = 'Only in the WAL' WHERE id = 1")
        copy = db.with_name("copy.db")
        shutil.copyfile(db, copy)   # the main file as it is while the -wal holds the commit
        writer.close()
        os.replace(copy, db)
        for extra in ("-wal", "-shm"):
            Path(f"{db}{extra}").unlink(missing_ok=True)
    elif how == "leftover -journal":
        Path(f"{db}-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\xa5" * 4088)
    else:
        raise AssertionError(how)


CASES = {
    # how: (the check finds damage, `clarion incidents` exits 3)
    "header": (True, True),
    "table page": (True, False),     # opening reads no timeline page: the check finds it
    "index page": (True, False),
    "truncated": (True, True),
    "-wal deleted after a commit": (False, False),   # a consistent older file: nothing to see
    "leftover -journal": (False, False),             # a WAL database ignores a rollback journal
}


@pytest.mark.parametrize("how", list(CASES))
def test_each_kind_of_damage_is_seen_and_a_restore_puts_every_row_back(prepared, tmp_path,
                                                                      how):
    source, backup, not_final = prepared
    data = tmp_path / "data"
    shutil.copytree(source, data)
    db = data / "demo" / "clarion-demo.db"
    backup = data / "backups" / backup.name
    in_backup = rows(backup)
    _damage(how, db)
    damaged_bytes = db.read_bytes()
    check_finds, cli_refuses = CASES[how]
    listed = clarion("incidents", "--demo", data_dir=data)   # opening, as the window does
    if cli_refuses:
        assert listed.returncode == 3, listed.stderr
        assert f"The database {db} is damaged" in listed.stderr
        assert f"`clarion restore {backup}` puts it back" in listed.stderr
        assert "Traceback" not in listed.stderr
        assert db.read_bytes() == damaged_bytes   # nothing written into the broken file
    else:
        assert listed.returncode == 0, listed.stderr
    # then the check the window runs after its first paint (a leftover journal is rolled
    # back by that opening: SQLite's own recovery, before any read-only check could run)
    assert check_database(db, full=True).ok is not check_finds
    assert not Path(f"{db}-journal").exists()
    back = clarion("restore", str(backup), "--demo", data_dir=data)
    assert back.returncode == 0, back.stderr
    assert "4 deliveries were not final in the backup" in back.stdout
    if check_finds:
        assert "The database it replaced was damaged." in back.stdout
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        held = dict(conn.execute(
            f"SELECT id, state FROM deliveries WHERE id IN ({','.join('?' * 4)})", not_final))
        restored_entries = conn.execute(
            "SELECT count(*) FROM timeline_entries WHERE kind = 'restored'").fetchone()[0]
    finally:
        conn.close()
    assert held == {i: "unknown" for i in not_final}
    assert restored_entries >= 1
    now = rows(db)
    for table, ids in in_backup.items():
        assert ids <= now[table], table      # every row of the backup is there
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
