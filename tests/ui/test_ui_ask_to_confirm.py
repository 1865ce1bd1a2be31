"""The composer's "Ask to confirm" switch (issue 25): on by default for a resolution notice, asking
the categories the acknowledgement policy names (executives, customers, regulators), or everyone
when the coordinator says so; off by default for a status update. The preview and the queued
deliveries carry the request exactly for the asked; the deliveries remember who was asked."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from app.acks.policy import AckPolicies
from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import Phase
from app.domain.models import Delivery
from tests.ui.test_ui_composer import refresh

REQUEST = "Please reply YES to confirm you received this."


@pytest.fixture
def people(services, client_of):
    cid = client_of(services)
    svc = services.stakeholders
    for name, category, contact in (
            ("Eve Exec", "executives", ContactPointData("email", "eve@example.com", 1)),
            ("Cal Customer", "customers", ContactPointData("sms", "+12065550177", 1)),
            ("Ivan Ops", "it_staff_msp", ContactPointData("email", "ivan@example.com", 1)),
            ("Una User", "affected_users", ContactPointData("email", "una@example.com", 1))):
        svc.create(StakeholderData(client_id=cid, name=name, category=category,
                                   timing_need="immediate", contacts=(contact,)))
    return cid


def delivered(services) -> dict[str, Delivery]:
    with services.store.reading() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        session.expunge_all()
        return {d.recipient_name: d for d in rows}


def confirm_column(composer) -> dict[str, str]:  # type: ignore[no-untyped-def]
    model = composer.recipients_model
    return {model.row_values(r)[0]: model.row_values(r)[5] for r in range(model.rowCount())}


def test_a_resolution_notice_asks_the_policys_categories_and_the_deliveries_remember(
        qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="SSO down", severity="SEV2",
                                  detected_at=services.clock.now())
    services.incidents.move_phase(inc.id, Phase.RESOLVED)
    window.compose(inc.id, "resolution_notice")
    composer = window.composer
    composer._set_checked(composer.category_model, {"executives", "customers",
                                                    "it_staff_msp", "affected_users"})
    refresh(qtbot, composer)
    assert composer.ask_check.isChecked() and composer.ask_check.accessibleName()
    assert composer.ask_scope.isVisible() and composer.ask_scope.currentData() == "policy"
    assert confirm_column(composer) == {"Eve Exec": "asked", "Cal Customer": "asked",
                                        "Ivan Ops": "", "Una User": ""}
    assert "2 of 4" in composer.ask_label.text()
    assert "executives, customers and regulators" in composer.ask_label.text()
    # the preview shows the request where someone at that level is asked (impact: executives
    # and customers) and not where no one is (technical: IT staff; simple: users)
    assert REQUEST in composer.panels["impact"].rendered_email.text
    assert "Reply YES to confirm." in composer.panels["impact"].rendered_sms.text
    assert REQUEST not in composer.panels["technical"].rendered_email.text
    assert REQUEST not in composer.panels["simple"].rendered_email.text

    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    rows = delivered(services)
    assert {n: d.ack_requested for n, d in rows.items()} == {
        "Eve Exec": True, "Cal Customer": True, "Ivan Ops": False, "Una User": False}
    assert REQUEST in rows["Eve Exec"].body_text and REQUEST in rows["Eve Exec"].body_html
    assert rows["Cal Customer"].body_text.rstrip().endswith("Reply YES to confirm.")
    assert "YES" not in rows["Ivan Ops"].body_text
    timeline = services.incidents.timeline(inc.id)
    assert "2 asked to confirm" in timeline[-1].summary


def test_everyone_or_no_one_is_the_coordinators_choice(qtbot, window, services, people):
    from datetime import timedelta

    from app.domain.dto import Facts

    inc = services.incidents.open(client_id=people, title="VPN slow", severity="SEV3",
                                  detected_at=services.clock.now())
    services.incidents.update_facts(inc.id, Facts(
        status="The VPN concentrator is overloaded; a second one is being added",
        next_update_at=services.clock.now() + timedelta(minutes=45)))
    window.compose(inc.id, "status_update")
    composer = window.composer
    composer._set_checked(composer.timing_model, set())
    composer._set_checked(composer.category_model, {"executives", "it_staff_msp"})
    refresh(qtbot, composer)
    # a status update asks no one by default, and says so
    assert not composer.ask_check.isChecked() and not composer.ask_scope.isVisible()
    assert composer.ask_label.text() == "No one is asked to reply YES."
    assert set(confirm_column(composer).values()) == {""}
    composer.ask_check.setFocus()
    qtbot.keyClick(composer.ask_check, Qt.Key.Key_Space)
    refresh(qtbot, composer)
    # the policy names no one for status updates: switched on, it asks everyone
    assert confirm_column(composer) == {"Eve Exec": "asked", "Ivan Ops": "asked"}
    assert REQUEST in composer.panels["technical"].rendered_email.text
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    assert {n: d.ack_requested for n, d in delivered(services).items()} == {
        "Eve Exec": True, "Ivan Ops": True}


def test_the_policy_edited_changes_the_default_and_everyone_overrides_it(
        qtbot, window, services, people):
    AckPolicies(services.store, services.clock).save(
        "it_staff_msp", ["resolution_notice", "status_update"],
        {"SEV1": 15, "SEV2": 15, "SEV3": 60, "SEV4": 60})
    inc = services.incidents.open(client_id=people, title="Mail queue stuck", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id, "status_update")
    composer = window.composer
    composer._set_checked(composer.timing_model, set())
    composer._set_checked(composer.category_model, {"executives", "it_staff_msp"})
    refresh(qtbot, composer)
    assert composer.ask_check.isChecked()
    assert confirm_column(composer) == {"Eve Exec": "", "Ivan Ops": "asked"}
    composer.ask_scope.setCurrentIndex(composer.ask_scope.findData("everyone"))
    refresh(qtbot, composer)
    assert confirm_column(composer) == {"Eve Exec": "asked", "Ivan Ops": "asked"}
    composer.ask_check.setChecked(False)
    refresh(qtbot, composer)
    assert set(confirm_column(composer).values()) == {""}
    assert "The policy asks it staff / msp for this type." in composer.ask_label.text()
