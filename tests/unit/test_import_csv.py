"""CSV import (app/stakeholders/importing/): preview, mapping, row validation, duplicates, one transaction,
encodings, delimiters and the file-level refusals. Real files in tmp_path, a real store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import app.stakeholders.service as stakeholders_module
from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.errors import ClarionError, NotFound, ValidationError
from app.stakeholders.importing.apply import apply_import, merge_into
from app.stakeholders.importing.columns import guess_columns
from app.stakeholders.importing.plan import (
    IMPORT_FIELDS, Duplicate, plan_csv_import,
)
from app.stakeholders.importing.read import (
    MAX_IMPORT_BYTES, PREVIEW_ROWS, ImportFileError, read_csv_preview,
)
from app.stakeholders.service import StakeholderService


@pytest.fixture
def service(store, frozen_clock) -> StakeholderService:
    return StakeholderService(store, frozen_clock)


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def plan_file(path: Path, client_id: int, existing=(), **kw):
    preview = read_csv_preview(path)
    return plan_csv_import(path, guess_columns(preview.headers), client_id, "US",
                           list(existing), **kw)


def by_name(service, client_id):
    return {s.name: s for s in service.list(client_id)}


def contacts(dto) -> list[tuple[str, str, int]]:
    return [(c.channel, c.address, c.priority) for c in dto.contacts]


GOOD = (
    "Full name,E-mail Address,Mobile Phone,Business Phone,Job Title,Category,Timing need,"
    "Max silence,Notes,Active\n"
    "Ann Lee,ann@example.com,(206) 555-0101,,CTO,Executives,,,,yes\n"
    "Bob Stone,bob@example.com; bob.stone@example.org,,+1 425 555 0102,Service desk,"
    "IT staff / MSP,rapid,15,\"Night shift, pager\",\n"
    "Cara Diaz,,206.555.0103,,,,,,,no\n"
)


# ---------------------------------------------------------------- good files

def test_a_good_csv_is_previewed_mapped_and_imported(tmp_path, service, client_id):
    path = write(tmp_path, GOOD)
    preview = read_csv_preview(path)
    assert (preview.encoding, preview.delimiter, preview.total_rows) == ("utf-8", ",", 3)
    assert preview.headers[:3] == ("Full name", "E-mail Address", "Mobile Phone")
    assert preview.rows[1][0] == "Bob Stone" and len(preview.rows[2]) == len(preview.headers)
    mapping = guess_columns(preview.headers)
    assert {i: u.field for i, u in mapping.items()} == {
        0: "name", 1: "email", 2: "mobile", 3: "phone", 4: "role", 5: "category",
        6: "timing_need", 7: "max_silence_minutes", 8: "notes", 9: "active"}

    plan = plan_csv_import(path, mapping, client_id, "US", [])
    assert plan.problems == () and plan.duplicates == ()
    assert [row for row, _ in plan.new] == [2, 3, 4] and plan.source_rows == 3
    result = apply_import(service, plan, merge_duplicates=True, existing=[])
    assert len(result.created_ids) == 3 and result.merged_ids == () == result.skipped_rows

    stored = by_name(service, client_id)
    assert set(stored) == {"Ann Lee", "Bob Stone", "Cara Diaz"}
    ann, bob, cara = stored["Ann Lee"], stored["Bob Stone"], stored["Cara Diaz"]
    assert (ann.category, ann.role, ann.timing_need, ann.max_silence_minutes) == \
        ("executives", "CTO", "when_relevant", 60)  # the category's defaults
    # a mobile number: an SMS and a phone contact point, labelled from the column
    assert contacts(ann) == [("email", "ann@example.com", 1), ("sms", "+12065550101", 2),
                             ("phone", "+12065550101", 3)]
    assert [c.label for c in ann.contacts] == ["", "Mobile", "Mobile"]
    assert (bob.category, bob.timing_need, bob.max_silence_minutes, bob.notes) == \
        ("it_staff_msp", "rapid", 15, "Night shift, pager")
    assert contacts(bob) == [("email", "bob@example.com", 1),
                             ("email", "bob.stone@example.org", 2),
                             ("phone", "+14255550102", 3)]
    assert cara.category == "affected_users" and cara.active is False
    assert contacts(cara) == [("sms", "+12065550103", 1), ("phone", "+12065550103", 2)]


def test_default_category_applies_to_rows_without_one(tmp_path, client_id):
    path = write(tmp_path, "Name,Email\nDee,dee@example.com\n")
    plan = plan_file(path, client_id, default_category="customers")
    assert [d.category for _, d in plan.new] == ["customers"]


def test_preview_shows_at_most_twenty_rows_but_counts_all(tmp_path):
    lines = ["Name,Email"] + [f"P{i},p{i}@example.com" for i in range(45)] + ["", " , "]
    preview = read_csv_preview(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(preview.rows) == PREVIEW_ROWS == 20
    assert preview.total_rows == 45  # blank lines are not rows
    assert preview.rows[-1] == ("P19", "p19@example.com")


# ---------------------------------------------------------------- bad rows

BAD = (
    "Name,Email,Mobile,Category,Max silence,Active\n"        # line 1
    "Good One,one@example.com,206 555 0101,,,\n"             # 2 ok
    "Bad Mail,not-an-email,,,,\n"                            # 3 email
    "Bad Phone,,12345,,,\n"                                  # 4 impossible number
    ",nobody@example.com,,,,\n"                              # 5 empty name
    "Words,,call me maybe,,,\n"                              # 6 unparseable number
    "Alien,alien@example.com,,Martians,,\n"                  # 7 unknown category
    "Quiet,quiet@example.com,,,forever,\n"                   # 8 max silence
    "Maybe,maybe@example.com,,,,perhaps\n"                   # 9 active
    "Good Two,two@example.com,,Media,,\n"                    # 10 ok
)


def test_bad_rows_are_listed_by_line_and_column_and_not_imported(tmp_path, service,
                                                                  client_id):
    plan = plan_file(write(tmp_path, BAD), client_id)
    assert [(p.row, p.field) for p in plan.problems] == [
        (5, "Name"), (7, "Category"), (8, "Max silence"), (9, "Active")]
    messages = {p.row: p.message for p in plan.problems}
    assert messages[5] == "Enter the stakeholder's name."
    assert "forever" not in messages[8] and "whole number of minutes" in messages[8]
    assert "perhaps" in messages[9]
    # issue 19: a row whose only faults are contact points comes in without them, each one
    # named in a warning — here none is left, so they are unreachable, and said so
    assert [(p.row, p.field) for p in plan.warnings] == [
        (3, "Email"), (3, "Contact points"), (4, "Mobile"), (4, "Contact points"),
        (6, "Mobile"), (6, "Contact points")]
    said = {(p.row, p.field): p.message for p in plan.warnings}
    assert "not-an-email" in said[3, "Email"] and "valid email" in said[3, "Email"]
    assert "12345" in said[4, "Mobile"] and "not a valid phone number" in said[4, "Mobile"]
    assert "call me maybe" in said[6, "Mobile"]
    assert said[6, "Mobile"].startswith("Left out (the rest of the row is imported): ")
    assert said[3, "Contact points"].startswith("No way to reach this person")
    assert [row for row, _ in plan.new] == [2, 3, 4, 6, 10] and plan.source_rows == 9

    result = apply_import(service, plan, True, [])
    assert result.problems == plan.problems
    people = by_name(service, client_id)
    assert set(people) == {"Good One", "Bad Mail", "Bad Phone", "Words", "Good Two"}
    assert people["Bad Mail"].contacts == ()


def test_every_problem_of_a_row_is_listed(tmp_path, client_id):
    plan = plan_file(write(tmp_path, "Name,Email,Mobile,Active\n,bad,123,maybe\nOk,,,no\n"),
                     client_id)
    assert sorted((p.row, p.field) for p in plan.problems) == [
        (2, "Active"), (2, "Email"), (2, "Mobile"), (2, "Name")]
    assert [(row, d.active) for row, d in plan.new] == [(3, False)]


def test_unknown_category_message_lists_the_valid_categories(tmp_path, client_id):
    plan = plan_file(write(tmp_path, "Name,Category\nAlien,Martians\nOk,customers\n"),
                     client_id)
    (problem,) = plan.problems
    assert (problem.row, problem.field) == (2, "Category")
    assert "Martians" in problem.message
    for label in ("Affected users", "Management", "Executives", "Customers", "Regulators",
                  "Media", "IT staff / MSP", "Business unit", "Compliance / legal"):
        assert label in problem.message
    assert [d.category for _, d in plan.new] == ["customers"]


def test_row_numbers_are_file_lines_even_after_multiline_cells(tmp_path, client_id):
    text = ('Name,Notes,Email\n'
            'Ann,"first line\nsecond line\nthird",ann@example.com\n'  # lines 2-4
            'Bob,,bob@@bad\n')                                         # line 5
    plan = plan_file(write(tmp_path, text), client_id)
    assert plan.problems == ()
    assert [(p.row, p.field) for p in plan.warnings] == [(5, "Email"), (5, "Contact points")]
    assert plan.new[0][1].notes == "first line\nsecond line\nthird"


def test_a_cell_with_the_same_address_twice_keeps_it_once_and_says_so(tmp_path, client_id):
    plan = plan_file(write(tmp_path, "Name,Email\nAnn,a@example.com; A@example.com\n"),
                     client_id)
    assert plan.problems == ()
    assert [(p.row, p.field) for p in plan.warnings] == [(2, "Email")]
    assert "twice" in plan.warnings[0].message
    [(_, ann)] = plan.new
    assert [c.address for c in ann.contacts] == ["a@example.com"]


def test_phone_numbers_are_read_in_the_client_region(tmp_path, client_id):
    path = write(tmp_path, "Name,Mobile\nNigel,020 7946 0958\n")
    mapping = guess_columns(read_csv_preview(path).headers)
    uk = plan_csv_import(path, mapping, client_id, "GB", [])
    assert uk.new[0][1].contacts[0].address == "+442079460958"
    us = plan_csv_import(path, mapping, client_id, "US", [])
    assert [(p.row, p.field) for p in us.warnings] == [(2, "Mobile"), (2, "Contact points")]
    assert "region US" in us.warnings[0].message


# ---------------------------------------------------------------- mapping

def _fields(headers):
    return {i: u.field for i, u in guess_columns(headers).items() if u.imported}


def test_guess_columns_understands_outlook_and_google_headers():
    outlook = ["First Name", "Last Name", "Title", "Company", "Job Title", "E-mail Address",
               "Mobile Phone", "Business Phone", "Notes", "Categories", "Business Fax",
               "E-mail Type", "Assistant's Phone", "Manager's Name"]
    assert _fields(outlook) == {0: "first_name", 1: "last_name", 2: "name_prefix",
                                3: "organisation", 4: "role", 5: "email", 6: "mobile",
                                7: "phone", 8: "notes", 9: "groups"}
    uses = guess_columns(outlook)
    assert (uses[6].label, uses[7].label) == ("Mobile", "Business")
    assert "fax" in uses[10].reason and "describes an address" in uses[11].reason
    assert "another person" in uses[12].reason and "another person" in uses[13].reason
    google = ["Name", "Given Name", "E-mail 1 - Type", "E-mail 1 - Value", "Phone 1 - Type",
              "Phone 1 - Value", "Organization 1 - Title"]
    assert _fields(google) == {0: "name", 1: "first_name", 3: "email", 5: "phone", 6: "role"}
    assert guess_columns(google)[2].field == "label"
    assert guess_columns(google)[3].label_column == 2
    assert _fields(["Full name", "Primary E-mail", "Cell phone (work)", "Telephone"]) \
        == {0: "name", 1: "email", 2: "mobile", 3: "phone"}
    assert _fields(["Fax", "Birthday"]) == {}
    # a hand-made sheet's "Title" is the job; a second Name column is named as ignored
    assert _fields(["Name", "Title", "Name"]) == {0: "name", 1: "role"}
    assert "“Name” already gives the full name" in guess_columns(["Name", "Title", "Name"])[2] \
        .reason


def test_mapping_must_name_a_name_column_and_real_columns(tmp_path, client_id):
    path = write(tmp_path, "Name,Email\nAnn,a@example.com\n")
    with pytest.raises(ImportFileError, match="names"):
        plan_csv_import(path, {"email": 1}, client_id, "US", [])
    with pytest.raises(ImportFileError, match="does not exist"):
        plan_csv_import(path, {"name": 0, "email": 7}, client_id, "US", [])
    with pytest.raises(ImportFileError, match="birthday"):
        plan_csv_import(path, {"name": 0, "birthday": 1}, client_id, "US", [])
    assert set(IMPORT_FIELDS) >= {"name", "email", "sms", "phone", "preferred_channel"}


def test_fields_without_a_column_fall_back_to_defaults(tmp_path, client_id):
    path = write(tmp_path, "Who,Mail\nAnn,ann@example.com\n")
    plan = plan_csv_import(path, {"name": 0}, client_id, "US", [])
    (row, data), = plan.new
    assert (row, data.name, data.contacts, data.category) == (2, "Ann", (), "affected_users")


# ---------------------------------------------------------------- encodings and delimiters

def test_latin1_file_is_detected_and_names_are_correct(tmp_path, service, client_id):
    path = write(tmp_path, "Name;E-mail\nJosé Müller;jose@example.com\nFrançoise Čapek;;\n"
                 .replace("Č", "C"), encoding="latin-1")
    preview = read_csv_preview(path)
    assert preview.encoding in ("cp1252", "latin-1") and preview.delimiter == ";"
    assert preview.rows[0][0] == "José Müller"
    plan = plan_csv_import(path, guess_columns(preview.headers), client_id, "US", [])
    assert plan.encoding == preview.encoding
    apply_import(service, plan, True, [])
    assert set(by_name(service, client_id)) == {"José Müller", "Françoise Capek"}


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"Name,Notes\nAnn,ctrl \x81 byte\n")
    preview = read_csv_preview(path)
    assert preview.encoding == "latin-1" and preview.rows[0][1] == "ctrl \x81 byte"


def test_cp1252_quotes_and_euro_are_read(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("Name,Notes\nAnn,“quoted” costs €5\n".encode("cp1252"))
    preview = read_csv_preview(path)
    assert preview.encoding == "cp1252" and preview.rows[0][1] == "“quoted” costs €5"


def test_utf8_with_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("Name,Email\r\nZoë,zoe@example.com\r\n".encode("utf-8-sig"))
    preview = read_csv_preview(path)
    assert preview.encoding == "utf-8" and preview.headers == ("Name", "Email")
    assert preview.rows == (("Zoë", "zoe@example.com"),)


def test_semicolon_delimited_file_from_excel_in_europe(tmp_path, service, client_id):
    text = ("Name;E-Mail;Mobile;Notes\n"
            "Jürgen Groß;jg@example.com;+49 1512 3456789;\"Teil 1; Teil 2\"\n"
            "Ann Lee;ann@example.com;206 555 0101;a, b\n")
    path = write(tmp_path, text, encoding="utf-8-sig")
    preview = read_csv_preview(path)
    assert preview.delimiter == ";" and preview.headers == ("Name", "E-Mail", "Mobile", "Notes")
    plan = plan_csv_import(path, guess_columns(preview.headers), client_id, "US", [])
    assert plan.problems == ()
    apply_import(service, plan, True, [])
    stored = by_name(service, client_id)
    assert contacts(stored["Jürgen Groß"]) == [("email", "jg@example.com", 1),
                                               ("sms", "+4915123456789", 2),
                                               ("phone", "+4915123456789", 3)]
    assert stored["Jürgen Groß"].notes == "Teil 1; Teil 2" and stored["Ann Lee"].notes == "a, b"


def test_excel_sep_line_tabs_and_utf16(tmp_path, client_id):
    sep = write(tmp_path, "sep=|\nName|Email\nAnn|ann@example.com\nBob|bad\n", "sep.csv")
    preview = read_csv_preview(sep)
    assert preview.delimiter == "|" and preview.headers == ("Name", "Email")
    plan = plan_file(sep, client_id)
    assert [(p.row, p.field) for p in plan.warnings][0] == (4, "Email")  # sep= is line 1

    tabs = tmp_path / "unicode.txt"  # Excel's "Unicode text": UTF-16 with BOM, tab-separated
    tabs.write_bytes("Name\tEmail\nŁucja\tlucja@example.com\n".encode("utf-16"))
    preview = read_csv_preview(tabs)
    assert (preview.encoding, preview.delimiter) == ("utf-16", "\t")
    assert preview.rows == (("Łucja", "lucja@example.com"),)


# ---------------------------------------------------------------- refused files

def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch, client_id):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:
        f.truncate(MAX_IMPORT_BYTES + 1)  # sparse: instant

    def no_reading(*_a, **_k):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    for call in (lambda: read_csv_preview(path),
                 lambda: plan_csv_import(path, {"name": 0}, client_id, "US", [])):
        with pytest.raises(ImportFileError) as err:
            call()
        message = str(err.value)
        assert "huge.csv" in message and f"{MAX_IMPORT_BYTES + 1:,} bytes" in message
        assert "20.0 MB" in message and "up to 20 MB" in message
    assert isinstance(err.value, ClarionError)


def test_a_file_at_the_limit_is_read(tmp_path):
    body = "Name,Email\n" + "Ann,ann@example.com\n"
    path = tmp_path / "limit.csv"
    path.write_bytes(body.encode() + b" " * (MAX_IMPORT_BYTES - len(body)))
    assert path.stat().st_size == MAX_IMPORT_BYTES
    assert read_csv_preview(path).total_rows == 1


@pytest.mark.parametrize("content,expected", [
    (b"", "is empty"),
    (b"\xef\xbb\xbf  \r\n\n", "is empty"),
    (b",,,\n,,\n", "is empty"),
    (b"Name,Email\n", "no rows"),
    (b"Ann Lee,ann@example.com\nBob,bob@example.com\n", "no header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
])
def test_unusable_files_are_refused_with_a_clear_message(tmp_path, content, expected):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=expected) as err:
        read_csv_preview(path)
    assert "x.csv" in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImportFileError, match="does not exist"):
        read_csv_preview(tmp_path / "gone.csv")
    with pytest.raises(ImportFileError, match="folder"):
        read_csv_preview(tmp_path)


# ---------------------------------------------------------------- duplicates

@pytest.fixture
def ann(service, client_id) -> StakeholderDTO:
    return service.create(StakeholderData(
        client_id=client_id, name="Ann Lee", category="management", role="",
        contacts=(ContactPointData("email", "ann@example.com", 1),
                  ContactPointData("sms", "+12065550101", 2))))


def test_duplicate_of_a_stored_stakeholder_is_merged(tmp_path, service, client_id, ann):
    text = ("Name,Email,Mobile,Phone,Role\n"
            "Ann L.,ANN@example.com,,425 555 0102,Director\n"
            "New Person,new@example.com,,,\n")
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, text), client_id, existing)
    (dup,) = plan.duplicates
    assert (dup.row, dup.existing_id, dup.existing_name, dup.matched_on) == \
        (2, ann.id, "Ann Lee", "email ANN@example.com")
    assert [row for row, _ in plan.new] == [3]

    result = apply_import(service, plan, merge_duplicates=True, existing=existing)
    assert result.merged_ids == (ann.id,) and len(result.created_ids) == 1
    merged = service.get(ann.id)
    assert merged.name == "Ann Lee" and merged.category == "management"  # existing data kept
    assert merged.role == "Director"  # empty role filled
    assert contacts(merged) == [("email", "ann@example.com", 1), ("sms", "+12065550101", 2),
                                ("phone", "+14255550102", 3)]
    assert set(by_name(service, client_id)) == {"Ann Lee", "New Person"}


def test_duplicate_of_a_stored_stakeholder_is_skipped(tmp_path, service, client_id, ann):
    text = "Name,Mobile,Phone\nAnnie,(206) 555-0101,425 555 0102\n"
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, text), client_id, existing)
    (dup,) = plan.duplicates
    assert dup.matched_on == "phone +12065550101" and dup.existing_id == ann.id
    result = apply_import(service, plan, merge_duplicates=False, existing=existing)
    assert result.skipped_rows == (2,) and result.created_ids == () == result.merged_ids
    assert service.list(client_id) == existing  # untouched


def test_stakeholders_of_another_client_are_not_duplicates(tmp_path, client_id, ann):
    other = dataclasses.replace(ann, client_id=client_id + 1, id=999)
    plan = plan_file(write(tmp_path, "Name,Email\nAnn,ann@example.com\n"), client_id,
                     [other])
    assert plan.duplicates == () and len(plan.new) == 1


def test_duplicates_within_the_file_merge_or_skip(tmp_path, service, client_id):
    text = ("Name,Email,Mobile\n"
            "Ann Lee,ann@example.com,\n"              # 2 new
            "Bob,bob@example.com,206 555 0102\n"      # 3 new
            "Ann again,Ann@Example.com,206 555 0103\n"  # 4 same email as row 2
            "Ann thrice,,206-555-0103\n"              # 5 same phone as row 4 (→ row 2)
            "Cara,cara@example.com,\n")               # 6 new
    path = write(tmp_path, text)
    plan = plan_file(path, client_id)
    assert [row for row, _ in plan.new] == [2, 3, 6]
    assert [(d.row, d.existing_id, d.earlier_row, d.existing_name, d.matched_on)
            for d in plan.duplicates] == [
        (4, None, 2, "Ann Lee", "email Ann@example.com"),
        (5, None, 2, "Ann Lee", "phone +12065550103")]

    skipped = apply_import(service, plan, merge_duplicates=False, existing=[])
    assert skipped.skipped_rows == (4, 5) and len(skipped.created_ids) == 3
    assert contacts(by_name(service, client_id)["Ann Lee"]) == [
        ("email", "ann@example.com", 1)]

    for s in service.list(client_id):
        service.delete(s.id)
    merged = apply_import(service, plan, merge_duplicates=True, existing=[])
    assert merged.skipped_rows == () and len(merged.created_ids) == 3
    stored = by_name(service, client_id)
    assert set(stored) == {"Ann Lee", "Bob", "Cara"}
    assert contacts(stored["Ann Lee"]) == [("email", "ann@example.com", 1),
                                           ("sms", "+12065550103", 2),
                                           ("phone", "+12065550103", 3)]


def test_rows_merging_into_one_stored_stakeholder_accumulate(tmp_path, service, client_id,
                                                             ann):
    text = ("Name,Email,Phone\n"
            "A1,ann@example.com,425 555 0102\n"
            "A2,,425 555 0102; 425 555 0104\n"      # matches row 2's phone → Ann
            "A3,ann@example.com,425 555 0105\n")
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, text), client_id, existing)
    assert [(d.row, d.existing_id) for d in plan.duplicates] == \
        [(2, ann.id), (3, ann.id), (4, ann.id)]
    result = apply_import(service, plan, True, existing)
    assert result.merged_ids == (ann.id,)
    assert [c[1] for c in contacts(service.get(ann.id))] == [
        "ann@example.com", "+12065550101", "+14255550102", "+14255550104", "+14255550105"]


def test_merge_into_is_pure_and_appends_only_new_contact_points(ann):
    incoming = StakeholderData(
        client_id=ann.client_id, name="Other", category="media", role="Editor",
        notes="from import",
        contacts=(ContactPointData("email", "ANN@EXAMPLE.COM", 1),
                  ContactPointData("phone", "+12065550101", 2),  # other channel: new
                  ContactPointData("email", "ann2@example.com", 3)))
    merged = merge_into(ann, incoming)
    assert type(merged) is StakeholderData
    assert (merged.name, merged.category, merged.role, merged.notes) == \
        ("Ann Lee", "management", "Editor", "from import")
    assert [(c.channel, c.address, c.priority) for c in merged.contacts] == [
        ("email", "ann@example.com", 1), ("sms", "+12065550101", 2),
        ("phone", "+12065550101", 3), ("email", "ann2@example.com", 4)]
    assert ann.role == "" and len(ann.contacts) == 2  # unchanged
    kept = merge_into(dataclasses.replace(ann, role="CEO", notes="n"), incoming)
    assert (kept.role, kept.notes) == ("CEO", "n")


# ---------------------------------------------------------------- one transaction

MERGING = ("Name,Email,Phone\n"
           "New One,one@example.com,\n"
           "New Two,two@example.com,\n"
           "Ann,ann@example.com,425 555 0102\n")


def test_a_stakeholder_deleted_meanwhile_stops_the_whole_import(tmp_path, service, client_id,
                                                               ann):
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, MERGING), client_id, existing)
    assert len(plan.new) == 2 and len(plan.duplicates) == 1
    service.delete(ann.id)
    with pytest.raises(NotFound, match="Row 4 duplicates Ann Lee"):
        apply_import(service, plan, merge_duplicates=True, existing=existing)
    assert service.list(client_id) == []  # the two new rows were not written either


def test_a_deletion_inside_the_transaction_rolls_back_the_creates(tmp_path, service,
                                                                  client_id, ann,
                                                                  monkeypatch):
    # Ann is not the highest id, so SQLite does not hand her id to a new row.
    later = service.create(StakeholderData(client_id=client_id, name="Zoe"))
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, MERGING), client_id, existing)
    service.delete(ann.id)
    # apply_import's own check passes (the deletion "happens" after it) …
    monkeypatch.setattr(service, "get", lambda sid: next(s for s in existing if s.id == sid))
    with pytest.raises(NotFound):  # … and apply_batch finds Ann gone after adding the rows
        apply_import(service, plan, merge_duplicates=True, existing=existing)
    assert [s.id for s in service.list(client_id)] == [later.id]


def test_merges_start_from_the_stakeholder_as_stored_now(tmp_path, service, client_id, ann):
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, MERGING), client_id, existing)
    service.update(ann.id, dataclasses.replace(ann.data(), role="COO", notes="edited"))
    apply_import(service, plan, merge_duplicates=True, existing=existing)
    now = service.get(ann.id)
    assert (now.role, now.notes) == ("COO", "edited")  # the edit survived the merge
    assert contacts(now)[-1] == ("phone", "+14255550102", 3)


def test_nothing_is_written_when_the_last_item_fails_in_apply_batch(
        tmp_path, service, client_id, ann, monkeypatch):
    existing = service.list(client_id)
    plan = plan_file(write(tmp_path, MERGING), client_id, existing)
    real = stakeholders_module.validate_stakeholder

    def failing(data, region):  # the update (last item) fails after the creates were added
        if data.name == "Ann Lee":
            raise ValidationError({"name": "Refused by the test."})
        return real(data, region)

    monkeypatch.setattr(stakeholders_module, "validate_stakeholder", failing)
    with pytest.raises(ValidationError) as err:
        apply_import(service, plan, merge_duplicates=True, existing=existing)
    assert err.value.errors == {"row 4: name": "Refused by the test."}
    monkeypatch.undo()
    assert service.list(client_id) == existing  # no new rows, Ann unchanged


def test_an_import_of_only_problems_and_skips_writes_nothing(tmp_path, service, client_id,
                                                             ann):
    calls = []
    service.apply_batch = lambda *a: calls.append(a)  # type: ignore[method-assign]
    plan = plan_file(write(tmp_path, "Name,Email\n,x@example.com\nAnn,ann@example.com\n"),
                     client_id, [ann])
    result = apply_import(service, plan, merge_duplicates=False, existing=[ann])
    assert calls == [] and result.skipped_rows == (3,) and len(result.problems) == 1


def test_a_hand_built_duplicate_without_earlier_row_is_created(service, client_id):
    from app.stakeholders.importing.plan import ImportPlan

    data = StakeholderData(client_id=client_id, name="Solo", contacts=())
    plan = ImportPlan(client_id, (), (Duplicate(2, data, None, "?", "email x"),), (), 1)
    result = apply_import(service, plan, True, [])
    assert len(result.created_ids) == 1 and service.get(result.created_ids[0]).name == "Solo"


def test_category_values_match_leniently_and_the_rest_is_refused_with_the_list(tmp_path,
                                                                               client_id):
    """Issue 19: values as hand-made lists and exports write them — case, `_`/`-`/space,
    plurals, a few synonyms — reach the category; what means none of them is refused."""
    rows = [("A", "it_staff"), ("B", "IT-Staff"), ("C", "execs"), ("D", "Legal"),
            ("E", "Executive"), ("F", "affected_users"), ("G", "Compliance/Legal"),
            ("H", "press"), ("I", "Business Units"), ("J", "staff")]
    text = "Name,Category\n" + "".join(f"{n},{c}\n" for n, c in rows)
    plan = plan_file(write(tmp_path, text), client_id)
    assert [(d.name, d.category) for _, d in plan.new] == [
        ("A", "it_staff_msp"), ("B", "it_staff_msp"), ("C", "executives"),
        ("D", "compliance_legal"), ("E", "executives"), ("F", "affected_users"),
        ("G", "compliance_legal"), ("H", "media"), ("I", "business_unit")]
    (problem,) = plan.problems
    assert problem.field == "Category" and "“staff”" in problem.message


@pytest.mark.parametrize(("value", "expected"), [
    ("it_staff", "it_staff_msp"), ("MSPs", "it_staff_msp"), ("Execs", "executives"),
    ("c-suite", "executives"), ("Managers", "management"), ("clients", "customers"),
    ("Regulator", "regulators"), ("journalists", "media"), ("end users", "affected_users"),
    ("compliance", "compliance_legal"), ("busines", "business_unit"),
    ("staff", None), ("friends", None), ("", None), ("it staff / msp", "it_staff_msp"),
])
def test_lenient_category_match(value, expected):
    from app.domain.enums import Category, lenient_match

    found = lenient_match(Category, value)
    assert (found.value if found else None) == expected


def test_other_vocabularies_match_leniently_too():
    from app.domain.enums import DetailLevel, TimingNeed, lenient_match

    assert lenient_match(TimingNeed, "when-relevant") == TimingNeed.WHEN_RELEVANT
    assert lenient_match(TimingNeed, "Per Contract") == TimingNeed.PER_CONTRACT
    assert lenient_match(DetailLevel, "Technical") == DetailLevel.TECHNICAL
    assert lenient_match(DetailLevel, "exec") is None   # the synonyms are the categories' only


def test_people_with_no_way_to_reach_them_can_be_skipped_instead(tmp_path, client_id):
    """Issue 19: the person may choose to skip rows left with no contact point: refused, with
    the reason and what was left out, instead of imported as unreachable."""
    path = write(tmp_path, "Name,Email\nAnn,ann@example.com\nBo,not-an-email\nCy,\n")
    plan = plan_file(path, client_id, skip_unreachable=True)
    assert [row for row, _ in plan.new] == [2] and plan.warnings == ()
    assert [(p.row, p.field) for p in plan.problems] == [
        (3, "Email"), (3, "Contact points"), (4, "Contact points")]
    assert "skipped, as asked" in plan.problems[1].message
    kept = plan_file(path, client_id)
    assert [row for row, _ in kept.new] == [2, 3, 4] and kept.problems == ()


def test_choosing_a_columns_use_moves_a_one_column_field_and_keeps_labels():
    from app.stakeholders.importing.columns import name_of, name_recipe, with_field

    headers = ["Name", "Nick", "First Name", "Last Name", "Phone 1 - Label", "Phone 1 - Value"]
    uses = guess_columns(headers)
    assert name_recipe(headers, uses) == "Name (else First Name + Last Name)"
    assert name_of(["", "Zo", "Zoë", "Øberg", "Mobile", "+1"], uses) == "Zoë Øberg"
    assert name_of(["Dr Zoë  Øberg", "", "Zoë", "Øberg", "", ""], uses) == "Dr Zoë Øberg"
    moved = with_field(headers, uses, 1, "name")   # "Nick" is now the full name
    assert (moved[1].field, moved[0].field) == ("name", None)
    assert moved[0].reason == "you chose “Nick” for the full name"
    # a part of the name is one column too; notes may come from several
    assert with_field(headers, uses, 1, "first_name")[2].field is None
    notes = with_field(headers, with_field(headers, uses, 0, "notes"), 1, "notes")
    assert (notes[0].field, notes[1].field) == ("notes", "notes")
    assert uses[0].field == "name"   # the uses passed in are not changed
    # a phone column turned into a mobile one keeps its label column
    mobile = with_field(headers, uses, 5, "mobile")[5]
    assert (mobile.field, mobile.label_column) == ("mobile", 4)
    assert with_field(headers, uses, 3, None)[3].field is None
    with pytest.raises(ValueError):
        with_field(headers, uses, 3, "birthday")


def test_a_column_chosen_as_label_labels_the_next_one_and_unlabels_it_when_changed(tmp_path,
                                                                                   client_id):
    from app.stakeholders.importing.columns import with_field

    headers = ["Name", "Kind", "Phone"]
    uses = guess_columns(headers)
    assert uses[1].field is None
    labelled = with_field(headers, uses, 1, "label")
    assert (labelled[1].field, labelled[2].label_column) == ("label", 1)
    assert labelled[1].reason == "the label of “Phone”"
    path = write(tmp_path, "Name,Kind,Phone\nAnn,Cell,+1 206 555 0101\nBob,Desk,+1 206 555 0102\n")
    plan = plan_csv_import(path, labelled, client_id, "US", [])
    ann, bob = (d for _, d in plan.new)
    assert [(c.channel, c.label) for c in ann.contacts] == [("sms", "Cell"), ("phone", "Cell")]
    assert [(c.channel, c.label) for c in bob.contacts] == [("phone", "Desk")]
    unlabelled = with_field(headers, labelled, 1, None)
    assert unlabelled[2].label_column is None and unlabelled[2].field == "phone"
    # a label for a column that is no email or phone column: not taken, and why
    refused = with_field(headers, uses, 0, "label")
    assert refused[0].field is None and "no email or phone column" in refused[0].reason


def test_a_person_imported_unreachable_is_met_again_by_name(tmp_path, service, client_id):
    path = write(tmp_path, "Name,Email\nCy Park,\nDee Lane,dee@example.com\n")
    first = plan_file(path, client_id)
    apply_import(service, first, True, [])
    existing = service.list(client_id)
    again = plan_file(path, client_id, existing=existing)
    assert again.new == ()
    by_name = {d.data.name: d for d in again.duplicates}
    assert by_name["Cy Park"].matched_on == "name Cy Park"
    assert by_name["Cy Park"].effect == "nothing new"
    apply_import(service, again, True, existing)
    assert sorted(s.name for s in service.list(client_id)) == ["Cy Park", "Dee Lane"]


def test_skipping_the_unreachable_gives_reasons_that_do_not_say_imported(tmp_path, client_id):
    plan = plan_file(write(tmp_path, "Name,Email\nBob,not-an-email\n"), client_id,
                     skip_unreachable=True)
    assert plan.new == () and plan.warnings == ()
    assert [p.field for p in plan.problems] == ["Email", "Contact points"]
    assert not any("is imported" in p.message for p in plan.problems)
    assert "not-an-email" in plan.problems[0].message
