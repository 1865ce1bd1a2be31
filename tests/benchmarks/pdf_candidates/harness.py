"""The same report for every PDF engine compared by bench_pdf_engines.py: the blocks of one
version of the post-incident report (app/reports/render.py), its chart as PNG, the PDF's title
and footer, read from a database bench_export.py built (--keep DIR)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)   # bench_export.py's clock


@dataclass
class Job:
    blocks: list      # app.reports.render blocks
    chart_png: bytes  # the chart, CHART_WIDTH px wide at CHART_PIXEL_RATIO
    title: str        # the PDF's title (metadata)
    footer: str       # left of "Page n of m" on every page
    html: str = ""    # the report as HTML (what the old QTextDocument engine printed)


def load(db: Path, audience: str, incident_id: int = 1) -> Job:
    from app.clock import FrozenClock
    from app.reports import builder as reports
    from app.reports.render import report_blocks
    from app.storage import Store
    from ui.reports.chart import chart_png, ensure_gui_application, preferred_height
    from ui.reports.export import CHART_PIXEL_RATIO, CHART_WIDTH

    ensure_gui_application()
    store = Store.open(Path(db), backup_dir=Path(db).parent / "backups")
    try:
        report = reports.build_report(store, FrozenClock(NOW), incident_id, audience)
    finally:
        store.dispose()
    chart = reports.chart_data(report)
    png = chart_png(chart, CHART_WIDTH, preferred_height(chart, CHART_WIDTH), CHART_PIXEL_RATIO)
    label = audience.capitalize()
    return Job(report_blocks(report, with_chart=True), png,
               f"{report.title} — post-incident report", f"{report.title} · {label} version",
               reports.render_html(report, chart_png=png))
