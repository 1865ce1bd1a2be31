"""The message view: one sent message as its recipients got it (app/messages/sent.py).

Above, what it was and how it went; on the left its variants (one per template form) and the
recipients of the chosen variant with their delivery state, attempts, times and last error; on the
right the chosen recipient's copy — text, HTML (drawn without fetching anything) and, on
request, the raw source that went on the wire. Print puts every variant on paper. It opens from
a timeline entry, from the Outbox and from the composer's list of sent messages; non-modal, so
the coordinator can keep it beside the window."""

from __future__ import annotations

import html
import logging
from typing import Any, TypeVar

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QUrl
from PySide6.QtGui import QColor, QFont, QFontDatabase, QTextDocument
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit,
    QPushButton, QSplitter, QTableView, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from app.messages.sent import (
    MessageSummary, Recipient, SentMessage, Variant, ack_mark, counts_text, format_time,
    load_message, raw_source,
)
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index
from ui.models.outbox import STATE_COLOURS, STATE_LABELS
from ui.widgets.forms import ErrorLabel, NoticeLabel, configure_table, named, with_error
from ui.worker import Worker

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Rows(DtoTableModel[T]):
    """A read-only table of DTOs: each subclass says a row's cells (and, where text does not
    sort right, its sort values and a colour)."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.zone: Any = None   # times about the incident are shown in its client's zone

    def cells(self, row: T) -> tuple[str, ...]:
        raise NotImplementedError

    def sort_values(self, row: T) -> dict[int, Any]:
        return {}

    def colour(self, row: T, column: int) -> str | None:
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = self._rows[index.row()], index.column()
        if role == DTO_ROLE:
            return row
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self.cells(row)[col]
        if role == SORT_ROLE:
            return self.sort_values(row).get(col, self.cells(row)[col])
        if role == Qt.ItemDataRole.ForegroundRole:
            colour = self.colour(row, col)
            return QColor(colour) if colour else None
        return None


class VariantModel(_Rows[Variant]):
    COLUMNS = ("Channel", "Detail", "Subject or text", "Recipients", "States")
    CHANNEL, DETAIL, SUBJECT, RECIPIENTS, STATES = range(5)

    def cells(self, v: Variant) -> tuple[str, ...]:
        return (v.channel, v.detail_level, v.subject or " ".join(v.text.split())[:120],
                str(len(v.recipients)), counts_text(v.counts))


CONFIRMED_COLOUR, WAITING_COLOUR = "#2e7d32", "#8a6d00"


class RecipientModel(_Rows[Recipient]):
    COLUMNS = ("Recipient", "Address", "State", "Confirmed", "Sent", "Attempts", "Last error")
    NAME, ADDRESS, STATE, CONFIRMED, SENT, ATTEMPTS, ERROR = range(7)

    def cells(self, r: Recipient) -> tuple[str, ...]:
        return (r.name, r.address, STATE_LABELS.get(r.state, r.state),
                ack_mark(r.ack_requested, r.acknowledged_at, r.ack_via, self.zone),
                format_time(r.sent_at, self.zone), str(r.attempts), r.last_error)

    def sort_values(self, r: Recipient) -> dict[int, Any]:
        return {self.ATTEMPTS: r.attempts, self.SENT: r.sent_at.isoformat() if r.sent_at else "",
                self.CONFIRMED: (r.acknowledged_at.isoformat() if r.acknowledged_at
                                 else "~" if r.ack_requested else "")}

    def colour(self, r: Recipient, column: int) -> str | None:
        if column == self.CONFIRMED:
            return CONFIRMED_COLOUR if r.acknowledged_at else WAITING_COLOUR
        return STATE_COLOURS.get(r.state) if column == self.STATE else None

    def row_of(self, delivery_id: int) -> int:
        return next((n for n, r in enumerate(self._rows) if r.delivery_id == delivery_id), -1)


class SafeBrowser(QTextBrowser):
    """HTML as sent, drawn without remote content: nothing is fetched (images, style sheets),
    and links are not followed (their address shows as a tooltip)."""

    def __init__(self) -> None:
        super().__init__()
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.refused: list[str] = []

    def loadResource(self, kind: int, name: QUrl) -> Any:  # noqa: N802 - Qt's name
        url = name.toString()
        if url not in self.refused:   # asked again at every layout
            self.refused.append(url)
        return None


def _fit_columns(view: QTableView, stretch: int, interactive: dict[int, int] | None = None) -> None:
    """One line per row; short columns as wide as their contents, `stretch` takes the rest."""
    view.setWordWrap(False)
    header = view.horizontalHeader()
    for column in range(view.model().columnCount()):
        if column == stretch:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        elif interactive and column in interactive:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, interactive[column])
        else:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)


def _monospace() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class ConfirmByHandDialog(QDialog):
    """Mark one recipient confirmed, saying how (app/acks/record.py confirm_by_hand)."""

    def __init__(self, services: Any, recipient: Recipient, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.services, self.recipient = services, recipient
        self.setObjectName("confirmByHandDialog")
        self.setAccessibleName("Mark confirmed")
        self.setWindowTitle(f"{recipient.name} confirmed")
        self.setMinimumWidth(460)
        label = QLabel(f"How did {html.escape(recipient.name)} confirm they received it? "
                       "Your words go to the incident's timeline, signed by you.")
        label.setWordWrap(True)
        self.edit = named(QLineEdit(), "confirmNoteEdit", "How they confirmed")
        self.edit.setPlaceholderText("e.g. Phoned at 10:40; she has it")
        self.error = ErrorLabel("confirmNoteError")
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                               | QDialogButtonBox.StandardButton.Cancel)
        ok = named(box.button(QDialogButtonBox.StandardButton.Ok), "confirmNoteOk",
                   "Mark confirmed")
        ok.setText("Mark confirmed")
        named(box.button(QDialogButtonBox.StandardButton.Cancel), "confirmNoteCancel", "Cancel")
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(with_error(self.edit, self.error))
        layout.addWidget(box)

    def accept(self) -> None:
        from app.acks.record import confirm_by_hand
        from app.errors import ClarionError, ValidationError

        services = self.services
        try:
            confirm_by_hand(services.store, services.clock, services.events,
                            self.recipient.delivery_id, self.edit.text(),
                            services.incidents.actor)
        except ValidationError as exc:
            self.error.show_error(" ".join(exc.errors.values()))
            return
        except ClarionError as exc:
            self.error.show_error(str(exc))
            return
        super().accept()


class MessageView(QDialog):
    def __init__(self, services: Any, message_id: int, delivery_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.message_id, self.focus = services, message_id, delivery_id
        self.message: SentMessage | None = None
        self.setObjectName("messageView")
        self.setWindowTitle(f"Message {message_id}")
        self.setAccessibleName("Sent message")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1240, 740)

        self.header = QLabel("Reading the message…")
        self.header.setObjectName("messageHeader")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice = NoticeLabel("messageNotice")

        self.variants = VariantModel(self)
        self.variant_view = configure_table(named(QTableView(), "messageVariants",
                                                  "Variants of the message"))
        self.variant_view.setModel(self.variants)
        _fit_columns(self.variant_view, stretch=VariantModel.SUBJECT)
        self.recipients = RecipientModel(self)
        self.recipient_proxy = QSortFilterProxyModel(self)
        self.recipient_proxy.setSourceModel(self.recipients)
        self.recipient_proxy.setSortRole(SORT_ROLE)
        self.recipient_view = configure_table(named(QTableView(), "messageRecipients",
                                                    "Recipients of the chosen variant"))
        self.recipient_view.setModel(self.recipient_proxy)
        self.recipient_view.setSortingEnabled(True)
        self.recipient_view.sortByColumn(RecipientModel.NAME, Qt.SortOrder.AscendingOrder)
        _fit_columns(self.recipient_view, stretch=RecipientModel.ERROR,
                     interactive={RecipientModel.ADDRESS: 190})

        self.copy_label = QLabel()
        self.copy_label.setObjectName("messageCopyLabel")
        self.copy_label.setWordWrap(True)
        self.text_view = named(QPlainTextEdit(), "messageText", "Text as sent")
        self.text_view.setReadOnly(True)
        self.html_view = named(SafeBrowser(), "messageHtml", "HTML as sent, without remote content")
        self.source_view = named(QPlainTextEdit(), "messageSource", "Raw source as sent")
        self.source_view.setReadOnly(True)
        self.source_view.setFont(_monospace())
        self.source_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.source_button = named(QPushButton("Show the source"), "messageSourceButton",
                                   "Show the raw source of the chosen recipient's copy")
        self.source_note = QLabel("The bytes that went on the wire for one recipient.")
        self.source_note.setObjectName("messageSourceNote")
        self.source_note.setWordWrap(True)
        source_page = QWidget()
        source_layout = QVBoxLayout(source_page)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_note, 1)
        source_row.addWidget(self.source_button)
        source_layout.addLayout(source_row)
        source_layout.addWidget(self.source_view, 1)
        self.tabs = named(QTabWidget(), "messageTabs", "The chosen copy")
        self.tabs.addTab(self.text_view, "Text")
        self.tabs.addTab(self.html_view, "HTML")
        self.tabs.addTab(source_page, "Source")

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.variant_view)
        left.addWidget(self.recipient_view)
        left.setSizes([160, 420])
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.copy_label)
        right_layout.addWidget(self.tabs, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setSizes([700, 540])

        buttons = QDialogButtonBox()
        self.confirm_button = named(
            buttons.addButton("Mark confirmed…", QDialogButtonBox.ButtonRole.ActionRole),
            "markConfirmedButton", "Mark the chosen recipient confirmed",
            "They confirmed in a way Clarion cannot read (a phone call): say how; it goes to "
            "the record")
        self.confirm_button.setEnabled(False)
        self.print_button = named(buttons.addButton("Print…", QDialogButtonBox.ButtonRole.ActionRole),
                                  "messagePrintButton", "Print the message, every variant")
        close = named(buttons.addButton(QDialogButtonBox.StandardButton.Close),
                      "messageCloseButton", "Close the message")
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(buttons)

        self.variant_view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._variant_chosen(current.row()))
        self.recipient_view.selectionModel().currentRowChanged.connect(
            lambda current, _previous: self._recipient_chosen(current))
        self.source_button.clicked.connect(self.show_source)
        self.confirm_button.clicked.connect(self.confirm_by_hand)
        self.print_button.clicked.connect(self.print_message)
        self.print_button.setEnabled(False)
        self.source_button.setEnabled(False)

        self.reader = Worker(self)
        self.reader.finished.connect(self._loaded)
        self.reader.failed.connect(self._failed)
        store = services.store
        self.reader.start(lambda: load_message(store, message_id))

    # -- loading

    def _loaded(self, message: SentMessage) -> None:
        self.message = message
        s = message.summary
        self.recipients.zone = message.zone
        drill = " — drill" if s.is_drill else ""
        by = f" by {html.escape(s.created_by)}" if s.created_by else ""
        self.setWindowTitle(f"{s.type_label} — {message.incident_title}")
        self.header.setText(
            f"<b>{html.escape(s.type_label)}</b>{drill} · {html.escape(message.incident_title)}"
            f"<br>Queued {format_time(s.created_at, message.zone)}{by} · "
            f"{s.recipients} recipient{'s' * (s.recipients != 1)}: {counts_text(s.counts)}"
            + (f" · {s.confirmations}" if s.confirmations else ""))
        self.variants.replace_rows(message.variants)
        self.print_button.setEnabled(bool(message.variants))
        if not message.variants:
            self.notice.show_info("This message has no deliveries.")
            return
        row, focus_row = 0, -1
        if self.focus is not None:
            for n, v in enumerate(message.variants):
                if any(r.delivery_id == self.focus for r in v.recipients):
                    row = n
        self.variant_view.selectRow(row)
        self._variant_chosen(row)
        if self.focus is not None:
            focus_row = self.recipients.row_of(self.focus)
        self.recipient_view.selectRow(
            self.recipient_proxy.mapFromSource(self.recipients.index(max(focus_row, 0), 0)).row())

    def _failed(self, exc: object) -> None:
        self.header.setText("This message could not be read.")
        self.notice.show_error(str(exc))

    # -- choosing

    def _variant_chosen(self, row: int) -> None:
        if self.message is None or not 0 <= row < len(self.message.variants):
            return
        variant = self.message.variants[row]
        self.recipients.replace_rows(variant.recipients)
        self._show_copy(variant.example, variant)

    def _recipient_chosen(self, current: QModelIndex) -> None:
        recipient = current.data(DTO_ROLE) if current.isValid() else None
        if recipient is not None:
            self._show_copy(recipient, self.current_variant())

    def current_variant(self) -> Variant | None:
        index = self.variant_view.currentIndex()
        return index.data(DTO_ROLE) if index.isValid() else None

    def current_recipient(self) -> Recipient | None:
        index = self.recipient_view.currentIndex()
        return index.data(DTO_ROLE) if index.isValid() else None

    def _show_copy(self, r: Recipient, variant: Variant | None) -> None:
        same = variant is not None and variant.same_for_all and len(variant.recipients) > 1
        note = " — every copy of this variant is this one with the recipient's own name" \
            if same else ""
        self.copy_label.setText(f"<b>As sent to {html.escape(r.name)}</b> "
                                f"&lt;{html.escape(r.address)}&gt; · "
                                f"{STATE_LABELS.get(r.state, r.state)}{note}")
        subject = f"Subject: {r.subject}\n\n" if r.subject else ""
        self.text_view.setPlainText(subject + r.text)
        if r.html:
            self.html_view.setHtml(r.html)
        else:
            self.html_view.setPlainText("This copy has no HTML part.")
        self.tabs.setTabEnabled(1, bool(r.html))
        self.source_view.clear()
        self.source_note.setText(f"The bytes that went on the wire to {r.name}: "
                                 f"shown on request.")
        self.source_button.setEnabled(True)
        self.confirm_button.setEnabled(r.acknowledged_at is None
                                       and r.state not in ("queued", "sending", "retry_wait",
                                                           "cancelled"))

    # -- a confirmation Clarion could not read

    def confirm_by_hand(self) -> "ConfirmByHandDialog | None":
        r = self.current_recipient()
        if r is None:
            return None
        dialog = ConfirmByHandDialog(self.services, r, self)
        dialog.accepted.connect(lambda: self._confirmed(r.delivery_id))
        dialog.open()
        self.confirm_dialog = dialog
        return dialog

    def _confirmed(self, delivery_id: int) -> None:
        self.focus = delivery_id
        store, message_id = self.services.store, self.message_id
        self.notice.show_info("Marked confirmed; the timeline says who noted it and how.")
        self.reader.start(lambda: load_message(store, message_id))

    def show_source(self) -> None:
        r = self.current_recipient()
        if r is None:
            return
        raw = raw_source(self.services.store, r.delivery_id)   # one row: no need for a thread
        self.source_note.setText(raw.note)
        self.source_view.setPlainText(raw.text if raw.kept else "")
        self.tabs.setCurrentIndex(2)

    # -- printing

    def document(self) -> QTextDocument:
        """Every variant of the message on paper: what, when, to how many, and the text."""
        doc = QTextDocument(self)
        m = self.message
        if m is None:
            return doc
        s = m.summary
        parts = [f"<h2>{html.escape(s.type_label)} — {html.escape(m.incident_title)}</h2>",
                 f"<p>Queued {format_time(s.created_at, m.zone)}"
                 f"{' by ' + html.escape(s.created_by) if s.created_by else ''} · "
                 f"{s.recipients} recipients: {counts_text(s.counts)}</p>"]
        for n, v in enumerate(m.variants, 1):
            parts.append(f"<h3>Variant {n}: {html.escape(v.channel)}, {html.escape(v.detail_level)}"
                         f" — {len(v.recipients)} recipients: {counts_text(v.counts)}</h3>")
            parts.append(f"<p><i>As sent to {html.escape(v.example.name)}</i></p>")
            if v.subject:
                parts.append(f"<p><b>Subject:</b> {html.escape(v.subject)}</p>")
            parts.append(f"<pre style='white-space: pre-wrap'>{html.escape(v.text)}</pre>")
            for r in v.not_sent:
                parts.append(f"<p>{html.escape(STATE_LABELS.get(r.state, r.state))}: "
                             f"{html.escape(r.name)} &lt;{html.escape(r.address)}&gt; "
                             f"{html.escape(r.last_error)}</p>")
        doc.setHtml("".join(parts))
        return doc

    def print_to(self, printer: Any) -> None:
        self.document().print_(printer)

    def print_message(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.setObjectName("messagePrintDialog")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.print_to(printer)


def open_message(parent: QWidget, services: Any, message_id: int,
                 delivery_id: int | None = None) -> MessageView:
    """Show the message in its own window (several may be open side by side)."""
    view = MessageView(services, message_id, delivery_id, parent)
    view.setWindowFlag(Qt.WindowType.Window, True)
    view.show()
    return view


class MessageListModel(_Rows[MessageSummary]):
    COLUMNS = ("Queued", "Type", "Subject or text", "Recipients", "States")
    QUEUED, TYPE, SUBJECT, RECIPIENTS, STATES = range(5)

    def cells(self, m: MessageSummary) -> tuple[str, ...]:
        return (format_time(m.created_at, self.zone),
                m.type_label + (" (drill)" if m.is_drill else ""), m.subject,
                str(m.recipients), counts_text(m.counts))

    def sort_values(self, m: MessageSummary) -> dict[int, Any]:
        return {self.QUEUED: m.created_at.isoformat(), self.RECIPIENTS: m.recipients}


class SentMessagesDialog(QDialog):
    """The messages of one incident, newest first; open one to read it as it was sent."""

    def __init__(self, services: Any, incident_id: int, title: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.incident_id = services, incident_id
        self.setObjectName("sentMessagesDialog")
        self.setWindowTitle(f"Sent messages — {title}")
        self.setAccessibleName("Sent messages of the incident")
        self.resize(900, 420)
        self.model = MessageListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = configure_table(named(QTableView(), "sentMessagesTable",
                                           "Messages of the incident"))
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        _fit_columns(self.table, stretch=MessageListModel.SUBJECT)
        self.empty = QLabel("Nothing has been sent for this incident yet.")
        self.empty.setObjectName("sentMessagesEmpty")
        buttons = QDialogButtonBox()
        self.open_button = named(buttons.addButton("Open…", QDialogButtonBox.ButtonRole.ActionRole),
                                 "sentMessagesOpenButton", "Open the chosen message")
        close = named(buttons.addButton(QDialogButtonBox.StandardButton.Close),
                      "sentMessagesCloseButton", "Close the list")
        close.clicked.connect(self.close)
        self.open_button.clicked.connect(self.open_current)
        self.table.activated.connect(lambda _index: self.open_current())
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        from app.messages.sent import list_messages
        from ui.qtime import incident_zone

        incident = self.services.incidents.get(self.incident_id)
        self.model.zone = incident_zone(self.services, incident.client_id)
        self.model.replace_rows(list_messages(self.services.store, self.incident_id))
        self.table.sortByColumn(MessageListModel.QUEUED, Qt.SortOrder.DescendingOrder)
        has = self.model.rowCount() > 0
        self.empty.setVisible(not has)
        self.open_button.setEnabled(has)
        if has:
            self.table.selectRow(0)

    def open_current(self) -> MessageView | None:
        index = self.table.currentIndex()
        m = index.data(DTO_ROLE) if index.isValid() else None
        if m is None:
            return None
        return open_message(self, self.services, m.id)
