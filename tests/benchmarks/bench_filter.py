"""Free-text filtering of the stakeholder table at 10,000 rows: the time from a keystroke
(the search text changes) until the proxy has re-filtered, median over a typed word.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_filter.py
Goal (issue 3): well under 100 ms per keystroke."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from app.domain.dto import ContactPointData, StakeholderDTO  # noqa: E402
from app.domain.enums import Category, DetailLevel, TimingNeed  # noqa: E402
from ui.models.stakeholders import StakeholderFilterProxy, StakeholderTableModel  # noqa: E402

N = int(os.environ.get("BENCH_ROWS", "10000"))
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
LAST = ["Okafor", "Reyes", "Natarajan", "Becker", "Chen", "Whitfield", "Liu", "Bell", "Walsh"]


def make(n: int) -> list[StakeholderDTO]:
    cats, timings, details = list(Category), list(TimingNeed), list(DetailLevel)
    out = []
    for i in range(n):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i // 7) % len(LAST)]} {i}"
        out.append(StakeholderDTO(
            id=i + 1, client_id=1, client_name="Northwind Health", name=name,
            role=f"Role {i % 97}", category=cats[i % 9].value,
            timing_need=timings[i % 6].value, detail_level=details[i % 4].value,
            information_need="", max_silence_minutes=60, notes="",
            contacts=(ContactPointData("email", f"person{i}@example.com", 1),
                      ContactPointData("sms", f"+1206555{i % 100:04d}", 2))))
    return out


def main() -> int:
    app = QApplication.instance() or QApplication([])
    model = StakeholderTableModel()
    proxy = StakeholderFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    view.resize(1000, 700)
    view.show()
    rows = make(N)
    t0 = time.perf_counter()
    model.set_stakeholders(rows)
    proxy.set_filters(client_id=1)
    app.processEvents()
    load = time.perf_counter() - t0
    timings = []
    for word in ("okafor", "chen 12", "person99", "role 4"):
        for k in range(1, len(word) + 1):
            t = time.perf_counter()
            proxy.set_filters(text=word[:k])
            app.processEvents()  # the view repaints what is visible
            timings.append(time.perf_counter() - t)
        proxy.set_filters(text="")
    t = time.perf_counter()
    view.sortByColumn(StakeholderTableModel.CATEGORY, view.horizontalHeader().sortIndicatorOrder())
    app.processEvents()
    sort = time.perf_counter() - t
    print(f"rows: {N}")
    print(f"load into model + first filter: {load * 1000:.0f} ms")
    print(f"per keystroke: median {statistics.median(timings) * 1000:.1f} ms, "
          f"max {max(timings) * 1000:.1f} ms over {len(timings)} keystrokes")
    print(f"sort by category: {sort * 1000:.0f} ms")
    print(f"visible after last filter: {proxy.rowCount()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
