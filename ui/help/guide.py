"""Help → Your first incident (a one-page guide, resources/help/first-incident.html, offered once
on a computer's first run) and Help → Keyboard shortcuts (read from the window's menus, so the
list is always the one the window has, plus the few that belong to one workspace's editor)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QLabel, QMenuBar, QTableView, QTextBrowser, QVBoxLayout,
)

from app.paths import resource
from ui.models.base import TextTableModel
from ui.widgets.forms import configure_table, named

GUIDE_OFFERED_KEY = "help/first_incident_offered"

# shortcuts that belong to an editor, not to a menu of the window
IN_WORKSPACES = (
    ("Composer", "Queue the message", "Ctrl+Enter"),
    ("Stakeholders, clock rules", "Undo", QKeySequence(QKeySequence.StandardKey.Undo)),
    ("Stakeholders, clock rules", "Redo", "Ctrl+Shift+Z"),
    ("Stakeholder form, template library", "Save", "Ctrl+S"),
)


def _text(sequence: Any) -> str:
    seq = sequence if isinstance(sequence, QKeySequence) else QKeySequence(sequence)
    return seq.toString(QKeySequence.SequenceFormat.NativeText)


def shortcuts(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(where, what, keys) of every menu action with a shortcut, in menu order, then the
    workspaces' own."""
    rows: list[tuple[str, str, str]] = []
    for top in menu_bar.actions():
        menu = top.menu()
        if menu is None:
            continue
        where = top.text().replace("&", "")
        for action in menu.actions():
            if isinstance(action, QAction) and not action.isSeparator() and \
                    not action.shortcut().isEmpty():
                what = action.text().replace("&", "").rstrip("…").strip()
                rows.append((where, what, _text(action.shortcut())))
    rows += [(where, what, _text(keys)) for where, what, keys in IN_WORKSPACES]
    return rows


def _close_box(dialog: QDialog, name: str, accessible: str) -> QDialogButtonBox:
    """The one Close button a help window has, named for assistive technology."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    named(buttons.button(QDialogButtonBox.StandardButton.Close), name, accessible)
    return buttons


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut, from the menus themselves."""

    def __init__(self, menu_bar: QMenuBar, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setAccessibleName("Keyboard shortcuts")
        self.setWindowTitle("Keyboard shortcuts")
        self.model = TextTableModel(parent=self)
        self.model.set_rows(("Where", "What", "Keys"), shortcuts(menu_bar))
        self.table = named(QTableView(), "shortcutsTable", "Keyboard shortcuts")
        self.table.setModel(self.model)
        configure_table(self.table)
        self.table.resizeColumnsToContents()
        buttons = _close_box(self, "shortcutsClose", "Close the shortcuts")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 460)


class GuideDialog(QDialog):
    """Your first incident: one page, beside the window (non-modal)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("guideDialog")
        self.setAccessibleName("Your first incident")
        self.setWindowTitle("Your first incident")
        self.setModal(False)
        self.browser = named(QTextBrowser(), "guideText", "Your first incident, a guide")
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(resource("help", "first-incident.html").read_text(encoding="utf-8"))
        hint = QLabel("Open it again from Help → Your first incident (F1).")
        hint.setObjectName("guideHint")
        buttons = _close_box(self, "guideClose", "Close the guide")
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(640, 720)
