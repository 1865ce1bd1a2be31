"""Who is at the desk, in the window: a new database shows the non-modal bar prefilled with the
OS account's full name and works meanwhile; confirming makes a coordinator and remembers them on
this computer; File → Switch coordinator… hands over (every open incident's timeline says so)
and what is written next carries the new person."""

from __future__ import annotations

import pytest

from app.domain.enums import Severity


@pytest.fixture
def fresh(qapp, qtbot, config, monkeypatch):
    """A window on a new database, nobody confirmed yet; the OS account's full name is
    "Dana Brooks"."""
    from app.clock import SystemClock
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from ui.mainwindow import MainWindow
    from ui.services import Services

    monkeypatch.setattr("app.coordinators.service.os_full_name", lambda: "Dana Brooks")
    store = Store.open(config.db_path, config.backup_dir)
    clock = SystemClock()
    client = ensure_default_organisation(store, clock)
    services = Services.build(config, store, clock)
    window = MainWindow(services)
    window.show()
    qtbot.waitExposed(window)
    yield window, services, client.id
    window.close()
    window.deleteLater()
    services.close()


def test_a_new_database_asks_without_blocking_and_remembers_the_answer(qtbot, fresh, config):
    window, services, client_id = fresh
    bar = window.desk_bar
    assert bar.isVisible() and bar.name_edit.text() == "Dana Brooks"
    assert window.desk_label.text() == "Signing as Dana Brooks (not confirmed)"
    # the window works meanwhile: an incident opened now is signed with the prefilled name
    before = services.incidents.open(client_id=client_id, title="Portal down",
                                     severity=Severity.SEV2, detected_at=services.clock.now())
    first = services.incidents.timeline(before.id)[0]
    assert (first.actor, first.coordinator_id) == ("Dana Brooks", None)

    bar.name_edit.setText("")
    bar.confirm_button.click()
    assert bar.isVisible() and bar.error.text() == "Enter the coordinator's name."
    bar.name_edit.setText("Dana  Brooks")
    bar.confirm_button.click()
    assert not bar.isVisible()
    dana = services.coordinators.find("Dana Brooks")
    assert services.desk.coordinator_id == dana.id
    assert window.desk_label.text() == "Signing as Dana Brooks"
    assert int(services.settings.value("desk/main/coordinator_id")) == dana.id
    note = services.incidents.add_note(before.id, "Certificates checked")
    assert (note.actor, note.coordinator_id) == ("Dana Brooks", dana.id)

    # the next start on this computer knows who is at the desk
    from ui.services import Services

    again = Services.build(config, services.store, services.clock)
    assert again.desk.confirmed and again.desk.coordinator_id == dana.id


def test_a_shift_change_hands_over_every_open_incident(qtbot, window, services, client_of):
    inc = services.incidents.open(client_id=client_of(services), title="Portal down",
                                  severity=Severity.SEV2, detected_at=services.clock.now())
    before = services.desk.name
    dialog = window.switch_coordinator()
    qtbot.addWidget(dialog)
    combo = dialog.person_combo
    assert combo.itemData(combo.currentIndex()) == dialog.NEW   # nobody else yet
    assert dialog.new_box.isVisible()
    dialog.email_edit.setText("not an address")
    dialog.ok_button.click()
    assert dialog.isVisible() and dialog.errors["name"].text() == "Enter the coordinator's name."
    assert dialog.errors["email"].text().startswith("Not a valid email address")
    dialog.name_edit.setText("Sam Reyes")
    dialog.email_edit.setText("sam@harbor.example")
    dialog.ok_button.click()
    assert not dialog.isVisible()
    sam = services.coordinators.find("Sam Reyes")
    assert services.desk.coordinator_id == sam.id
    assert window.desk_label.text() == "Signing as Sam Reyes"
    entries = services.incidents.timeline(inc.id)
    handed = [e for e in entries if e.kind == "coordinator_changed"]
    assert [(e.summary, e.coordinator_id) for e in handed] == [
        (f"Sam Reyes took over from {before}", sam.id)]
    decision = services.incidents.add_decision(inc.id, "Fail over")
    assert (decision.actor, decision.coordinator_id) == ("Sam Reyes", sam.id)
    # the dialog lists the people now, and offers someone other than who is signing
    dialog = window.switch_coordinator()
    qtbot.addWidget(dialog)
    assert dialog.person_combo.currentData() != sam.id
    dialog.reject()


def test_the_coordinators_list_edits_with_undo_and_keeps_who_wrote_entries(qtbot, window,
                                                                           services, client_of):
    dialog = window.edit_coordinators()
    qtbot.addWidget(dialog)
    me = services.desk.name
    assert [dialog.model.row_at(r).name for r in range(dialog.model.rowCount())] == [me]
    assert dialog.model.data(dialog.model.index(0, 4)) == "At this desk"

    dialog.start_new()
    dialog.edits["name"].setText("Sam Reyes")
    dialog.edits["phone"].setText("12")
    assert dialog.save() is None and dialog.errors["phone"].text()  # refused, not stored
    assert services.coordinators.find("Sam Reyes") is None
    dialog.edits["phone"].setText("+1 206 555 0199")
    sam = dialog.save()
    assert sam.phone == "+12065550199" and dialog.current().id == sam.id

    dialog.edits["role_note"].setText("night shift")
    dialog.save()
    assert services.coordinators.get(sam.id).role_note == "night shift"
    dialog.undo_stack.undo()                                   # the edit
    assert services.coordinators.get(sam.id).role_note == ""
    dialog.undo_stack.undo()                                   # the addition
    assert services.coordinators.find("Sam Reyes") is None
    dialog.undo_stack.redo()
    assert services.coordinators.find("Sam Reyes") is not None

    # the one at the desk wrote an entry: deleting is refused, and so is making them inactive
    services.incidents.open(client_id=client_of(services), title="Portal down",
                            severity=Severity.SEV3, detected_at=services.clock.now())
    dialog.reload(services.desk.coordinator_id)
    assert dialog.delete() is None and "switch coordinator first" in dialog.notice.text()
    dialog.active_box.setChecked(False)
    assert dialog.save() is None
    assert services.coordinators.get(services.desk.coordinator_id).active
    dialog.reject()
