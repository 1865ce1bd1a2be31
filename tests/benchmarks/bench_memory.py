"""The window's memory on a large data set (issue 22): 20 clients × 500 stakeholders (10,000),
1,000 open incidents with 3 messages of 20 deliveries each (60,000 deliveries, built as
bench_clocks.py builds them), and one incident of 100,000 timeline entries. A fresh process
opens the MainWindow on it, shows the long incident, then opens every workspace in turn;
its RSS (current and peak) is printed after each step, beside the same window on a fresh
database (the baseline, same run).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_memory.py
        [--stakeholders 500] [--incidents 1000] [--entries 100000] [--keep DIR]
Goal: ≤ 300 MB after every workspace is open."""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WORKSPACES = ("stakeholders", "composer", "outbox", "incidents")


def build(data_dir: Path, stakeholders: int, incidents: int, entries: int) -> int:
    """The large database at the configured path; returns the long incident's id."""
    os.environ["CLARION_DATA_DIR"] = str(data_dir)
    import bench_clocks as bc
    from bench_timeline import fill

    from app.clock import FrozenClock
    from app.config import AppConfig
    from app.domain.enums import Severity
    from app.events import EventBus
    from app.incidents.lifecycle import IncidentService
    from app.sending.accounts import AccountService
    from app.sending.secrets import MemorySecretBackend, SecretStore
    from app.storage import Store

    config = AppConfig.from_env()
    config.ensure_dirs()
    begin = time.perf_counter()
    rng = random.Random(6)
    clock = bc.FrozenClock(bc.NOW)
    store = Store.open(config.db_path, config.backup_dir)
    clients = bc.add_clients(store, clock, 20)
    bc.add_stakeholders(store, clock, clients, stakeholders // 20, rng)
    drill = AccountService(store, clock, SecretStore(MemorySecretBackend())) \
        .create_drill_if_missing()
    clock.set(bc.NOW - timedelta(minutes=30))
    samples, sample_ids = bc.sample_messages(store, clock, clients, 20)
    clock.set(bc.NOW)
    stats = bc.bulk_incidents(store, clients, incidents - len(sample_ids), 3, 20, samples,
                              drill.id, rng)
    service = IncidentService(store, FrozenClock(bc.NOW), EventBus(), actor=bc.ACTOR)
    long = service.open(client_id=clients[0].id, title="The long breach",
                        severity=Severity.SEV1, detected_at=bc.NOW - timedelta(days=3))
    fill(store, long.id, entries, bc.NOW - timedelta(seconds=entries + 60))
    with store.engine.connect() as conn:
        conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    size = config.db_path.stat().st_size / 1_048_576
    print(f"built: {stakeholders:,} stakeholders, {incidents:,} incidents, "
          f"{stats['deliveries']:,} bulk deliveries, "
          f"{entries:,} entries on incident {long.id}; {size:.0f} MB in "
          f"{time.perf_counter() - begin:.0f} s")
    return long.id


WINDOW = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])

def rss():
    fields = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    return (int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024)

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from app import runtime
from app.clock import SystemClock
from app.config import AppConfig
from app.storage import Store
from ui.mainwindow import MainWindow
from ui.services import Services

app = QApplication([])
config = AppConfig.from_env()
store = Store.open(config.db_path, config.backup_dir)
services = Services.build(config, store, SystemClock(), actor="Bench Coordinator")

def settle(seconds=1.5):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or QThreadPool.globalInstance().activeThreadCount():
        app.processEvents()
        time.sleep(0.02)
        if time.perf_counter() > end + 60:
            break

window = MainWindow(services)
window.resize(1440, 880)
window.incidents.reload()
window.show()
settle()
runtime.settle_heap()
print("start-up", *rss())
long_id = int(sys.argv[2])
if long_id:
    assert window.incidents.select_incident(long_id)
    settle()
    print("long incident shown", *rss())
for key in sys.argv[3].split(","):
    window.nav_buttons[key].setChecked(True)
    settle()
    print(key, *rss())
window.incidents.view.facts.revert()
window.close()
services.close()
"""


def window_rss(data_dir: Path, long_id: int) -> list[tuple[str, int, int]]:
    out = subprocess.run(
        [sys.executable, "-c", WINDOW, str(ROOT), str(long_id), ",".join(WORKSPACES)],
        cwd=ROOT, env=dict(os.environ, CLARION_DATA_DIR=str(data_dir)), check=True,
        capture_output=True, text=True).stdout
    steps = []
    for line in out.splitlines():
        *name, current, peak = line.split()
        if current.isdigit() and peak.isdigit():
            steps.append((" ".join(name), int(current), int(peak)))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stakeholders", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build (or reuse, with its long incident's id in long.txt) here")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    large = args.keep or Path(tmp.name) / "large"
    marker = large / "long.txt"
    if marker.exists():
        long_id = int(marker.read_text())
    else:
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests' / 'benchmarks')!r}); "
                f"import bench_memory as b; from pathlib import Path; "
                f"print(b.build(Path({str(large)!r}), {args.stakeholders}, {args.incidents}, "
                f"{args.entries}))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split("\n")
        print(out[0])
        long_id = int(out[-2])
        marker.write_text(str(long_id))
    fresh = Path(tmp.name) / "fresh"
    window_rss(fresh, 0)          # creates and migrates the fresh database
    base = window_rss(fresh, 0)
    big = window_rss(large, long_id)
    print(f"{'step':<22}{'large data set':>24}{'fresh database':>24}   (RSS, peak; MB)")
    fresh_of = {name: (cur, peak) for name, cur, peak in base}
    previous = 0
    for name, current, peak in big:
        fc, fp = fresh_of.get(name, (0, 0))
        print(f"{name:<22}{current:>12} {peak:>6} (+{current - previous:>3}){fc:>14} {fp:>6}")
        previous = current
    final = big[-1]
    print(f"after every workspace: {final[1]} MB (peak {final[2]} MB; goal ≤ 300 MB); "
          f"fresh database {base[-1][1]} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
