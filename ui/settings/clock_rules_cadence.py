"""Settings → Incident clock rules, the "Update cadence" tab: each organisation's update cadence
per severity (the seed's defaults until changed). Also the base both tabs share. The dialog that
holds the tabs is ui/settings/clock_rules_dialog.py."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox,
    QTableView, QVBoxLayout, QWidget,
)

from app.clocks.cadence import POLICY_BOUNDS, CadencePolicy
from app.stakeholders.clients import list_clients
from app.errors import ClarionError, ValidationError
from ui.services import Services
from ui.settings.clock_rules_models import CADENCE_FIELDS, CadenceTableModel, bounds_text
from ui.stakeholders.commands import ServiceCommand
from ui.widgets.forms import ErrorLabel, NoticeLabel, configure_table, named, with_error

# How the dialog asks what to do with unsaved edits: "save", "discard" or "cancel".
AskUnsaved = Callable[[QWidget, str], str]

PHASES_LINE = ("<b>Detected</b> → acknowledge within N min · <b>Investigating</b> → an update "
               "every N min · <b>Responding</b> → on each significant change, and at least every "
               "N min · in both, an update N min after a fact changes · <b>Resolved</b> → a "
               "completion notice within N min, then the post-incident summary within N h.")
# form label and what follows the number, per cadence field
CADENCE_LABELS = {
    "acknowledge_minutes": ("&Acknowledge within", "after detection"),
    "investigating_minutes": ("While &investigating, update every", ""),
    "responding_minutes": ("While &responding, update at least every",
                           "and on each significant change"),
    "fact_update_minutes": ("After a &fact change, update within",
                            "(time to gather related changes; 0: at once)"),
    "resolution_minutes": ("Resolution &notice within", "after resolution"),
    "summary_hours": ("Post-incident &summary within", "after resolution"),
}


class RulesPage(QWidget):
    """What both tabs share: the dialog's undo stack, its message line and its unsaved-edits
    question."""

    def __init__(self, services: Services, undo_stack: QUndoStack, notice: NoticeLabel,
                 ask_unsaved: AskUnsaved) -> None:
        super().__init__()
        self.services, self.undo_stack, self.notice = services, undo_stack, notice
        self.ask_unsaved = ask_unsaved
        self.rules = services.clocks.rules

    def push(self, text: str, redo: Callable[[], Any], undo: Callable[[], Any]) -> None:
        self.undo_stack.push(ServiceCommand(text, redo, undo, self.notice.show_error))

    def show_errors(self, errors: dict[str, ErrorLabel], found: dict[str, str]) -> None:
        for key, message in found.items():
            (errors.get(key) or self.notice).show_error(message)


class CadencePage(RulesPage):
    def __init__(self, services: Services, undo_stack: QUndoStack, notice: NoticeLabel,
                 ask_unsaved: AskUnsaved) -> None:
        super().__init__(services, undo_stack, notice, ask_unsaved)
        self._loaded: dict[str, object] | None = None
        self._severity: str | None = None   # the severity the form shows
        self._reloading = False
        self.client_combo = named(QComboBox(), "cadenceClientCombo", "Organisation",
                                  "Whose update cadence to show and change")
        for client in list_clients(services.store):
            self.client_combo.addItem(client.name, client.id)
        explain = QLabel(PHASES_LINE)
        explain.setObjectName("cadencePhasesLabel")
        explain.setWordWrap(True)
        self.model = CadenceTableModel(self)
        self.table = configure_table(named(QTableView(), "cadenceTable",
                                           "Update cadence per severity"))
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(CADENCE_FIELDS) + 1,
                                    QHeaderView.ResizeMode.ResizeToContents)

        self.form_box = QGroupBox()
        self.form_box.setObjectName("cadenceFormGroup")
        form = QFormLayout(self.form_box)
        self.spins: dict[str, QSpinBox] = {}
        self.errors: dict[str, ErrorLabel] = {}
        for field, (label, after) in CADENCE_LABELS.items():
            unit = POLICY_BOUNDS[field][2]
            plain = label.replace("&", "")
            spin = named(QSpinBox(), f"cadence_{field}", plain,
                         f"{plain} ({bounds_text(field)})")
            # Wider than the allowed range: a value outside it is explained, not swallowed.
            spin.setRange(0, 99999)
            spin.setSuffix(" h" if unit == "hours" else " min")
            spin.setMinimumWidth(90)
            spin.valueChanged.connect(self._edited)
            self.spins[field] = spin
            self.errors[field] = ErrorLabel(f"cadence_{field}_error")
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            row_layout.addWidget(spin)
            row_layout.addWidget(QLabel(f"{after}   (allowed {bounds_text(field)})"
                                        if after else f"(allowed {bounds_text(field)})"), 1)
            buddy = QLabel(label)
            buddy.setBuddy(spin)
            form.addRow(buddy, with_error(row, self.errors[field]))
        self.save_button = named(QPushButton("Save"), "saveCadenceButton",
                                 "Save the cadence of this severity")
        self.revert_button = named(QPushButton("Discard changes"), "revertCadenceButton",
                                   "Discard unsaved cadence changes")
        self.reset_button = named(QPushButton("Back to default"), "resetCadenceButton",
                                  "Back to the built-in cadence for this severity")
        self.state = QLabel()
        self.state.setObjectName("cadenceStateLabel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.state)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        form.addRow(buttons)

        top = QHBoxLayout()
        top.addWidget(QLabel("&Organisation:"))
        top.itemAt(0).widget().setBuddy(self.client_combo)
        top.addWidget(self.client_combo, 1)
        top.addStretch(2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(explain)
        layout.addWidget(self.table)
        layout.addWidget(self.form_box)
        effect = QLabel("A change takes effect at once, also for this organisation's open "
                        "incidents. Each stakeholder's own max-silence timer (Stakeholders) runs "
                        "on top of this cadence.")
        effect.setObjectName("cadenceEffectLabel")
        effect.setWordWrap(True)
        layout.addWidget(effect)
        layout.addStretch(1)

        self.client_combo.currentIndexChanged.connect(self._client_changed)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.reset_button.clicked.connect(self.reset)
        self._client = self.client_id()
        self.reload()
        self.table.resizeRowsToContents()
        frame = self.table.frameWidth() * 2
        self.table.setFixedHeight(header.sizeHint().height() + frame + sum(
            self.table.rowHeight(r) for r in range(self.model.rowCount())))

    def client_id(self) -> int | None:
        return self.client_combo.currentData()

    def client_name(self, client_id: int | None = None) -> str:
        index = self.client_combo.findData(client_id if client_id is not None
                                           else self.client_id())
        return self.client_combo.itemText(index) if index >= 0 else "this organisation"

    def reload(self) -> None:
        current = self.current_severity()
        self._reloading = True
        self.model.set_policies(self.rules.policies(self.client_id())
                                if self.client_id() is not None else [])
        row = max(self.model.row_of(current), 0) if current else 0
        if self.model.rowCount():
            self.table.selectionModel().setCurrentIndex(
                self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        self._reloading = False
        if not self.is_dirty() or current != self.current_severity():
            self._show(row)

    def current_severity(self) -> str | None:
        index = self.table.currentIndex()
        return self.model.policy(index.row())[0].severity.value if index.isValid() else None

    def _show(self, row: int) -> None:
        if not 0 <= row < self.model.rowCount():
            self._loaded = self._severity = None
            self.form_box.setEnabled(False)
            return
        policy, customised = self.model.policy(row)
        self._severity = policy.severity.value
        self.form_box.setEnabled(True)
        self.form_box.setTitle(f"{policy.severity.value} at {self.client_name()} — " + (
            "customised" if customised else "the built-in default"))
        for field, spin in self.spins.items():
            spin.blockSignals(True)
            spin.setValue(getattr(policy, field))
            spin.blockSignals(False)
        self._loaded = self.values()
        self.reset_button.setEnabled(customised)
        for label in self.errors.values():
            label.clear_error()
        self._edited()

    def values(self) -> dict[str, object]:
        return {"severity": self._severity,
                **{field: spin.value() for field, spin in self.spins.items()}}

    def is_dirty(self) -> bool:
        return self._loaded is not None and self.values() != self._loaded

    def _edited(self, *_args: object) -> None:
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)
        self.state.setText("Unsaved changes" if dirty else "")

    def leave(self) -> bool:
        """Before the form shows another severity or organisation: save, discard or stay."""
        if not self.is_dirty():
            return True
        choice = self.ask_unsaved(self, f"The {self._severity} cadence")
        if choice == "save":
            return self.save()
        if choice == "discard":
            self.revert()
        return choice == "discard"

    def _row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._reloading or current.row() == previous.row():
            return
        if self._loaded is not None and not self.leave():
            self.table.selectionModel().blockSignals(True)
            self.table.selectRow(previous.row())
            self.table.selectionModel().blockSignals(False)
            return
        self._show(current.row())

    def _client_changed(self, _index: int) -> None:
        if self.client_id() == self._client:
            return
        if not self.leave():
            self.client_combo.blockSignals(True)
            self.client_combo.setCurrentIndex(self.client_combo.findData(self._client))
            self.client_combo.blockSignals(False)
            return
        self._client = self.client_id()
        self._loaded = None
        self.reload()

    def revert(self) -> None:
        row = self.table.currentIndex().row()
        self._show(row)

    def save(self) -> bool:
        for label in self.errors.values():
            label.clear_error()
        client_id, values = self.client_id(), self.values()
        if client_id is None or not self.is_dirty():
            return True
        before, customised = self.model.policy(self.table.currentIndex().row())
        try:
            self.rules.save_policy(client_id, values)
        except ValidationError as exc:
            self.show_errors(self.errors, exc.errors)
            return False
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return False
        previous = _policy_values(before)
        self.push(f"change {before.severity.value} cadence of {self.client_name(client_id)}",
                  lambda: self.rules.save_policy(client_id, values),
                  (lambda: self.rules.save_policy(client_id, previous)) if customised
                  else (lambda: self.rules.reset_policy(client_id, before.severity)))
        self._loaded = None
        self.reload()
        self.notice.show_info(f"Saved the {before.severity.value} cadence for "
                              f"{self.client_name(client_id)}.")
        return True

    def reset(self) -> None:
        client_id, row = self.client_id(), self.table.currentIndex().row()
        if client_id is None or row < 0:
            return
        before, customised = self.model.policy(row)
        if not customised:
            return
        previous = _policy_values(before)
        try:
            self.rules.reset_policy(client_id, before.severity)
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return
        self.push(f"reset {before.severity.value} cadence of {self.client_name(client_id)}",
                  lambda: self.rules.reset_policy(client_id, before.severity),
                  lambda: self.rules.save_policy(client_id, previous))
        self._loaded = None
        self.reload()
        self.notice.show_info(f"{before.severity.value} is back to the built-in cadence.")


def _policy_values(policy: CadencePolicy) -> dict[str, object]:
    return {"severity": policy.severity.value,
            **{field: getattr(policy, field) for field, _h, _d in CADENCE_FIELDS}}
