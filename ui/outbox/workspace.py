"""The Outbox workspace: every delivery grouped by its message — recipient, channel, state,
attempts, last error, sent time — with retry, cancel, resend and mark-as-sent, and a visible
sign while sending is in progress. Beside the list, a preview of the selected delivery's copy as
it was sent; a context menu acts on the selection (view the message, retry, cancel, resend,
copy the address). It reads the outbox; the sending loop runs elsewhere."""

from __future__ import annotations

import html
import logging
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QPlainTextEdit,
    QProgressBar, QPushButton, QSplitter, QTreeView, QVBoxLayout, QWidget,
)

from app.domain.enums import DeliveryState
from ui.models.outbox import DTO_ROLE, STATE_LABELS, MessageGroup, OutboxFilterProxy, OutboxModel
from ui.services import Services
from ui.widgets.forms import NoticeLabel, named
from ui.worker import Worker

log = logging.getLogger(__name__)


class OutboxWorkspace(QWidget):
    send_now_requested = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("outboxWorkspace")
        self.model = OutboxModel(self)
        self.proxy = OutboxFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.state_filter = named(QComboBox(), "outboxStateFilter", "Filter by state")
        self.state_filter.addItem("All states", None)
        for state in DeliveryState:
            self.state_filter.addItem(STATE_LABELS[state.value], state.value)
        self.incident_filter = named(QComboBox(), "outboxIncidentFilter", "Filter by incident")
        self.summary = QLabel()
        self.summary.setObjectName("outboxSummary")
        self.paused = NoticeLabel("outboxPausedNotice")
        self.progress = named(QProgressBar(), "outboxProgress", "Sending in progress")
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.progress_label = QLabel()   # a busy bar draws no text: this says what is out
        self.progress_label.setObjectName("outboxProgressLabel")
        self.progress_label.hide()
        self.tree = named(QTreeView(), "outboxTree", "Deliveries by message")
        self.tree.setModel(self.proxy)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)  # 10,000 rows scroll smoothly
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in ((0, 300), (1, 70), (2, 250), (3, 200), (4, 70), (5, 230)):
            header.resizeSection(column, width)
        self.send_button = named(QPushButton("Send now"), "outboxSendNowButton",
                                 "Send what is waiting now")
        self.retry_button = named(QPushButton("Retry"), "outboxRetryButton",
                                  "Retry the selected deliveries")
        self.resend_button = named(QPushButton("Resend unknown"), "outboxResendButton",
                                   "Send the selected unknown deliveries again")
        self.mark_sent_button = named(QPushButton("Mark as sent"), "outboxMarkSentButton",
                                      "Mark the selected unknown deliveries as sent")
        self.cancel_button = named(QPushButton("Cancel"), "outboxCancelButton",
                                   "Cancel the selected deliveries that have not gone out")
        self.notice = NoticeLabel("outboxNotice")
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu_at)

        # the preview: the selected delivery's copy as it was sent
        self.preview_title = QLabel("Select a delivery to read what it carried.")
        self.preview_title.setObjectName("outboxPreviewTitle")
        self.preview_title.setWordWrap(True)
        self.preview_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_text = named(QPlainTextEdit(), "outboxPreviewText",
                                  "The selected delivery's text as sent")
        self.preview_text.setReadOnly(True)
        self.open_button = named(QPushButton("Open message…"), "outboxOpenMessageButton",
                                 "Open the selected delivery's message: every variant and "
                                 "recipient, the HTML and the source")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected_message)
        preview = QWidget()
        preview.setObjectName("outboxPreview")
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.preview_title)
        preview_layout.addWidget(self.preview_text, 1)
        preview_layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignRight)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("outboxSplitter")
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self._previewed: int | None = None   # the delivery the preview shows

        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.state_filter)
        top.addWidget(self.incident_filter, 1)
        top.addWidget(self.summary, 2)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress)
        top.addWidget(self.send_button)
        actions = QHBoxLayout()
        actions.addWidget(self.retry_button)
        actions.addWidget(self.resend_button)
        actions.addWidget(self.mark_sent_button)
        actions.addWidget(self.cancel_button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.paused)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(actions)
        layout.addWidget(self.notice)

        # The outbox commits outcomes 50 at a time, many times a second during a big send:
        # the view follows at most every REFRESH_MS (not "once it goes quiet", which would be
        # after the send), updating only the deliveries that changed.
        self._changed: set[int] | None = set()   # None: reload everything
        self._again = False
        self.reader = Worker(self)
        self.reader.finished.connect(self._read_in)
        self.reader.failed.connect(self._read_failed)
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(self.REFRESH_MS)
        self.refresh_timer.timeout.connect(self.refresh)
        services.qt_events.outbox_changed.connect(self._outbox_changed)
        services.qt_events.messages_changed.connect(lambda _i: self._outbox_changed(None))
        # accounts change no delivery row, only the paused notice: an empty change says so
        services.qt_events.accounts_changed.connect(lambda _ids: self._outbox_changed(()))
        self.state_filter.currentIndexChanged.connect(
            lambda _i: self._filter())
        self.incident_filter.currentIndexChanged.connect(lambda _i: self._filter())
        self.tree.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.tree.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._preview(current))
        self.send_button.clicked.connect(self.send_now_requested)
        self.retry_button.clicked.connect(lambda: self._act("retry"))
        self.resend_button.clicked.connect(lambda: self._act("resend_unknown"))
        self.mark_sent_button.clicked.connect(lambda: self._act("mark_sent"))
        self.cancel_button.clicked.connect(lambda: self._act("cancel"))
        self._loaded = False
        self._update_buttons()

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if not self._loaded:
            self._loaded = True
            self.reload()
        elif self._changed is None or self._changed:  # changed while another was in front
            QTimer.singleShot(0, self.refresh)
        super().showEvent(event)

    # -- data

    SHOWN = 20_000  # the newest deliveries loaded into the view; older ones are said to exist
    REFRESH_MS = 250
    UPDATE_AT_MOST = 5_000  # changed deliveries updated in place; more: reload
    EXPAND_AT_MOST = 500    # a newer message with more deliveries starts collapsed: its row
    #                         says how many are in each state, and laying out 10,000 rows
    #                         would hold the window for half a second

    def _outbox_changed(self, ids: object) -> None:
        if ids is None:
            self._changed = None
        elif self._changed is not None:
            self._changed.update(ids)  # type: ignore[arg-type]
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()

    def refresh(self) -> None:
        """Follow the outbox: read the deliveries that changed (or all of them) on a worker
        thread, then put them in the view — in place, or by reloading."""
        if not self._loaded:
            return   # shown later: loaded then
        if not self.isVisible():
            self._changed = None   # another workspace is in front: read everything when shown
            return
        if self.reader.running:
            self._again = True   # read again when this read is in
            return
        changed, self._changed = self._changed, set()
        ids = None if changed is None or len(changed) > self.UPDATE_AT_MOST \
            else frozenset(changed)
        outbox, accounts, shown = self.services.outbox, self.services.accounts, self.SHOWN

        def read():  # type: ignore[no-untyped-def]
            if ids is None:
                rows = outbox.list(limit=shown)
            else:
                rows = outbox.list(ids=ids, limit=len(ids)) if ids else []
            return ids is None, rows, outbox.counts(), \
                [a for a in accounts.list() if a.paused_reason]

        self.reader.start(read)

    def _read_in(self, result: object) -> None:
        everything, rows, counts, paused = result  # type: ignore[misc]
        if everything:
            self._show(rows)
        elif not self.model.update_deliveries(rows):  # a delivery the view does not have yet
            self._outbox_changed(None)
        elif any(r.id == self._previewed for r in rows):   # what the preview shows changed
            self._preview(self.tree.currentIndex())
        self._show_summary(counts, paused)
        if self._again:
            self._again = False
            if not self.refresh_timer.isActive():
                self.refresh_timer.start()

    def _read_failed(self, exc: object) -> None:
        log.warning("the Outbox view could not read the outbox: %s", exc)
        self._again = False

    def reload(self) -> None:
        """Everything, now (after the coordinator's own action, and when first shown)."""
        self._changed = set()
        self._show(self.services.outbox.list(limit=self.SHOWN))
        self._refresh_summary()

    def _show(self, deliveries: list) -> None:
        expanded = {self.proxy.index(r, 0).data(DTO_ROLE).message_id
                    for r in range(self.proxy.rowCount())
                    if self.tree.isExpanded(self.proxy.index(r, 0))}
        current = self.tree.currentIndex().data(DTO_ROLE)
        self.model.set_deliveries(deliveries)
        self._fill_incidents()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            group: MessageGroup = index.data(DTO_ROLE)
            if group.message_id in expanded or (
                    r < 3 and len(group.deliveries) <= self.EXPAND_AT_MOST):
                self.tree.expand(index)
        # the same row stays chosen across a reload (and the preview follows it)
        kept = QModelIndex()
        if current is not None and not isinstance(current, MessageGroup):
            kept = self.proxy.mapFromSource(self.model.index_of(current.id))
        if kept.isValid():
            self.tree.expand(kept.parent())
            self.tree.setCurrentIndex(kept)
        else:
            self._preview(self.tree.currentIndex())

    def _refresh_summary(self) -> None:
        self._show_summary(self.services.outbox.counts(),
                           [a for a in self.services.accounts.list() if a.paused_reason])

    def _show_summary(self, counts: dict[str, int], paused: list) -> None:
        sending = counts.get("sending", 0)
        self.progress.setVisible(sending > 0)
        self.progress_label.setVisible(sending > 0)
        self.progress_label.setText(f"Sending {sending:,}…")
        self.progress.setAccessibleDescription(f"Sending {sending:,} deliveries")
        parts = [f"{n:,} {STATE_LABELS[s].lower()}" for s, n in counts.items() if n]
        text = ", ".join(parts) if parts else "Nothing has been queued yet."
        if self.model.delivery_count() >= self.SHOWN:
            text += f" — showing the newest {self.SHOWN:,}"
        self.summary.setText(text)
        self.paused.setVisible(bool(paused))
        if paused:
            self.paused.show_error("; ".join(
                f"“{a.name}” is paused: {a.paused_reason} — fix it in Settings → Accounts"
                for a in paused))
        self._update_buttons()

    def _fill_incidents(self) -> None:
        current = self.incident_filter.currentData()
        self.incident_filter.blockSignals(True)
        self.incident_filter.clear()
        self.incident_filter.addItem("All incidents", None)
        seen: dict[int, str] = {}
        for g in self.model.groups():
            seen.setdefault(g.incident_id, g.incident_title)
        for incident_id, title in seen.items():
            self.incident_filter.addItem(title, incident_id)
        index = self.incident_filter.findData(current)
        self.incident_filter.setCurrentIndex(max(index, 0))
        self.incident_filter.blockSignals(False)

    def _filter(self) -> None:
        self.proxy.set_filters(state=self.state_filter.currentData(),
                               incident_id=self.incident_filter.currentData())
        for r in range(min(self.proxy.rowCount(), 50)):
            self.tree.expand(self.proxy.index(r, 0))

    # -- actions

    def selected_deliveries(self) -> list:
        out = {}
        for index in self.tree.selectionModel().selectedRows(0):
            item = index.data(DTO_ROLE)
            if isinstance(item, MessageGroup):  # a message row stands for all its deliveries
                for d in item.deliveries:
                    out[d.id] = d
            elif item is not None:
                out[item.id] = item
        return list(out.values())

    def _update_buttons(self) -> None:
        states = {d.state for d in self.selected_deliveries()}
        self.retry_button.setEnabled(bool(states & {"failed", "unknown", "retry_wait"}))
        self.resend_button.setEnabled("unknown" in states)
        self.mark_sent_button.setEnabled("unknown" in states)
        self.cancel_button.setEnabled(bool(states & {"queued", "retry_wait", "unknown"}))

    def _act(self, action: str) -> int:
        chosen = self.selected_deliveries()
        ids = [d.id for d in chosen]
        sms = [d for d in chosen if d.state == "unknown" and d.channel == "sms"]
        if action == "resend_unknown" and sms and not confirm_sms_resend(self, len(sms)):
            return 0
        changed = getattr(self.services.outbox, action)(ids)
        words = {"retry": "queued again", "resend_unknown": "queued to be sent again",
                 "mark_sent": "marked as sent", "cancel": "cancelled"}[action]
        skipped = len(ids) - changed
        text = f"{changed} deliver{'y' if changed == 1 else 'ies'} {words}."
        if skipped:
            text += f" {skipped} could not be (already sent, or in another state)."
        self.notice.show_info(text)
        self.reload()
        if action in ("retry", "resend_unknown") and changed:
            self.send_now_requested.emit()
        return changed

    def select_message(self, index: QModelIndex) -> None:  # for tests and keyboard users
        self.tree.setCurrentIndex(index)

    # -- the preview and the context menu

    def _current_delivery_id(self) -> int | None:
        item = self.tree.currentIndex().data(DTO_ROLE)
        if isinstance(item, MessageGroup):
            return item.deliveries[0].id if item.deliveries else None
        return item.id if item is not None else None

    def _preview(self, current: QModelIndex) -> None:
        from app.errors import NotFound
        from app.messages.sent import delivery_copy, format_time

        delivery_id = self._current_delivery_id()
        self.open_button.setEnabled(delivery_id is not None)
        if delivery_id is None:
            self._previewed = None
            self.preview_title.setText("Select a delivery to read what it carried.")
            self.preview_text.clear()
            return
        try:
            copy = delivery_copy(self.services.store, delivery_id)  # one row, by key
        except NotFound:
            return
        self._previewed = delivery_id
        r = copy.recipient
        group = isinstance(current.data(DTO_ROLE), MessageGroup)
        lead = "First recipient: " if group else ""
        sent = f" · sent {format_time(r.sent_at, copy.zone)}" if r.sent_at else ""
        error = f"<br><span style='color:#b3261e'>{html.escape(r.last_error)}</span>" \
            if r.last_error else ""
        self.preview_title.setText(
            f"{lead}<b>{html.escape(r.name)}</b> &lt;{html.escape(r.address)}&gt; · "
            f"{STATE_LABELS.get(r.state, r.state)} · {r.attempts} attempt"
            f"{'s' * (r.attempts != 1)}{sent}{error}")
        subject = f"Subject: {r.subject}\n\n" if r.subject else ""
        self.preview_text.setPlainText(subject + r.text)

    def open_selected_message(self) -> Any:
        from app.messages.sent import delivery_copy
        from ui.composer.message_view import open_message

        delivery_id = self._current_delivery_id()
        if delivery_id is None:
            return None
        item = self.tree.currentIndex().data(DTO_ROLE)
        focus = None if isinstance(item, MessageGroup) else delivery_id
        message_id = delivery_copy(self.services.store, delivery_id).message_id
        return open_message(self, self.services, message_id, focus)

    def context_menu(self) -> QMenu:
        """What can be done with the selection (built each time: it follows the states)."""
        menu = QMenu(self)
        menu.setObjectName("outboxContextMenu")
        chosen = self.selected_deliveries()
        states = {d.state for d in chosen}
        entries = [
            ("View message…", "outboxViewMessageAction", self.open_selected_message,
             self._current_delivery_id() is not None),
            None,
            ("Retry", "outboxRetryAction", lambda: self._act("retry"),
             bool(states & {"failed", "unknown", "retry_wait"})),
            ("Resend", "outboxResendAction", lambda: self._act("resend_unknown"),
             "unknown" in states),
            ("Mark as sent", "outboxMarkSentAction", lambda: self._act("mark_sent"),
             "unknown" in states),
            ("Cancel", "outboxCancelAction", lambda: self._act("cancel"),
             bool(states & {"queued", "retry_wait", "unknown"})),
            None,
            ("Copy address", "outboxCopyAddressAction", self.copy_addresses, bool(chosen)),
        ]
        for entry in entries:
            if entry is None:
                menu.addSeparator()
                continue
            text, name, slot, enabled = entry
            action = menu.addAction(text)
            action.setObjectName(name)
            action.setEnabled(enabled)
            action.triggered.connect(slot)
        return menu

    def _context_menu_at(self, point: QPoint) -> None:
        index = self.tree.indexAt(point)
        if index.isValid() and not self.tree.selectionModel().isRowSelected(
                index.row(), index.parent()):
            self.tree.setCurrentIndex(index)
        self.context_menu().exec(self.tree.viewport().mapToGlobal(point))

    def copy_addresses(self) -> str:
        """The selected deliveries' addresses, one per line, on the clipboard."""
        text = "\n".join(dict.fromkeys(d.address for d in self.selected_deliveries()))
        QGuiApplication.clipboard().setText(text)
        n = text.count("\n") + 1 if text else 0
        self.notice.show_info(f"Copied {n} address{'es' * (n != 1)}.")
        return text


def confirm_sms_resend(parent: QWidget, count: int) -> bool:
    """An SMS cannot be de-duplicated by the phone: resending one whose fate is unknown may
    deliver it twice. The coordinator decides, knowingly."""
    from PySide6.QtWidgets import QMessageBox

    answer = QMessageBox.question(
        parent, "Resend SMS?",
        f"{count} SMS may already have been delivered — the connection broke before the "
        "provider answered. Resending may deliver them twice. Resend anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
