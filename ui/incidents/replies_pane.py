"""The incident's Replies tab (issue 24): what came back to the sending account's mailbox about
the incident — replies to deal with, bounces, automatic replies — each with the message it
answers; mark one handled (a `reply_handled` entry in the timeline), open it again, or open the
message it answers.

Start-up pays for every import: this module imports only what the window has loaded already.
The replies service (and the mail parsing under it) is imported on the first read, and inside
the incident view that read waits for the tab bar's first paint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QEvent, QObject, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QBoxLayout, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
    QPushButton, QSplitter, QStyledItemDelegate, QTableView, QVBoxLayout, QWidget,
)

from app.domain.dto import IncidentDTO, TimelineEntryDTO
from app.domain.enums import Phase, TimelineKind
from app.errors import ClarionError
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index
from ui.qtime import incident_zone
from ui.widgets.forms import ErrorLabel, configure_table, named

if TYPE_CHECKING:
    from app.mailbox.replies import InboundDTO, RepliesService

REPLY, BOUNCE, AUTO_REPLY = "reply", "bounce", "auto_reply"   # app.mailbox.replies
# the "Show" choices: label, the kinds listed
SHOW = (("Replies", (REPLY,)), ("Bounces", (BOUNCE,)), ("Automatic replies", (AUTO_REPLY,)),
        ("Everything", (REPLY, BOUNCE, AUTO_REPLY)))
NOUNS = {REPLY: "replies", BOUNCE: "bounces", AUTO_REPLY: "automatic replies"}
# timeline entries that change what the pane lists
MAIL_KINDS = {TimelineKind.REPLY_RECEIVED.value, TimelineKind.DELIVERY_BOUNCED.value,
              TimelineKind.AUTO_REPLY.value, TimelineKind.REPLY_HANDLED.value}
NOTHING_READ = ("No replies yet. Clarion reads replies and bounces from the sending account's "
                "mailbox once it has an IMAP server, and texts sent back to the SMS account's "
                "number (Settings → Sending accounts).")
CLOSED_TIP = "This incident is closed: its record is final."
NO_SELECTION = "Select a reply to read it in full."
SHORT_KINDS = {AUTO_REPLY: "Auto-reply"}     # the table's Kind column is narrow
KIND_COLOURS = {BOUNCE: "#b3261e", AUTO_REPLY: "#5f6b73"}
OPEN_COLOUR = "#7a4b00"
HANDLED_COLOUR = "#6b7780"


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


class RepliesModel(DtoTableModel["InboundDTO"]):
    """What was read back about one incident (InboundDTO rows), times in its client's zone."""

    COLUMNS = ("Received", "Kind", "From", "Answers", "Text", "Status")
    RECEIVED, KIND, FROM, ANSWERS, TEXT, STATUS = range(6)

    def __init__(self, now: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.now = now
        self.zone: Any = None     # the incident's client's zone

    def time(self, value: Any) -> str:
        return format_local(value, self.zone, now=self.now())

    def cells(self, r: InboundDTO) -> tuple[str, ...]:
        from app.messages.library import TYPE_LABELS
        from app.mailbox.replies import KIND_LABELS

        answers = f"{TYPE_LABELS.get(r.template_type, r.template_type)} to {r.recipient_name}"
        text = first_line(r.reason if r.kind == BOUNCE and r.reason else r.text)
        kind = SHORT_KINDS.get(r.kind) or KIND_LABELS.get(r.kind, r.kind)
        return (self.time(r.received_at), kind, r.from_name or r.from_address, answers, text,
                self.status(r))

    @staticmethod
    def kind_label(r: InboundDTO) -> str:
        from app.mailbox.replies import KIND_LABELS

        return KIND_LABELS.get(r.kind, r.kind)

    def status(self, r: InboundDTO) -> str:
        if r.handled_at is None:
            return "Open"
        return f"Handled by {r.handled_by} at {self.time(r.handled_at)}"

    def tooltip(self, r: InboundDTO, column: int) -> str:
        """The cell in full; a handled row's cells say so (Status may be out of view)."""
        if column == self.FROM:
            tip = r.sender
        elif column == self.KIND:
            tip = self.kind_label(r)
        elif column == self.ANSWERS:
            tip = f"{self.cells(r)[column]} <{r.address}>"
        elif column == self.TEXT:
            tip = (("\n\n".join(t for t in (r.reason, r.text) if t) if r.kind == BOUNCE
                    else r.text) or "(no text)")
        else:
            tip = self.cells(r)[column]
        if r.handled_at is not None and column != self.STATUS:
            tip += f"\n\n{self.status(r)}"
        return tip

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r, column = self._rows[index.row()], index.column()
        if role == DTO_ROLE:
            return r
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(r)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(r, column)
        if role == SORT_ROLE:
            if column == self.RECEIVED:
                return r.received_at.isoformat()
            if column == self.STATUS:   # open ones first, then the latest handled
                return r.handled_at.isoformat() if r.handled_at else ""
            return self.cells(r)[column].casefold()
        if role == Qt.ItemDataRole.ForegroundRole:
            if r.handled_at is not None:     # dealt with: greyed
                return QColor(HANDLED_COLOUR)
            if column == self.KIND and r.kind in KIND_COLOURS:
                return QColor(KIND_COLOURS[r.kind])
            if column == self.STATUS:
                return QColor(OPEN_COLOUR)
        return None

    def row_of(self, inbound_id: int, channel: str = "email") -> int:
        """The row of that reply (an email's and an SMS's ids are counted apart)."""
        return next((n for n, r in enumerate(self._rows)
                     if r.id == inbound_id and getattr(r, "channel", "email") == channel), -1)


class RepliesProxy(QSortFilterProxyModel):
    """The rows of the chosen kinds, open ones only unless handled ones are asked for."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.kinds: tuple[str, ...] = (REPLY,)
        self.include_handled = False
        self.setSortRole(SORT_ROLE)

    def set_filter(self, kinds: tuple[str, ...], include_handled: bool) -> None:
        self.beginFilterChange()
        self.kinds, self.include_handled = kinds, include_handled
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        r = model.data(model.index(source_row, 0, source_parent), DTO_ROLE)
        return r is not None and r.kind in self.kinds and (self.include_handled
                                                           or r.handled_at is None)


class _ElideMiddle(QStyledItemDelegate):
    def initStyleOption(self, option: Any, index: Any) -> None:  # noqa: N802 - Qt's name
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class RepliesPane(QWidget):
    """The shown incident's replies; `open_count_changed` says how many replies are open
    (the tab's label shows it)."""

    open_count_changed = Signal(int)

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("repliesPane")
        self.incident: IncidentDTO | None = None
        self.open_count: int | None = None

        self.model = RepliesModel(services.clock.now, self)
        self.proxy = RepliesProxy(self)
        self.proxy.setSourceModel(self.model)

        self.kind_filter = named(QComboBox(), "repliesKindFilter", "Show replies of kind")
        for label, _kinds in SHOW:
            self.kind_filter.addItem(label)
        self.handled_check = named(QCheckBox("Include handled"), "repliesIncludeHandledCheck",
                                   "Include handled replies",
                                   "Also list the ones already handled")

        self.view = configure_table(named(QTableView(), "repliesView",
                                          "Replies, bounces and automatic replies"))
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(RepliesModel.RECEIVED, Qt.SortOrder.DescendingOrder)
        self.view.setWordWrap(False)
        # "Regulatory no…to Cal Customer": whom it went to stays in view
        self.view.setItemDelegateForColumn(RepliesModel.ANSWERS, _ElideMiddle(self.view))
        rows = self.view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.view.fontMetrics().height() + 8)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(RepliesModel.TEXT, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)

        self.empty_label = QLabel(NOTHING_READ)
        self.empty_label.setObjectName("repliesEmptyLabel")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #5f6b73; padding: 12px;")
        self.empty_label.hide()

        self.detail = named(QPlainTextEdit(), "replyDetail", "The selected reply in full")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText(NO_SELECTION)
        self.detail.setTabChangesFocus(True)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("repliesSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        self.error = ErrorLabel("repliesError")
        # one button: "Mark handled" on an open one, "Open again" on a handled one
        self.handle_button = named(QPushButton(), "markReplyHandledButton",
                                   "Mark the selected reply handled")
        widths = []
        for text in ("Open again", "Mark handled"):     # as wide for either: no jumping
            self.handle_button.setText(text)
            widths.append(self.handle_button.sizeHint().width())
        self.handle_button.setMinimumWidth(max(widths))
        self.message_button = named(QPushButton("Open the message it answers"),
                                    "openAnsweredMessageButton",
                                    "Open the message the selected reply answers",
                                    "Read the message as it went to this recipient "
                                    "(or double-click the row)")

        # an SMS reply is matched to the latest SMS to that number: the coordinator may move it
        self.move_combo = named(QComboBox(), "moveSmsIncidentCombo",
                                "Incident to move the SMS reply to")
        self.move_button = named(QPushButton("Move to"), "moveSmsReplyButton",
                                 "Move the selected SMS reply to the chosen incident",
                                 "It was matched to the latest SMS sent to that number; it may "
                                 "be about another incident")
        self.move_combo.hide()
        self.move_button.hide()

        # a row each for the filter and the buttons, stacked when the pane is narrow
        # (resizeEvent): as narrow as the timeline beside it on a 1366-pixel laptop
        show_label = QLabel("Show:")
        show = QHBoxLayout()
        show.addWidget(show_label)
        show.addWidget(self.kind_filter)
        self.filter_row = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.filter_row.addLayout(show)
        self.filter_row.setAlignment(show, Qt.AlignmentFlag.AlignLeft)   # stacked: not spread
        self.filter_row.addWidget(self.handled_check)
        self.filter_row.addStretch(1)
        self.button_row = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.button_row.addWidget(self.handle_button)
        self.button_row.addStretch(1)
        self.button_row.addWidget(self.move_button)
        self.button_row.addWidget(self.move_combo)
        self.button_row.addWidget(self.message_button)
        layout = QVBoxLayout(self)
        layout.addLayout(self.filter_row)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.error)
        layout.addLayout(self.button_row)
        margins = layout.contentsMargins().left() + layout.contentsMargins().right()
        gap = max(layout.spacing(), 6)
        label, combo, check, handle, message = (w.sizeHint().width() for w in (
            show_label, self.kind_filter, self.handled_check, self.handle_button,
            self.message_button))
        self._row_widths = ((self.filter_row, label + combo + check + 2 * gap + margins),
                            (self.button_row, handle + message + gap + margins))
        self.setMinimumWidth(max(label + gap + combo, check, message) + margins)

        # a reply handled sends a timeline entry and "mailbox read": one read for both
        self.reload_timer = QTimer(self)
        self.reload_timer.setSingleShot(True)
        self.reload_timer.setInterval(0)
        self.reload_timer.timeout.connect(self.refresh)
        self.kind_filter.currentIndexChanged.connect(lambda _i: self._filter_changed())
        self.handled_check.toggled.connect(lambda _on: self._filter_changed())
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.activated.connect(lambda _index: self.open_message())
        self.view.viewport().installEventFilter(self)     # the columns fit its width
        self.handle_button.clicked.connect(lambda: self.mark_handled())
        self.message_button.clicked.connect(self.open_message)
        self.move_button.clicked.connect(lambda: self.move_sms())
        services.qt_events.mailbox_read.connect(lambda _recorded: self._changed())
        services.qt_events.timeline_appended.connect(self._timeline_appended)
        self._filter_changed()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        for row, wide in self._row_widths:
            row.setDirection(QBoxLayout.Direction.LeftToRight if self.width() >= wide
                             else QBoxLayout.Direction.TopToBottom)

    def _fit_columns(self) -> None:
        """The text gets at least 40 % of the width. Received and Kind are as wide as their
        text; From (Answers under Bounces: the mail server is not news) as wide as its, up
        to a point, narrowed if need be; then Status and Answers, where there is room (the
        detail and the tooltips say them too, and handled rows are greyed)."""
        view, header = self.view, self.view.horizontalHeader()
        em = view.fontMetrics().horizontalAdvance("M")
        handled = self.handled_check.isChecked()
        view.setColumnHidden(RepliesModel.STATUS, not handled)     # otherwise all open
        view.setColumnHidden(RepliesModel.ANSWERS, False)
        optional = [RepliesModel.STATUS] if handled else []
        if self.kinds() != (BOUNCE,):
            optional.append(RepliesModel.ANSWERS)
        want = {c: max(view.sizeHintForColumn(c), header.sectionSizeHint(c))
                for c in range(self.model.columnCount())
                if c != RepliesModel.TEXT and not view.isColumnHidden(c)}
        narrowable = [c for c in want if c not in (RepliesModel.RECEIVED, RepliesModel.KIND)]
        for c in narrowable:
            want[c] = min(want[c], 14 * em)
        if RepliesModel.KIND in want:
            narrowable.append(RepliesModel.KIND)    # the last to give way
        width = view.viewport().width()
        budget = width - max(10 * em, width * 2 // 5)
        used = sum(w for c, w in want.items() if c not in optional)
        for c in optional:
            if used + want[c] <= budget:
                used += want[c]
            else:
                view.setColumnHidden(c, True)
                narrowable.remove(c)
                del want[c]
        for c in narrowable:    # a narrow pane: From (or Answers) gives way, not the text
            cut = max(0, min(want[c] - 5 * em, used - budget))
            want[c] -= cut
            used -= cut
        for c, w in want.items():
            header.resizeSection(c, w)

    # -- reading

    def service(self) -> RepliesService:
        from app.mailbox.replies import RepliesService

        s = self.services
        return RepliesService(s.store, s.clock, s.events, actor=s.incidents.actor)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return False

    def set_incident(self, incident: IncidentDTO | None, zone: Any = None) -> None:
        """Show this incident's mail (None: nothing); times in `zone`, by default its
        client's."""
        changed = incident is None or self.incident is None or incident.id != self.incident.id
        self.incident = incident
        if zone is None and incident is not None:
            zone = incident_zone(self.services, incident.client_id)
        self.model.zone = zone
        if changed:
            self.error.clear_error()
            self.refresh()
        else:
            self._show_selected()

    def refresh(self) -> None:
        """Read the shown incident's mail again (tens of rows), keeping the selection."""
        self.reload_timer.stop()
        self.move_combo.clear()      # filled again when an SMS reply is selected
        kept = self.selected()
        rows = [] if self.incident is None else self.service().list(
            self.incident.id, kinds=(REPLY, BOUNCE, AUTO_REPLY), include_handled=True)
        self.model.replace_rows(rows)
        if kept is not None and (row := self.model.row_of(kept.id, kept.channel)) >= 0:
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                self.view.selectRow(index.row())
        # the replies still to deal with: RepliesService.open_count, from the rows just read
        count = sum(1 for r in rows if r.kind == REPLY and r.handled_at is None)
        if count != self.open_count:
            self.open_count = count
            self.open_count_changed.emit(count)
        self._update_shown()

    def _changed(self) -> None:
        if self.incident is not None:
            self.reload_timer.start()

    def _timeline_appended(self, entry: TimelineEntryDTO) -> None:
        if self.incident is not None and entry.incident_id == self.incident.id \
                and entry.kind in MAIL_KINDS:
            self.reload_timer.start()

    def kinds(self) -> tuple[str, ...]:
        """The kinds the "Show" choice lists."""
        return SHOW[max(self.kind_filter.currentIndex(), 0)][1]

    def _filter_changed(self) -> None:
        """List the chosen kinds; a column that would say the same in every row is hidden
        (the pane is narrow: the text needs the width; the detail below says it all), and
        _fit_columns shows Status and Answers where there is room."""
        kinds, handled = self.kinds(), self.handled_check.isChecked()
        self.proxy.set_filter(kinds, handled)
        self.view.setColumnHidden(RepliesModel.KIND, len(kinds) == 1)
        self.view.setColumnHidden(RepliesModel.FROM, kinds == (BOUNCE,))  # the mail server
        self._update_shown()

    def _update_shown(self) -> None:
        """The table, or a line saying why it is empty."""
        kinds = self.kinds()
        total = self.model.rowCount()
        of_kind = sum(1 for n in range(total) if self.model.row_at(n).kind in kinds)
        noun = " or ".join(NOUNS[k] for k in kinds) if len(kinds) < 3 else "mail"
        if total == 0:
            empty = NOTHING_READ if self.incident is not None else ""
        elif of_kind == 0:
            empty = f"No {noun} for this incident."
        elif self.proxy.rowCount() == 0:
            empty = f"All {noun} are handled. Tick “Include handled” to see them."
        else:
            empty = ""
        self.empty_label.setText(empty)
        self.empty_label.setVisible(bool(empty))
        self.splitter.setVisible(not empty)
        self._fit_columns()
        self._show_selected()

    # -- the selected one

    def selected(self) -> InboundDTO | None:
        rows = self.view.selectionModel().selectedRows()
        return self.proxy.data(rows[0], DTO_ROLE) if rows else None

    def _selection_changed(self, *_args: object) -> None:
        self.error.clear_error()       # it was about the one selected before
        self._show_selected()

    def _show_selected(self) -> None:
        r = self.selected()
        closed = self.incident is not None and self.incident.phase == Phase.CLOSED
        handled = r is not None and r.handled_at is not None
        button = self.handle_button
        button.setText("Open again" if handled else "Mark handled")
        button.setAccessibleName("Open the selected reply again" if handled
                                 else "Mark the selected reply handled")
        button.setToolTip(CLOSED_TIP if closed else
                          "List it among the open ones again" if handled else
                          "Dealt with: the timeline records who and when")
        button.setEnabled(r is not None and not closed)
        self.message_button.setEnabled(r is not None)
        movable = (r is not None and getattr(r, "channel", "email") == "sms"
                   and r.kind == REPLY and not closed)
        if movable and self.move_combo.count() == 0:
            self._fill_move_targets()
        self.move_button.setVisible(movable and self.move_combo.count() > 0)
        self.move_combo.setVisible(self.move_button.isVisible())
        self.detail.setPlainText("" if r is None else self.describe(r))

    def describe(self, r: InboundDTO) -> str:
        """The detail area's text: who, when, what it answers, then the new text in full."""
        m = self.model
        received = f"{m.status(r)} · received {m.time(r.received_at)}" + (
            f" (sent {m.time(r.sent_at)})" if r.sent_at else "")
        answers = m.cells(r)[m.ANSWERS]
        if r.address.casefold() != r.from_address.casefold():
            answers += f" <{r.address}>"
        lines = [r.sender if r.kind == REPLY else f"{m.kind_label(r)} from {r.sender}",
                 received, "By SMS" if getattr(r, "channel", "email") == "sms" else
                 f"Subject: {r.subject or '(none)'}", f"In answer to: {answers}"]
        if r.kind == BOUNCE:
            lines.append(f"The server said: {r.reason or '(nothing)'}")
        text = r.text.strip() or ("" if r.kind == BOUNCE else "(no text)")
        return "\n".join(lines) + ("\n\n" + text if text else "")

    # -- actions

    def _fill_move_targets(self) -> None:
        self.move_combo.clear()
        for incident in self.services.incidents.list():
            if self.incident is not None and incident.id == self.incident.id:
                continue
            if incident.phase == Phase.CLOSED:
                continue
            self.move_combo.addItem(f"{incident.severity.value} · {incident.title}", incident.id)

    def move_sms(self, incident_id: int | None = None) -> InboundDTO | None:
        """Move the selected SMS reply to another open incident (the chosen one by default);
        both timelines say so."""
        r = self.selected()
        target = incident_id if incident_id is not None else self.move_combo.currentData()
        if r is None or target is None:
            return None
        try:
            moved = self.service().move_sms(r.id, int(target))
        except ClarionError as exc:
            self.error.show_error(str(exc))
            return None
        self.move_combo.clear()
        self.refresh()
        return moved

    def mark_handled(self, handled: bool | None = None) -> InboundDTO | None:
        """Mark the selected one handled, or open it again (None: whichever it is not);
        the timeline records it."""
        r = self.selected()
        if r is None:
            return None
        if handled is None:
            handled = r.handled_at is None
        self.error.clear_error()
        try:
            done = self.service().mark_handled(r.id, handled=handled, channel=r.channel)
        except ClarionError as exc:
            self.error.show_error(str(exc))
            return None
        self.refresh()
        return done

    def open_message(self) -> Any:
        """The message the selected one answers, on its recipient, in its own window."""
        r = self.selected()
        if r is None:
            return None
        from ui.composer.message_view import open_message

        return open_message(self, self.services, r.message_id, r.delivery_id)
