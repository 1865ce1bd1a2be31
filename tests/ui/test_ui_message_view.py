"""The record of what was sent, in the window: a message opened from its timeline entry
(double-click, Enter) and from the Outbox; the Outbox's preview follows the selection; its
context menu acts on the selected delivery; the HTML is drawn without fetching anything; the
source is the stored bytes; Print puts every variant on paper."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from app.domain.models import Delivery
from ui.composer.message_view import MessageView, RecipientModel
from tests.ui.test_ui_outbox import acknowledge, people  # noqa: F401 - fixtures


@pytest.fixture
def sent(services, acknowledge):  # noqa: F811
    """An acknowledgment to two people (email and SMS) gone through the drill inbox, then
    the SMS marked failed with the provider's words."""
    from ui.outbox.runner import SenderPool

    inc = acknowledge("Mail relay down")
    pool = SenderPool(services.accounts)
    outbox = services.outbox
    resolve, outbox.resolve_sender = outbox.resolve_sender, pool.resolve
    try:
        asyncio.run(outbox.flush())
    finally:
        outbox.resolve_sender = resolve
    rows = {d.channel: d for d in outbox.list()}
    with services.store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.id == rows["sms"].id)
                  .values(state="failed", last_error="400 Invalid 'To' Phone Number"))
    return inc, rows


def open_views(window) -> list[MessageView]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, MessageView) and w.isVisible()]


def timeline_row(view, kind: str) -> QModelIndex:
    from ui.models.timeline import ENTRY_ROLE

    proxy = view.timeline_model
    for r in range(proxy.rowCount()):
        index = proxy.index(r, 0)
        if proxy.data(index, ENTRY_ROLE).kind == kind:
            return index
    raise AssertionError(f"no {kind} entry")


def test_a_timeline_entry_opens_its_message_with_double_click_or_enter(qtbot, window,
                                                                       services, sent):
    inc, rows = sent
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == inc.id)
    index = timeline_row(view, "message_queued")
    view.timeline_view.setCurrentIndex(index)
    assert "Double-click or press Enter" in view.entry_detail.text()

    at = view.timeline_view.visualRect(index).center()
    viewport = view.timeline_view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at)   # as a hand does: the
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=at)  # first click, then two
    qtbot.waitUntil(lambda: len(open_views(window)) == 1)
    message = open_views(window)[0]
    qtbot.waitUntil(lambda: message.message is not None)
    assert message.windowTitle() == "Initial acknowledgment — Mail relay down"
    assert "2 recipients: 1 sent, 1 failed" in message.header.text()
    assert message.variants.rowCount() == 2
    message.close()
    qtbot.waitUntil(lambda: not open_views(window))

    # a delivery's own entry opens the message on that recipient (Enter, from the keyboard)
    from ui.models.timeline import ENTRY_ROLE

    sent_entry = timeline_row(view, "delivery_sent")
    delivery_id = view.timeline_model.data(sent_entry, ENTRY_ROLE).data["delivery_id"]
    view.timeline_view.setCurrentIndex(sent_entry)
    view.timeline_view.setFocus()
    qtbot.keyClick(view.timeline_view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(open_views(window)) == 1)
    message = open_views(window)[0]
    qtbot.waitUntil(lambda: message.current_recipient() is not None)
    assert message.current_recipient().delivery_id == delivery_id
    message.close()


def test_the_message_view_shows_each_copy_its_html_without_remote_content_and_its_source(
        qtbot, window, services, sent):
    inc, rows = sent
    view = MessageView(services, rows["email"].message_id, rows["email"].id, window)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.message is not None)
    r = view.current_recipient()
    assert r.delivery_id == rows["email"].id and r.channel == "email"
    assert view.text_view.toPlainText().startswith(f"Subject: {r.subject}\n\n")
    assert r.text in view.text_view.toPlainText()
    assert view.tabs.isTabEnabled(1)                       # the email has an HTML part
    view.show()
    view.tabs.setCurrentIndex(1)
    view.html_view.setHtml('<p>Logo <img src="https://tracker.example/pixel.png"></p>')
    qtbot.waitUntil(lambda: view.html_view.refused == ["https://tracker.example/pixel.png"])
    assert "Logo" in view.html_view.toPlainText()        # drawn, the image never fetched

    view.show_source()
    assert view.tabs.currentIndex() == 2
    with services.store.session() as s:
        wire = s.get(Delivery, rows["email"].id).wire
    assert view.source_view.toPlainText() == wire.decode().replace("\r\n", "\n")
    assert view.source_note.text() == ("The message source exactly as it was handed to the "
                                       "mail server.")

    # the SMS variant: its copy, no HTML, the provider's words beside the recipient
    sms_row = next(n for n in range(view.variants.rowCount())
                   if view.variants.row_at(n).channel == "sms")
    view.variant_view.selectRow(sms_row)
    qtbot.waitUntil(lambda: view.recipients.row_at(0).channel == "sms")
    view.recipient_view.selectRow(0)
    assert not view.tabs.isTabEnabled(1)
    assert "Failed" in view.copy_label.text()
    assert view.recipients.data(view.recipients.index(0, RecipientModel.ERROR)) == \
        "400 Invalid 'To' Phone Number"
    view.show_source()
    assert view.source_view.toPlainText().startswith(f"To: {rows['sms'].address}\nBody: ")


def test_print_puts_every_variant_on_paper(qtbot, window, services, sent, tmp_path):
    from PySide6.QtPrintSupport import QPrinter

    inc, rows = sent
    view = MessageView(services, rows["email"].message_id, None, window)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.message is not None)
    text = view.document().toPlainText()
    for v in view.message.variants:
        assert v.text.splitlines()[0] in text
    assert "Failed: Una User" in text and "400 Invalid 'To' Phone Number" in text
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "message.pdf"))
    view.print_to(printer)
    assert (tmp_path / "message.pdf").read_bytes().startswith(b"%PDF")


def test_the_outbox_preview_follows_the_selection_and_opens_the_message(qtbot, window,
                                                                        services, sent):
    inc, rows = sent
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    qtbot.waitUntil(lambda: outbox.model.rowCount() == 1)
    assert outbox.preview_title.text() == "Select a delivery to read what it carried."
    assert not outbox.open_button.isEnabled()

    for channel in ("email", "sms"):
        index = outbox.proxy.mapFromSource(outbox.model.index_of(rows[channel].id))
        outbox.tree.setCurrentIndex(index)
        d = rows[channel]
        assert d.recipient_name in outbox.preview_title.text()
        with services.store.session() as s:
            text = s.get(Delivery, d.id).body_text
        assert text in outbox.preview_text.toPlainText()
    assert "400 Invalid" in outbox.preview_title.text()       # the failed SMS says why

    outbox.open_button.click()
    qtbot.waitUntil(lambda: len(open_views(window)) == 1)
    message = open_views(window)[0]
    qtbot.waitUntil(lambda: message.current_recipient() is not None)
    assert message.current_recipient().delivery_id == rows["sms"].id
    message.close()


def test_the_outbox_context_menu_acts_on_the_selected_delivery(qtbot, window, services, sent):
    inc, rows = sent
    window.nav_buttons["outbox"].setChecked(True)
    outbox = window.outbox
    qtbot.waitUntil(lambda: outbox.model.rowCount() == 1)
    index = outbox.proxy.mapFromSource(outbox.model.index_of(rows["sms"].id))
    outbox.tree.setCurrentIndex(index)
    menu = outbox.context_menu()
    actions = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert actions["outboxRetryAction"].isEnabled()
    assert not actions["outboxResendAction"].isEnabled()      # only for unknown
    assert not actions["outboxCancelAction"].isEnabled()      # failed: nothing to cancel
    actions["outboxCopyAddressAction"].trigger()
    assert QGuiApplication.clipboard().text() == rows["sms"].address
    actions["outboxRetryAction"].trigger()
    assert {d.id: d.state for d in services.outbox.list()}[rows["sms"].id] == "queued"
    assert {d.id: d.state for d in services.outbox.list()}[rows["email"].id] == "sent"

    outbox.tree.setCurrentIndex(outbox.proxy.mapFromSource(
        outbox.model.index_of(rows["email"].id)))
    menu = outbox.context_menu()
    view_action = next(a for a in menu.actions() if a.objectName() == "outboxViewMessageAction")
    view_action.trigger()
    qtbot.waitUntil(lambda: len(open_views(window)) == 1)
    open_views(window)[0].close()


def test_the_composer_lists_the_incidents_sent_messages_and_opens_one(qtbot, window, services,
                                                                      sent):
    inc, rows = sent
    window.compose(inc.id)
    dialog = window.composer.open_sent_messages()
    qtbot.addWidget(dialog)
    assert dialog.model.rowCount() == 1 and not dialog.empty.isVisible()
    summary = dialog.model.row_at(0)
    assert (summary.type_label, summary.recipients, summary.counts) == (
        "Initial acknowledgment", 2, {"sent": 1, "failed": 1})
    assert dialog.model.data(dialog.model.index(0, 4)) == "1 sent, 1 failed"
    opened = dialog.open_current()
    qtbot.waitUntil(lambda: opened.message is not None)
    assert opened.message.id == rows["email"].message_id
    opened.close()
    dialog.close()
