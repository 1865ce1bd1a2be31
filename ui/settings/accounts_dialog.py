"""Settings → Accounts: the ways out. SMTP accounts, an SMS provider, chat webhooks, the drill
inbox. Secrets go to the OS keyring (refused, and said so, when only an unsafe keyring exists);
"Test connection" shows the server's own answer. An email account may also name its mailbox
(IMAP): Clarion reads it, never changing it, for bounces and replies to what it sent, and
"Check mailbox now" reads it once (on a worker thread: IMAPClient blocks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QLineEdit, QMenu, QPushButton, QScrollArea, QSpinBox, QSplitter,
    QTableView, QToolButton, QVBoxLayout, QWidget,
)

from app.domain.addresses import address_note
from app.sending.account_settings import (
    DEFAULT_LOOKBACK_DAYS, IMAP_DEFAULT_FOLDER, IMAP_DEFAULT_PORTS, IMAP_DEFAULT_SECURITY,
    KIND_LABELS, LOOKBACK_RANGE, SECRET_FIELD, SECRET_LABELS, SECRET_MAX, new_account_defaults,
)
from app.sending.channels.base import AccountDTO
from app.errors import ClarionError, ValidationError, too_long
from ui.models.base import TextTableModel
from ui.services import Services
from ui.widgets.forms import ErrorLabel, NoticeLabel, configure_table, named, with_error

# (key, label, widget kind, extra) per account kind; "secret" is the keyring field.
FIELDS: dict[str, list[tuple[str, str, str, Any]]] = {
    "email": [("host", "SMTP server", "line", "smtp.example.com"),
              ("security", "Security", "choice", [("starttls", "STARTTLS (required)"),
                                                  ("tls", "TLS from the start (port 465)"),
                                                  ("none", "None — only to this computer")]),
              ("port", "Port", "int", (1, 65535)),
              ("ca_file", "CA certificate", "file", "for a relay signed by an internal CA"),
              ("username", "User name", "line", "empty if the relay needs no login"),
              (SECRET_FIELD, "Password", "secret", None),
              ("from_address", "From address", "line", "incidents@example.com"),
              ("from_name", "From name", "line", "IT Service Desk"),
              ("reply_to", "Reply-To", "line", "optional"),
              ("local_hostname", "EHLO name", "line",
               "empty: this computer's full name, else the from address's domain"),
              ("concurrency", "Connections at once", "int", (1, 20)),
              ("timeout", "Timeout (seconds)", "int", (5, 300))],
    "sms": [("base_url", "Provider URL", "line", "https://api.twilio.com"),
            ("account_sid", "Account SID", "line", "AC…"),
            (SECRET_FIELD, "Auth token", "secret", None),
            ("from_number", "From number", "line", "+12065550100"),
            ("messaging_service_sid", "or Messaging service SID", "line", "MG…"),
            ("concurrency", "Requests at once", "int", (1, 20)),
            ("poll_status", "Poll delivery status", "bool", None)],
    "slack": [(SECRET_FIELD, "Webhook URL", "secret", None), ("label", "Label", "line", "")],
    "teams": [(SECRET_FIELD, "Webhook URL", "secret", None), ("label", "Label", "line", "")],
    "webhook": [(SECRET_FIELD, "Webhook URL", "secret", None), ("label", "Label", "line", "")],
    "drill": [],
}

# An email account's mailbox (optional): (key, label, accessible name, widget kind, extra).
MAILBOX_FIELDS: list[tuple[str, str, str, str, Any]] = [
    ("imap_host", "IMAP server", "IMAP server", "line",
     "imap.example.com — empty: the mailbox is not read"),
    ("imap_security", "Security", "IMAP security", "choice",
     [("tls", "Implicit TLS (port 993)"), ("starttls", "STARTTLS (port 143)"),
      ("none", "None — only to this computer")]),
    ("imap_port", "Port", "IMAP port", "int", (1, 65535)),
    ("imap_username", "User name", "IMAP user name", "line", None),   # placeholder: SMTP's
    ("imap_folder", "Folder", "Mailbox folder", "line", IMAP_DEFAULT_FOLDER),
    ("imap_lookback_days", "First read looks back", "First read looks back (days)", "int",
     LOOKBACK_RANGE),
]
MAILBOX_DEFAULTS: dict[str, Any] = {
    "imap_security": IMAP_DEFAULT_SECURITY,
    "imap_port": IMAP_DEFAULT_PORTS[IMAP_DEFAULT_SECURITY],
    "imap_lookback_days": DEFAULT_LOOKBACK_DAYS}
MAILBOX_EXPLANATION = ("Clarion reads this folder without marking anything read, moving or "
                       "deleting it; bounces and replies to its messages are recorded with the "
                       "incident.")
MAILBOX_PASSWORD_LABEL = "Log in with the account's password"
MAILBOX_PASSWORD_KEPT = "stored in the keyring — leave empty to keep"
MAILBOX_PASSWORD_NEW = "the mailbox's password"
MAILBOX_PASSWORD_MISSING = "Enter the mailbox's password, or log in with the account's."
MUTED_STYLE = "color: #5f6368; font-size: 90%;"
ERROR_COLOUR, GOOD_COLOUR = "#b3261e", "#2e7d32"
CHECK_LABEL, CHECKING_LABEL = "Check mailbox now", "Checking…"


def mailbox_status(store: Any, account_id: int,
                   folder: str) -> tuple[datetime | None, str] | None:
    """(checked at, last error) of the account's last read of that folder; None before the
    first one (app/mailbox/recorder.py keeps them in mailbox_positions)."""
    from app.domain.models import MailboxPosition

    with store.reading() as session:
        row = session.get(MailboxPosition, (account_id, folder))
        return None if row is None else (row.checked_at, row.last_error or "")


def check_report_text(report: Any) -> str:
    """A CheckReport in words: 'Read 3 new messages: 1 matched, 2 left alone.' (left alone:
    about nothing Clarion sent, a delay notice, or about a closed incident)."""
    read = f"Read {report.read:,} new message{'s' * (report.read != 1)}"
    text = f"{read}: {len(report.recorded):,} matched"
    alone = report.unmatched + len(report.left_alone)
    if alone:
        text += f", {alone:,} left alone"
    return text + "."


class AccountsDialog(QDialog):
    def __init__(self, services: Services,
                 run_async: Callable[..., Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.run_async = run_async
        self.current: AccountDTO | None = None
        self.new_kind: str | None = None
        self.setObjectName("accountsDialog")
        self.setAccessibleName("Accounts")
        self.setWindowTitle("Settings — sending accounts")
        self.resize(980, 620)

        self.keyring_notice = NoticeLabel("keyringNotice")
        message = services.accounts.secrets.insecure_message()
        if message:  # said before anything is typed; the refusal itself says it again
            self.keyring_notice.show_error(message.replace(" Nothing was saved.", ""))
        self.model = TextTableModel(("Name", "Kind", "Default", "Status"))
        self.table = configure_table(named(QTableView(), "accountsTable", "Accounts"))
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name takes the rest
        self.new_button = named(QToolButton(), "newAccountButton", "New account")
        self.new_button.setText("New account")
        self.new_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.new_button)
        for kind in ("email", "sms", "slack", "teams", "webhook"):
            action = menu.addAction(KIND_LABELS[kind])
            action.setObjectName(f"newAccount_{kind}")
            action.triggered.connect(lambda _c=False, k=kind: self.start_new(k))
        self.new_button.setMenu(menu)
        self.delete_button = named(QPushButton("Delete"), "deleteAccountButton", "Delete account")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.delete_button)
        left_layout.addLayout(row)

        self.heading = QLabel()
        self.heading.setObjectName("accountHeading")
        self.name_edit = named(QLineEdit(), "accountNameEdit", "Account name")
        self.default_check = named(QCheckBox("Default for this kind"), "accountDefaultCheck",
                                   "Default account for this kind")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.widgets: dict[str, QWidget] = {}
        self.errors: dict[str, ErrorLabel] = {}
        self.paused = NoticeLabel("accountPausedNotice")
        self.resume_button = named(QPushButton("Resume sending"), "resumeAccountButton",
                                   "Resume sending through this account")
        self.test_button = named(QPushButton("Test connection"), "testConnectionButton",
                                 "Test connection")
        self.save_button = named(QPushButton("Save"), "saveAccountButton", "Save account")
        self.answer = QLabel()
        self.answer.setObjectName("testConnectionAnswer")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.general = NoticeLabel("accountGeneralError")
        self._build_mailbox_group()
        buttons = QHBoxLayout()
        buttons.addWidget(self.resume_button)
        buttons.addStretch(1)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.save_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.heading)
        top_form = QFormLayout()
        self.errors["name"] = ErrorLabel("account_name_error")
        top_form.addRow("&Name", with_error(self.name_edit, self.errors["name"]))
        top_form.addRow("", self.default_check)
        # An email account's form with its mailbox is taller than a 768-px screen leaves: the
        # fields scroll, the messages and the buttons below them stay in view.
        fields = QWidget()
        fields.setObjectName("accountFields")
        fields_layout = QVBoxLayout(fields)
        fields_layout.setContentsMargins(0, 0, 6, 0)
        fields_layout.addLayout(top_form)
        fields_layout.addWidget(self.form_host)
        fields_layout.addWidget(self.mailbox_group)
        fields_layout.addStretch(1)
        self.form_scroll = QScrollArea()
        self.form_scroll.setObjectName("accountFormScroll")
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.form_scroll.setWidget(fields)
        right_layout.addWidget(self.form_scroll, 1)
        right_layout.addWidget(self.paused)
        right_layout.addWidget(self.general)
        right_layout.addWidget(self.answer)
        right_layout.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([380, 600])
        close = named(QPushButton("Close"), "accountsCloseButton", "Close")
        close.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.keyring_notice)
        layout.addWidget(splitter, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)

        self.table.selectionModel().currentRowChanged.connect(self._selected)
        self.save_button.clicked.connect(self.save)
        self.delete_button.clicked.connect(self.delete)
        self.test_button.clicked.connect(self.test_connection)
        self.resume_button.clicked.connect(self.resume)
        self.reload()

    def _build_mailbox_group(self) -> None:
        """The mailbox section of an email account: built once (a check may be running while
        another account is shown), its fields joined to self.widgets for email accounts."""
        from ui.worker import Worker

        self.mailbox_group = QGroupBox("Mailbox — bounces and replies (optional)")
        self.mailbox_group.setObjectName("mailboxGroup")
        form = QFormLayout(self.mailbox_group)
        self.mailbox_widgets: dict[str, QWidget] = {}
        self.mailbox_errors: dict[str, ErrorLabel] = {}
        for key, label, accessible, widget_kind, extra in MAILBOX_FIELDS:
            name = f"account_{key}"
            if widget_kind == "line":
                widget: QWidget = named(QLineEdit(), name, accessible)
                widget.setPlaceholderText(extra or "")
            elif widget_kind == "int":
                widget = named(QSpinBox(), name, accessible)
                widget.setRange(*extra)
            else:  # choice
                widget = named(QComboBox(), name, accessible)
                for value, text in extra:
                    widget.addItem(text, value)
                widget.currentIndexChanged.connect(self._imap_security_changed)
            self.mailbox_widgets[key] = widget
            self.mailbox_errors[key] = ErrorLabel(f"{name}_error")
            form.addRow(label, with_error(widget, self.mailbox_errors[key]))
            if key == "imap_username":
                self._build_mailbox_password(form)
        lookback = self.mailbox_widgets["imap_lookback_days"]
        lookback.setSuffix(" days")  # type: ignore[attr-defined]
        lookback.setToolTip("How far back the first read goes (and a read after the server "
                            "renumbered the folder); later reads take only what is new.")
        self.mailbox_widgets["imap_host"].setToolTip(
            "Leave empty and the mailbox is not read. The IMAP login uses the account's "
            "password above, unless the mailbox has a password of its own below.")
        explanation = QLabel(MAILBOX_EXPLANATION)
        explanation.setObjectName("mailboxExplanation")
        explanation.setWordWrap(True)
        explanation.setStyleSheet(MUTED_STYLE)
        form.addRow(explanation)
        self.mailbox_status = QLabel()
        self.mailbox_status.setObjectName("mailboxStatus")
        self.mailbox_status.setWordWrap(True)
        self.mailbox_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Last check", self.mailbox_status)
        self.check_button = named(QPushButton(CHECK_LABEL), "checkMailboxButton",
                                  "Check mailbox now",
                                  "Read the saved mailbox settings' folder once, now")
        self.check_button.clicked.connect(self.check_mailbox)
        self.mailbox_answer = QLabel()
        self.mailbox_answer.setObjectName("checkMailboxAnswer")
        self.mailbox_answer.setWordWrap(True)
        self.mailbox_answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.mailbox_answer, 1)
        form.addRow("", row)
        self.mailbox_worker = Worker(self)
        self.mailbox_worker.finished.connect(self._mailbox_checked)
        self.mailbox_worker.failed.connect(self._mailbox_check_failed)
        self._checking_id: int | None = None
        self.mailbox_group.hide()

    def _build_mailbox_password(self, form: QFormLayout) -> None:
        """The mailbox's own password (a keyring entry beside the account's): kept apart from
        self.widgets, which are the account's settings."""
        self.imap_same_password = named(
            QCheckBox(MAILBOX_PASSWORD_LABEL), "account_imap_same_password",
            "Log in to the mailbox with the account's password",
            "Untick when the mailbox's password is not the SMTP login's: the mailbox's own "
            "is then kept in the keyring beside the account's.")
        self.imap_same_password.setChecked(True)
        self.imap_secret = named(QLineEdit(), "account_imap_secret", "Mailbox password")
        self.imap_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.imap_secret.setPlaceholderText(MAILBOX_PASSWORD_NEW)
        self.imap_secret.setEnabled(False)
        self.mailbox_errors["imap_secret"] = ErrorLabel("account_imap_secret_error")
        self.imap_same_password.toggled.connect(self._imap_same_password_toggled)
        form.addRow("", self.imap_same_password)
        form.addRow("Mailbox password",
                    with_error(self.imap_secret, self.mailbox_errors["imap_secret"]))

    def _imap_same_password_toggled(self, same: bool) -> None:
        self.imap_secret.setEnabled(not same)
        if same:   # a password that will not be used is not kept in the widget
            self.imap_secret.clear()
        self.mailbox_errors["imap_secret"].clear_error()

    def _show_mailbox_password(self, account: AccountDTO | None) -> None:
        """The checkbox says whether the shown account's mailbox has a password of its own;
        the field is always empty (the password stays in the keyring)."""
        own = (account is not None and account.kind == "email"
               and self.services.accounts.has_mailbox_secret(account.id))
        self.imap_same_password.setChecked(not own)
        self.imap_secret.clear()
        self.imap_secret.setPlaceholderText(MAILBOX_PASSWORD_KEPT if own
                                            else MAILBOX_PASSWORD_NEW)
        self.mailbox_errors["imap_secret"].clear_error()

    # -- list

    def accounts(self) -> list[AccountDTO]:
        return self.services.accounts.list()

    def reload(self, select_id: int | None = None) -> None:
        accounts = self.accounts()
        self._ids = [a.id for a in accounts]
        self.model.set_rows(self.model.COLUMNS, [
            (a.name, KIND_LABELS.get(a.kind, a.kind), "yes" if a.is_default else "",
             f"paused: {a.paused_reason}" if a.paused_reason else "ready") for a in accounts])
        target = select_id if select_id is not None else (self.current.id if self.current else None)
        if target in self._ids:
            self.table.setCurrentIndex(self.model.index(self._ids.index(target), 0))
        elif accounts:
            self.table.setCurrentIndex(self.model.index(0, 0))
        else:
            self.start_new("email")

    def _selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.show_account(self.services.accounts.get(self._ids[current.row()]))

    # -- form

    def _build_form(self, kind: str) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets = {}
        self.errors = {"name": self.errors["name"]}
        for key, label, widget_kind, extra in FIELDS.get(kind, []):
            name = f"account_{key}"
            if widget_kind == "line":
                widget: QWidget = named(QLineEdit(), name, label)
                widget.setPlaceholderText(extra or "")
            elif widget_kind == "secret":
                widget = named(QLineEdit(), name, SECRET_LABELS.get(kind, label))
                widget.setEchoMode(QLineEdit.EchoMode.Password)
            elif widget_kind == "int":
                widget = named(QSpinBox(), name, label)
                widget.setRange(*extra)
            elif widget_kind == "bool":
                widget = named(QCheckBox(label), name, label)
            elif widget_kind == "choice":
                widget = named(QComboBox(), name, label)
                for value, text in extra:
                    widget.addItem(text, value)
                widget.currentIndexChanged.connect(self._security_changed)
            else:  # file
                line = named(QLineEdit(), name, label, extra)
                line.setPlaceholderText(extra)
                browse = named(QPushButton("Browse…"), f"{name}_browse", f"Choose the {label}")
                browse.clicked.connect(lambda _c=False, e=line: self._browse(e))
                widget = QWidget()
                row = QHBoxLayout(widget)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(line, 1)
                row.addWidget(browse)
                widget.line = line  # type: ignore[attr-defined]
            self.widgets[key] = widget
            self.errors[key] = ErrorLabel(f"account_{key}_error")
            self.form.addRow(label if widget_kind != "bool" else "",
                             with_error(widget, self.errors[key]))
            if key == "from_address":   # a quiet word on corp.local or zoë@ (not an error)
                note = NoticeLabel("account_from_address_note")
                self.form.addRow("", note)
                widget.textChanged.connect(lambda text, n=note: n.show_info(address_note(text)))
                self.from_address_note = note
        self.mailbox_group.setVisible(kind == "email")
        if kind == "email":
            self.widgets.update(self.mailbox_widgets)
            self.errors.update(self.mailbox_errors)
            for label in self.mailbox_errors.values():
                label.clear_error()
            self.widgets["username"].textChanged.connect(self._smtp_user_changed)
            self._smtp_user_changed("")
        self.mailbox_answer.setText("")

    def _security_changed(self, _index: int) -> None:
        port = self.widgets.get("port")
        security = self.widgets.get("security")
        if isinstance(port, QSpinBox) and isinstance(security, QComboBox):
            port.setValue({"tls": 465, "starttls": 587, "none": 25}[security.currentData()])

    def _imap_security_changed(self, _index: int) -> None:
        port = self.mailbox_widgets["imap_port"]
        security = self.mailbox_widgets["imap_security"]
        if isinstance(port, QSpinBox) and isinstance(security, QComboBox):
            port.setValue(IMAP_DEFAULT_PORTS[security.currentData()])

    def _smtp_user_changed(self, text: str) -> None:
        """The IMAP user name defaults to the SMTP one: its placeholder says which."""
        user = text.strip()
        self.mailbox_widgets["imap_username"].setPlaceholderText(  # type: ignore[attr-defined]
            f"same as SMTP: {user}" if user
            else "the mailbox's user name (the SMTP login has none)")

    def _browse(self, line: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "CA certificate", "",
                                              "Certificates (*.pem *.crt *.cer);;All files (*)")
        if path:
            line.setText(path)

    def start_new(self, kind: str) -> None:
        self.current, self.new_kind = None, kind
        self.table.clearSelection()
        self._build_form(kind)
        self.heading.setText(f"<b>New {KIND_LABELS[kind]} account</b>")
        self.name_edit.setText("")
        self.default_check.setChecked(not self.services.accounts.default_for(kind))
        self._fill(new_account_defaults(kind))
        self._show_mailbox_password(None)
        self.paused.clear_error()
        self.resume_button.hide()
        self.delete_button.setEnabled(False)
        self.test_button.setEnabled(True)
        self.answer.setText("")
        self.show_mailbox_status()
        self.name_edit.setFocus()

    def show_account(self, account: AccountDTO) -> None:
        self.current, self.new_kind = account, None
        self._build_form(account.kind)
        kind_label = KIND_LABELS.get(account.kind, account.kind)
        self.heading.setText(f"<b>{account.name}</b> — {kind_label}")
        self.name_edit.setText(account.name)
        self.default_check.setChecked(account.is_default)
        self._fill(account.settings)
        secret = self.widgets.get(SECRET_FIELD)
        if isinstance(secret, QLineEdit):
            stored = self.services.accounts.has_secret(account.id)
            secret.setPlaceholderText("stored in the keyring — leave empty to keep" if stored
                                      else "not set")
        self._show_mailbox_password(account)
        if account.paused_reason:
            self.paused.show_error(f"Sending is paused: {account.paused_reason}")
        else:
            self.paused.clear_error()
        self.resume_button.setVisible(bool(account.paused_reason))
        self.delete_button.setEnabled(account.kind != "drill")
        self.test_button.setEnabled(account.kind != "drill")
        self.answer.setText("")
        self.general.clear_error()
        self.show_mailbox_status()

    def _fill(self, settings: dict[str, Any]) -> None:
        if "imap_host" in self.widgets:   # an email account: its mailbox fields' defaults
            settings = {**MAILBOX_DEFAULTS, **(settings or {})}
        for key, widget in self.widgets.items():
            value = settings.get(key)
            if isinstance(widget, QComboBox):
                index = widget.findData(value)
                if index >= 0:
                    widget.blockSignals(True)
                    widget.setCurrentIndex(index)
                    widget.blockSignals(False)
            elif isinstance(widget, QSpinBox):
                if value is not None:
                    widget.setValue(int(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QLineEdit):
                widget.setText("" if key == SECRET_FIELD else str(value or ""))
            elif hasattr(widget, "line"):
                widget.line.setText(str(value or ""))  # type: ignore[attr-defined]

    def current_settings(self) -> tuple[dict[str, Any], str | None]:
        settings: dict[str, Any] = {}
        secret: str | None = None
        for key, widget in self.widgets.items():
            if key == SECRET_FIELD:
                text = widget.text()  # type: ignore[attr-defined]
                secret = text if text or self.current is None else None
                continue
            if isinstance(widget, QComboBox):
                settings[key] = widget.currentData()
            elif isinstance(widget, QSpinBox):
                settings[key] = widget.value()
            elif isinstance(widget, QCheckBox):
                settings[key] = widget.isChecked()
            elif isinstance(widget, QLineEdit):
                settings[key] = widget.text().strip()
            elif hasattr(widget, "line"):
                settings[key] = widget.line.text().strip()  # type: ignore[attr-defined]
        if secret == "":
            secret = None
        return settings, secret

    # -- actions

    def save(self) -> AccountDTO | None:
        for label in self.errors.values():
            label.clear_error()
        self.general.clear_error()
        settings, secret = self.current_settings()
        svc = self.services.accounts
        kind = self.current.kind if self.current is not None else (self.new_kind or "email")
        mailbox_plan: tuple[str, str] | None = None
        if kind == "email":   # checked before anything is stored: all of it or none
            try:
                mailbox_plan = self._mailbox_password_plan(settings)
            except ClarionError as exc:   # the keyring could not be read
                self.general.show_error(str(exc))
                return None
            if mailbox_plan is None:
                return None
        try:
            if self.current is None:
                saved = svc.create(self.new_kind or "email", self.name_edit.text(), settings,
                                   secret=secret, is_default=self.default_check.isChecked())
            else:
                saved = svc.update(self.current.id, self.name_edit.text(), settings,
                                   secret=secret, is_default=self.default_check.isChecked())
        except ValidationError as exc:
            for key, message in exc.errors.items():
                self.errors.get(key, self.general).show_error(message)
            return None
        except ClarionError as exc:  # the keyring refused: nothing was stored
            self.general.show_error(str(exc))
            return None
        problem = self._apply_mailbox_password(saved.id, *mailbox_plan) if mailbox_plan else ""
        self.reload(saved.id)   # shows what is stored now: the mailbox password field empty
        if problem:
            # The account's settings are saved; its mailbox password is not what was asked.
            if mailbox_plan and mailbox_plan[0] == "set":
                self.imap_same_password.setChecked(False)
            self.mailbox_errors["imap_secret"].show_error(problem)
            self.general.show_error(f"Saved “{saved.name}”, but not its mailbox password: "
                                    f"{problem}")
            self.form_scroll.ensureWidgetVisible(self.imap_secret)
            return None
        self.general.show_info(f"Saved “{saved.name}”.")
        return saved

    def _mailbox_password_plan(self, settings: dict[str, Any]) -> tuple[str, str] | None:
        """What saving does to the mailbox's own password: ("set", text), ("keep", ""),
        ("clear", "") (removed if there is one: no mailbox read, or the account's password
        used); None, with the reason next to the field, when the form cannot be saved."""
        if not settings.get("imap_host") or self.imap_same_password.isChecked():
            return "clear", ""
        error = self.mailbox_errors["imap_secret"]
        text = self.imap_secret.text()
        if text:
            if len(text) > SECRET_MAX:
                error.show_error(too_long("It", SECRET_MAX, len(text)))
            else:
                return "set", text
        elif self.current is not None and self.services.accounts.has_mailbox_secret(
                self.current.id):
            return "keep", ""
        else:
            error.show_error(MAILBOX_PASSWORD_MISSING)
        self.general.show_error("Nothing was saved: see the mailbox password.")
        self.form_scroll.ensureWidgetVisible(self.imap_secret)
        self.imap_secret.setFocus()
        return None

    def _apply_mailbox_password(self, account_id: int, action: str, text: str) -> str:
        """Store or remove the mailbox's own password after the account is saved; what went
        wrong, in words ("" when nothing did)."""
        svc = self.services.accounts
        try:
            if action == "set":
                svc.set_mailbox_secret(account_id, text)
            elif action == "clear" and svc.has_mailbox_secret(account_id):
                svc.set_mailbox_secret(account_id, None)   # no needless keyring writes
        except ValidationError as exc:
            return " ".join(exc.errors.values())
        except ClarionError as exc:   # the keyring refused or is locked
            return str(exc)
        return ""

    def delete(self) -> None:
        if self.current is None:
            return
        try:
            gone = self.services.accounts.delete(self.current.id)
        except ClarionError as exc:
            self.general.show_error(str(exc))
            return
        self.current = None
        self.reload()
        self.general.show_info(f"Deleted “{gone.name}” and its keyring entry.")

    def resume(self) -> None:
        if self.current is not None:
            self.services.accounts.resume(self.current.id)
            self.reload(self.current.id)

    def test_connection(self) -> None:
        if self.current is None:
            self.answer.setText("Save the account first, then test it.")
            return
        from app.sending.channels.factory import sender_for

        account = self.services.accounts.get(self.current.id)
        sender = sender_for(account, self.services.accounts.secret_of(account.id))

        async def probe() -> str:
            try:
                return await sender.test_connection()
            finally:
                await sender.aclose()

        self.answer.setText("Connecting…")
        self.test_button.setEnabled(False)
        runner = self.run_async or _one_off
        runner(probe(), self._tested, self._test_failed)

    def _tested(self, answer: object) -> None:
        self.test_button.setEnabled(True)
        self.answer.setText(f"<span style='color:#2e7d32'>✓ Connected.</span> The server said: "
                            f"{_escape(str(answer))}")

    def _test_failed(self, exc: object) -> None:
        self.test_button.setEnabled(True)
        self.answer.setText(f"<span style='color:#b3261e'>✗ {_escape(str(exc))}</span>")

    # -- the mailbox

    def show_mailbox_status(self) -> None:
        """The last check of the shown account's mailbox folder, from mailbox_positions."""
        label = self.mailbox_status
        account = self.current
        if account is None or account.kind != "email":
            label.setText("Not read yet: save the account, then check its mailbox.")
            return
        settings = account.settings or {}
        if not settings.get("imap_host"):
            label.setText("Not read: the account has no IMAP server.")
            return
        folder = settings.get("imap_folder") or IMAP_DEFAULT_FOLDER
        status = mailbox_status(self.services.store, account.id, folder)
        if status is None:
            label.setText("Not read yet.")
            return
        checked_at, error = status
        from app.timefmt import format_local

        when = format_local(checked_at, now=self.services.clock.now()) if checked_at else ""
        if error:
            label.setText(f"<span style='color:{ERROR_COLOUR}'>✗ "
                          f"{_escape(f'Failed at {when}: ' if when else 'Failed: ')}"
                          f"{_escape(error)}</span>")
        else:
            label.setText(_escape(f"Read {folder} at {when}." if when else f"Read {folder}."))

    def check_mailbox(self) -> None:
        """Read the saved account's mailbox folder once, on a worker thread (IMAPClient
        blocks); the report comes back through a queued signal."""
        if self.mailbox_worker.running:
            return
        if self.current is None:
            self.mailbox_answer.setText("Save the account first, then check its mailbox.")
            return
        from app.mailbox.reader import ImapSettings, check_account

        account = self.services.accounts.get(self.current.id)
        if ImapSettings.of(account) is None:
            self.mailbox_answer.setText("Enter an IMAP server and save the account first: "
                                        "its mailbox is not read.")
            return
        services = self.services

        def run() -> Any:
            return check_account(services.store, services.clock, account,
                                 services.accounts.mailbox_secret_of(account.id), services.events)

        self._checking_id = account.id
        self.check_button.setEnabled(False)
        self.check_button.setText(CHECKING_LABEL)
        self.mailbox_answer.setText("")
        self.mailbox_worker.start(run)

    def _check_done(self) -> bool:
        """Button back; whether the account checked is still the one shown."""
        self.check_button.setText(CHECK_LABEL)
        self.check_button.setEnabled(True)
        checked, self._checking_id = self._checking_id, None
        shown = self.current is not None and self.current.id == checked
        if shown:
            self.show_mailbox_status()
        return shown

    def _mailbox_checked(self, report: Any) -> None:
        if not self._check_done():
            return
        if report.error:
            self.mailbox_answer.setText(f"<span style='color:{ERROR_COLOUR}'>✗ "
                                        f"{_escape(report.error)}</span>")
        else:
            self.mailbox_answer.setText(f"<span style='color:{GOOD_COLOUR}'>✓</span> "
                                        f"{_escape(check_report_text(report))}")

    def _mailbox_check_failed(self, exc: object) -> None:
        if self._check_done():
            self.mailbox_answer.setText(f"<span style='color:{ERROR_COLOUR}'>✗ "
                                        f"{_escape(str(exc))}</span>")


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _one_off(coro: Any, on_done: Callable[[Any], None],
             on_error: Callable[[BaseException], None]) -> None:
    """Without the main window's bridge (e.g. a test): a bridge for this one job."""
    from ui.bridge import AsyncBridge

    bridge = AsyncBridge()
    bridge.start()

    def finish(callback: Callable[[Any], None], value: Any) -> None:
        callback(value)
        bridge.stop()

    bridge.submit(coro, on_done=lambda r: finish(on_done, r),
                  on_error=lambda e: finish(on_error, e))
    _KEEP.append(bridge)


_KEEP: list = []
