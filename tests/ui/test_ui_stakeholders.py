"""The Stakeholders workspace driven as a coordinator would: add, edit, undo, redo, delete,
filters, groups and the organisation settings."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.domain.enums import Category


@pytest.fixture
def ws(qtbot, window):
    window.nav_buttons["stakeholders"].setChecked(True)
    workspace = window.stakeholders
    qtbot.waitUntil(lambda: workspace._loaded)
    return workspace


def _add(qtbot, ws, name="Priya Shah", email="priya@example.com", category=None):
    qtbot.mouseClick(ws.new_button, Qt.MouseButton.LeftButton)
    form = ws.form
    qtbot.keyClicks(form.name, name)
    if category:
        form.category.setCurrentIndex(form.category.findData(category))
    form.new_channel.setCurrentIndex(form.new_channel.findData("email"))
    qtbot.keyClicks(form.new_address, email)
    qtbot.mouseClick(form.add_contact, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)


def test_add_stakeholder_with_category_defaults(qtbot, ws, services):
    _add(qtbot, ws, category=Category.EXECUTIVES.value)
    [stored] = services.stakeholders.list()
    assert stored.name == "Priya Shah"
    assert (stored.timing_need, stored.detail_level, stored.max_silence_minutes) == (
        "when_relevant", "impact", 60)
    assert stored.contacts[0].address == "priya@example.com"
    qtbot.waitUntil(lambda: ws.model.rowCount() == 1)
    assert ws.current().id == stored.id
    assert ws.undo_stack.count() == 1


def test_bad_input_is_shown_next_to_the_field_and_not_stored(qtbot, ws, services):
    qtbot.mouseClick(ws.new_button, Qt.MouseButton.LeftButton)
    form = ws.form
    form.new_channel.setCurrentIndex(form.new_channel.findData("sms"))
    qtbot.keyClicks(form.new_address, "12345")
    qtbot.mouseClick(form.add_contact, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert form.errors["name"].isVisible()
    assert "name" in form.errors["name"].text().lower()
    assert form.errors["contacts"].isVisible()
    assert "Contact point 1" in form.errors["contacts"].text()
    assert services.stakeholders.list() == []
    assert ws.undo_stack.count() == 0
    # the typed input is still there to be corrected
    assert form.contacts.rowCount() == 1


def test_edit_then_undo_and_redo(qtbot, ws, services):
    _add(qtbot, ws)
    sid = services.stakeholders.list()[0].id
    form = ws.form
    form.role.setText("Head of Nursing")
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert services.stakeholders.get(sid).role == "Head of Nursing"
    assert ws.undo_stack.count() == 2

    ws.undo_action.trigger()
    assert services.stakeholders.get(sid).role == ""
    qtbot.waitUntil(lambda: ws.form.role.text() == "")
    ws.redo_action.trigger()
    assert services.stakeholders.get(sid).role == "Head of Nursing"
    qtbot.waitUntil(lambda: ws.form.role.text() == "Head of Nursing")


def test_keyboard_undo_redo(qtbot, ws, services, window):
    _add(qtbot, ws)
    assert len(services.stakeholders.list()) == 1
    ws.table.setFocus()
    qtbot.keyClick(ws.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: services.stakeholders.list() == [])
    qtbot.keyClick(ws.table, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: len(services.stakeholders.list()) == 1)


def test_undo_of_add_removes_and_redo_brings_back_same_id(qtbot, ws, services):
    _add(qtbot, ws)
    original = services.stakeholders.list()[0]
    ws.undo_action.trigger()
    assert services.stakeholders.list() == []
    qtbot.waitUntil(lambda: ws.model.rowCount() == 0)
    ws.redo_action.trigger()
    again = services.stakeholders.list()[0]
    assert again.id == original.id and again.contacts == original.contacts


def test_delete_and_undo_restores_group_membership(qtbot, ws, services, client_of):
    _add(qtbot, ws)
    sid = services.stakeholders.list()[0].id
    group = services.groups.create(client_of(services), "On call")
    services.groups.set_members(group.id, {sid}, set())
    qtbot.waitUntil(lambda: ws.current() is not None and ws.current().id == sid)
    qtbot.mouseClick(ws.form.delete_button, Qt.MouseButton.LeftButton)
    assert services.stakeholders.list() == []
    assert "Undo" in ws.message.text()
    ws.undo_action.trigger()
    assert services.stakeholders.get(sid).group_ids == (group.id,)
    assert services.groups.get(group.id).stakeholder_ids == (sid,)


def test_changing_category_prefills_that_categorys_defaults(qtbot, ws):
    qtbot.mouseClick(ws.new_button, Qt.MouseButton.LeftButton)
    form = ws.form
    form.category.setCurrentIndex(form.category.findData(Category.IT_STAFF_MSP.value))
    assert form.timing.currentData() == "immediate"
    assert form.detail.currentData() == "technical"
    assert form.silence.value() == 30
    assert form.information_need.toPlainText() == "Technical state, actions, ETA"
    # a field the user changed is kept when the category changes again
    form.detail.setCurrentIndex(form.detail.findData("simple"))
    form.category.setCurrentIndex(form.category.findData(Category.EXECUTIVES.value))
    assert form.detail.currentData() == "simple"
    assert form.timing.currentData() == "when_relevant"


def test_filters_and_search(qtbot, ws, services):
    _add(qtbot, ws, "Ann Exec", "ann@example.com", Category.EXECUTIVES.value)
    _add(qtbot, ws, "Bob Tech", "bob@example.com", Category.IT_STAFF_MSP.value)
    _add(qtbot, ws, "Cid Media", "press@news.example.com", Category.MEDIA.value)
    qtbot.waitUntil(lambda: ws.proxy.rowCount() == 3)
    ws.category_filter.setCurrentIndex(ws.category_filter.findData("executives"))
    assert ws.proxy.rowCount() == 1
    ws.category_filter.setCurrentIndex(0)
    ws.detail_filter.setCurrentIndex(ws.detail_filter.findData("technical"))
    assert ws.proxy.rowCount() == 1
    ws.detail_filter.setCurrentIndex(0)
    qtbot.keyClicks(ws.search, "news.example")  # addresses are searched too
    assert ws.proxy.rowCount() == 1
    assert ws.count_label.text() == "Showing 1 of 3 stakeholders"
    ws.search.clear()
    # sorting by category puts executives before media
    ws.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    names = [ws.proxy.index(r, 0).data() for r in range(3)]
    assert names.index("Ann Exec") < names.index("Cid Media")


def test_groups_dialog_refuses_a_cycle_and_undoes(qtbot, ws, services):
    ws.edit_groups()
    dialog = ws.groups_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.new_group("Outer")
    dialog.new_group("Inner")
    groups = {g.name: g.id for g in services.groups.list(ws.client_id())}
    # Outer contains Inner
    dialog.reload(groups["Outer"])
    for row in range(dialog.members_model.rowCount()):
        item = dialog.members_model.item(row)
        if item.text() == "Group: Inner":
            item.setCheckState(Qt.CheckState.Checked)  # ticking is the edit
            break
    assert services.groups.get(groups["Outer"]).group_ids == (groups["Inner"],)
    qtbot.waitUntil(lambda: "Outer  (1)" in [dialog.groups_model.item(r).text()
                                             for r in range(dialog.groups_model.rowCount())])
    # Inner containing Outer would be a cycle: refused, next to the list, nothing stored
    dialog.reload(groups["Inner"])
    for row in range(dialog.members_model.rowCount()):
        item = dialog.members_model.item(row)
        if item.text() == "Group: Outer":
            item.setCheckState(Qt.CheckState.Checked)
            break
    assert "cycle" in dialog.notice.text()
    assert services.groups.get(groups["Inner"]).group_ids == ()

    def outer_box_unticked() -> bool:  # the box shows what is stored again
        return any(dialog.members_model.item(r).text() == "Group: Outer"
                   and dialog.members_model.item(r).checkState() == Qt.CheckState.Unchecked
                   for r in range(dialog.members_model.rowCount()))

    qtbot.waitUntil(outer_box_unticked)
    ws.undo_action.trigger()  # undo "Outer contains Inner"
    assert services.groups.get(groups["Outer"]).group_ids == ()
    dialog.reject()


def test_organisation_settings_and_matrix_saved_and_undone(qtbot, ws, services):
    ws.edit_organisation()
    dialog = ws.organisation_dialog
    qtbot.waitUntil(dialog.isVisible)
    dialog.region.setText("XX")
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.errors["default_region"].isVisible()
    dialog.region.setText("GB")
    dialog.sla.setValue(120)
    dialog.regimes["gdpr"].setChecked(True)
    who, whom = dialog.matrix["external_communication"]
    who.setCurrentIndex(who.findData("both"))
    whom.setText("Customers and the press")
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    from app.stakeholders.clients import get_matrix, list_clients

    client = next(c for c in list_clients(services.store) if c.id == ws.client_id())
    assert (client.default_region, client.notification_sla_minutes, client.regimes) == (
        "GB", 120, ("gdpr",))
    row = get_matrix(services.store, client.id)["external_communication"]
    assert (row.communicator, row.audience) == ("both", "Customers and the press")
    ws.undo_action.trigger()
    client = next(c for c in list_clients(services.store) if c.id == ws.client_id())
    assert (client.default_region, client.regimes) == ("US", ())
    assert get_matrix(services.store, client.id)["external_communication"].audience == ""


def test_new_organisation_gets_its_own_map(qtbot, ws, services):
    ws.edit_organisation(new=True)
    dialog = ws.organisation_dialog
    dialog.name.setText("Contoso Dental")
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ws.client_combo.currentText() == "Contoso Dental")
    assert ws.proxy.rowCount() == 0
    ws.undo_action.trigger()
    from app.stakeholders.clients import list_clients

    assert "Contoso Dental" not in [c.name for c in list_clients(services.store)]


def _add_organisation(qtbot, ws, name: str) -> int:
    ws.edit_organisation(new=True)
    dialog = ws.organisation_dialog
    dialog.name.setText(name)
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Save),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ws.client_combo.currentText() == name)
    return ws.client_id()


def _organisations(services) -> list[str]:
    from app.stakeholders.clients import list_clients

    return [c.name for c in list_clients(services.store)]


def _combo_names(ws) -> list[str]:
    return [ws.client_combo.itemText(i) for i in range(ws.client_combo.count())]


def test_undoing_the_addition_of_an_organisation_with_incidents_says_why_it_stays(
        qtbot, ws, services):
    client_id = _add_organisation(qtbot, ws, "Contoso Dental")
    services.incidents.open(client_id=client_id, title="Imaging server down", severity="SEV2",
                            detected_at=services.clock.now())
    ws.undo_action.trigger()
    assert ws.message.isVisible()  # undo runs at once: the refusal is on screen
    assert ws.message.text() == (
        "Could not undo “Add organisation Contoso Dental”: client: “Contoso Dental” has "
        "incidents; their record must stay, so the organisation cannot be removed.")
    assert _organisations(services) == ["Contoso Dental", "My organisation"]
    assert "Contoso Dental" in _combo_names(ws)
    assert ws.undo_stack.count() == 0  # the command that can no longer run is dropped


def test_undoing_the_addition_of_the_last_organisation_says_why_it_stays(qtbot, ws, services):
    from app.stakeholders.clients import delete_client, list_clients

    _add_organisation(qtbot, ws, "Contoso Dental")
    first = next(c for c in list_clients(services.store) if c.name == "My organisation")
    delete_client(services.store, first.id, events=services.events)  # removed meanwhile
    qtbot.waitUntil(lambda: _combo_names(ws) == ["Contoso Dental"])
    ws.undo_action.trigger()
    assert ws.message.isVisible()  # undo runs at once: the refusal is on screen
    assert ws.message.text() == ("Could not undo “Add organisation Contoso Dental”: client: "
                                 "Clarion needs at least one organisation.")
    assert _organisations(services) == ["Contoso Dental"]
    assert _combo_names(ws) == ["Contoso Dental"]
    assert ws.undo_stack.count() == 0


def test_drag_on_the_map_changes_category_and_undo_restores(qtbot, ws, services, client_of):
    from PySide6.QtCore import QPoint

    from app.domain.dto import ContactPointData, StakeholderData

    dto = services.stakeholders.create(StakeholderData(
        client_id=client_of(services), name="Rae Quinn", category="management",
        timing_need="immediate", contacts=(ContactPointData("email", "rae@example.com", 1),)))
    qtbot.waitUntil(lambda: ws.model.rowCount() == 1)
    ws.tabs.setCurrentWidget(ws.map)
    ws.map.resize(1400, 800)
    qtbot.waitUntil(lambda: not ws.map.card_rect(dto.id).isEmpty())
    viewport = ws.map.view.viewport()
    start = ws.map.card_rect(dto.id).center().toPoint()
    end = ws.map.lane_rect("executives").center().toPoint()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(viewport, pos=QPoint((start.x() + end.x()) // 2, start.y()))
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)
    qtbot.waitUntil(lambda: services.stakeholders.get(dto.id).category == "executives")
    moved = services.stakeholders.get(dto.id)
    assert moved.timing_need == "immediate"  # its own settings stay
    qtbot.waitUntil(lambda: dto.id in ws.map.view.lane_ids("executives"))  # the map redraws
    ws.undo_action.trigger()
    assert services.stakeholders.get(dto.id).category == "management"
    ws.redo_action.trigger()
    assert services.stakeholders.get(dto.id).category == "executives"


@pytest.mark.parametrize("choice", ["save", "discard", "cancel"])
def test_unsaved_edits_are_not_lost_when_selecting_another_row(qtbot, ws, services, monkeypatch,
                                                                choice):
    import ui.stakeholders.workspace as workspace_module

    _add(qtbot, ws, "First", "first@example.com")
    _add(qtbot, ws, "Second", "second@example.com")
    qtbot.waitUntil(lambda: ws.proxy.rowCount() == 2)
    ws.table.setCurrentIndex(ws.proxy.index(0, 0))  # First (sorted by name)
    assert ws.form.stakeholder.name == "First"
    ws.form.role.setText("Changed role")
    asked = []
    monkeypatch.setattr(workspace_module, "ask_unsaved",
                        lambda parent, what: asked.append(what) or choice)
    ws.table.setCurrentIndex(ws.proxy.index(1, 0))
    assert asked and "First" in asked[0]
    first = next(s for s in services.stakeholders.list() if s.name == "First")
    if choice == "save":
        assert first.role == "Changed role" and ws.form.stakeholder.name == "Second"
    elif choice == "discard":
        assert first.role == "" and ws.form.stakeholder.name == "Second"
    else:  # stay on First with the edit still in the form
        assert first.role == "" and ws.form.stakeholder.name == "First"
        assert ws.form.role.text() == "Changed role"
        assert ws.current().name == "First"
        ws.revert()


def test_an_internal_address_is_taken_with_a_quiet_note(qtbot, ws, services):
    """Issue 18: it@corp.local is an address in a company network: a note, not an error."""
    qtbot.mouseClick(ws.new_button, Qt.MouseButton.LeftButton)
    form = ws.form
    form.new_channel.setCurrentIndex(form.new_channel.findData("email"))
    qtbot.keyClicks(form.new_address, "it@corp.local")
    assert form.address_note.isVisible()
    assert "corp.local is a name inside a company network" in form.address_note.text()
    form.new_address.setText("zoë@example.com")
    assert "accents before the @" in form.address_note.text()
    form.new_channel.setCurrentIndex(form.new_channel.findData("sms"))
    assert not form.address_note.isVisible()                   # only about email
    form.new_channel.setCurrentIndex(form.new_channel.findData("email"))
    form.new_address.setText("it@corp.local")
    qtbot.mouseClick(form.add_contact, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(form.name, "Help desk")
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    [stored] = services.stakeholders.list()
    assert stored.contacts[0].address == "it@corp.local"
