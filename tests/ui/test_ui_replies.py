"""The incident's Replies tab (ui/incidents/replies_pane.py), on a real migrated SQLite file: a
HIPAA notice sent through the outbox to two people, then replies, an automatic reply and a
bounce fed to the MailboxRecorder as the IMAP reader would
(tests/integration/test_mailbox_recorder.py), read back in the incident view."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.domain.enums import Phase, TimelineKind
from app.mailbox.recorder import MailboxRecorder, ReadMail
from app.timefmt import format_local, zone_named
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, configure_client, hipaa_client, people,
)
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    FOLDER, VALIDITY, account_id, answer, deliveries_of, dsn, entries, sent_letter,
)
from tests.ui.test_ui_main_window import _interactive_widgets
from ui.incidents.replies_pane import NOTHING_READ, RepliesModel

ZONE = "America/New_York"
QUESTION = "Which records were affected? We need the list by noon."
QUOTED = (f"{QUESTION}\n\nOn Mon, 2 Mar 2026 at 09:13, Desk <desk@example.com> wrote:\n"
          "> The mailbox server is down.\n> Next update at 10:00.\n")


@pytest.fixture
def services(qapp, config, store, frozen_clock):
    """The window's services over the recorder tests' store and frozen clock."""
    from ui.services import Services

    s = Services.build(config, store, frozen_clock, actor="UI Tester")
    yield s
    s.qt_events.detach()
    s.settings.sync()


@pytest.fixture
def letter(store, frozen_clock, sent_letter, hipaa_client):  # noqa: F811
    """(incident id, message id, {recipient name: delivery}); the client's zone is New York."""
    configure_client(store, frozen_clock, hipaa_client, time_zone=ZONE)
    incident_id, message_id = sent_letter
    return incident_id, message_id, deliveries_of(store, message_id)


def record(services, account_id, uid, raw):  # noqa: F811
    """Feed one message to the recorder, as the mailbox reader does, on the window's bus."""
    result = MailboxRecorder(services.store, services.clock, services.events).record(
        account_id, FOLDER, VALIDITY, [ReadMail(uid, raw)])
    assert len(result.recorded) == 1, result
    return result.recorded[0]


@pytest.fixture
def view(qtbot, services, letter):
    """The incident view showing the incident, its Replies tab in front."""
    from ui.incidents.incident_view import IncidentView

    v = IncidentView(services)
    qtbot.addWidget(v)
    v.resize(1280, 820)
    v.set_incident(services.incidents.get(letter[0]))
    v.show()
    qtbot.waitExposed(v)
    v.tabs.setCurrentWidget(v.replies.parentWidget())
    return v


def rows(pane) -> list[dict[str, str]]:
    """What the table shows, row by row, by column header."""
    model = pane.view.model()
    return [{name: model.index(r, c).data() for c, name in enumerate(RepliesModel.COLUMNS)}
            for r in range(model.rowCount())]


def show(pane, label: str) -> None:
    pane.kind_filter.setCurrentIndex(pane.kind_filter.findText(label))


def test_a_recorded_reply_is_listed_with_its_new_text(qtbot, view, services, letter,
                                                      account_id):  # noqa: F811
    pane = view.replies
    qtbot.waitUntil(lambda: pane.open_count == 0)
    assert pane.empty_label.isVisible() and pane.empty_label.text() == NOTHING_READ
    assert view.tabs.tabText(1) == "Replies"

    record(services, account_id, 11, answer(letter[2]["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    [row] = rows(pane)
    assert row["Text"] == QUESTION                  # the quote is stripped
    assert row["Kind"] == "Reply" and row["From"] == "Lee Legal"
    assert row["Answers"] == "Regulatory notification to Lee Legal"
    assert row["Status"] == "Open"
    received = format_local(T0 + 30 * MIN, zone_named(ZONE), now=services.clock.now())
    assert row["Received"] == received and received.endswith("EST")   # the client's zone
    assert view.tabs.tabText(1) == "Replies (1)"
    assert not pane.empty_label.isVisible() and pane.view.isVisible()

    pane.view.selectRow(0)
    detail = pane.detail.toPlainText()
    assert detail.startswith(f"Lee Legal <{letter[2]['Lee Legal'].address}>\n"
                             f"Open · received {received} (sent 04:25 EST)\n")
    assert "Subject: Re: " in detail and QUESTION in detail
    assert "In answer to: Regulatory notification to Lee Legal\n" in detail
    assert "The mailbox server is down" not in detail
    assert pane.detail.isReadOnly()
    assert pane.handle_button.isEnabled() and pane.handle_button.text() == "Mark handled"


def test_an_automatic_reply_is_listed_only_when_asked_for(qtbot, view, services, letter,
                                                          account_id):  # noqa: F811
    pane = view.replies
    lee = letter[2]["Lee Legal"]
    record(services, account_id, 10, answer(lee, "I am out of the office until Monday.",
                                            auto=True))
    record(services, account_id, 11, answer(lee, QUOTED))
    qtbot.waitUntil(lambda: pane.model.rowCount() == 2)
    assert [r["Kind"] for r in rows(pane)] == ["Reply"]
    assert view.tabs.tabText(1) == "Replies (1)"    # an out-of-office is nothing to answer

    show(pane, "Automatic replies")
    [auto] = rows(pane)
    assert auto["Kind"] == "Auto-reply"
    kind_tip = pane.view.model().index(0, RepliesModel.KIND).data(Qt.ItemDataRole.ToolTipRole)
    assert kind_tip == "Automatic reply"
    assert auto["Text"] == "I am out of the office until Monday."
    show(pane, "Everything")
    assert sorted(r["Kind"] for r in rows(pane)) == ["Auto-reply", "Reply"]
    show(pane, "Bounces")
    assert rows(pane) == [] and pane.empty_label.text() == "No bounces for this incident."


def test_a_bounce_is_listed_with_the_servers_reason_under_bounces(qtbot, view, services,
                                                                  letter, account_id):  # noqa: F811
    pane = view.replies
    cal = letter[2]["Cal Customer"]
    record(services, account_id, 7, dsn(cal))
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1)
    assert rows(pane) == []                          # not a reply
    assert pane.empty_label.text() == "No replies for this incident."

    show(pane, "Bounces")
    [bounce] = rows(pane)
    assert bounce["Kind"] == "Bounce" and bounce["Answers"].endswith("to Cal Customer")
    assert "User unknown" in bounce["Text"] and "5.1.1" in bounce["Text"]
    pane.view.selectRow(0)
    assert pane.detail.toPlainText().startswith("Bounce from ")
    assert "The server said: " in pane.detail.toPlainText()
    assert "User unknown" in pane.detail.toPlainText()
    tip = pane.view.model().index(0, RepliesModel.TEXT).data(Qt.ItemDataRole.ToolTipRole)
    assert "User unknown" in tip


def test_marking_handled_takes_it_off_the_open_list_and_open_again_brings_it_back(
        qtbot, view, services, store, letter, account_id):  # noqa: F811
    incident_id = letter[0]
    pane = view.replies
    record(services, account_id, 11, answer(letter[2]["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    pane.view.selectRow(0)
    qtbot.mouseClick(pane.handle_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: rows(pane) == [])
    assert view.tabs.tabText(1) == "Replies"
    assert "handled" in pane.empty_label.text() and pane.empty_label.isVisible()
    [handled] = entries(store, incident_id, TimelineKind.REPLY_HANDLED)
    assert handled.actor == "UI Tester" and handled.data["handled"] is True
    assert handled.summary == "Handled the reply from Lee Legal"
    # the timeline tab got the entry too
    assert view.timeline_model.entry_at(0).kind == TimelineKind.REPLY_HANDLED.value

    pane.handled_check.setChecked(True)
    [row] = rows(pane)
    when = format_local(T0 + 30 * MIN, zone_named(ZONE), now=services.clock.now())
    assert row["Status"] == f"Handled by UI Tester at {when}"
    pane.view.selectRow(0)
    assert pane.handle_button.text() == "Open again" and pane.handle_button.isEnabled()
    assert pane.handle_button.accessibleName() == "Open the selected reply again"
    qtbot.mouseClick(pane.handle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: rows(pane)[0]["Status"] == "Open")
    assert view.tabs.tabText(1) == "Replies (1)"
    pane.handled_check.setChecked(False)
    assert len(rows(pane)) == 1
    assert [e.data["handled"] for e in entries(store, incident_id,
                                               TimelineKind.REPLY_HANDLED)] == [True, False]


def test_open_the_message_it_answers(qtbot, view, services, letter, account_id):  # noqa: F811
    from ui.composer.message_view import MessageView

    _incident, message_id, deliveries = letter
    pane = view.replies
    assert not pane.message_button.isEnabled()       # nothing selected
    record(services, account_id, 11, answer(deliveries["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    pane.view.selectRow(0)
    qtbot.mouseClick(pane.message_button, Qt.MouseButton.LeftButton)
    opened = [w for w in QApplication.topLevelWidgets()
              if isinstance(w, MessageView) and w.isVisible()]
    try:
        assert [(w.message_id, w.focus) for w in opened] == \
            [(message_id, deliveries["Lee Legal"].id)]
    finally:
        for w in opened:
            w.close()


def test_the_tab_counts_a_reply_recorded_while_it_is_shown(qtbot, view, services, letter,
                                                           account_id):  # noqa: F811
    pane = view.replies
    record(services, account_id, 11, answer(letter[2]["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: view.tabs.tabText(1) == "Replies (1)")
    assert pane.isVisible()
    with qtbot.waitSignal(pane.open_count_changed, timeout=3000) as told:
        record(services, account_id, 12, answer(letter[2]["Cal Customer"], "Call me."))
    assert told.args == [2]
    qtbot.waitUntil(lambda: view.tabs.tabText(1) == "Replies (2)")
    assert sorted(r["From"] for r in rows(pane)) == ["Cal Customer", "Lee Legal"]


def test_the_tab_counts_open_replies_before_its_pane_is_built(qtbot, services, letter,
                                                             account_id):  # noqa: F811
    """The pane is built when its tab is first chosen (not on start-up's path); until then
    the tab still says how many replies are open."""
    from ui.incidents.incident_view import IncidentView

    v = IncidentView(services)
    qtbot.addWidget(v)
    v.set_incident(services.incidents.get(letter[0]))
    v.show()
    qtbot.waitExposed(v)
    record(services, account_id, 21, answer(letter[2]["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: v.tabs.tabText(1) == "Replies (1)")
    assert v._replies is None                       # counted without building the pane
    v.tabs.setCurrentIndex(1)
    assert v._replies is not None and v._replies.isVisible()
    assert [r["From"] for r in rows(v._replies)] == ["Lee Legal"]


def test_a_closed_incident_is_read_only(qtbot, view, services, letter, account_id):  # noqa: F811
    incident_id = letter[0]
    pane = view.replies
    record(services, account_id, 11, answer(letter[2]["Lee Legal"], QUOTED))
    qtbot.waitUntil(lambda: len(rows(pane)) == 1)
    pane.view.selectRow(0)
    assert pane.handle_button.isEnabled()
    services.incidents.move_phase(incident_id, Phase.RESOLVED)
    services.incidents.move_phase(incident_id, Phase.CLOSED)
    qtbot.waitUntil(lambda: not pane.handle_button.isEnabled())
    assert "final" in pane.handle_button.toolTip()
    assert pane.message_button.isEnabled()           # reading it is still fine
    # refused by the service too (another desk closed it meanwhile): said, not raised
    assert pane.mark_handled(True) is None
    assert pane.error.isVisible() and "closed" in pane.error.text()
    assert rows(pane)[0]["Status"] == "Open"


def test_every_interactive_widget_is_named(view):
    widgets = _interactive_widgets(view.replies) + [view.tabs]
    assert {w.objectName() for w in widgets} >= {
        "repliesKindFilter", "repliesIncludeHandledCheck", "repliesView", "replyDetail",
        "markReplyHandledButton", "openAnsweredMessageButton", "incidentTabs"}
    assert [w.objectName() for w in widgets if not w.objectName() or not w.accessibleName()] \
        == []


def test_the_text_keeps_its_width_in_a_narrow_pane(qtbot, services, letter,
                                                  account_id):  # noqa: F811
    from ui.incidents.replies_pane import RepliesPane

    d = letter[2]
    record(services, account_id, 7, dsn(d["Cal Customer"]))
    record(services, account_id, 11, answer(d["Lee Legal"], QUOTED))
    pane = RepliesPane(services)
    qtbot.addWidget(pane)
    pane.set_incident(services.incidents.get(letter[0]))
    show(pane, "Everything")
    pane.handled_check.setChecked(True)
    pane.resize(1000, 400)
    pane.show()
    qtbot.waitExposed(pane)
    view, header = pane.view, pane.view.horizontalHeader()
    shown = [RepliesModel.COLUMNS[c] for c in range(6) if not view.isColumnHidden(c)]
    assert shown == list(RepliesModel.COLUMNS)       # room for every column

    pane.resize(370, 400)                             # beside the facts on a 1366-px laptop
    qtbot.waitUntil(lambda: view.isColumnHidden(RepliesModel.ANSWERS))
    assert not view.isColumnHidden(RepliesModel.FROM)
    assert header.sectionSize(RepliesModel.TEXT) >= view.viewport().width() * 2 // 5 - 1
    assert view.horizontalScrollBar().maximum() == 0  # nothing to scroll sideways to
    # the filter and the buttons are each on one line still
    assert pane.handle_button.y() == pane.message_button.y()
    assert abs(pane.kind_filter.y() - pane.handled_check.y()) < pane.kind_filter.height() // 2

    show(pane, "Bounces")                             # whose address bounced, not the server
    assert view.isColumnHidden(RepliesModel.FROM)
    assert not view.isColumnHidden(RepliesModel.ANSWERS)
    pane.resize(pane.minimumWidth(), 400)             # the narrowest: the rows stack
    qtbot.waitUntil(lambda: pane.message_button.y() > pane.handle_button.y())
    assert pane.handled_check.y() >= pane.kind_filter.y() + pane.kind_filter.height()
