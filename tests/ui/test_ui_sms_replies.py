"""SMS replies in the incident's Replies tab (issue 25): listed with the emailed ones, and
marked handled on their own channel — an email reply and an SMS reply may share an id (two
tables), and the pane must mark the one selected. On the fixtures of test_ui_replies.py."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.domain.enums import TimelineKind
from app.domain.models import InboundSms
from app.events import MAILBOX_READ
from app.mailbox.replies import RepliesService
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, hipaa_client, people,
)
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    account_id, answer, deliveries_of, entries, sent_letter,
)
from tests.ui.test_ui_replies import QUOTED, letter, record, rows, services, view  # noqa: F401


def test_an_sms_reply_is_listed_and_marked_handled_on_its_own_channel(
        qtbot, view, services, store, letter, account_id):  # noqa: F811
    incident_id, _message, sent = letter
    lee = sent["Lee Legal"]
    record(services, account_id, 11, answer(lee, QUOTED))     # the email reply: id 1
    with store.session() as session, session.begin():        # an SMS reply: id 1 too
        session.add(InboundSms(account_id=None, provider_sid="SM1", from_number="+12065550109",
                               to_number="+14155550100", body="Call me on this number",
                               sent_at=T0 + 31 * MIN, received_at=T0 + 32 * MIN, kind="reply",
                               incident_id=incident_id, delivery_id=lee.id, moved_by="",
                               handled_by=""))
    services.events.publish(MAILBOX_READ, ())
    pane = view.replies
    qtbot.waitUntil(lambda: len(rows(pane)) == 2)
    assert [(r["From"], r["Text"]) for r in rows(pane)] == [
        ("Lee Legal", "Call me on this number"),
        ("Lee Legal", "Which records were affected? We need the list by noon.")]
    qtbot.waitUntil(lambda: view.tabs.tabText(1) == "Replies (2)")

    pane.view.selectRow(0)                                    # the SMS one
    assert pane.selected().channel == "sms"
    qtbot.mouseClick(pane.handle_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    replies = RepliesService(store, services.clock)
    assert replies.get(1, channel="sms").handled_by == "UI Tester"
    assert replies.get(1).handled_at is None                  # the email one is still open
    assert [r["Text"] for r in rows(pane)] == \
        ["Which records were affected? We need the list by noon."]
    [handled] = entries(store, incident_id, TimelineKind.REPLY_HANDLED)
    assert handled.data["channel"] == "sms"
    assert handled.summary == "Handled the SMS reply from Lee Legal (+12065550109)"
    qtbot.waitUntil(lambda: view.tabs.tabText(1) == "Replies (1)")


def test_an_sms_reply_about_another_incident_is_moved_there(
        qtbot, view, services, store, letter):  # noqa: F811
    """Matched to the latest SMS sent to that number, a text may be about another incident:
    the coordinator moves it; both timelines say so and it leaves this incident's pane."""
    incident_id, _message, sent = letter
    lee = sent["Lee Legal"]
    other = services.incidents.open(client_id=services.incidents.get(incident_id).client_id,
                                    title="Badge readers offline", severity="SEV3",
                                    detected_at=services.clock.now())
    with store.session() as session, session.begin():
        session.add(InboundSms(account_id=None, provider_sid="SM2", from_number="+12065550109",
                               to_number="+14155550100", body="The badge reader at door 3 too",
                               sent_at=T0 + 31 * MIN, received_at=T0 + 32 * MIN, kind="reply",
                               incident_id=incident_id, delivery_id=lee.id, moved_by="",
                               handled_by=""))
    services.events.publish(MAILBOX_READ, ())
    pane = view.replies
    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    pane.view.selectRow(0)
    assert pane.move_button.isVisible() and pane.move_button.accessibleName()
    assert pane.move_combo.findData(other.id) >= 0
    assert pane.move_combo.findData(incident_id) < 0           # not to where it is
    pane.move_combo.setCurrentIndex(pane.move_combo.findData(other.id))
    qtbot.mouseClick(pane.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(rows(pane)) == 0)
    moved = RepliesService(store, services.clock).list(other.id)
    assert [(r.channel, r.text) for r in moved] == [("sms", "The badge reader at door 3 too")]
    arrived = entries(store, other.id, TimelineKind.REPLY_RECEIVED)
    assert "moved here from incident" in arrived[-1].summary
    assert arrived[-1].actor == "UI Tester"
