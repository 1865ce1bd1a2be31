"""The Outbox workspace with the real background sender: a queued message goes out through the
drill inbox (no account configured), the status bar follows, and the coordinator's actions work."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.models import Delivery
from ui.composer.message_view import RecipientModel


@pytest.fixture
def people(services, client_of):
    cid = client_of(services)
    for name, cat, channel, address in (("Ivan Ops", "it_staff_msp", "email", "ivan@example.com"),
                                        ("Una User", "affected_users", "sms", "+12065550101")):
        services.stakeholders.create(StakeholderData(
            client_id=cid, name=name, category=cat,
            contacts=(ContactPointData(channel, address, 1),)))
    return cid


@pytest.fixture
def acknowledge(services, people):
    """Queue an initial acknowledgment of a new incident to everyone immediate; returns it."""
    from app.messages.composer import Sender, queue_message
    from app.messages.library import builtin_templates
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients

    def _queue(title: str):
        inc = services.incidents.open(client_id=people, title=title, severity="SEV2",
                                      detected_at=services.clock.now())
        queue_message(services.store, services.clock, services.events, incident=inc,
                      client=list_clients(services.store)[0],
                      template_type="initial_acknowledgment", templates=builtin_templates(),
                      recipients=resolve_recipients(services.store, people,
                                                    timing_needs=["immediate"]),
                      sender=Sender("Tess", "Org"))
        return inc

    return _queue


@pytest.fixture
def running(qtbot, services, window):
    from ui.bridge import AsyncBridge
    from ui.outbox.runner import OutboxRunner

    runner = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
    window.runner = runner
    runner.start()
    yield runner
    runner.stop()


def test_a_queued_message_goes_out_through_the_drill_inbox(qtbot, window, services, people,
                                                           running):
    inc = services.incidents.open(client_id=people, title="Wi-Fi down", severity="SEV3",
                                  detected_at=services.clock.now())
    window.compose(inc.id)
    with qtbot.waitSignal(window.composer.queued, timeout=5000):
        window.composer.queue()
    qtbot.waitUntil(lambda: services.outbox.counts().get("sent", 0) == 2, timeout=10000)
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    qtbot.waitUntil(lambda: outbox.model.rowCount() == 1)
    group = outbox.model.groups()[0]
    assert {d.state for d in group.deliveries} == {"sent"}
    assert all(d.provider_id.startswith("drill:") for d in group.deliveries)
    first_delivery = outbox.model.index(0, 3, outbox.model.index(0, 0))
    assert outbox.model.data(first_delivery) == "Delivered to the drill inbox"
    qtbot.waitUntil(lambda: window.outbox_label.text() == "Outbox: nothing waiting")
    kinds = [e.kind for e in services.incidents.timeline(inc.id)]
    assert "message_queued" in kinds and "delivery_sent" in kinds


def test_actions_on_selected_deliveries(qtbot, window, services, acknowledge):
    acknowledge("Mail relay down")
    with services.store.session() as s, s.begin():  # one unknown, one failed
        ids = [d.id for d in s.query(Delivery).order_by(Delivery.id)]
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(state="unknown"))
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(state="failed",
                                                                         last_error="550 no"))
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    outbox.reload()
    assert "offline" not in window.outbox_label.text()
    outbox.tree.selectAll()
    assert outbox.mark_sent_button.isEnabled() and outbox.retry_button.isEnabled()
    assert outbox._act("mark_sent") == 1
    states = {d.id: d.state for d in services.outbox.list()}
    assert states[ids[0]] == "sent" and states[ids[1]] == "failed"
    outbox.tree.selectAll()
    assert outbox._act("retry") == 1
    assert {d.id: d.state for d in services.outbox.list()}[ids[1]] == "queued"
    outbox.tree.selectAll()
    assert outbox._act("cancel") == 1  # the sent one stays sent
    assert "could not be" in outbox.notice.text()
    window.update_outbox_status()
    assert window.outbox_label.text() == "Outbox: nothing waiting"


def test_status_bar_says_offline_when_deliveries_wait_to_retry(qtbot, window, services,
                                                               acknowledge):
    acknowledge("Core switch")
    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).values(state="retry_wait"))
    window.update_outbox_status()
    assert window.outbox_label.text() == "offline — 2 waiting"


def test_a_send_in_progress_is_shown_in_words_beside_the_busy_bar(qtbot, window, services,
                                                                   acknowledge):
    acknowledge("Core switch")
    outbox = window.outbox
    window.nav_buttons["outbox"].setChecked(True)
    outbox.reload()
    assert outbox.progress.isHidden() and outbox.progress_label.isHidden()
    with services.store.session() as s, s.begin():   # the round is claimed: out on the network
        s.execute(update(Delivery).values(state="sending", attempts=1))
    outbox.reload()
    window.update_outbox_status()
    assert not outbox.progress.isHidden()
    assert not outbox.progress_label.isHidden()
    assert outbox.progress_label.text() == "Sending 2…"
    assert window.outbox_label.text() == "Outbox: sending 2"


def test_the_view_follows_a_send_while_it_goes_on_updating_rows_in_place(qtbot, window,
                                                                         services, acknowledge):
    """During a big send the outbox changes many times a second: the view follows at most every
    few hundred ms (not only once it goes quiet), reading in the background and updating the
    changed rows in place — no reset, so the coordinator's selection stays."""
    from PySide6.QtCore import QTimer

    from app.events import OUTBOX_CHANGED

    acknowledge("Core switch")
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    qtbot.waitUntil(lambda: outbox.model.delivery_count() == 2)
    first, second = sorted(d.id for d in services.outbox.list())
    outbox.tree.selectAll()
    resets = []
    outbox.model.modelReset.connect(lambda: resets.append(1))

    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == first).values(state="sent", attempts=1))
    stream = QTimer()   # the other deliveries of a big send keep changing meanwhile
    stream.setInterval(40)
    stream.timeout.connect(lambda: services.events.publish(OUTBOX_CHANGED, (second,)))
    stream.start()
    services.events.publish(OUTBOX_CHANGED, (first,))
    try:
        qtbot.waitUntil(lambda: {d.id: d.state for g in outbox.model.groups()
                                 for d in g.deliveries}[first] == "sent", timeout=3000)
        assert stream.isActive()           # seen while the stream went on
    finally:
        stream.stop()
    assert resets == []                    # updated in place
    assert len(outbox.selected_deliveries()) == 2
    assert outbox.summary.text() == "1 queued, 1 sent"


def test_changes_while_another_workspace_is_in_front_are_read_when_it_comes_back(
        qtbot, window, services, acknowledge):
    from app.events import OUTBOX_CHANGED

    acknowledge("Core switch")
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    qtbot.waitUntil(lambda: outbox.model.delivery_count() == 2)
    window.nav_buttons["incidents"].setChecked(True)
    qtbot.waitUntil(lambda: not outbox.isVisible())
    reads = []
    outbox.reader.finished.connect(lambda _r: reads.append(1))
    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).values(state="sent", attempts=1))
    with qtbot.waitSignal(outbox.refresh_timer.timeout, timeout=3000):
        services.events.publish(OUTBOX_CHANGED, None)
    assert not outbox.reader.running     # the refresh came: nothing is read unseen
    assert reads == [] and outbox.summary.text() == "2 queued"
    window.nav_buttons["outbox"].setChecked(True)
    qtbot.waitUntil(lambda: outbox.summary.text() == "2 sent")
    assert {d.state for g in outbox.model.groups() for d in g.deliveries} == {"sent"}


def test_the_model_updates_only_deliveries_it_shows(qapp, services, acknowledge):
    from dataclasses import replace

    from ui.models.outbox import OutboxModel

    acknowledge("Core switch")
    model = OutboxModel()
    model.set_deliveries(services.outbox.list())
    shown = [d for g in model.groups() for d in g.deliveries]
    assert model.groups()[0].counts() == {"queued": 2}
    stranger = replace(shown[0], id=10_000, state="sent")
    assert model.update_deliveries([replace(shown[1], state="sent"), stranger]) is False
    assert model.groups()[0].counts() == {"queued": 2}          # nothing half-applied
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.parent().isValid(), a.row(),
                                                           b.row())))
    assert model.update_deliveries([replace(shown[1], state="sent")]) is True
    assert model.groups()[0].counts() == {"queued": 1, "sent": 1}
    assert (True, 1, 1) in changed and (False, 0, 0) in changed  # the row and its message


def test_resending_an_unknown_sms_asks_first(qtbot, window, services, acknowledge,
                                             monkeypatch):
    import ui.outbox.workspace as module

    acknowledge("SMS gateway flaky")
    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).values(state="unknown"))
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    outbox.reload()
    asked = []
    monkeypatch.setattr(module, "confirm_sms_resend", lambda parent, n: asked.append(n) or False)
    outbox.tree.selectAll()
    assert outbox._act("resend_unknown") == 0 and asked == [1]
    assert {d.state for d in services.outbox.list()} == {"unknown"}
    monkeypatch.setattr(module, "confirm_sms_resend", lambda parent, n: True)
    outbox.tree.selectAll()
    assert outbox._act("resend_unknown") == 2


def test_the_window_does_not_send_or_recover_while_another_process_holds_the_lease(
        qtbot, window, services, acknowledge):
    from sqlalchemy import update as sql_update

    from app.domain.models import Delivery as D
    from app.sending.lease import take, who_holds
    from ui.bridge import AsyncBridge
    from ui.outbox.runner import OutboxRunner

    acknowledge("Mail relay down")
    with services.store.session() as s, s.begin():
        first = s.scalars(select(D.id).order_by(D.id)).first()
        s.execute(sql_update(D).where(D.id == first).values(state="sending", attempts=1))
    take(services.store, services.clock, "clarion outbox flush (process 9 on desk)")
    runner = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
    window.runner = runner
    with qtbot.waitSignal(runner.blocked, timeout=2000):
        runner.start()
    try:
        assert runner.held_by == "clarion outbox flush (process 9 on desk)"
        assert runner.recovered == 0 and not runner.bridge.running
        window.update_outbox_status()
        assert window.outbox_label.text().startswith(
            "Not sending here: clarion outbox flush (process 9 on desk) is sending")
        counts = services.outbox.counts()
        assert counts["sending"] == 1 and counts["sent"] == 0   # untouched, nothing sent
        assert who_holds(services.store, services.clock).startswith("clarion outbox flush")
    finally:
        runner.stop()


def test_a_bounced_delivery_is_shown_found_by_the_state_filter_and_in_its_message(
        qtbot, window, services, acknowledge):
    """Sent, then returned by a server (read from the mailbox): "Bounced" with the server's
    reason, in its own colour, in the Outbox, its state filter and the message's window."""
    from PySide6.QtCore import Qt

    from ui.composer.message_view import MessageView
    from ui.models.outbox import STATE_COLOURS

    acknowledge("Mail relay down")
    with services.store.session() as s, s.begin():
        ids = [d.id for d in s.query(Delivery).order_by(Delivery.id)]
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(
            state="bounced", last_error="Bounced: 550 5.1.1 User unknown"))
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(state="sent"))
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    outbox.reload()
    qtbot.waitUntil(lambda: outbox.model.delivery_count() == 2)
    model = outbox.model
    message = model.index(0, 0)
    cells = {model.data(model.index(r, 0, message)):
             (model.data(model.index(r, 3, message)), model.data(model.index(r, 5, message)),
              model.data(model.index(r, 3, message), Qt.ItemDataRole.ForegroundRole))
             for r in range(model.rowCount(message))}
    bounced = next(v for v in cells.values() if v[0] == "Bounced")
    assert bounced[1] == "Bounced: 550 5.1.1 User unknown"
    assert bounced[2].name() == STATE_COLOURS["bounced"] != STATE_COLOURS["failed"]
    assert "1 bounced" in model.data(model.index(0, 3))          # the message's own row
    assert "1 bounced" in outbox.summary.text()

    combo = outbox.state_filter
    assert combo.findText("Bounced") >= 0
    combo.setCurrentIndex(combo.findData("bounced"))
    proxy = outbox.proxy
    assert proxy.rowCount() == 1
    shown = proxy.index(0, 0)
    assert proxy.rowCount(shown) == 1
    assert proxy.data(proxy.index(0, 3, shown)) == "Bounced"
    combo.setCurrentIndex(combo.findData("failed"))              # none failed: nothing shown
    assert proxy.rowCount() == 0

    view = MessageView(services, services.outbox.list()[0].message_id, ids[0], window)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.current_recipient() is not None)
    assert view.current_recipient().delivery_id == ids[0]
    assert "Bounced" in view.copy_label.text()
    assert "1 bounced" in view.header.text()
    row = view.recipients.row_of(ids[0])
    assert view.recipients.data(view.recipients.index(row, 2)) == "Bounced"
    assert view.recipients.data(view.recipients.index(row, RecipientModel.ERROR)) == \
        "Bounced: 550 5.1.1 User unknown"
    assert "Bounced: Ivan Ops" in view.document().toPlainText()  # on paper, like a failure
