"""Which column of a contacts CSV holds what (step two of an import): every column gets a use —
a stakeholder field, a part of the name, a contact point with its label, the label of another
column — or is ignored with the reason, so nothing is dropped without being named.

Written for the files people really have: Google Contacts (numbered "E-mail 1 - Label" /
"E-mail 1 - Value" pairs, "Organization Title", "Labels"), its older export ("Given Name",
"Group Membership", "Organization 1 - Title"), Outlook ("Title" is the name prefix when there is a
"Job Title"; Business/Home/Mobile/Other Phone; E-mail 2/3 Address; faxes, pagers, the assistant's
number), Thunderbird ("Primary Email", "Mobile Number") and hand-made sheets ("Name", "Email",
"Mobile"). Pure: no file is read here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "IMPORT_FIELDS", "CONTACT_FIELDS", "NAME_PARTS", "SINGLE_FIELDS", "EAST_ASIAN_NAME",
    "ColumnUse", "guess_columns", "columns_from_fields", "with_field", "name_recipe",
    "name_of", "row_label",
]

IMPORT_FIELDS: dict[str, str] = {
    "name": "Full name",
    "name_prefix": "Name prefix (Dr., Ms.)",
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "name_suffix": "Name suffix (Jr., PhD)",
    "role": "Role / job title",
    "category": "Category",
    "groups": "Groups / labels (the category if one matches)",
    "organisation": "Company (goes to the notes)",
    "department": "Department (goes to the notes)",
    "information_need": "Information need",
    "timing_need": "Timing need",
    "detail_level": "Detail level",
    "max_silence_minutes": "Max silence (minutes)",
    "notes": "Notes",
    "active": "Active",
    "preferred_channel": "Preferred channel",
    "email": "Email",
    "mobile": "Mobile (SMS and phone)",
    "sms": "SMS only",
    "phone": "Phone",
    "slack": "Slack webhook",
    "teams": "Teams webhook",
    "webhook": "Webhook",
    "label": "Label of the next column",
}
CONTACT_FIELDS = ("email", "mobile", "sms", "phone", "slack", "teams", "webhook")
NAME_PARTS = ("name_prefix", "first_name", "middle_name", "last_name", "name_suffix")
# one column each (a second one is ignored, with the reason); the others may repeat
SINGLE_FIELDS = frozenset(IMPORT_FIELDS) - set(CONTACT_FIELDS) - {
    "notes", "groups", "organisation", "department", "label"}


@dataclass(frozen=True)
class ColumnUse:
    """What one column is used for. `field` None: ignored, and `reason` says why."""
    field: str | None
    label: str = ""   # contact point label when the row's label column is empty ("Business")
    label_column: int | None = None   # Google: the column whose cell is each row's label
    reason: str = ""

    @property
    def imported(self) -> bool:
        return self.field is not None and self.field != "label"


def _norm(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


_FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("name", "fullname", "displayname", "contactname", "stakeholder",
             "stakeholdername", "fn", "formattedname", "naam", "nom", "nombre"),
    "name_prefix": ("nameprefix", "prefix", "salutation", "honorificprefix"),
    "first_name": ("firstname", "givenname", "forename", "first", "given", "vorname",
                   "prenom"),
    "middle_name": ("middlename", "additionalname", "middle", "middlenames"),
    "last_name": ("lastname", "familyname", "surname", "last", "family", "nachname"),
    "name_suffix": ("namesuffix", "suffix", "honorificsuffix"),
    "role": ("role", "jobtitle", "organizationtitle", "organisationtitle", "position",
             "function", "job", "funktion", "title"),
    "category": ("category", "stakeholdercategory", "kategorie", "audience"),
    "groups": ("categories", "labels", "groupmembership", "groups", "group", "tags"),
    "organisation": ("company", "organization", "organisation", "organizationname",
                     "organisationname", "companyname", "firma", "employer"),
    "department": ("department", "organizationdepartment", "organisationdepartment", "dept",
                   "abteilung"),
    "information_need": ("informationneed", "infoneed", "informationneeds"),
    "timing_need": ("timingneed", "timing"),
    "detail_level": ("detaillevel", "detail", "levelofdetail"),
    "max_silence_minutes": ("maxsilenceminutes", "maxsilence", "maxsilencemin",
                            "silenceminutes", "maximumsilence", "maximumsilenceminutes"),
    "notes": ("notes", "note", "comments", "comment", "remarks", "notizen", "bemerkungen"),
    "active": ("active", "isactive", "enabled"),
    "preferred_channel": ("preferredchannel", "channel", "preferredcontact",
                          "preferredcontactmethod"),
    "sms": ("sms", "smsnumber", "textmessage", "textnumber"),
    "slack": ("slack", "slackwebhook", "slackurl", "slackwebhookurl"),
    "teams": ("teams", "teamswebhook", "msteams", "microsoftteams", "teamsurl",
              "teamswebhookurl"),
    "webhook": ("webhook", "webhookurl"),
}
_BY_SYNONYM = {s: f for f, synonyms in _FIELD_SYNONYMS.items() for s in synonyms}
_CLARION_EXPORT = {"name", "category", "informationneed", "timingneed", "detaillevel",
                   "maxsilenceminutes"}
_JOB_TITLES = {"jobtitle", "organizationtitle", "organisationtitle", "organization1title",
               "position"}

# Google's numbered groups: "E-mail 1 - Label", "Phone 2 - Value", "Organization 1 - Title"
_NUMBERED = re.compile(r"^\s*(e-?mail|phone|organi[sz]ation)\s*(\d+)\s*-\s*(\w+)\s*$",
                       re.IGNORECASE)
_ORGANISATION_PARTS = {"name": "organisation", "title": "role", "department": "department"}

_OTHER_PEOPLE = ("manager", "assistant", "spouse", "partner", "children", "child",
                 "referredby", "relation")
_NOT_CALLABLE = ("telex", "tty", "isdn", "radio")
_PHONE_WORDS = ("phone", "telephone", "tel", "mobil", "cell", "handy", "fax", "pager",
                "callback", "telefon", "number")
_LABEL_NOISE = re.compile(r"(?i)\b(e-?mail|mail|address|phone|telephone|tel|number|value|"
                          r"nummer|telefon|adresse)\b")


def _label_from_header(header: str, kind: str) -> str:
    """The contact point label a named column gives: "Business Phone 2" → "Business 2",
    "Mobile Phone" → "Mobile", "E-mail 2 Address" → "Email 2", "E-mail Address" → ""."""
    words = " ".join(_LABEL_NOISE.sub(" ", header.replace("_", " ")).split()).strip(" -:")
    if not words:
        return ""
    if words.isdigit():
        return f"{'Email' if kind == 'email' else 'Phone'} {words}"
    return words[:1].upper() + words[1:]


def _phone_use(header: str, n: str) -> ColumnUse:
    if "fax" in n:
        return ColumnUse(None, reason="a fax number: Clarion does not send faxes")
    if "pager" in n or "beeper" in n:
        return ColumnUse(None, reason="a pager number: Clarion cannot page")
    if any(w in n for w in _NOT_CALLABLE):
        return ColumnUse(None, reason="not a number Clarion can call or text")
    if "companymain" in n or "switchboard" in n:
        return ColumnUse(None, reason="the company's switchboard: shared by everyone there, it "
                                      "would make different people one")
    if any(w in n for w in ("mobil", "cell", "handy", "iphone")):   # German: "Mobil"
        return ColumnUse("mobile", label=_label_from_header(header, "phone") or "Mobile",
                         reason="a mobile number: an SMS and a phone contact point")
    return ColumnUse("phone", label=_label_from_header(header, "phone"),
                     reason="a phone contact point")


def _guess_one(header: str, n: str, has_job_title: bool, has_name_parts: bool
               ) -> ColumnUse:
    if not n:
        return ColumnUse(None, reason="the column has no name")
    if any(n.startswith(w) or n.endswith(w + "name") or n.endswith(w + "phone")
           or n.endswith(w + "email") for w in _OTHER_PEOPLE):
        return ColumnUse(None, reason="about another person (manager, assistant, family)")
    if "yomi" in n or "phonetic" in n:
        return ColumnUse(None, reason="how the name is pronounced, not the name")
    if n == "title":
        if has_job_title or has_name_parts:   # Outlook: Title = Mr., Dr.; Job Title = the job
            return ColumnUse("name_prefix", reason="the name prefix (Outlook's “Title”)")
        return ColumnUse("role", reason="the role")
    field = _BY_SYNONYM.get(n)
    if field is not None:
        return ColumnUse(field)
    if "idnumber" in n:   # Outlook: "Government ID Number", "Organizational ID Number"
        return ColumnUse(None, reason="an identification number, not a phone number")
    if "email" in n or n in ("mail", "emailaddress"):
        if "type" in n or "displayname" in n or "label" in n:
            return ColumnUse(None, reason="describes an address, is not one")
        return ColumnUse("email", label=_label_from_header(header, "email"),
                         reason="an email contact point")
    if any(w in n for w in _PHONE_WORDS) and not any(
            w in n for w in ("type", "label", "country", "ext")):
        return _phone_use(header, n)
    if any(w in n for w in ("address", "street", "city", "postal", "zip", "postcode",
                            "country", "region", "pobox", "state")):
        return ColumnUse(None, reason="a postal address: not used for notifications")
    return ColumnUse(None, reason="Clarion has no field for it")


def guess_columns(headers: Sequence[str]) -> dict[int, ColumnUse]:
    """A use for every column (index → ColumnUse), from the header names alone. Fields in
    SINGLE_FIELDS take the first column that names them; a later one is ignored, saying so."""
    normed = [_norm(h) for h in headers]
    has_job_title = any(n in _JOB_TITLES for n in normed)
    has_name_parts = any(_BY_SYNONYM.get(n) in ("first_name", "last_name") for n in normed)
    uses: dict[int, ColumnUse] = {}
    # Google's numbered groups first: their label columns point at their value columns
    numbered: dict[tuple[str, str], dict[str, int]] = {}
    for i, header in enumerate(headers):
        match = _NUMBERED.match(header)
        if match:
            group = "email" if match.group(1).lower().startswith("e") else \
                "phone" if match.group(1).lower() == "phone" else "organisation"
            numbered.setdefault((group, match.group(2)), {})[match.group(3).lower()] = i
    for (group, number), parts in numbered.items():
        for part, i in parts.items():
            if group == "organisation":
                field = _ORGANISATION_PARTS.get(part)
                uses[i] = ColumnUse(field) if field else ColumnUse(
                    None, reason="Clarion has no field for it")
                continue
            if part == "value":
                label_column = parts.get("label", parts.get("type"))
                uses[i] = ColumnUse(group, label_column=label_column, reason=(
                    "an email contact point" if group == "email" else
                    "a phone contact point (an SMS one too when its label says mobile)"))
            elif part in ("label", "type"):
                value = parts.get("value")
                uses[i] = ColumnUse("label" if value is not None else None, reason=(
                    f"the label of “{headers[value]}”" if value is not None
                    else "a label with no value column"))
            else:
                uses[i] = ColumnUse(None, reason="Clarion has no field for it")
    for i, header in enumerate(headers):
        if i not in uses:
            uses[i] = _guess_one(header, normed[i], has_job_title, has_name_parts)
    if _CLARION_EXPORT <= set(normed):   # our own export: its "organisation" is the client
        for i, n in enumerate(normed):
            if n == "organisation":
                uses[i] = ColumnUse(None, reason="the client it was exported from: people go "
                                                 "to the client you import into")
    return _one_column_each(headers, uses)


def _one_column_each(headers: Sequence[str], uses: dict[int, ColumnUse]
                     ) -> dict[int, ColumnUse]:
    taken: dict[str, int] = {}
    out: dict[int, ColumnUse] = {}
    for i in sorted(uses):
        use = uses[i]
        if use.field in SINGLE_FIELDS:
            if use.field in taken:
                first = headers[taken[use.field]] or f"column {taken[use.field] + 1}"
                use = ColumnUse(None, reason=f"“{first}” already gives the "
                                             f"{IMPORT_FIELDS[use.field].lower()}")
            else:
                taken[use.field] = i
        out[i] = use
    return out


def columns_from_fields(mapping: Mapping[str, int], headers: Sequence[str]
                        ) -> dict[int, ColumnUse]:
    """The uses of an old-style mapping (field key → column index): those columns only, each
    contact column labelled from its header; every other column ignored."""
    uses = {i: ColumnUse(None, reason="not chosen") for i in range(len(headers))}
    for field, i in mapping.items():
        label = _label_from_header(headers[i], field) if field in (
            "email", "mobile", "phone") and 0 <= i < len(headers) else ""
        uses[i] = ColumnUse(field, label=label)
    return uses


def with_field(headers: Sequence[str], uses: Mapping[int, ColumnUse], index: int,
               field: str | None) -> dict[int, ColumnUse]:
    """The uses after the person chose `field` (None: ignore) for column `index`. A field
    that takes one column (SINGLE_FIELDS) leaves the column that had it, which is then
    ignored, saying why; a contact column keeps its label."""
    if field is not None and field not in IMPORT_FIELDS:
        raise ValueError(f"unknown import field {field!r}")
    out = dict(uses)
    title = headers[index] or f"column {index + 1}"
    if field in SINGLE_FIELDS:
        for i, use in uses.items():
            if i != index and use.field == field:
                out[i] = ColumnUse(None, reason=f"you chose “{title}” for the "
                                                 f"{IMPORT_FIELDS[field].lower()}")
    old = uses.get(index, ColumnUse(None))
    for i, use in uses.items():   # a label column no more: its value column loses it
        if use.label_column == index and field != "label":
            out[i] = ColumnUse(use.field, label=use.label, reason=use.reason)
    if field == "label":
        labelled = out.get(index + 1)
        if labelled is None or labelled.field not in ("email", "phone", "mobile", "sms"):
            out[index] = ColumnUse(None, reason="a label column gives the labels of the column "
                                                "after it, which is no email or phone column")
            return out
        out[index + 1] = ColumnUse(labelled.field, label=labelled.label, label_column=index,
                                   reason=labelled.reason)
        out[index] = ColumnUse("label", reason=f"the label of “{headers[index + 1] or ''}”")
    elif field is None:
        out[index] = ColumnUse(None, reason="ignored, as you chose")
    elif field == old.field:
        out[index] = old
    else:
        contact = field in ("email", "phone", "mobile")
        label = old.label if old.field in ("email", "phone", "mobile") else ""
        out[index] = ColumnUse(field, label=(label or _label_from_header(headers[index], field))
                               if contact else "",
                               label_column=old.label_column if contact else None,
                               reason="as you chose")
    return out


# Chinese, Japanese and Korean names are written family name first, without spaces
EAST_ASIAN_NAME = re.compile(r"[\u1100-\u11ff\u2e80-\u2fdf\u3005\u3040-\u30ff\u3131-\u318e"
                             r"\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


def name_of(cells: Sequence[str], uses: Mapping[int, ColumnUse]) -> str:
    """A row's name: the full-name column's cell, else the parts combined in order (prefix,
    first, middle, last, suffix), spaces tidied; a name in Chinese, Japanese or Korean
    characters family name first, unspaced ("王" + "伟中" → "王伟中")."""
    def cell(i: int) -> str:
        return cells[i].strip() if i < len(cells) else ""

    full = [i for i in sorted(uses) if uses[i].field == "name"]
    if full and cell(full[0]):
        return " ".join(cell(full[0]).split())
    parts = sorted((i for i, u in uses.items() if u.field in NAME_PARTS),
                   key=lambda i: (NAME_PARTS.index(uses[i].field or ""), i))
    given = {uses[i].field: cell(i) for i in parts if cell(i)}
    if given and set(given) <= {"first_name", "middle_name", "last_name"} and all(
            EAST_ASIAN_NAME.fullmatch(w) for w in given.values()):   # 王 + 伟中 → 王伟中
        return "".join(given.get(f, "") for f in ("last_name", "first_name", "middle_name"))
    return " ".join(" ".join(cell(i) for i in parts).split())


def name_recipe(headers: Sequence[str], uses: Mapping[int, ColumnUse]) -> str:
    """How names are made, in words for the dialog and the CLI: "Full name" /
    "First Name + Last Name" / "Name (else First Name + Last Name)"."""
    def title(i: int) -> str:
        return headers[i] or f"column {i + 1}"

    full = [i for i, u in uses.items() if u.field == "name"]
    parts = sorted((i for i, u in uses.items() if u.field in NAME_PARTS),
                   key=lambda i: (NAME_PARTS.index(uses[i].field or ""), i))
    combined = " + ".join(title(i) for i in parts)
    if full and parts:
        return f"{title(full[0])} (else {combined})"
    if full:
        return title(full[0])
    return combined


_PRIMARY_MARK = re.compile(r"^\s*\*\s*")


def row_label(cell: str) -> str:
    """A Google label cell as a contact point label: "* Work" (the starred, primary one) →
    "Work"; several labels joined with " ::: " → the first."""
    first = cell.split(":::", 1)[0]
    return " ".join(_PRIMARY_MARK.sub("", first).split())[:40]
