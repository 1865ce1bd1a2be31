"""Headers that come back exactly (app/sending/channels/mime.py): a corpus of subjects and
display names in French, German, Polish, Greek, Japanese and emoji, 20 to 200 characters long,
written into a message and parsed back with email.policy.default."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone

import pytest

from app.sending.channels.mime import (MimeError, address, build_email, encoded_words,
                                       unstructured)

SEEDS = {
    "fr": "Portail indisponible — accès refusé (Zürich) pour les utilisateurs de Genève, "
          "rétablissement prévu à 16 h 30 ; prochaine mise à jour à l'heure",
    "de": "Störung behoben: Anmeldung über das Kundenportal für Großkunden in Düsseldorf "
          "wieder möglich – Ursache war ein abgelaufenes Zertifikat",
    "pl": "Awaria usługi płatności: zgłoszenia przyjmujemy telefonicznie, przepraszamy za "
          "utrudnienia — źródło błędu jest już znane, ślęczymy nad poprawką",
    "el": "Διακοπή υπηρεσίας ηλεκτρονικού ταχυδρομείου για όλους τους χρήστες της Αθήνας· "
          "η αποκατάσταση αναμένεται σύντομα",
    "ja": "【障害のお知らせ】お客様ポータルにログインできない事象が発生しています。"
          "復旧の見込みは午後四時半です。ご不便をおかけして申し訳ございません。",
    "emoji": "🚨 Outage 🔥 portal down — we are on it 👩‍💻👨‍💻 next update 16:30 ✅ "
             "thanks for your patience 🙏🏽 🇨🇭 status page ⚠️",
}
LENGTHS = (20, 33, 47, 64, 78, 96, 120, 150, 200)


def corpus() -> list[tuple[str, str]]:
    out = []
    for lang, seed in SEEDS.items():
        text = (seed + " ") * 4
        for n in LENGTHS:
            out.append((f"{lang}-{n}", text[:n].strip()))
    return out


EDGES = [
    ("ascii", "Portal outage: update 2"),
    ("ascii-long", "Portal outage affecting every customer of the European region: update 2 "
                   "of many, with the workaround described below"),
    ("looks-encoded", "Literal =?utf-8?q?not_encoded?= in a subject"),
    ("double-space", "Two  spaces and a trailing one "),
    ("tab", "Tab\tinside"),
    ("long-word", "x" * 120 + " then words"),
    ("quotes", 'The "quoted" part, (comment) and back\\slash'),
    ("leading", " leading space"),
]

DATE = datetime(2026, 12, 6, 9, 30, tzinfo=timezone.utc)


def message(subject: str = "Portal outage", from_name: str = "Harbor IT",
            to_name: str = "Ada Lovelace", to_address: str = "ada@example.com",
            text: str = "Restoring.", html: str = "") -> bytes:
    return build_email(from_name=from_name, from_address="alerts@example.com",
                       reply_to="noc@example.com", to_name=to_name, to_address=to_address,
                       subject=subject, text=text, html=html,
                       message_id="<m-1@clarion.test>", date=DATE,
                       token="0123456789abcdef0123456789abcdef")


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore


def head_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_well_formed(raw: bytes) -> None:
    assert b"=?utf-8?b??=" not in raw                     # no empty encoded word
    assert raw.count(b"MIME-Version:") == 1
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    for word in re.findall(rb"=\?[^?]+\?[bBqQ]\?[^?]*\?=", raw):
        assert word.startswith(b"=?utf-8?b?")


@pytest.mark.parametrize("label, subject", corpus() + EDGES)
def test_every_subject_comes_back_exactly(label, subject):
    raw = message(subject=subject)
    assert parsed(raw)["Subject"] == subject
    assert_well_formed(raw)
    subject_lines = []
    for line in head_lines(raw):
        if line.startswith(b"Subject: ") or (subject_lines and line[:1] == b" "):
            subject_lines.append(line)
        elif subject_lines:
            break
    if label != "long-word":
        assert all(len(line) <= 78 for line in subject_lines), subject_lines


@pytest.mark.parametrize("label, name", corpus() + EDGES)
def test_every_display_name_comes_back_exactly(label, name):
    raw = message(from_name=name, to_name=name)
    mail = parsed(raw)
    [sender] = mail["From"].addresses
    [to] = mail["To"].addresses
    written = " ".join(name.split())   # readers make one space of a run: so is it written
    assert sender.display_name == written and sender.addr_spec == "alerts@example.com"
    assert to.display_name == written and to.addr_spec == "ada@example.com"
    assert_well_formed(raw)


def test_a_plain_message_reads_as_written_and_only_the_top_says_mime_version():
    raw = message(html="<p>Restoring.</p>")
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("From: Harbor IT <alerts@example.com>\r\n"
                           "To: Ada Lovelace <ada@example.com>\r\n"
                           "Reply-To: noc@example.com\r\n"
                           "Subject: Portal outage\r\n"
                           "Date: Sun, 06 Dec 2026 09:30:00 +0000\r\n"
                           "Message-ID: <m-1@clarion.test>\r\n")
    mail = parsed(raw)
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["MIME-Version"] is None for p in mail.iter_parts())
    assert mail.get_body(("plain",)).get_content().splitlines() == ["Restoring."]
    assert raw.isascii()


def test_an_internationalised_address_is_utf8_and_its_name_still_encoded():
    raw = message(to_name="Zoë Müller", to_address="zoë@example.com", text="Grüße")
    assert "To: =?utf-8?b?".encode() in raw and "<zoë@example.com>".encode() in raw
    mail = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert mail["To"].addresses[0].display_name == "Zoë Müller"
    assert mail["To"].addresses[0].addr_spec == "zoë@example.com"
    assert mail.get_content().splitlines() == ["Grüße"]


def test_no_display_name_is_the_bare_address():
    raw = message(to_name="  ")
    assert b"\r\nTo: ada@example.com\r\n" in raw


@pytest.mark.parametrize("address", ["u ser@example.com", "user@@example.com", "no-at-sign"])
def test_an_unusable_address_is_refused_with_its_reason(address):
    with pytest.raises(MimeError, match=re.escape(f"Not a usable address ({address}): ")):
        message(to_address=address)


@pytest.mark.parametrize("field", ["subject", "text", "html", "to_name"])
def test_a_text_no_encoding_can_carry_is_refused(field):
    with pytest.raises(MimeError, match="surrogates not allowed"):
        message(**{field: "Portal \ud800 down"})


def test_encoded_words_hold_whole_characters_within_their_room():
    words = encoded_words("ab€" * 40, 30, 75)
    assert len(words[0]) <= 30 and all(len(w) <= 75 for w in words)
    assert "".join(email.header.decode_header(" ".join(words))[0][0].decode()
                   for _ in [0]) == "ab€" * 40
    assert encoded_words("", 75) == []
    assert unstructured("Subject", "") == ""


@pytest.mark.parametrize("spec", ['"zoë@home"@example.com', 'zoë@example.com',
                                  '"zoë \\"x\\""@example.com', 'ada@example.com'])
def test_an_address_keeps_its_local_part_exactly(spec):
    assert address(spec).addr_spec == spec


def test_each_encoded_word_is_as_full_as_its_room_allows():
    import base64

    def payload(word: str) -> bytes:
        return base64.b64decode(word[len("=?utf-8?b?"):-2])

    assert encoded_words("a" * 45, 72) == ["=?utf-8?b?" + base64.b64encode(b"a" * 45).decode()
                                           + "?="]                    # exactly 72: it fits
    assert len(encoded_words("a" * 46, 72)) == 2
    first, *rest = encoded_words("a" * 200, 69, 75)
    assert len(payload(first)) == 42 and len(first) == 68      # 43 bytes would need 72
    assert [len(payload(w)) for w in rest] == [45, 45, 45, 23]
    assert all(len(w) <= 75 for w in rest)


def header(raw: bytes, name: bytes) -> list[bytes]:
    """The lines of one header, as written."""
    lines = head_lines(raw)
    start = next(n for n, line in enumerate(lines) if line.startswith(name + b": "))
    end = start + 1
    while end < len(lines) and lines[end][:1] == b" ":
        end += 1
    return lines[start:end]


def test_plain_text_fills_each_line_to_78_and_no_further():
    exact = "a" * 20 + " " + "b" * 20 + " " + "c" * 27            # "Subject: " + 69 = 78
    assert header(message(subject=exact), b"Subject") == [f"Subject: {exact}".encode()]
    t = "t" * 38
    assert header(message(subject=f"{t} {t} {t}"), b"Subject") == [
        f"Subject: {t}".encode(), f" {t} {t}".encode()]              # the second line is 78
    fits = "z" * 69                                                   # one word, exactly 78
    assert header(message(subject=fits), b"Subject") == [f"Subject: {fits}".encode()]
    too_long = "y" * 75 + " end"                                      # cannot fold: encoded
    lines = header(message(subject=too_long), b"Subject")
    assert lines[0].startswith(b"Subject: =?utf-8?b?") and all(len(x) <= 78 for x in lines)
    assert parsed(message(subject=too_long))["Subject"] == too_long


def test_a_long_plain_name_folds_between_its_words_and_mixed_names_keep_plain_words():
    name = " ".join(["Harbor", "IT", "Incident", "Communications", "Desk"] * 4)
    lines = header(message(to_name=name), b"To")
    assert len(lines) > 1 and all(len(x) <= 78 for x in lines) and b"=?" not in b"".join(lines)
    assert parsed(message(to_name=name))["To"].addresses[0].display_name == name
    mixed = message(from_name="Service informatique de Zürich — Équipe")
    assert header(mixed, b"From")[0].startswith(b"From: Service informatique de =?utf-8?b?")


def test_a_name_too_long_for_one_encoded_word_stays_within_the_line_limit():
    raw = message(to_name="🚨" * 200)          # 800 bytes of UTF-8: more than one word holds
    lines = header(raw, b"To")
    assert 1 < len(lines) and all(len(x) <= 998 for x in lines)
    # two words, the second as full as the rest allows (not cut to the 75 of a subject's)
    words = re.findall(rb"=\?utf-8\?b\?[^?]*\?=", b"".join(lines))
    assert len(words) == 2 and len(words[1]) > 75
    # the same for a run that plain words follow
    mixed = header(message(to_name="🚨" * 200 + " Desk"), b"To")
    words = re.findall(rb"=\?utf-8\?b\?[^?]*\?=", b"".join(mixed))
    assert len(words) == 2 and len(words[1]) > 75 and b" Desk <" in b"".join(mixed)
    # (Python's parser, unlike RFC 2047 readers, puts a space between the two words)
    assert parsed(raw)["To"].addresses[0].display_name.replace(" ", "") == "🚨" * 200


def test_address_lines_fill_to_78_after_their_own_header_name():
    def words_of(length: int) -> str:
        out = "Harbor"
        while len(out) + 5 <= length:
            out += " Desk"
        return out + "x" * (length - len(out))

    sender = words_of(78 - len("From: ") - len(" <alerts@example.com>"))
    to = words_of(78 - len("To: ") - len(" <ada@example.com>"))
    raw = message(from_name=sender, to_name=to)
    assert header(raw, b"From") == [f"From: {sender} <alerts@example.com>".encode()]
    assert header(raw, b"To") == [f"To: {to} <ada@example.com>".encode()]


def test_the_same_message_built_twice_is_the_same_bytes_and_its_boundary_is_not_in_it():
    first, again = message(html="<p>Portal down</p>"), message(html="<p>Portal down</p>")
    assert first == again
    boundary = parsed(first).get_boundary()
    assert boundary.startswith("=_clarion_") and len(boundary) == 42
    assert first.count(boundary.encode()) == 4   # the header, opening, between, closing
    # a text that happens to hold it (7-bit, so written as it is) gets a longer one
    tricky = message(text=f"see {boundary} here", html="<p>x</p>")
    other = parsed(tricky).get_boundary()
    assert other.startswith(boundary) and other != boundary
    assert parsed(tricky).get_body(("plain",)).get_content().splitlines() == [
        f"see {boundary} here"]
