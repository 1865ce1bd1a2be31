"""Settings → Accounts: the ways out. SMTP accounts, an SMS provider, chat webhooks, the drill
inbox. Secrets go to the OS keyring (refused, and said so, when only an unsafe keyring exists);
"Test connection" shows the server's own answer."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QMenu, QPushButton, QSpinBox, QSplitter, QTableView, QToolButton, QVBoxLayout,
    QWidget,
)

from app.domain.addresses import address_note
from app.sending.account_settings import (KIND_LABELS, SECRET_FIELD, SECRET_LABELS,
                                  new_account_defaults)
from app.sending.channels.base import AccountDTO
from app.errors import ClarionError, ValidationError
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
        right_layout.addLayout(top_form)
        right_layout.addWidget(self.form_host)
        right_layout.addWidget(self.paused)
        right_layout.addWidget(self.general)
        right_layout.addWidget(self.answer)
        right_layout.addStretch(1)
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

    def _security_changed(self, _index: int) -> None:
        port = self.widgets.get("port")
        security = self.widgets.get("security")
        if isinstance(port, QSpinBox) and isinstance(security, QComboBox):
            port.setValue({"tls": 465, "starttls": 587, "none": 25}[security.currentData()])

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
        self.paused.clear_error()
        self.resume_button.hide()
        self.delete_button.setEnabled(False)
        self.test_button.setEnabled(True)
        self.answer.setText("")
        self.name_edit.setFocus()

    def show_account(self, account: AccountDTO) -> None:
        self.current, self.new_kind = account, None
        self._build_form(account.kind)
        self.heading.setText(f"<b>{account.name}</b> — {KIND_LABELS.get(account.kind, account.kind)}")
        self.name_edit.setText(account.name)
        self.default_check.setChecked(account.is_default)
        self._fill(account.settings)
        secret = self.widgets.get(SECRET_FIELD)
        if isinstance(secret, QLineEdit):
            stored = self.services.accounts.has_secret(account.id)
            secret.setPlaceholderText("stored in the keyring — leave empty to keep" if stored
                                      else "not set")
        if account.paused_reason:
            self.paused.show_error(f"Sending is paused: {account.paused_reason}")
        else:
            self.paused.clear_error()
        self.resume_button.setVisible(bool(account.paused_reason))
        self.delete_button.setEnabled(account.kind != "drill")
        self.test_button.setEnabled(account.kind != "drill")
        self.answer.setText("")
        self.general.clear_error()

    def _fill(self, settings: dict[str, Any]) -> None:
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
        self.reload(saved.id)
        self.general.show_info(f"Saved “{saved.name}”.")
        return saved

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
