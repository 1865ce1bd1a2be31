"""The coordinator's path through the Incidents workspace, driven with pytest-qt."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.domain.enums import Phase, TimelineKind


def _kinds(view):
    model = view.timeline_model
    return [model.entry_at(r).kind for r in range(model.rowCount())]


def test_create_incident_through_dialog_selects_it(qtbot, window, create_incident, services):
    created = create_incident("Payroll system unreachable")
    assert created is not None
    stored = services.incidents.get(created.id)
    assert stored.title == "Payroll system unreachable"
    assert stored.phase == Phase.DETECTED
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == created.id)
    assert view.title_label.text() == "Payroll system unreachable"
    assert window.incidents.model.rowCount() == 1
    assert _kinds(view) == [TimelineKind.CREATED.value]


def answer_final_status(qtbot, text):
    """Answer the final-status question when it comes up; returns what it proposed."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QPlainTextEdit

    seen = {}

    def answer():
        box = QApplication.activeModalWidget()
        if box is None or box.objectName() != "finalStatusDialog":
            QTimer.singleShot(20, answer)
            return
        edit = box.findChild(QPlainTextEdit, "finalStatusEdit")
        seen["proposal"] = edit.toPlainText()
        edit.setPlainText(text)
        box.accept()

    QTimer.singleShot(0, answer)
    return seen


def test_move_through_every_phase_and_timeline_grows(qtbot, window, create_incident, services):
    created = create_incident()
    view = window.incidents.view
    for target in (Phase.INVESTIGATING, Phase.RESPONDING, Phase.RESOLVED, Phase.CLOSED):
        index = view.phase_combo.findData(target.value)
        assert index >= 0, f"{target} not offered from {view.incident.phase}"
        view.phase_combo.setCurrentIndex(index)
        rows_before = view.timeline_model.rowCount()
        asked = answer_final_status(qtbot, "All mail flows again.") \
            if target == Phase.RESOLVED else None
        qtbot.mouseClick(view.phase_button, Qt.MouseButton.LeftButton)
        # into resolved: the final status too (a fact change), then the phase
        added = 2 if target == Phase.RESOLVED else 1
        qtbot.waitUntil(lambda: view.timeline_model.rowCount() == rows_before + added)
        if asked is not None:
            assert asked["proposal"].startswith("Resolved at ")
            assert view.incident.facts.status == "All mail flows again."
            # the facts editor shows it too: a change made by the resolution, not an edit
            qtbot.waitUntil(lambda: view.facts.status.toPlainText() == "All mail flows again.")
            assert view.facts.state_label.text() != "Unsaved changes"
            assert view.timeline_model.entry_at(0).data["final_status"] == \
                "All mail flows again."
        assert view.incident.phase == target
        assert target.label in view.badges_label.text()
        newest = view.timeline_model.entry_at(0)
        assert newest.kind == TimelineKind.PHASE_CHANGED.value
        assert newest.data["new"] == target.value
    assert services.incidents.get(created.id).phase == Phase.CLOSED
    # closed is final: nothing to move to, severity and facts are locked
    assert not view.phase_button.isEnabled()
    assert not view.severity_button.isEnabled()
    assert view.facts.status.isReadOnly()
    assert "final" in view.facts.state_label.text()


def test_reopen_from_resolved_is_offered_and_recorded(qtbot, window, create_incident, services):
    created = create_incident()
    services.incidents.move_phase(created.id, Phase.RESOLVED)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident.phase == Phase.RESOLVED)
    offered = [view.phase_combo.itemData(i) for i in range(view.phase_combo.count())]
    assert offered == [Phase.INVESTIGATING.value, Phase.RESPONDING.value, Phase.CLOSED.value]
    assert view.phase_combo.itemText(0).startswith("Reopen")
    view.phase_combo.setCurrentIndex(0)
    qtbot.mouseClick(view.phase_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.incident.phase == Phase.INVESTIGATING)
    assert view.timeline_model.entry_at(0).data["reopen"] is True


def test_edit_facts_save_and_revert(qtbot, window, create_incident, services):
    created = create_incident()
    view = window.incidents.view
    facts = view.facts
    assert not facts.save_button.isEnabled()
    facts.status.setPlainText("Mail servers restarting; queued mail will be delivered")
    facts.services_edit.setText("Email, Calendar")
    assert facts.save_button.isEnabled()
    rows_before = view.timeline_model.rowCount()
    qtbot.mouseClick(facts.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.timeline_model.rowCount() == rows_before + 2)
    stored = services.incidents.get(created.id).facts
    assert stored.status == "Mail servers restarting; queued mail will be delivered"
    assert stored.affected_services == ("Email", "Calendar")
    changed = {view.timeline_model.entry_at(r).data.get("field") for r in range(2)}
    assert changed == {"status", "affected_services"}
    assert not facts.save_button.isEnabled()

    facts.impact.setPlainText("Nobody can send mail")
    assert facts.revert_button.isEnabled()
    qtbot.mouseClick(facts.revert_button, Qt.MouseButton.LeftButton)
    assert facts.impact.toPlainText() == ""
    assert services.incidents.get(created.id).facts.impact == ""


def test_next_update_quick_button_sets_time(qtbot, window, create_incident, services):
    created = create_incident()
    facts = window.incidents.view.facts
    qtbot.mouseClick(facts.next_update.quick[1], Qt.MouseButton.LeftButton)  # +30
    assert facts.next_update.enabled.isChecked()
    qtbot.mouseClick(facts.save_button, Qt.MouseButton.LeftButton)
    stored = services.incidents.get(created.id).facts.next_update_at
    assert stored is not None
    minutes = (stored - services.clock.now()).total_seconds() / 60
    assert 28 <= minutes <= 30.5


def test_bad_fact_is_refused_next_to_the_field(qtbot, window, create_incident, services):
    created = create_incident()
    facts = window.incidents.view.facts
    facts.services_edit.setText("x" * 150)
    qtbot.mouseClick(facts.save_button, Qt.MouseButton.LeftButton)
    assert facts.errors["affected_services"].isVisible()
    assert "100 characters" in facts.errors["affected_services"].text()
    assert services.incidents.get(created.id).facts.affected_services == ()
    assert facts.save_button.isEnabled()  # the input is kept for correction, not lost


def test_note_and_decision_entry(qtbot, window, create_incident, services):
    create_incident()
    view = window.incidents.view
    qtbot.mouseClick(view.note_button, Qt.MouseButton.LeftButton)
    assert view.note_error.isVisible()
    assert "Write the note" in view.note_error.text()
    qtbot.keyClicks(view.note_edit, "Vendor ticket opened")
    assert not view.note_error.isVisible()
    qtbot.mouseClick(view.note_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.timeline_model.entry_at(0).kind == TimelineKind.NOTE.value)
    assert view.timeline_model.entry_at(0).summary == "Vendor ticket opened"
    assert view.note_edit.toPlainText() == ""
    qtbot.keyClicks(view.note_edit, "Fail over to the secondary site")
    qtbot.mouseClick(view.decision_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.timeline_model.entry_at(0).kind == TimelineKind.DECISION.value)


def test_severity_and_flags(qtbot, window, create_incident, services):
    created = create_incident()
    view = window.incidents.view
    view.severity_combo.setCurrentIndex(view.severity_combo.findData("SEV1"))
    qtbot.mouseClick(view.severity_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.incident.severity.value == "SEV1")
    assert view.timeline_model.entry_at(0).data == {
        "old": "SEV2", "new": "SEV1", "increase": True, "reason": ""}
    # the same severity again is refused with a message, nothing appended
    rows = view.timeline_model.rowCount()
    qtbot.mouseClick(view.severity_button, Qt.MouseButton.LeftButton)
    assert view.control_error.isVisible() and "already SEV1" in view.control_error.text()
    assert view.timeline_model.rowCount() == rows
    view.flag_checks[next(iter(view.flag_checks))].click()
    qtbot.waitUntil(lambda: services.incidents.get(created.id).impact_business)
    assert view.timeline_model.entry_at(0).kind == TimelineKind.FLAG_CHANGED.value


def test_timeline_grows_live_from_outside_the_view(qtbot, window, create_incident, services):
    created = create_incident()
    view = window.incidents.view
    rows = view.timeline_model.rowCount()
    with qtbot.waitSignal(services.qt_events.timeline_appended, timeout=2000):
        services.incidents.add_note(created.id, "Appended by another part of the app")
    qtbot.waitUntil(lambda: view.timeline_model.rowCount() == rows + 1)
    assert view.timeline_model.rowCount() == rows + 1
    assert view.timeline_count.text() == f"{rows + 1} entries"


def test_timeline_filter_by_kind(qtbot, window, create_incident, services):
    created = create_incident()
    services.incidents.add_note(created.id, "one")
    services.incidents.add_decision(created.id, "two")
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.timeline_model.rowCount() == 3)
    view.kind_filter.setCurrentIndex(view.kind_filter.findData(TimelineKind.DECISION.value))
    assert view.timeline_model.rowCount() == 1
    assert view.timeline_count.text() == "1 of 3 entries"
    view.kind_filter.setCurrentIndex(0)
    assert view.timeline_model.rowCount() == 3


def test_incident_list_filters_and_search(qtbot, window, services):
    from app.stakeholders.clients import list_clients
    client = list_clients(services.store)[0]
    a = services.incidents.open(client_id=client.id, title="VPN outage", severity="SEV1",
                                detected_at=services.clock.now())
    services.incidents.open(client_id=client.id, title="Printer queue stuck", severity="SEV4",
                            detected_at=services.clock.now())
    services.incidents.move_phase(a.id, Phase.CLOSED)
    ws = window.incidents
    qtbot.waitUntil(lambda: ws.model.rowCount() == 2)
    assert ws.proxy.rowCount() == 2  # default: every phase
    ws.phase_filter.setCurrentIndex(ws.phase_filter.findData(ws.proxy.OPEN))
    assert ws.proxy.rowCount() == 1  # the closed one is hidden
    ws.phase_filter.setCurrentIndex(ws.phase_filter.findData(None))
    ws.severity_filter.setCurrentIndex(ws.severity_filter.findData("SEV4"))
    assert ws.proxy.rowCount() == 1
    ws.severity_filter.setCurrentIndex(0)
    qtbot.keyClicks(ws.search, "vpn")
    assert ws.proxy.rowCount() == 1
    assert ws.current_incident().title == "VPN outage"
    assert ws.count_label.text() == "Showing 1 of 2 incidents"


def test_switching_incident_with_unsaved_facts_asks(qtbot, window, services, monkeypatch):
    import ui.incidents.workspace as workspace_module
    from app.stakeholders.clients import list_clients

    cid = list_clients(services.store)[0].id
    a = services.incidents.open(client_id=cid, title="A outage", severity="SEV2",
                                detected_at=services.clock.now())
    services.incidents.open(client_id=cid, title="B outage", severity="SEV3",
                            detected_at=services.clock.now())
    ws = window.incidents
    qtbot.waitUntil(lambda: ws.model.rowCount() == 2)
    ws.select_incident(a.id)
    ws.view.facts.status.setPlainText("Edited but not saved")
    monkeypatch.setattr(workspace_module, "ask_unsaved", lambda parent, what: "cancel")
    other = next(r for r in range(ws.proxy.rowCount())
                 if ws.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 2).id != a.id)
    ws.table.setCurrentIndex(ws.proxy.index(other, 0))
    assert ws.view.incident.id == a.id  # stayed
    assert ws.view.facts.status.toPlainText() == "Edited but not saved"
    monkeypatch.setattr(workspace_module, "ask_unsaved", lambda parent, what: "save")
    ws.table.setCurrentIndex(ws.proxy.index(other, 0))
    assert ws.view.incident.id != a.id
    assert services.incidents.get(a.id).facts.status == "Edited but not saved"
