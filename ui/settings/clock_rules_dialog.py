"""Settings → Incident clock rules: each organisation's update cadence per severity (the seed's
defaults until changed), the escalation rules and who is asked to confirm (and how long to wait
for it). Every change is stored at once through
app/clocks/rules.py and is one step on the dialog's undo stack (Ctrl+Z / Ctrl+Shift+Z).

The tabs are ui/settings/clock_rules_cadence.py, clock_rules_escalation.py and
clock_rules_acks.py; this
dialog holds them, their shared undo stack and message line, and asks about unsaved edits."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QUndoStack
from PySide6.QtWidgets import QDialog, QPushButton, QTabWidget, QVBoxLayout, QWidget

from ui.services import Services
from ui.settings.clock_rules_acks import AckPolicyPage
from ui.settings.clock_rules_cadence import CadencePage
from ui.settings.clock_rules_escalation import EscalationPage
from ui.widgets.forms import NoticeLabel, ask_unsaved, named, undo_footer

__all__ = ["CadencePage", "ClockRulesDialog", "EscalationPage", "ask_unsaved"]


def _ask_unsaved(parent: QWidget, what: str) -> str:
    """The question both tabs ask about unsaved edits: this module's ask_unsaved, looked up at
    each call (so it stays replaceable here, as tests do)."""
    return ask_unsaved(parent, what)


class ClockRulesDialog(QDialog):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("clockRulesDialog")
        self.setAccessibleName("Incident clock rules")
        self.setWindowTitle("Incident clock rules")
        self.resize(1180, 720)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("clockRulesUndoStack")
        self.notice = NoticeLabel("clockRulesNotice")
        self.cadence = CadencePage(services, self.undo_stack, self.notice, _ask_unsaved)
        self.escalation = EscalationPage(services, self.undo_stack, self.notice, _ask_unsaved)
        self.confirmations = AckPolicyPage(services, self.undo_stack, self.notice, _ask_unsaved)
        self.tabs = named(QTabWidget(), "clockRulesTabs", "Clock rules")
        self.tabs.addTab(self.cadence, "&Update cadence")
        self.tabs.addTab(self.escalation, "&Escalation rules")
        self.tabs.addTab(self.confirmations, "C&onfirmations")

        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setObjectName("clockRulesUndoAction")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setObjectName("clockRulesRedoAction")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        self.undo_button, self.redo_button, bottom = undo_footer(self, self.undo_stack,
                                                                 "clockRules")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.notice)
        layout.addLayout(bottom)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.tabs.currentChanged.connect(self._tab_changed)
        self._tab_changed(0)
        # Queued: a tick in the rule table must not rebuild that table inside its own setData.
        services.qt_events.clock_rules_changed.connect(self._rules_changed,
                                                       Qt.ConnectionType.QueuedConnection)

    def _rules_changed(self) -> None:
        self.cadence.reload()
        self.escalation.reload()
        self.confirmations.reload()

    def _tab_changed(self, index: int) -> None:
        self.cadence.save_button.setDefault(index == 0)
        self.escalation.save_button.setDefault(index == 1)
        self.confirmations.save_button.setDefault(index == 2)

    def reject(self) -> None:
        for page in (self.cadence, self.escalation):
            if page.is_dirty():
                self.tabs.setCurrentWidget(page)
                if not page.leave():
                    return
        super().reject()
