"""SMS length and encoding, counted like a phone does (3GPP TS 23.038, ex GSM 03.38). Pure.

A text that uses only the GSM 7-bit default alphabet (basic table plus the extension table) is
sent as GSM-7: 160 septets in one SMS, 153 per segment once it needs several (7 septets go to the
concatenation header). A character of the extension table is sent as ESC + character, so it
costs 2 septets. Any other character forces the whole message into UCS-2 (UTF-16): 70 code units
in one SMS, 67 per segment; a character outside the BMP (most emoji) is a surrogate pair, 2 units.

Segment boundaries never split a character: an extension character's ESC + character pair, or
a UTF-16 surrogate pair, that would straddle a boundary moves whole to the next segment (what
handsets and providers do; a split pair would show as garbage). The last septet or unit of the
segment before then stays unused, so a multipart message can need one segment more than
ceil(units / 153) (or ceil(units / 67)), and `remaining` counts from the pair's new home.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "SmsInfo", "sms_info"]

# The basic table, row by row as 23.038 prints it (0x00-0x7F); 0x1B is ESC, the escape to the
# extension table, and is not a character a text can contain, so it is left out.
_BASIC_TABLE = (
    "@£$¥èéùì" "òÇ\nØø\rÅå"        # 0x00-0x0F (0x0A LF, 0x0D CR)
    "Δ_ΦΓΛΩΠΨ" "ΣΘΞ" "ÆæßÉ"       # 0x10-0x1F (0x1B ESC omitted)
    " !\"#¤%&'" "()*+,-./"          # 0x20-0x2F
    "01234567" "89:;<=>?"           # 0x30-0x3F
    "¡ABCDEFG" "HIJKLMNO"           # 0x40-0x4F
    "PQRSTUVW" "XYZÄÖÑÜ§"           # 0x50-0x5F
    "¿abcdefg" "hijklmno"           # 0x60-0x6F
    "pqrstuvw" "xyzäöñüà"           # 0x70-0x7F
)
assert len(_BASIC_TABLE) == 127  # 128 positions less ESC

GSM7_BASIC: frozenset[str] = frozenset(_BASIC_TABLE)
# The extension table (ESC + code): 0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \, 0x3C [,
# 0x3D ~, 0x3E ], 0x40 |, 0x65 €. Each costs 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SmsInfo:
    encoding: str                   # "GSM-7" | "UCS-2"
    units: int                      # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int                   # 0 for an empty text
    per_segment: int                # 160 / 153 (GSM-7), 70 / 67 (UCS-2)
    non_gsm_chars: tuple[str, ...]  # what forced UCS-2: distinct, in order of appearance
    remaining: int                  # units left in the last segment


def _segments(costs: list[int], single: int, multi: int) -> tuple[int, int, int]:
    """(segments, per_segment, remaining) for characters costing `costs` units each."""
    units = sum(costs)
    if units == 0:
        return 0, single, single
    if units <= single:
        return 1, single, single - units
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:      # this character would straddle (or overflow) the boundary
            segments += 1
            used = 0
        used += cost
    return segments, multi, multi - used


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and segment count of `text` sent as one SMS (see the module doc)."""
    non_gsm: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            non_gsm.setdefault(ch)
    if not non_gsm:
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        segments, per, remaining = _segments(costs, GSM7_SINGLE, GSM7_MULTI)
        return SmsInfo("GSM-7", sum(costs), segments, per, (), remaining)
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    segments, per, remaining = _segments(costs, UCS2_SINGLE, UCS2_MULTI)
    return SmsInfo("UCS-2", sum(costs), segments, per, tuple(non_gsm), remaining)
