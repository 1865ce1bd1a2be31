"""The `clarion` entry point as a user runs it: a real process on a real data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_clarion(*args: str, data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "ui.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_window_starts_populated_and_exits(tmp_path):
    result = run_clarion("demo", "--exit-after-startup", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    demo_db = tmp_path / "demo" / "clarion-demo.db"
    assert demo_db.exists()
    assert not (tmp_path / "clarion.db").exists(), "the demo never touches the real database"
    listing = run_clarion("incidents", "--demo", data_dir=tmp_path)
    assert "Patient portal unavailable" in listing.stdout
    assert "SEV2" in listing.stdout and "investigating" in listing.stdout


def test_demo_is_seeded_once_and_reset_rebuilds_it(tmp_path):
    from app.incidents.lifecycle import IncidentService
    from app.clock import SystemClock
    from app.storage import Store

    assert run_clarion("demo", "--exit-after-startup", data_dir=tmp_path).returncode == 0
    db = tmp_path / "demo" / "clarion-demo.db"
    store = Store.open(db)
    IncidentService(store, SystemClock()).add_note(1, "added by the user")
    store.dispose()
    assert run_clarion("demo", "--exit-after-startup", data_dir=tmp_path).returncode == 0
    store = Store.open(db)
    notes = [e.summary for e in IncidentService(store, SystemClock()).timeline(1)]
    store.dispose()
    assert "added by the user" in notes, "a second start must not reseed"
    assert run_clarion("--reset-demo", "--exit-after-startup", data_dir=tmp_path).returncode == 0
    store = Store.open(db)
    notes = [e.summary for e in IncidentService(store, SystemClock()).timeline(1)]
    store.dispose()
    assert "added by the user" not in notes


def test_first_run_creates_default_organisation_and_work_survives_restart(tmp_path):
    from app.clock import SystemClock
    from app.domain.enums import Phase
    from app.incidents.lifecycle import IncidentService
    from app.storage import Store

    assert run_clarion("--exit-after-startup", data_dir=tmp_path).returncode == 0
    store = Store.open(tmp_path / "clarion.db")
    from app.stakeholders.clients import list_clients

    clients = list_clients(store)
    assert [c.name for c in clients] == ["My organisation"]
    service = IncidentService(store, SystemClock())
    inc = service.open(client_id=clients[0].id, title="Core switch failure", severity="SEV1",
                       detected_at=SystemClock().now())
    service.move_phase(inc.id, Phase.RESPONDING)
    store.dispose()
    assert run_clarion("--exit-after-startup", data_dir=tmp_path).returncode == 0
    listing = run_clarion("incidents", data_dir=tmp_path)
    assert "Core switch failure" in listing.stdout and "responding" in listing.stdout


def test_a_database_from_a_newer_clarion_is_refused_plainly(tmp_path):
    import sqlite3

    assert run_clarion("--exit-after-startup", data_dir=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "clarion.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num='9999'")
    result = run_clarion("--exit-after-startup", data_dir=tmp_path)
    assert result.returncode == 2
    assert "newer version of Clarion" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["--version"]])
def test_version(tmp_path, args):
    result = run_clarion(*args, data_dir=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("clarion ")


def test_a_new_database_starts_and_exits_without_waiting_for_who_is_at_the_desk(tmp_path):
    """The first-run question is a bar, never a modal: --exit-after-startup on a new database
    exits at once, and nobody was made a coordinator behind the user's back."""
    import sqlite3

    # a modal question would never be answered: the process would run into the timeout
    result = run_clarion("--exit-after-startup", data_dir=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "clarion.db") as conn:
        assert conn.execute("SELECT count(*) FROM coordinators").fetchone() == (0,)
