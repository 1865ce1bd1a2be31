"""Issue 23: the PDF engines measured side by side on the same report — the technical and the
executive version of bench_export.py's incident (5,000 timeline entries, 56 messages, 20,000
deliveries) — then the same small page of emoji and right-to-left names read back with
pdftotext.

    qt             ui/reports/pdf.py, the engine Clarion uses: QPainter on QPdfWriter
    qtextdocument  the HTML laid out by QTextDocument, Clarion's engine until issue 23
    reportlab      ReportLab (BSD), tests/benchmarks/pdf_candidates/reportlab_engine.py
    fpdf2          fpdf2 (LGPL-3) with uharfbuzz, pdf_candidates/fpdf2_engine.py

ReportLab and fpdf2 are not Clarion's dependencies: install them somewhere and pass the folder
with --site (pip install --target /tmp/pdf-candidates reportlab fpdf2 uharfbuzz); an engine
whose library is missing is skipped and says so.

Run from the repo root (the database: bench_export.py --keep DIR, or built here when absent):
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_pdf_engines.py
        [--db DIR/bench-export.db] [--site DIR] [--runs 3] [--engines qt,reportlab,...]
        [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ENGINES = ("qt", "qtextdocument", "reportlab", "fpdf2")
PROBE = ("🔥", "✅", "🚀", "דנה לוי", "سارة العلي")


def engine(name: str) -> Callable[[Any], bytes]:
    """The engine's render(job) -> PDF bytes; ImportError when its library is missing."""
    if name == "qt":
        from ui.reports.pdf import blocks_to_pdf

        return lambda job: blocks_to_pdf(job.blocks, job.chart_png, job.title, job.footer).data
    module = importlib.import_module(f"pdf_candidates.{name}_engine")
    return module.render


def probe_job(job: Any) -> Any:
    from app.reports.render import H, P, Table
    from pdf_candidates.harness import Job

    blocks = [H(1, "Status 🔥 ✅"), P(("Dana: דנה לוי · Sara: سارة العلي",)),
              Table(("Name",), [("דנה לוי 🚀",)])]
    html = ('<html><head><meta charset="utf-8"/></head><body><h1>Status 🔥 ✅</h1>'
            "<p>Dana: דנה לוי · Sara: سارة العلي</p><table><thead><tr><th>Name</th></tr>"
            "</thead><tbody><tr><td>דנה לוי 🚀</td></tr></tbody></table></body></html>")
    return Job(blocks, job.chart_png, "Emoji and names", "Emoji and names", html)


def pdf_info(data: bytes, folder: Path, name: str) -> tuple[int, str]:
    path = folder / name
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = next((int(line.split()[-1]) for line in info.splitlines()
                  if line.startswith("Pages:")), 0)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          text=True).stdout
    return pages, " ".join(unicodedata.normalize("NFKC", text).split())


def database(args: argparse.Namespace, tmp: Path) -> Path:
    if args.db:
        return args.db
    import bench_export
    from app.clock import FrozenClock
    from app.storage import Store

    path = tmp / "bench-export.db"
    store = Store.open(path, backup_dir=tmp / "backups")
    try:
        bench_export.build(store, FrozenClock(bench_export.NOW), 5000, 20000, 400,
                           random.Random(7))
    finally:
        store.dispose()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="a database bench_export.py --keep made")
    parser.add_argument("--site", type=Path, action="append", default=[],
                        help="a folder where the candidates' libraries are installed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--out", type=Path, help="write the PDFs here (to look at them)")
    args = parser.parse_args()
    sys.path[:0] = [str(p) for p in args.site]

    from pdf_candidates.harness import load
    from ui.reports.chart import ensure_gui_application

    ensure_gui_application()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out = args.out or tmp
        out.mkdir(parents=True, exist_ok=True)
        db = database(args, tmp)
        jobs = {audience: load(db, audience) for audience in ("technical", "executive")}
        probe = probe_job(jobs["executive"])
        for name in args.engines.split(","):
            try:
                render = engine(name)
            except ImportError as exc:
                print(f"{name:<14} skipped: {exc} (install it and pass --site)")
                continue
            figures = []
            for audience, job in jobs.items():
                times, data = [], b""
                for _ in range(args.runs):
                    started = time.perf_counter()
                    data = render(job)
                    times.append(time.perf_counter() - started)
                pages, _text = pdf_info(data, out, f"{name}-{audience}.pdf")
                figures.append(f"{audience} median {statistics.median(times):.2f} s of "
                               f"{args.runs} ({pages} pages, {len(data) / 1000:,.0f} kB)")
            _pages, text = pdf_info(render(probe), out, f"{name}-probe.pdf")
            found = [p for p in PROBE if p in text]
            lost = [p for p in PROBE if p not in text]
            print(f"{name:<14} " + "; ".join(figures)
                  + f"; read back: {' '.join(found) or 'nothing'}"
                  + (f" — not read back: {' '.join(lost)}" if lost else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
