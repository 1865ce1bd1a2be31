"""app/reports/pdf_text.py without Qt: ToUnicode maps read and written, a PDF's private-use
characters renamed with its cross-reference table moved to match, a PDF laid out otherwise
left alone, and the coordinator's warnings."""

from __future__ import annotations

import re

from app.reports.pdf_text import (
    name_private_characters, parse_to_unicode, pdf_warnings, write_to_unicode,
)

QT_CMAP = (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
           b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
           b"3 beginbfrange\n<0000> <0000> <0000>\n<0001> <0003> [<E000> <E001> <0041> ]\n"
           b"<0005> <0007> <0061>\nendbfrange\n1 beginbfchar\n<0009> <D83DDD25>\nendbfchar\n"
           b"endcmap\nend\nend\n")


def test_a_to_unicode_map_is_read_in_its_three_forms():
    assert parse_to_unicode(QT_CMAP) == {
        0: b"0000", 1: b"E000", 2: b"E001", 3: b"0041",          # a range with an array
        5: b"0061", 6: b"0062", 7: b"0063",                      # a range counting up
        9: b"D83DDD25"}                                          # one code, a surrogate pair
    assert parse_to_unicode(b"1 beginbfrange\n<0001> <0003>\nendbfrange\n") is None


def test_a_written_map_reads_back_the_same_in_sections_of_a_hundred():
    mapping = {code: b"%04X" % (0x41 + code % 26) for code in range(250)}
    cmap = write_to_unicode(mapping)
    assert parse_to_unicode(cmap) == mapping
    assert [int(n) for n in re.findall(rb"(\d+) beginbfchar", cmap)] == [100, 100, 50]


def pdf(objects: list[bytes]) -> bytes:
    """A PDF laid out as Qt writes one: numbered objects, one xref table, the trailer."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<<\n/Size %d\n/Root 1 0 R\n>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


def stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


FONT = (b"<< /Type /Font\n/Subtype /Type0\n/BaseFont /ClarionTextLayer\n/Encoding /Identity-H"
        b"\n/DescendantFonts [3 0 R]\n/ToUnicode 4 0 R>>")
OTHER = (b"<< /Type /Font\n/Subtype /Type0\n/BaseFont /DejaVuSans\n/Encoding /Identity-H\n"
         b"/ToUnicode 5 0 R>>")


def objects_at_their_offsets(data: bytes) -> bool:
    xref = data.rindex(b"\nxref\n") + 1
    assert int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data)[1]) == xref
    entries = re.findall(rb"(\d{10}) 00000 n ", data[xref:])
    return all(data[int(offset):].startswith(b"%d 0 obj" % n)
               for n, offset in enumerate(entries, start=1))


def test_private_use_characters_of_the_font_read_as_the_emoji_they_stand_for():
    before = pdf([b"<< /Type /Catalog >>", FONT, b"<< /Type /Font /Subtype /CIDFontType2 >>",
                  stream(QT_CMAP), stream(QT_CMAP), b"<< /Producer (Qt) >>"])
    after = name_private_characters(before, "ClarionTextLayer",
                                    {0xE000: "🔥", 0xE001: "👩\u200d💻"})
    assert after is not None and objects_at_their_offsets(after)
    fonts_map = re.search(rb"4 0 obj\n<< /Length (\d+) >>\nstream\n", after)
    cmap = after[fonts_map.end():fonts_map.end() + int(fonts_map[1])]
    assert parse_to_unicode(cmap) == {0: b"0000", 1: b"D83DDD25", 2: b"D83DDC69200DD83DDCBB",
                                      3: b"0041", 5: b"0061", 6: b"0062", 7: b"0063",
                                      9: b"D83DDD25"}
    # another font's map, the other objects and their order are as they were
    other = re.search(rb"5 0 obj\n<< /Length \d+ >>\nstream\n", after)
    assert after[other.end():other.end() + len(QT_CMAP)] == QT_CMAP
    assert after.endswith(b"%%EOF\n") and b"<< /Producer (Qt) >>" in after


def test_a_pdf_laid_out_otherwise_is_left_alone():
    names = {0xE000: "🔥"}
    good = pdf([b"<< /Type /Catalog >>", FONT, b"<< >>", stream(QT_CMAP), stream(QT_CMAP)])
    assert name_private_characters(good, "ClarionTextLayer", {}) == good   # nothing to name
    assert name_private_characters(good, "SomeOtherFont", names) is None   # not in it
    # a cross-reference stream instead of a table (PDF 1.5 writers)
    assert name_private_characters(good.replace(b"\nxref\n", b"\nXRefStm\n"),
                                   "ClarionTextLayer", names) is None
    # the map is not a plain stream of the length it says
    broken = pdf([b"<< /Type /Catalog >>", FONT, b"<< >>",
                  b"<< /Length 9 /Filter /FlateDecode >>\nstream\nxxxxxxxxx\nendstream",
                  stream(QT_CMAP)])
    assert name_private_characters(broken, "ClarionTextLayer", names) is None


def test_the_warnings_say_what_the_pdf_could_not_print_as_text():
    assert pdf_warnings((), ()) == ()
    (one,) = pdf_warnings(("\U0010FFFD",), ())
    assert one == ("1 character had no font on this computer and prints as an empty box: "
                   "\U0010FFFD (U+10FFFD).")
    (two,) = pdf_warnings((), ("🔥", "🇫🇷"))
    assert two == ("2 emoji or other characters print without text: the PDF shows them but a "
                   "reader cannot search for or copy them: 🔥 (U+1F525), 🇫🇷 (U+1F1EB U+1F1F7).")
