"""A database whose damage shows only in the middle of a command (a timeline page, read long
after the file opened) gives one message and exit code 3 (DESIGN's CLI conventions), never a
traceback, and names the backup that puts it back."""

from __future__ import annotations

import sqlite3

from tests.integration.test_export_cli import clarion


def test_damage_found_in_the_middle_of_a_command_is_one_message_and_exit_3(tmp_path):
    data = tmp_path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    assert clarion("backup", "--demo", data_dir=data).returncode == 0
    [backup] = (data / "backups").glob("clarion-demo-*.db")
    db = data / "demo" / "clarion-demo.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'timeline_entries' AND pagetype = 'leaf' "
        "ORDER BY pageno")]
    conn.close()
    with open(db, "r+b") as fh:
        for page in pages:   # every leaf of the timeline: the opening itself reads none
            fh.seek((page - 1) * size)
            fh.write(b"\xa5" * size)
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0   # opens fine
    broken = clarion("export", "1", "--format", "md", "--audience", "technical",
                     "-o", str(tmp_path / "report.md"), "--demo", data_dir=data)
    assert broken.returncode == 3, broken.stderr
    assert "Traceback" not in broken.stderr
    assert broken.stderr.count("clarion: ") == 1
    assert f"The database {db} is damaged: a page of it is damaged" in broken.stderr
    assert f"`clarion restore {backup}` puts it back" in broken.stderr
    assert not (tmp_path / "report.md").exists()   # nothing half-written
