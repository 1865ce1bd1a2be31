"""The Outbox workspace: every delivery grouped by its message — recipient, channel, state,
attempts, last error, sent time — with retry, cancel, resend and mark-as-sent, and a visible
sign while sending is in progress. It reads the outbox; the sending loop runs elsewhere."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
    QTreeView, QVBoxLayout, QWidget,
)

from app.domain.enums import DeliveryState
from ui.models.outbox import DTO_ROLE, STATE_LABELS, MessageGroup, OutboxFilterProxy, OutboxModel
from ui.services import Services
from ui.widgets.forms import NoticeLabel, named


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
        layout.addWidget(self.tree, 1)
        layout.addLayout(actions)
        layout.addWidget(self.notice)

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(250)  # coalesce the outbox's batch commits
        self.refresh_timer.timeout.connect(self.reload)
        services.qt_events.outbox_changed.connect(lambda _ids: self.refresh_timer.start())
        services.qt_events.messages_changed.connect(lambda _i: self.refresh_timer.start())
        services.qt_events.accounts_changed.connect(lambda _ids: self.refresh_timer.start())
        self.state_filter.currentIndexChanged.connect(
            lambda _i: self._filter())
        self.incident_filter.currentIndexChanged.connect(lambda _i: self._filter())
        self.tree.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
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
        super().showEvent(event)

    # -- data

    SHOWN = 20_000  # the newest deliveries loaded into the view; older ones are said to exist

    def reload(self) -> None:
        deliveries = self.services.outbox.list(limit=self.SHOWN)
        expanded = {self.proxy.index(r, 0).data(DTO_ROLE).message_id
                    for r in range(self.proxy.rowCount())
                    if self.tree.isExpanded(self.proxy.index(r, 0))}
        self.model.set_deliveries(deliveries)
        self._fill_incidents()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            group: MessageGroup = index.data(DTO_ROLE)
            if group.message_id in expanded or r < 3:
                self.tree.expand(index)
        counts = self.services.outbox.counts()
        sending = counts.get("sending", 0)
        self.progress.setVisible(sending > 0)
        self.progress_label.setVisible(sending > 0)
        self.progress_label.setText(f"Sending {sending:,}…")
        self.progress.setAccessibleDescription(f"Sending {sending:,} deliveries")
        parts = [f"{n} {STATE_LABELS[s].lower()}" for s, n in counts.items() if n]
        text = ", ".join(parts) if parts else "Nothing has been queued yet."
        if len(deliveries) >= self.SHOWN:
            text += f" — showing the newest {self.SHOWN:,}"
        self.summary.setText(text)
        paused = [a for a in self.services.accounts.list() if a.paused_reason]
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
