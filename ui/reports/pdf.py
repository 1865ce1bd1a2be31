"""The PDF of a post-incident report, drawn from its blocks (app/reports/render.py: headings,
paragraphs, tables, lists, the chart) with QPainter on a QPdfWriter — no HTML in between.

Two passes. The layout pass measures every block at the writer's resolution and places it on
a page: a paragraph line by line, a table row by row (its header repeated at the top of every
page it runs over; a row taller than a page is split between lines), a heading kept with what
follows it. It records what to draw; the paint pass draws each page and its footer ("<footer>
· Page n of m": the page count is known by then). Qt shapes the text (HarfBuzz): right-to-left
names read in their order, Arabic letters join, and characters the body font lacks come from
another installed font — colour emoji from the emoji font, drawn as pictures.

A picture leaves no text behind, and Qt's PDF writer maps glyphs back to text only below
U+10000; so under each emoji picture, and each glyph of a character above U+FFFF, an invisible
twin is written in the text layer font, and app/reports/pdf_text.py makes the twin read as the
character(s) it stands for: search, copy and pdftotext find 🔥 where the page shows 🔥. What
could not be printed (a character no font has) or named is returned, for the coordinator.

Most table cells hold one short line: those are measured with font metrics and drawn as plain
text; only cells that wrap or mix bold and colour get a QTextLayout (bench_export.py: the
technical report of a 5,000-entry incident has 5,700 rows). Works headless (offscreen).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor, QFont, QFontDatabase, QFontMetricsF, QGuiApplication, QImage, QPageLayout, QPageSize,
    QPainter, QPdfWriter, QPen, QRawFont, QTextCharFormat, QTextLayout, QTextOption,
)

from app.paths import resource
from app.reports.builder import TONES
from app.reports.pdf_text import name_private_characters
from app.reports.render import H, P, UL, Block, Cell, Chart, Inline, Run, Table

PDF_DPI = 600
PAGE_MARGINS_MM = (18.0, 16.0, 18.0, 14.0)   # left, top, right, bottom
BODY_PT, TABLE_PT, FOOTER_PT = 10.0, 8.5, 8.0
HEADING_PT = {1: 18.0, 2: 14.0, 3: 11.0}
# space above and below a block, in points (the larger of two neighbours' wins)
SPACE_PT = {"h1": (0.0, 6.0), "h2": (15.0, 4.5), "h3": (10.5, 3.0), "p": (4.5, 4.5),
            "table": (4.5, 6.0), "ul": (3.0, 4.5), "chart": (6.0, 6.0)}
CELL_PAD_PT = 2.0
LIST_INDENT_PT = 14.0
TEXT = QColor("#202020")
FOOTER_COLOR = QColor("#57606a")
HEADER_FILL = QColor("#eeeeee")
BORDER = QColor("#9aa1a9")
_TONE_COLORS = {tone: QColor(color) for tone, color in TONES.items()}
CHART_SHARE = 640 / 657      # the chart's width in the HTML export, of the body's
_WRAP = QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere
_LINE_BREAK = "\u2028"       # QTextLayout breaks the line here
_GLYPHS = (QTextLayout.GlyphRunRetrievalFlag.RetrieveGlyphIndexes
           | QTextLayout.GlyphRunRetrievalFlag.RetrieveGlyphPositions
           | QTextLayout.GlyphRunRetrievalFlag.RetrieveStringIndexes)
TEXT_LAYER_FONT = ("fonts", "clarion-text-layer.ttf")   # packaging/text_layer_font.py
TEXT_LAYER_NAME = "ClarionTextLayer"                     # its PostScript name
TEXT_LAYER_FIRST, TEXT_LAYER_COUNT = 0xE000, 4096        # its private-use characters
_PICTURE_TABLES = ("CBDT", "sbix", "SVG ")   # colour glyphs Qt prints as pictures
_INVISIBLE = QColor(0, 0, 0, 0)


@lru_cache(maxsize=1)
def _text_layer_data() -> QByteArray:
    return QByteArray(resource(*TEXT_LAYER_FONT).read_bytes())


_UNSEEN = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
# what follows an emoji's first character in the same emoji: a variation selector, a keycap,
# a skin tone, tag characters (subdivision flags), a joiner and the next emoji
_EMOJI_TAIL = re.compile("(?:[\uFE0E\uFE0F\u20E3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
                         "|\u200D[\u2000-\U0010FFFF])*")
_REGIONAL = ("\U0001F1E6", "\U0001F1FF")   # two of them make a flag


def _emoji_at(text: str, start: int, end: int) -> str:
    """The emoji that starts at `start` (no further than `end`): Qt may count characters
    another font draws into the emoji's cluster (a full stop after it)."""
    low, high = _REGIONAL
    if low <= text[start] <= high and start + 1 < end and low <= text[start + 1] <= high:
        return text[start:start + 2]
    tail = _EMOJI_TAIL.match(text, start + 1, end)
    return text[start:tail.end() if tail else start + 1]


def _shown(char: str) -> bool:
    """A character that should leave a mark (not a space, a joiner or a control: private use
    and unassigned ones do, as the empty box a missing glyph prints)."""
    return unicodedata.category(char) not in _UNSEEN


def _heading_kind(block: H) -> str:
    return f"h{min(max(block.level, 1), 3)}"


def _units(text: str) -> int:
    """The text's length in UTF-16 units, as Qt counts positions."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _format_ranges(spans: Sequence[tuple[int, int, QTextCharFormat]]
                   ) -> list[QTextLayout.FormatRange]:
    out = []
    for start, end, fmt in spans:
        span = QTextLayout.FormatRange()
        span.start, span.length, span.format = start, end - start, fmt
        out.append(span)
    return out


def _without(spans: Sequence[tuple[int, int, QTextCharFormat]],
             holes: Sequence[tuple[int, int]]) -> list[tuple[int, int, QTextCharFormat]]:
    """The spans with the holes cut out of them."""
    out = []
    for start, end, fmt in spans:
        pieces = [(start, end)]
        for low, high in holes:
            pieces = [p for a, b in pieces for p in ((a, min(b, low)), (max(a, high), b))
                      if p[0] < p[1]]
        out += [(a, b, fmt) for a, b in pieces]
    return out


def _lines_of(layout: QTextLayout, width: float) -> list[float]:
    """Lay the text out in lines `width` wide: the top of each line, then the bottom."""
    tops: list[float] = []
    y = 0.0
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        line.setPosition(QPointF(0, y))
        tops.append(y)
        y += line.height()
    layout.endLayout()
    tops.append(y)
    return tops


@dataclass
class PdfResult:
    """The PDF; the characters no installed font could draw (printed as empty boxes); the
    emoji printed as pictures whose text could not be written under them (a reader cannot
    search for or copy those)."""
    data: bytes
    missing: tuple[str, ...] = ()
    unsearchable: tuple[str, ...] = ()
    pages: int = 0


def _lines(x: float, y: float, width: float, height: float) -> QRectF:
    """QTextLayout.draw's clip (painter coordinates) for the lines laid out from y to
    y + height: it draws every line that touches the clip, so the clip stays inside them."""
    return QRectF(x, y + 0.5, width, max(height - 1.0, 0.5))


@dataclass
class _Page:
    ops: list[tuple[Any, ...]] = field(default_factory=list)


class _Fonts:
    """The fonts at the writer's resolution, and their metrics."""

    def __init__(self, device: QPdfWriter) -> None:
        base = QFont(QGuiApplication.font())
        # no "fi"/"fl" ligatures: text copied from the PDF reads "certificate", not "certiﬁcate"
        base.setFeature(QFont.Tag("liga"), 0)
        self.device = device

        def sized(points: float, bold: bool = False) -> QFont:
            font = QFont(base)
            font.setPointSizeF(points)
            font.setBold(bold)
            return font

        self.body, self.table = sized(BODY_PT), sized(TABLE_PT)
        self.table_bold = sized(TABLE_PT, bold=True)
        self.headings = {level: sized(pt, bold=True) for level, pt in HEADING_PT.items()}
        self.footer = sized(FOOTER_PT)
        self._metrics: dict[int, QFontMetricsF] = {}

    def metrics(self, font: QFont) -> QFontMetricsF:
        found = self._metrics.get(id(font))
        if found is None:
            found = self._metrics[id(font)] = QFontMetricsF(font, self.device)
        return found


class _Formats:
    """Character formats of runs (bold, a tone), made once each."""

    def __init__(self) -> None:
        self._made: dict[tuple[bool, str], QTextCharFormat] = {}

    def of(self, run: Run) -> QTextCharFormat | None:
        if not run.bold and not run.tone:
            return None
        key = (run.bold, run.tone)
        found = self._made.get(key)
        if found is None:
            found = QTextCharFormat()
            if run.bold:
                found.setFontWeight(QFont.Weight.Bold)
            if run.tone:
                found.setForeground(QColor(TONES[run.tone]))
            self._made[key] = found
        return found


class _Layout:
    """The layout pass: blocks placed on pages, as drawing operations."""

    def __init__(self, writer: QPdfWriter) -> None:
        self.writer = writer
        self.unit = PDF_DPI / 72.0                     # device pixels per point
        self.fonts = _Fonts(writer)
        self.formats = _Formats()
        footer_h = self.fonts.metrics(self.fonts.footer).height() * 2.2
        self.width = float(writer.width())
        self.height = float(writer.height()) - footer_h
        self.pages: list[_Page] = [_Page()]
        self.y = 0.0
        self.space_after = 0.0
        self.missing: set[str] = set()
        self.layers: dict[int, tuple[QTextLayout, tuple[tuple[Any, ...], ...]]] = {}
        self.names: dict[str, int] = {}            # each emoji pictured -> its number
        self._plain: dict[str, bool] = {}          # character -> the body font has it
        self._pictures: dict[str, bool] = {}       # font family -> draws colour pictures
        # the body font's own characters (QFontMetrics.inFontUcs4 counts fallback fonts too)
        self._body_font = QRawFont.fromFont(self.fonts.body)

    def plain(self, text: str) -> bool:
        """Whether every character of `text` is in the body font and below U+10000 (no
        fallback font, no emoji picture, nothing missing, nothing Qt's PDF writer cannot map
        back to text): most of a report, checked once per character."""
        if text.isascii():
            return True
        known = self._plain
        for char in set(text):   # each character once (a message text is long)
            found = known.get(char)
            if found is None:
                code = ord(char)
                found = known[char] = code < 0x80 or (
                    code <= 0xFFFF and self._body_font.supportsCharacter(code))
            if not found:
                return False
        return True

    def _inspect(self, layout: QTextLayout, text: str) -> tuple[tuple[Any, ...], ...]:
        """What the text's glyphs say: characters no font had (glyph 0) join `missing`;
        each emoji drawn as a picture, and each glyph of a character above U+FFFF (Qt's PDF
        writer maps glyphs back to text only below it), gets an invisible twin in the text
        layer font, so the PDF's text has it: (position, its number in the document, its
        width, first and last UTF-16 unit, whether it is a picture) per twin."""
        runs = layout.glyphRuns(-1, -1, _GLYPHS)
        index, unit = {}, 0            # Qt counts UTF-16 units, Python characters
        for position, char in enumerate(text):
            index[unit] = position
            unit += 2 if ord(char) > 0xFFFF else 1
        index[unit] = len(text)
        starts = sorted({i for run in runs for i in run.stringIndexes()}) + [unit]
        after = dict(zip(starts, starts[1:]))
        layer: list[tuple[Any, ...]] = []
        for run in runs:
            raw = run.rawFont()
            family = raw.familyName()
            picture = self._pictures.get(family)
            if picture is None:
                picture = self._pictures[family] = any(
                    raw.fontTable(table).size() for table in _PICTURE_TABLES)
            seen: set[int] = set()
            for glyph, start, point in zip(run.glyphIndexes(), run.stringIndexes(),
                                           run.positions()):
                if start in seen:
                    continue
                seen.add(start)
                first = index.get(start, 0)
                cluster = text[first:index.get(after.get(start, unit), len(text))]
                if glyph == 0:
                    self.missing.update(c for c in cluster if _shown(c))
                elif (picture or ord(text[first]) > 0xFFFF) and raw.supportsCharacter(
                        ord(text[first])):   # (Qt may count a full stop another font drew
                    # into an emoji's cluster: it is not this glyph)
                    emoji = _emoji_at(text, first, first + len(cluster))
                    number = self.names.setdefault(emoji, len(self.names))
                    # the twin is one em wide: as wide as the picture, read as one word
                    width = raw.advancesForGlyphIndexes([glyph])[0].x() or raw.pixelSize()
                    layer.append((QPointF(point), number, width, start, after.get(start, unit),
                                  picture))
        return tuple(layer)

    # ------------------------------------------------------------ pages

    @property
    def ops(self) -> list[tuple[Any, ...]]:
        return self.pages[-1].ops

    def new_page(self) -> None:
        self.pages.append(_Page())
        self.y = 0.0
        self.space_after = 0.0

    def room(self) -> float:
        return self.height - self.y

    def begin(self, kind: str, keep: float = 0.0) -> None:
        """Start a block: the space above it (none at the top of a page), and a new page
        first when less than `keep` is left."""
        before, _after = SPACE_PT[kind]
        if self.y > 0:
            self.y += max(before * self.unit, self.space_after)
        if self.y > 0 and keep > self.room():
            self.new_page()

    def end(self, kind: str) -> None:
        self.space_after = SPACE_PT[kind][1] * self.unit

    # ------------------------------------------------------------ text

    def layout(self, items: Sequence[Inline], font: QFont, width: float
               ) -> tuple[QTextLayout, list[float]]:
        """A QTextLayout of the inlines wrapped to `width`; the top of each line, then the
        height of all of them."""
        parts, ranges, at = [], [], 0
        for item in items:
            text = (item if isinstance(item, str) else item.text).replace("\n", _LINE_BREAK)
            if not text:
                continue
            units = _units(text)
            if not isinstance(item, str):
                fmt = self.formats.of(item)
                if fmt is not None:
                    ranges.append((at, at + units, fmt))
            parts.append(text)
            at += units
        joined = "".join(parts)
        layout = QTextLayout(joined, font, self.writer)
        option = QTextOption()
        option.setWrapMode(_WRAP)
        layout.setTextOption(option)
        if ranges:
            layout.setFormats(_format_ranges(ranges))
        tops = _lines_of(layout, width)
        if not self.plain(joined):
            layer = self._inspect(layout, joined)
            if layer:
                pictures = [(start, end) for *_drawn, start, end, picture in layer if picture]
                if pictures and any(fmt.hasProperty(QTextCharFormat.Property.ForegroundBrush)
                       for *_span, fmt in ranges):
                    # Qt prints a colour emoji under a coloured format as empty boxes: the
                    # pictures keep their own colours, the text around them its tone
                    layout.setFormats(_format_ranges(_without(ranges, pictures)))
                    tops = _lines_of(layout, width)
                    layer = self._inspect(layout, joined)
                # (the layout kept with its twins: its id is not reused while they are)
                self.layers[id(layout)] = (layout, tuple(drawn[:3] for drawn in layer))
        return layout, tops

    def flow(self, layout: QTextLayout, tops: list[float], x: float) -> None:
        """Place a laid-out text at the current position, line by line over pages."""
        first, count = 0, len(tops) - 1
        while first < count:
            last = first
            while last < count and tops[last + 1] - tops[first] <= self.room() + 0.01:
                last += 1
            if last == first:
                if self.y > 0:
                    self.new_page()
                    continue
                last = first + 1    # a line taller than a page: drawn clipped
            self.ops.append(("layout", layout, x, self.y - tops[first], first, last, tops))
            self.y += tops[last] - tops[first]
            first = last
            if first < count:
                self.new_page()

    def footer(self, text: str) -> QTextLayout | None:
        """The footer's text, laid out once for every page: cut short ("…") to leave room
        for the widest "Page n of m"."""
        if not text:
            return None
        font = self.fonts.footer
        fm = self.fonts.metrics(font)
        pages = len(self.pages)
        room = self.width - fm.horizontalAdvance(f"Page {pages} of {pages}    ")
        shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, room)
        return self.layout((shown,), font, self.width)[0]

    # ------------------------------------------------------------ blocks

    def heading(self, block: H, following: Sequence[Block] = ()) -> None:
        """A heading, never alone at a page's foot: the headings right under it (an
        appendix's first message) and three lines of text go on the same page."""
        kind, layout, tops = self._heading(block)
        keep = tops[-1] + 3 * self.fonts.metrics(self.fonts.body).lineSpacing()
        for after in following:   # (one line each, near enough for keeping them together)
            if not isinstance(after, H):
                break
            keep += SPACE_PT[_heading_kind(after)][0] * self.unit + self.fonts.metrics(
                self._heading_font(after)).lineSpacing()
        self.begin(kind, keep=keep)
        self.flow(layout, tops, 0.0)
        self.end(kind)

    def _heading(self, block: H) -> tuple[str, QTextLayout, list[float]]:
        layout, tops = self.layout((block.text,), self._heading_font(block), self.width)
        return _heading_kind(block), layout, tops

    def _heading_font(self, block: H) -> QFont:
        return self.fonts.headings.get(block.level, self.fonts.headings[3])

    def paragraph(self, runs: Sequence[Inline], kind: str = "p") -> None:
        layout, tops = self.layout(runs, self.fonts.body, self.width)
        self.begin(kind, keep=min(tops[-1], 2 * (tops[1] if len(tops) > 1 else 0)))
        self.flow(layout, tops, 0.0)
        self.end(kind)

    def bullets(self, block: UL) -> None:
        indent = LIST_INDENT_PT * self.unit
        self.begin("ul")
        fm = self.fonts.metrics(self.fonts.body)
        for index, item in enumerate(block.items):
            layout, tops = self.layout(item, self.fonts.body, self.width - indent)
            if index:
                self.y += 1.5 * self.unit
            if self.y > 0 and self.y + (tops[1] if len(tops) > 1 else 0) > self.height:
                self.new_page()
            self.ops.append(("text", self.fonts.body, TEXT, indent * 0.35, self.y + fm.ascent(),
                             "•"))
            self.flow(layout, tops, indent)
        self.end("ul")

    def chart(self, png: bytes | None) -> None:
        image = QImage()
        if not png or not image.loadFromData(png) or image.width() == 0:
            return
        width = self.width * CHART_SHARE
        height = width * image.height() / image.width()
        self.begin("chart", keep=height)
        self.ops.append(("image", QRectF(0, self.y, width, height), image))
        self.y += height
        self.end("chart")

    def table(self, block: Table) -> None:
        n = len(block.headers)
        shares = block.widths if len(block.widths) == n and sum(block.widths) else (1,) * n
        total = float(sum(shares))
        widths = [self.width * s / total for s in shares]
        xs = [sum(widths[:i]) for i in range(n)]
        pad = CELL_PAD_PT * self.unit
        header = self._row(block.headers, widths, pad, self.fonts.table_bold)
        rows = [self._row(row, widths, pad, self.fonts.table) for row in block.rows]
        first = rows[0][0] if rows else 0.0
        self.begin("table", keep=header[0] + min(first, self.height / 3))
        self._place(header, xs, widths, fill=True)
        for row in rows:
            height = row[0]
            if height > self.room() + 0.01:
                if height <= self.height - header[0]:
                    self.new_page()
                    self._place(header, xs, widths, fill=True)
                else:
                    self._split(row, header, xs, widths)
                    continue
            self._place(row, xs, widths)
        self.end("table")

    def _row(self, cells: Sequence[Cell], widths: list[float], pad: float,
             font: QFont) -> tuple[float, list[tuple[Any, ...]]]:
        """(height, contents): each cell one line of plain text where it fits, else a
        layout."""
        fm = self.fonts.metrics(font)
        line_h = fm.lineSpacing()
        contents: list[tuple[Any, ...]] = []
        height = line_h
        for cell, width in zip(cells, widths):
            inner = width - 2 * pad
            plain = cell if isinstance(cell, str) else (
                cell.text if isinstance(cell, Run) and not cell.bold else None)
            if plain is not None and "\n" not in plain and self.plain(plain) \
                    and fm.horizontalAdvance(plain) <= inner:
                color = _TONE_COLORS[cell.tone] if isinstance(cell, Run) and cell.tone else TEXT
                contents.append(("text", font, color, plain))
                continue
            items = cell if isinstance(cell, tuple) else (cell,)
            layout, tops = self.layout(items, font, inner)
            contents.append(("layout", layout, tops))
            height = max(height, tops[-1])
        return height + 2 * pad, contents

    def _place(self, row: tuple[float, list[tuple[Any, ...]]], xs: list[float],
               widths: list[float], fill: bool = False) -> None:
        height, contents = row
        pad = CELL_PAD_PT * self.unit
        self.ops.append(("cells", self.y, height, xs, widths, fill))
        for x, content in zip(xs, contents):
            if content[0] == "text":
                _kind, font, color, text = content
                self.ops.append(("text", font, color, x + pad,
                                 self.y + pad + self.fonts.metrics(font).ascent(), text))
            else:
                _kind, layout, tops = content
                self.ops.append(("layout", layout, x + pad, self.y + pad, 0, len(tops) - 1,
                                 tops))
        self.y += height

    def _split(self, row: tuple[float, list[tuple[Any, ...]]],
               header: tuple[float, list[tuple[Any, ...]]], xs: list[float],
               widths: list[float]) -> None:
        """A row taller than a page: each cell's lines go on as many pages as they need,
        under the header, cut between lines."""
        _height, contents = row
        pad = CELL_PAD_PT * self.unit
        done = [0.0] * len(contents)     # how far down each cell has been drawn
        ends = [c[2][-1] if c[0] == "layout" else 1.0 for c in contents]
        first = True
        while True:
            if not first or self.room() < header[0] * 2:
                self.new_page()
                self._place(header, xs, widths, fill=True)
            first = False
            room = self.room() - 2 * pad
            cut = []
            for content, start, end in zip(contents, done, ends):
                if start >= end:
                    cut.append(start)
                elif content[0] == "text":
                    cut.append(end)
                else:
                    tops = content[2]
                    fits = [t for t in tops if start < t <= start + room]
                    cut.append(fits[-1] if fits else min(t for t in tops if t > start))
            height = max(c - s for c, s in zip(cut, done)) + 2 * pad
            self.ops.append(("cells", self.y, height, xs, widths, False))
            for x, content, start, stop in zip(xs, contents, done, cut):
                if stop <= start:
                    continue
                if content[0] == "text":
                    _kind, font, color, text = content
                    self.ops.append(("text", font, color, x + pad,
                                     self.y + pad + self.fonts.metrics(font).ascent(), text))
                else:
                    tops = content[2]
                    self.ops.append(("layout", content[1], x + pad, self.y + pad - start,
                                     tops.index(start), tops.index(stop), tops))
            self.y += height
            done = cut
            if all(d >= e for d, e in zip(done, ends)):
                return


def _twins(painter: QPainter, layer: tuple[tuple[Any, ...], ...], x: float, y: float,
           top: float, bottom: float, fonts: dict[float, QFont], family: str) -> None:
    """Under each emoji a layout drew as a picture (on the lines drawn), its private-use
    character in the text layer font, invisibly (app/reports/pdf_text.py names it)."""
    painter.save()
    painter.setPen(_INVISIBLE)
    for point, number, size in layer:   # the baselines of the lines drawn: top to bottom
        if number >= TEXT_LAYER_COUNT or not top < point.y() <= bottom:
            continue
        font = fonts.get(size)
        if font is None:
            font = fonts[size] = QFont(family)
            font.setStyleStrategy(QFont.StyleStrategy.NoFontMerging)
            font.setPointSizeF(size * 72.0 / PDF_DPI)
        painter.setFont(font)
        painter.drawText(QPointF(x + point.x(), y + point.y()), chr(TEXT_LAYER_FIRST + number))
    painter.restore()


def _paint(layout: _Layout, painter: QPainter, writer: QPdfWriter,
           footer: QTextLayout | None, family: str) -> None:
    pages = len(layout.pages)
    fonts: dict[float, QFont] = {}
    border = QPen(BORDER)
    border.setWidthF(0.5 * layout.unit)
    for number, page in enumerate(layout.pages, start=1):
        if number > 1:
            writer.newPage()
        font: QFont | None = None
        color: QColor | None = None
        for op in page.ops:
            kind = op[0]
            if kind == "text":
                _k, op_font, op_color, x, baseline, text = op
                if op_font is not font:
                    painter.setFont(op_font)
                    font = op_font
                if op_color is not color:
                    painter.setPen(op_color)
                    color = op_color
                painter.drawText(QPointF(x, baseline), text)
            elif kind == "layout":   # its lines first to last (excluded), at (x, y)
                _k, text_layout, x, y, first, last, tops = op
                painter.setPen(TEXT)
                color = TEXT
                origin = QPointF(x, y)
                for index in range(first, last):
                    text_layout.lineAt(index).draw(painter, origin)
                layer = layout.layers.get(id(text_layout), (None, ()))[1]
                if layer and family:
                    _twins(painter, layer, x, y, tops[first], tops[last], fonts, family)
                    font = None
            elif kind == "cells":
                _k, y, height, xs, widths, fill = op
                painter.setPen(border)
                painter.setBrush(HEADER_FILL if fill else Qt.BrushStyle.NoBrush)
                for x, width in zip(xs, widths):
                    painter.drawRect(QRectF(x, y, width, height))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                color = None
            elif kind == "image":
                _k, rect, image = op
                painter.drawImage(rect, image)
        _footer(layout, painter, footer, number, pages, fonts, family)


def _footer(layout: _Layout, painter: QPainter, text: QTextLayout | None, page: int,
            pages: int, fonts: dict[float, QFont], family: str) -> None:
    """"<text> … Page n of m" on the last line of the page's printable area."""
    font = layout.fonts.footer
    fm = layout.fonts.metrics(font)
    number = f"Page {page} of {pages}"
    baseline = layout.writer.height() - fm.descent()
    painter.setFont(font)
    painter.setPen(FOOTER_COLOR)
    painter.drawText(QPointF(layout.width - fm.horizontalAdvance(number), baseline), number)
    if text is not None:
        top = baseline - text.lineAt(0).ascent()
        text.draw(painter, QPointF(0, top))
        layer = layout.layers.get(id(text), (None, ()))[1]
        if layer and family:
            _twins(painter, layer, 0, top, float("-inf"), float("inf"), fonts, family)


def a4_writer(buffer: QBuffer, title: str, dpi: int = PDF_DPI) -> QPdfWriter:
    """A QPdfWriter on `buffer` (open for writing): A4 with the report's margins, the title in
    the PDF's metadata, made by Clarion."""
    writer = QPdfWriter(buffer)
    writer.setResolution(dpi)
    left, top, right, bottom = PAGE_MARGINS_MM
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait,
                                     QMarginsF(left, top, right, bottom),
                                     QPageLayout.Unit.Millimeter))
    writer.setTitle(title)
    writer.setCreator("Clarion")
    return writer


def blocks_to_pdf(blocks: Sequence[Block], chart_png: bytes | None = None, title: str = "",
                  footer: str = "") -> PdfResult:
    """The report's blocks as an A4 PDF, and what it could not print. Needs a
    QGuiApplication."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = a4_writer(buffer, title)
    layout = _Layout(writer)
    for index, block in enumerate(blocks):
        if isinstance(block, H):
            layout.heading(block, blocks[index + 1:index + 3])
        elif isinstance(block, P):
            layout.paragraph(block.runs)
        elif isinstance(block, Table):
            layout.table(block)
        elif isinstance(block, UL):
            layout.bullets(block)
        elif isinstance(block, Chart):
            layout.chart(chart_png)
    footer_text = layout.footer(footer)
    # the text layer font, known to Qt only while it prints (nothing else falls back on it);
    # without it (a damaged install) the pictures are printed and listed as unsearchable
    font_id = -1
    if layout.names:
        try:
            font_id = QFontDatabase.addApplicationFontFromData(_text_layer_data())
        except OSError:
            font_id = -1
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    painter = QPainter()
    try:
        if not painter.begin(writer):
            raise RuntimeError("the PDF could not be started")
        try:
            _paint(layout, painter, writer, footer_text, families[0] if families else "")
        finally:
            painter.end()
    finally:
        if font_id >= 0:
            QFontDatabase.removeApplicationFont(font_id)
    buffer.close()
    pdf = bytes(data.data())
    named = {TEXT_LAYER_FIRST + n: emoji for emoji, n in layout.names.items()
             if n < TEXT_LAYER_COUNT}
    patched = name_private_characters(pdf, TEXT_LAYER_NAME, named) if families else None
    unsearchable = [emoji for emoji, n in layout.names.items()
                    if patched is None or n >= TEXT_LAYER_COUNT]
    return PdfResult(patched if patched is not None else pdf, tuple(sorted(layout.missing)),
                     tuple(unsearchable), len(layout.pages))


__all__ = ["a4_writer", "blocks_to_pdf", "PdfResult", "PAGE_MARGINS_MM", "PDF_DPI"]
