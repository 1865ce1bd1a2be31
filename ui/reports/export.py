"""Export the post-incident report of one incident as Markdown, HTML or PDF.

app/reports/builder.py builds the report and renders Markdown and HTML; this module adds what needs Qt:
the chart (ui/reports/chart.py) and the PDF, drawn from the same blocks by ui/reports/pdf.py (A4,
a footer with the title and "Page n of m", the title in the PDF's metadata). It works headless on
the offscreen platform; a QGuiApplication is created when none is running. What the PDF could not
print as text (a character no font has, an emoji a reader cannot search for) is said in the
result's warnings, which the window and `clarion export` show.

Every file is written atomically — to a temporary file in the same folder, then renamed over the
target — so a failed export never leaves half a file behind (nor a Markdown file whose chart is
missing: the chart is written first).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import ClarionError
from app.reports.model import Audience, ExportFormat
from app.reports.pdf_text import pdf_warnings
from ui.reports.chart import chart_png, ensure_gui_application, preferred_height

# The chart is laid out 820 px wide — its text relatively larger than at 1400, about 10 pt when
# the HTML or the PDF shows it 640 px wide across the body — and drawn at twice that resolution.
CHART_WIDTH = 820
CHART_PIXEL_RATIO = 2.0


class ExportError(ClarionError):
    """The export could not be written; the message says why, in one line."""


@dataclass(frozen=True)
class Exported:
    """The file written, and what a reader should know about it (one sentence each)."""
    path: Path
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- files

def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.part"
    try:  # os.open with 0o666: the file gets the user's usual permissions (umask), not 0600
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def chart_path_for(path: Path) -> Path:
    """Where the Markdown export's chart goes: `<name>.chart.png` beside `<name>.md`."""
    return path.with_name(f"{path.stem}.chart.png")


def check_writable(path: Path) -> None:
    """Refuse early (before any work) a target whose folder is missing or not writable."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise ExportError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {path}: the folder {folder} is not writable")


# ---------------------------------------------------------------- the export

def export(store: Any, clock: Any, incident_id: int, audience: Audience | str,
           fmt: ExportFormat | str, path: Path | str) -> Exported:
    """Build the report of `incident_id` for `audience` and write it to `path` in `fmt`.
    Returns the path written and its warnings. Raises ExportError (unwritable path) or the
    report builder's error (unknown incident)."""
    from app.reports import builder as reports

    audience, fmt, path = Audience(audience), ExportFormat(fmt), Path(path)
    check_writable(path)
    report = reports.build_report(store, clock, incident_id, audience)
    ensure_gui_application()
    chart = reports.chart_data(report)
    png = chart_png(chart, CHART_WIDTH, preferred_height(chart, CHART_WIDTH), CHART_PIXEL_RATIO)
    if fmt == ExportFormat.MARKDOWN:
        chart_file = chart_path_for(path)
        atomic_write(chart_file, png)
        text = reports.render_markdown(report, chart_file=chart_file.name)
        atomic_write(path, text.encode("utf-8"))
    elif fmt == ExportFormat.HTML:
        atomic_write(path, reports.render_html(report, chart_png=png).encode("utf-8"))
    else:
        from app.reports.render import report_blocks
        from ui.reports.pdf import blocks_to_pdf

        label = audience.value.capitalize()
        pdf = blocks_to_pdf(report_blocks(report, with_chart=True), png,
                            title=f"{report.title} — post-incident report",
                            footer=f"{report.title} · {label} version")
        atomic_write(path, pdf.data)
        return Exported(path, pdf_warnings(pdf.missing, pdf.unsearchable))
    return Exported(path)


__all__ = ["ExportError", "Exported", "atomic_write", "chart_path_for", "check_writable",
           "export"]
