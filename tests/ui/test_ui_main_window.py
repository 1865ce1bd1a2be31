"""The main window: navigation, status bar, shortcuts, geometry, names, the exception hook."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit,
    QPlainTextEdit, QWidget,
)

INTERACTIVE = (QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit, QAbstractSpinBox,
               QAbstractItemView)


def _inside_a_control(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, (QComboBox, QAbstractSpinBox, QAbstractItemView, QLineEdit)) or \
                type(parent).__name__ == "QComboBoxPrivateContainer":
            return True
        parent = parent.parentWidget()
    return False


def _interactive_widgets(root: QWidget) -> list[QWidget]:
    """Controls a user operates. Qt's own sub-widgets (a combo box's popup list, a spin box's
    line edit, a table's corner button) belong to their control and are named through it."""
    found = [w for w in root.findChildren(QWidget) if isinstance(w, INTERACTIVE)]
    return [w for w in found if not w.objectName().startswith("qt_") and not _inside_a_control(w)]


def test_workspaces_are_built_when_first_opened(window):
    assert "composer" not in window._workspaces  # start-up builds only the first
    window.nav_buttons["composer"].setChecked(True)
    assert window.current_workspace() is window.composer


def test_navigation_lists_the_workspaces_that_exist(window):
    assert window.workspace_names() == ["Incidents", "Stakeholders", "Composer", "Outbox"]
    assert window.current_workspace() is window.incidents


def test_status_bar_shows_database_path_and_mode(window, services):
    assert str(services.store.path) in window.db_label.text()
    assert window.mode_label.text().startswith("Live")


def test_ctrl_f_focuses_search(qtbot, window):
    window.activateWindow()
    window.incidents.view.note_edit.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.incidents.search.hasFocus())


def test_every_interactive_widget_is_named(qtbot, window, open_dialog):
    window.stakeholders, window.composer  # build the workspaces that are made on first use
    dialog = open_dialog()
    missing = []
    for root in (window, dialog):
        for w in _interactive_widgets(root):
            if not w.objectName() or not w.accessibleName():
                missing.append(f"{type(w).__name__} '{w.objectName()}' text="
                               f"{getattr(w, 'text', lambda: '')()!r}")
    dialog.reject()
    assert missing == []


def test_every_interactive_widget_is_reachable_by_tab(qtbot, window, open_dialog):
    window.stakeholders, window.composer
    dialog = open_dialog()
    unreachable = []
    for root in (window, dialog):
        for w in _interactive_widgets(root):
            group = getattr(w, "group", lambda: None)()
            if group is not None and group.exclusive():
                # A radio-style group (the navigation): Qt tabs to the checked button and the
                # arrow keys move within the group; Ctrl+1/2 reach each workspace too.
                if not any(b.focusPolicy() & Qt.FocusPolicy.TabFocus for b in group.buttons()):
                    unreachable.append(f"group of {w.objectName()}")
                continue
            if not (w.focusPolicy() & Qt.FocusPolicy.TabFocus):
                unreachable.append(w.objectName())
    dialog.reject()
    assert unreachable == []


def test_tab_walks_through_the_dialog_in_order(qtbot, open_dialog):
    dialog = open_dialog()
    seen = []
    widget = dialog.client
    for _ in range(40):
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.objectName() and \
                widget.isVisible() and not _inside_a_control(widget):
            seen.append(widget.objectName())
        widget = widget.nextInFocusChain()
    dialog.reject()
    expected = ["clientCombo", "titleEdit", "severityCombo", "detectedAtEdit",
                "detectedNowButton", "initialStatusEdit", "businessImpactCheck",
                "externalImpactCheck", "regulatoryImpactCheck", "drillCheck"]
    assert seen[:len(expected)] == expected
    assert "openIncidentButton" in seen


def test_geometry_is_remembered(qtbot, services, qapp):
    from ui.mainwindow import MainWindow

    first = MainWindow(services)
    first.show()
    qtbot.waitExposed(first)
    first.resize(1300, 760)
    qtbot.waitUntil(lambda: first.width() == 1300)
    first.close()
    first_geometry = services.settings.value("window/geometry")
    first.deleteLater()
    second = MainWindow(services)
    second.show()
    qtbot.waitExposed(second)
    try:
        # The offscreen screen is 800 px wide, so Qt keeps the width at the window's minimum;
        # the height fits and must come back exactly.
        assert second.height() == 760
        assert first_geometry is not None and not first_geometry.isEmpty()
        assert services.settings.value("window/geometry") is not None
        assert services.config.settings_path.exists()  # under CLARION_DATA_DIR, not $HOME
    finally:
        second.close()
        second.deleteLater()


def test_exception_hook_shows_dialog_logs_and_window_survives(qtbot, window, config, tmp_path):
    from app.logs import configure_logging
    from ui.excepthook import ExceptionReporter

    handler = configure_logging(config.log_path)
    reporter = ExceptionReporter(str(config.log_path))
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        with qtbot.waitSignal(reporter.reported, timeout=2000):
            reporter.handle(type(exc), exc, exc.__traceback__)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    assert "boom in a slot" in reporter.dialog.text()
    assert "RuntimeError" in reporter.dialog.detailedText()
    handler.flush()
    log_text = config.log_path.read_text()
    assert "boom in a slot" in log_text and "Traceback" in log_text
    assert window.isVisible()
    reporter.dialog.close()
    logging.getLogger().removeHandler(handler)
    handler.close()


def test_an_uncaught_error_in_words_is_shown_in_words_without_a_traceback(qtbot, window):
    import sqlite3

    from app.storage.space import StorageUnavailable, problem_of
    from ui.excepthook import ExceptionReporter

    reporter = ExceptionReporter()
    full = StorageUnavailable(problem_of(sqlite3.OperationalError("database or disk is full")))
    with qtbot.waitSignal(reporter.said, timeout=2000):
        reporter.handle(type(full), full, None)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    assert reporter.dialog.objectName() == "notDoneDialog"
    assert reporter.dialog.text().startswith("The disk holding the database is full")
    assert reporter.dialog.detailedText() == ""   # no traceback for a sentence
    assert "Nothing was half-saved" in reporter.dialog.informativeText()
    reporter.dialog.close()


def test_unsaved_facts_are_not_lost_on_close(qtbot, window, create_incident, services, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    created = create_incident()
    window.incidents.view.facts.impact.setPlainText("Half the building offline")
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *a, **k: QMessageBox.StandardButton.Save))
    window.close()
    assert services.incidents.get(created.id).facts.impact == "Half the building offline"


def test_every_workspace_shortcut_is_in_the_view_menu_and_works(qtbot, window):
    """Issue 17: Ctrl+1–4 appear in a menu (one owner per shortcut, or Qt fires none), and
    Help lists every shortcut the menus have."""
    from PySide6.QtGui import QKeySequence

    from ui.help.guide import ShortcutsDialog, shortcuts

    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    keys = {a.text().replace("&", ""): a.shortcut().toString() for a in view.actions()}
    assert keys == {"Incidents": "Ctrl+1", "Stakeholders": "Ctrl+2", "Composer": "Ctrl+3",
                    "Outbox": "Ctrl+4"}
    assert all(b.shortcut().isEmpty() for b in window.nav_buttons.values())
    window.workspace_actions["outbox"].trigger()
    assert window.current_workspace() is window.outbox
    window.workspace_actions["incidents"].trigger()
    assert window.current_workspace() is window.incidents
    listed = shortcuts(window.menuBar())
    assert ("View", "Composer", "Ctrl+3") in listed
    assert ("File", "New incident", QKeySequence("Ctrl+N").toString()) in listed
    assert ("Help", "Your first incident", "F1") in listed
    dialog = window.show_shortcuts()
    assert isinstance(dialog, ShortcutsDialog)
    assert dialog.model.rowCount() == len(listed) > 10
    dialog.reject()


def test_the_guide_opens_beside_the_window_and_is_offered_once_where_someone_sees_it(
        qtbot, window, monkeypatch):
    from PySide6.QtGui import QGuiApplication

    from ui.help.guide import GUIDE_OFFERED_KEY

    guide = window.show_guide()
    assert guide.isVisible() and not guide.isModal()
    text = guide.browser.toPlainText()
    assert "Your first incident" in text and "drill" in text and "Ctrl+N" in text
    guide.close()
    assert not window.offer_guide()                 # headless here (offscreen): never
    assert not window.services.settings.value(GUIDE_OFFERED_KEY)
    monkeypatch.setattr(QGuiApplication, "platformName", staticmethod(lambda: "xcb"))
    assert window.offer_guide() and window.guide.isVisible()
    window.guide.close()
    assert not window.offer_guide()                 # once per computer
