"""Settings → Incident clock rules → Confirmations (issue 25): per stakeholder category, the
template types that ask it to reply YES and the wait per severity — the built-in policy until
changed, every change stored at once and one step of Undo, a refused wait explained and never
stored, "Back to default" restoring a category; the composer's default follows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from app.acks.policy import AckPolicies
from app.messages.library import TYPES
from ui.settings.clock_rules_acks import FIRST_TYPE, FIRST_WAIT, SOURCE


@pytest.fixture
def page(qtbot, window):
    d = window.open_clock_rules()
    qtbot.waitUntil(d.isVisible)
    d.tabs.setCurrentWidget(d.confirmations)
    yield d.confirmations
    d.reject()


def cell(page, category: str, column: int, role=Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
    model = page.model
    return model.data(model.index(model.row_of(category), column), role)


def ticked(page, category: str, template_type: str) -> bool:
    return cell(page, category, FIRST_TYPE + TYPES.index(template_type),
                Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked


def test_the_built_in_policy_asks_executives_customers_and_regulators_on_resolution(page):
    assert page.table.accessibleName() and page.reset_button.accessibleName()
    for category in ("executives", "customers", "regulators"):
        assert ticked(page, category, "resolution_notice")
        assert not ticked(page, category, "status_update")
    assert not ticked(page, "affected_users", "resolution_notice")
    assert cell(page, "executives", FIRST_WAIT) == "30 min"        # SEV1
    assert cell(page, "executives", FIRST_WAIT + 3) == "2 h"        # SEV4
    assert cell(page, "executives", SOURCE) == "default"
    assert not page.reset_button.isEnabled()


def test_ticks_and_waits_are_stored_at_once_undone_and_reset(qtbot, page, services, window):
    model = page.model
    it_row = model.row_of("it_staff_msp")
    status = model.index(it_row, FIRST_TYPE + TYPES.index("status_update"))
    assert model.setData(status, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert AckPolicies(services.store).load()["it_staff_msp"].ask_types == ("status_update",)
    assert ticked(page, "it_staff_msp", "status_update")
    assert cell(page, "it_staff_msp", SOURCE) == "customised"

    # a wait of 0 is refused in words and not stored
    sev1 = model.index(model.row_of("executives"), FIRST_WAIT)
    model.setData(sev1, 0, Qt.ItemDataRole.EditRole)
    assert "The wait for SEV1 must be a whole number of minutes" in \
        window.clock_rules_dialog.notice.text()
    assert AckPolicies(services.store).load()["executives"].wait["SEV1"] == 30
    # typed in the cell as a coordinator would
    page.table.setCurrentIndex(model.index(model.row_of("executives"), FIRST_WAIT))
    page.table.edit(model.index(model.row_of("executives"), FIRST_WAIT))
    [editor] = [w for w in page.table.findChildren(QSpinBox) if w.isVisible()]
    editor.selectAll()
    qtbot.keyClicks(editor, "45")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: AckPolicies(services.store).load()["executives"].wait["SEV1"]
                    == 45)
    assert cell(page, "executives", FIRST_WAIT) == "45 min"

    stack = window.clock_rules_dialog.undo_stack
    stack.undo()
    assert AckPolicies(services.store).load()["executives"].wait["SEV1"] == 30
    stack.redo()
    assert AckPolicies(services.store).load()["executives"].wait["SEV1"] == 45
    page.table.selectRow(model.row_of("executives"))
    assert page.reset_button.isEnabled()
    page.reset_button.click()
    assert AckPolicies(services.store).load()["executives"].wait["SEV1"] == 30
    assert cell(page, "executives", SOURCE) == "default"
    stack.undo()
    assert AckPolicies(services.store).load()["executives"].wait["SEV1"] == 45


def test_the_composer_follows_the_policy(qtbot, page, window, services, client_of):
    from app.domain.dto import ContactPointData, StakeholderData

    cid = client_of(services)
    services.stakeholders.create(StakeholderData(
        client_id=cid, name="Ivan Ops", category="it_staff_msp", timing_need="immediate",
        contacts=(ContactPointData("email", "ivan@example.com", 1),)))
    inc = services.incidents.open(client_id=cid, title="DNS slow", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id, "status_update")
    composer = window.composer
    assert not composer.ask_check.isChecked()
    model = page.model
    model.setData(model.index(model.row_of("it_staff_msp"),
                              FIRST_TYPE + TYPES.index("status_update")),
                  Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    qtbot.waitUntil(lambda: "it staff / msp" in composer.ask_label.text())
    assert composer.policy_categories() == ["it_staff_msp"]
