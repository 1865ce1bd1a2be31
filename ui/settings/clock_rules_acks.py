"""Settings → Incident clock rules, the "Confirmations" tab (issue 25): per stakeholder category,
which template types ask it to reply YES by default (the composer's "Ask to confirm"), and how
long to wait for that confirmation per severity before Clarion proposes to reach the person by
their next contact point. Each change is stored at once through app/acks/policy.py and is one
step on the dialog's undo stack; "Back to default" restores a category's built-in policy."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout,
)

from app.acks.policy import MAX_WAIT, SEVERITIES, AckPolicies, CategoryPolicy
from app.domain.enums import Category
from app.errors import ClarionError, ValidationError
from app.messages.library import TYPE_LABELS, TYPES
from ui.models.base import DTO_ROLE, DtoTableModel, Index
from ui.services import Services
from ui.settings.clock_rules_cadence import AskUnsaved, RulesPage
from ui.widgets.forms import NoticeLabel, configure_table, named

SHORT_TYPES = {"initial_acknowledgment": "Initial\nack.", "status_update": "Status\nupdate",
               "escalation_notice": "Escalation", "resolution_notice": "Resolution",
               "post_incident_summary": "Post-\nincident", "regulatory_notification":
               "Regulatory"}
FIRST_TYPE = 1                                   # the columns after the category
FIRST_WAIT = FIRST_TYPE + len(TYPES)
SOURCE = FIRST_WAIT + len(SEVERITIES)


class AckPolicyModel(DtoTableModel[CategoryPolicy]):
    """One row per stakeholder category: a tick box per template type (asks to confirm) and an
    editable wait per severity. An edit asks for the change through `change_wanted` (the page
    stores it, undoably, and the model reloads from the store)."""

    COLUMNS = ("Category", *(SHORT_TYPES[t] for t in TYPES),
               *(f"Wait\n{s}" for s in SEVERITIES), "Source")
    change_wanted = Signal(str, object, object)   # category, ask types, waits

    def set_policies(self, policies: dict[str, CategoryPolicy]) -> None:
        self.replace_rows([policies[c.value] for c in Category])

    def row_of(self, category: str) -> int:
        return next((n for n, p in enumerate(self._rows) if p.category == category), -1)

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.isValid() and FIRST_TYPE <= index.column() < FIRST_WAIT:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        if index.isValid() and FIRST_WAIT <= index.column() < SOURCE:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        policy, column = self._rows[index.row()], index.column()
        if role == DTO_ROLE:
            return policy
        if FIRST_TYPE <= column < FIRST_WAIT:
            template_type = TYPES[column - FIRST_TYPE]
            if role == Qt.ItemDataRole.CheckStateRole:
                return Qt.CheckState.Checked if policy.asks(template_type) \
                    else Qt.CheckState.Unchecked
            if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
                return (f"{TYPE_LABELS[template_type]} "
                        f"{'asks' if policy.asks(template_type) else 'does not ask'} "
                        f"{Category(policy.category).label.lower()} to confirm")
            return None
        if FIRST_WAIT <= column < SOURCE:
            minutes = policy.wait_minutes(SEVERITIES[column - FIRST_WAIT])
            if role == Qt.ItemDataRole.EditRole:
                return minutes
            if role == Qt.ItemDataRole.DisplayRole:
                return f"{minutes} min" if minutes < 120 or minutes % 60 else \
                    f"{minutes // 60} h"
            if role == Qt.ItemDataRole.ToolTipRole:
                return (f"Wait this long for {Category(policy.category).label.lower()} to "
                        f"confirm a {SEVERITIES[column - FIRST_WAIT]} message "
                        f"(1–{MAX_WAIT:,} min); double-click to change")
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == 0:
                return Category(policy.category).label
            return "customised" if policy.edited else "default"
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid():
            return False
        policy, column = self._rows[index.row()], index.column()
        types, waits = list(policy.ask_types), dict(policy.wait)
        if FIRST_TYPE <= column < FIRST_WAIT and role == Qt.ItemDataRole.CheckStateRole:
            template_type = TYPES[column - FIRST_TYPE]
            wanted = Qt.CheckState(value) == Qt.CheckState.Checked
            if wanted == policy.asks(template_type):
                return True
            types = [t for t in types if t != template_type] + ([template_type] if wanted
                                                                 else [])
        elif FIRST_WAIT <= column < SOURCE and role == Qt.ItemDataRole.EditRole:
            severity = SEVERITIES[column - FIRST_WAIT]
            if str(value).strip() == str(waits[severity]):
                return True
            waits[severity] = value
        else:
            return False
        self.change_wanted.emit(policy.category, types, waits)
        return True


class AckPolicyPage(RulesPage):
    def __init__(self, services: Services, undo_stack: QUndoStack, notice: NoticeLabel,
                 ask_unsaved: AskUnsaved) -> None:
        super().__init__(services, undo_stack, notice, ask_unsaved)
        self.policies = AckPolicies(services.store, services.clock, services.events)
        explain = QLabel(
            "Tick a template type to make its messages ask that category to <b>reply YES</b> "
            "by default (the composer's <i>Ask to confirm</i>; the coordinator can still turn "
            "it off or ask everyone). Clarion marks who confirms, by email or SMS, and once "
            "the <b>wait</b> for the incident's severity has passed without a confirmation it "
            "proposes to reach those people by their next contact point.")
        explain.setObjectName("ackPolicyExplainLabel")
        explain.setWordWrap(True)
        self.model = AckPolicyModel(self)
        self.table = configure_table(named(QTableView(), "ackPolicyTable",
                                           "Confirmations per stakeholder category"))
        self.table.setModel(self.model)
        self.table.setSortingEnabled(False)
        self.table.setEditTriggers(QTableView.EditTrigger.DoubleClicked
                                   | QTableView.EditTrigger.EditKeyPressed
                                   | QTableView.EditTrigger.AnyKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.reset_button = named(QPushButton("Back to default"), "resetAckPolicyButton",
                                  "Back to the built-in confirmation policy for this category")
        # the dialog marks one button per tab as its default (nothing to save here: each
        # change is stored at once)
        self.save_button = self.reset_button
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        effect = QLabel("A change takes effect at once: the composer's default for new "
                        "messages, and the wait of messages already sent.")
        effect.setObjectName("ackPolicyEffectLabel")
        effect.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(explain)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(effect)
        self.model.change_wanted.connect(self.change)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._row_changed(current))
        self.reset_button.clicked.connect(self.reset)
        self.reload()

    def reload(self) -> None:
        current = self.current_category()
        loaded = self.policies.load()
        if [loaded[c.value] for c in Category] == self.model._rows:
            return      # told of its own change: a reset would close a cell being edited
        self.model.set_policies(loaded)
        row = max(self.model.row_of(current), 0) if current else 0
        self.table.selectRow(row)
        self._row_changed(self.model.index(row, 0))

    def current_category(self) -> str | None:
        index = self.table.currentIndex()
        return self.model.row_at(index.row()).category if index.isValid() else None

    def _row_changed(self, current: QModelIndex) -> None:
        policy = self.model.row_at(current.row()) if current.isValid() else None
        self.reset_button.setEnabled(bool(policy and policy.edited))

    def is_dirty(self) -> bool:
        return False    # every change is stored at once

    def leave(self) -> bool:
        return True

    def change(self, category: str, types: Any, waits: Any) -> bool:
        """Store one category's policy, as one undoable step."""
        before = self.model.row_at(self.model.row_of(category))
        try:
            self.policies.save(category, types, waits)
        except ValidationError as exc:
            self.notice.show_error(" ".join(exc.errors.values()))
            self.reload()
            return False
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return False
        label = Category(category).label.lower()
        self.push(f"change the confirmations of {label}",
                  lambda: self.policies.save(category, types, waits),
                  lambda: self.policies.save(category, before.ask_types, before.wait))
        self.reload()
        self.notice.show_info(f"Saved: confirmations of {label}.")
        return True

    def reset(self) -> None:
        category = self.current_category()
        if category is None:
            return
        before = self.model.row_at(self.model.row_of(category))
        if not before.edited:
            return
        self.policies.reset(category)
        self.push(f"reset the confirmations of {Category(category).label.lower()}",
                  lambda: self.policies.reset(category),
                  lambda: self.policies.save(category, before.ask_types, before.wait))
        self.reload()
        self.notice.show_info(f"{Category(category).label} is back to the built-in "
                              "confirmation policy.")
