"""Candidate PDF engine: ReportLab (platypus). render(job) -> the report (harness.py) as PDF:
A4, DejaVu Sans embedded, tables at the given widths with the header row on every page, the
footer "<job.footer> ... Page n of m" on every page.

Speed: one pass (the canvas keeps the pages and writes "of m" on save); a cell that fits on one
line is a plain string, or a _Line if it has bold or coloured runs, and only a cell that wraps
is a Paragraph; the row heights are measured once here, so ReportLab measures no cell again
when it splits a long table (a row taller than a page splits inside its cells); no per-row
style command. Right-to-left text is shaped by HarfBuzz (uharfbuzz, if installed): Arabic
joins and each word reads right to left, but the words of a right-to-left run stay in logical
order (ReportLab reorders only with rlbidi). Emoji: ReportLab cannot read the colour font
(CBDT, no glyf table), so Pillow draws each into a PNG shown inline (printed, not text).
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (CondPageBreak, Flowable, Image, Paragraph, SimpleDocTemplate,
                                Spacer, Table, TableStyle)

from app.reports.render import UL, Chart, H, P, Run
from app.reports.render import Table as TableBlock

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
TEXT = colors.HexColor("#202020")
TONES = {"bad": "#b00020", "good": "#1b6e20", "muted": "#666666"}
TONE_COLOURS = {tone: colors.HexColor(value) for tone, value in TONES.items()}
LEFT, TOP, RIGHT, BOTTOM = 18 * mm, 16 * mm, 18 * mm, 14 * mm
FOOTER_SIZE, FOOTER_COLOUR = 8, colors.HexColor("#57606a")
FOOTER_H = FOOTER_SIZE * 2.4   # the footer line and the space above it, as in the Qt export
MARGINS = {"leftMargin": LEFT, "topMargin": TOP, "rightMargin": RIGHT,
           "bottomMargin": BOTTOM + FOOTER_H}
BODY_WIDTH = A4[0] - LEFT - RIGHT
CELL_SIZE, CELL_LEADING = 8.5, 10.4
PAD = 1.5                      # 2 px of cell padding, in points
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")         # Hebrew, Arabic...
EMOJI = re.compile("[\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]\ufe0f?")
SPECIAL = re.compile(f"{RTL.pattern}|{EMOJI.pattern}")   # text that needs a Paragraph

pdfmetrics.registerFont(TTFont(FONT, FONT_DIR + "DejaVuSans.ttf"))
pdfmetrics.registerFont(TTFont(BOLD, FONT_DIR + "DejaVuSans-Bold.ttf"))
pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)
HAS_GLYPH = pdfmetrics.getFont(FONT).face.charToGlyph


def _style(name: str, size: float, leading: float, font: str = FONT, **kw) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=leading, textColor=TEXT, **kw)


STYLES = {
    "p": _style("p", 10, 12.5, spaceBefore=4.5, spaceAfter=4.5),
    "li": _style("li", 10, 12.5, leftIndent=18, bulletIndent=6, spaceAfter=2),
    "cell": _style("cell", CELL_SIZE, CELL_LEADING),
    1: _style("h1", 18, 22, BOLD, spaceAfter=6),
    2: _style("h2", 14, 17, BOLD, spaceBefore=15, spaceAfter=4.5),
    3: _style("h3", 11, 13.5, BOLD, spaceBefore=10.5, spaceAfter=3),
}
SHAPED = {k: ParagraphStyle(f"{s.name}-shaped", parent=s, shaping=1) for k, s in STYLES.items()}
TABLE_STYLE = TableStyle([
    ("FONT", (0, 0), (-1, -1), FONT, CELL_SIZE, CELL_LEADING),
    ("TEXTCOLOR", (0, 0), (-1, -1), TEXT),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("GRID", (0, 0), (-1, -1), 0.75, colors.HexColor("#808080")),     # 1 px
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
    ("LEFTPADDING", (0, 0), (-1, -1), PAD), ("RIGHTPADDING", (0, 0), (-1, -1), PAD),
    ("TOPPADDING", (0, 0), (-1, -1), PAD), ("BOTTOMPADDING", (0, 0), (-1, -1), PAD + 1),
])
_emoji_files: dict[str, str] = {}


def _emoji(match: re.Match, size: float) -> str:
    """An emoji DejaVu Sans lacks, as an inline image drawn from the colour font by Pillow."""
    char = match.group()[0]
    if ord(char) in HAS_GLYPH:
        return match.group()
    if char not in _emoji_files:
        from PIL import Image as PILImage
        from PIL import ImageDraw, ImageFont
        font = ImageFont.truetype(EMOJI_FONT, 109)     # the colour font's one bitmap size
        image = PILImage.new("RGBA", (136, 128))
        ImageDraw.Draw(image).text((0, 0), char, font=font, embedded_color=True)
        path = Path(tempfile.gettempdir()) / f"clarion-emoji-{ord(char):x}.png"
        image.save(path)
        _emoji_files[char] = str(path)
    return (f'<img src="{_emoji_files[char]}" width="{size * 1.15:.2f}" '
            f'height="{size * 1.08:.2f}" valign="{-size * 0.2:.2f}"/>')


def _esc(text: str, size: float) -> str:
    text = escape(text).replace("\n", "<br/>")
    return EMOJI.sub(lambda m: _emoji(m, size), text) if EMOJI.search(text) else text


def _inlines(cell) -> tuple:
    return cell if isinstance(cell, tuple) else (cell,)


def _markup(items, size: float) -> str:
    out = []
    for item in _inlines(items):
        text = _esc(item if isinstance(item, str) else item.text, size)
        if isinstance(item, Run) and item.bold:
            text = f"<b>{text}</b>"
        if isinstance(item, Run) and item.tone:
            text = f'<font color="{TONES[item.tone]}">{text}</font>'
        out.append(text)
    return "".join(out)


def _plain(items) -> str:
    return "".join(i if isinstance(i, str) else i.text for i in _inlines(items))


class _CellPara(Paragraph):
    """A Paragraph in a cell: its lines are broken once per width (measured, then drawn)."""

    def wrap(self, aw, ah):
        if getattr(self, "_wrapped_at", None) != aw:
            self._wrapped_at, self._size = aw, super().wrap(aw, ah)
        return self._size


def _para(items, key, bullet: str | None = None) -> Paragraph:
    style = (SHAPED if RTL.search(_plain(items)) else STYLES)[key]
    return (_CellPara if key == "cell" else Paragraph)(_markup(items, style.fontSize), style,
                                                       bullet)


class _Line(Flowable):
    """One line of styled runs in a cell, [(text, font, colour, width)], not parsed."""

    def __init__(self, runs: list, width: float) -> None:
        self.runs, self.width = runs, width

    def wrap(self, aw, ah):
        return self.width, CELL_LEADING

    def draw(self):
        x, canv = 0.0, self.canv
        for text, font, colour, width in self.runs:
            canv.setFont(font, CELL_SIZE)
            canv.setFillColor(colour)
            canv.drawString(x, CELL_LEADING - CELL_SIZE, text)
            x += width


def _cell(cell, inner: float, bold: bool = False):
    """A plain string (unstyled) or a _Line (styled) when the cell fits on one line, else a
    Paragraph, which wraps (in a list, so that a row taller than a page can split)."""
    items = _inlines(cell)
    if bold:
        items = tuple(Run(i, bold=True) if isinstance(i, str) else i for i in items)
    plain = _plain(items)
    if "\n" in plain or SPECIAL.search(plain):
        return [_para(items, "cell")]
    runs, total = [], 0.0
    for i in items:
        text, font = (i, FONT) if isinstance(i, str) else (i.text, BOLD if i.bold else FONT)
        width = pdfmetrics.stringWidth(text, font, CELL_SIZE)
        runs.append((text, font, TONE_COLOURS.get(getattr(i, "tone", ""), TEXT), width))
        total += width
    if total > inner:
        return [_para(items, "cell")]      # a list, so that the row can split in the cell
    if all(font == FONT and colour is TEXT for _, font, colour, _ in runs):
        return plain
    return _Line(runs, total)


def _table(block: TableBlock) -> Table:
    n = len(block.headers)
    shares = block.widths if len(block.widths) == n else (100 / n,) * n
    widths = [BODY_WIDTH * s / sum(shares) for s in shares]
    inner = [w - 2 * PAD for w in widths]
    data = [[_cell(h, inner[i], bold=True) for i, h in enumerate(block.headers)]]
    data += [[_cell(c, inner[i]) for i, c in enumerate(row)] for row in block.rows]
    # the row heights, measured here once: ReportLab then measures no cell again
    heights = [max(v[0].wrap(inner[i], 1e6)[1] if isinstance(v, list) else CELL_LEADING
                   for i, v in enumerate(row)) + 2 * PAD + 1 for row in data]
    return Table(data, colWidths=widths, rowHeights=heights, style=TABLE_STYLE, repeatRows=1,
                 splitInRow=1, hAlign="LEFT", spaceBefore=3, spaceAfter=6)


def story(job) -> list:
    flow: list = []
    for block in job.blocks:
        if isinstance(block, H):    # a heading is not left alone at the foot of a page
            flow += [CondPageBreak(STYLES[block.level].leading * 4),
                     _para(block.text, block.level)]
        elif isinstance(block, P):
            flow.append(_para(block.runs, "p"))
        elif isinstance(block, TableBlock):
            flow.append(_table(block))
        elif isinstance(block, UL):
            flow += [_para(tuple(item), "li", "•") for item in block.items]
        elif isinstance(block, Chart) and job.chart_png:    # the body's width, its own ratio
            w, h = ImageReader(io.BytesIO(job.chart_png)).getSize()
            image = Image(io.BytesIO(job.chart_png), BODY_WIDTH, BODY_WIDTH * h / w)
            flow += [Spacer(1, 4), image, Spacer(1, 4)]
    return flow


def _canvas_maker(footer: str):
    class FooterCanvas(Canvas):
        """Keeps each page's state and draws the footer, with the page count, on save."""

        def __init__(self, *args, **kw):
            super().__init__(*args, **{**kw, "initialFontName": FONT})    # no Helvetica
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                y = BOTTOM + 0.25 * FOOTER_SIZE     # the descent above the printable bottom
                self.setFont(FONT, FOOTER_SIZE)
                self.setFillColor(FOOTER_COLOUR)
                self.drawString(LEFT, y, footer)
                self.drawRightString(A4[0] - RIGHT, y, f"Page {number} of {total}")
                super().showPage()
            super().save()

    return FooterCanvas


def render(job) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=job.title, creator="Clarion", author="",
                            subject="", **MARGINS)
    doc.build(story(job), canvasmaker=_canvas_maker(job.footer))
    return out.getvalue()
