"""Contact import against files written the way real exporters write them (issue 19): the files
in tests/data/contacts/ — a Google Contacts CSV (BOM, CRLF, numbered label/value columns, " ::: "
values, a multi-line note), an Outlook desktop CSV (every field quoted, Windows-1252, CRLF in a
note), a European Excel "CSV (semicolon)" in Windows-1252, Android's vCard 2.1 (every byte
quoted-printable, soft breaks inside characters), Outlook's vCard 2.1, macOS Contacts' 3.0
(item1.X-ABLabel) and Thunderbird's 4.0 (folded at 75 octets) — planned and applied into a real
migrated store, each person checked whole: name, every contact point with its label (a mobile
number: an SMS and a phone one), role, notes, category, and every refusal and warning."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from app.stakeholders.importing.apply import apply_import
from app.stakeholders.importing.columns import guess_columns
from app.stakeholders.importing.plan import RowProblem, plan_csv_import, plan_vcard_import
from app.stakeholders.importing.read import read_csv_table
from app.stakeholders.service import StakeholderService

DATA = Path(__file__).resolve().parents[1] / "data" / "contacts"
NO_NAME = "Enter the stakeholder's name."
UNREACHABLE = ("No way to reach this person: no valid email address or phone number (shown as "
               "unreachable).")
SKIPPED = "No way to reach this person: no valid email address or phone number (skipped, as asked)."
LEFT_OUT = "Left out (the rest of the row is imported): "
NO_AT = "Not a valid email address: An email address must have an @-sign."


@pytest.fixture
def service(store, frozen_clock) -> StakeholderService:
    return StakeholderService(store, frozen_clock)


def plan_csv(name: str, client_id: int, region: str = "US", existing=(), **kw):
    path = DATA / name
    uses = guess_columns(read_csv_table(path).headers)
    return plan_csv_import(path, uses, client_id, region, list(existing), **kw)


def stored(service, client_id, plan) -> dict:
    """Apply the plan (one transaction) and read the stakeholders back, by name."""
    result = apply_import(service, plan, merge_duplicates=True, existing=[])
    assert len(result.created_ids) == len(plan.new) and result.merged_ids == ()
    people = {s.name: s for s in service.list(client_id)}
    assert len(people) == len(plan.new)   # nobody lost, nobody twice
    return people


def points(person) -> list[tuple[str, str, str]]:
    """(channel, address, label) in priority order; the priorities are 1, 2, 3, …"""
    assert [c.priority for c in person.contacts] == list(range(1, len(person.contacts) + 1))
    return [(c.channel, c.address, c.label) for c in person.contacts]


def mobile(number: str, label: str = "Mobile") -> list[tuple[str, str, str]]:
    return [("sms", number, label), ("phone", number, label)]


def reasons(headers, uses) -> dict[str, str]:
    return {headers[i]: u.reason for i, u in uses.items() if u.field is None}


def as_written(text: str, delimiter: str, quoting: int) -> str:
    """The text csv writes for the records of `text`: equal to `text` when it is quoted,
    delimited and line-ended like that (CRLF)."""
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="\r\n").writerows(records)
    return out.getvalue()


# ---------------------------------------------------------------- Google Contacts CSV

def test_google_contacts_csv(service, client_id):
    raw = (DATA / "google_contacts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfFirst Name,Middle Name,Last Name,Phonetic First Name,")
    text = raw[3:].decode("utf-8")
    assert as_written(text, ",", csv.QUOTE_MINIMAL) == text   # CRLF; quoted only as needed
    assert "data centre.\nPrefers SMS" in text and " ::: " in text

    table = read_csv_table(DATA / "google_contacts.csv")
    headers, uses = table.headers, guess_columns(table.headers)
    assert (table.encoding, table.delimiter, len(headers)) == ("utf-8", ",", 40)
    assert headers[0] == "First Name"   # the BOM is not part of the first header
    fields = {headers[i]: u.field for i, u in uses.items() if u.field}
    assert fields == {
        "First Name": "first_name", "Middle Name": "middle_name", "Last Name": "last_name",
        "Name Prefix": "name_prefix", "Name Suffix": "name_suffix",
        "Organization Name": "organisation", "Organization Title": "role",
        "Organization Department": "department", "Notes": "notes", "Labels": "groups",
        "E-mail 1 - Label": "label", "E-mail 1 - Value": "email",
        "E-mail 2 - Label": "label", "E-mail 2 - Value": "email",
        "Phone 1 - Label": "label", "Phone 1 - Value": "phone",
        "Phone 2 - Label": "label", "Phone 2 - Value": "phone",
        "Phone 3 - Label": "label", "Phone 3 - Value": "phone"}
    assert uses[headers.index("Phone 2 - Value")].label_column == headers.index("Phone 2 - Label")
    assert uses[headers.index("E-mail 1 - Label")].reason == "the label of “E-mail 1 - Value”"
    ignored = reasons(headers, uses)
    assert set(ignored) == set(headers) - set(fields)   # every other column, with its reason
    assert ignored["Phonetic Last Name"] == "how the name is pronounced, not the name"
    assert ignored["Address 1 - Formatted"] == "a postal address: not used for notifications"
    assert ignored["Relation 1 - Value"] == "about another person (manager, assistant, family)"
    assert ignored["Nickname"] == ignored["File As"] == ignored["Birthday"] == \
        ignored["Photo"] == ignored["Website 1 - Value"] == "Clarion has no field for it"

    plan = plan_csv("google_contacts.csv", client_id)
    assert (plan.source_rows, plan.encoding, plan.duplicates) == (8, "utf-8", ())
    # rows are the lines where the records start: Zoë's note and address span lines 2-5
    assert [row for row, _ in plan.new] == [2, 6, 7, 8, 9, 10, 12]
    assert plan.problems == (RowProblem(
        11, "Name Prefix + First Name + Middle Name + Last Name + Name Suffix", NO_NAME),)
    assert plan.warnings == (
        RowProblem(2, "Phone 3 - Value", "“+47 22 33 44 56” left out: labelled “Work Fax”, a "
                                         "number Clarion cannot call or text."),
        RowProblem(6, "Phone 3 - Value", "“+48 22 123 45 99” left out: labelled “Pager”, a "
                                         "number Clarion cannot call or text."),
        RowProblem(9, "E-mail 1 - Value",
                   f"{LEFT_OUT}“juergen.mueller(at)rheinwerk.example”: {NO_AT}"),
        RowProblem(9, "Contact points", UNREACHABLE),
        # a +CC number is judged in its own country, and the message names it
        RowProblem(10, "Phone 1 - Value",
                   f"{LEFT_OUT}+44 20 7946 01 is not a valid phone number for +44 (GB)."),
        RowProblem(12, "Phone 1 - Value", "“+33 1 42 68 53 09” left out: labelled “Work Fax”, "
                                          "a number Clarion cannot call or text."),
        RowProblem(12, "Contact points", UNREACHABLE))

    people = stored(service, client_id, plan)
    assert set(people) == {"Dr. Zoë Łukasiewicz-Øberg", "Paweł Jan Wróbel", "王伟中",
                           "Siobhán O'Neill-Hughes PhD", "Jürgen Müller-Lüdenscheidt",
                           "Ana García-Márquez", "Renée Lefèvre"}
    zoe = people["Dr. Zoë Łukasiewicz-Øberg"]
    # "* Work" is the starred (primary) label; the mobile one gives an SMS and a phone point
    assert points(zoe) == [("email", "zoe.oberg@nordlys.example", "Work"),
                           ("email", "zoe@oberg.example", "Home"),
                           *mobile("+4741234567"), ("phone", "+12065550142", "Work")]
    assert (zoe.category, zoe.role) == ("executives", "Chief Information Security Officer")
    assert zoe.notes == ("Escalation contact for the Oslo data centre.\nPrefers SMS between "
                         "22:00 and 07:00.\nCompany: Nordlys Energi AS\n"
                         "Department: Group Security")
    pawel = people["Paweł Jan Wróbel"]
    # two mobile numbers in one cell, joined with " ::: ": both textable
    assert points(pawel) == [("email", "pawel.wrobel@wisla-dc.example", "Work"),
                             ("sms", "+48601234567", "Mobile"), ("sms", "+48512345678", "Mobile"),
                             ("phone", "+48601234567", "Mobile"),
                             ("phone", "+48512345678", "Mobile"),
                             ("phone", "+48221234567", "Work")]
    assert (pawel.category, pawel.role, pawel.notes) == (
        "it_staff_msp", "Site Reliability Lead",
        "Company: Wisła Data Center sp. z o.o.\nDepartment: Operations")
    wang = people["王伟中"]   # Last Name 王 + First Name 伟中: family name first, no space
    assert points(wang) == [("email", "wang.weizhong@zhonglian.example", "Work"),
                            ("sms", "+8613800138000", "Mobile"), ("phone", "+862162798899", "Work"),
                            ("phone", "+8613800138000", "Mobile")]
    assert (wang.category, wang.role, wang.notes) == ("customers", "运维总监",
                                                      "Company: 中联数据\nDepartment: 基础设施部")
    siobhan = people["Siobhán O'Neill-Hughes PhD"]   # a UK mobile in a US client: kept, E.164
    assert points(siobhan) == [("email", "s.oneill-hughes@harbour.example", "Work"),
                               *mobile("+447911123456")]
    assert (siobhan.category, siobhan.role) == ("compliance_legal", "Data Protection Officer")
    juergen = people["Jürgen Müller-Lüdenscheidt"]   # only a bad email: in, but unreachable
    assert (points(juergen), juergen.category, juergen.notes) == (
        [], "affected_users", "Company: Rheinwerk Logistik GmbH")
    ana = people["Ana García-Márquez"]   # the invalid +44 number left out, the valid one kept
    assert points(ana) == [("email", "ana.garcia@harbour.example", "Work"),
                           ("phone", "+442079460958", "Home")]
    assert (ana.category, ana.notes) == (
        "business_unit", "Company: Harbour Insurance Ltd\nDepartment: Claims, Western Europe")
    renee = people["Renée Lefèvre"]   # a fax only
    assert (points(renee), renee.category) == ([], "affected_users")


def test_google_contacts_csv_people_with_no_way_to_reach_them_can_be_refused(client_id):
    plan = plan_csv("google_contacts.csv", client_id, skip_unreachable=True)
    assert [row for row, _ in plan.new] == [2, 6, 7, 8, 10]
    assert [(p.row, p.field, p.message) for p in plan.problems] == [
        (9, "E-mail 1 - Value", f"“juergen.mueller(at)rheinwerk.example”: {NO_AT}"),
        (9, "Contact points", SKIPPED),
        (11, "Name Prefix + First Name + Middle Name + Last Name + Name Suffix", NO_NAME),
        (12, "Phone 1 - Value", ("“+33 1 42 68 53 09” left out: labelled “Work Fax”, a "
                                 "number Clarion cannot call or text.")),
        (12, "Contact points", SKIPPED)]
    assert [(p.row, p.field) for p in plan.warnings] == [
        (2, "Phone 3 - Value"), (6, "Phone 3 - Value"), (10, "Phone 1 - Value")]


def test_reimporting_people_imported_by_first_name_gives_them_their_full_names(service,
                                                                               client_id):
    """An earlier import that took only "First Name" as the name: the full file, imported
    again and merged, updates those people (matched by email) instead of adding them twice."""
    path = DATA / "google_contacts.csv"
    headers = read_csv_table(path).headers
    first = plan_csv_import(path, {"name": headers.index("First Name"),
                                   "email": headers.index("E-mail 1 - Value")},
                            client_id, "US", [], skip_unreachable=True)
    assert [d.name for _, d in first.new] == ["Zoë", "Paweł", "伟中", "Siobhán", "Ana"]
    ids = dict(zip((d.name for _, d in first.new),
                   apply_import(service, first, True, []).created_ids))

    existing = service.list(client_id)
    again = plan_csv_import(path, guess_columns(headers), client_id, "US", existing)
    assert [(d.row, d.existing_id, d.matched_on) for d in again.duplicates] == [
        (2, ids["Zoë"], "email zoe.oberg@nordlys.example"),
        (6, ids["Paweł"], "email pawel.wrobel@wisla-dc.example"),
        (7, ids["伟中"], "email wang.weizhong@zhonglian.example"),
        (8, ids["Siobhán"], "email s.oneill-hughes@harbour.example"),
        (10, ids["Ana"], "email ana.garcia@harbour.example")]
    assert again.duplicates[0].effect == ("adds 4 contact points; name becomes Dr. Zoë "
                                          "Łukasiewicz-Øberg; fills the role; fills the notes")
    assert again.duplicates[2].effect.startswith("adds 3 contact points; name becomes 王伟中;")
    assert [row for row, _ in again.new] == [9, 12]   # not imported before: unreachable then

    result = apply_import(service, again, merge_duplicates=True, existing=existing)
    assert sorted(result.merged_ids) == sorted(ids.values()) and len(result.created_ids) == 2
    people = {s.id: s for s in service.list(client_id)}
    assert len(people) == 7
    assert {i: people[i].name for i in ids.values()} == {
        ids["Zoë"]: "Dr. Zoë Łukasiewicz-Øberg", ids["Paweł"]: "Paweł Jan Wróbel",
        ids["伟中"]: "王伟中", ids["Siobhán"]: "Siobhán O'Neill-Hughes PhD",
        ids["Ana"]: "Ana García-Márquez"}
    zoe = people[ids["Zoë"]]
    # the point stored first stays first (with the label it had); the new ones follow
    assert points(zoe) == [("email", "zoe.oberg@nordlys.example", "Email 1"),
                           ("email", "zoe@oberg.example", "Home"), *mobile("+4741234567"),
                           ("phone", "+12065550142", "Work")]
    assert zoe.role == "Chief Information Security Officer"   # empty role and notes filled
    assert zoe.notes.endswith("Company: Nordlys Energi AS\nDepartment: Group Security")
    assert zoe.category == "affected_users"   # what was stored is kept


def test_reimporting_without_merging_leaves_the_first_names(service, client_id):
    path = DATA / "google_contacts.csv"
    headers = read_csv_table(path).headers
    first = plan_csv_import(path, {"name": headers.index("First Name"),
                                   "email": headers.index("E-mail 1 - Value")},
                            client_id, "US", [], skip_unreachable=True)
    apply_import(service, first, True, [])
    existing = service.list(client_id)
    again = plan_csv_import(path, guess_columns(headers), client_id, "US", existing,
                            skip_unreachable=True)
    result = apply_import(service, again, merge_duplicates=False, existing=existing)
    assert result.skipped_rows == (2, 6, 7, 8, 10) and result.created_ids == ()
    assert sorted(s.name for s in service.list(client_id)) == sorted(
        ["Zoë", "Paweł", "伟中", "Siobhán", "Ana"])


# ---------------------------------------------------------------- Outlook desktop CSV

def test_outlook_csv(service, client_id):
    raw = (DATA / "outlook_contacts.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")   # Outlook writes the Windows code page
    text = raw.decode("cp1252")
    assert as_written(text, ",", csv.QUOTE_ALL) == text   # every field quoted, CRLF
    assert "GDPR contact for the bank.\r\nReachable" in text   # a CRLF inside a note

    table = read_csv_table(DATA / "outlook_contacts.csv")
    headers, uses = table.headers, guess_columns(table.headers)
    assert (table.encoding, table.delimiter, len(headers)) == ("cp1252", ",", 92)
    fields = {headers[i]: (u.field, u.label) for i, u in uses.items() if u.field}
    assert fields == {
        "Title": ("name_prefix", ""), "First Name": ("first_name", ""),
        "Middle Name": ("middle_name", ""), "Last Name": ("last_name", ""),
        "Suffix": ("name_suffix", ""), "Company": ("organisation", ""),
        "Department": ("department", ""), "Job Title": ("role", ""),
        "Business Phone": ("phone", "Business"), "Business Phone 2": ("phone", "Business 2"),
        "Callback": ("phone", "Callback"), "Car Phone": ("phone", "Car"),
        "Home Phone": ("phone", "Home"),
        "Home Phone 2": ("phone", "Home 2"), "Mobile Phone": ("mobile", "Mobile"),
        "Other Phone": ("phone", "Other"), "Primary Phone": ("phone", "Primary"),
        "Categories": ("groups", ""), "E-mail Address": ("email", ""),
        "E-mail 2 Address": ("email", "Email 2"), "E-mail 3 Address": ("email", "Email 3"),
        "Notes": ("notes", "")}
    ignored = reasons(headers, uses)
    assert len(ignored) == 92 - len(fields)
    for fax in ("Business Fax", "Home Fax", "Other Fax"):
        assert ignored[fax] == "a fax number: Clarion does not send faxes"
    assert ignored["Pager"] == "a pager number: Clarion cannot page"
    for header in ("Radio Phone", "TTY/TDD Phone", "Telex"):
        assert ignored[header] == "not a number Clarion can call or text"
    for header in ("Assistant's Phone", "Assistant's Name", "Manager's Name", "Spouse",
                   "Children", "Referred By"):
        assert ignored[header] == "about another person (manager, assistant, family)"
    for header in ("Government ID Number", "Organizational ID Number"):
        assert ignored[header] == "an identification number, not a phone number"
    assert ignored["E-mail Type"] == ignored["E-mail 2 Display Name"] == \
        "describes an address, is not one"
    assert ignored["Business Street"] == ignored["Home Postal Code"] == \
        "a postal address: not used for notifications"
    assert ignored["Birthday"] == ignored["Gender"] == ignored["Sensitivity"] == \
        "Clarion has no field for it"

    plan = plan_csv("outlook_contacts.csv", client_id)
    assert (plan.source_rows, plan.encoding, plan.duplicates) == (6, "cp1252", ())
    assert [row for row, _ in plan.new] == [2, 4, 5, 6, 7]
    assert plan.problems == (
        RowProblem(8, "Title + First Name + Middle Name + Last Name + Suffix", NO_NAME),)
    x500 = ("/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/"
            "cn=5b2c0e8a41f34d7c-soren.oste")
    assert plan.warnings == (
        RowProblem(4, "E-mail Address", f"{LEFT_OUT}“{x500}”: {NO_AT}"),
        RowProblem(6, "Contact points", UNREACHABLE),
        RowProblem(7, "Business Phone",
                   f"{LEFT_OUT}+44 161 496 000 is not a valid phone number for +44 (GB)."))

    people = stored(service, client_id, plan)
    amelie = people["Ms. Amélie Dupré-Laurent"]   # Outlook's "Title" is the name prefix
    # "Primary Phone" repeats "Business Phone": kept once; the fax is not a contact point
    assert points(amelie) == [("email", "amelie.dupre-laurent@lumiere.example", ""),
                              ("email", "amelie.dl@example.fr", "Email 2"),
                              ("sms", "+33612345678", "Mobile"),
                              ("phone", "+33142685300", "Business"),
                              ("phone", "+33612345678", "Mobile")]
    assert (amelie.category, amelie.role) == ("compliance_legal", "Directrice de la conformité")
    assert amelie.notes == ("GDPR contact for the bank.\nReachable 08:00–19:00 CET.\n"
                            "Company: Banque Lumière\nDepartment: Conformité")
    soren = people["Søren Østergaard"]   # the Exchange (X.500) address left out, SMTP kept
    assert points(soren) == [("email", "soren.ostergaard@nordiskvind.example", "Email 2"),
                             ("sms", "+4520123456", "Mobile"),
                             ("phone", "+4533123456", "Business"),
                             ("phone", "+4520123457", "Car"), ("phone", "+4520123456", "Mobile")]
    assert (soren.category, soren.role, soren.notes) == (
        "it_staff_msp", "IT Operations Manager", "Company: Nordisk Vind A/S\nDepartment: IT-drift")
    lukas = people["Dr. Lukas Günther Brückner MBA"]
    # a national number read in the client's region; the assistant's and the pager left out
    assert points(lukas) == [("email", "lukas.brueckner@alpenrhein.example", ""),
                             ("email", "l.brueckner@example.ch", "Email 3"),
                             ("sms", "+41791234567", "Mobile"),
                             ("phone", "+13125550175", "Business"),
                             ("phone", "+41446681800", "Business 2"),
                             ("phone", "+41791234567", "Mobile")]
    assert (lukas.category, lukas.role, lukas.notes) == (
        "executives", "Chief Executive Officer", "Company: Alpenrhein Versicherung AG")
    marie = people["Marie-Hélène Côté"]   # faxes only
    assert (points(marie), marie.notes) == ([], "Company: Québec Hydro-Services")
    sian = people["Siân Ørum-Jones"]
    assert points(sian) == [("email", "sian.orum-jones@harbour.example", ""),
                            *mobile("+447911123457")]
    assert (sian.category, sian.role) == ("business_unit", "Claims Handler")


# ---------------------------------------------------------------- Excel "CSV (semicolon)"

def test_european_excel_semicolon_csv_in_windows_1252(service, client_id):
    raw = (DATA / "excel_semicolon_cp1252.csv").read_bytes()
    assert raw.startswith(b"Nachname;Vorname;")   # no BOM
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    assert as_written(text, ";", csv.QUOTE_MINIMAL) == text
    assert '"Rufbereitschaft Mo–Fr; nachts nur SMS"' in text   # a ";" in a cell: quoted

    table = read_csv_table(DATA / "excel_semicolon_cp1252.csv")
    headers, uses = table.headers, guess_columns(table.headers)
    assert (table.encoding, table.delimiter) == ("cp1252", ";")
    assert {headers[i]: (u.field, u.label) for i, u in uses.items()} == {
        "Nachname": ("last_name", ""), "Vorname": ("first_name", ""), "Funktion": ("role", ""),
        "Firma": ("organisation", ""), "Abteilung": ("department", ""),
        "E-Mail": ("email", ""), "Mobil": ("mobile", "Mobil"),
        "Telefon geschäftlich": ("phone", "Geschäftlich"), "Fax": (None, ""),
        "Kategorie": ("category", ""), "Notizen": ("notes", "")}
    assert uses[headers.index("Fax")].reason == "a fax number: Clarion does not send faxes"

    plan = plan_csv("excel_semicolon_cp1252.csv", client_id, region="DE")
    assert (plan.source_rows, plan.encoding) == (7, "cp1252")
    assert [row for row, _ in plan.new] == [2, 3, 4, 5, 6, 8]
    assert plan.problems == (RowProblem(7, "Vorname + Nachname", NO_NAME),)
    assert plan.warnings == (
        RowProblem(5, "E-Mail", f"{LEFT_OUT}“hannelore.weiss.rheinwerk.example”: {NO_AT}"),
        RowProblem(5, "Contact points", UNREACHABLE),
        RowProblem(6, "Contact points", UNREACHABLE))

    people = stored(service, client_id, plan)
    juergen = people["Jürgen Müller-Lüdenscheidt"]   # national numbers read in Germany
    assert points(juergen) == [("email", "juergen.mueller@rheinwerk.example", ""),
                               *mobile("+4915123456789", "Mobil"),
                               ("phone", "+4930901820", "Geschäftlich")]
    assert (juergen.category, juergen.role) == ("it_staff_msp", "Leiter IT-Betrieb")
    assert juergen.notes == ("Rufbereitschaft Mo–Fr; nachts nur SMS\n"
                             "Company: Rheinwerk Logistik GmbH\nDepartment: IT-Betrieb")
    soren = people["Søren Østergaard"]
    assert points(soren) == [("email", "soren.ostergaard@nordiskvind.example", ""),
                             *mobile("+4520123456", "Mobil"),
                             ("phone", "+4533123456", "Geschäftlich")]
    amelie = people["Amélie Dupré-Laurent"]
    assert points(amelie) == [("email", "amelie.dupre-laurent@lumiere.example", ""),
                              *mobile("+33612345678", "Mobil"),
                              ("phone", "+33142685300", "Geschäftlich")]
    assert (amelie.category, amelie.notes) == (
        "compliance_legal",
        'Sagt "bitte auf Französisch"\nCompany: Banque Lumière\nDepartment: Conformité')
    hannelore = people["Hannelore Weiß"]
    assert (points(hannelore), hannelore.category, hannelore.role) == (
        [], "media", "Pressesprecherin")
    doerte = people["Dörte Schäfer"]   # a fax only
    assert (points(doerte), doerte.category) == ([], "affected_users")
    lukas = people["Lukas Brückner"]
    assert points(lukas) == [("email", "lukas.brueckner@alpenrhein.example", ""),
                             *mobile("+41791234567", "Mobil"),
                             ("phone", "+41446681800", "Geschäftlich")]
    assert (lukas.category, lukas.role) == ("management", "Vorstand")


# ---------------------------------------------------------------- vCards

def crlf_only(raw: bytes) -> bool:
    return raw.count(b"\n") == raw.count(b"\r\n") > 0


def test_android_vcard_2_1_quoted_printable(service, client_id):
    raw = (DATA / "android_2_1.vcf").read_bytes()
    assert crlf_only(raw)
    assert b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=57=72=C3=B3=62=65=6C;" in raw
    # Android's soft line breaks fall anywhere, inside a character too ("–" = E2 80 93)
    assert b"=E2=\r\n=80=93" in raw
    assert b"=73=\r\n\r\nTEL;CELL:+44" in raw   # a soft break ending a value

    plan = plan_vcard_import(DATA / "android_2_1.vcf", client_id, "US", [])
    assert (plan.source_rows, plan.encoding) == (4, "utf-8")
    assert [row for row, _ in plan.new] == [1, 2, 4]
    assert plan.problems == (RowProblem(3, "FN", NO_NAME),)   # N: and FN: empty
    assert plan.warnings == (
        RowProblem(1, "TEL", "TEL “+48 22 123 45 99” left out: Clarion does not send faxes."),
        RowProblem(4, "TEL",
                   f"{LEFT_OUT}+44 20 7946 01 is not a valid phone number for +44 (GB)."))

    people = stored(service, client_id, plan)
    pawel = people["Paweł Jan Wróbel"]
    # TEL;CELL;PREF first; Android's own label (TEL;X-OnCall) is the label
    assert points(pawel) == [*mobile("+48601234567"),
                             ("email", "pawel.wrobel@wisla-dc.example", "Work"),
                             ("email", "pawel.wrobel@example.pl", "Home"),
                             ("phone", "+48221234567", "Work"), ("phone", "+48512345678", "OnCall")]
    assert (pawel.role, pawel.category) == ("Site Reliability Lead", "affected_users")
    # ORG "company;department" quoted-printable as a whole (the ";" is =3B)
    assert pawel.notes == ("Dyżur w tygodniach 12–13.\nPo 22:00 tylko SMS.\n"
                           "Company: Wisła Data Center sp. z o.o.\nDepartment: Operations")
    juergen = people["Jürgen Müller-Lüdenscheidt"]
    assert points(juergen) == [("email", "juergen.mueller@rheinwerk.example", "Work"),
                               *mobile("+491712345678", "Work mobile"),
                               ("phone", "+4930901820", "Work")]
    assert juergen.notes == ("Rufbereitschaft für Störungen in Düsseldorf und Köln; nachts nur "
                             "über die Hotline.\nCompany: Rheinwerk Logistik GmbH\n"
                             "Department: IT-Betrieb")
    siobhan = people["Siobhán O'Neill-Hughes"]
    assert points(siobhan) == [("email", "s.oneill-hughes@harbour.example", "Work"),
                               *mobile("+447911123456")]


def test_outlook_vcard_2_1(service, client_id):
    raw = (DATA / "outlook_2_1.vcf").read_bytes()
    assert crlf_only(raw) and b"FN;CHARSET=utf-8:Dr. Ingrid \xc3\x98deg\xc3\xa5rd-M" in raw
    plan = plan_vcard_import(DATA / "outlook_2_1.vcf", client_id, "US", [])
    assert (plan.source_rows, plan.problems) == (1, ())
    assert plan.warnings == (
        RowProblem(1, "TEL", "TEL “+47 22 33 44 56” left out: Clarion does not send faxes."),
        RowProblem(1, "TEL", "TEL “+47 22 33 44 99” left out: Clarion cannot page."))
    ingrid = stored(service, client_id, plan)["Dr. Ingrid Ødegård-Müller"]
    # EMAIL;PREF first, then the file's order; the postal LABEL (quoted-printable) is no TEL
    assert points(ingrid) == [("email", "ingrid.odegard-muller@fjordkraft.example", ""),
                              ("email", "beredskap@fjordkraft.example", ""),
                              ("phone", "+4722334455", "Work"), ("phone", "+4722123456", "Home"),
                              *mobile("+4741234567")]
    assert (ingrid.role, ingrid.category) == ("Beredskapsleder", "affected_users")
    assert ingrid.notes == ("Beredskapsvakt uke 10–12.\nRing først mobil, deretter "
                            "sentralbord.\nCompany: Fjordkraft Nettverk AS\n"
                            "Department: Sikkerhet og beredskap")


def test_apple_vcard_3_0_with_item_labels(service, client_id):
    raw = (DATA / "apple_3_0.vcf").read_bytes()
    assert crlf_only(raw) and b"item2.X-ABLabel:_$!<Other>!$_" in raw
    plan = plan_vcard_import(DATA / "apple_3_0.vcf", client_id, "US", [])
    assert (plan.source_rows, plan.problems) == (4, ())
    assert [row for row, _ in plan.new] == [1, 2, 3, 4]
    assert plan.warnings == (
        RowProblem(1, "TEL", "TEL “+33 1 42 68 53 09” left out: Clarion does not send faxes."),
        RowProblem(4, "TEL", "TEL “+1 514 555 0188” left out: Clarion does not send faxes."),
        RowProblem(4, "TEL", "TEL “+1 514 555 0189” left out: Clarion does not send faxes."),
        RowProblem(4, "Contact points", UNREACHABLE))

    people = stored(service, client_id, plan)
    amelie = people["Mme Amélie Dupré-Laurent"]
    # type=pref first (an email, the iPhone number); then the file's order, X-ABLabels kept
    assert points(amelie) == [("email", "amelie.dupre-laurent@lumiere.example", "Work"),
                              *mobile("+33612345678"),
                              ("email", "amelie.dl@example.fr", "Home"),
                              ("email", "astreinte.conformite@lumiere.example", "Astreinte"),
                              ("phone", "+33142685300", "Work"), ("phone", "+33142685310", "Other")]
    assert (amelie.role, amelie.notes) == (
        "Directrice de la conformité", ("Contact RGPD pour la banque.\nJoignable 8h–19h, SMS "
                                        "en dehors.\nCompany: Banque Lumière\n"
                                        "Department: Conformité"))
    soren = people["Søren Østergaard"]   # item1.TEL labelled _$!<Mobile>!$_: textable
    assert points(soren) == [("email", "soren.ostergaard@nordiskvind.example", "Work"),
                             *mobile("+4520123456"), ("phone", "+4533123456", "Home")]
    wang = people["王伟中"]
    assert points(wang) == [("email", "wang.weizhong@zhonglian.example", "Work"),
                            *mobile("+8613800138000"), ("phone", "+862162798899", "Work")]
    assert (wang.role, wang.notes) == ("运维总监", "Company: 中联数据\nDepartment: 基础设施部")
    marie = people["Marie-Hélène Côté"]
    assert (points(marie), marie.notes) == ([], "Company: Québec Hydro-Services")


def test_thunderbird_vcard_4_0_folded_as_rfc_6350_says(service, client_id):
    raw = (DATA / "thunderbird_4_0.vcf").read_bytes()
    assert crlf_only(raw)
    lines = raw.split(b"\r\n")
    # RFC 6350 3.2: at most 75 octets a line, and multi-octet characters stay whole
    assert max(len(line) for line in lines) == 75
    for line in lines:
        line.decode("utf-8")
    folds = [i for i, line in enumerate(lines) if line.startswith(b" ")]
    assert len(folds) == 3
    # one fold between two Chinese characters (3 octets each), one before a space of the text
    assert any(lines[i - 1][-1] >= 0x80 and lines[i][1] >= 0x80 for i in folds)
    assert any(line.startswith(b"  for SEV1") for line in lines)

    plan = plan_vcard_import(DATA / "thunderbird_4_0.vcf", client_id, "US", [])
    assert (plan.source_rows, plan.encoding, plan.problems) == (3, "utf-8", ())
    assert plan.warnings == (
        RowProblem(1, "TEL", "TEL “+47 22 33 44 56” left out: Clarion does not send faxes."),
        RowProblem(3, "EMAIL", f"{LEFT_OUT}“juergen.mueller(at)rheinwerk.example”: {NO_AT}"),
        RowProblem(3, "Contact points", UNREACHABLE))
    people = stored(service, client_id, plan)
    zoe = people["Dr. Zoë Łukasiewicz-Øberg"]
    assert points(zoe) == [("email", "zoe.oberg@nordlys.example", ""),
                           ("email", "zoe@oberg.example", "Home"), *mobile("+4741234567"),
                           ("phone", "+12065550142", "Work")]
    assert (zoe.category, zoe.role) == ("executives", "Chief Information Security Officer")
    assert zoe.notes == (
        "Escalation contact for the Oslo data centre. Deputy: Łucja Wiśniewska-Ødegård (local "
        "desk). Prefers SMS between 22:00 and 07:00; calls only for SEV1.\nCompany: Nordlys "
        "Energi AS\nDepartment: Group Security and Business Continuity (Øst & Sør)")
    wang = people["王伟中"]
    assert (points(wang), wang.category) == (
        [("email", "wang.weizhong@zhonglian.example", ""), *mobile("+8613800138000")],
        "customers")
    assert wang.notes == ("负责上海数据中心的事故通报。夜间请先发短信，再打电话。"
                          "如无回应，请联系值班经理或中联数据总部。"
                          "\nCompany: 中联数据\nDepartment: 基础设施部")
    juergen = people["Jürgen Müller-Lüdenscheidt"]
    assert (points(juergen), juergen.notes) == ([], "Company: Rheinwerk Logistik GmbH")


def test_a_vcard_folded_inside_a_character_is_read_whole(tmp_path, client_id):
    """RFC 6350 3.2: writers must not split a multi-octet character, readers should restore
    one that a simple writer split — not read the whole file as Windows-1252."""
    raw = (DATA / "thunderbird_4_0.vcf").read_bytes()
    lines = re.sub(rb"\r\n ", b"", raw).split(b"\r\n")
    refolded = b"\r\n".join(b"\r\n ".join([line[:75]] + [line[i:i + 74]
                                                        for i in range(75, len(line), 74)])
                            for line in lines)
    with pytest.raises(UnicodeDecodeError):
        refolded.decode("utf-8")   # a fold now splits a character
    path = tmp_path / "split.vcf"
    path.write_bytes(refolded)
    plan = plan_vcard_import(path, client_id, "US", [])
    assert plan.encoding == "utf-8"
    assert [d.name for _, d in plan.new] == ["Dr. Zoë Łukasiewicz-Øberg", "王伟中",
                                             "Jürgen Müller-Lüdenscheidt"]
    assert plan.new[1][1].notes.startswith("负责上海数据中心的事故通报。夜间请先发短信，再打电话。")
