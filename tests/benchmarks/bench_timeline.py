"""The timeline of a long incident (issue 22): opening an incident of 100,000 entries against
one of 30 (same run), each page fetched while scrolling towards the oldest entry, each change
of the kind filter, a live append with 100,000 loaded against 30 loaded — and the whole
process, `clarion demo --exit-after-startup` with 100,000 entries on the incident it shows
against the plain demo (time and peak RSS).

In process: a real IncidentView (shown, 1100x800) on a fresh migrated database under real
Services; each step is timed through the widgets (set_incident, the scroll bar, the kind combo
box, the `timeline_appended` Qt event), up to the view's synchronous repaint. The record check
(a worker thread) is let finish before anything is timed. Medians of --runs (default 5).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_timeline.py
        [--entries 100000] [--runs 5] [--no-process] [--no-view]
Goals: open ≤ small + 0.2 s, RSS < 300 MB; a page ≤ 100 ms; a filter change ≤ 100 ms;
an append ≤ 5 ms and ≤ 2x the small incident's."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

KINDS = ("delivery_sent",) * 6 + ("delivery_failed", "note", "facts_changed", "message_queued")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def bulk_rows(incident_id: int, n: int, start: datetime, first: int = 0) -> list[dict[str, Any]]:
    """n entries a second apart (every tenth shares its time with the one before: ties on
    `at`), mostly outbox entries, a decision every 1,000 and one as the oldest."""
    from app.sending.timeline import entry_row

    rows = []
    for i in range(first, first + n):
        at = start + timedelta(seconds=i - (i % 10 == 9))
        kind = "decision" if i % 1000 == 0 else KINDS[i % len(KINDS)]
        data: dict[str, Any] = {"message_id": 1 + i // 40, "channel": "email",
                                "state": "sent", "delivery_id": i, "recipient": f"R {i}"}
        if kind == "facts_changed":
            data = {"field": "status", "old": f"status {i - 1}", "new": f"status {i}"}
        elif kind in ("note", "decision"):
            data = {}
        rows.append(entry_row(incident_id, at, kind, "Bench Coordinator" if kind in (
            "note", "decision") else "outbox",
            f"Entry {i}: sent to Recipient {i} <person{i}@example.org> by email", data))
    return rows


def fill(store: Any, incident_id: int, n: int, start: datetime) -> None:
    from app.sending.timeline import insert_entries

    for first in range(0, n, 5000):
        with store.session() as s, s.begin():
            insert_entries(s, bulk_rows(incident_id, min(5000, n - first), start, first))


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def in_process(entries: int, runs: int) -> None:
    tmp = tempfile.TemporaryDirectory()
    os.environ["CLARION_DATA_DIR"] = tmp.name
    from PySide6.QtCore import QModelIndex
    from PySide6.QtWidgets import QApplication

    from app.clock import SystemClock
    from app.config import AppConfig
    from app.domain.dto import TimelineEntryDTO
    from app.domain.enums import Severity
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from ui.incidents.incident_view import IncidentView
    from ui.services import Services

    app = QApplication.instance() or QApplication([])
    config = AppConfig.from_env()
    config.ensure_dirs()
    store = Store.open(config.db_path, config.backup_dir)
    clock = SystemClock()
    client = ensure_default_organisation(store, clock)
    services = Services.build(config, store, clock, actor="Bench Coordinator")
    now = clock.now()
    small = services.incidents.open(client_id=client.id, title="Printer jam",
                                    severity=Severity.SEV4, detected_at=now)
    big = services.incidents.open(client_id=client.id, title="Long breach",
                                  severity=Severity.SEV1, detected_at=now)
    start = time.perf_counter()
    fill(store, small.id, 29, now - timedelta(days=1))
    fill(store, big.id, entries, now - timedelta(seconds=entries + 60))
    print(f"built: {entries:,} entries on the big incident, 30 on the small "
          f"({time.perf_counter() - start:.1f} s)")

    view = IncidentView(services)
    view.resize(1100, 800)
    view.show()
    app.processEvents()

    def settle() -> None:   # the record check on its worker thread, then pending events
        deadline = time.perf_counter() + 120
        while (view.record_check.worker.running or view.record_check.debounce.isActive()) \
                and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()

    def timed(action: Callable[[], Any], painted: Any = view) -> float:
        begin = time.perf_counter()
        action()
        app.processEvents()
        painted.repaint()
        return time.perf_counter() - begin

    for incident in (small, big, small):  # warm: caches, the record check's remembered link
        view.set_incident(incident)
        settle()
    opened: dict[str, list[float]] = {"small": [], "big": []}
    for _ in range(runs):
        for name, incident in (("small", small), ("big", big)):
            view.set_incident(None)
            settle()
            opened[name].append(timed(lambda: view.set_incident(incident)))
            settle()
    current, peak = rss_mb()
    table = view.timeline_view
    print(f"open the incident, median of {runs}: {entries:,} entries "
          f"{median_ms(opened['big'])}, 30 entries {median_ms(opened['small'])} "
          f"(+{(statistics.median(opened['big']) - statistics.median(opened['small'])) * 1000:.0f}"
          f" ms; goal ≤ +200 ms)")
    print(f"RSS after opening: {current:.0f} MB (peak {peak:.0f} MB; goal < 300 MB); "
          f"rows in the view's model: {table.model().rowCount():,}")

    # -- scrolling towards the oldest entry
    pages: list[float] = []
    bar = table.verticalScrollBar()
    for _ in range(12):
        before = table.model().rowCount()
        took = timed(lambda: bar.setValue(bar.maximum()))
        if table.model().rowCount() == before:
            break
        pages.append(took)
    if pages:
        print(f"a page fetched by scrolling to the bottom ({len(pages)} pages): median "
              f"{median_ms(pages)}, worst {max(pages) * 1000:.1f} ms (goal ≤ 100 ms); "
              f"rows loaded: {table.model().rowCount():,}")
    else:
        print("a page fetched by scrolling: n/a (every entry was loaded on opening)")

    # -- the kind filter
    combo = view.kind_filter
    filters: dict[str, list[float]] = {"decision": [], "note": [], "all": []}
    for _ in range(runs):
        for name in ("decision", "all", "note", "all"):
            index = 0 if name == "all" else combo.findData(name)
            filters[name].append(timed(lambda: combo.setCurrentIndex(index)))
    print("kind filter change, median of {}: decision (rare) {}, note {}, back to all {} "
          "(goal ≤ 100 ms); label after 'all': {!r}".format(
              runs, median_ms(filters["decision"]), median_ms(filters["note"]),
              median_ms(filters["all"]), view.timeline_count.text()))
    combo.setCurrentIndex(combo.findData("decision"))
    app.processEvents()
    print(f"  with decisions shown: {view.timeline_count.text()!r}")
    combo.setCurrentIndex(0)
    settle()

    # -- a live append: the Qt event to the model's append (the view's rowsInserted handling
    # included), then the same with the event loop's turn and the repaint that follows
    appended: dict[str, list[float]] = {"small": [], "big": [], "all": []}
    painted: dict[str, list[float]] = {"small": [], "big": [], "all": []}
    next_id = [10**9]

    def live(incident_id: int) -> TimelineEntryDTO:
        next_id[0] += 1
        return TimelineEntryDTO(id=next_id[0], incident_id=incident_id,
                                at=datetime.now(timezone.utc), kind="note",
                                actor="Bench Coordinator", summary="A live note")

    appends = max(runs, 20)
    for name, incident in (("small", small), ("big", big), ("all", big)):
        view.set_incident(incident)
        settle()
        if name == "all":   # the worst case: every page fetched (scrolled to the oldest)
            model = table.model()
            begin = time.perf_counter()
            while model.canFetchMore(QModelIndex()):
                model.fetchMore(QModelIndex())
            app.processEvents()
            print(f"every page fetched: {model.rowCount():,} rows in "
                  f"{time.perf_counter() - begin:.2f} s, RSS {rss_mb()[0]:.0f} MB")
        for _ in range(appends):
            entry = live(incident.id)
            begin = time.perf_counter()
            services.qt_events.timeline_appended.emit(entry)
            appended[name].append(time.perf_counter() - begin)
            entry = live(incident.id)
            painted[name].append(timed(
                lambda: services.qt_events.timeline_appended.emit(entry),
                view.timeline_view.viewport()))
        settle()
    ratio = statistics.median(appended["all"]) / statistics.median(appended["small"])
    print(f"a live append (event → model), median of {appends}: the {entries:,}-entry "
          f"incident open {median_ms(appended['big'])}, with every entry loaded "
          f"{median_ms(appended['all'])}; 30 entries {median_ms(appended['small'])} "
          f"(every entry loaded / 30: {ratio:.2f}x; goal ≤ 5 ms and ≤ 2x)")
    print(f"  with the table's repaint: {median_ms(painted['big'])}, "
          f"{median_ms(painted['all'])}; 30 entries {median_ms(painted['small'])}")
    view.close()
    services.close()


def whole_process(entries: int, runs: int) -> None:
    """`clarion demo --exit-after-startup`: the plain demo against the demo with `entries` more
    entries on the incident it shows at start-up (interleaved, two data folders)."""
    plain_dir, big_dir = tempfile.TemporaryDirectory(), tempfile.TemporaryDirectory()
    cmd = [sys.executable, "-m", "ui.main", "demo", "--exit-after-startup"]

    def run(data: str) -> tuple[float, float]:
        env = dict(os.environ, CLARION_DATA_DIR=data)
        # a small launcher forks the app: a child's peak RSS starts at its parent's (Linux
        # keeps the high-water mark across fork and exec), and this process is big
        out = subprocess.run([sys.executable, "-c", LAUNCH, *cmd], env=env, cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.split()
        return float(out[-2]), float(out[-1]) / 1024

    run(plain_dir.name)
    run(big_dir.name)       # seeds both demo databases
    shown = subprocess.run([sys.executable, "-c", SHOWN, big_dir.name], cwd=ROOT, check=True,
                           capture_output=True, text=True,
                           env=dict(os.environ, CLARION_DATA_DIR=big_dir.name)).stdout.split()
    incident_id = int(shown[-1])
    from app.storage import Store

    store = Store(Path(big_dir.name) / "demo" / "clarion-demo.db")
    fill(store, incident_id, entries, datetime.now(timezone.utc) - timedelta(days=30))
    store.engine.dispose()
    run(big_dir.name)
    times: dict[str, list[float]] = {"plain": [], "big": []}
    peaks: dict[str, list[float]] = {"plain": [], "big": []}
    for _ in range(runs):
        for name, folder in (("plain", plain_dir.name), ("big", big_dir.name)):
            took, peak = run(folder)
            times[name].append(took)
            peaks[name].append(peak)
    print(f"clarion demo --exit-after-startup, median of {runs}: with {entries:,} entries on "
          f"incident {incident_id} {median_ms(times['big'])} (peak RSS "
          f"{statistics.median(peaks['big']):.0f} MB), plain demo {median_ms(times['plain'])} "
          f"(peak RSS {statistics.median(peaks['plain']):.0f} MB)")


LAUNCH = r"""
import os, sys, time
begin = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.argv[1], sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print(time.perf_counter() - begin, usage.ru_maxrss)
"""

# The incident the window shows at start-up (the incidents list's first row).
SHOWN = r"""
import os, sys
from PySide6.QtWidgets import QApplication
from app.clock import SystemClock
from app.config import AppConfig
from app.storage import Store
from ui.mainwindow import MainWindow
from ui.services import Services
app = QApplication([])
config = AppConfig.from_env()
store = Store(os.path.join(sys.argv[1], "demo", "clarion-demo.db"))
services = Services.build(config, store, SystemClock(), is_demo=True)
window = MainWindow(services)
window.incidents.reload()
print(window.incidents.current_incident().id)
services.close()
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-process", action="store_true")
    parser.add_argument("--no-view", action="store_true")
    args = parser.parse_args()
    if not args.no_view:
        in_process(args.entries, args.runs)
    if not args.no_process:
        whole_process(args.entries, max(3, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
