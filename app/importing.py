"""Stakeholder import (CSV with a column mapping, vCard) and export (CSV).

An import is planned first — every row validated like the stakeholder form validates, the rows
that fail listed with their line and column, duplicates (same email or phone number as a
stakeholder of the same client, or as an earlier row of the file) set aside — and then applied
in ONE transaction (StakeholderService.apply_batch): all or nothing.

Files are refused above MAX_IMPORT_BYTES before a byte is read. Text is decoded as UTF-8 (with
or without BOM), UTF-16 with a BOM (Excel's "Unicode text"), else Windows-1252, else Latin-1;
the encoding used is reported. The CSV delimiter (comma, semicolon — Excel in much of Europe —,
tab or bar) is detected, and Excel's "sep=;" first line is honoured.

Export writes UTF-8 with a BOM (so Excel opens it as UTF-8), one row per stakeholder, the
columns of EXPORT_COLUMNS; several addresses of one channel are joined with "; ". Importing an
export with guess_mapping gives the same stakeholders back (contact labels are not exported;
priorities come back in column order: email, sms, phone, slack, teams, webhook). Text cells
that a spreadsheet would run as a formula (=, +, -, @) are written with a leading apostrophe,
which the import removes again."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.domain.enums import Category, Channel
from app.errors import ClarionError, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from app.stakeholders import StakeholderService
    from app.vcard import VCard

__all__ = [
    "MAX_IMPORT_BYTES", "PREVIEW_ROWS", "IMPORT_FIELDS", "EXPORT_COLUMNS", "ImportFileError",
    "CsvPreview", "RowProblem", "Duplicate", "ImportPlan", "ImportResult", "read_text_file",
    "read_csv_preview", "guess_mapping", "plan_csv_import", "plan_vcard_import", "merge_into",
    "apply_import", "export_csv",
]

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # 20 MiB: ~100,000 stakeholders; larger is a mistake
PREVIEW_ROWS = 20

IMPORT_FIELDS: dict[str, str] = {
    "name": "Name",
    "role": "Role / job title",
    "category": "Category",
    "information_need": "Information need",
    "timing_need": "Timing need",
    "detail_level": "Detail level",
    "max_silence_minutes": "Max silence (minutes)",
    "notes": "Notes",
    "active": "Active",
    "preferred_channel": "Preferred channel",
    "email": "Email",
    "sms": "Mobile (SMS)",
    "phone": "Phone",
    "slack": "Slack webhook",
    "teams": "Teams webhook",
    "webhook": "Webhook",
}
CONTACT_FIELDS = ("email", "sms", "phone", "slack", "teams", "webhook")

EXPORT_COLUMNS = (
    "name", "role", "organisation", "category", "information_need", "timing_need",
    "detail_level", "max_silence_minutes", "active", "notes",
    "email", "sms", "phone", "slack", "teams", "webhook", "preferred_channel",
)


class ImportFileError(ClarionError):
    """The file as a whole cannot be imported (too big, empty, not text, no header, …)."""


# ---------------------------------------------------------------- reading text

def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB ({size:,} bytes)"


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    """(text, encoding). UTF-8 (BOM or not), UTF-16 with a BOM, then cp1252, then latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise ImportFileError(f"{name} says it is UTF-16 but is not readable as such.") \
                from None
    if raw.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{name} is a zip archive or an Excel workbook (.xlsx), not a "
                              "text file. In Excel use File › Save As › CSV UTF-8.")
    if b"\x00" in raw[:4096]:
        sample = raw[:4096]
        odd_nuls = sample[1::2].count(0)
        if odd_nuls > len(sample) // 4 and sample[0::2].count(0) < len(sample) // 20:
            try:  # UTF-16-LE without a BOM (some exporters)
                return raw.decode("utf-16-le"), "utf-16"
            except UnicodeDecodeError:
                pass
        raise ImportFileError(f"{name} is not a text file (it contains binary data).")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def read_text_file(path: Path) -> tuple[str, str]:
    """The text of an import file and the encoding it was read with. The size is checked
    before reading. Raises ImportFileError with a message for the coordinator."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportFileError(f"{path} does not exist (moved or deleted?).") from None
    except OSError as exc:
        raise ImportFileError(f"Cannot open {path}: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder; choose a file.")
    if size > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"{path.name} is {_size_text(size)}; Clarion imports files up to "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB. Split it into smaller files.")
    if size == 0:
        raise ImportFileError(f"{path.name} is empty.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path.name}: {exc.strerror or exc}.") from None
    text, encoding = _decode(raw, path.name)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError(f"{path.name} is empty.")
    return text, encoding


# ---------------------------------------------------------------- CSV reading

@dataclass(frozen=True)
class CsvPreview:
    path: Path
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the first PREVIEW_ROWS data rows, padded to the headers
    total_rows: int  # data rows (blank lines not counted)


_DELIMITERS = (",", ";", "\t", "|")
_SEP_LINE = re.compile(r"\A\s*sep=(.)\s*(?:\r\n|\r|\n)", re.IGNORECASE)


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    best, best_score = ",", (False, 0, 0)
    for delimiter in _DELIMITERS:
        if delimiter not in sample:
            continue
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter)
                    if any(c.strip() for c in r)][:20]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        score = (width > 1, sum(1 for r in rows if len(r) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


@dataclass(frozen=True)
class _Table:
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    header_line: int
    rows: list[tuple[int, tuple[str, ...]]]  # (line number where the record starts, cells)


def _read_table(path: Path) -> _Table:
    path = Path(path)
    text, encoding = read_text_file(path)
    skipped_lines = 0
    match = _SEP_LINE.match(text)
    if match:  # Excel's delimiter hint
        delimiter = match.group(1)
        text = text[match.end():]
        skipped_lines = 1
    else:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        skipinitialspace=True)
    headers: tuple[str, ...] | None = None
    header_line = 0
    rows: list[tuple[int, tuple[str, ...]]] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1 + skipped_lines
            previous_end = reader.line_num
            cells = tuple(c.strip() for c in record)
            if not any(cells):
                continue
            if headers is None:
                headers, header_line = cells, start
            else:
                rows.append((start, cells))
    except csv.Error as exc:
        raise ImportFileError(
            f"{path.name}, line {reader.line_num + skipped_lines}: cannot read the CSV: {exc}."
        ) from None
    if headers is None:
        raise ImportFileError(f"{path.name} is empty.")
    _check_header(path.name, headers, header_line)
    if not rows:
        raise ImportFileError(f"{path.name} has column names but no rows to import.")
    return _Table(encoding, delimiter, headers, header_line, rows)


_LOOKS_LIKE_DATA = re.compile(r"@|^\+?[\d\s().-]{7,}$")


def _check_header(name: str, headers: tuple[str, ...], line: int) -> None:
    named = [h for h in headers if h]
    if not named:
        raise ImportFileError(f"{name} has no header: line {line} should name the columns "
                              "(for example Name, Email, Mobile).")
    data_like = [h for h in named if _LOOKS_LIKE_DATA.search(h)]
    if data_like:
        raise ImportFileError(
            f"{name} has no header: line {line} should name the columns (for example Name, "
            f"Email, Mobile) but holds data such as “{data_like[0]}”. Add a first line with "
            "the column names.")


def read_csv_preview(path: Path) -> CsvPreview:
    """Encoding, delimiter, headers and the first rows of a CSV, for the mapping dialog."""
    table = _read_table(path)
    width = len(table.headers)
    rows = tuple(cells + ("",) * (width - len(cells))
                 for _, cells in table.rows[:PREVIEW_ROWS])
    return CsvPreview(path=Path(path), encoding=table.encoding, delimiter=table.delimiter,
                      headers=table.headers, rows=rows, total_rows=len(table.rows))


# ---------------------------------------------------------------- mapping

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "displayname", "contactname", "stakeholder",
             "stakeholdername", "fn", "naam", "nom", "nombre"),
    "role": ("role", "jobtitle", "title", "position", "function", "job", "funktion"),
    "category": ("category", "categories", "stakeholdercategory", "kategorie", "audience"),
    "information_need": ("informationneed", "infoneed", "informationneeds"),
    "timing_need": ("timingneed", "timing"),
    "detail_level": ("detaillevel", "detail", "levelofdetail"),
    "max_silence_minutes": ("maxsilenceminutes", "maxsilence", "maxsilencemin",
                            "silenceminutes", "maximumsilence", "maximumsilenceminutes"),
    "notes": ("notes", "note", "comments", "comment", "remarks"),
    "active": ("active", "isactive", "enabled"),
    "preferred_channel": ("preferredchannel", "channel", "preferredcontact",
                          "preferredcontactmethod"),
    "email": ("email", "emailaddress", "mail", "email1", "email1value", "emailaddress1",
              "primaryemail", "workemail", "businessemail", "emailadresse"),
    "sms": ("sms", "mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "cellular",
            "cellnumber", "mobiletelephone", "handy"),
    "phone": ("phone", "telephone", "phonenumber", "tel", "businessphone", "workphone",
              "officephone", "primaryphone", "phone1value", "homephone", "landline",
              "telefon"),
    "slack": ("slack", "slackwebhook", "slackurl", "slackwebhookurl"),
    "teams": ("teams", "teamswebhook", "msteams", "microsoftteams", "teamsurl",
              "teamswebhookurl"),
    "webhook": ("webhook", "webhookurl"),
}
# Second pass, for headers the synonyms miss ("Primary E-mail", "Mobile number (work)").
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("email",)),
    ("sms", ("mobile", "cell")),
    ("phone", ("phone", "telephone")),
)


def _norm_header(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def guess_mapping(headers: Sequence[str]) -> dict[str, int]:
    """field key → column index, from the header names (exact names and common synonyms from
    Outlook, Google and Excel exports). Each column is used at most once."""
    normed = [_norm_header(h) for h in headers]
    mapping: dict[str, int] = {}
    used: set[int] = set()
    for field_key, synonyms in _SYNONYMS.items():
        for synonym in synonyms:  # in order of preference: "Job Title" before "Title"
            index = next((i for i, n in enumerate(normed) if n == synonym and i not in used),
                         None)
            if index is not None:
                mapping[field_key] = index
                used.add(index)
                break
    for field_key, words in _KEYWORDS:
        if field_key in mapping:
            continue
        for i, n in enumerate(normed):
            if i in used or "type" in n or "label" in n:
                continue
            if any(w in n for w in words) and not (field_key == "phone" and (
                    "mobile" in n or "cell" in n or "fax" in n)):
                mapping[field_key] = i
                used.add(i)
                break
    return {k: mapping[k] for k in IMPORT_FIELDS if k in mapping}


# ---------------------------------------------------------------- plans

@dataclass(frozen=True)
class RowProblem:
    row: int  # line number in the file (header = line 1), or the card number for vCards
    field: str  # the CSV column header / the vCard property
    message: str


@dataclass(frozen=True)
class Duplicate:
    row: int
    data: StakeholderData  # validated and normalised
    existing_id: int | None  # None: duplicates an earlier row of the same file
    existing_name: str
    matched_on: str  # "email a@example.com" / "phone +12065550101"
    earlier_row: int | None = None  # the row of the file it merges into (existing_id None)


@dataclass(frozen=True)
class ImportPlan:
    client_id: int
    new: tuple[tuple[int, StakeholderData], ...]  # (row, validated data)
    duplicates: tuple[Duplicate, ...]
    problems: tuple[RowProblem, ...]
    source_rows: int
    encoding: str = "utf-8"


@dataclass(frozen=True)
class ImportResult:
    created_ids: tuple[int, ...]
    merged_ids: tuple[int, ...]
    skipped_rows: tuple[int, ...]
    problems: tuple[RowProblem, ...]


def _keys(data: StakeholderData) -> list[tuple[str, str]]:
    """Identity keys of a stakeholder: its email addresses and phone numbers (SMS or voice)."""
    keys = []
    for cp in data.contacts:
        if cp.channel == Channel.EMAIL.value:
            keys.append(("email", cp.address.casefold()))
        elif cp.channel in (Channel.SMS.value, Channel.PHONE.value):
            keys.append(("phone", cp.address))
    return keys


class _Planner:
    """Validates rows and sorts them into new / duplicate / problem."""

    def __init__(self, client_id: int, region: str, existing: Sequence[StakeholderDTO]):
        from app.stakeholders import validate_stakeholder

        self._validate = validate_stakeholder
        self.client_id = client_id
        self.region = region
        # key → ("existing", id, name) or ("row", row, name)
        self.index: dict[tuple[str, str], tuple[str, int, str]] = {}
        for s in existing:
            if s.client_id != client_id:
                continue
            for key in _keys(s):
                self.index.setdefault(key, ("existing", s.id, s.name))
        self.new: list[tuple[int, StakeholderData]] = []
        self.duplicates: list[Duplicate] = []
        self.problems: list[RowProblem] = []

    def add(self, row: int, data: StakeholderData, field_of: Callable[[str], str],
            raw_address: Callable[[int], str], problems: Sequence[RowProblem] = ()) -> None:
        """Validate one row; `problems` found by the caller also keep it out of the plan."""
        try:
            clean = self._validate(data, self.region)
        except ValidationError as exc:
            found = list(problems)
            for key, message in exc.errors.items():
                if key.startswith("contacts."):
                    raw = raw_address(int(key.split(".")[1]))
                    if raw and raw not in message:
                        message = f"“{raw}”: {message}"
                found.append(RowProblem(row, field_of(key), message))
            self.problems.extend(found)
            return
        if problems:
            self.problems.extend(problems)
            return
        keys = _keys(clean)
        hits = [(key, self.index[key]) for key in keys if key in self.index]
        target: tuple[str, int, str] | None = None
        matched = ""
        if hits:
            on_existing = [(k, t) for k, t in hits if t[0] == "existing"]
            key, target = on_existing[0] if on_existing else min(hits, key=lambda h: h[1][1])
            matched = f"{key[0]} {key[1] if key[0] == 'phone' else _address_of(clean, key)}"
        if target is None:
            self.new.append((row, clean))
            target = ("row", row, clean.name)
        elif target[0] == "existing":
            self.duplicates.append(Duplicate(row, clean, target[1], target[2], matched))
        else:
            self.duplicates.append(Duplicate(row, clean, None, target[2], matched,
                                             earlier_row=target[1]))
        for key in keys:
            self.index.setdefault(key, target)

    def plan(self, source_rows: int, encoding: str) -> ImportPlan:
        return ImportPlan(client_id=self.client_id, new=tuple(self.new),
                          duplicates=tuple(self.duplicates),
                          problems=tuple(sorted(self.problems, key=lambda p: p.row)),
                          source_rows=source_rows, encoding=encoding)


def _address_of(data: StakeholderData, key: tuple[str, str]) -> str:
    return next((cp.address for cp in data.contacts
                 if cp.channel == Channel.EMAIL.value and cp.address.casefold() == key[1]),
                key[1])


_FORMULA_ESCAPED = re.compile(r"\A'(?=[=+\-@\t\r])")


def _cell(cells: tuple[str, ...], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return _FORMULA_ESCAPED.sub("", cells[index]).strip()


_URL_SPLIT = re.compile(r"[;,\s]+(?=https?://)|\s+", re.IGNORECASE)
_ADDRESS_SPLIT = re.compile(r"[;,]")
_TRUE = {"yes", "y", "true", "t", "1", "active", "on", "x", "ja", "oui", "si", "sí"}
_FALSE = {"no", "n", "false", "f", "0", "inactive", "off", "nein", "non"}


def _split_addresses(field_key: str, cell: str) -> list[str]:
    splitter = _ADDRESS_SPLIT if field_key in ("email", "sms", "phone") else _URL_SPLIT
    return [a.strip().strip(";,") for a in splitter.split(cell) if a.strip().strip(";,")]


def _int_or_raw(cell: str) -> int | str | None:
    if not cell:
        return None
    try:
        return int(cell)
    except ValueError:
        try:
            value = float(cell.replace(",", "."))
        except ValueError:
            return cell  # the validator says what is wrong with it
        return int(value) if value.is_integer() else cell


def plan_csv_import(path: Path, mapping: dict[str, int], client_id: int, region: str,
                    existing: Sequence[StakeholderDTO],
                    default_category: str = "affected_users") -> ImportPlan:
    """Read and validate every row of a CSV with `mapping` (field key → column index; "name"
    is required). Empty cells mean the category's default (category: `default_category`)."""
    path = Path(path)
    table = _read_table(path)
    headers = table.headers
    unknown = sorted(set(mapping) - set(IMPORT_FIELDS))
    if unknown:
        raise ImportFileError(f"Unknown import field(s): {', '.join(unknown)}.")
    bad = sorted(k for k, i in mapping.items() if not 0 <= i < len(headers))
    if bad:
        raise ImportFileError(f"{path.name} has {len(headers)} columns; the column chosen for "
                              f"{', '.join(IMPORT_FIELDS[k] for k in bad)} does not exist.")
    if "name" not in mapping:
        raise ImportFileError("Choose the column that holds the stakeholders' names.")

    def header(field_key: str) -> str:
        if field_key not in mapping:
            return IMPORT_FIELDS.get(field_key, field_key)
        index = mapping[field_key]
        return headers[index] or f"column {index + 1}"

    # contacts in column order (an export's order: email, sms, phone, slack, teams, webhook)
    contact_columns = sorted(((mapping[k], k) for k in CONTACT_FIELDS if k in mapping))
    planner = _Planner(client_id, region, existing)
    for row, cells in table.rows:
        get = lambda k: _cell(cells, mapping.get(k))  # noqa: E731
        contacts: list[ContactPointData] = []
        sources: list[tuple[str, str]] = []  # (field key, raw address) per contact
        for _, field_key in contact_columns:
            for address in _split_addresses(field_key, get(field_key)):
                contacts.append(ContactPointData(channel=field_key, address=address,
                                                 priority=len(contacts) + 1))
                sources.append((field_key, address))
        active_text = get("active").casefold()
        own_problems = []
        if active_text and active_text not in _TRUE | _FALSE:
            own_problems.append(RowProblem(
                row, header("active"), f"“{get('active')}” is neither yes nor no."))
        data = StakeholderData(
            client_id=client_id, name=get("name"),
            category=get("category") or default_category, role=get("role"),
            information_need=get("information_need") or None,
            timing_need=get("timing_need") or None, detail_level=get("detail_level") or None,
            max_silence_minutes=_int_or_raw(get("max_silence_minutes")),  # type: ignore[arg-type]
            notes=get("notes"), active=active_text not in _FALSE,
            preferred_channel=get("preferred_channel") or None, contacts=tuple(contacts))

        def field_of(key: str, sources=sources) -> str:
            if key.startswith("contacts."):
                return header(sources[int(key.split(".")[1])][0])
            return header(key) if key in IMPORT_FIELDS else key

        planner.add(row, data, field_of,
                    lambda i, sources=sources: sources[i][1] if i < len(sources) else "",
                    own_problems)
    return planner.plan(len(table.rows), table.encoding)


# ---------------------------------------------------------------- vCard plans

def _category_for(card: VCard, default_category: str) -> str:
    for value in card.categories:
        text = value.strip().casefold()
        for member in Category:
            if text in (member.value, member.label.casefold(), member.value.replace("_", " "),
                        member.label.casefold().replace(" ", "")):
                return member.value
    return default_category


def card_to_data(card: VCard, client_id: int, region: str,
                 default_category: str = "affected_users"
                 ) -> tuple[StakeholderData, list[tuple[str, str]]]:
    """A card as stakeholder data (not yet validated) and, per contact point, the vCard
    property and raw value it came from. Cell numbers become SMS contact points, other numbers
    phone ones (faxes are left out); preferred first, else file order; emails before phones."""
    from app.stakeholders import normalise_address

    entries: list[tuple[bool, str, str, str]] = []  # (preferred, channel, address, property)
    entries += [(pref, Channel.EMAIL.value, address, "EMAIL") for address, pref in card.emails]
    entries += [(pref, Channel.SMS.value if kind == "cell" else Channel.PHONE.value, number,
                 "TEL") for number, kind, pref in card.phones if kind != "fax"]
    entries.sort(key=lambda e: not e[0])
    contacts: list[ContactPointData] = []
    sources: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for _, channel, address, prop in entries:
        try:  # exports often repeat a number (TYPE=CELL and TYPE=VOICE,PREF): keep the first
            key = (channel, normalise_address(channel, address, region).casefold())
        except ValidationError:
            key = (channel, address)
        if key in seen:
            continue
        seen.add(key)
        contacts.append(ContactPointData(channel=channel, address=address,
                                         priority=len(contacts) + 1))
        sources.append((prop, address))
    role = ", ".join(p for p in (card.title, card.org) if p)
    data = StakeholderData(client_id=client_id, name=card.fn,
                           category=_category_for(card, default_category), role=role,
                           notes=card.note, contacts=tuple(contacts))
    return data, sources


_VCARD_FIELDS = {"name": "FN", "role": "TITLE", "category": "CATEGORIES", "notes": "NOTE"}


def plan_vcard_import(path: Path, client_id: int, region: str,
                      existing: Sequence[StakeholderDTO],
                      default_category: str = "affected_users") -> ImportPlan:
    """Read and validate every card of a .vcf file (row = card number)."""
    from app.vcard import parse_vcards

    path = Path(path)
    text, encoding = read_text_file(path)
    try:
        cards = parse_vcards(text)
    except ImportFileError as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    planner = _Planner(client_id, region, existing)
    for card in cards:
        data, sources = card_to_data(card, client_id, region, default_category)

        def field_of(key: str, sources=sources) -> str:
            if key.startswith("contacts."):
                return sources[int(key.split(".")[1])][0]
            return _VCARD_FIELDS.get(key, key)

        planner.add(card.number, data, field_of,
                    lambda i, sources=sources: sources[i][1] if i < len(sources) else "")
    return planner.plan(len(cards), encoding)


# ---------------------------------------------------------------- merging and applying

def merge_into(existing: StakeholderData, incoming: StakeholderData) -> StakeholderData:
    """Pure: `existing`'s data plus the contact points of `incoming` it lacks (appended, with
    priorities after the existing ones); an empty role or notes is filled from `incoming`."""
    base = existing.data() if isinstance(existing, StakeholderDTO) else existing
    have = {(cp.channel, cp.address.casefold()) for cp in base.contacts}
    next_priority = max((cp.priority for cp in base.contacts), default=0)
    added: list[ContactPointData] = []
    for cp in sorted(incoming.contacts, key=lambda c: c.priority):
        key = (cp.channel, cp.address.casefold())
        if key in have:
            continue
        have.add(key)
        next_priority += 1
        added.append(replace(cp, priority=next_priority))
    return replace(base, contacts=tuple(base.contacts) + tuple(added),
                   role=base.role or incoming.role, notes=base.notes or incoming.notes)


def apply_import(service: StakeholderService, plan: ImportPlan, merge_duplicates: bool,
                 existing: Sequence[StakeholderDTO]) -> ImportResult:
    """Store a plan in ONE transaction (service.apply_batch): all or nothing. Duplicates of a
    stored stakeholder are merged into it (merge_into) when `merge_duplicates`, else skipped;
    duplicates of an earlier row are merged into that row's stakeholder, else skipped.
    Merges start from the stakeholder as stored now (service.get), so edits made since the
    plan are kept; NotFound if it was deleted meanwhile. Raises what apply_batch raises
    (nothing is then written); ValidationError keys become "row <n>: <field>"."""
    from app.errors import NotFound

    by_id = {s.id: s for s in existing}
    creates: list[StakeholderData] = []
    create_rows: list[int] = []
    slot_of_row: dict[int, int] = {}
    for row, data in plan.new:
        slot_of_row[row] = len(creates)
        creates.append(data)
        create_rows.append(row)
    updates: dict[int, StakeholderData] = {}
    update_rows: dict[int, int] = {}
    skipped: list[int] = []
    fresh: dict[int, StakeholderDTO] = {}
    for dup in sorted(plan.duplicates, key=lambda d: d.row):
        if not merge_duplicates:
            skipped.append(dup.row)
            continue
        if dup.existing_id is not None:
            if dup.existing_id not in fresh:
                # Merge into the stakeholder as it is now, not as it was when the plan was
                # made (edited meanwhile); refuse if it was deleted meanwhile.
                try:
                    fresh[dup.existing_id] = service.get(dup.existing_id)
                except NotFound:
                    name = by_id[dup.existing_id].name if dup.existing_id in by_id \
                        else dup.existing_name
                    raise NotFound(
                        f"Row {dup.row} duplicates {name}, who has been deleted meanwhile. "
                        "Nothing was imported; start the import again.") from None
            base = updates.get(dup.existing_id) or fresh[dup.existing_id]
            updates[dup.existing_id] = merge_into(base, dup.data)
            update_rows.setdefault(dup.existing_id, dup.row)
        elif dup.earlier_row in slot_of_row:
            slot = slot_of_row[dup.earlier_row]
            creates[slot] = merge_into(creates[slot], dup.data)
        else:  # a plan built by hand without earlier_row: nothing to merge into
            slot_of_row[dup.row] = len(creates)
            creates.append(dup.data)
            create_rows.append(dup.row)
    if not creates and not updates:
        return ImportResult((), (), tuple(skipped), plan.problems)
    update_list = list(updates.items())
    try:
        created, updated = service.apply_batch(creates, update_list)
    except ValidationError as exc:
        rows = create_rows + [update_rows[i] for i, _ in update_list]
        errors = {}
        for key, message in exc.errors.items():
            position, _, field_name = key.partition(".")
            row = rows[int(position)] if position.isdigit() and int(position) < len(rows) \
                else None
            errors[f"row {row}: {field_name}" if row is not None else key] = message
        raise ValidationError(errors) from None
    return ImportResult(tuple(created), tuple(updated), tuple(skipped), plan.problems)


# ---------------------------------------------------------------- export

_HARMLESS_NUMBER = re.compile(r"[+-][\d\s().;+-]*")


def _safe_cell(value: str) -> str:
    """A leading apostrophe on what a spreadsheet would run as a formula (CSV injection)."""
    if value and (value[0] in "=@\t\r" or (
            value[0] in "+-" and not _HARMLESS_NUMBER.fullmatch(value))):
        return "'" + value
    return value


def export_row(s: StakeholderDTO) -> list[str]:
    by_channel: dict[str, list[str]] = {c: [] for c in CONTACT_FIELDS}
    for cp in sorted(s.contacts, key=lambda c: c.priority):
        by_channel.setdefault(cp.channel, []).append(cp.address)
    values = {
        "name": s.name, "role": s.role, "organisation": s.client_name,
        "category": s.category, "information_need": s.information_need or "",
        "timing_need": s.timing_need or "", "detail_level": s.detail_level or "",
        "max_silence_minutes": "" if s.max_silence_minutes is None
        else str(s.max_silence_minutes),
        "active": "yes" if s.active else "no", "notes": s.notes or "",
        "preferred_channel": s.preferred_channel or "",
        **{c: "; ".join(by_channel[c]) for c in CONTACT_FIELDS},
    }
    return [_safe_cell(values[c]) for c in EXPORT_COLUMNS]


def export_csv(stakeholders: Sequence[StakeholderDTO], path: Path) -> int:
    """Write the stakeholders to `path` (UTF-8 with BOM, comma-separated, EXPORT_COLUMNS) via
    a temporary file in the same folder and os.replace: never a half-written file. Returns the
    number of rows written."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
    except OSError as exc:
        raise ClarionError(f"Cannot write in {path.parent}: {exc.strerror or exc}.") from None
    try:
        os.chmod(tmp_name, mode)  # mkstemp makes 0600; an export is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            for s in stakeholders:
                writer.writerow(export_row(s))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ClarionError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        raise
    return count
