"""`clarion outbox flush|status` as a user runs it: a real process on a real migrated database
with no accounts configured, so the embedded drill channel delivers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from app.clock import SystemClock
from app.config import AppConfig
from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery
from app.incidents.lifecycle import IncidentService
from app.stakeholders.clients import ensure_default_organisation
from app.storage import Store
from tests.outbox_support import add_message, people

ROOT = Path(__file__).resolve().parents[2]

# The flush reports whether the cyclic collector runs while it sends: start-up pauses it, and a
# long headless send must not run with it paused (nor scan the whole start-up heap each time).
CHILD = """
import gc, sys
import app.sending.runner as outbox
real = outbox.flush_headless
def probe(o):
    print(f"collector enabled={gc.isenabled()} frozen={gc.get_freeze_count()}", flush=True)
    return real(o)
outbox.flush_headless = probe
from ui.main import main
sys.exit(main(["outbox", *sys.argv[1:]]))
"""


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def queue_three(data_dir: Path) -> list[int]:
    config = AppConfig.from_env({"CLARION_DATA_DIR": str(data_dir)})
    config.ensure_dirs()
    store = Store.open(config.db_path)
    clock = SystemClock()
    try:
        client = ensure_default_organisation(store, clock)
        incident = IncidentService(store, clock, actor="test").open(
            client_id=client.id, title="Mail relay down", severity=Severity.SEV2,
            detected_at=clock.now())
        return add_message(store, clock, incident.id, people(3))
    finally:
        store.dispose()


def test_flush_sends_what_is_queued_with_the_collector_running(tmp_path):
    ids = queue_three(tmp_path)
    status = run_cli(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "queued      3" in status.stdout

    result = run_cli(tmp_path, "flush")
    assert result.returncode == 0, result.stderr
    probe = next(line for line in result.stdout.splitlines() if line.startswith("collector"))
    enabled, frozen = probe.split()[1:]
    assert enabled == "enabled=True"
    assert int(frozen.split("=")[1]) > 0  # start-up objects are out of later collections
    assert "claimed 3: sent 3, waiting to retry 0, failed 0, unknown 0" in result.stdout
    assert "sent        3" in result.stdout

    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)}).db_path)
    try:
        with store.session() as s:
            got = dict(s.execute(select(Delivery.id, Delivery.state)
                                 .where(Delivery.id.in_(ids))).all())
    finally:
        store.dispose()
    assert got == {i: DeliveryState.SENT for i in ids}
