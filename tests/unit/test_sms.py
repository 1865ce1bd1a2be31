"""SMS counting (app/messages/segments.py) against 3GPP TS 23.038 (GSM 03.38): the default alphabet and its
extension table, GSM-7 160/153, UCS-2 70/67, and segment boundaries that never split a character."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.messages.segments import GSM7_BASIC, GSM7_EXTENSION, SmsInfo, sms_info

# The default alphabet written out again, independently, as (code, character) from the spec's
# table (0x1B is ESC, the escape to the extension table, not a character).
SPEC_BASIC = {
    0x00: "@", 0x01: "£", 0x02: "$", 0x03: "¥", 0x04: "è", 0x05: "é", 0x06: "ù", 0x07: "ì",
    0x08: "ò", 0x09: "Ç", 0x0A: "\n", 0x0B: "Ø", 0x0C: "ø", 0x0D: "\r", 0x0E: "Å", 0x0F: "å",
    0x10: "Δ", 0x11: "_", 0x12: "Φ", 0x13: "Γ", 0x14: "Λ", 0x15: "Ω", 0x16: "Π", 0x17: "Ψ",
    0x18: "Σ", 0x19: "Θ", 0x1A: "Ξ", 0x1C: "Æ", 0x1D: "æ", 0x1E: "ß", 0x1F: "É",
    0x20: " ", 0x21: "!", 0x22: '"', 0x23: "#", 0x24: "¤", 0x25: "%", 0x26: "&", 0x27: "'",
    0x28: "(", 0x29: ")", 0x2A: "*", 0x2B: "+", 0x2C: ",", 0x2D: "-", 0x2E: ".", 0x2F: "/",
    **{0x30 + i: str(i) for i in range(10)},
    0x3A: ":", 0x3B: ";", 0x3C: "<", 0x3D: "=", 0x3E: ">", 0x3F: "?", 0x40: "¡",
    **{0x41 + i: chr(ord("A") + i) for i in range(26)},
    0x5B: "Ä", 0x5C: "Ö", 0x5D: "Ñ", 0x5E: "Ü", 0x5F: "§", 0x60: "¿",
    **{0x61 + i: chr(ord("a") + i) for i in range(26)},
    0x7B: "ä", 0x7C: "ö", 0x7D: "ñ", 0x7E: "ü", 0x7F: "à",
}
SPEC_EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[",
                  0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}


def test_the_basic_table_is_the_spec_table():
    assert len(SPEC_BASIC) == 127                     # 128 positions less ESC
    assert sorted(SPEC_BASIC) == [c for c in range(128) if c != 0x1B]
    assert GSM7_BASIC == frozenset(SPEC_BASIC.values())
    assert "\x1b" not in GSM7_BASIC


def test_the_extension_table_is_the_spec_table():
    assert GSM7_EXTENSION == frozenset(SPEC_EXTENSION.values())
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("ch", list("ÄÖÑÜ§¿äöñüàÉÆæßéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞ¡£¥è¤@$"))
def test_accented_and_greek_letters_of_the_basic_set(ch):
    info = sms_info(ch)
    assert (info.encoding, info.units) == ("GSM-7", 1)


@pytest.mark.parametrize("ch", list("çÀÈÍÓÚáíóúâêîôûãõ`’‘“”—–…•°´¨") + ["\xa0", "\t"])
def test_characters_outside_gsm7_force_ucs2(ch):
    # 'Ç' is in the basic table, 'ç' is not; neither is the backtick nor any typographic quote.
    info = sms_info("Hello " + ch)
    assert info.encoding == "UCS-2"
    assert info.non_gsm_chars == (ch,)


def test_printable_ascii_is_gsm7_except_the_backtick():
    for code in range(0x20, 0x7F):
        ch = chr(code)
        if ch == "`":
            assert ch not in GSM7_BASIC and ch not in GSM7_EXTENSION
        else:
            assert ch in GSM7_BASIC or ch in GSM7_EXTENSION, ch


@pytest.mark.parametrize("text,units,segments,per,remaining", [
    ("", 0, 0, 160, 160),
    ("a", 1, 1, 160, 159),
    ("a" * 160, 160, 1, 160, 0),
    ("a" * 161, 161, 2, 153, 153 - 8),      # 153 + 8
    ("a" * 306, 306, 2, 153, 0),            # 153 * 2
    ("a" * 307, 307, 3, 153, 152),
    ("€", 2, 1, 160, 158),
    ("a" * 158 + "€", 160, 1, 160, 0),
    ("a" * 159 + "€", 161, 2, 153, 145),
    ("^{}\\[~]|€\f", 20, 1, 160, 140),      # every extension character costs 2
    ("a\r\nb", 4, 1, 160, 156),             # CR and LF are one septet each
], ids=["empty", "1", "160", "161", "306", "307", "euro", "158+euro", "159+euro", "extension",
        "crlf"])
def test_gsm7_vectors(text, units, segments, per, remaining):
    assert sms_info(text) == SmsInfo("GSM-7", units, segments, per, (), remaining)


def test_an_extension_pair_that_would_straddle_a_boundary_moves_to_the_next_segment():
    # 152 septets, then € as septets 153/154: ESC would end segment 1 and € start segment 2.
    straddling = "a" * 152 + "€" + "a" * 152        # 306 septets: naive ceil(306/153) = 2
    info = sms_info(straddling)
    assert (info.units, info.segments, info.remaining) == (306, 3, 152)
    # 152 + (2 + 151): the pair fits at the start of segment 2, which is then exactly full.
    info = sms_info("a" * 152 + "€" + "a" * 151)
    assert (info.units, info.segments, info.remaining) == (305, 2, 0)


def test_an_extension_pair_as_septets_154_and_155_starts_segment_two_cleanly():
    info = sms_info("a" * 153 + "€" + "a" * 10)     # € is septets 154/155
    assert (info.units, info.segments, info.per_segment, info.remaining) == (165, 2, 153, 141)
    info = sms_info("a" * 153 + "{" + "a" * 151)    # 153 + 153: two full segments
    assert (info.units, info.segments, info.remaining) == (306, 2, 0)


@pytest.mark.parametrize("text,units,segments,per,remaining", [
    ("ç" * 70, 70, 1, 70, 0),
    ("ç" * 71, 71, 2, 67, 67 - 4),          # 67 + 4
    ("ç" * 134, 134, 2, 67, 0),
    ("ç" * 135, 135, 3, 67, 66),
    ("😀", 2, 1, 70, 68),                   # an emoji is a surrogate pair: 2 units
    ("😀" * 35, 70, 1, 70, 0),
    ("😀" * 36, 72, 2, 67, 61),             # 33 emoji (66 units) + 3: no pair is split
], ids=["70", "71", "134", "135", "emoji", "35-emoji", "36-emoji"])
def test_ucs2_vectors(text, units, segments, per, remaining):
    info = sms_info(text)
    assert (info.encoding, info.units, info.segments, info.per_segment, info.remaining) == \
        ("UCS-2", units, segments, per, remaining)


def test_a_surrogate_pair_is_not_split_across_segments_either():
    info = sms_info("ç" * 66 + "😀" + "ç" * 66)     # 134 units; the emoji would be units 67/68
    assert (info.units, info.segments, info.remaining) == (134, 3, 66)


def test_one_ucs2_character_makes_the_whole_message_ucs2():
    info = sms_info("a" * 69 + "’")
    assert (info.encoding, info.units, info.segments) == ("UCS-2", 70, 1)
    info = sms_info("a" * 70 + "’")
    assert (info.encoding, info.units, info.segments) == ("UCS-2", 71, 2)


def test_extension_characters_cost_one_unit_in_ucs2():
    info = sms_info("€ç")
    assert (info.encoding, info.units) == ("UCS-2", 2)


@pytest.mark.parametrize("text", ["שלום, השירות חזר לפעול", "تم استعادة الخدمة", "Привет", "你好"])
def test_right_to_left_and_other_scripts_are_ucs2(text):
    info = sms_info(text)
    assert info.encoding == "UCS-2"
    assert info.units == len(text)
    assert set(info.non_gsm_chars) == {c for c in text if c not in GSM7_BASIC}


def test_non_gsm_characters_are_distinct_and_in_order_of_appearance():
    info = sms_info("It’s down — again ’ 😀 —")
    assert info.non_gsm_chars == ("’", "—", "😀")


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=700))
def test_gsm7_counts_hold_for_any_text(text):
    info = sms_info(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text) + sum(1 for c in text if c in GSM7_EXTENSION)
    if info.units == 0:
        assert info.segments == 0
    elif info.units <= 160:
        assert (info.segments, info.remaining) == (1, 160 - info.units)
    else:
        assert info.per_segment == 153
        naive = math.ceil(info.units / 153)
        assert naive <= info.segments <= naive + info.units // 153
        assert 0 <= info.remaining < 153


@given(st.text(max_size=300))
def test_any_text_fits_its_segments(text):
    info = sms_info(text)
    assert info.units == len(text.encode("utf-16-le")) // 2 or info.encoding == "GSM-7"
    assert info.segments * info.per_segment >= info.units
    assert 0 <= info.remaining <= info.per_segment
