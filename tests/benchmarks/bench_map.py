"""Stakeholder map benchmark: how long StakeholderMapView.set_stakeholders() takes for 25, 500
and 2000 people (median of 5, first paint included separately), and screenshots of the map at
25 and 500 people for a human to look at.

Run: QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_map.py
Goal: set_stakeholders(500) well under 200 ms. Screenshots: /tmp/map-25.png, /tmp/map-500.png
(and /tmp/map-500-scrolled.png, /tmp/map-500-fit.png)."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
SIZES = (25, 500, 2000)
SHOTS = {25: Path("/tmp/map-25.png"), 500: Path("/tmp/map-500.png")}
SCROLLED, FITTED = Path("/tmp/map-500-scrolled.png"), Path("/tmp/map-500-fit.png")

FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Esther", "Farah", "Gustavo", "Hiroshi", "Ines",
         "Jamal", "Katarzyna", "Liam", "Mei", "Nkechi", "Oskar", "Priya", "Quentin", "Rosa",
         "Sven", "Tamsin", "Uche", "Valentina", "Wen", "Xavier", "Yusuf", "Zofia"]
LAST = ["Abernathy", "Baptiste", "Castellanos", "Dubois", "Eriksen", "Fitzgerald", "Gonzalez",
        "Halvorsen", "Ibrahim", "Jovanović", "Kowalczyk", "Lindqvist", "Mbeki", "Nakamura",
        "Okonkwo-Smith", "Petrov", "Quinn", "Rasmussen", "Sato", "Thompson", "Underwood",
        "Vasquez", "Whitfield", "Xu", "Yamamoto", "Zimmermann"]
ROLES = {
    "affected_users": ["Ward nurse, 4th floor", "Front desk", "Radiology technician",
                       "Billing clerk", "All staff distribution list"],
    "management": ["IT service manager", "Head of nursing operations", "Operations director"],
    "executives": ["Chief executive officer", "Chief information officer",
                   "Chief medical officer"],
    "customers": ["Partner clinic administrator", "Key account: Cedar Labs"],
    "regulators": ["HHS OCR breach portal", "Washington State Attorney General"],
    "media": ["Seattle Times health desk", "Communications office"],
    "it_staff_msp": ["Harbor IT on-call engineer", "Network engineer", "Service desk lead",
                     "Security operations analyst"],
    "business_unit": ["Pharmacy lead", "Laboratory operations", "Patient scheduling"],
    "compliance_legal": ["Privacy officer", "General counsel", "HIPAA compliance lead"],
}
# Roughly how a hospital's map is shaped: many affected users and IT staff, few regulators.
WEIGHTS = {"affected_users": 30, "management": 10, "executives": 4, "customers": 8,
           "regulators": 2, "media": 2, "it_staff_msp": 22, "business_unit": 16,
           "compliance_legal": 6}


def make_stakeholders(n: int, seed: int = 7) -> list:
    from app.domain.dto import ContactPointData, StakeholderDTO
    from app.domain.enums import CATEGORY_DEFAULTS, Category, DetailLevel, TimingNeed

    rnd = random.Random(seed)
    cats = list(WEIGHTS)
    weights = [WEIGHTS[c] for c in cats]
    out = []
    for i in range(1, n + 1):
        if n <= len(cats) * 3 and i <= len(cats) - 1:
            cat = cats[i - 1]  # small maps: most lanes have someone, one stays empty
        else:
            cat = rnd.choices(cats, weights)[0]
        info, timing, detail, silence = CATEGORY_DEFAULTS[Category(cat)]
        if rnd.random() < 0.2:
            timing = rnd.choice(list(TimingNeed))
        if rnd.random() < 0.15:
            detail = rnd.choice(list(DetailLevel))
        if n <= 30 and cat == "media":
            cat = "business_unit"  # leave one lane empty in the small picture
        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        out.append(StakeholderDTO(
            id=i, client_id=1, client_name="Northwind Health", name=name, category=cat,
            role=rnd.choice(ROLES[cat]), information_need=info, timing_need=timing.value,
            detail_level=detail.value, max_silence_minutes=silence,
            active=rnd.random() > 0.08,
            contacts=(ContactPointData("email", f"user{i}@example.com"),)))
    return out


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from ui.stakeholders.map_view import StakeholderMapView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    view = StakeholderMapView()
    view.resize(1600, 900)
    view.show()
    app.processEvents()
    data = {n: make_stakeholders(n) for n in SIZES}
    view.set_stakeholders(data[25])  # warm up imports, fonts and caches
    view.grab()
    print(f"set_stakeholders, median of {RUNS} (offscreen, "
          f"{QApplication.platformName()}):")
    for n in SIZES:
        builds, paints = [], []
        for _ in range(RUNS):
            view.set_stakeholders([])
            start = time.perf_counter()
            view.set_stakeholders(data[n])
            builds.append(time.perf_counter() - start)
            start = time.perf_counter()
            view.grab()  # the first paint of what is visible (elides visible cards' texts)
            paints.append(time.perf_counter() - start)
        b, p = statistics.median(builds), statistics.median(paints)
        print(f"  {n:5d} stakeholders: set_stakeholders {b * 1000:7.1f} ms  "
              f"(runs: {', '.join(f'{t * 1000:.1f}' for t in builds)}); "
              f"first paint {p * 1000:6.1f} ms; compact={view.is_compact()}")
    # A refresh of the same 500 (what a drop-then-refresh costs), scrolled, selection kept.
    view.set_stakeholders(data[500])
    view.view.verticalScrollBar().setValue(400)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        view.set_stakeholders(data[500])
        times.append(time.perf_counter() - start)
    print(f"  refresh of 500 (same list, scrolled): {statistics.median(times) * 1000:.1f} ms, "
          f"scroll kept: {view.view.verticalScrollBar().value() == 400}")
    for n, path in SHOTS.items():
        view.set_stakeholders(data[n])
        view.view.horizontalScrollBar().setValue(0)
        view.view.verticalScrollBar().setValue(0)
        first = view.lane_ids("management") or view.lane_ids("affected_users")
        view.select(first[0] if first else None)
        app.processEvents()  # let the toolbar lay out its new texts
        view.grab().save(str(path), "PNG")
        print(f"saved {path}")
    # Scrolled down a long map: the lane headers must stay visible.
    view.view.verticalScrollBar().setValue(view.view.verticalScrollBar().maximum() // 2)
    app.processEvents()
    view.grab().save(str(SCROLLED), "PNG")
    print(f"saved {SCROLLED}")
    view.fit()
    app.processEvents()
    view.grab().save(str(FITTED), "PNG")
    print(f"saved {FITTED}")
    view.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
