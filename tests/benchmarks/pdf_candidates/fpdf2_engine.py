"""Candidate PDF engine: fpdf2 (LGPL-3.0) and uharfbuzz (text shaping) draw the report's blocks
(app/reports/render.py): A4, DejaVu Sans, Noto Color Emoji as a fallback font, "Page n of m"
({nb}, which works with shaping in fpdf2 2.8.9). Private fpdf2 API (2.8.9): bold/colour runs in
one cell or paragraph go through `_preload_font_styles`/`_preload_bidirectional_text` (fpdf2's
markdown has no colour); table cells are broken into lines once (`MultiLineBreak`) and drawn
with `_render_styled_text_line`, not a multi_cell dry run then a multi_cell. Shaping and the
fallback font are turned on only for the texts that need them: both make fpdf2 far slower on
Latin text, and shaping makes the file 4–6 times larger (a Tm per glyph)."""

from __future__ import annotations

import io
import re

from app.reports.render import UL, Chart, H, P, Table
from fpdf import FPDF, FontFace
from fpdf.enums import Align, TableCellFillMode, XPos, YPos
from fpdf.line_break import MultiLineBreak

FONTS = "/usr/share/fonts/truetype/"
REGULAR, BOLD = FONTS + "dejavu/DejaVuSans.ttf", FONTS + "dejavu/DejaVuSans-Bold.ttf"
EMOJI = FONTS + "noto/NotoColorEmoji.ttf"
PT = 25.4 / 72                                   # mm per point
LEFT, TOP, RIGHT, BOTTOM = 18, 16, 18, 14        # page margins, mm
FOOT_PT, FOOT_COLOR = 8, "#57606a"
FOOT_H = FOOT_PT * PT * 2.4                      # the footer line and the space above it
BODY_PT, BODY_COLOR = 10, "#202020"
HEADINGS = {1: (18, 0, 2.1), 2: (14, 5.3, 1.6), 3: (11, 3.7, 1.1)}  # pt, mm above, mm below
GAP = 1.6                                        # mm after a paragraph
CELL_PT, PAD = 8.5, (0.6, 0.8)                   # table text; cell padding (vertical, horizontal)
HEAD_FILL = "#eeeeee"
TONES = {"bad": "#b00020", "good": "#1b6e20", "muted": "#666666"}
# Needs harfbuzz: combining marks, RTL and complex scripts, joiners, bidi controls, emoji sequences
COMPLEX = re.compile("[\u0300-\u036f\u0590-\u1fff\u200c-\u200f\u202a-\u202e\u2066-\u2069"
                     "\u2c00-\U0010ffff]")


def _lh(pt: float) -> float:  # line height, mm
    return pt * PT * 1.22


class Styled(str):
    """Text with its runs, (text, bold, colour) each, that `_PDF` draws."""
    runs: tuple[tuple[str, bool, str], ...]


def styled(inlines) -> str:
    """An inline, or a tuple of inlines, as a plain str or (runs with style) a Styled one."""
    items = inlines if isinstance(inlines, tuple) else (inlines,)
    if all(isinstance(i, str) for i in items):
        return "".join(items)
    runs = tuple((i, False, "") if isinstance(i, str) else
                 (i.text, i.bold, TONES.get(i.tone, "")) for i in items)
    out = Styled("".join(r[0] for r in runs))
    out.runs = runs
    return out


class _PDF(FPDF):
    """FPDF with styled runs in cell() and multi_cell(), and shaping and the emoji fallback
    font turned on only for the texts that need them."""
    footer_text = ""
    shaping: bool | str = "auto"                  # True, False or "auto" (where needed)
    cmap: frozenset = frozenset()                 # what DejaVu Sans (both weights) draws
    _runs = None

    def prepare(self, text: str) -> None:
        if text.isascii():
            shape, fallback = self.shaping is True, False
        else:
            shape = self.shaping is True or bool(self.shaping and COMPLEX.search(text))
            fallback = not self.cmap.issuperset(map(ord, text))
        if shape != bool(self.text_shaping):
            self.set_text_shaping(shape)
        if fallback != bool(self._fallback_font_ids):
            self.set_fallback_fonts(["emoji"] if fallback else [], exact_match=False)

    def footer(self) -> None:
        h = FOOT_PT * PT * 1.2
        self.set_xy(self.l_margin, self.h - BOTTOM - h)
        self.set_font("dejavu", "", FOOT_PT)
        self.set_text_color(FOOT_COLOR)
        self.cell(self.epw * 0.75, h, self.footer_text)
        self.cell(self.epw * 0.25, h, f"Page {self.page_no()} of {{nb}}", align="R")

    def cell(self, w=None, h=None, text="", **kwargs):
        return self._styled(super().cell, w, h, text, kwargs)

    def multi_cell(self, w, h=None, text="", **kwargs):
        return self._styled(super().multi_cell, w, h, text, kwargs)

    def _styled(self, method, w, h, text, kwargs):
        self._runs = getattr(text, "runs", None)   # taken by _styled_fragments
        if self._runs:  # markdown=True: fpdf2 keeps each fragment's font, restores its own
            kwargs["markdown"] = True
        self.prepare(text)
        return method(w, h, text, **kwargs)

    def fits(self, text: str, w: float) -> bool:
        """Whether `text` (in its runs' styles) fits on one line of w."""
        if "\n" in text:
            return False
        self.prepare(text)
        style, width = self.font_style, 0.0
        for run, bold, _ in getattr(text, "runs", None) or ((text, "B" in style, ""),):
            self.set_font(style="B" if bold or "B" in style else "")  # writes nothing
            width += self.get_string_width(run, normalized=True)
        self.set_font(style=style)
        return width < w - 0.01

    def flow(self, w: float, h: float, text: str) -> None:
        """`text` from x, wrapped in w; on one line cell() is much faster than multi_cell()."""
        if self.fits(text, w):
            self.cell(w, h, text, new_x="LMARGIN", new_y="NEXT")
        else:
            self.multi_cell(w, h, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def wrap(self, text: str, w: float) -> list:
        """`text` broken into lines of w, as multi_cell() does, kept to be drawn later."""
        self._runs = getattr(text, "runs", None)
        self.prepare(text)
        preload = self._preload_bidirectional_text if self.text_shaping \
            else self._preload_font_styles
        breaker = MultiLineBreak(preload(text, False), w, [], align=Align.L)
        return list(iter(breaker.get_line, None))

    def draw_lines(self, text: str, lines: list, h: float) -> None:
        self.prepare(text)
        for line in lines:
            self._render_styled_text_line(line, h, new_x=XPos.LEFT, new_y=YPos.NEXT,
                                          prevent_font_change=hasattr(text, "runs"))

    def _styled_fragments(self, preload, text, markdown, *rest):
        runs, self._runs = self._runs, None
        if not runs:
            return preload(text, markdown, *rest)
        style, color = self.font_style, self.text_color
        fragments = []
        for run, bold, tone in runs:
            self.set_font(style="B" if bold or "B" in style else "")
            self.set_text_color(tone or color)
            fragments += preload(self.normalize_text(run), False)
        self.set_font(style=style)
        self.text_color = color
        return tuple(fragments)

    def _preload_font_styles(self, text, markdown, _initial_emphasis=None):
        preload = super()._preload_font_styles
        return self._styled_fragments(preload, text, markdown, _initial_emphasis)

    def _preload_bidirectional_text(self, text, markdown):
        return self._styled_fragments(super()._preload_bidirectional_text, text, markdown)


def _table_fpdf2(pdf: _PDF, block: Table, widths: list[float]) -> None:
    """FPDF.table(): a multi_cell dry run and a multi_cell per cell."""
    head = FontFace(emphasis="BOLD", color=BODY_COLOR, fill_color=HEAD_FILL)
    with pdf.table(col_widths=widths, text_align="LEFT", v_align="TOP", line_height=_lh(CELL_PT),
                   padding=PAD, headings_style=head, repeat_headings=1,
                   cell_fill_mode=TableCellFillMode.NONE) as table:
        table.row(block.headers)
        for row in block.rows:
            table.row([styled(cell) for cell in row])


def _table_cells(pdf: _PDF, block: Table, widths: list[float]) -> None:
    """Rows drawn cell by cell: one line by cell(), more broken into lines once."""
    lh, trigger = _lh(CELL_PT), pdf.page_break_trigger
    cols = [pdf.epw * w / sum(widths) for w in widths]

    def layout(cells) -> tuple[float, list]:
        """The row's height, and each cell's lines (None: it fits on one line)."""
        lines = [None if pdf.fits(c, w - 2 * PAD[1]) else pdf.wrap(c, w - 2 * PAD[1])
                 for w, c in zip(cols, cells)]
        return lh * max(len(x or "_") for x in lines) + 2 * PAD[0], lines

    def draw(cells, h: float, lines: list, fill: bool = False) -> None:
        x, y = pdf.l_margin, pdf.y
        for w, c, wrapped in zip(cols, cells, lines):
            pdf.rect(x, y, w, h, style="DF" if fill else "D")
            pdf.set_xy(x + PAD[1], y + PAD[0])
            if wrapped is None:
                pdf.cell(w - 2 * PAD[1], lh, c)
            else:
                pdf.draw_lines(c, wrapped, lh)
            x += w
        pdf.set_xy(pdf.l_margin, y + h)

    def header() -> None:
        pdf.set_font(style="B")
        draw(block.headers, *layout(block.headers), fill=True)
        pdf.set_font(style="")

    pdf.set_font(style="B")
    head_h = layout(block.headers)[0]
    pdf.set_font(style="")
    pdf.set_auto_page_break(False, BOTTOM + FOOT_H)   # rows break pages here, not in a cell
    first = True
    for row in block.rows:
        cells = [styled(c) for c in row]
        h, lines = layout(cells)
        if pdf.y + h + (head_h if first else 0) > trigger:
            pdf.add_page()
            first = True
        if first:
            header()
            first = False
        draw(cells, h, lines)
    if first:
        header()
    pdf.set_auto_page_break(True, BOTTOM + FOOT_H)


def render(job, *, shaping: bool | str = "auto", tables: str = "cells") -> bytes:
    """The report as PDF bytes. `shaping`: harfbuzz text shaping (RTL, Arabic joining) for
    every text (True), none (False) or the texts that need it ("auto"); `tables`: "cells"
    (cell by cell) or "fpdf2" (FPDF.table())."""
    pdf = _PDF(orientation="P", unit="mm", format="A4")
    pdf.shaping, pdf.footer_text = shaping, job.footer
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_auto_page_break(True, BOTTOM + FOOT_H)
    pdf.set_title(job.title)
    pdf.set_creator("Clarion")
    pdf.c_margin = 0
    pdf.add_font("dejavu", "", REGULAR)
    pdf.add_font("dejavu", "B", BOLD)
    pdf.add_font("emoji", "", EMOJI)
    pdf.cmap = frozenset(pdf.fonts["dejavu"].cmap).intersection(pdf.fonts["dejavuB"].cmap) \
        | {10}  # and "\n"
    pdf.set_draw_color(160)                      # lines 0.2 mm wide (the default)
    pdf.set_fill_color(HEAD_FILL)
    pdf.add_page()
    draw_table = _table_cells if tables == "cells" else _table_fpdf2
    for block in job.blocks:
        pdf.set_x(pdf.l_margin)
        pdf.set_text_color(BODY_COLOR)
        pdf.set_font("dejavu", "", BODY_PT)
        if isinstance(block, H):
            pt, above, below = HEADINGS.get(block.level, HEADINGS[3])
            if pdf.y > pdf.t_margin + 1:
                pdf.ln(above)
            if pdf.y + 3 * _lh(pt) > pdf.page_break_trigger:  # not alone at a page's foot
                pdf.add_page()
            pdf.set_font("dejavu", "B", pt)
            pdf.flow(pdf.epw, _lh(pt), block.text)
            pdf.ln(below)
        elif isinstance(block, P):
            pdf.flow(pdf.epw, _lh(BODY_PT), styled(tuple(block.runs)))
            pdf.ln(GAP)
        elif isinstance(block, UL):
            for item in block.items:
                pdf.set_x(pdf.l_margin + 2)
                pdf.cell(4, _lh(BODY_PT), "•")
                pdf.flow(pdf.epw - 6, _lh(BODY_PT), styled(tuple(item)))
                pdf.ln(0.6)
            pdf.ln(GAP)
        elif isinstance(block, Table):
            pdf.set_font_size(CELL_PT)
            n = len(block.headers)
            draw_table(pdf, block, list(block.widths) if len(block.widths) == n else [1] * n)
            pdf.ln(GAP * 2)
        elif isinstance(block, Chart) and job.chart_png:
            pdf.image(io.BytesIO(job.chart_png), x=pdf.l_margin, w=pdf.epw)
            pdf.ln(GAP)
    return bytes(pdf.output())
