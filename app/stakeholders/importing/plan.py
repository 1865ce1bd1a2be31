"""Planning an import: which column holds which field (guess_mapping), then every CSV row or
vCard validated like the stakeholder form validates, into an ImportPlan (step two of an import).

The rows that fail are listed with their line and column (RowProblem); duplicates — same email
or phone number as a stakeholder of the same client, or as an earlier row of the file — are set
aside (Duplicate) for app/stakeholders/importing/apply.py to merge or skip. Nothing is written here."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.domain.enums import Category, Channel, lenient_match
from app.errors import ValidationError
from app.stakeholders.importing.read import (
    ImportFileError,
    read_csv_table,
    read_text_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from app.stakeholders.importing.vcard import VCard

__all__ = [
    "IMPORT_FIELDS", "CONTACT_FIELDS", "RowProblem", "Duplicate", "ImportPlan", "guess_mapping",
    "plan_csv_import", "card_to_data", "plan_vcard_import",
]

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
    # imported, but not whole: a contact point left out (invalid), or no way to reach them
    warnings: tuple[RowProblem, ...] = ()


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

    def __init__(self, client_id: int, region: str, existing: Sequence[StakeholderDTO],
                 skip_unreachable: bool = False):
        from app.stakeholders.service import validate_stakeholder

        self.skip_unreachable = skip_unreachable   # no contact point: refused, not warned

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
        self.warnings: list[RowProblem] = []

    def add(self, row: int, data: StakeholderData, field_of: Callable[[str], str],
            raw_address: Callable[[int], str], problems: Sequence[RowProblem] = ()) -> None:
        """Validate one row; `problems` found by the caller also keep it out of the plan. A row
        whose only faults are some of its contact points is imported with the others, and a
        warning for each point left out; one with no contact point at all, with a warning."""
        def said(key: str, message: str) -> str:
            if key.startswith("contacts."):
                raw = raw_address(int(key.split(".")[1]))
                if raw and raw not in message:
                    return f"“{raw}”: {message}"
            return message

        warnings: list[RowProblem] = []
        try:
            clean = self._validate(data, self.region)
        except ValidationError as exc:
            clean = None
            bad = {int(k.split(".")[1]) for k in exc.errors if k.startswith("contacts.")}
            if not problems and bad and all(k.startswith("contacts.") for k in exc.errors):
                kept = tuple(replace(cp, priority=n + 1) for n, cp in enumerate(
                    cp for i, cp in enumerate(data.contacts) if i not in bad))
                try:
                    clean = self._validate(replace(data, contacts=kept), self.region)
                except ValidationError:
                    clean = None   # still wrong without them: refused, for the first reasons
                else:
                    warnings = [RowProblem(row, field_of(k), f"Left out (the rest of the row "
                                                              f"is imported): {said(k, m)}")
                                for k, m in exc.errors.items()]
            if clean is None:
                self.problems.extend(list(problems) + [
                    RowProblem(row, field_of(k), said(k, m)) for k, m in exc.errors.items()])
                return
        if problems:
            self.problems.extend(problems)
            return
        if not clean.contacts:
            if self.skip_unreachable:
                self.problems.extend(warnings + [RowProblem(
                    row, "Contact points", "No way to reach this person: no valid email "
                    "address or phone number (skipped, as asked).")])
                return
            warnings.append(RowProblem(row, "Contact points", "No way to reach this person: no "
                                       "valid email address or phone number (shown as "
                                       "unreachable)."))
        self.warnings.extend(warnings)
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
                          source_rows=source_rows, encoding=encoding,
                          warnings=tuple(sorted(self.warnings, key=lambda p: p.row)))


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
                    default_category: str = "affected_users",
                    skip_unreachable: bool = False) -> ImportPlan:
    """Read and validate every row of a CSV with `mapping` (field key → column index; "name"
    is required). Empty cells mean the category's default (category: `default_category`).
    `skip_unreachable`: a row with no valid contact point is refused instead of warned."""
    path = Path(path)
    table = read_csv_table(path)
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
    planner = _Planner(client_id, region, existing, skip_unreachable)
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
    """The first of the card's CATEGORIES that names one of ours (leniently: "Execs",
    "IT-Staff"); a card's other categories are its own groupings."""
    for value in card.categories:
        member = lenient_match(Category, value)
        if member is not None:
            return member.value
    return default_category


def card_to_data(card: VCard, client_id: int, region: str,
                 default_category: str = "affected_users"
                 ) -> tuple[StakeholderData, list[tuple[str, str]]]:
    """A card as stakeholder data (not yet validated) and, per contact point, the vCard
    property and raw value it came from. Cell numbers become SMS contact points, other numbers
    phone ones (faxes are left out); preferred first, else file order; emails before phones."""
    from app.stakeholders.service import normalise_address

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
                      default_category: str = "affected_users",
                      skip_unreachable: bool = False) -> ImportPlan:
    """Read and validate every card of a .vcf file (row = card number); `skip_unreachable` as
    for plan_csv_import."""
    from app.stakeholders.importing.vcard import parse_vcards

    path = Path(path)
    text, encoding = read_text_file(path)
    try:
        cards = parse_vcards(text)
    except ImportFileError as exc:
        raise ImportFileError(f"{path.name}: {exc}") from None
    planner = _Planner(client_id, region, existing, skip_unreachable)
    for card in cards:
        data, sources = card_to_data(card, client_id, region, default_category)

        def field_of(key: str, sources=sources) -> str:
            if key.startswith("contacts."):
                return sources[int(key.split(".")[1])][0]
            return _VCARD_FIELDS.get(key, key)

        planner.add(card.number, data, field_of,
                    lambda i, sources=sources: sources[i][1] if i < len(sources) else "")
    return planner.plan(len(cards), encoding)
