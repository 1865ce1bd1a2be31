"""Start-up benchmark: `clarion demo --exit-after-startup` (the window shown, populated and
painted once, then quit) against a floor script that imports PySide6 and the SQLAlchemy ORM,
opens the same SQLite file and shows a bare QMainWindow until its first paint. Whole
processes, interleaved, same run, median of N (BENCH_RUNS, default 9).

Run: make bench   (or: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_startup.py)
Goal (issue 2): within 1.3x of the floor."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_RUNS", "9"))  # single medians swing by about 0.1

# Both quit once the window has been painted for the first time (as --exit-after-startup does;
# a zero timer after show() would fire before the window system asks for the paint).
FLOOR = r"""
import sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
import sqlalchemy.orm
from sqlalchemy import create_engine, text
engine = create_engine("sqlite:///" + sys.argv[1])
with engine.connect() as conn:
    conn.execute(text("SELECT count(*) FROM incidents")).scalar()
app = QApplication(sys.argv[:1])
window = QMainWindow()

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            window.removeEventFilter(self)
            QTimer.singleShot(0, window.close)
        return False

watcher = FirstPaint()
window.installEventFilter(watcher)
window.show()
sys.exit(app.exec())
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, CLARION_DATA_DIR=data,
                   QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        clarion = [sys.executable, "-m", "ui.main", "demo", "--exit-after-startup"]
        seed = timed(clarion, env)  # first start seeds the demo database
        db = Path(data) / "demo" / "clarion-demo.db"
        floor = [sys.executable, "-c", FLOOR, str(db)]
        timed(floor, env)  # warm the file cache for both
        # For honesty: Clarion pauses the garbage collector during start-up (ui/main.py);
        # the same trick applied to the floor shows how much of the gap it alone closes.
        floor_nogc = [sys.executable, "-c", "import gc; gc.disable()\n" + FLOOR, str(db)]
        app_times, floor_times, nogc_times = [], [], []
        for _ in range(RUNS):  # interleaved, so drift affects all alike
            floor_times.append(timed(floor, env))
            app_times.append(timed(clarion, env))
            nogc_times.append(timed(floor_nogc, env))
    app_median, floor_median = statistics.median(app_times), statistics.median(floor_times)
    print(f"first start (seeds the demo): {seed * 1000:.0f} ms")
    print(f"floor   median of {RUNS}: {floor_median * 1000:.0f} ms  "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in floor_times)})")
    print(f"clarion median of {RUNS}: {app_median * 1000:.0f} ms  "
          f"(runs: {', '.join(f'{t * 1000:.0f}' for t in app_times)})")
    ratio = app_median / floor_median
    print(f"ratio clarion/floor: {ratio:.2f}x (goal <= 1.30x)")
    nogc_median = statistics.median(nogc_times)
    print(f"floor with gc paused, median of {RUNS}: {nogc_median * 1000:.0f} ms; "
          f"clarion/that: {app_median / nogc_median:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
