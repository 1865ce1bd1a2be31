"""Import through the dialog as a coordinator does it: a CSV with some bad rows (listed, not
imported; the rest imported), duplicates merged, a vCard, one undo step for the whole import."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

CSV = (
    "Full name,Job title,Category,E-mail Address,Mobile Phone\n"
    "Ana Costa,Head of Wards,Management,ana@example.com,(206) 555-0131\n"
    "Bo Lind,,Executives,not-an-email,\n"
    ",Nameless,Media,x@example.com,\n"
    "Cy Ortiz,Desk,Wizards,cy@example.com,\n"
    "Dee Park,Analyst,IT staff / MSP,dee@example.com,12345\n"
    "Eve Moss,Lead,Business unit,eve@example.com,(206) 555-0132\n"
)

VCF = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Gil Stone\r\nTITLE:Night supervisor\r\n"
    "EMAIL;TYPE=INTERNET,WORK:gil@example.com\r\nTEL;TYPE=CELL:+1 206 555 0141\r\n"
    "TEL;TYPE=WORK,VOICE:+1 206 555 0142\r\nNOTE:Long note that is folded across\r\n"
    "  two lines\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Hal Reed\r\nEMAIL;PREF=1:hal@example.com\r\n"
    "TEL;VALUE=uri;TYPE=cell:tel:+1-206-555-0143\r\nEND:VCARD\r\n"
)


@pytest.fixture
def ws(qtbot, window):
    window.nav_buttons["stakeholders"].setChecked(True)
    qtbot.waitUntil(lambda: window.stakeholders._loaded)
    return window.stakeholders


def _open(ws, kind, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    ws.import_file(kind)
    return ws.import_dialog


def _open_csv(ws, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The CSV dialog with CSV loaded (people.csv)."""
    path = tmp_path / "people.csv"
    path.write_text(CSV, encoding="utf-8")
    dialog = _open(ws, "csv", monkeypatch)
    assert dialog.load(path)
    return dialog


def _rows(model):  # type: ignore[no-untyped-def]
    return [model.row_values(r) for r in range(model.rowCount())]


def test_csv_import_lists_bad_rows_and_imports_the_rest(qtbot, ws, services, tmp_path,
                                                        monkeypatch):
    dialog = _open_csv(ws, tmp_path, monkeypatch)
    assert "6 rows" in dialog.file_label.text()
    # every column's use was guessed from the headers
    uses = dialog.columns_model.uses
    assert [uses[i].field for i in range(5)] == ["name", "role", "category", "email", "mobile"]
    assert dialog.name_line.text() == "Names: Full name — for example “Ana Costa”"
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    problems = _rows(dialog.problems_model)
    rows_with_problems = {p[0] for p in problems}
    assert rows_with_problems == {"4", "5"}  # no name, unknown category
    assert any(p[0] == "5" and "Wizards" in p[2] for p in problems)
    # issue 19: a bad email or phone is left out, named, and the rest of the row comes in
    warnings = _rows(dialog.warnings_model)
    assert [(w[0], w[1]) for w in warnings] == [
        ("3", "E-mail Address"), ("3", "Contact points"), ("6", "Mobile Phone")]
    assert "not-an-email" in warnings[0][2] and "12345" in warnings[2][2]
    assert "No way to reach" in warnings[1][2]
    assert "4</b> of 6 rows are ready to import (<b>2</b> with a warning)" in \
        dialog.summary.text()
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    names = sorted(s.name for s in services.stakeholders.list())
    assert names == ["Ana Costa", "Bo Lind", "Dee Park", "Eve Moss"]
    ana = next(s for s in services.stakeholders.list() if s.name == "Ana Costa")
    assert ("sms", "+12065550131") in [(c.channel, c.address) for c in ana.contacts]
    dee = next(s for s in services.stakeholders.list() if s.name == "Dee Park")
    assert [(c.channel, c.address) for c in dee.contacts] == [("email", "dee@example.com")]
    qtbot.waitUntil(lambda: ws.model.rowCount() == 4)
    assert "Imported 4" in ws.message.text()
    # one undo step removes the whole import, redo brings it back
    ws.undo_action.trigger()
    assert services.stakeholders.list() == []
    ws.redo_action.trigger()
    assert sorted(s.name for s in services.stakeholders.list()) == names


def test_csv_duplicates_are_merged_or_skipped(qtbot, ws, services, tmp_path, monkeypatch,
                                              client_of):
    from app.domain.dto import ContactPointData, StakeholderData

    existing = services.stakeholders.create(StakeholderData(
        client_id=client_of(services), name="Ana Costa", category="management",
        contacts=(ContactPointData("email", "ana@example.com", 1),)))
    path = tmp_path / "again.csv"
    path.write_text("Name,Email,Mobile\nAna C.,ana@example.com,(206) 555-0131\n", encoding="utf-8")
    dialog = _open(ws, "csv", monkeypatch)
    dialog.load(path)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    assert dialog.duplicates_model.rowCount() == 1
    assert dialog.duplicates_model.row_values(0)[2] == "Ana Costa"
    dialog.merge_radio.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    [merged] = services.stakeholders.list()
    assert merged.id == existing.id
    assert [(c.channel, c.address) for c in merged.contacts] == [
        ("email", "ana@example.com"), ("sms", "+12065550131"), ("phone", "+12065550131")]
    ws.undo_action.trigger()
    assert [c.address for c in services.stakeholders.get(existing.id).contacts] == [
        "ana@example.com"]


def test_latin1_csv_imports_with_its_accents(qtbot, ws, services, tmp_path, monkeypatch):
    path = tmp_path / "latin1.csv"
    path.write_bytes("Name;Email\nJosé Müller;jose@example.com\n".encode("latin-1"))
    dialog = _open(ws, "csv", monkeypatch)
    assert dialog.load(path)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert [s.name for s in services.stakeholders.list()] == ["José Müller"]


def test_too_big_a_file_is_refused_before_reading(qtbot, ws, tmp_path, monkeypatch):
    from app.stakeholders.importing.read import MAX_IMPORT_BYTES

    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"Name,Email\n")
        fh.truncate(MAX_IMPORT_BYTES + 1024)
    dialog = _open(ws, "csv", monkeypatch)
    assert not dialog.load(path)
    assert dialog.notice.isVisible() and "MB" in dialog.notice.text()
    assert not dialog.check_button.isEnabled()
    dialog.reject()


def test_vcard_import(qtbot, ws, services, tmp_path, monkeypatch):
    path = tmp_path / "contacts.vcf"
    path.write_text(VCF, encoding="utf-8")
    dialog = _open(ws, "vcard", monkeypatch)
    dialog.default_category.setCurrentIndex(dialog.default_category.findData("business_unit"))
    assert dialog.load(path)
    assert "2 contacts" in dialog.file_label.text()
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    people = {s.name: s for s in services.stakeholders.list()}
    assert set(people) == {"Gil Stone", "Hal Reed"}
    gil = people["Gil Stone"]
    assert gil.category == "business_unit" and gil.role == "Night supervisor"
    assert ("sms", "+12065550141") in [(c.channel, c.address) for c in gil.contacts]
    assert ("phone", "+12065550142") in [(c.channel, c.address) for c in gil.contacts]
    assert "folded across two lines" in gil.notes.replace("  ", " ")
    assert ("sms", "+12065550143") in [(c.channel, c.address) for c in people["Hal Reed"].contacts]


def test_export_round_trips(qtbot, ws, services, tmp_path, client_of):
    from app.domain.dto import ContactPointData, StakeholderData

    services.stakeholders.create(StakeholderData(
        client_id=client_of(services), name="Ivy Chan", category="regulators", role="Examiner",
        contacts=(ContactPointData("email", "ivy@example.com", 1),
                  ContactPointData("sms", "+12065550144", 2))))
    qtbot.waitUntil(lambda: ws.model.rowCount() == 1)
    target = tmp_path / "map.csv"
    assert ws.export_to(str(target)) == 1
    text = target.read_text(encoding="utf-8-sig")
    assert "Ivy Chan" in text and "ivy@example.com" in text and "+12065550144" in text
    assert "Exported 1" in ws.message.text()


def test_the_dialog_can_skip_people_with_no_way_to_reach_them(qtbot, ws, services, tmp_path,
                                                               monkeypatch):
    dialog = _open_csv(ws, tmp_path, monkeypatch)
    dialog.skip_unreachable.setChecked(True)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    problems = _rows(dialog.problems_model)
    # Bo Lind's only address is invalid: skipped now, with both reasons; Dee Park keeps her email
    assert {p[0] for p in problems} == {"3", "4", "5"}
    assert any(p[0] == "3" and "skipped, as asked" in p[2] for p in problems)
    assert "3</b> of 6 rows are ready to import (<b>1</b> with a warning)" in \
        dialog.summary.text()


GOOGLE = (
    "\ufeffFirst Name,Middle Name,Last Name,Name Suffix,Organization Title,Birthday,"
    "E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value,Address 1 - Street\r\n"
    "Zoë,Ann,Łukasiewicz-Øberg,PhD,CISO,1980-01-01,* Work,zoe@example.com,Mobile,"
    "+44 7911 123456,1 Road\r\n"
)


def test_the_dialog_shows_the_combined_name_and_every_ignored_column(qtbot, ws, services,
                                                                       tmp_path, monkeypatch):
    from PySide6.QtWidgets import QComboBox

    path = tmp_path / "google.csv"
    path.write_text(GOOGLE, encoding="utf-8")
    dialog = _open(ws, "csv", monkeypatch)
    assert dialog.load(path)
    # no full-name column: the parts are combined, and the dialog says how, with an example
    assert dialog.name_line.text() == (
        "Names: First Name + Middle Name + Last Name + Name Suffix — for example "
        "“Zoë Ann Łukasiewicz-Øberg PhD”")
    assert "<b>9</b> columns used, <b>2</b> ignored" in dialog.column_counts.text()
    # the ignored columns are listed with the reason
    dialog.column_filter.setCurrentIndex(dialog.column_filter.findData("ignored"))
    proxy = dialog.columns_proxy
    listed = [(proxy.index(r, 0).data(), proxy.index(r, 3).data())
              for r in range(proxy.rowCount())]
    assert listed == [("Birthday", "Clarion has no field for it"),
                      ("Address 1 - Street", "a postal address: not used for notifications")]
    # Google's label columns give the labels of their value columns
    labels = [r for r in range(dialog.columns_model.rowCount())
              if dialog.columns_model.index(r, 0).data() == "E-mail 1 - Label"]
    assert dialog.columns_model.index(labels[0], 3).data() == "the label of “E-mail 1 - Value”"
    # the person drops the middle name with the “Imported as” combo box
    dialog.column_filter.setCurrentIndex(dialog.column_filter.findData("all"))
    cell = proxy.index(1, 2)
    assert cell.data() == "Middle name"
    dialog.columns_view.edit(cell)
    editor = dialog.columns_view.findChild(QComboBox, "importFieldEditor")
    assert editor is not None and editor.accessibleName()
    editor.setCurrentIndex(editor.findData(None))
    editor.activated.emit(editor.currentIndex())
    qtbot.waitUntil(lambda: "Middle Name" not in dialog.name_line.text())
    assert "“Zoë Łukasiewicz-Øberg PhD”" in dialog.name_line.text()
    assert cell.data() == "— ignored —"
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    [zoe] = services.stakeholders.list()
    assert (zoe.name, zoe.role) == ("Zoë Łukasiewicz-Øberg PhD", "CISO")
    assert [(c.channel, c.address, c.label) for c in zoe.contacts] == [
        ("email", "zoe@example.com", "Work"), ("sms", "+447911123456", "Mobile"),
        ("phone", "+447911123456", "Mobile")]


def test_a_reimport_merges_into_first_names_and_says_what_changes(qtbot, ws, services, tmp_path,
                                                                   monkeypatch, client_of):
    from app.domain.dto import ContactPointData, StakeholderData

    first = services.stakeholders.create(StakeholderData(
        client_id=client_of(services), name="Zoë", category="executives",
        contacts=(ContactPointData("email", "zoe@example.com", 1),)))
    path = tmp_path / "google.csv"
    path.write_text(GOOGLE, encoding="utf-8")
    dialog = _open(ws, "csv", monkeypatch)
    assert dialog.load(path)
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1, timeout=10000)
    [dup] = _rows(dialog.duplicates_model)
    assert dup[2:] == ("Zoë", "email zoe@example.com",
                       "adds 2 contact points; name becomes Zoë Ann Łukasiewicz-Øberg PhD; "
                       "fills the role")
    with qtbot.waitSignal(dialog.accepted, timeout=10000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    [zoe] = services.stakeholders.list()
    assert zoe.id == first.id and zoe.name == "Zoë Ann Łukasiewicz-Øberg PhD"
    assert len(zoe.contacts) == 3
    ws.undo_action.trigger()   # the merge is part of the one undo step
    assert services.stakeholders.get(first.id).name == "Zoë"
