"""The clocks panel in the incident view, on a frozen clock: an update becomes overdue when the
clock advances; an escalation rule proposes, the coordinator reviews it in the composer, and the
confirmed proposal reaches the outbox; regulatory triggers, deadlines met, and the notifier."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import Qt

from app.clock import FrozenClock
from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import Phase, Severity, TimelineKind

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen():
    return FrozenClock(T0)


@pytest.fixture
def services(qapp, config, frozen):
    """The UI fixtures' services, on a clock the test moves."""
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from ui.services import Services

    store = Store.open(config.db_path, config.backup_dir)
    ensure_default_organisation(store, frozen)
    s = Services.build(config, store, frozen, actor="UI Tester")
    yield s
    s.close()


@pytest.fixture
def people(services, client_of):
    cid = client_of(services)
    svc = services.stakeholders
    ids = {}
    for name, category, address in (("Ivan Ops", "it_staff_msp", "ivan@example.com"),
                                     ("Mia Manager", "management", "mia@example.com"),
                                     ("Eve Exec", "executives", "eve@example.com"),
                                     ("Lena Legal", "compliance_legal", "lena@example.com")):
        ids[name] = svc.create(StakeholderData(
            client_id=cid, name=name, category=category,
            contacts=(ContactPointData("email", address, 1),))).id
    return cid, ids


def _queue(services, incident_id, template_type, stakeholder_ids):
    from app.messages.composer import Sender, queue_message
    from app.messages.library import effective_templates
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients

    incident = services.incidents.get(incident_id)
    client = next(c for c in list_clients(services.store) if c.id == incident.client_id)
    templates = effective_templates(services.store)
    inputs = {i.name: "" for t in templates.values() if t.type == template_type
              for i in t.inputs}
    return queue_message(
        services.store, services.clock, services.events, incident=incident, client=client,
        template_type=template_type, templates=templates,
        recipients=resolve_recipients(services.store, client.id, channels=["email"],
                                      stakeholder_ids=stakeholder_ids),
        sender=Sender(name="UI Tester", organisation=client.name), inputs=inputs)


def _rows(panel):
    return {row.title: row for row in panel.rows()}


def _show(qtbot, window, incident):
    window.incidents.reload()
    qtbot.waitUntil(lambda: window.incidents.current_incident() is not None)
    ws = window.incidents
    for r in range(ws.proxy.rowCount()):
        from ui.models.incidents import INCIDENT_ROLE

        if ws.proxy.data(ws.proxy.index(r, 0), INCIDENT_ROLE).id == incident.id:
            ws.table.selectRow(r)
    panel = window.incidents.view.clocks
    qtbot.waitUntil(lambda: panel.snapshot is not None
                    and panel.snapshot.incident_id == incident.id, timeout=3000)
    return panel


def test_an_update_becomes_overdue_when_the_clock_advances(qtbot, window, services, people,
                                                           frozen):
    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="VPN down", severity=Severity.SEV2,
                                  detected_at=frozen.now())
    panel = _show(qtbot, window, inc)
    ack = _rows(panel)["Initial acknowledgment"]
    assert ack.status == "Due in 15 min" and ack.stakeholder_ids == (ids["Ivan Ops"],)
    assert "Nothing communicated yet" in panel.figures_label.text()

    frozen.advance(minutes=5)
    _queue(services, inc.id, "initial_acknowledgment", [ids["Ivan Ops"], ids["Mia Manager"]])
    services.incidents.move_phase(inc.id, Phase.INVESTIGATING)
    qtbot.waitUntil(lambda: "Initial acknowledgment" not in _rows(panel)
                    and "Status update" in _rows(panel), timeout=3000)
    update = _rows(panel)["Status update"]
    assert update.status == "Due in 30 min"  # SEV2 investigating: every 30 min from the last
    assert not update.status.startswith("Overdue")
    assert "queued 5 min after detection" in panel.figures_label.text()

    frozen.advance(minutes=31)
    panel.refresh()
    qtbot.waitUntil(lambda: _rows(panel)["Status update"].status.startswith("Overdue"),
                    timeout=3000)
    assert _rows(panel)["Status update"].status == "Overdue 1 min"
    assert panel.view.model().data(panel.view.model().index(0, 0)).startswith("Overdue")


def test_a_confirmed_escalation_reaches_the_outbox(qtbot, window, services, people, frozen,
                                                   monkeypatch):
    import ui.composer.workspace as composer_module

    monkeypatch.setattr(composer_module, "confirm_despite_errors", lambda *_a: True)
    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="Payroll down", severity=Severity.SEV3,
                                  detected_at=frozen.now())
    panel = _show(qtbot, window, inc)
    frozen.advance(minutes=3)
    services.incidents.change_severity(inc.id, Severity.SEV1)
    recorded = services.clocks.fire_escalations([inc.id])
    assert [p.rule.key for _i, p in recorded] == ["sev_increase_sev2"]
    assert services.clocks.fire_escalations([inc.id]) == []  # never twice
    qtbot.waitUntil(lambda: any(r.kind == "escalation" for r in panel.rows()), timeout=3000)
    proposal = next(r for r in panel.rows() if r.kind == "escalation")
    assert set(proposal.stakeholder_ids) == {ids["Mia Manager"], ids["Eve Exec"]}
    assert panel.select("escalation", proposal.key)
    assert panel.compose_button.isEnabled() and panel.dismiss_button.isEnabled()

    qtbot.mouseClick(panel.compose_button, Qt.MouseButton.LeftButton)
    composer = window.composer
    qtbot.waitUntil(lambda: window.current_workspace() is composer)
    assert composer.type_combo.currentData() == "escalation_notice"
    qtbot.waitUntil(lambda: composer.recipients_model.rowCount() == 2)
    names = {composer.recipients_model.row_values(r)[0] for r in range(2)}
    assert names == {"Mia Manager", "Eve Exec"}
    with qtbot.waitSignal(composer.queued, timeout=5000) as queued:
        assert composer.queue()
    message_id = queued.args[0]
    deliveries = services.outbox.list(incident_id=inc.id)
    assert {d.recipient_name for d in deliveries if d.message_id == message_id} == {
        "Mia Manager", "Eve Exec"}
    assert all(d.state == "queued" for d in deliveries)
    decided = [e for e in services.incidents.timeline(inc.id)
               if e.kind == TimelineKind.ESCALATION_DECIDED.value]
    assert [(e.data["decision"], e.data["message_id"]) for e in decided] == [
        ("confirmed", message_id)]
    qtbot.waitUntil(lambda: not any(r.kind == "escalation" for r in panel.rows()),
                    timeout=3000)


def test_dismissing_a_proposal_needs_a_reason(qtbot, window, services, people, frozen):
    from ui.incidents.clock_dialogs import ReasonDialog

    cid, _ids = people
    inc = services.incidents.open(client_id=cid, title="Printer fleet", severity=Severity.SEV3,
                                  detected_at=frozen.now())
    services.incidents.set_impact_flag(inc.id, "business", True)
    assert len(services.clocks.fire_escalations([inc.id])) == 1
    panel = _show(qtbot, window, inc)
    qtbot.waitUntil(lambda: any(r.kind == "escalation" for r in panel.rows()), timeout=3000)
    proposal = next(r for r in panel.rows() if r.kind == "escalation")
    panel.select("escalation", proposal.key)
    panel.dismiss_selected()
    dialog = panel.findChild(ReasonDialog)
    qtbot.waitUntil(lambda: dialog.isVisible())
    dialog.accept()  # empty: refused next to the field
    assert dialog.isVisible() and dialog.error.isVisible()
    qtbot.keyClicks(dialog.edit, "Only the print room is affected")
    dialog.accept()
    qtbot.waitUntil(lambda: not any(r.kind == "escalation" for r in panel.rows()),
                    timeout=3000)
    [entry] = [e for e in services.incidents.timeline(inc.id)
               if e.kind == TimelineKind.ESCALATION_DECIDED.value]
    assert entry.data["decision"] == "dismissed"
    assert entry.data["reason"] == "Only the print room is affected"


def test_a_backdated_trigger_starts_the_regulatory_clocks(qtbot, window, services, people,
                                                          frozen):
    from app.stakeholders.clients import list_clients, save_client, settings_of
    from ui.incidents.clock_dialogs import MarkMetDialog, TriggerDialog
    from ui.qtime import edit_in_zone

    cid, ids = people
    client = next(c for c in list_clients(services.store) if c.id == cid)
    from dataclasses import replace

    save_client(services.store, frozen, replace(settings_of(client), regimes=("hipaa",),
                                                time_zone="America/New_York"), client_id=cid)
    inc = services.incidents.open(client_id=cid, title="Records exposed", severity=Severity.SEV1,
                                  detected_at=frozen.now())
    panel = _show(qtbot, window, inc)
    assert not panel.law_view.model().rowCount()  # not flagged regulatory: no regime clocks
    services.incidents.set_impact_flag(inc.id, "regulatory", True)
    qtbot.waitUntil(lambda: panel.law_view.model().rowCount() >= 3, timeout=3000)
    waiting = {r.key: r.status for r in panel.rows() if r.kind == "regulatory"}
    assert waiting["hipaa_individuals"] == "Not started"

    panel.record_trigger()
    dialog = panel.findChild(TriggerDialog)
    qtbot.waitUntil(lambda: dialog.isVisible())
    dialog.trigger.setCurrentIndex(dialog.trigger.findData("discovery"))
    edit_in_zone(dialog.when, dialog.zone, frozen.now() + timedelta(hours=2))
    dialog.accept()  # the future is refused next to the field
    assert dialog.isVisible() and "future" in dialog.errors["effective_at"].text()
    edit_in_zone(dialog.when, dialog.zone, frozen.now() - timedelta(days=3))
    dialog.accept()
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: any(r.key == "hipaa_individuals" and r.status.startswith("Due in")
                                for r in panel.rows()), timeout=3000)
    row = next(r for r in panel.rows() if r.key == "hipaa_individuals")
    # 60 calendar days from the discovery three days ago, to the end of that local day
    assert timedelta(days=56) < row.due_at - frozen.now() < timedelta(days=58)

    message = _queue(services, inc.id, "regulatory_notification", [ids["Lena Legal"]])
    panel.select("regulatory", "hipaa_individuals")
    assert panel.satisfy_button.isEnabled()
    panel.mark_selected_met()
    met = panel.findChild(MarkMetDialog)
    qtbot.waitUntil(lambda: met.isVisible())
    assert met.message.currentData() == message.message_id
    met.accept()
    qtbot.waitUntil(lambda: next(r for r in panel.rows() if r.key == "hipaa_individuals")
                    .status == "Met", timeout=3000)
    satisfied = [e for e in services.incidents.timeline(inc.id)
                 if e.kind == TimelineKind.CLOCK_SATISFIED.value]
    assert satisfied[-1].data["message_id"] == message.message_id


def test_the_notifier_tells_once_about_what_became_overdue(qtbot, window, services, people,
                                                           frozen):
    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="Mail queue stuck",
                                  severity=Severity.SEV2, detected_at=frozen.now())
    notifier = window.start_clock_notifier()
    try:
        news = []
        notifier.notified.connect(lambda title, text: news.append((title, text)))
        with qtbot.waitSignal(notifier.looked, timeout=5000):
            pass  # the first look at start: nothing is overdue yet
        assert news == []
        frozen.advance(minutes=16)  # the acknowledgment's 15 minutes have passed
        with qtbot.waitSignal(notifier.looked, timeout=5000):
            notifier.check()
        assert len(news) == 1
        title, text = news[0]
        assert title.startswith("1 item overdue") and "Mail queue stuck" in text
        assert "Initial acknowledgment" in text
        reminders = [e for e in services.incidents.timeline(inc.id)
                     if e.kind == TimelineKind.REMINDER.value]
        assert len(reminders) == 1
        with qtbot.waitSignal(notifier.looked, timeout=5000):
            notifier.check()
        assert len(news) == 1  # the same overdue item is not told twice
    finally:
        notifier.stop()
        qtbot.waitUntil(lambda: not notifier.worker.running, timeout=5000)


def test_after_sleep_everything_that_fell_due_is_told_in_one_notification(
        qtbot, window, services, people, frozen):
    """The laptop slept through two deadlines of two incidents: on wake, one summary."""
    cid, _ids = people
    for title in ("VPN down", "Mail queue stuck"):
        services.incidents.open(client_id=cid, title=title, severity=Severity.SEV2,
                                detected_at=frozen.now())
    notifier = window.start_clock_notifier()
    try:
        with qtbot.waitSignal(notifier.looked, timeout=5000):
            pass
        news = []
        notifier.notified.connect(lambda title, text: news.append((title, text)))
        frozen.advance(hours=3)
        notifier._last_wall -= 600  # the wall clock jumped: the machine was asleep
        with qtbot.waitSignal(notifier.looked, timeout=5000) as looked:
            notifier.check()
        assert looked.args[0].woke
        assert len(news) == 1
        title, text = news[0]
        assert title.endswith("while you were away")
        assert "2 incidents need attention." in text
    finally:
        notifier.stop()
        qtbot.waitUntil(lambda: not notifier.worker.running, timeout=5000)


def test_the_explanation_follows_the_row_and_goes_when_the_row_is_handled(
        qtbot, window, services, people, frozen):
    """Issue 17: the text under Due next describes the selected row as of the last evaluation;
    once the acknowledgment is queued, its row and its "not reached yet" go together."""
    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="VPN down", severity=Severity.SEV2,
                                  detected_at=frozen.now())
    panel = _show(qtbot, window, inc)
    assert panel.select("cadence", "acknowledgment")
    assert "not reached yet" in panel.detail.text()
    _queue(services, inc.id, "initial_acknowledgment", [ids["Ivan Ops"]])
    qtbot.waitUntil(lambda: "Initial acknowledgment" not in _rows(panel), timeout=3000)
    assert "not reached yet" not in panel.detail.text()
    assert panel.detail.text() == "Select a row to see why it is due."
    assert not panel.compose_button.isEnabled()


def test_a_due_rows_tooltip_holds_what_its_cells_cut(qtbot, window, services, people, frozen):
    from PySide6.QtCore import Qt

    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="VPN down", severity=Severity.SEV2,
                                  detected_at=frozen.now())
    panel = _show(qtbot, window, inc)
    model = panel.model
    r = next(r for r in range(model.rowCount()) if model.row_at(r).key == "acknowledgment")
    row = model.row_at(r)
    for column in range(model.columnCount()):
        tip = model.data(model.index(r, column), Qt.ItemDataRole.ToolTipRole)
        assert tip.startswith(f"{row.title} — {row.audience}\n") and "not reached yet" in tip


def test_saving_a_fact_makes_an_update_due_a_few_minutes_later_not_overdue_at_once(
        qtbot, window, services, people, frozen):
    """Issue 17: "Update after a fact change" falls due the policy's few minutes (default 10)
    after the save, so it is not overdue a second later; then it is overdue like any other."""
    cid, ids = people
    inc = services.incidents.open(client_id=cid, title="VPN down", severity=Severity.SEV2,
                                  detected_at=frozen.now())
    frozen.advance(minutes=2)
    _queue(services, inc.id, "initial_acknowledgment", [ids["Ivan Ops"]])
    services.incidents.move_phase(inc.id, Phase.INVESTIGATING)
    panel = _show(qtbot, window, inc)
    facts = window.incidents.view.facts
    qtbot.waitUntil(lambda: facts.incident is not None and facts.incident.id == inc.id)
    frozen.advance(minutes=3)
    facts.status.setPlainText("Failing over to the standby VPN concentrator")
    qtbot.mouseClick(facts.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Update after a fact change" in _rows(panel), timeout=3000)
    change = _rows(panel)["Update after a fact change"]
    assert change.status == "Due in 10 min" and not change.status.startswith("Overdue")
    assert panel.select("cadence", "fact_change")
    assert "an update within 10 min" in panel.detail.text()
    frozen.advance(minutes=11)
    panel.refresh()
    qtbot.waitUntil(lambda: _rows(panel)["Update after a fact change"].status
                    == "Overdue 1 min", timeout=3000)


def test_a_bounced_regulator_notice_heads_due_next_and_composes_to_that_person(
        qtbot, window, services, people, frozen):
    """Issue 24: a notification to a regulator that bounced (read from the mailbox) is the
    first row of Due next; Compose opens the composer for that person with its template."""
    from app.domain.models import Delivery, Message
    from app.mailbox.recorder import MailboxRecorder, ReadMail
    from sqlalchemy import select
    from tests.integration.test_clocks_service import flush
    from tests.integration.test_mailbox_recorder import deliveries_of, dsn

    cid, ids = people
    rex = services.stakeholders.create(StakeholderData(
        client_id=cid, name="Rex Regulator", category="regulators",
        contacts=(ContactPointData("email", "rex@authority.example", 1),))).id
    inc = services.incidents.open(client_id=cid, title="Payroll data exposed",
                                  severity=Severity.SEV2, detected_at=frozen.now())
    letter = _queue(services, inc.id, "regulatory_notification", [rex]).message_id
    flush(services.store, frozen)
    panel = _show(qtbot, window, inc)
    sent = deliveries_of(services.store, letter)["Rex Regulator"]
    account = services.accounts.create_drill_if_missing()
    MailboxRecorder(services.store, frozen, services.events).record(
        account.id, "INBOX", 1, [ReadMail(1, dsn(sent))])
    panel.refresh()
    title = "Regulator notification bounced: Rex Regulator <rex@authority.example>"
    qtbot.waitUntil(lambda: title in _rows(panel), timeout=3000)
    top = panel.view.model().index(0, 0)
    assert panel.view.model().data(top) == "Bounced — send again"
    assert "User unknown" in _rows(panel)[title].detail
    panel.select("bounce", _rows(panel)[title].key)
    with qtbot.waitSignal(panel.compose_requested) as asked:
        panel.compose_button.click()
    assert asked.args[:3] == [inc.id, "regulatory_notification", (rex,)]
    with services.store.reading() as session:
        assert session.scalar(select(Delivery.state).join(Message).where(
            Message.id == letter)) == "bounced"


def test_a_chase_of_silence_composes_to_the_next_contact_point(qtbot, window, services, people,
                                                               frozen):
    """Issue 25: asked to confirm, Cal has not after the SEV2 wait; the chase proposal is in
    Due next, and Compose reaches him by his next contact point (his SMS number), not the
    email address that did not answer."""
    from app.messages.composer import Sender, queue_message
    from app.messages.library import effective_templates
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients
    from tests.integration.test_clocks_service import flush

    cid, _ids = people
    cal = services.stakeholders.create(StakeholderData(
        client_id=cid, name="Cal Customer", category="customers",
        contacts=(ContactPointData("email", "cal@customer.example", 1),
                  ContactPointData("sms", "+12065550188", 2)))).id
    inc = services.incidents.open(client_id=cid, title="Billing portal down",
                                  severity=Severity.SEV2, detected_at=frozen.now())
    client = next(c for c in list_clients(services.store) if c.id == cid)
    templates = effective_templates(services.store)
    queue_message(services.store, frozen, services.events,
                  incident=services.incidents.get(inc.id), client=client,
                  template_type="status_update", templates=templates,
                  recipients=resolve_recipients(services.store, cid, stakeholder_ids=[cal]),
                  sender=Sender("UI Tester", "Harbor IT"), ask_to_confirm=[cal])
    flush(services.store, frozen)
    frozen.advance(minutes=31)
    [chase] = services.clocks.fire_unconfirmed()
    panel = _show(qtbot, window, inc)
    qtbot.waitUntil(lambda: chase.rule_name in _rows(panel), timeout=3000)
    row = _rows(panel)[chase.rule_name]
    assert row.status == "Escalation proposed" and "Cal Customer" in row.audience
    assert "reach them by their next contact point" in row.detail
    panel.select("escalation", chase.condition_key)
    with qtbot.waitSignal(panel.compose_requested) as asked:
        panel.compose_button.click()
    assert asked.args[2] == (cal,) and asked.args[4] == ((cal, "cal@customer.example"),)
    composer = window.composer
    qtbot.waitUntil(lambda: composer.recipients_model.rowCount() == 1)
    assert composer.recipients_model.row_values(0)[3:5] == ("SMS", "+12065550188")
    assert "next contact point" in composer.proposal_label.text()
