"""From a new incident to a queued initial acknowledgment, by keyboard, and the composer's
live preview, editing and refusals."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.models import Delivery


def refresh(qtbot, composer):  # type: ignore[no-untyped-def]
    """Re-render now and wait until the preview shows it (it renders on a worker thread)."""
    with qtbot.waitSignal(composer.rendered, timeout=10000):
        composer.refresh()


@pytest.fixture
def people(services, client_of):
    cid = client_of(services)
    svc = services.stakeholders
    svc.create(StakeholderData(client_id=cid, name="Ivan Ops", category="it_staff_msp",
                               contacts=(ContactPointData("email", "ivan@example.com", 1),)))
    svc.create(StakeholderData(client_id=cid, name="Una User", category="affected_users",
                               contacts=(ContactPointData("sms", "+12065550101", 1),)))
    svc.create(StakeholderData(client_id=cid, name="Eve Exec", category="executives",
                               contacts=(ContactPointData("email", "eve@example.com", 1),)))
    return cid


def deliveries(services):
    with services.store.session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_new_incident_to_queued_acknowledgment_by_keyboard(qtbot, window, services, people):
    """Counted actions: Ctrl+N, type the title, Enter, Ctrl+M, Ctrl+Enter — five, plus the
    title's letters."""
    actions = 0
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    actions += 1
    qtbot.waitUntil(lambda: getattr(window.incidents, "new_dialog", None) is not None
                    and window.incidents.new_dialog.isVisible())
    dialog = window.incidents.new_dialog
    qtbot.keyClicks(dialog.title_edit, "VPN down for all remote staff")
    actions += 1
    with qtbot.waitSignal(dialog.accepted, timeout=3000):
        qtbot.keyClick(dialog.title_edit, Qt.Key.Key_Return)
    actions += 1
    incident = window.incidents.current_incident()
    assert incident.title == "VPN down for all remote staff"
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    actions += 1
    composer = window.composer
    qtbot.waitUntil(lambda: window.current_workspace() is composer)
    assert composer.type_combo.currentData() == "initial_acknowledgment"
    # the proposal: everyone whose timing need is immediate (IT staff and affected users)
    qtbot.waitUntil(lambda: composer.recipients_model.rowCount() == 2)
    names = {composer.recipients_model.row_values(r)[0] for r in range(2)}
    assert names == {"Ivan Ops", "Una User"}
    qtbot.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    actions += 1
    qtbot.waitUntil(lambda: len(deliveries(services)) == 2)
    assert actions == 5
    rows = {d.recipient_name: d for d in deliveries(services)}
    assert rows["Ivan Ops"].channel.value == "email" and rows["Ivan Ops"].subject
    assert rows["Una User"].channel.value == "sms"
    assert rows["Una User"].body_text.startswith("My organisation")  # who speaks, first
    assert all(d.state.value == "queued" for d in rows.values())
    # the timeline records it
    timeline = services.incidents.timeline(incident.id)
    assert timeline[-1].kind == "message_queued" and "2 recipients" in timeline[-1].summary
    qtbot.waitUntil(lambda: "Queued for 2" in composer.notice.text())


def test_four_audiences_side_by_side_with_the_same_facts(qtbot, window, services, people):
    from datetime import timedelta

    from app.domain.dto import Facts

    inc = services.incidents.open(client_id=people, title="Payroll delayed", severity="SEV3",
                                  detected_at=services.clock.now())
    services.incidents.update_facts(inc.id, Facts(
        status="Payroll export is delayed", next_update_at=services.clock.now()
        + timedelta(minutes=45)))
    window.compose(inc.id)
    composer = window.composer
    composer.type_combo.setCurrentIndex(composer.type_combo.findData("status_update"))
    refresh(qtbot, composer)
    from app.messages.sandbox import f_time
    from app.stakeholders.clients import list_clients

    client = list_clients(services.store)[0]
    next_update = f_time({"client": {"time_zone": client.time_zone}},
                          services.incidents.get(inc.id).facts.next_update_at)
    for level, panel in composer.panels.items():
        assert "Payroll" in panel.rendered_email.subject, level
        # every audience is told the same next update time: consistency by construction
        assert next_update.split(" ")[0] in panel.rendered_email.text, level
        assert next_update.split(" ")[0] in panel.rendered_sms.text, level
        assert panel.sms_label.text().split(" ")[0].isdigit()
    headings = [p.heading.text() for p in composer.panels.values()]
    assert headings[0].startswith("Technical — ")


def test_edit_one_variant_for_this_message_only(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Wi-Fi outage", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    qtbot.waitUntil(lambda: composer.settled)   # the preview is there to edit
    panel = composer.panels["simple"]
    panel.edit_check.setChecked(True)
    panel.sms_edit.setPlainText("Wi-Fi is down in Building A. Use the wired desks. Next update 10:30.")
    composer._relint()
    assert "segment" in panel.sms_label.text()
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    una = next(d for d in deliveries(services) if d.recipient_name == "Una User")
    assert una.body_text.startswith("Wi-Fi is down in Building A.")
    # after queuing, the variant is back on the template
    assert not panel.edit_check.isChecked()


def test_a_subject_with_a_line_break_is_refused_with_a_message(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Mail relay down", severity="SEV2",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    qtbot.waitUntil(lambda: composer.settled)   # the preview is there to edit
    panel = composer.panels["technical"]
    panel.edit_check.setChecked(True)
    panel.subject.setText("Hello\r\nBcc: everyone@example.com")
    import ui.composer.workspace as module

    module_confirm = module.confirm_despite_errors
    module.confirm_despite_errors = lambda parent, count: True
    try:
        composer.queue()
        qtbot.waitUntil(lambda: "Not queued" in composer.notice.text())
    finally:
        module.confirm_despite_errors = module_confirm
    assert "line break" in composer.notice.text()
    assert deliveries(services) == []


def test_no_recipients_means_nothing_to_queue(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Printer jam", severity="SEV4",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    for model in (composer.category_model, composer.timing_model):
        for r in range(model.rowCount()):
            model.item(r).setCheckState(Qt.CheckState.Unchecked)
    refresh(qtbot, composer)
    assert not composer.queue_button.isEnabled()
    assert composer.queue_button.text() == "Queue for 0 recipients"


def test_template_library_edit_save_use_and_revert(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Badge readers offline",
                                  severity="SEV3", detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    composer.type_combo.setCurrentIndex(composer.type_combo.findData("status_update"))
    refresh(qtbot, composer)
    dialog = composer.open_library()
    qtbot.waitUntil(dialog.isVisible)
    dialog.select_key("status_update/simple/sms")
    original = dialog.editor.toPlainText()
    # a syntax error is refused with its line, nothing stored
    dialog.editor.setPlainText(original.replace("=== text ===\n", "=== text ===\n{% if %}\n"))
    assert not dialog.save()
    assert "syntax" in dialog.error.text() and "line" in dialog.error.text()
    from app.messages.library import history

    assert history(services.store, "status_update/simple/sms") == []
    # a good edit becomes version 1 and the composer renders with it at once
    dialog.editor.setPlainText(original.replace("=== text ===\n", "=== text ===\nNOTICE: "))
    assert dialog.save()
    assert "version 1" in dialog.error.text()
    qtbot.waitUntil(lambda: composer.panels["simple"].rendered_sms.text.startswith("NOTICE: "))
    # back to the built-in
    dialog.revert()
    qtbot.waitUntil(lambda: not composer.panels["simple"].rendered_sms.text.startswith("NOTICE"))
    assert [v for v, _, retired in history(services.store, "status_update/simple/sms")] == [1]
    dialog.reject()


def test_queued_deliveries_are_visible_on_the_incident_timeline(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Door access down", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    with qtbot.waitSignal(window.composer.queued, timeout=5000):
        window.composer.queue()
    window.nav_buttons["incidents"].setChecked(True)
    window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.timeline_model.entry_at(0).kind == "message_queued")
    view.timeline_view.selectRow(0)
    assert "Ivan Ops" in view.entry_detail.text() and "queued" in view.entry_detail.text()


def test_over_communication_is_flagged_after_three_messages(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Chat outage", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    # three updates, each from new facts (the same one twice would not queue: see
    # test_queue_once)
    from app.domain.dto import Facts

    for n in range(3):
        services.incidents.update_facts(inc.id, Facts(status=f"Restoring chat, step {n}"))
        window.compose(inc.id)
        refresh(qtbot, composer)
        with qtbot.waitSignal(composer.queued, timeout=5000):
            assert composer.queue()
    refresh(qtbot, composer)
    findings = composer.panels["technical"].findings
    assert any(f.code == "over_communication" for f in findings)


def test_hand_picked_people_join_the_audience(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="Storage array degraded",
                                  severity="SEV3", detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    assert "Eve Exec" not in [composer.recipients_model.row_values(r)[0]
                              for r in range(composer.recipients_model.rowCount())]
    for r in range(composer.people_model.rowCount()):
        item = composer.people_model.item(r)
        if item.text().startswith("Eve Exec"):
            item.setCheckState(Qt.CheckState.Checked)
    refresh(qtbot, composer)
    names = [composer.recipients_model.row_values(r)[0]
             for r in range(composer.recipients_model.rowCount())]
    assert "Eve Exec" in names and len(names) == len(set(names))


def answer_send_again(qtbot, key):
    """Answer the "Send again?" question with a key press once it is up; records what its
    default button was."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen = {}

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        seen["name"] = box.objectName()
        seen["default"] = box.defaultButton() is box.button(QMessageBox.StandardButton.No)
        seen["text"] = box.text()
        if key == "enter":
            qtbot.keyClick(box, Qt.Key.Key_Return)
        else:
            box.button(QMessageBox.StandardButton.Yes).click()

    QTimer.singleShot(0, answer)
    return seen


def test_queue_once_and_the_send_again_question_defaults_to_no(qtbot, window, services, people):
    inc = services.incidents.open(client_id=people, title="VPN down", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    first = len(deliveries(services))
    # the same message again: Queue is off, a second click (or Ctrl+Enter) queues nothing
    assert not composer.queue_button.isEnabled()
    assert "Queued already" in composer.queue_button.toolTip()
    composer.queue_button.click()
    assert composer.queue() is False and len(deliveries(services)) == first
    assert composer.sent_state.isVisible()
    assert composer.sent_state.text() == f"Last queued: {first} queued"
    # it follows the outbox: one delivery cancelled
    services.outbox.cancel([deliveries(services)[0].id])
    qtbot.waitUntil(lambda: composer.sent_state.text() ==
                    f"Last queued: 1 cancelled, {first - 1} queued")

    # someone added to the audience: Queue is on again, but most of them just got it
    for r in range(composer.people_model.rowCount()):
        item = composer.people_model.item(r)
        if item.text().startswith("Eve Exec"):
            item.setCheckState(Qt.CheckState.Checked)
    refresh(qtbot, composer)
    assert composer.queue_button.isEnabled() and not composer.sent_state.isVisible()
    seen = answer_send_again(qtbot, "enter")
    assert composer.queue()          # accepted: asked once the preview is current
    qtbot.waitUntil(lambda: composer.notice.text() == "Not queued again.")   # Enter: No
    assert seen["name"] == "sendAgainQuestion" and seen["default"]
    assert seen["text"].startswith("Already sent just now to ")   # (one was cancelled)
    assert len(deliveries(services)) == first
    assert composer.queue_button.isEnabled()      # not queued: it can still be

    seen = answer_send_again(qtbot, "yes")
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    assert len(deliveries(services)) > first


def test_the_resolution_notice_and_the_recorded_root_cause_agree(qtbot, window, services,
                                                                 people):
    from app.domain.enums import Phase
    from PySide6.QtWidgets import QPlainTextEdit

    inc = services.incidents.open(client_id=people, title="SSO down", severity="SEV2",
                                  detected_at=services.clock.now())
    services.incidents.move_phase(inc.id, Phase.RESOLVED)
    window.compose(inc.id, "resolution_notice")
    composer = window.composer
    cause = composer.input_edits["root_cause_summary"]
    assert isinstance(cause, QPlainTextEdit)            # a sentence or two: a box that wraps
    assert cause.width() > 200
    assert cause.toPlainText() == ""                    # nothing recorded yet
    refresh(qtbot, composer)
    # the notice's own words ("still under investigation") are true while nothing is recorded
    assert not [f for p in composer.panels.values() for f in p.findings
                if f.code.startswith("cause_")]
    cause.setPlainText("An expired certificate on the identity provider")
    refresh(qtbot, composer)
    with qtbot.waitSignal(composer.queued, timeout=5000):
        assert composer.queue()
    assert composer.cause_button.isVisible()
    composer.cause_button.click()
    post = services.postincident.get(inc.id)
    assert (post.root_cause, post.root_cause_under_investigation) == (
        "An expired certificate on the identity provider", False)
    assert not composer.cause_button.isVisible()

    # now recorded: a new notice starts from it, and one that says "unknown" is flagged
    window.compose(inc.id, "resolution_notice")
    cause = composer.input_edits["root_cause_summary"]
    assert cause.toPlainText() == "An expired certificate on the identity provider"
    cause.setPlainText("")
    refresh(qtbot, composer)
    codes = {f.code for p in composer.panels.values() for f in p.findings}
    assert "cause_unknown" in codes


def test_a_template_that_cannot_render_the_sample_incident_is_not_saved(qtbot, window, services,
                                                                        people):
    """Issue 18: checked when saved, against the sample incident shipped in resources: a
    runaway loop or an unknown variable is refused with its reason, the text kept, nothing
    stored; one that renders is saved. Built-ins all render it."""
    from app.messages.composer import check_renders
    from app.messages.library import effective_templates, history

    for source in effective_templates(services.store).values():
        check_renders(source, services.clock.now())       # every shipped template passes
    window.compose()
    dialog = window.composer.open_library()
    qtbot.waitUntil(dialog.isVisible)
    dialog.select_key("status_update/simple/sms")
    original = dialog.editor.toPlainText()
    for bad, words in (
            ("{% for a in range(1000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}",
             "too large to render"),
            ("{{ facts.no_such_fact }}", "no_such_fact")):
        edited = original.replace("=== text ===\n", f"=== text ===\n{bad}\n")
        dialog.editor.setPlainText(edited)
        assert not dialog.save()
        assert words in dialog.error.text() and dialog.error.text().startswith("Not saved")
        assert dialog.editor.toPlainText() == edited                 # kept for correction
    assert history(services.store, "status_update/simple/sms") == []
    dialog.editor.setPlainText(original.replace("=== text ===\n", "=== text ===\nNOTICE: "))
    assert dialog.save()
    dialog.reject()


def test_a_saved_version_that_fails_the_new_check_stays_in_use_with_a_warning(qtbot, window,
                                                                              services, people):
    from app.messages.library import effective_templates, save_custom

    builtin = effective_templates(services.store)["status_update/simple/sms"].text
    broken = builtin.replace("=== text ===\n", "=== text ===\n{{ facts.no_such_fact }}\n")
    save_custom(services.store, services.clock, broken, key="status_update/simple/sms")
    assert effective_templates(services.store)["status_update/simple/sms"].version == 1
    window.compose()
    dialog = window.composer.open_library()
    qtbot.waitUntil(dialog.isVisible)
    dialog.select_key("status_update/simple/sms")
    assert "cannot render the sample incident" in dialog.error.text()
    assert "still uses it" in dialog.error.text()
    dialog.select_key("status_update/simple/email")                  # a built-in: no warning
    assert "cannot render" not in dialog.error.text()
    dialog.reject()


def test_a_timer_keeps_firing_while_a_heavy_preview_renders(qtbot, window, services, people):
    """Issue 18: the preview renders on a worker thread. Four templates that each loop 45,000
    times (inside the render budget) take most of a second to render; meanwhile the window's
    timers still fire (on the GUI thread they could not), and then the preview shows them."""
    import dataclasses
    import sys

    from PySide6.QtCore import QTimer

    inc = services.incidents.open(client_id=people, title="Wi-Fi outage", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    composer = window.composer
    qtbot.waitUntil(lambda: composer.settled)
    heavy = ('{% for a in range(45) %}{% for b in range(1000) %}'
             '{{ ("incident " ~ b) | title | wordcount }}{% endfor %}{% endfor %}')
    for key, source in list(composer.templates.items()):
        if key.startswith(f"{composer.type_combo.currentData()}/") and key.endswith("/email"):
            composer.templates[key] = dataclasses.replace(source, sections=tuple(
                (name, heavy if name == "text" else body, line)
                for name, body, line in source.sections))
    during = []   # timer ticks while the preview is still rendering: counted, not timed
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: during.append(1) if composer.rendering else None)
    timer.start()
    with qtbot.waitSignal(composer.rendered, timeout=20000):
        composer.refresh()
        assert composer.rendering              # refresh() returned before the render ended
    timer.stop()
    assert sys.getswitchinterval() <= 0.001      # the window hands the GIL over quickly
    # on the GUI thread none could fire until the render ended; on a busy 2-core machine the
    # worker can starve the GUI of the GIL for a while, so only a few are asked for
    assert len(during) >= 2, len(during)
    assert all(len(p.rendered_email.text) > 40000 for p in composer.panels.values())
