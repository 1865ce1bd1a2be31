"""Give a PDF's private-use characters the text they stand for, by rewriting the ToUnicode map
of the font that draws them.

The report's PDF engine (ui/reports/pdf.py) prints a colour emoji as a picture, which leaves no
text behind, and Qt's PDF writer maps glyphs back to text only below U+10000, where most emoji
are not. So under each picture it writes, invisibly, one private-use character in the text
layer font (packaging/text_layer_font.py): the k-th different emoji of the document is
U+E000 + k. Here that character's entry in the font's ToUnicode map becomes the emoji itself —
a whole sequence (👩‍💻, 🇫🇷, 1️⃣) where the picture is one — so search, copy and pdftotext
read 🔥 where the page shows 🔥.

The PDF is the one Qt writes: a classic cross-reference table and uncompressed font
dictionaries and ToUnicode streams. Anything else is left as it is (None is returned) and the
caller says which characters a reader cannot search for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_TO_UNICODE = re.compile(rb"/ToUnicode\s+(\d+)\s+0\s+R")
_HEX = re.compile(rb"<([0-9A-Fa-f]*)>|\[|\]")
_SECTION = re.compile(rb"(\d+)\s+begin(bfchar|bfrange)(.*?)end\2", re.DOTALL)
_XREF = re.compile(rb"(?m)^xref\r?\n")
_STARTXREF = re.compile(rb"startxref\r?\n(\d+)\s*\r?\n%%EOF\s*$")
_CMAP_HEAD = (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
              b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
              b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
              b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
_CMAP_TAIL = b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be").hex().upper().encode("ascii")


def parse_to_unicode(cmap: bytes) -> dict[int, bytes] | None:
    """{code: its text as UTF-16BE hex} of a ToUnicode CMap's bfchar and bfrange sections;
    None when a section cannot be read."""
    found: dict[int, bytes] = {}
    for _count, kind, body in _SECTION.findall(cmap):
        tokens = [m.group(0) if m.group(1) is None else m.group(1) for m in _HEX.finditer(body)]
        at = 0
        try:
            while at < len(tokens):
                if kind == b"bfchar":
                    found[int(tokens[at], 16)] = tokens[at + 1].upper()
                    at += 2
                    continue
                low, high = int(tokens[at], 16), int(tokens[at + 1], 16)
                if tokens[at + 2] == b"[":
                    end = tokens.index(b"]", at + 3)
                    for code, text in zip(range(low, high + 1), tokens[at + 3:end]):
                        found[code] = text.upper()
                    at = end + 1
                else:
                    first, width = int(tokens[at + 2], 16), len(tokens[at + 2])
                    for offset, code in enumerate(range(low, high + 1)):
                        found[code] = f"{first + offset:0{width}X}".encode("ascii")
                    at += 3
        except (IndexError, ValueError):
            return None
    return found


def write_to_unicode(mapping: Mapping[int, bytes]) -> bytes:
    """A ToUnicode CMap of bfchar sections (a hundred entries each, as the format allows)."""
    codes = sorted(mapping)
    parts = [_CMAP_HEAD]
    for start in range(0, len(codes), 100):
        chunk = codes[start:start + 100]
        parts.append(b"%d beginbfchar\n" % len(chunk))
        parts += [b"<%04X> <%s>\n" % (code, mapping[code]) for code in chunk]
        parts.append(b"endbfchar\n")
    parts.append(_CMAP_TAIL)
    return b"".join(parts)


def name_private_characters(pdf: bytes, font_name: str, names: Mapping[int, str]
                            ) -> bytes | None:
    """The PDF with every glyph of the font `font_name` that reads as a private-use
    character of `names` reading as that character's text instead; None when the PDF is not
    laid out as expected (nothing is changed then)."""
    if not names:
        return pdf
    wanted = {_utf16(chr(code)): _utf16(text) for code, text in names.items()}
    base_font = re.compile(rb"/BaseFont\s*/(?:[A-Z]{6}\+)?" + re.escape(font_name.encode())
                           + rb"(?![\w+-])")
    streams = set()
    for font in base_font.finditer(pdf):   # each in a font dictionary: the object around it
        start = pdf.rfind(b" 0 obj", 0, font.start())
        end = pdf.find(b"endobj", font.end())
        if start < 0 or end < 0:
            return None
        streams.update(int(m.group(1)) for m in _TO_UNICODE.finditer(pdf, start, end))
    if not streams:
        return None
    replaced: list[tuple[int, int, bytes]] = []   # (start, end, new bytes) of objects
    for number in sorted(streams):
        head = re.search(rb"(?m)^%d 0 obj\s*<<\s*/Length (\d+)\s*>>\s*stream\r?\n" % number,
                         pdf)
        if head is None:
            return None
        begin = head.end()
        end_stream = begin + int(head.group(1))
        tail = re.compile(rb"\s*endstream\s*endobj").match(pdf, end_stream)
        if tail is None:
            return None
        mapping = parse_to_unicode(pdf[begin:end_stream])
        if mapping is None:
            return None
        renamed = {code: wanted.get(text, text) for code, text in mapping.items()}
        cmap = write_to_unicode(renamed)
        obj = (b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(cmap)) + cmap
               + b"\nendstream\nendobj")
        replaced.append((head.start(), tail.end(), obj))
    return _rewrite(pdf, replaced)


def _codes(chars: Iterable[str]) -> str:
    return ", ".join(f"{c} (U+{ord(c):04X})" if len(c) == 1 else
                     f"{c} ({' '.join(f'U+{ord(x):04X}' for x in c)})" for c in chars)


def pdf_warnings(missing: Iterable[str], unsearchable: Iterable[str]) -> tuple[str, ...]:
    """What the PDF could not print as text, in words for the coordinator."""
    missing, unsearchable = list(missing), list(unsearchable)
    out = []
    if missing:
        n = len(missing)
        out.append(f"{n} character{'s' if n != 1 else ''} had no font on this computer and "
                   + ("prints as an empty box" if n == 1 else "print as empty boxes")
                   + f": {_codes(missing)}.")
    if unsearchable:
        n = len(unsearchable)
        out.append(f"{n} emoji or other character{'s' if n != 1 else ''} "
                   + ("prints" if n == 1 else "print")
                   + f" without text: the PDF shows {'it' if n == 1 else 'them'} but a reader "
                   f"cannot search for or copy {'it' if n == 1 else 'them'}: "
                   f"{_codes(unsearchable)}.")
    return tuple(out)


def _rewrite(pdf: bytes, replaced: list[tuple[int, int, bytes]]) -> bytes | None:
    """The PDF with the objects replaced and its cross-reference table moved to match."""
    xref = list(_XREF.finditer(pdf))
    startxref = _STARTXREF.search(pdf)
    if len(xref) != 1 or startxref is None or int(startxref.group(1)) != xref[0].start():
        return None
    replaced.sort()
    if replaced[-1][1] > xref[0].start():
        return None

    def moved(offset: int) -> int:
        return offset + sum(len(new) - (end - start) for start, end, new in replaced
                            if end <= offset)

    body, at = [], 0
    for start, end, new in replaced:
        body += [pdf[at:start], new]
        at = end
    body.append(pdf[at:xref[0].start()])
    table = pdf[xref[0].start():startxref.start()]
    lines = table.split(b"\n")
    out_lines = []
    for line in lines:
        entry = re.fullmatch(rb"(\d{10}) (\d{5}) n\s*", line)
        if entry:
            line = b"%010d %s n " % (moved(int(entry.group(1))), entry.group(2))
        out_lines.append(line)
    new_table = b"\n".join(out_lines)
    head = b"".join(body)
    return head + new_table + b"startxref\n%d\n%%%%EOF\n" % len(head)


__all__ = ["name_private_characters", "parse_to_unicode", "pdf_warnings", "write_to_unicode"]
