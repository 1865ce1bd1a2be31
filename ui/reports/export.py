"""Export the post-incident report of one incident as Markdown, HTML or PDF.

app/reports/builder.py builds the report and renders Markdown and HTML; this module adds what needs Qt:
the chart (ui/reports/chart.py) and the PDF, which is the same HTML laid out by QTextDocument and
printed page by page on a QPdfWriter (A4, a footer with the title and "Page n of m", the title in
the PDF's metadata). It works headless on the offscreen platform; a QGuiApplication is created
when none is running.

Every file is written atomically — to a temporary file in the same folder, then renamed over the
target — so a failed export never leaves half a file behind (nor a Markdown file whose chart is
missing: the chart is written first).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QAbstractTextDocumentLayout, QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPageSize,
    QPainter, QPdfWriter, QTextDocument,
)

from app.errors import ClarionError
from app.reports.model import Audience, ExportFormat
from ui.reports.chart import chart_png, ensure_gui_application, preferred_height

# The PDF page: A4, margins in millimetres; the body is laid out at 96 dpi (CSS pixels), as a
# browser would, and scaled onto the writer's resolution when printed.
PAGE_MARGINS_MM = (18.0, 16.0, 18.0, 14.0)  # left, top, right, bottom
LAYOUT_DPI = 96
PDF_DPI = 300
FOOTER_PT = 8
# The chart is laid out 820 px wide — its text relatively larger than at 1400, about 10 pt when
# the HTML shows it 640 px wide across the PDF's body — and drawn at twice that resolution.
CHART_WIDTH = 820
CHART_PIXEL_RATIO = 2.0

_DATA_IMG = re.compile(
    r"""<img\b(?P<before>[^>]*?)\bsrc\s*=\s*(?P<q>["'])data:image/(?P<fmt>png|jpe?g|gif);base64,"""
    r"""(?P<data>[A-Za-z0-9+/=\s]*)(?P=q)(?P<after>[^>]*)>""", re.IGNORECASE)
# Added to the HTML's own style for print only: an A4 column is narrower than a browser window,
# and wide tables (8 columns of the communication record) at body size break words mid-way.
PRINT_CSS = "th, td { font-size: 8.5pt; }"
_SIZE_ATTR = re.compile(r"""\s(?:width|height)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""",
                        re.IGNORECASE)


class ExportError(ClarionError):
    """The export could not be written; the message says why, in one line."""


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
           fmt: ExportFormat | str, path: Path | str) -> Path:
    """Build the report of `incident_id` for `audience` and write it to `path` in `fmt`.
    Returns the path written. Raises ExportError (unwritable path) or the report builder's
    error (unknown incident)."""
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
        html = reports.render_html(report, chart_png=png)
        label = audience.value.capitalize()
        atomic_write(path, html_to_pdf(html, title=f"{report.title} — post-incident report",
                                       footer=f"{report.title} · {label} version"))
    return path


# ---------------------------------------------------------------- PDF

def _mm_to_px(mm: float, dpi: float) -> float:
    return mm / 25.4 * dpi


class _LayoutDevice:
    """A tiny image at LAYOUT_DPI: the document lays out in CSS pixels whatever the screen."""

    _image: QImage | None = None

    @classmethod
    def get(cls) -> QImage:
        if cls._image is None:
            image = QImage(8, 8, QImage.Format.Format_RGB32)
            dots_per_metre = round(LAYOUT_DPI / 0.0254)
            image.setDotsPerMeterX(dots_per_metre)
            image.setDotsPerMeterY(dots_per_metre)
            cls._image = image  # lives as long as the module: layouts keep a raw pointer
        return cls._image


def prepare_document(html: str, body_width_px: float) -> QTextDocument:
    """A QTextDocument of `html` laid out at LAYOUT_DPI for a body `body_width_px` wide.
    Embedded data: images become document resources (the form every Qt version renders), no
    wider than the body."""
    ensure_gui_application()
    doc = QTextDocument()
    doc.setUseDesignMetrics(True)  # text widths independent of the screen's hinting
    doc.documentLayout().setPaintDevice(_LayoutDevice.get())
    font = QFont(doc.defaultFont())
    font.setPointSizeF(10)
    doc.setDefaultFont(font)
    counter = 0

    def inline(match: re.Match[str]) -> str:
        nonlocal counter
        image = QImage()
        try:
            raw = base64.b64decode(re.sub(r"\s+", "", match["data"]), validate=True)
        except ValueError:
            raw = b""
        if not raw or not image.loadFromData(raw):
            return ""  # an image Qt cannot read is left out (Qt's own attempt can wreck the layout)
        counter += 1
        name = f"clarion-image-{counter}.png"
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        attrs = f"{match['before']} {match['after']}"
        width_m = re.search(r"""\bwidth\s*=\s*["']?(\d+)""", attrs, re.IGNORECASE)
        width = min(int(width_m[1]) if width_m else image.width(), int(body_width_px))
        attrs = _SIZE_ATTR.sub("", attrs).strip().rstrip("/").strip()
        return f'<img src="{name}" width="{width}" {attrs}>'.replace(" >", ">")

    html = _DATA_IMG.sub(inline, html)
    head_end = re.search(r"</head\s*>", html, re.IGNORECASE)
    style = f"<style>{PRINT_CSS}</style>"
    html = (html[:head_end.start()] + style + html[head_end.start():] if head_end
            else style + html)
    doc.setHtml(html)
    return doc


def html_to_pdf(html: str, title: str = "", footer: str = "") -> bytes:
    """`html` as an A4 PDF: QTextDocument paginates, each page is painted on a QPdfWriter with a
    footer ("<footer> · Page n of m"). Returns the PDF's bytes."""
    ensure_gui_application()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setResolution(PDF_DPI)
    left, top, right, bottom = PAGE_MARGINS_MM
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait,
                                     QMarginsF(left, top, right, bottom),
                                     QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    writer.setCreator("Clarion")

    paint_rect = writer.pageLayout().paintRect(QPageLayout.Unit.Millimeter)
    scale = PDF_DPI / LAYOUT_DPI
    footer_font = QFont()
    footer_font.setPointSizeF(FOOTER_PT)
    footer_h_mm = FOOTER_PT * 0.3528 * 2.4  # the footer line and the space above it
    body_w = _mm_to_px(paint_rect.width(), LAYOUT_DPI)
    body_h = _mm_to_px(paint_rect.height() - footer_h_mm, LAYOUT_DPI)
    doc = prepare_document(html, body_w)
    doc.setPageSize(QSizeF(body_w, body_h))
    pages = max(1, doc.pageCount())

    painter = QPainter()
    if not painter.begin(writer):
        raise ExportError("the PDF could not be started")
    try:
        for index in range(pages):
            if index:
                writer.newPage()
            painter.save()
            painter.scale(scale, scale)
            painter.translate(0, -index * body_h)
            context = QAbstractTextDocumentLayout.PaintContext()
            context.clip = QRectF(0, index * body_h, body_w, body_h)
            painter.setClipRect(context.clip)
            doc.documentLayout().draw(painter, context)
            painter.restore()
            _footer(painter, writer, footer_font, footer, index + 1, pages)
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


def _footer(painter: QPainter, writer: QPdfWriter, font: QFont, text: str, page: int,
            pages: int) -> None:
    """"<text> … Page n of m" on the last line of the page's printable area."""
    fm = QFontMetricsF(font, writer)
    width, height = writer.width(), writer.height()
    number = f"Page {page} of {pages}"
    line_h = fm.height()
    y = height - line_h
    painter.save()
    painter.setFont(font)
    painter.setPen(QColor("#57606a"))
    number_w = fm.horizontalAdvance(number)
    painter.drawText(QRectF(width - number_w - 2, y, number_w + 2, line_h),
                     int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), number)
    if text:
        room = width - number_w - fm.horizontalAdvance("    ")
        shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, room)
        painter.drawText(QRectF(0, y, room, line_h),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), shown)
    painter.restore()


__all__ = ["ExportError", "atomic_write", "chart_path_for", "check_writable", "export",
           "html_to_pdf", "prepare_document"]
