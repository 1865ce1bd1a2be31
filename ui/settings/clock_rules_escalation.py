"""Settings → Incident clock rules, the "Escalation rules" tab: add, edit, pause and delete the
rules that propose whom to notify. The dialog that holds the tabs is
ui/settings/clock_rules_dialog.py."""

from __future__ import annotations

import re

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QListView, QPushButton, QSpinBox, QTableView, QVBoxLayout,
)

from app.domain.enums import Severity
from app.errors import ClarionError, ValidationError
from app.clocks.escalation import MAX_MINUTES, EscalationRule, EscalationTrigger, rule_to_dict
from app.messages.library import TYPE_LABELS, TYPES
from ui.models.base import DTO_ROLE, SORT_ROLE
from ui.services import Services
from ui.settings.clock_rules_cadence import AskUnsaved, RulesPage
from ui.settings.clock_rules_models import TRIGGER_HINTS, CategoryListModel, RuleTableModel
from ui.widgets.forms import ErrorLabel, NoticeLabel, configure_table, named, with_error

SEVERITY_TRIGGERS = (EscalationTrigger.SEVERITY_INCREASE, EscalationTrigger.TIME_THRESHOLD)


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")[:80]


class EscalationPage(RulesPage):
    def __init__(self, services: Services, undo_stack: QUndoStack, notice: NoticeLabel,
                 ask_unsaved: AskUnsaved) -> None:
        super().__init__(services, undo_stack, notice, ask_unsaved)
        self.current: EscalationRule | None = None   # None: the form is a new rule
        self._loaded: dict[str, object] | None = None
        self._reloading = self._key_touched = False
        hint = QLabel("A rule only <i>proposes</i> whom to notify; you decide. A rule never fires "
                      "twice for the same condition in an incident (a severity rule once per new "
                      "level). Untick <b>Enabled</b> to pause a rule without deleting it.")
        hint.setObjectName("escalationHintLabel")
        hint.setWordWrap(True)
        self.model = RuleTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = configure_table(named(QTableView(), "escalationTable", "Escalation rules"))
        self.table.setModel(self.proxy)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.new_button = named(QPushButton("New rule"), "newRuleButton", "New escalation rule")
        self.delete_button = named(QPushButton("Delete"), "deleteRuleButton",
                                   "Delete the selected escalation rule")

        self.form_box = QGroupBox()
        self.form_box.setObjectName("ruleFormGroup")
        self.name_edit = named(QLineEdit(), "ruleNameEdit", "Rule name",
                               "What the coordinator reads when the rule proposes something")
        self.key_edit = named(QLineEdit(), "ruleKeyEdit", "Rule key",
                              "A short stable id, recorded on the timeline when the rule fires. "
                              "Changing it lets the rule fire again where it already fired.")
        self.key_edit.setPlaceholderText("filled in from the name, e.g. sev1_unresolved_90")
        # One line each: a wrapped label in a form row reserves room for several.
        key_hint = QLabel("Recorded on the incident timeline when the rule fires; a new key "
                          "lets it fire again.")
        key_hint.setObjectName("ruleKeyHint")
        self.trigger_combo = named(QComboBox(), "ruleTriggerCombo", "Trigger")
        for trigger in EscalationTrigger:
            self.trigger_combo.addItem(trigger.label, trigger.value)
        self.trigger_hint = QLabel()
        self.trigger_hint.setObjectName("ruleTriggerHint")
        for label in (self.trigger_hint, key_hint):
            label.setStyleSheet("color: palette(placeholder-text);")
        self.severity_combo = named(QComboBox(), "ruleSeverityCombo", "Severity",
                                    "The rule applies at this severity or worse")
        self.severity_combo.addItem("—", None)
        for severity in Severity:
            self.severity_combo.addItem(severity.value if severity == Severity.SEV1
                                        else f"{severity.value} or worse", severity.value)
        self.minutes_spin = named(QSpinBox(), "ruleMinutesSpin", "Minutes after detection",
                                  f"Time threshold rules: 1–{MAX_MINUTES} minutes after detection")
        self.minutes_spin.setRange(0, 99999)
        self.minutes_spin.setSpecialValueText("—")
        self.minutes_spin.setSuffix(" min after detection")
        self.template_combo = named(QComboBox(), "ruleTemplateCombo", "Template",
                                    "The message the composer opens with")
        for ttype in TYPES:
            self.template_combo.addItem(TYPE_LABELS[ttype], ttype)
        self.enabled_check = named(QCheckBox("Enabled"), "ruleEnabledCheck", "Rule enabled")
        self.categories = CategoryListModel(self)
        self.category_list = named(QListView(), "ruleCategoryList",
                                   "Notify: stakeholder categories", "Tick whom the rule proposes")
        self.category_list.setModel(self.categories)
        self.category_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.errors = {k: ErrorLabel(f"rule_{k}_error") for k in (
            "name", "key", "trigger", "severity", "minutes", "categories", "template_type",
            "enabled")}
        form = QFormLayout()
        form.addRow("&Name", with_error(self.name_edit, self.errors["name"]))
        form.addRow("&Key", with_error(self.key_edit, self.errors["key"]))
        form.addRow("", key_hint)
        form.addRow("&Trigger", with_error(self.trigger_combo, self.errors["trigger"]))
        form.addRow("", self.trigger_hint)
        form.addRow("Se&verity", with_error(self.severity_combo, self.errors["severity"]))
        form.addRow("&Minutes", with_error(self.minutes_spin, self.errors["minutes"]))
        form.addRow("Te&mplate", with_error(self.template_combo, self.errors["template_type"]))
        form.addRow("", with_error(self.enabled_check, self.errors["enabled"]))
        for widget in (self.trigger_combo, self.severity_combo, self.minutes_spin,
                       self.template_combo):
            widget.setMaximumWidth(300)
        notify = QVBoxLayout()
        notify_label = QLabel("N&otify (stakeholder categories):")
        notify_label.setBuddy(self.category_list)
        notify.addWidget(notify_label)
        notify.addWidget(with_error(self.category_list, self.errors["categories"]))
        notify.addStretch(1)
        self.category_list.setFixedHeight(self.category_list.sizeHintForRow(0)
                                          * self.categories.rowCount()
                                          + 2 * self.category_list.frameWidth() + 4)
        self.save_button = named(QPushButton("Save rule"), "saveRuleButton", "Save the rule")
        self.revert_button = named(QPushButton("Discard changes"), "revertRuleButton",
                                   "Discard unsaved changes to the rule")
        self.state = QLabel()
        self.state.setObjectName("ruleStateLabel")
        columns = QHBoxLayout()
        columns.addLayout(form, 3)
        columns.addLayout(notify, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.state)
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        box_layout = QVBoxLayout(self.form_box)
        box_layout.addLayout(columns)
        box_layout.addLayout(buttons)

        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.form_box)

        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.model.enabled_toggled.connect(self.toggle_enabled)
        self.trigger_combo.currentIndexChanged.connect(self._trigger_changed)
        self.name_edit.textEdited.connect(self._name_edited)
        self.key_edit.textEdited.connect(lambda _t: setattr(self, "_key_touched", True))
        for signal in (self.name_edit.textChanged, self.key_edit.textChanged,
                       self.severity_combo.currentIndexChanged, self.minutes_spin.valueChanged,
                       self.template_combo.currentIndexChanged, self.enabled_check.toggled,
                       self.categories.changed):
            signal.connect(self._edited)
        self.new_button.clicked.connect(self.new_rule)
        self.delete_button.clicked.connect(self.delete)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        self.reload()

    # -- table

    def reload(self, select_key: str | None = None) -> None:
        keep = select_key or (self.current.key if self.current else None)
        was = self.model.row_of(keep) if keep else -1
        first = self._loaded is None
        self._reloading = True
        self.model.set_rules(self.rules.escalation_rules())
        count = self.model.rowCount()
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and count and (first or self.current is not None or select_key):
            row = min(max(was, 0), count - 1)  # the rule shown is gone: its neighbour
        if row >= 0:
            self.table.selectionModel().setCurrentIndex(
                self.proxy.mapFromSource(self.model.index(row, 0)),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows)
        self._reloading = False
        rule = self.model.rules()[row] if row >= 0 else None
        if rule is None and (self.current is not None or first):
            self.show_rule(None)
        elif rule is not None and (self.current is None or rule.key != self.current.key
                                   or select_key or not self.is_dirty()):
            self.show_rule(rule)

    def select(self, key: str) -> bool:
        row = self.model.row_of(key)
        if row >= 0:
            self.table.setCurrentIndex(self.proxy.mapFromSource(self.model.index(row, 0)))
        return row >= 0

    def _row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        rule = current.data(DTO_ROLE) if current.isValid() else None
        if self._reloading or rule is None or (self.current and rule.key == self.current.key):
            return
        if not self.leave():
            selection = self.table.selectionModel()
            selection.blockSignals(True)
            selection.setCurrentIndex(previous, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)
            selection.blockSignals(False)
            return
        self.show_rule(rule)

    # -- form

    def show_rule(self, rule: EscalationRule | None) -> None:
        self.current = rule
        self._key_touched = rule is not None
        values = rule_to_dict(rule) if rule is not None else {
            "key": "", "name": "", "trigger": EscalationTrigger.SEVERITY_INCREASE.value,
            "severity": None, "minutes": None, "categories": [],
            "template_type": "escalation_notice", "enabled": True}
        widgets = (self.name_edit, self.key_edit, self.trigger_combo, self.severity_combo,
                   self.minutes_spin, self.template_combo, self.enabled_check, self.categories)
        for widget in widgets:
            widget.blockSignals(True)
        self.name_edit.setText(str(values["name"]))
        self.key_edit.setText(str(values["key"]))
        self.trigger_combo.setCurrentIndex(self.trigger_combo.findData(values["trigger"]))
        self.severity_combo.setCurrentIndex(max(self.severity_combo.findData(values["severity"]),
                                                0))
        self.minutes_spin.setValue(int(values["minutes"] or 0))  # type: ignore[call-overload]
        self.template_combo.setCurrentIndex(self.template_combo.findData(values["template_type"]))
        self.enabled_check.setChecked(bool(values["enabled"]))
        self.categories.set_checked(values["categories"])  # type: ignore[arg-type]
        for widget in widgets:
            widget.blockSignals(False)
        self._trigger_changed()
        if rule is None:
            self.table.selectionModel().clearSelection()
            self.table.selectionModel().setCurrentIndex(
                QModelIndex(), QItemSelectionModel.SelectionFlag.Clear)
        self.form_box.setTitle(f"Rule: {rule.name}" if rule else "New rule")
        self.delete_button.setEnabled(rule is not None)
        self._loaded = self.values()
        for label in self.errors.values():
            label.clear_error()
        self._edited()

    def values(self) -> dict[str, object]:
        trigger = self.trigger_combo.currentData()
        return {"key": self.key_edit.text().strip(), "name": self.name_edit.text().strip(),
                "trigger": trigger,
                "severity": self.severity_combo.currentData() if trigger in SEVERITY_TRIGGERS
                else None,
                "minutes": (self.minutes_spin.value() or None)
                if trigger == EscalationTrigger.TIME_THRESHOLD else None,
                "categories": self.categories.checked(),
                "template_type": self.template_combo.currentData(),
                "enabled": self.enabled_check.isChecked()}

    def is_dirty(self) -> bool:
        return self._loaded is not None and self.values() != self._loaded

    def _edited(self, *_args: object) -> None:
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty or self.current is None)
        self.revert_button.setEnabled(dirty)
        self.state.setText("Unsaved changes" if dirty else "")

    def _trigger_changed(self, *_args: object) -> None:
        trigger = EscalationTrigger(self.trigger_combo.currentData())
        by_severity = trigger in SEVERITY_TRIGGERS
        self.severity_combo.setEnabled(by_severity)
        if not by_severity:
            self.severity_combo.setCurrentIndex(0)
        timed = trigger == EscalationTrigger.TIME_THRESHOLD
        self.minutes_spin.setEnabled(timed)
        if not timed:
            self.minutes_spin.setValue(0)
        self.trigger_hint.setText(TRIGGER_HINTS[trigger])
        self._edited()

    def _name_edited(self, text: str) -> None:
        if self.current is None and not self._key_touched:
            self.key_edit.setText(_slug(text))

    def leave(self) -> bool:
        if not self.is_dirty():
            return True
        choice = self.ask_unsaved(self, f"“{self.name_edit.text().strip() or 'The new rule'}”")
        if choice == "save":
            return self.save()
        if choice == "discard":
            self.revert()
        return choice == "discard"

    def revert(self) -> None:
        self.show_rule(self.current)

    # -- edits (each one undoable)

    def new_rule(self) -> None:
        if self.leave():
            self.show_rule(None)
            self.name_edit.setFocus()

    def save(self) -> bool:
        for label in self.errors.values():
            label.clear_error()
        values, before = self.values(), self.current
        if before is not None and not self.is_dirty():
            return True
        try:
            after = self.rules.save_rule(values, before.key if before else None)
        except ValidationError as exc:
            self.show_errors(self.errors, exc.errors)
            return False
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return False
        if before is None:
            removed: list[tuple[EscalationRule, int]] = []
            self.push(f"add rule “{after.name}”",
                      lambda: self.rules.restore_rule(*removed.pop()),
                      lambda: removed.append(self.rules.delete_rule(after.key)))
            self.notice.show_info(f"Added “{after.name}”.")
        else:
            old = rule_to_dict(before)
            save = self.rules.save_rule
            self.push(f"edit rule “{before.name}”",
                      lambda: self._refocus(before.key, save(values, before.key)),
                      lambda: self._refocus(after.key, save(old, after.key)))
            self.notice.show_info(f"Saved “{after.name}”.")
        self._loaded = None
        self.current = after
        self.reload(after.key)
        return True

    def _refocus(self, old_key: str, rule: EscalationRule) -> None:
        """An undo or redo may change the key of the rule shown: keep showing that rule."""
        if self.current is not None and self.current.key == old_key and not self.is_dirty():
            self.current = rule

    def delete(self) -> None:
        rule = self.current
        if rule is None:
            return
        try:
            gone = [self.rules.delete_rule(rule.key)]
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return
        self.push(f"delete rule “{rule.name}”",
                  lambda: gone.append(self.rules.delete_rule(rule.key)),
                  lambda: self.rules.restore_rule(*gone.pop()))
        self.notice.show_info(f"Deleted “{rule.name}”. Undo (Ctrl+Z) brings it back.")
        self.reload()

    def toggle_enabled(self, key: str, enabled: bool) -> None:
        rule = next((r for r in self.model.rules() if r.key == key), None)
        try:
            self.rules.set_enabled(key, enabled)
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return
        name = rule.name if rule else key
        self.push(f"{'enable' if enabled else 'disable'} rule “{name}”",
                  lambda: self.rules.set_enabled(key, enabled),
                  lambda: self.rules.set_enabled(key, not enabled))
        self.notice.show_info(f"“{name}” is {'enabled' if enabled else 'paused'}.")
