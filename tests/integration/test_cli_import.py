"""`clarion import FILE --client NAME …` as a process, on a new database: a Google Contacts
export planned (--dry-run: names combined, contact points labelled, a mobile as SMS and phone, a
bad address warned about, nothing written), imported (one transaction) and found again as
duplicates; --map; and the exit codes of DESIGN.md "CLI conventions" — 2 for an unknown client,
a bad --map or a missing file, 1 for a file that cannot be read, 4 when nothing is importable."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_export_cli import clarion

CLIENT = "My organisation"   # the one organisation of a new database

GOOGLE_HEADER = ("First Name,Middle Name,Last Name,Name Prefix,Name Suffix,Organization Name,"
                 "Organization Title,Organization Department,Notes,Labels,E-mail 1 - Label,"
                 "E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Phone 2 - Label,"
                 "Phone 2 - Value")
ANN = ("Ann,Marie,Lee,Dr.,,Harbor Health,Head of IT,IT,,* myContacts ::: IT Staff,* Work,"
       "ann.lee@harbor.example,Mobile,+1 206 555 0101,Work,+1 206 555 0102")
BOB = ("Bob,,Stone,,Jr.,Harbor Health,CFO,Finance,Prefers email,* myContacts ::: Executives,"
       "Work,bob.stone@harbor.example,,,,")
CY = "Cy,,Park,,,,,,,* myContacts,Home,not-an-email,,,,"   # no usable contact: a warning

ANN_LINES = ["  row 2: Dr. Ann Marie Lee · IT staff / MSP · Head of IT",
             "      email ann.lee@harbor.example [Work]",
             "      sms +12065550101 [Mobile]",
             "      phone +12065550101 [Mobile]",
             "      phone +12065550102 [Work]"]
BOB_LINES = ["  row 3: Bob Stone Jr. · Executives · CFO",
             "      email bob.stone@harbor.example [Work]"]


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stakeholders(data_dir: Path) -> list:
    """Every stakeholder of the database, read back through the service (not the CLI)."""
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.stakeholders.service import StakeholderService
    from app.storage import Store

    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(data_dir)}).db_path)
    try:
        return StakeholderService(store, SystemClock()).list()
    finally:
        store.dispose()


def block(lines: list[str], first: str) -> list[str]:
    """The lines from `first` up to the next blank line."""
    start = lines.index(first)
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", GOOGLE_HEADER, ANN, BOB, CY)
    result = clarion("import", str(csv), "--client", "my org", "--dry-run", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"File: {csv} (utf-8, 3 rows)", f"Client: {CLIENT}"]
    assert "  E-mail 1 - Value → Email (label from “E-mail 1 - Label”)" in lines
    assert "  E-mail 1 - Label → the label of “E-mail 1 - Value”" in lines
    assert "Columns ignored" not in result.stdout          # every Google column has a use
    assert "Names: Name Prefix + First Name + Middle Name + Last Name + Name Suffix" in lines
    assert block(lines, "People to import (3):") == [
        "People to import (3):", *ANN_LINES, *BOB_LINES,
        "  row 4: Cy Park · Affected users", "      no contact point: unreachable",
        "Warnings (2):",
        "  row 4, E-mail 1 - Value: Left out (the rest of the row is imported): "
        "“not-an-email”: Not a valid email address: An email address must have an @-sign.",
        "  row 4, Contact points: No way to reach this person: no valid email address or "
        "phone number (shown as unreachable)."]
    assert "Duplicates" not in result.stdout and "Refused" not in result.stdout
    assert lines[-1] == "Dry run: nothing was written."
    assert stakeholders(data) == []


def test_an_import_writes_everyone_and_a_second_run_finds_them_as_duplicates(tmp_path):
    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", GOOGLE_HEADER, ANN, BOB, CY)
    done = clarion("import", str(csv), "--client", CLIENT.upper(), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Imported 3, merged 0, skipped 0."
    assert "Dry run" not in done.stdout
    stored = {s.name: s for s in stakeholders(data)}
    assert sorted(stored) == ["Bob Stone Jr.", "Cy Park", "Dr. Ann Marie Lee"]
    ann = stored["Dr. Ann Marie Lee"]
    assert (ann.category, ann.role, ann.client_name) == ("it_staff_msp", "Head of IT", CLIENT)
    assert [(c.channel, c.address, c.label) for c in ann.contacts] == [
        ("email", "ann.lee@harbor.example", "Work"), ("sms", "+12065550101", "Mobile"),
        ("phone", "+12065550101", "Mobile"), ("phone", "+12065550102", "Work")]
    assert stored["Cy Park"].contacts == ()

    again = clarion("import", str(csv), "--client", CLIENT, "--dry-run", data_dir=data)
    assert again.returncode == 0, again.stderr
    assert block(again.stdout.splitlines(), "Duplicates (3):") == [
        "Duplicates (3):",
        "  row 2: Dr. Ann Marie Lee — same as Dr. Ann Marie Lee "
        "(email ann.lee@harbor.example); merge: nothing new",
        "  row 3: Bob Stone Jr. — same as Bob Stone Jr. (email bob.stone@harbor.example); "
        "merge: nothing new",
        # no contact point to match on: met again by name, not created twice
        "  row 4: Cy Park — same as Cy Park (name Cy Park); merge: nothing new",
        "Warnings (2):",
        *block(again.stdout.splitlines(), "Warnings (2):")[1:]]
    assert len(stakeholders(data)) == 3

    reachable = write(tmp_path / "reachable.csv", GOOGLE_HEADER, ANN, BOB)
    skipped = clarion("import", str(reachable), "--client", CLIENT, "--skip", data_dir=data)
    assert skipped.returncode == 4, skipped.stderr
    assert "  row 2: Dr. Ann Marie Lee — same as Dr. Ann Marie Lee " \
           "(email ann.lee@harbor.example); skipped" in skipped.stdout.splitlines()
    assert skipped.stderr == "clarion: nothing to import: 2 duplicates skipped (--skip)\n"
    assert "Imported" not in skipped.stdout
    assert len(stakeholders(data)) == 3


def test_map_changes_what_a_column_is_imported_as(tmp_path):
    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", GOOGLE_HEADER, ANN)
    result = clarion("import", str(csv), "--client", CLIENT, "--dry-run",
                     "--map", "organization name=role", "--map", "16=mobile",
                     "--map", "Labels=ignore", data_dir=data)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  Organization Name → Role / job title — as mapped (--map)" in lines
    assert "  Phone 2 - Value → Mobile (SMS and phone) (label from “Phone 2 - Label”) — " \
           "as mapped (--map)" in lines
    assert block(lines, "Columns ignored (2):") == [
        "Columns ignored (2):",
        "  Organization Title: you chose “Organization Name” for the role / job title",
        "  Labels: ignored (--map)",
        "Names: Name Prefix + First Name + Middle Name + Last Name + Name Suffix"]
    # the role from the company column; no category from the labels; Work number texted too
    assert block(lines, "People to import (1):")[1:] == [
        "  row 2: Dr. Ann Marie Lee · Affected users · Harbor Health",
        "      email ann.lee@harbor.example [Work]",
        "      sms +12065550101 [Mobile]", "      sms +12065550102 [Work]",
        "      phone +12065550101 [Mobile]", "      phone +12065550102 [Work]"]


def test_a_column_mapped_as_a_label_labels_the_next_one(tmp_path):
    csv = write(tmp_path / "sheet.csv", "Name,Kind,Number", "Ann Lee,Mobile,+1 206 555 0101")
    result = clarion("import", str(csv), "--client", CLIENT, "--dry-run", "--map", "kind=label",
                     data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  Kind → the label of “Number” (--map)" in lines
    assert block(lines, "People to import (1):")[1:] == [
        "  row 2: Ann Lee · Affected users", "      sms +12065550101 [Mobile]",
        "      phone +12065550101 [Mobile]"]


def test_a_client_is_named_exactly_or_by_a_unique_beginning(tmp_path):
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.domain.dto import ClientSettings
    from app.stakeholders.clients import save_client
    from app.storage import Store

    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", GOOGLE_HEADER, ANN)
    unknown = clarion("import", str(csv), "--client", "Nobody", "--dry-run", data_dir=data)
    assert (unknown.returncode, unknown.stdout) == (2, "")
    assert unknown.stderr == f"clarion: no client is called 'Nobody' (clients: {CLIENT})\n"

    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(data)}).db_path)
    try:
        for name in ("Harbor Health", "Harbor Logistics"):
            save_client(store, SystemClock(), ClientSettings(name=name))
    finally:
        store.dispose()
    several = clarion("import", str(csv), "--client", "harbor", "--dry-run", data_dir=data)
    assert (several.returncode, several.stdout) == (2, "")
    assert several.stderr == ("clarion: 'harbor' could be Harbor Health or Harbor Logistics; "
                              f"say which (clients: Harbor Health, Harbor Logistics, "
                              f"{CLIENT})\n")
    one = clarion("import", str(csv), "--client", "HARBOR H", "--dry-run", data_dir=data)
    assert one.returncode == 0, one.stderr
    assert one.stdout.splitlines()[1] == "Client: Harbor Health"


def test_a_bad_map_is_exit_code_2_naming_the_columns_or_the_fields(tmp_path):
    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", "Name,Email", "Ann Lee,ann@harbor.example")
    column = clarion("import", str(csv), "--client", CLIENT, "--map", "Shoe Size=email",
                     data_dir=data)
    assert (column.returncode, column.stdout) == (2, "")
    assert column.stderr == ("clarion: the file has no column 'Shoe Size' "
                             "(columns: 1 Name, 2 Email)\n")
    field = clarion("import", str(csv), "--client", CLIENT, "--map", "2=shoe_size",
                    data_dir=data)
    assert (field.returncode, field.stdout) == (2, "")
    assert field.stderr.startswith("clarion: --map '2=shoe_size': no field 'shoe_size' "
                                   "(fields: name, name_prefix, first_name, ")
    assert field.stderr.endswith(", webhook, label, ignore)\n")
    nameless = clarion("import", str(csv), "--client", CLIENT, "--map", "name=ignore",
                       data_dir=data)
    assert (nameless.returncode, nameless.stdout) == (2, "")
    assert nameless.stderr.startswith("clarion: no column gives the names: say which with "
                                      "--map COLUMN=name")
    vcard = write(tmp_path / "people.vcf", "BEGIN:VCARD", "VERSION:3.0", "FN:Ann Lee",
                  "END:VCARD")
    mapped = clarion("import", str(vcard), "--client", CLIENT, "--map", "1=name",
                     data_dir=data)
    assert (mapped.returncode, mapped.stdout) == (2, "")
    assert mapped.stderr.startswith("clarion: --map is for CSV files")
    assert stakeholders(data) == []


def test_a_vcard_is_planned_card_by_card(tmp_path):
    vcard = write(tmp_path / "people.vcf", "BEGIN:VCARD", "VERSION:3.0", "FN:Vera Card",
                  "TITLE:Plant manager", "EMAIL;TYPE=WORK:vera@harbor.example",
                  "TEL;TYPE=CELL:+1 206 555 0199", "END:VCARD")
    result = clarion("import", str(vcard), "--client", CLIENT, "--dry-run", "--category",
                     "execs", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"File: {vcard} (utf-8, 1 card)"
    assert "Columns used" not in result.stdout
    assert block(lines, "People to import (1):")[1:] == [
        "  card 1: Vera Card · Executives · Plant manager",
        "      email vera@harbor.example [Work]", "      sms +12065550199 [Mobile]",
        "      phone +12065550199 [Mobile]"]


def test_when_every_row_is_refused_it_is_exit_code_4(tmp_path):
    data = tmp_path / "data"
    csv = write(tmp_path / "contacts.csv", "Name,Email", ",nameless@harbor.example",
                "Unreachable Person,not-an-email")
    result = clarion("import", str(csv), "--client", CLIENT, "--skip-unreachable",
                     data_dir=data)
    assert result.returncode == 4, result.stderr
    assert result.stderr == "clarion: nothing to import: 2 of 2 rows refused\n"
    lines = result.stdout.splitlines()
    assert "People to import (0):" in lines
    assert [line.split(":")[0] for line in block(lines, "Refused (3):")] == [
        "Refused (3)", "  row 2, Name", "  row 3, Email", "  row 3, Contact points"]
    assert lines[-1].endswith("no valid email address or phone number (skipped, as asked).")
    assert "Imported" not in result.stdout and "Dry run" not in result.stdout
    assert stakeholders(data) == []


def test_a_missing_or_unreadable_file(tmp_path):
    data = tmp_path / "data"
    missing = clarion("import", str(tmp_path / "nowhere.csv"), "--client", CLIENT,
                      data_dir=data)
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"clarion: {tmp_path / 'nowhere.csv'}: no such file\n"
    header_only = write(tmp_path / "empty.csv", "Name,Email")
    unreadable = clarion("import", str(header_only), "--client", CLIENT, data_dir=data)
    assert (unreadable.returncode, unreadable.stdout) == (1, "")
    assert unreadable.stderr == ("clarion: empty.csv has column names but no rows to "
                                 "import.\n")
    assert "Traceback" not in missing.stderr + unreadable.stderr
