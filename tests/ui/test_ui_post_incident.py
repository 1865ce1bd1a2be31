"""The post-incident dialog: summary fields with messages next to them and undo, resolution
confirmation, the remediation plan, stakeholder feedback (typed and imported), the report
export on a worker thread, and the summary opened in the composer with the fields inlined."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import Phase, Severity, TimelineKind


@pytest.fixture
def incident(services, client_of):
    cid = client_of(services)
    services.stakeholders.create(StakeholderData(
        client_id=cid, name="Carla Customer", category="customers",
        contacts=(ContactPointData("email", "carla@example.com", 1),)))
    services.stakeholders.create(StakeholderData(
        client_id=cid, name="Dana Doe", category="management",
        contacts=(ContactPointData("email", "dana@example.com", 1),)))
    return services.incidents.open(client_id=cid, title="Portal login failures",
                                   severity=Severity.SEV2, detected_at=services.clock.now())


@pytest.fixture
def dialog(qtbot, window, incident):
    window.incidents.reload()
    qtbot.waitUntil(lambda: window.incidents.current_incident() is not None)
    d = window.incidents.view.open_post_incident()
    qtbot.waitUntil(d.isVisible)
    yield d
    d.close()


def test_fields_are_checked_saved_and_undone(qtbot, dialog, services, incident):
    dialog.investigating.setChecked(False)
    qtbot.mouseClick(dialog.save_fields_button, Qt.MouseButton.LeftButton)
    assert "root cause" in dialog.field_errors["root_cause"].text().lower()
    assert not dialog.field_errors["root_cause"].isHidden()
    assert services.postincident.get(incident.id).root_cause_under_investigation  # unchanged

    qtbot.keyClicks(dialog.root_cause, "An expired SAML signing certificate")
    qtbot.keyClicks(dialog.impact, "Patients could not log in for 70 minutes")
    qtbot.keyClicks(dialog.lessons, "Certificate expiry was not monitored")
    qtbot.mouseClick(dialog.save_fields_button, Qt.MouseButton.LeftButton)
    saved = services.postincident.get(incident.id)
    assert saved.root_cause == "An expired SAML signing certificate"
    assert not saved.root_cause_under_investigation
    entries = [e for e in services.incidents.timeline(incident.id)
               if e.data.get("field") == "post_incident"]
    assert len(entries) == 1
    dialog.undo_stack.undo()
    assert services.postincident.get(incident.id).root_cause == ""
    assert dialog.root_cause.toPlainText() == ""
    dialog.undo_stack.redo()
    assert services.postincident.get(incident.id).lessons_learned == \
        "Certificate expiry was not monitored"


def test_resolution_is_confirmed_once_resolved(qtbot, dialog, services, incident):
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    assert not dialog.notice.isHidden() and "resolved" in dialog.notice.text().lower()
    assert services.postincident.get(incident.id).resolution_confirmed_at is None
    services.incidents.move_phase(incident.id, Phase.RESOLVED)
    dialog.confirmed_by.setText("Laura Chen")
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Laura Chen" in dialog.confirmed_label.text())
    assert services.postincident.get(incident.id).resolution_confirmed_by == "Laura Chen"
    assert any(e.kind == TimelineKind.DECISION.value and "Laura Chen" in e.summary
               for e in services.incidents.timeline(incident.id))
    # confirmed once: a second press says who and when, and records nothing again
    entries = len(services.incidents.timeline(incident.id))
    confirmed_at = services.postincident.get(incident.id).resolution_confirmed_at
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    assert dialog.notice.text().startswith("Already confirmed by Laura Chen at ")
    assert len(services.incidents.timeline(incident.id)) == entries
    assert services.postincident.get(incident.id).resolution_confirmed_at == confirmed_at


def test_remediation_plan_with_undo(qtbot, dialog, services, incident):
    qtbot.mouseClick(dialog.add_item_button, Qt.MouseButton.LeftButton)
    assert not dialog.item_errors["text"].isHidden()  # an action needs its text
    assert services.postincident.get(incident.id).remediation == ()
    for text, owner in (("Renew the certificate", "Ben"), ("Alert before expiry", "Alex"),
                        ("Review the runbook", "")):
        dialog.item_text.setText(text)
        dialog.item_owner.setText(owner)
        qtbot.mouseClick(dialog.add_item_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.remediation_model.rowCount() == 3)
    dialog.remediation_view.selectRow(1)
    assert dialog.item_text.text() == "Alert before expiry"
    qtbot.mouseClick(dialog.delete_item_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.remediation_model.rowCount() == 2)
    dialog.undo_stack.undo()  # back in the middle
    texts = [i.text for i in services.postincident.get(incident.id).remediation]
    assert texts == ["Renew the certificate", "Alert before expiry", "Review the runbook"]
    dialog.undo_stack.undo()  # the third add
    assert [i.text for i in services.postincident.get(incident.id).remediation] == [
        "Renew the certificate", "Alert before expiry"]
    dialog.undo_stack.redo()
    assert [i.text for i in services.postincident.get(incident.id).remediation][-1] == \
        "Review the runbook"


def test_feedback_typed_and_imported(qtbot, dialog, services, incident, tmp_path):
    dialog.feedback_who.setCurrentIndex(dialog.feedback_who.findText("Carla Customer"))
    qtbot.mouseClick(dialog.add_feedback_button, Qt.MouseButton.LeftButton)
    assert not dialog.feedback_errors["rating"].isHidden()  # no rating given
    dialog.feedback_rating.setValue(4)
    qtbot.keyClicks(dialog.feedback_comment, "Updates were clear and on time")
    qtbot.mouseClick(dialog.add_feedback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.feedback_model.rowCount() == 1)
    assert "average rating 4.0" in dialog.feedback_summary.text()

    csv = tmp_path / "survey.csv"
    csv.write_bytes("Name;Score;Comments\nDana Doe;5;Très bien\nNobody Known;x;?\n"
                    .encode("latin-1"))
    preview = dialog.import_feedback(csv)
    qtbot.waitUntil(preview.isVisible)
    assert preview.model.rowCount() == 2
    assert preview.import_button.text() == "Import 1"
    preview.accept()
    qtbot.waitUntil(lambda: dialog.feedback_model.rowCount() == 2)
    names = {f.stakeholder_name for f in services.postincident.get(incident.id).feedback}
    assert names == {"Carla Customer", "Dana Doe"}
    assert "Imported 1 feedback entry" in dialog.notice.text()


def test_export_runs_in_the_background(qtbot, dialog, tmp_path):
    dialog.format.setCurrentIndex(dialog.format.findData("md"))
    dialog.audience.setCurrentIndex(dialog.audience.findData("executive"))
    target = tmp_path / "report.md"
    dialog.export_to(target)
    assert not dialog.export_button.isEnabled() and not dialog.export_progress.isHidden()
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=20000)
    assert target.exists() and "Portal login failures" in target.read_text(encoding="utf-8")
    assert "report.md" in dialog.export_notice.text()


def test_a_pdf_that_could_not_print_a_character_says_so_beside_the_link(
        qtbot, dialog, services, incident, tmp_path):
    """The file is saved (the link is there) and the notice, in amber, names the character
    that prints as an empty box."""
    services.incidents.add_note(incident.id, "Ticket \U0010FFFD linked 🔥")
    dialog.format.setCurrentIndex(dialog.format.findData("pdf"))
    dialog.audience.setCurrentIndex(dialog.audience.findData("technical"))
    target = tmp_path / "report.pdf"
    dialog.export_to(target)
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=30000)
    assert target.read_bytes()[:5] == b"%PDF-"
    notice = dialog.export_notice.text()
    assert "report.pdf</a>" in notice
    assert "1 character had no font on this computer and prints as an empty box: " \
           "\U0010FFFD (U+10FFFD)." in notice
    assert "#7a4b00" in dialog.export_notice.styleSheet()   # a warning, not an error


def test_the_summary_opens_in_the_composer_with_the_fields_inlined(qtbot, window, dialog,
                                                                    services, incident):
    services.postincident.save_fields(incident.id, impact_summary="70 minutes",
                                      root_cause="An expired certificate",
                                      root_cause_under_investigation=False,
                                      lessons_learned="Monitor expiry")
    services.postincident.add_item(incident.id, "Alert before expiry", "Alex")
    qtbot.mouseClick(dialog.summary_button, Qt.MouseButton.LeftButton)
    composer = window.composer
    qtbot.waitUntil(lambda: window.current_workspace() is composer)
    assert composer.type_combo.currentData() == "post_incident_summary"
    inputs = composer.inputs()
    assert inputs["root_cause"] == "An expired certificate"
    assert inputs["remediation"] == "Alert before expiry"
    assert inputs["lessons"] == "Monitor expiry"


def test_sending_the_summary_meets_the_24_hour_summary_clock(qtbot, window, dialog, services,
                                                             incident, monkeypatch):
    import ui.composer.workspace as composer_module

    monkeypatch.setattr(composer_module, "confirm_despite_errors", lambda *_a: True)
    services.incidents.move_phase(incident.id, Phase.RESOLVED)
    panel = window.incidents.view.clocks
    qtbot.waitUntil(lambda: any(r.key == "post_incident_summary" for r in panel.rows()),
                    timeout=5000)
    row = next(r for r in panel.rows() if r.key == "post_incident_summary")
    assert row.template_type == "post_incident_summary"
    qtbot.mouseClick(dialog.summary_button, Qt.MouseButton.LeftButton)
    composer = window.composer
    qtbot.waitUntil(lambda: window.current_workspace() is composer)
    qtbot.waitUntil(lambda: composer.recipients_model.rowCount() > 0, timeout=5000)
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    qtbot.waitUntil(lambda: not any(r.key == "post_incident_summary" for r in panel.rows()),
                    timeout=5000)


def test_the_export_dialog_opens_in_documents_with_the_formats_filter_then_remembers(
        qtbot, dialog, tmp_path, monkeypatch):
    """Issue 17: not the program's folder and 'All Files': the Documents folder and the chosen
    format's filter; the next export starts where the last one was saved."""
    from PySide6.QtCore import QStandardPaths
    from PySide6.QtWidgets import QFileDialog

    documents = tmp_path / "Documents"
    documents.mkdir()
    monkeypatch.setattr(QStandardPaths, "writableLocation", lambda _where: str(documents))
    asked = []

    def save_as(parent, caption, suggested, filters):  # the native dialog, answered
        asked.append((suggested, filters))
        return (str(tmp_path / "reports" / "r.pdf"), filters) if len(asked) > 1 else ("", "")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    dialog.format.setCurrentIndex(dialog.format.findData("pdf"))
    dialog.choose_export_file()                               # cancelled
    suggested, filters = asked[0]
    assert Path(suggested).parent == documents and suggested.endswith(".pdf")
    assert filters == "PDF (*.pdf)"
    (tmp_path / "reports").mkdir()
    monkeypatch.setattr(dialog, "export_to", lambda path: None)
    dialog.choose_export_file()                               # saved into reports/
    dialog.format.setCurrentIndex(dialog.format.findData("html"))
    dialog.choose_export_file()
    suggested, filters = asked[2]
    assert Path(suggested).parent == tmp_path / "reports" and filters == "Web page (*.html *.htm)"
