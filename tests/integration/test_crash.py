"""A process killed mid-write loses nothing it reported as committed, and the file stays sound
(WAL + synchronous=FULL, DESIGN.md "Backups")."""

from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WANTED = 200
DEADLINE_S = 60.0

WRITER = r"""
import sys
from datetime import datetime, timezone
from app.stakeholders.clients import ensure_default_organisation
from app.clock import SystemClock
from app.domain.enums import Severity
from app.incidents.lifecycle import IncidentService
from app.storage import Store

store = Store.open(sys.argv[1])
clock = SystemClock()
client = ensure_default_organisation(store, clock)
service = IncidentService(store, clock, actor="crash-test")
incident = service.open(client_id=client.id, title="Crash test", severity=Severity.SEV3,
                        detected_at=clock.now())
print(f"incident {incident.id}", flush=True)
n = 0
while True:
    n += 1
    entry = service.add_note(incident.id, f"note {n}")  # returns after COMMIT
    sys.stdout.write(f"{entry.id}\n")
    sys.stdout.flush()
"""


def _read_lines_until(proc: subprocess.Popen, wanted: int, deadline: float) -> list[str]:
    """Lines from proc.stdout until `wanted` entry ids were seen; fails at the deadline."""
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buffer = b""
    lines: list[str] = []
    try:
        while sum(1 for line in lines if line.isdigit()) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"writer too slow: {len(lines)} lines in {DEADLINE_S} s")
            if not sel.select(timeout=remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"writer exited early (rc={proc.wait()}): "
                                     f"{proc.stderr.read().decode(errors='replace')}")
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            lines += [line.decode() for line in complete]
    finally:
        sel.close()
    return lines


def test_sigkill_mid_write_keeps_every_committed_entry(tmp_path):
    db = tmp_path / "crash.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lines = _read_lines_until(proc, WANTED, time.monotonic() + DEADLINE_S)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    assert lines[0].startswith("incident ")
    incident_id = int(lines[0].split()[1])
    printed = [int(line) for line in lines[1:] if line.isdigit()]
    assert len(printed) >= WANTED
    assert printed == sorted(set(printed)), "ids are unique and increasing"

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        stored = {row[0] for row in conn.execute(
            "SELECT id FROM timeline_entries WHERE incident_id = ?", (incident_id,))}
        kinds = dict(conn.execute(
            "SELECT id, kind FROM timeline_entries WHERE incident_id = ?", (incident_id,)))
    missing = [i for i in printed if i not in stored]
    assert missing == []
    assert all(kinds[i] == "note" for i in printed)
    # the created entry is there too
    assert len(stored) >= len(printed) + 1
