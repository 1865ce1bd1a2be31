"""vCard import (app/stakeholders/importing/vcard.py parsing, app/stakeholders/importing/plan.py planning): samples in the styles of
Google Contacts (3.0), Outlook (2.1-style quoted-printable, folded 3.0), Thunderbird (4.0 with
tel: URIs) and Apple (item groups), many TEL entries, escapes, BOM, several cards per file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.dto import ContactPointData, StakeholderData
from app.stakeholders.importing.apply import apply_import
from app.stakeholders.importing.plan import plan_vcard_import
from app.stakeholders.importing.read import MAX_IMPORT_BYTES, ImportFileError
from app.stakeholders.service import StakeholderService
from app.stakeholders.importing.vcard import VCard, parse_vcards, read_vcard_file


@pytest.fixture
def service(store, frozen_clock) -> StakeholderService:
    return StakeholderService(store, frozen_clock)


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def write(tmp_path: Path, text: str, name: str = "contacts.vcf", encoding: str = "utf-8",
          bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


def contacts(data) -> list[tuple[str, str, int]]:
    return [(c.channel, c.address, c.priority) for c in data.contacts]


GOOGLE = """BEGIN:VCARD
VERSION:3.0
FN:Ann Lee
N:Lee;Ann;;;
EMAIL;TYPE=INTERNET;TYPE=WORK:ann@example.com
EMAIL;TYPE=INTERNET;TYPE=HOME;TYPE=pref:ann.lee@example.org
TEL;TYPE=CELL:(206) 555-0101
TEL;TYPE=WORK:+1 425-555-0102
item1.TEL:206-555-0199
item1.X-ABLabel:Desk
ORG:Example Corp;Security
TITLE:Chief Technology Officer
NOTE:Line one\\nLine two\\, with a comma\\; a semicolon and a \\\\ backslash
CATEGORIES:myContacts,Executives
END:VCARD
BEGIN:VCARD
VERSION:3.0
N:Okafor;Chidi;Emeka;Dr.;PhD
TEL;TYPE=HOME,VOICE:425 555 0103
CATEGORIES:myContacts
END:VCARD
"""


def test_google_contacts_v3(tmp_path):
    cards = read_vcard_file(write(tmp_path, crlf(GOOGLE)))
    assert [c.number for c in cards] == [1, 2]
    ann, chidi = cards
    assert (ann.fn, ann.title, ann.org) == ("Ann Lee", "Chief Technology Officer",
                                            "Example Corp, Security")
    assert ann.note == "Line one\nLine two, with a comma; a semicolon and a \\ backslash"
    assert ann.emails == (("ann.lee@example.org", True, "Home"),
                          ("ann@example.com", False, "Work"))
    assert ann.phones == (("(206) 555-0101", "cell", False, "Mobile"),
                          ("+1 425-555-0102", "voice", False, "Work"),
                          ("206-555-0199", "voice", False, "Desk"))  # Apple's X-ABLabel
    assert ann.categories == ("myContacts", "Executives")
    assert chidi.fn == "Dr. Chidi Emeka Okafor PhD"  # no FN: built from N
    assert chidi.phones == (("425 555 0103", "voice", False, "Home"),)


def test_google_cards_become_stakeholders(tmp_path, service, client_id):
    path = write(tmp_path, crlf(GOOGLE))
    plan = plan_vcard_import(path, client_id, "US", [], default_category="customers")
    assert plan.problems == () and plan.source_rows == 2 and plan.encoding == "utf-8"
    (_, ann), (_, chidi) = plan.new
    assert (ann.category, chidi.category) == ("executives", "customers")
    assert ann.role == "Chief Technology Officer"   # the job; ORG goes to the notes
    assert ann.notes.endswith("\nCompany: Example Corp\nDepartment: Security")
    assert contacts(ann) == [("email", "ann.lee@example.org", 1),  # pref first
                             ("email", "ann@example.com", 2), ("sms", "+12065550101", 3),
                             ("phone", "+12065550101", 4),  # a cell number: SMS and phone
                             ("phone", "+14255550102", 5), ("phone", "+12065550199", 6)]
    assert [c.label for c in ann.contacts] == ["Home", "Work", "Mobile", "Mobile", "Work",
                                               "Desk"]
    result = apply_import(service, plan, True, [])
    stored = {s.name: s for s in service.list(client_id)}
    assert set(stored) == {"Ann Lee", "Dr. Chidi Emeka Okafor PhD"} and \
        len(result.created_ids) == 2
    assert stored["Ann Lee"].notes.startswith("Line one\nLine two, with a comma;")
    assert contacts(stored["Dr. Chidi Emeka Okafor PhD"]) == [("phone", "+14255550103", 1)]


OUTLOOK = """BEGIN:VCARD
VERSION:2.1
N;LANGUAGE=de;CHARSET=utf-8:M=C3=BCller;Jos=C3=A9
FN;CHARSET=utf-8;ENCODING=QUOTED-PRINTABLE:Jos=C3=A9 M=C3=BC=
ller
ORG;CHARSET=utf-8:Contoso Ltd.;Legal
TITLE;CHARSET=utf-8:Data Protection Officer
NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=utf-8:Erreichbar werktags=0D=0A=C3=9Cber Zentrale: =
bitte zuerst anrufen
TEL;WORK;VOICE:(206) 555-0103
TEL;HOME;VOICE:(206) 555-0104
TEL;CELL;PREF:(425) 555-0105
TEL;WORK;FAX:(206) 555-0106
EMAIL;PREF;INTERNET:jose@contoso.example
X-MS-OL-DEFAULT-POSTAL-ADDRESS:2
PHOTO;TYPE=JPEG;ENCODING=BASE64:
 /9j/4AAQSkZJRgABAQEAYABgAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0a
 HBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIy

END:VCARD
BEGIN:VCARD
VERSION:3.0
N:Stone;Bob
FN:Bob Stone
TITLE:Service desk lead for the northern region and the 24x7 on-call rota of the
  managed services team
TEL;TYPE=CELL:+1 206 555
 0107
EMAIL;TYPE=INTERNET:bob.stone@
 contoso.example
END:VCARD
"""


def test_outlook_quoted_printable_charset_and_folded_lines(tmp_path):
    jose, bob = read_vcard_file(write(tmp_path, crlf(OUTLOOK)))
    assert jose.fn == "José Müller" and jose.org == "Contoso Ltd., Legal"
    assert jose.note == "Erreichbar werktags\nÜber Zentrale: bitte zuerst anrufen"
    assert jose.emails == (("jose@contoso.example", True, ""),)
    assert jose.phones == (("(425) 555-0105", "cell", True, "Mobile"),
                           ("(206) 555-0103", "voice", False, "Work"),
                           ("(206) 555-0104", "voice", False, "Home"),
                           ("(206) 555-0106", "fax", False, "Work"))
    assert bob.title == ("Service desk lead for the northern region and the 24x7 on-call rota "
                         "of the managed services team")
    assert bob.phones == (("+1 206 5550107", "cell", False, "Mobile"),)
    assert bob.emails == (("bob.stone@contoso.example", False, ""),)


def test_outlook_cards_become_stakeholders_without_the_fax(tmp_path, client_id):
    plan = plan_vcard_import(write(tmp_path, crlf(OUTLOOK)), client_id, "US", [])
    assert plan.problems == ()
    (_, jose), (_, bob) = plan.new
    assert jose.name == "José Müller"
    assert jose.role == "Data Protection Officer"
    assert jose.notes == ("Erreichbar werktags\nÜber Zentrale: bitte zuerst anrufen\n"
                          "Company: Contoso Ltd.\nDepartment: Legal")
    assert contacts(jose) == [("email", "jose@contoso.example", 1), ("sms", "+14255550105", 2),
                              ("phone", "+14255550105", 3), ("phone", "+12065550103", 4),
                              ("phone", "+12065550104", 5)]
    assert contacts(bob) == [("email", "bob.stone@contoso.example", 1),
                             ("sms", "+12065550107", 2), ("phone", "+12065550107", 3)]
    # the fax is named, not dropped silently
    assert [(p.row, p.field) for p in plan.warnings] == [(1, "TEL")]
    assert "(206) 555-0106" in plan.warnings[0].message and "fax" in plan.warnings[0].message


THUNDERBIRD = """BEGIN:VCARD
VERSION:4.0
PRODID:-//Thunderbird//EN
N:Ndiaye;Awa;;;
FN:Awa Ndiaye
EMAIL;PREF=1:awa@example.com
EMAIL;TYPE=home:awa.home@example.net
TEL;VALUE=uri;TYPE=cell:tel:+1-206-555-0108
TEL;VALUE=uri;TYPE="work,voice";PREF=1:tel:+1-425-555-0109;ext=42
TEL;type=cell,voice:+1 (206) 555-0110
TEL;TYPE="cell":206-555-0111
TITLE:Head of Communications
CATEGORIES:Media,Press
UID:urn:uuid:5e3ba5a4-1c1a-4a1b-9a55-7a0f4c9a0e0e
END:VCARD
"""


def test_thunderbird_v4_with_tel_uris(tmp_path):
    (awa,) = read_vcard_file(write(tmp_path, THUNDERBIRD))
    assert awa.fn == "Awa Ndiaye" and awa.categories == ("Media", "Press")
    assert awa.emails == (("awa@example.com", True, ""), ("awa.home@example.net", False, "Home"))
    assert awa.phones == (("+1-425-555-0109", "voice", True, "Work"),
                          ("+1-206-555-0108", "cell", False, "Mobile"),
                          ("+1 (206) 555-0110", "cell", False, "Mobile"),
                          ("206-555-0111", "cell", False, "Mobile"))


def test_thunderbird_cards_become_stakeholders(tmp_path, client_id):
    plan = plan_vcard_import(write(tmp_path, THUNDERBIRD), client_id, "US", [])
    ((card, awa),) = plan.new
    assert card == 1 and awa.category == "media" and awa.role == "Head of Communications"
    assert contacts(awa) == [
        ("email", "awa@example.com", 1), ("phone", "+14255550109", 2),
        ("email", "awa.home@example.net", 3), ("sms", "+12065550108", 4),
        ("phone", "+12065550108", 5), ("sms", "+12065550110", 6), ("phone", "+12065550110", 7),
        ("sms", "+12065550111", 8), ("phone", "+12065550111", 9)]


MANY_TELS = """BEGIN:VCARD
VERSION:3.0
FN:Switchboard Person
TEL;TYPE=CELL:206 555 0120
TEL;TYPE=CELL:(206) 555-0120
TEL;TYPE=VOICE,PREF:206 555 0120
TEL;TYPE=WORK:206 555 0121
TEL;TYPE=WORK:206 555 0122
TEL;TYPE=HOME:206 555 0123
TEL;TYPE=IPHONE:206 555 0124
TEL;TYPE=MAIN:206 555 0125
TEL;TYPE=PAGER:206 555 0126
TEL;TYPE=FAX:206 555 0127
TEL;TYPE=TEXT:206 555 0128
TEL;TYPE=OTHER:+44 20 7946 0958
END:VCARD
"""


def test_many_tel_entries_are_all_kept_once(tmp_path, client_id):
    plan = plan_vcard_import(write(tmp_path, crlf(MANY_TELS)), client_id, "US", [])
    assert plan.problems == ()
    ((_, person),) = plan.new
    assert contacts(person) == [
        ("phone", "+12065550120", 1),  # the pref one first
        ("sms", "+12065550120", 2),    # the same number again as CELL: SMS, phone once
        ("phone", "+12065550121", 3), ("phone", "+12065550122", 4),
        ("phone", "+12065550123", 5), ("sms", "+12065550124", 6), ("phone", "+12065550124", 7),
        ("phone", "+12065550125", 8),  # no pager, no fax
        ("sms", "+12065550128", 9), ("phone", "+12065550128", 10),
        ("phone", "+442079460958", 11)]
    assert sorted(p.message.split("”")[0] for p in plan.warnings) == [
        "TEL “206 555 0126", "TEL “206 555 0127"]


BAD_CARDS = """BEGIN:VCARD
VERSION:3.0
FN:Good Person
EMAIL:good@example.com
END:VCARD
BEGIN:VCARD
VERSION:3.0
EMAIL:nameless@example.com
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Wrong Number
TEL;TYPE=CELL:555-0101
EMAIL:wrong@example.com
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Bad Mail
EMAIL:bad@@example.com
TEL:206 555 0130
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Alien
CATEGORIES:Martians
NOTE:unknown categories fall back to the default
END:VCARD
"""


def test_bad_cards_are_listed_by_card_number_and_property(tmp_path, service, client_id):
    plan = plan_vcard_import(write(tmp_path, BAD_CARDS), client_id, "US", [],
                             default_category="management")
    assert [(p.row, p.field) for p in plan.problems] == [(2, "FN")]
    assert plan.problems[0].message == "Enter the stakeholder's name."
    # issue 19: a card with one invalid point comes in with its valid ones, the other named
    assert [(p.row, p.field) for p in plan.warnings] == [
        (3, "TEL"), (4, "EMAIL"), (5, "Contact points")]
    assert "555-0101" in plan.warnings[0].message and \
        "bad@@example.com" in plan.warnings[1].message
    assert plan.warnings[2].message.startswith("No way to reach this person")
    assert [(n, d.name, d.category) for n, d in plan.new] == [
        (1, "Good Person", "management"), (3, "Wrong Number", "management"),
        (4, "Bad Mail", "management"), (5, "Alien", "management")]
    apply_import(service, plan, True, [])
    stored = {s.name: s for s in service.list(client_id)}
    assert sorted(stored) == ["Alien", "Bad Mail", "Good Person", "Wrong Number"]
    assert [c.address for c in stored["Wrong Number"].contacts] == ["wrong@example.com"]
    assert [c.channel for c in stored["Bad Mail"].contacts] == ["phone"]   # its TEL kept


def test_vcard_duplicates_merge_into_stored_stakeholders(tmp_path, service, client_id):
    ann = service.create(StakeholderData(
        client_id=client_id, name="Ann Lee", category="executives",
        contacts=(ContactPointData("email", "ann@example.com", 1),)))
    existing = service.list(client_id)
    plan = plan_vcard_import(write(tmp_path, crlf(GOOGLE)), client_id, "US", existing)
    (dup,) = plan.duplicates
    assert (dup.row, dup.existing_id, dup.matched_on) == (1, ann.id, "email ann@example.com")
    result = apply_import(service, plan, True, existing)
    assert result.merged_ids == (ann.id,) and len(result.created_ids) == 1
    merged = service.get(ann.id)
    assert merged.role == "Chief Technology Officer"
    assert contacts(merged)[:2] == [("email", "ann@example.com", 1),
                                    ("email", "ann.lee@example.org", 2)]
    assert len(merged.contacts) == 6


# ---------------------------------------------------------------- parsing details

def test_bom_lf_line_ends_and_text_around_cards(tmp_path):
    text = ("Exported by something\n" + GOOGLE.replace("VERSION:3.0", "version:3.0")
            .replace("BEGIN:VCARD", "begin:vcard", 1))
    cards = read_vcard_file(write(tmp_path, text, bom=True))
    assert [c.fn for c in cards] == ["Ann Lee", "Dr. Chidi Emeka Okafor PhD"]


def test_tab_folding_and_escapes_in_structured_values():
    (card,) = parse_vcards("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zo\r\n\të Ng\r\n"
                           "ORG:Smith\\; Sons\\, Ltd;R\\&D\r\n"
                           "CATEGORIES:IT staff / MSP,Needs\\, commas\r\n"
                           "NOTE:C:\\temp\\path\\Nnext\r\nEND:VCARD\r\n")
    assert card.fn == "Zoë Ng"
    assert card.org == "Smith; Sons, Ltd, R\\&D"
    assert card.categories == ("IT staff / MSP", "Needs, commas")
    assert card.note == "C:\\temp\\path\nnext"  # unknown escapes keep their backslash


def test_category_labels_and_values_map_to_categories(client_id, tmp_path):
    text = "".join(
        f"BEGIN:VCARD\nVERSION:3.0\nFN:P{i}\nCATEGORIES:{cats}\nEND:VCARD\n"
        for i, cats in enumerate(["IT staff / MSP", "compliance_legal", "friends,Business unit",
                                  "Regulator", "it staff msp", "Friends"]))
    plan = plan_vcard_import(write(tmp_path, text), client_id, "US", [],
                             default_category="customers")
    # leniently (issue 19): case, separators, a singular ("Regulator"); "Friends" is the
    # card's own grouping, not a category: the default
    assert [d.category for _, d in plan.new] == [
        "it_staff_msp", "compliance_legal", "business_unit", "regulators", "it_staff_msp",
        "customers"]


def test_a_card_without_end_is_still_read_and_nested_agent_is_ignored():
    cards = parse_vcards("BEGIN:VCARD\nVERSION:2.1\nFN:Boss\nAGENT:\nBEGIN:VCARD\nFN:Assistant\n"
                         "TEL:206 555 0140\nEND:VCARD\nTEL;CELL:206 555 0141\nEND:VCARD\n"
                         "BEGIN:VCARD\nFN:Cut off\nEMAIL:c@example.com\n")
    assert [(c.number, c.fn, c.phones) for c in cards] == [
        (1, "Boss", (("206 555 0141", "cell", False, "Mobile"),)),
        (2, "Cut off", ())]
    assert isinstance(cards[0], VCard)


@pytest.mark.parametrize("text", ["Name,Email\nAnn,ann@example.com\n", "hello\n",
                                  "END:VCARD\n"])
def test_text_that_is_not_a_vcard_is_refused(tmp_path, text):
    with pytest.raises(ImportFileError, match="not a vCard"):
        parse_vcards(text)
    with pytest.raises(ImportFileError, match="people.vcf.*not a vCard"):
        plan_vcard_import(write(tmp_path, text, "people.vcf"), 1, "US", [])


def test_vcard_file_encoding_and_size_limit(tmp_path, client_id):
    path = write(tmp_path, "BEGIN:VCARD\nVERSION:3.0\nFN:Renée Ørsted\nEND:VCARD\n",
                 encoding="cp1252")
    assert read_vcard_file(path)[0].fn == "Renée Ørsted"
    plan = plan_vcard_import(path, client_id, "US", [])
    assert plan.encoding == "cp1252" and plan.new[0][1].name == "Renée Ørsted"

    big = tmp_path / "big.vcf"
    with open(big, "wb") as f:
        f.truncate(MAX_IMPORT_BYTES + 1)
    with pytest.raises(ImportFileError, match=r"big\.vcf is 20\.0 MB"):
        read_vcard_file(big)
    with pytest.raises(ImportFileError, match="up to 20 MB"):
        plan_vcard_import(big, client_id, "US", [])


def test_an_apple_card_with_a_fax_label_of_its_own_leaves_the_fax_out(tmp_path, client_id):
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Léa Roux\r\n"
            "item1.TEL;type=WORK;type=VOICE:+33 1 42 68 53 00\r\n"
            "item1.X-ABLabel:Fax Paris\r\n"
            "item2.TEL;type=CELL:+33 6 12 34 56 78\r\nitem2.X-ABLabel:Astreinte\r\n"
            "END:VCARD\r\n")
    plan = plan_vcard_import(write(tmp_path, card), client_id, "FR", [])
    ((_, lea),) = plan.new
    assert [(c.channel, c.address, c.label) for c in lea.contacts] == [
        ("sms", "+33612345678", "Astreinte"), ("phone", "+33612345678", "Astreinte")]
    assert [p.message for p in plan.warnings] == [
        "TEL “+33 1 42 68 53 00” left out: Clarion does not send faxes."]
