"""Bad input for every field of the New Incident dialog: a message next to the field,
nothing stored, the dialog stays open with what was typed."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import Qt

from app.domain.enums import Phase, Severity


def _count(services):
    return len(services.incidents.list(include_archived=True))


def test_empty_title_is_refused_next_to_the_field(qtbot, open_dialog, services):
    dialog = open_dialog()
    qtbot.keyClicks(dialog.title_edit, "   ")
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.errors["title"].isVisible()
    assert "title" in dialog.errors["title"].text().lower()
    assert _count(services) == 0
    # typing clears the message
    qtbot.keyClicks(dialog.title_edit, "x")
    assert not dialog.errors["title"].isVisible()
    dialog.reject()


def test_too_long_title_is_refused_with_the_one_limit(qtbot, open_dialog, services):
    """Issue 17: a 10,000-character paste is neither cut to another number nor refused with
    a third: the one limit (200) is said as it is checked."""
    from app.incidents.lifecycle import TITLE_MAX

    dialog = open_dialog()
    dialog.title_edit.setText("A" * 10_000)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert TITLE_MAX == 200
    assert dialog.errors["title"].text() == (
        "A title is at most 200 characters; this one has 10,000.")
    assert dialog.title_edit.text() == "A" * 10_000  # kept whole for correction
    assert _count(services) == 0
    dialog.title_edit.setText("A" * 200)               # exactly the limit: taken
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert _count(services) == 1


def test_detection_in_the_future_is_refused(qtbot, open_dialog, services):
    dialog = open_dialog()
    dialog.title_edit.setText("Future incident")
    dialog.set_detected(services.clock.now() + timedelta(hours=2))
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert dialog.errors["detected_at"].isVisible()
    assert "future" in dialog.errors["detected_at"].text()
    assert _count(services) == 0
    # "Now" fixes it
    qtbot.mouseClick(dialog.now_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert _count(services) == 1


def test_old_detection_needs_explicit_confirmation(qtbot, open_dialog, services):
    dialog = open_dialog()
    dialog.title_edit.setText("Breach discovered late")
    detected = services.clock.now() - timedelta(days=30)
    dialog.set_detected(detected)
    assert not dialog.confirm_old.isVisible()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert dialog.confirm_old.isVisible()
    assert "more than 7 days" in dialog.errors["detected_at"].text()
    assert _count(services) == 0
    # still unconfirmed: still refused
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert _count(services) == 0
    dialog.confirm_old.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    created = services.incidents.list()[0]
    assert abs((created.detected_at - detected).total_seconds()) < 60


def test_changing_the_time_after_a_confirmation_asks_again(qtbot, open_dialog, services):
    dialog = open_dialog()
    dialog.title_edit.setText("Old")
    dialog.set_detected(services.clock.now() - timedelta(days=10))
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    dialog.confirm_old.setChecked(True)
    dialog.set_detected(services.clock.now() - timedelta(days=40))
    assert not dialog.confirm_old.isVisible() and not dialog.confirm_old.isChecked()
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert _count(services) == 0
    dialog.reject()


def test_no_organisation_chosen_is_refused(qtbot, open_dialog, services):
    dialog = open_dialog()
    dialog.title_edit.setText("Anything")
    dialog.client.setCurrentIndex(-1)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert dialog.errors["client"].isVisible()
    assert _count(services) == 0
    dialog.reject()


def test_every_field_reaches_the_incident(qtbot, open_dialog, services, window):
    dialog = open_dialog()
    dialog.title_edit.setText("Ransomware on file servers")
    dialog.severity.setCurrentIndex(dialog.severity.findData("SEV1"))
    qtbot.keyClicks(dialog.status_edit, "File shares encrypted at two sites")
    dialog.business.setChecked(True)
    dialog.regulatory.setChecked(True)
    dialog.drill.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    inc = services.incidents.list()[0]
    assert (inc.severity, inc.phase, inc.is_drill) == (Severity.SEV1, Phase.DETECTED, True)
    assert inc.impact_business and inc.impact_regulatory and not inc.impact_external
    assert inc.facts.status == "File shares encrypted at two sites"
    # the drill is visible in the status bar while it is the current incident
    qtbot.waitUntil(lambda: "DRILL" in window.mode_label.text())


def test_cancel_stores_nothing(qtbot, open_dialog, services):
    dialog = open_dialog()
    dialog.title_edit.setText("Never mind")
    qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel),
                     Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert _count(services) == 0
