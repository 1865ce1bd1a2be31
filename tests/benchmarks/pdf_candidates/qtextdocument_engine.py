"""The PDF engine Clarion used until issue 23, kept to be measured beside the new one
(bench_export.py, bench_pdf_engines.py): the report's HTML laid out by QTextDocument and
printed page by page on a QPdfWriter (A4, a footer with "Page n of m"). Technical report of a
5,000-entry incident: 10.6 s on the benchmark machine (ui/reports/pdf.py: about 2 s)."""

from __future__ import annotations

import base64
import re

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QAbstractTextDocumentLayout, QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPainter,
    QPdfWriter, QTextDocument,
)

from ui.reports.chart import ensure_gui_application
from ui.reports.pdf import a4_writer

NAME = "QTextDocument (HTML, until issue 23)"
LAYOUT_DPI = 96
PDF_DPI = 300
FOOTER_PT = 8
_DATA_IMG = re.compile(
    r"""<img\b(?P<before>[^>]*?)\bsrc\s*=\s*(?P<q>["'])data:image/(?P<fmt>png|jpe?g|gif);base64,"""
    r"""(?P<data>[A-Za-z0-9+/=\s]*)(?P=q)(?P<after>[^>]*)>""", re.IGNORECASE)
PRINT_CSS = "th, td { font-size: 8.5pt; }"
_SIZE_ATTR = re.compile(r"""\s(?:width|height)\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""",
                        re.IGNORECASE)


class ExportError(RuntimeError):
    pass


def render(job) -> bytes:  # type: ignore[no-untyped-def]
    return html_to_pdf(job.html, title=job.title, footer=job.footer)


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
    writer = a4_writer(buffer, title, PDF_DPI)   # the same page as the new engine's

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


