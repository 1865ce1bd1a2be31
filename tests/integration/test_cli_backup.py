"""`clarion backup` and `clarion restore` as processes, on the demo database of a new data
folder: a backup into the rolling set and into a file, the list, a restore that keeps the
replaced file aside and holds what was not final, and the refusals with their exit codes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.integration.test_export_cli import clarion


def demo_db(data: Path) -> Path:
    return data / "demo" / "clarion-demo.db"


def test_backup_list_and_restore_as_processes(tmp_path):
    data = tmp_path / "data"
    missing = clarion("backup", "--demo", data_dir=data)
    assert missing.returncode == 3 and "no database" in missing.stderr
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0   # seeds the demo

    done = clarion("backup", "--demo", data_dir=data)
    assert done.returncode == 0, done.stderr
    [backup] = (data / "backups").glob("clarion-demo-*.db")
    assert f"to {backup} (" in done.stdout and "check: ok" in done.stdout
    assert backup.stat().st_mode & 0o777 == 0o600
    listed = clarion("backup", "--list", "--demo", data_dir=data)
    assert listed.returncode == 0 and str(backup) in listed.stdout

    copy = tmp_path / "elsewhere" / "before.db"
    assert clarion("backup", "--demo", "-o", str(copy), data_dir=data).returncode == 0
    assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone() == ("ok",)

    db = demo_db(data)
    conn = sqlite3.connect(db)   # after the backup: a change, and a delivery still queued
    with conn:
        conn.execute("UPDATE incidents SET title = 'Changed after the backup' WHERE id = 1")
    conn.close()
    back = clarion("restore", str(copy), "--demo", data_dir=data)
    assert back.returncode == 0, back.stderr
    assert f"Restored {db} from the backup of" in back.stdout
    [aside] = [p for p in db.parent.glob("clarion-demo.db.before-restore-*")
               if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert f"kept at {aside}" in back.stdout
    assert sqlite3.connect(aside).execute(
        "SELECT title FROM incidents WHERE id = 1").fetchone() == ("Changed after the backup",)
    restored = sqlite3.connect(db)
    assert restored.execute("SELECT title FROM incidents WHERE id = 1").fetchone() != (
        "Changed after the backup",)
    assert restored.execute("SELECT count(*) FROM timeline_entries WHERE kind = 'restored'"
                            ).fetchone()[0] >= 1
    restored.close()
    # and the window's headless views read it
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0


def test_restore_refusals_change_nothing(tmp_path):
    from app.clock import SystemClock
    from app.sending.lease import take
    from app.storage import Store

    data = tmp_path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    copy = tmp_path / "copy.db"
    assert clarion("backup", "--demo", "-o", str(copy), data_dir=data).returncode == 0
    db = demo_db(data)

    gone = clarion("restore", str(tmp_path / "nope.db"), "--demo", data_dir=data)
    assert gone.returncode == 2 and "no such file" in gone.stderr

    text = tmp_path / "contacts.csv"
    text.write_text("name,email\n")
    wrong = clarion("restore", str(text), "--demo", data_dir=data)
    assert wrong.returncode == 1 and "cannot be restored" in wrong.stderr

    store = Store(db)   # a sender (another window) is live on this database
    try:
        take(store, SystemClock(), "the Clarion window (process 4242 on desk-2)")
    finally:
        store.dispose()
    before = db.read_bytes()
    busy = clarion("restore", str(copy), "--demo", data_dir=data)
    assert busy.returncode == 1
    assert "not restored: the Clarion window (process 4242 on desk-2) is sending" in busy.stderr
    assert db.read_bytes() == before and not list(db.parent.glob("*.before-restore-*"))


def test_a_damaged_database_is_said_in_words_with_the_backup_that_puts_it_back(tmp_path):
    data = tmp_path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    assert clarion("backup", "--demo", data_dir=data).returncode == 0
    [backup] = (data / "backups").glob("clarion-demo-*.db")
    db = demo_db(data)
    with open(db, "r+b") as fh:   # the first page (the header and the list of tables) damaged
        fh.write(b"\x00garbage" * 512)
    for command in (("incidents", "--demo"), ("messages", "1", "--demo"),
                    ("outbox", "status", "--demo")):
        broken = clarion(*command, data_dir=data)
        assert broken.returncode == 3, (command, broken.stderr)
        assert "Traceback" not in broken.stderr
        assert f"The database {db} is damaged: " in broken.stderr
        assert f"`clarion restore {backup}` puts it back" in broken.stderr
    back = clarion("restore", str(backup), "--demo", data_dir=data)
    assert back.returncode == 0, back.stderr
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    [aside] = [p for p in db.parent.glob("clarion-demo.db.before-restore-*")
               if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert aside.read_bytes()[:8] == b"\x00garbage"   # the damaged file, kept as it was
