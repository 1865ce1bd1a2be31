"""The window during a big send (issue 5: "the window stays responsive during a 10,000-message
send"): a real MainWindow on a fresh migrated database, the Outbox workspace showing, 10,000
deliveries queued for one message, sent by the real background runner (its own thread and
asyncio loop) through the drill inbox — the fastest channel, so the most outbox events per
second reach the window. Meanwhile a 5 ms timer on the GUI thread measures how late the event
loop answers (a stall is the time a click would wait).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_outbox_gui.py [N]
Reports: send time, the event loop's worst and 99th-percentile lateness, how often the Outbox
view and the status bar refreshed during the send and what a refresh cost."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
TICK_MS = 5


def main() -> int:
    tmp = tempfile.TemporaryDirectory()
    os.environ["CLARION_DATA_DIR"] = tmp.name
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from app import runtime
    from app.stakeholders.clients import ensure_default_organisation
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.domain.enums import Severity
    from app.storage import Store
    from ui.bridge import AsyncBridge
    from ui.mainwindow import MainWindow
    from ui.outbox.runner import OutboxRunner
    from tests.outbox_support import add_message, people
    from ui.services import Services

    app = QApplication.instance() or QApplication([])
    config = AppConfig.from_env()
    config.ensure_dirs()
    store = Store.open(config.db_path, config.backup_dir)
    clock = SystemClock()
    client = ensure_default_organisation(store, clock)
    services = Services.build(config, store, clock, actor="Bench")
    incident = services.incidents.open(client_id=client.id, title="Email down for all staff",
                                       severity=Severity.SEV1, detected_at=clock.now())
    window = MainWindow(services)
    window.resize(1440, 880)
    window.show()
    window.nav_buttons["outbox"].setChecked(True)
    app.processEvents()
    runtime.settle_heap()

    outbox_view = window.outbox
    reloads: list[float] = []
    statuses: list[float] = []

    def timed(fn, into):  # type: ignore[no-untyped-def]
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                into.append(time.perf_counter() - t)
        return wrapper

    outbox_view.refresh = timed(outbox_view.refresh, reloads)
    outbox_view.refresh_timer.timeout.disconnect()
    outbox_view.refresh_timer.timeout.connect(outbox_view.refresh)
    full_reloads: list[float] = []
    outbox_view.reload = timed(outbox_view.reload, full_reloads)
    applied: list[float] = []   # a background read put into the view (GUI thread)
    outbox_view.reader.finished.disconnect()
    outbox_view.reader.finished.connect(timed(outbox_view._read_in, applied))
    window.outbox_timer.timeout.disconnect()
    window.update_outbox_status = timed(window.update_outbox_status, statuses)
    window.outbox_timer.timeout.connect(window.update_outbox_status)

    t0 = time.perf_counter()
    add_message(store, clock, incident.id, people(N))
    print(f"queued {N:,} deliveries in {time.perf_counter() - t0:.2f} s")
    outbox_view.reload()
    app.processEvents()
    applied.clear()
    print(f"the Outbox view loaded the {N:,} queued deliveries in "
          f"{full_reloads[-1] * 1000:.0f} ms")
    reloads.clear()
    full_reloads.clear()

    gaps: list[float] = []
    clock_ms = QElapsedTimer()
    last = [0]
    seen_progress = [False]
    counts_s: list[float] = []

    def tick() -> None:
        elapsed = clock_ms.elapsed()
        gaps.append(elapsed - last[0] - TICK_MS)
        last[0] = elapsed
        if not outbox_view.progress.isHidden():
            seen_progress[0] = True
        if len(gaps) % 40 == 0:
            t = time.perf_counter()
            done = services.outbox.counts().get("sent", 0) >= N
            counts_s.append(time.perf_counter() - t)
            if done:
                app.quit()

    ticker = QTimer()
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(tick)
    runner = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
    window.runner = runner
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(app.quit)
    deadline.start(300_000)
    start = time.perf_counter()
    runner.start()   # on the GUI thread: recovery of interrupted deliveries, the loop's thread
    print(f"runner started in {(time.perf_counter() - start) * 1000:.0f} ms (GUI thread)")
    clock_ms.start()
    ticker.start()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(app.exec)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    else:
        app.exec()
    took = time.perf_counter() - start
    ticker.stop()
    runner.stop()
    sent = services.outbox.counts().get("sent", 0)
    late = sorted(max(0.0, g) for g in gaps)
    p99 = late[int(0.99 * (len(late) - 1))] if late else 0.0
    print(f"sent {sent:,} of {N:,} in {took:.1f} s ({sent / took:.0f} msg/s) with the window up")
    print(f"GUI event loop lateness over {len(gaps):,} ticks of {TICK_MS} ms: "
          f"worst {late[-1]:.0f} ms, 99th percentile {p99:.0f} ms, median "
          f"{statistics.median(late):.0f} ms")
    if reloads:
        print(f"Outbox view refreshed {len(reloads)} times during the send ({len(full_reloads)} "
              f"of them reloading everything); a refresh took median "
              f"{statistics.median(reloads) * 1000:.0f} ms, worst {max(reloads) * 1000:.0f} ms")
    else:
        print("Outbox view refreshed 0 times during the send")
    if applied:
        print(f"putting a background read into the view (GUI thread): {len(applied)} times, "
              f"median {statistics.median(applied) * 1000:.0f} ms, worst "
              f"{max(applied) * 1000:.0f} ms")
    print(f"the benchmark's own count of sent deliveries (GUI thread, every 40 ticks): "
          f"{len(counts_s)} times, worst {max(counts_s, default=0) * 1000:.0f} ms")
    print(f"status bar refreshed {len(statuses)} times; busy bar seen during the send: "
          f"{'yes' if seen_progress[0] else 'no'}")
    window.close()
    services.close()
    return 0 if sent == N else 1


if __name__ == "__main__":
    sys.exit(main())
