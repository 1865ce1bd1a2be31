"""Planning an import: every CSV row (with each column's use, app/stakeholders/importing/
columns.py) or vCard validated like the stakeholder form validates, into an ImportPlan.

The rows that fail are listed with their line and column (RowProblem); duplicates — same email
or phone number as a stakeholder of the same client, or as an earlier row of the file — are set
aside (Duplicate, with what a merge would change) for app/stakeholders/importing/apply.py to
merge or skip. Nothing is written here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.domain.enums import Category, Channel, lenient_match
from app.errors import ValidationError
from app.stakeholders.importing.columns import (
    CONTACT_FIELDS, IMPORT_FIELDS, NAME_PARTS, ColumnUse, columns_from_fields, name_of,
    name_recipe, row_label,
)
from app.stakeholders.importing.merge import merge_effect, merge_into
from app.stakeholders.importing.read import (
    ImportFileError,
    read_csv_table,
    read_text_file,
)

if TYPE_CHECKING:  # pragma: no cover
    from app.stakeholders.importing.vcard import VCard

__all__ = [
    "IMPORT_FIELDS", "CONTACT_FIELDS", "RowProblem", "Duplicate", "ImportPlan",
    "plan_csv_import", "card_to_data", "plan_vcard_import",
]


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
    effect: str = ""  # what a merge changes: "adds 2 contact points; name becomes …"


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
    """Identity keys of a stakeholder: its email addresses and phone numbers (SMS or voice);
    for one with neither, its name (a person imported unreachable is met again by name)."""
    keys = []
    for cp in data.contacts:
        if cp.channel == Channel.EMAIL.value:
            keys.append(("email", cp.address.casefold()))
        elif cp.channel in (Channel.SMS.value, Channel.PHONE.value):
            keys.append(("phone", cp.address))
    if not keys:
        keys.append(("name", " ".join(data.name.casefold().split())))
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
        # what each merge target will hold after the merges planned so far
        self.merged: dict[tuple[str, int], StakeholderData] = {}
        for s in existing:
            if s.client_id != client_id:
                continue
            self.merged[("existing", s.id)] = s.data()
            for key in _keys(s):
                self.index.setdefault(key, ("existing", s.id, s.name))
        self.new: list[tuple[int, StakeholderData]] = []
        self.duplicates: list[Duplicate] = []
        self.problems: list[RowProblem] = []
        self.warnings: list[RowProblem] = []

    def add(self, row: int, data: StakeholderData, field_of: Callable[[str], str],
            raw_address: Callable[[int], str], problems: Sequence[RowProblem] = (),
            notices: Sequence[RowProblem] = ()) -> None:
        """Validate one row; `problems` found by the caller also keep it out of the plan, and
        its `notices` (what the caller left out) become warnings when it is imported. A row
        whose only faults are some of its contact points is imported with the others, and a
        warning for each point left out; one with no contact point at all, with a warning."""
        def said(key: str, message: str) -> str:
            if key.startswith("contacts."):
                raw = raw_address(int(key.split(".")[1]))
                if raw and raw not in message:
                    return f"“{raw}”: {message}"
            return message

        warnings: list[RowProblem] = list(notices)
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
                    warnings += [RowProblem(row, field_of(k), f"{_LEFT_OUT}{said(k, m)}")
                                 for k, m in exc.errors.items()]
            if clean is None:
                self.problems.extend(_unique(list(problems) + [
                    RowProblem(row, field_of(k), said(k, m)) for k, m in exc.errors.items()]))
                return
        if self.skip_unreachable and not clean.contacts:   # refused: nothing "is imported"
            warnings = [replace(w, message=w.message.removeprefix(_LEFT_OUT)) for w in warnings]
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
        self.warnings.extend(_unique(warnings))
        keys = _keys(clean)
        hits = [(key, self.index[key]) for key in keys if key in self.index]
        target: tuple[str, int, str] | None = None
        matched = ""
        if hits:
            on_existing = [(k, t) for k, t in hits if t[0] == "existing"]
            key, target = on_existing[0] if on_existing else min(hits, key=lambda h: h[1][1])
            matched = f"name {clean.name}" if key[0] == "name" else \
                f"{key[0]} {key[1] if key[0] == 'phone' else _address_of(clean, key)}"
        if target is None:
            self.new.append((row, clean))
            target = ("row", row, clean.name)
            self.merged[("row", row)] = clean
        else:
            before = self.merged[(target[0], target[1])]
            self.merged[(target[0], target[1])] = merge_into(before, clean)
            effect = merge_effect(before, clean)
            if target[0] == "existing":
                self.duplicates.append(Duplicate(row, clean, target[1], target[2], matched,
                                                 effect=effect))
            else:
                self.duplicates.append(Duplicate(row, clean, None, target[2], matched,
                                                 earlier_row=target[1], effect=effect))
        for key in keys:
            self.index.setdefault(key, target)

    def plan(self, source_rows: int, encoding: str) -> ImportPlan:
        return ImportPlan(client_id=self.client_id, new=tuple(self.new),
                          duplicates=tuple(self.duplicates),
                          problems=tuple(sorted(self.problems, key=lambda p: p.row)),
                          source_rows=source_rows, encoding=encoding,
                          warnings=tuple(sorted(self.warnings, key=lambda p: p.row)))


_LEFT_OUT = "Left out (the rest of the row is imported): "


def _unique(problems: Sequence[RowProblem]) -> list[RowProblem]:
    """Without repeats: a mobile number's SMS and phone points fail for the same reason."""
    return list(dict.fromkeys(problems))


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
_ADDRESS_SPLIT = re.compile(r":::|[;,]")   # Google joins several values with " ::: "
_GROUP_SPLIT = re.compile(r":::|[;,]")
_CRLF = re.compile(r"\r\n?")
_TRUE = {"yes", "y", "true", "t", "1", "active", "on", "x", "ja", "oui", "si", "sí"}
_FALSE = {"no", "n", "false", "f", "0", "inactive", "off", "nein", "non"}
# a phone column's per-row label (Google's "Phone 1 - Label") that changes what it is
_MOBILE_LABEL = re.compile(r"(?i)\b(mobile|cell|cellular|handy|iphone)\b")
_UNCALLABLE_LABEL = re.compile(r"(?i)\b(fax|pager|telex)\b")
_CHANNEL_ORDER = {"email": 0, "sms": 1, "phone": 2}
# a contact field → the channels of its contact points (a mobile number: SMS, then phone)
_CHANNELS_OF = {"email": ("email",), "mobile": ("sms", "phone"), "sms": ("sms",),
                "phone": ("phone",), "slack": ("slack",), "teams": ("teams",),
                "webhook": ("webhook",)}


def _split_addresses(field_key: str, cell: str) -> list[str]:
    splitter = _ADDRESS_SPLIT if field_key in ("email", "mobile", "sms", "phone") \
        else _URL_SPLIT
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


def _dedupe(contacts: Sequence[tuple[ContactPointData, str, str]], region: str
            ) -> tuple[list[ContactPointData], list[tuple[str, str]], list[tuple[str, str]]]:
    """Contact points in order without repeats (an export often gives one number as
    "Primary Phone" and "Business Phone"), renumbered; per point its (source, raw); and the
    (source, raw) of each repeat found in the same source as the point it repeats (a cell
    with one address twice: worth saying)."""
    from app.stakeholders.service import normalise_address

    kept: list[ContactPointData] = []
    sources: list[tuple[str, str]] = []
    repeats: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for cp, source, raw in contacts:
        try:
            key = (cp.channel, normalise_address(cp.channel, cp.address, region).casefold())
        except ValidationError:
            key = (cp.channel, cp.address.strip().casefold())
        if key in seen:
            if seen[key] == source and (source, raw) not in repeats:
                repeats.append((source, raw))
            continue
        seen[key] = source
        kept.append(replace(cp, priority=len(kept) + 1))
        sources.append((source, raw))
    return kept, sources, repeats


def _normalise_uses(columns: Mapping[int, ColumnUse] | Mapping[str, int],
                    headers: Sequence[str], name: str) -> dict[int, ColumnUse]:
    if columns and all(isinstance(k, str) for k in columns):
        fields: Mapping[str, int] = columns  # type: ignore[assignment]
        unknown = sorted(set(fields) - set(IMPORT_FIELDS))
        if unknown:
            raise ImportFileError(f"Unknown import field(s): {', '.join(unknown)}.")
        bad = sorted(k for k, i in fields.items() if not 0 <= i < len(headers))
        if bad:
            raise ImportFileError(
                f"{name} has {len(headers)} columns; the column chosen for "
                f"{', '.join(IMPORT_FIELDS[k] for k in bad)} does not exist.")
        return columns_from_fields(fields, headers)
    uses: dict[int, ColumnUse] = dict(columns)  # type: ignore[arg-type]
    unknown = sorted({u.field for u in uses.values() if u.field is not None}
                     - set(IMPORT_FIELDS))
    if unknown:
        raise ImportFileError(f"Unknown import field(s): {', '.join(unknown)}.")
    outside = sorted(i for i in uses if not 0 <= i < len(headers))
    if outside:
        raise ImportFileError(f"{name} has {len(headers)} columns; column {outside[0] + 1} "
                              "does not exist.")
    return uses


def plan_csv_import(path: Path, columns: Mapping[int, ColumnUse] | Mapping[str, int],
                    client_id: int, region: str, existing: Sequence[StakeholderDTO],
                    default_category: str = "affected_users",
                    skip_unreachable: bool = False) -> ImportPlan:
    """Read and validate every row of a CSV. `columns`: each column's use
    (columns.guess_columns, changed by the person), or a plain field key → column index.
    The name is the "name" column, else its parts combined (prefix first middle last
    suffix); one of them is required. Every email and phone column gives contact points,
    labelled; a mobile number gives an SMS and a phone one. Empty cells mean the category's
    default (category: a "category" column, else the first group that names one, else
    `default_category`). `skip_unreachable`: a row with no valid contact point is refused
    instead of warned."""
    from app.domain.enums import Category

    path = Path(path)
    table = read_csv_table(path)
    headers = table.headers
    uses = _normalise_uses(columns, headers, path.name)
    by_field: dict[str, list[int]] = {}
    for i in sorted(uses):
        if uses[i].field is not None:
            by_field.setdefault(uses[i].field, []).append(i)  # type: ignore[arg-type]
    if "name" not in by_field and not any(p in by_field for p in NAME_PARTS):
        raise ImportFileError("Choose the column that holds the stakeholders' names (or "
                              "their first and last names).")
    name_header = name_recipe(headers, uses)

    def title(i: int) -> str:
        return headers[i] or f"column {i + 1}"

    def header(field_key: str) -> str:
        if field_key == "name":
            return name_header
        found = by_field.get(field_key)
        return title(found[0]) if found else IMPORT_FIELDS.get(field_key, field_key)

    contact_columns = [i for i in sorted(uses) if uses[i].field in CONTACT_FIELDS]
    planner = _Planner(client_id, region, existing, skip_unreachable)
    for row, cells in table.rows:
        def get(field_key: str, cells=cells) -> str:
            found = by_field.get(field_key)
            return _cell(cells, found[0]) if found else ""

        def every(field_key: str, cells=cells) -> list[str]:
            return [c for c in (_cell(cells, i) for i in by_field.get(field_key, ())) if c]

        found_contacts: list[tuple[ContactPointData, str, str]] = []
        notices: list[RowProblem] = []
        for i in contact_columns:
            use = uses[i]
            field_key = use.field or ""
            label = row_label(_cell(cells, use.label_column)) if use.label_column is not None \
                else ""
            if field_key in ("phone", "mobile") and label:
                if _UNCALLABLE_LABEL.search(label):
                    for address in _split_addresses(field_key, _cell(cells, i)):
                        notices.append(RowProblem(row, title(i), (
                            f"“{address}” left out: labelled “{label}”, a number Clarion "
                            "cannot call or text.")))
                    continue
                if _MOBILE_LABEL.search(label):
                    field_key = "mobile"
            label = (label or use.label)[:40]
            for address in _split_addresses(field_key, _cell(cells, i)):
                for channel in _CHANNELS_OF[field_key]:
                    found_contacts.append((ContactPointData(channel=channel, address=address,
                                                            label=label), title(i), address))
        # emails first, then SMS, then phones, then webhooks; each in column order
        found_contacts.sort(key=lambda f: _CHANNEL_ORDER.get(f[0].channel, 3))
        contacts, sources, repeats = _dedupe(found_contacts, region)
        notices += [RowProblem(row, source, f"“{raw}” is written twice; kept once.")
                    for source, raw in repeats]
        active_text = get("active").casefold()
        own_problems = []
        if active_text and active_text not in _TRUE | _FALSE:
            own_problems.append(RowProblem(
                row, header("active"), f"“{get('active')}” is neither yes nor no."))
        name = name_of([_cell(cells, i) for i in range(len(cells))], uses)
        category = get("category")
        if not category:
            category = next((m.value for g in every("groups") for part in _GROUP_SPLIT.split(g)
                             if (m := lenient_match(Category, part)) is not None),
                            default_category)
        notes = "\n".join([_CRLF.sub("\n", n) for n in every("notes")]   # Outlook's are CRLF
                          + [f"Company: {c}" for c in every("organisation")]
                          + [f"Department: {d}" for d in every("department")])
        data = StakeholderData(
            client_id=client_id, name=name, category=category, role=get("role"),
            information_need=get("information_need") or None,
            timing_need=get("timing_need") or None, detail_level=get("detail_level") or None,
            max_silence_minutes=_int_or_raw(get("max_silence_minutes")),  # type: ignore[arg-type]
            notes=notes, active=active_text not in _FALSE,
            preferred_channel=get("preferred_channel") or None, contacts=tuple(contacts))

        def field_of(key: str, sources=sources) -> str:
            if key.startswith("contacts."):
                return sources[int(key.split(".")[1])][0]
            return header(key) if key in IMPORT_FIELDS else key

        planner.add(row, data, field_of,
                    lambda i, sources=sources: sources[i][1] if i < len(sources) else "",
                    own_problems, notices)
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
    property and raw value it came from. A cell number gives an SMS and a phone contact point,
    other numbers a phone one (faxes and pagers are left out); each keeps its label ("Work",
    "Home mobile"); preferred first, else file order; emails before phones. TITLE is the
    role; the company and department (ORG) go to the notes."""
    entries: list[tuple[bool, str, str, str, str]] = []  # (preferred, channel, address,
    #                                                        property, label)
    entries += [(pref, Channel.EMAIL.value, address, "EMAIL", label)
                for address, pref, label in card.emails]
    for number, kind, pref, label in card.phones:
        if kind in ("fax", "pager"):
            continue
        channels = _CHANNELS_OF["mobile" if kind == "cell" else "phone"]
        entries += [(pref, channel, number, "TEL", label) for channel in channels]
    entries.sort(key=lambda e: not e[0])
    contacts, sources, _ = _dedupe(   # exports repeat numbers (TYPE=CELL and TYPE=VOICE)
        [(ContactPointData(channel=channel, address=address, label=label), prop, address)
         for _, channel, address, prop, label in entries], region)
    company, *units = card.org_parts or ("",)
    notes = "\n".join([card.note] * bool(card.note) + [f"Company: {company}"] * bool(company)
                      + [f"Department: {u}" for u in units if u])
    data = StakeholderData(client_id=client_id, name=card.fn,
                           category=_category_for(card, default_category), role=card.title,
                           notes=notes, contacts=tuple(contacts))
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
    text, encoding = read_text_file(path, folded_lines=True)
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

        left_out = [RowProblem(card.number, "TEL", f"TEL “{number}” left out: "
                               + ("Clarion does not send faxes." if kind == "fax"
                                  else "Clarion cannot page."))
                    for number, kind, _, _ in card.phones if kind in ("fax", "pager")]
        planner.add(card.number, data, field_of,
                    lambda i, sources=sources: sources[i][1] if i < len(sources) else "",
                    notices=left_out)
    return planner.plan(len(cards), encoding)
