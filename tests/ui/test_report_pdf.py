"""The report's PDF engine (ui/reports/pdf.py) read back as a reader would: poppler's pdftotext
(the text, page by page, and where each word is) and pdftoppm (what the page looks like).

Long tables repeat their header on every page and number the pages "n of m"; a heading never
ends a page; a row taller than a page is cut between lines and loses nothing; a word longer
than its column wraps inside it; emoji print in colour and read back as the same characters,
right-to-left names read in their order; a character no font has is listed, not silently
printed as a box."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from app.reports.render import H, P, Run, Table

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None
                                or shutil.which("pdftoppm") is None,
                                reason="poppler-utils (pdftotext, pdftoppm) is not installed")

MM = 72 / 25.4                   # points per millimetre
PAGE_W = 210 * MM
LEFT = 18 * MM                   # ui/reports/pdf.py's PAGE_MARGINS_MM
BODY_W = PAGE_W - 36 * MM


def render(tmp_path: Path, blocks, footer: str = "Drill report · Technical version",
           name: str = "r.pdf"):
    from ui.reports.pdf import blocks_to_pdf

    result = blocks_to_pdf(blocks, None, title="A test report", footer=footer)
    path = tmp_path / name
    path.write_bytes(result.data)
    return result, path


def pages(path: Path) -> list[str]:
    """The text of each page, as laid out; Arabic letters in their base forms (NFKC: the PDF
    maps joined glyphs to the presentation forms they are)."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", str(path), "-"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return unicodedata.normalize("NFKC", out).split("\f")[:-1]


def words(path: Path) -> list[tuple[float, float, str]]:
    """(xMin, xMax, word) of every word, in points."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-bbox", str(path), "-"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [(float(a), float(b), w) for a, b, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
        out)]


def test_a_long_table_repeats_its_header_on_every_page_and_numbers_the_pages(qapp, tmp_path):
    rows = [(f"{i // 60:02d}:{i % 60:02d}", f"Event {i:03d}", f"Entry number {i:03d} by Ada")
            for i in range(300)]
    result, path = render(tmp_path, [H(1, "Timeline"), Table(("Time", "Event", "What"), rows,
                                                              (15, 20, 65))])
    texts = pages(path)
    assert len(texts) == result.pages >= 3
    for number, text in enumerate(texts, start=1):
        lines = [line.split() for line in text.splitlines() if line.strip()]
        body = lines[1:] if number == 1 else lines       # page 1 starts with the heading
        assert body[0] == ["Time", "Event", "What"], (number, body[:2])
        assert lines[-1][-4:] == ["Page", str(number), "of", str(len(texts))]
        assert " ".join(lines[-1]).startswith("Drill report · Technical version")
    found = re.findall(r"Entry number (\d{3})", "\n".join(texts))
    assert found == [f"{i:03d}" for i in range(300)]     # every row, once, in order


def test_a_heading_never_ends_a_page(qapp, tmp_path):
    """Wherever the page ends, a heading goes with the paragraph under it (table rows fill
    the page in steps shorter than a heading and a line, so one of them ends it just
    there)."""
    for filler in range(30, 62):
        blocks = [Table(("Filler",), [(f"Row {i:02d}",) for i in range(filler)])]
        blocks += [H(2, "Root cause"), P(("The signing certificate expired.",)),
                   H(2, "Appendix"), H(3, "21:12 · Initial acknowledgment"),
                   P(("We are aware of the problem.",))]
        _result, path = render(tmp_path, blocks, name=f"h{filler}.pdf")
        texts = pages(path)
        for heading, text in (("Root cause", "certificate expired"),
                              ("Appendix", "We are aware"),               # with the heading
                              ("Initial acknowledgment", "We are aware")):  # under it too
            on = [i for i, page in enumerate(texts) if heading in page]
            under = [i for i, page in enumerate(texts) if text in page]
            assert on == under, (filler, heading, on, under)


def test_a_row_taller_than_a_page_is_cut_between_lines_and_loses_nothing(qapp, tmp_path):
    text = "\n".join(f"Line {i:03d} of a very long note" for i in range(160))
    result, path = render(tmp_path, [Table(("Time", "Note"), [("09:00", text), ("09:05", "ok")],
                                           (20, 80))])
    texts = pages(path)
    assert result.pages == len(texts) >= 2
    found = re.findall(r"Line (\d{3}) of a very long note", "\n".join(texts))
    assert found == [f"{i:03d}" for i in range(160)]
    assert all(t.split()[:2] == ["Time", "Note"] for t in texts)   # the header on each page
    assert "09:05" in texts[-1]


def test_a_word_longer_than_its_column_wraps_inside_it(qapp, tmp_path):
    address = "a.very.long.address.without.any.spaces.at.all." * 3 + "example.com"
    _result, path = render(tmp_path, [Table(("Address", "Channel"), [(address, "email")],
                                            (30, 70))])
    column_end = LEFT + BODY_W * 0.30
    parts = [(a, b, w) for a, b, w in words(path) if "." in w and "Drill" not in w]
    assert len(parts) >= 3                                # it took several lines
    assert "".join(w for _a, _b, w in parts) == address  # nothing lost
    assert all(b <= column_end + 0.5 for _a, b, _w in parts), (column_end, parts)
    assert [w for _a, _b, w in words(path) if w == "email"]


def test_emoji_and_right_to_left_names_print_and_read_back(qapp, tmp_path):
    """Colour emoji are drawn as pictures; the PDF's text still has them (a sequence as one),
    and Hebrew and Arabic names read in their own order."""
    from PySide6.QtGui import QImage

    blocks = [H(1, "Status 🔥 resolved ✅"),
              P(("Reached ", Run("דנה לוי", bold=True), " and سارة العلي; on call 👩‍💻 🇫🇷.",)),
              P(("Above U+FFFF in the body font too: 𝖠𝖡𝖢 and 🂡.",)),
              Table(("Name", "Note"), [("דנה לוי 🚀", (Run("failed 💥", tone="bad"),))])]
    result, path = render(tmp_path, blocks, footer="Outage 🔥 · Technical version")
    text = " ".join(" ".join(pages(path)).split())
    for expected in ("🔥", "✅", "👩\u200d💻 🇫🇷.", "🚀", "💥", "דנה לוי", "سارة العلي",
                     "Outage 🔥 · Technical version", "too: 𝖠𝖡𝖢 and 🂡."):
        assert unicodedata.normalize("NFKC", expected) in text, expected
    assert result.missing == () and result.unsearchable == ()
    # the fire is drawn in its colours (orange), not as an empty box
    subprocess.run(["pdftoppm", "-r", "100", "-f", "1", "-l", "1", "-png", str(path),
                    str(tmp_path / "page")], check=True, timeout=60)
    image = QImage(str(next(tmp_path.glob("page*.png"))))
    top = [image.pixelColor(x, y) for y in range(0, image.height() // 8)
           for x in range(0, image.width() // 2)]
    assert any(c.red() > 200 and 60 < c.green() < 190 and c.blue() < 90 for c in top)


def test_a_character_no_font_has_is_listed(qapp, tmp_path):
    result, path = render(tmp_path, [P(("Ticket \U0010FFFD reopened",)),
                                     Table(("Tag",), [("\U000F0001",)])])
    assert result.missing == ("\U000F0001", "\U0010FFFD")
    assert "Ticket" in pages(path)[0]
    from app.reports.pdf_text import pdf_warnings

    (warning,) = pdf_warnings(result.missing, result.unsearchable)
    assert warning.startswith("2 characters had no font on this computer and print as empty")
    assert "U+F0001" in warning and "U+10FFFD" in warning


def test_without_the_text_layer_font_emoji_still_print_and_are_listed(qapp, tmp_path,
                                                                       monkeypatch):
    """A damaged install (the font file gone): the PDF is written, the emoji drawn, and the
    result lists them as characters a reader cannot search for."""
    import ui.reports.pdf as engine

    engine._text_layer_data.cache_clear()
    monkeypatch.setattr(engine, "TEXT_LAYER_FONT", ("fonts", "no-such-font.ttf"))
    try:
        result, path = render(tmp_path, [P(("Bridge 🔥 and 🚀 open",))])
    finally:
        engine._text_layer_data.cache_clear()
    assert result.unsearchable == ("🔥", "🚀")
    assert "Bridge" in pages(path)[0] and "🔥" not in pages(path)[0]
