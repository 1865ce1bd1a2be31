"""Build resources/fonts/clarion-text-layer.ttf: a font of empty glyphs for the PDF engine's
invisible text layer (ui/reports/pdf.py). Qt prints a colour emoji as a picture, which leaves
no text behind (search, copy and pdftotext miss it); and Qt's PDF writer maps glyphs back to
text only below U+10000, where most emoji are not. So under each picture the engine writes one
glyph of this font, invisibly: the k-th different emoji of the document is the k-th private-use
character (U+E000 + k), and app/reports/pdf_text.py then rewrites the font's ToUnicode map so
that character reads as the emoji itself.

The glyphs are empty (nothing to see, no licence to carry) with an advance of one em; a cmap,
a name. It does not depend on which emoji exist: it never needs rebuilding for a new Unicode
version. Not run by the build or CI; it needs fontTools (pip install fonttools):

    python packaging/text_layer_font.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "fonts" / "clarion-text-layer.ttf"
FAMILY, PS_NAME = "Clarion Text Layer", "ClarionTextLayer"
FIRST, COUNT = 0xE000, 4096   # U+E000–U+EFFF: 4,096 different emoji per document
UNITS = 1000


def build(out: Path) -> None:
    codepoints = range(FIRST, FIRST + COUNT)
    names = [".notdef"] + [f"uni{cp:04X}" for cp in codepoints]
    fb = FontBuilder(UNITS, isTTF=True)
    fb.setupGlyphOrder(names)
    fb.setupCharacterMap({cp: f"uni{cp:04X}" for cp in codepoints})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({name: empty for name in names})
    fb.setupHorizontalMetrics({name: (UNITS, 0) for name in names})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": FAMILY, "styleName": "Regular", "psName": PS_NAME})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200,
                fsType=0)   # installable embedding: PDF writers embed it
    fb.setupPost()
    out.parent.mkdir(parents=True, exist_ok=True)
    fb.save(str(out))


def main() -> int:
    build(OUT)
    print(f"{OUT}: {COUNT} glyphs (U+{FIRST:04X}–U+{FIRST + COUNT - 1:04X}), "
          f"{OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
