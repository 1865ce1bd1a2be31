"""Settings → Incident clock rules: the cadence per organisation and severity, and the escalation
rules — saved through app/clocks/rules.py, refused input explained next to its field and never
stored, every change one step of Undo/Redo (Ctrl+Z / Ctrl+Shift+Z)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QComboBox, QLineEdit, QTabBar,
)

from app.domain.enums import Category, Severity
from app.clocks.escalation import EscalationTrigger
from ui.models.base import DTO_ROLE

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def dialog(qtbot, window):
    d = window.open_clock_rules()
    qtbot.waitUntil(d.isVisible)
    yield d
    d.cadence.revert()          # a refused edit would otherwise ask whether to save it
    d.escalation.revert()
    d.reject()


def _keys(services) -> list[str]:
    return [r.key for r in services.clocks.rules.escalation_rules()]


def _press(qtbot, d, key, modifiers) -> None:
    """A shortcut as the coordinator types it, with the focus on the dialog's Close button."""
    d.activateWindow()
    qtbot.waitUntil(d.isActiveWindow)
    d.findChild(QAbstractButton, "clockRulesCloseButton").setFocus()
    qtbot.keyClick(d.focusWidget(), key, modifiers)


def _table_keys(d) -> list[str]:
    proxy = d.escalation.proxy
    return [proxy.index(r, 0).data(DTO_ROLE).key for r in range(proxy.rowCount())]


def test_the_settings_menu_opens_the_dialog(qtbot, window):
    action = window.findChild(QAction, "clockRulesAction")
    assert action is not None and action.text() == "Incident &clock rules…"
    action.trigger()
    qtbot.waitUntil(lambda: getattr(window, "clock_rules_dialog", None) is not None
                    and window.clock_rules_dialog.isVisible())
    d = window.clock_rules_dialog
    assert d.objectName() == "clockRulesDialog"
    assert [d.tabs.tabText(i).replace("&", "") for i in range(d.tabs.count())] == \
        ["Update cadence", "Escalation rules", "Confirmations"]
    d.reject()


def test_every_control_is_named_for_tests_and_screen_readers(dialog):
    inner = (QAbstractItemView, QAbstractSpinBox, QComboBox, QTabBar)
    controls = [w for w in dialog.findChildren(QAbstractButton) + dialog.findChildren(QComboBox)
                + dialog.findChildren(QAbstractSpinBox) + dialog.findChildren(QLineEdit)
                + dialog.findChildren(QAbstractItemView)]
    unnamed = []
    for widget in controls:
        parent = widget.parentWidget()
        if isinstance(parent, inner) or (parent is not None and isinstance(
                parent.parentWidget(), inner)) or widget.objectName().startswith("qt_"):
            continue  # the parts Qt builds inside a spin box, combo, table or tab bar
        if type(widget).__name__ == "QHeaderView":
            continue
        if not widget.objectName() or not widget.accessibleName():
            unnamed.append(f"{type(widget).__name__} {widget.objectName()!r}")
    assert unnamed == []


# ---------------------------------------------------------------- cadence

def test_editing_a_cadence_value_saves_it_as_customised(qtbot, dialog, services, client_of):
    page, client = dialog.cadence, client_of(services)
    page.table.selectRow(1)
    assert page.form_box.title() == "SEV2 at My organisation — the built-in default"
    page.spins["investigating_minutes"].setValue(20)
    assert page.state.text() == "Unsaved changes"
    page.spins["fact_update_minutes"].setValue(5)    # issue 17: the fact-change delay
    qtbot.mouseClick(page.save_button, LEFT)

    policy, customised = services.clocks.rules.policies(client)[1]
    assert policy.severity == Severity.SEV2 and customised
    assert policy.investigating_minutes == 20 and policy.acknowledge_minutes == 15
    assert policy.fact_update_minutes == 5
    assert page.model.index(1, page.model.columnCount() - 1).data() == "Customised"
    assert page.model.index(1, 2).data() == 20
    assert page.form_box.title() == "SEV2 at My organisation — customised"
    assert not page.is_dirty() and page.reset_button.isEnabled()
    # The other severities keep their defaults.
    assert [c for _p, c in services.clocks.rules.policies(client)] == [False, True, False, False]


def test_an_out_of_range_cadence_is_explained_next_to_it_and_not_stored(qtbot, dialog,
                                                                         services, client_of):
    page = dialog.cadence
    page.table.selectRow(0)
    page.spins["acknowledge_minutes"].setValue(500)
    qtbot.mouseClick(page.save_button, LEFT)

    error = page.errors["acknowledge_minutes"]
    assert error.isVisible() and error.text() == "Must be between 1 and 240 minutes."
    assert page.errors["investigating_minutes"].isHidden()
    assert not any(c for _p, c in services.clocks.rules.policies(client_of(services)))
    assert services.clocks.rules.policies(client_of(services))[0][0].acknowledge_minutes == 15
    assert page.model.index(0, 1).data() == 15
    assert page.is_dirty()                  # the typed value stays there to be corrected
    assert dialog.undo_stack.count() == 0


def test_back_to_default_restores_the_seed_and_undo_brings_the_change_back(qtbot, dialog,
                                                                            services, client_of):
    rules, client, page = services.clocks.rules, client_of(services), dialog.cadence
    rules.save_policy(client, {"severity": "SEV3", "acknowledge_minutes": 10,
                               "investigating_minutes": 90, "responding_minutes": 90,
                               "resolution_minutes": 60, "summary_hours": 48,
                               "fact_update_minutes": 10})
    qtbot.waitUntil(lambda: page.model.index(2, 2).data() == 90)  # the dialog heard of it
    page.table.selectRow(2)
    assert page.spins["investigating_minutes"].value() == 90
    qtbot.mouseClick(page.reset_button, LEFT)

    policy, customised = rules.policies(client)[2]
    assert not customised and policy.investigating_minutes == 45
    assert page.spins["investigating_minutes"].value() == 45
    assert page.model.index(2, page.model.columnCount() - 1).data() == "Default"
    assert not page.reset_button.isEnabled()

    _press(qtbot, dialog, Qt.Key.Key_Z, CTRL)
    policy, customised = rules.policies(client)[2]
    assert customised and policy.investigating_minutes == 90 and policy.summary_hours == 48
    qtbot.waitUntil(lambda: page.spins["investigating_minutes"].value() == 90)


# ---------------------------------------------------------------- escalation rules

def _fill_new_rule(qtbot, page, name: str, trigger: EscalationTrigger,
                   severity: str | None = None, minutes: int = 0) -> None:
    page.window().tabs.setCurrentWidget(page)
    qtbot.mouseClick(page.new_button, LEFT)
    assert page.form_box.title() == "New rule"
    qtbot.keyClicks(page.name_edit, name)
    page.trigger_combo.setCurrentIndex(page.trigger_combo.findData(trigger.value))
    if severity is not None:
        page.severity_combo.setCurrentIndex(page.severity_combo.findData(severity))
    page.minutes_spin.setValue(minutes)
    # Tick "Management" with the keyboard, as in the list.
    row = list(Category).index(Category.MANAGEMENT)
    page.category_list.setCurrentIndex(page.categories.index(row))
    qtbot.keyClick(page.category_list, Qt.Key.Key_Space)
    assert page.categories.checked() == [Category.MANAGEMENT.value]


def test_add_a_rule_then_undo_removes_it_and_redo_brings_it_back(qtbot, dialog, services):
    page = dialog.escalation
    before = _keys(services)
    _fill_new_rule(qtbot, page, "SEV3 unresolved after 4 hours", EscalationTrigger.TIME_THRESHOLD,
                   "SEV3", 240)
    assert page.key_edit.text() == "sev3_unresolved_after_4_hours"  # follows the name
    qtbot.mouseClick(page.save_button, LEFT)

    added = services.clocks.rules.escalation_rules()[-1]
    assert _keys(services) == before + ["sev3_unresolved_after_4_hours"]
    assert (added.trigger, added.severity, added.minutes, added.categories) == (
        EscalationTrigger.TIME_THRESHOLD, Severity.SEV3, 240, (Category.MANAGEMENT,))
    assert page.current is not None and page.current.key == added.key
    assert "sev3_unresolved_after_4_hours" in _table_keys(dialog)

    _press(qtbot, dialog, Qt.Key.Key_Z, CTRL)
    assert _keys(services) == before
    qtbot.waitUntil(lambda: _table_keys(dialog) == before)

    _press(qtbot, dialog, Qt.Key.Key_Z, CTRL | SHIFT)
    assert _keys(services) == before + ["sev3_unresolved_after_4_hours"]
    assert services.clocks.rules.escalation_rules()[-1] == added
    qtbot.waitUntil(lambda: "sev3_unresolved_after_4_hours" in _table_keys(dialog))


def test_severity_and_minutes_only_for_the_triggers_that_use_them(qtbot, dialog):
    page = dialog.escalation
    qtbot.mouseClick(page.new_button, LEFT)
    combo = page.trigger_combo
    combo.setCurrentIndex(combo.findData(EscalationTrigger.BUSINESS_IMPACT.value))
    assert not page.severity_combo.isEnabled() and not page.minutes_spin.isEnabled()
    combo.setCurrentIndex(combo.findData(EscalationTrigger.SEVERITY_INCREASE.value))
    assert page.severity_combo.isEnabled() and not page.minutes_spin.isEnabled()
    combo.setCurrentIndex(combo.findData(EscalationTrigger.TIME_THRESHOLD.value))
    assert page.severity_combo.isEnabled() and page.minutes_spin.isEnabled()
    assert "once" in page.trigger_hint.text()


def test_a_time_threshold_without_minutes_is_refused_next_to_the_field(qtbot, dialog, services):
    page = dialog.escalation
    before = services.clocks.rules.escalation_rules()
    _fill_new_rule(qtbot, page, "SEV1 still open", EscalationTrigger.TIME_THRESHOLD, "SEV1", 0)
    assert page.minutes_spin.text() == "—"
    qtbot.mouseClick(page.save_button, LEFT)

    error = page.errors["minutes"]
    assert error.isVisible()
    assert error.text() == "A time threshold needs a number of minutes after detection."
    assert services.clocks.rules.escalation_rules() == before
    assert dialog.undo_stack.count() == 0
    assert page.current is None and page.name_edit.text() == "SEV1 still open"  # kept to fix


def test_delete_then_undo_puts_the_rule_back_in_its_place(qtbot, dialog, services):
    page = dialog.escalation
    before = _keys(services)
    assert page.select("sev2_unresolved_120")
    assert page.name_edit.text() == "SEV2 or worse unresolved after 2 hours → management"
    qtbot.mouseClick(page.delete_button, LEFT)
    assert "sev2_unresolved_120" not in _keys(services)
    assert "sev2_unresolved_120" not in _table_keys(dialog)
    assert page.current.key == "business_impact"          # its neighbour is shown
    assert "Undo" in dialog.notice.text()

    qtbot.mouseClick(dialog.undo_button, LEFT)
    assert _keys(services) == before
    restored = next(r for r in services.clocks.rules.escalation_rules()
                    if r.key == "sev2_unresolved_120")
    assert restored.minutes == 120 and restored.categories == (Category.MANAGEMENT,)
    qtbot.waitUntil(lambda: _table_keys(dialog) == before)


def test_toggling_enabled_in_the_table_persists_and_undoes(qtbot, dialog, services):
    page = dialog.escalation
    index = page.proxy.index(0, 0)
    key = index.data(DTO_ROLE).key
    page.table.setCurrentIndex(index)
    qtbot.keyClick(page.table, Qt.Key.Key_Space)   # the tick box in the Enabled column

    assert next(r for r in services.clocks.rules.escalation_rules() if r.key == key).enabled \
        is False
    qtbot.waitUntil(lambda: page.proxy.index(0, 0).data(Qt.ItemDataRole.CheckStateRole)
                    == Qt.CheckState.Unchecked)
    assert not page.enabled_check.isChecked()      # the form shows the stored rule
    _press(qtbot, dialog, Qt.Key.Key_Z, CTRL)
    assert next(r for r in services.clocks.rules.escalation_rules() if r.key == key).enabled


def test_editing_a_rule_saves_it_and_undo_restores_the_old_one(qtbot, dialog, services):
    page = dialog.escalation
    dialog.tabs.setCurrentWidget(page)
    original = next(r for r in services.clocks.rules.escalation_rules()
                    if r.key == "sev1_unresolved_60")
    assert page.select("sev1_unresolved_60")
    page.minutes_spin.setValue(45)
    page.key_edit.setText("sev1_unresolved_45")
    qtbot.mouseClick(page.save_button, LEFT)

    keys = _keys(services)
    assert "sev1_unresolved_45" in keys and "sev1_unresolved_60" not in keys
    assert keys.index("sev1_unresolved_45") == 1            # edited in place
    edited = services.clocks.rules.escalation_rules()[1]
    assert edited.minutes == 45 and edited.name == original.name

    qtbot.mouseClick(dialog.undo_button, LEFT)
    assert services.clocks.rules.escalation_rules()[1] == original
    qtbot.waitUntil(lambda: page.current is not None and page.current.key == original.key
                    and page.minutes_spin.value() == 60)


def test_unsaved_cadence_edits_are_not_lost_by_choosing_another_severity(qtbot, dialog,
                                                                          monkeypatch):
    import ui.settings.clock_rules_dialog as module

    asked = []
    monkeypatch.setattr(module, "ask_unsaved", lambda _parent, what: asked.append(what)
                        or "cancel")
    page = dialog.cadence
    page.table.selectRow(0)
    page.spins["responding_minutes"].setValue(25)
    page.table.selectRow(3)
    assert asked == ["The SEV1 cadence"]
    assert page.current_severity() == "SEV1" and page.spins["responding_minutes"].value() == 25


def test_undoing_a_delete_after_the_key_was_created_again_says_why(qtbot, dialog, services):
    rules, page = services.clocks.rules, dialog.escalation
    assert page.select("sev2_unresolved_120")
    qtbot.mouseClick(page.delete_button, LEFT)
    deleted_name = "SEV2 or worse unresolved after 2 hours → management"
    again = rules.save_rule({"key": "sev2_unresolved_120", "name": "Re-created meanwhile",
                             "trigger": "business_impact", "severity": None, "minutes": None,
                             "categories": ["management"], "template_type": "escalation_notice",
                             "enabled": True})
    qtbot.waitUntil(lambda: "sev2_unresolved_120" in _table_keys(dialog))

    qtbot.mouseClick(dialog.undo_button, LEFT)
    assert dialog.notice.text() == (f"Could not undo “delete rule “{deleted_name}””: "
                                    "key: A rule “sev2_unresolved_120” exists already.")
    assert [r for r in rules.escalation_rules() if r.key == "sev2_unresolved_120"] == [again]
    assert dialog.undo_stack.count() == 0 and not dialog.undo_button.isEnabled()  # dropped
