"""The headless commands on a full disk: one sentence, exit code 1, no traceback (not even the
log's own complaint about a log file it cannot write), and nothing half-written."""

from __future__ import annotations

import sqlite3

import pytest

from tests.integration.test_export_cli import clarion
from tests.storage_support import SmallDisk


@pytest.fixture
def disk(tmp_path):  # type: ignore[no-untyped-def]
    small = SmallDisk(tmp_path / "disk", "16m").mount()
    yield small
    small.unmount()


def test_a_full_disk_is_one_sentence_on_the_command_line(disk):
    data = disk.path / "data"
    assert clarion("incidents", "--demo", data_dir=data).returncode == 0
    db = data / "demo" / "clarion-demo.db"
    assert not (data / "demo" / "clarion-demo.db-wal").exists()   # closed: all in the file
    before = sqlite3.connect(db).execute("SELECT count(*) FROM coordinators").fetchone()[0]
    disk.fill()
    for command in (("outbox", "flush", "--demo"),
                    ("coordinators", "add", "Dana Whitfield", "--demo")):
        full = clarion(*command, data_dir=data)
        assert full.returncode == 1, (command, full.stderr)
        assert "Traceback" not in full.stderr and "Logging error" not in full.stderr, \
            full.stderr
        assert "The disk holding the database is full" in full.stderr, full.stderr
    disk.free()
    after = sqlite3.connect(db).execute("SELECT count(*) FROM coordinators").fetchone()[0]
    assert after == before
    added = clarion("coordinators", "add", "Dana Whitfield", "--demo", data_dir=data)
    assert added.returncode == 0, added.stderr
    assert sqlite3.connect(db).execute(
        "SELECT count(*) FROM coordinators").fetchone()[0] == before + 1
