"""pytest-qt fixtures: a real migrated SQLite store behind real services and windows."""

from __future__ import annotations

import pytest

from app.clock import SystemClock
from app.config import AppConfig


@pytest.fixture
def config(clarion_data_dir) -> AppConfig:
    cfg = AppConfig.from_env()
    cfg.ensure_dirs()
    return cfg


@pytest.fixture
def services(qapp, config):
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from ui.services import Services

    store = Store.open(config.db_path, config.backup_dir)
    clock = SystemClock()
    ensure_default_organisation(store, clock)
    s = Services.build(config, store, clock, actor="UI Tester")
    yield s
    s.close()


@pytest.fixture
def window(qtbot, services):
    from ui.mainwindow import MainWindow

    w = MainWindow(services)
    w.incidents.reload()
    w.show()
    qtbot.waitExposed(w)
    yield w
    # A test may leave refused edits in the facts editor; closing would then (rightly) ask
    # whether to save them, in a modal box nobody answers. Discard them first.
    w.incidents.view.facts.revert()
    w.stakeholders.revert()
    w.close()
    w.deleteLater()


@pytest.fixture
def open_dialog(qtbot, window):
    """Open the New Incident dialog with Ctrl+N, as a user would; returns the dialog."""
    from PySide6.QtCore import Qt

    def _open():
        window.activateWindow()
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: getattr(window.incidents, "new_dialog", None) is not None
                        and window.incidents.new_dialog.isVisible())
        return window.incidents.new_dialog

    return _open


@pytest.fixture
def create_incident(qtbot, open_dialog):
    """Create an incident through the dialog; returns its DTO."""
    from PySide6.QtCore import Qt

    def _create(title: str = "Email down for all staff"):
        dialog = open_dialog()
        qtbot.keyClicks(dialog.title_edit, title)
        with qtbot.waitSignal(dialog.accepted, timeout=3000):
            qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
        return dialog.created

    return _create


@pytest.fixture
def client_of():
    """The id of the (single) organisation of a fresh database."""
    from app.stakeholders.clients import list_clients

    return lambda services: list_clients(services.store)[0].id
