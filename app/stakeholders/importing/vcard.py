"""vCard reading (2.1, 3.0 and 4.0 as written by Outlook, Google Contacts, Apple and Thunderbird).

Only what a stakeholder needs is kept: the name (FN, else N), TITLE/ROLE, ORG, NOTE, EMAIL, TEL
(with their TYPE, preference and label: the place TYPEs, or Apple's X-ABLabel of the item group)
and CATEGORIES. Handled on the way: a UTF-8 BOM, line
unfolding (continuation lines start with a space or a tab), quoted-printable values with a
CHARSET (Outlook's 2.1-style exports, soft line breaks included), backslash escapes (\\\\ \\; \\,
\\n), item groups ("item1.TEL"), TYPE written as TYPE=CELL, type=cell,voice, TYPE="cell" or a bare
2.1 parameter (TEL;CELL;PREF), v4 PREF=1, and v4 tel: URIs (VALUE=uri:tel:+1-206-…).
Pure parsing; app/stakeholders/importing/plan.py turns the cards into stakeholders."""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass
from pathlib import Path

from app.stakeholders.importing.read import ImportFileError, read_text_file

__all__ = ["VCard", "parse_vcards", "read_vcard_file"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ENCODING_WORDS = {"QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT"}
_CELL_TYPES = {"cell", "mobile", "iphone", "text", "textphone"}


@dataclass(frozen=True)
class VCard:
    number: int  # 1-based position of the card in the file
    fn: str  # FN, else built from N ("Given Additional Family")
    title: str  # TITLE, else ROLE
    org: str  # ORG components joined with ", " (the company, then its units)
    note: str
    emails: tuple[tuple[str, bool, str], ...]  # (address, preferred, label), preferred first
    phones: tuple[tuple[str, str, bool, str], ...]  # (number, kind, preferred, label); kind
    #                                                 "cell", "voice", "fax", "pager"
    categories: tuple[str, ...]
    org_parts: tuple[str, ...] = ()  # ORG's components: the company, then its units


# ---------------------------------------------------------------- low-level helpers

def _split_unquoted(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split on `sep` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == sep and not quoted and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_escaped(value: str, sep: str) -> list[str]:
    """Split a structured value (N, ORG, CATEGORIES) on `sep` not escaped by a backslash;
    the parts are returned unescaped."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append(unescape("".join(current)))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append(unescape("".join(current)))
    return parts


_ESCAPES = {"n": "\n", "N": "\n", ",": ",", ";": ";", "\\": "\\", ":": ":"}


def unescape(value: str) -> str:
    """vCard text escapes: \\n \\N → newline, \\, \\; \\\\ \\: → the character. An unknown
    escape (a Windows path in a 2.1 NOTE) keeps its backslash."""
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in _ESCAPES:
            out.append(_ESCAPES[value[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _is_quoted_printable(line: str) -> bool:
    head = _split_unquoted(line, ":", 1)[0]
    return "QUOTED-PRINTABLE" in head.upper()


def unfold(text: str) -> list[str]:
    """Logical lines: RFC folding (a line starting with a space or tab continues the previous
    one) and quoted-printable soft line breaks (a QP value ending with "=")."""
    logical: list[str] = []
    qp_pending = False
    for line in _LINE_BREAK.split(text):
        if qp_pending and logical:
            # A QP soft break: drop the "=" and join; a folding blank goes too.
            rest = line[1:] if line[:1] in (" ", "\t") else line
            logical[-1] = logical[-1][:-1] + rest
            qp_pending = logical[-1].endswith("=")
            continue
        if line[:1] in (" ", "\t") and logical:
            logical[-1] += line[1:]
        elif not line.strip():
            continue
        else:
            logical.append(line)
        qp_pending = logical[-1].endswith("=") and _is_quoted_printable(logical[-1])
    return logical


@dataclass(frozen=True)
class _Property:
    name: str  # upper case, group removed
    params: dict[str, list[str]]  # upper-case keys; TYPE values lower case (but X-…)
    value: str  # decoded (quoted-printable), still escaped
    group: str = ""  # Apple's "item1." prefix, which ties a TEL to its X-ABLabel

    @property
    def types(self) -> set[str]:
        return set(self.params.get("TYPE", ()))

    @property
    def preferred(self) -> bool:
        return "pref" in self.types or "PREF" in self.params


def _parse_line(line: str) -> _Property | None:
    parts = _split_unquoted(line, ":", 1)
    if len(parts) < 2:
        return None
    head, value = parts
    pieces = _split_unquoted(head, ";")
    group, _, name = pieces[0].strip().rpartition(".")
    name = name.upper()
    params: dict[str, list[str]] = {}
    for raw in pieces[1:]:
        raw = raw.strip()
        if not raw:
            continue
        if "=" in raw:
            key, _, val = raw.partition("=")
            key = key.strip().upper()
        else:  # vCard 2.1 bare parameter: TEL;CELL;PREF or NOTE;QUOTED-PRINTABLE
            key, val = ("ENCODING", raw) if raw.upper() in _ENCODING_WORDS else ("TYPE", raw)
        values = []
        for item in _split_unquoted(val, ","):
            item = item.strip().strip('"').strip()
            values.extend(v.strip() for v in item.split(",") if v.strip())
        if key == "TYPE":   # an own label (Android: TEL;X-OnCall) keeps its case
            values = [v if v[:2].upper() == "X-" else v.lower() for v in values]
        params.setdefault(key, []).extend(values)
    encoding = {v.upper() for v in params.get("ENCODING", ())}
    if encoding & {"B", "BASE64"}:
        return None  # PHOTO, KEY, …: nothing a stakeholder needs
    if "QUOTED-PRINTABLE" in encoding:
        value = _decode_qp(value, (params.get("CHARSET") or ["utf-8"])[0])
    return _Property(name=name, params=params, value=value, group=group.casefold())


def _decode_qp(value: str, charset: str) -> str:
    raw = quopri.decodestring(value.encode("utf-8"))
    for encoding in (charset, "utf-8", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    else:  # pragma: no cover - cp1252 fails only on five bytes; latin-1 never fails
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _phone_kind(types: set[str]) -> str:
    if types & _CELL_TYPES:
        return "cell"
    if "fax" in types and "voice" not in types:
        return "fax"
    if "pager" in types:
        return "pager"
    return "voice"


def _tel_value(value: str) -> str:
    value = value.strip()
    if value.lower().startswith("tel:"):
        value = value[4:].split(";", 1)[0]  # drop ;ext=…, ;phone-context=…
    return value.strip()


def _name_from_n(value: str) -> str:
    parts = [p.strip() for p in _split_escaped(value, ";")] + [""] * 5
    family, given, additional, prefix, suffix = parts[:5]
    return " ".join(p for p in (prefix, given, additional, family, suffix) if p)


# TYPE values that say where a number or address is (the label); the others (voice, pref,
# internet, x400, text…) say what it is
_PLACE_TYPES = {"work": "Work", "home": "Home", "other": "Other", "main": "Main",
                "car": "Car", "school": "School", "personal": "Personal",
                "business": "Business"}
_APPLE_LABEL = re.compile(r"^_\$!<(.*)>!\$_$")


def _label(prop: _Property, apple_labels: dict[str, str], mobile: bool = False) -> str:
    """The contact point label: Apple's X-ABLabel of the item group ("_$!<Mobile>!$_" →
    "Mobile", or a custom "Assistant"), else an own TYPE (Android's "TEL;X-OnCall" →
    "OnCall"), else the place TYPEs ("Work", "Home"), with "mobile" for a cell number
    ("Work mobile")."""
    if prop.group and prop.group in apple_labels:
        return apple_labels[prop.group]
    own = next((t[2:] for t in prop.params.get("TYPE", ()) if t[:2].upper() == "X-"), "")
    if own:
        return own[:40]
    places = [_PLACE_TYPES[t] for t in sorted(prop.types) if t in _PLACE_TYPES]
    words = " ".join(places)
    if mobile:
        words = f"{words} mobile" if words else "Mobile"
    return words[:40]


# ---------------------------------------------------------------- cards

def _card(number: int, props: list[_Property]) -> VCard:
    fn = n = title = role = note = ""
    orgs: list[str] = []
    emails: list[tuple[str, bool, int, str]] = []
    phones: list[tuple[str, str, bool, int, str]] = []
    categories: list[str] = []
    apple_labels: dict[str, str] = {}
    for prop in props:
        if prop.name == "X-ABLABEL" and prop.group:
            text = unescape(prop.value).strip()
            match = _APPLE_LABEL.match(text)
            apple_labels[prop.group] = (match.group(1) if match else text)[:40]
    for prop in props:
        if prop.name == "FN" and not fn:
            fn = " ".join(unescape(prop.value).split())
        elif prop.name == "N" and not n:
            n = _name_from_n(prop.value)
        elif prop.name == "TITLE" and not title:
            title = unescape(prop.value).strip()
        elif prop.name == "ROLE" and not role:
            role = unescape(prop.value).strip()
        elif prop.name == "ORG" and not orgs:
            orgs = [p.strip() for p in _split_escaped(prop.value, ";") if p.strip()]
        elif prop.name == "NOTE":
            text = unescape(prop.value).strip()
            if text:
                note = f"{note}\n{text}" if note else text
        elif prop.name == "EMAIL":
            address = unescape(prop.value).strip()
            if address.lower().startswith("mailto:"):
                address = address[7:]
            if address:
                emails.append((address, prop.preferred, _pref_rank(prop),
                               _label(prop, apple_labels)))
        elif prop.name == "TEL":
            number_ = _tel_value(unescape(prop.value))
            if number_:
                kind = _phone_kind(prop.types)
                own = apple_labels.get(prop.group, "") if prop.group else ""
                if kind == "voice" and _MOBILE_WORD.search(own):
                    kind = "cell"   # Apple: TEL;type=VOICE with the label "Mobile"
                elif kind in ("voice", "cell") and _FAX_WORD.search(own):
                    kind = "fax"    # a label of its own: "Fax Paris"
                phones.append((number_, kind, prop.preferred, _pref_rank(prop),
                               _label(prop, apple_labels, mobile=kind == "cell")))
        elif prop.name == "CATEGORIES":
            categories += [c.strip() for c in _split_escaped(prop.value, ",") if c.strip()]
    # Preferred first (v4 PREF=1 before PREF=2), otherwise file order (sorted() is stable).
    emails.sort(key=lambda e: e[2])
    phones.sort(key=lambda p: p[3])
    return VCard(number=number, fn=fn or n, title=title or role, org=", ".join(orgs),
                 note=note, emails=tuple((a, p, label) for a, p, _, label in emails),
                 phones=tuple((num, kind, p, label) for num, kind, p, _, label in phones),
                 categories=tuple(categories), org_parts=tuple(orgs))


_MOBILE_WORD = re.compile(r"(?i)mobile|cell|handy|iphone")
_FAX_WORD = re.compile(r"(?i)\b(fax|telefax)\b")


def _pref_rank(prop: _Property) -> int:
    """Sort key: PREF=n (v4, 1 = most preferred) → n; TYPE=pref → 1; not preferred → 101."""
    for value in prop.params.get("PREF", ()):
        if value.isdigit():
            return int(value)
    return 1 if prop.preferred else 101


def parse_vcards(text: str) -> list[VCard]:
    """Every card in `text`, numbered from 1. Raises ImportFileError when `text` holds no
    vCard at all."""
    text = text.lstrip("\ufeff")
    cards: list[VCard] = []
    props: list[_Property] | None = None
    depth = 0
    for line in unfold(text):
        stripped = line.strip()
        upper = stripped.upper()
        if upper == "BEGIN:VCARD":
            depth += 1
            if depth == 1:
                props = []
            continue
        if upper == "END:VCARD":
            depth = max(0, depth - 1)
            if depth == 0 and props is not None:
                cards.append(_card(len(cards) + 1, props))
                props = None
            continue
        if props is None or depth != 1:
            continue  # outside a card, or a nested 2.1 AGENT card
        prop = _parse_line(stripped)
        if prop is not None:
            props.append(prop)
    if props is not None:  # the last card lacks END:VCARD: keep what it has
        cards.append(_card(len(cards) + 1, props))
    if not cards:
        raise ImportFileError("This is not a vCard file: no “BEGIN:VCARD” line was found.")
    return cards


def read_vcard_file(path: Path) -> list[VCard]:
    """Read a .vcf file: the size limit and the encoding detection of CSV imports."""
    text, _encoding = read_text_file(Path(path), folded_lines=True)
    try:
        return parse_vcards(text)
    except ImportFileError as exc:
        raise ImportFileError(f"{Path(path).name}: {exc}") from None
