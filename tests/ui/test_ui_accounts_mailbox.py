"""Settings → Sending accounts, an email account's mailbox (issue 24): the IMAP settings are
saved (or refused next to their field), an empty server turns reading off, the last check is
shown beside the account, and "Check mailbox now" reads a real Dovecot off the GUI thread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from imap_fixtures import ImapServer, imap_fixture, imap_server_fixture  # noqa: E402, F401

from app.sending.account_settings import IMAP_KEYS  # noqa: E402

ERROR_COLOUR = "#b3261e"


@pytest.fixture
def dialog(qtbot, window, memory_keyring):
    d = window.edit_accounts()
    qtbot.waitUntil(d.isVisible)
    yield d
    if d.mailbox_worker.running:   # never leave a read going into the next test's database
        qtbot.waitUntil(lambda: not d.mailbox_worker.running, timeout=20000)
    d.reject()


def _fill_email(d, password="S3cr3t-XYZ-123", user="desk"):
    d.start_new("email")
    d.name_edit.setText("Service desk relay")
    d.widgets["host"].setText("smtp.example.com")
    d.widgets["username"].setText(user)
    d.widgets["secret"].setText(password)
    d.widgets["from_address"].setText("desk@example.com")


def _choose(combo, value):
    combo.setCurrentIndex(combo.findData(value))


def _with_mailbox(d, imap: ImapServer, password: str | None = None):
    """An email account whose mailbox is the test Dovecot's (implicit TLS, its CA)."""
    _fill_email(d, password=password or imap.password, user=imap.user)
    d.widgets["ca_file"].line.setText(str(imap.ca_file))
    d.widgets["imap_host"].setText(imap.host)
    _choose(d.widgets["imap_security"], "tls")
    d.widgets["imap_port"].setValue(imap.tls_port)
    saved = d.save()
    assert saved is not None, {k: e.text() for k, e in d.errors.items() if e.text()}
    return saved


def test_entering_imap_settings_saves_them(dialog, services):
    _fill_email(dialog)
    assert dialog.mailbox_group.isVisible()
    assert dialog.widgets["imap_host"] is dialog.mailbox_widgets["imap_host"]
    assert dialog.widgets["imap_port"].value() == 993                 # implicit TLS by default
    assert dialog.widgets["imap_lookback_days"].value() == 7
    assert dialog.widgets["imap_username"].placeholderText() == "same as SMTP: desk"
    assert dialog.widgets["imap_folder"].placeholderText() == "INBOX"
    dialog.widgets["imap_host"].setText("IMAP.Example.com")
    _choose(dialog.widgets["imap_security"], "starttls")
    assert dialog.widgets["imap_port"].value() == 143                 # the port follows
    dialog.widgets["imap_folder"].setText("Clarion/Bounces")
    dialog.widgets["imap_lookback_days"].setValue(14)
    saved = dialog.save()
    assert saved is not None
    settings = services.accounts.get(saved.id).settings
    assert {k: settings[k] for k in IMAP_KEYS} == {
        "imap_host": "imap.example.com", "imap_port": 143, "imap_security": "starttls",
        "imap_username": "", "imap_folder": "Clarion/Bounces", "imap_lookback_days": 14}

    dialog.start_new("email")                      # shown again: the fields say what is stored
    dialog.show_account(services.accounts.get(saved.id))
    assert dialog.widgets["imap_host"].text() == "imap.example.com"
    assert dialog.widgets["imap_security"].currentData() == "starttls"
    assert dialog.widgets["imap_port"].value() == 143
    assert dialog.widgets["imap_folder"].text() == "Clarion/Bounces"
    assert dialog.widgets["imap_lookback_days"].value() == 14
    assert dialog.mailbox_status.text() == "Not read yet."

    dialog.start_new("sms")                         # not an email account: no mailbox
    assert dialog.mailbox_group.isHidden() and "imap_host" not in dialog.widgets


def test_a_bad_imap_host_is_refused_next_to_its_field_and_nothing_is_stored(dialog, services):
    _fill_email(dialog)
    dialog.widgets["imap_host"].setText("imap server.example.com")
    assert dialog.save() is None
    error = dialog.errors["imap_host"]
    assert not error.isHidden() and "is not a host name" in error.text()
    assert dialog.mailbox_group.isAncestorOf(error)          # in the mailbox section, by its field
    assert error.parentWidget() is dialog.widgets["imap_host"].parentWidget()
    assert services.accounts.list(kind="email") == []
    dialog.widgets["imap_host"].setText("imap.example.com")  # editing the field clears it
    assert error.isHidden()

    # unencrypted IMAP to another computer: refused beside the security choice
    _choose(dialog.widgets["imap_security"], "none")
    dialog.widgets["username"].setText("")                    # and no user name at all
    assert dialog.save() is None
    assert "only to this computer" in dialog.errors["imap_security"].text()
    assert "user name of the mailbox" in dialog.errors["imap_username"].text()
    assert services.accounts.list(kind="email") == []


def test_clearing_the_imap_host_turns_reading_off(dialog, services):
    _fill_email(dialog)
    dialog.widgets["imap_host"].setText("imap.example.com")
    dialog.widgets["imap_username"].setText("bounces@example.com")
    saved = dialog.save()
    assert saved is not None
    assert services.accounts.get(saved.id).settings["imap_username"] == "bounces@example.com"
    dialog.widgets["imap_host"].setText("")
    assert dialog.save() is not None
    settings = services.accounts.get(saved.id).settings
    assert not [key for key in settings if key.startswith("imap_")]
    assert settings["host"] == "smtp.example.com"             # the SMTP side untouched
    assert dialog.mailbox_status.text() == "Not read: the account has no IMAP server."
    dialog.check_mailbox()
    assert "Enter an IMAP server" in dialog.mailbox_answer.text()
    assert dialog.check_button.isEnabled()


def test_the_status_line_shows_the_last_checks_error(dialog, services):
    from app.mailbox.recorder import record_error

    _fill_email(dialog)
    dialog.widgets["imap_host"].setText("imap.example.com")
    saved = dialog.save()
    assert saved is not None and dialog.mailbox_status.text() == "Not read yet."
    record_error(services.store, services.clock, saved.id, "INBOX",
                 "Cannot reach the IMAP server imap.example.com:993: Connection refused.")
    dialog.show_account(services.accounts.get(saved.id))
    text = dialog.mailbox_status.text()
    assert "Failed at" in text and "Connection refused." in text and ERROR_COLOUR in text
    # the position of another folder says nothing about this one
    dialog.widgets["imap_folder"].setText("Bounces")
    assert dialog.save() is not None
    assert dialog.mailbox_status.text() == "Not read yet."


def test_check_mailbox_now_reads_the_real_mailbox_off_the_gui_thread(qtbot, dialog, services,
                                                                     imap: ImapServer):
    saved = _with_mailbox(dialog, imap)
    assert dialog.mailbox_status.text() == "Not read yet."
    imap.deliver(b"From: Someone <someone@example.com>\r\nTo: coordinator@clarion.test\r\n"
                 b"Subject: lunch?\r\nMessage-ID: <lunch-1@example.com>\r\n\r\nAny news?\r\n")
    button = dialog.check_button
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert button.text() == "Checking…" and not button.isEnabled()   # the GUI goes on meanwhile
    qtbot.waitUntil(lambda: "Read 1 new message" in dialog.mailbox_answer.text(),
                    timeout=20000)
    assert "0 matched, 1 left alone." in dialog.mailbox_answer.text()
    assert button.isEnabled() and button.text() == "Check mailbox now"
    assert dialog.mailbox_status.text().startswith("Read INBOX at ")
    assert imap.flags() == [set()]                  # still unread in the coordinator's mailbox
    from app.mailbox.recorder import position

    assert position(services.store, saved.id, "INBOX")[1] == 1      # read up to UID 1

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)     # nothing new the second time
    qtbot.waitUntil(lambda: "Read 0 new messages" in dialog.mailbox_answer.text(),
                    timeout=20000)


def test_check_mailbox_now_shows_a_refused_login_in_words(qtbot, dialog, services,
                                                          imap: ImapServer):
    _with_mailbox(dialog, imap, password="not-the-password")
    dialog.check_mailbox()
    qtbot.waitUntil(lambda: "✗" in dialog.mailbox_answer.text(), timeout=20000)
    assert "refused the user name or password" in dialog.mailbox_answer.text()
    assert dialog.check_button.isEnabled()
    status = dialog.mailbox_status.text()
    assert "Failed at" in status and "refused" in status and ERROR_COLOUR in status


def test_the_dialog_with_the_mailbox_section_fits_a_768_px_screen(qtbot, dialog):
    _fill_email(dialog)
    dialog.resize(980, 620)
    dialog.layout().activate()
    assert dialog.minimumSizeHint().height() <= 768 - 80      # a title bar and a panel
    fields = dialog.form_scroll.widget()
    assert fields.isAncestorOf(dialog.mailbox_group)          # the fields scroll …
    assert dialog.save_button.isVisible()                     # … the buttons stay in view
    bottom = dialog.save_button.mapTo(dialog, dialog.save_button.rect().bottomLeft()).y()
    assert bottom <= dialog.height()
    dialog.form_scroll.ensureWidgetVisible(dialog.check_button)
    assert not dialog.check_button.visibleRegion().isEmpty()


# -- the mailbox's own password (a keyring entry beside the account's)

def _mailbox_entries(memory_keyring, account_id=None):
    """The keyring entries of mailbox passwords (of one account, or of any)."""
    from app.sending.secrets import MAILBOX, username_for

    if account_id is not None:
        return [u for u in memory_keyring.usernames() if u == username_for(account_id, MAILBOX)]
    return [u for u in memory_keyring.usernames() if u.endswith(f"-{MAILBOX}")]


def _own_mailbox_password(d, password):
    d.imap_same_password.setChecked(False)
    d.imap_secret.setText(password)


def test_a_mailbox_password_of_its_own_goes_to_the_keyring(dialog, services, memory_keyring):
    _fill_email(dialog, password="smtp-P4ss")
    box, field = dialog.imap_same_password, dialog.imap_secret
    assert box.objectName() == "account_imap_same_password" and box.accessibleName()
    assert box.text() == "Log in with the account's password"
    assert box.isChecked() and not field.isEnabled()          # the account's, by default
    assert field.echoMode() == field.EchoMode.Password and field.accessibleName()
    assert field.placeholderText() == "the mailbox's password"
    assert dialog.mailbox_group.isAncestorOf(field) and dialog.mailbox_group.isAncestorOf(box)
    dialog.widgets["imap_host"].setText("imap.example.com")
    box.setChecked(False)
    assert field.isEnabled()
    field.setText("imap-P4ss")
    saved = dialog.save()
    assert saved is not None, {k: e.text() for k, e in dialog.errors.items() if e.text()}
    assert services.accounts.has_mailbox_secret(saved.id)
    assert services.accounts.mailbox_secret_of(saved.id) == "imap-P4ss"
    assert services.accounts.secret_of(saved.id) == "smtp-P4ss"        # the account's unchanged
    assert _mailbox_entries(memory_keyring, saved.id)
    assert field.text() == ""                                  # not kept in the widget
    assert "imap-P4ss" not in str(services.accounts.get(saved.id).settings)


def test_a_stored_mailbox_password_is_kept_then_removed(dialog, services, memory_keyring):
    _fill_email(dialog, password="smtp-P4ss")
    dialog.widgets["imap_host"].setText("imap.example.com")
    _own_mailbox_password(dialog, "imap-P4ss")
    saved = dialog.save()
    assert saved is not None

    dialog.start_new("email")                         # shown again: it has its own password
    assert dialog.imap_same_password.isChecked()
    dialog.show_account(services.accounts.get(saved.id))
    assert not dialog.imap_same_password.isChecked() and dialog.imap_secret.isEnabled()
    assert dialog.imap_secret.text() == ""
    assert dialog.imap_secret.placeholderText() == "stored in the keyring — leave empty to keep"

    dialog.widgets["from_name"].setText("Desk")        # saved with the field empty: kept
    assert dialog.save() is not None
    assert services.accounts.get(saved.id).settings["from_name"] == "Desk"
    assert services.accounts.mailbox_secret_of(saved.id) == "imap-P4ss"
    assert dialog.errors["imap_secret"].isHidden()

    dialog.imap_same_password.setChecked(True)         # the account's password again: removed
    assert not dialog.imap_secret.isEnabled()
    assert dialog.save() is not None
    assert not services.accounts.has_mailbox_secret(saved.id)
    assert services.accounts.mailbox_secret_of(saved.id) == "smtp-P4ss"
    assert _mailbox_entries(memory_keyring, saved.id) == []
    assert dialog.imap_same_password.isChecked()
    assert dialog.imap_secret.placeholderText() == "the mailbox's password"


def test_clearing_the_imap_host_removes_the_mailbox_password(dialog, services, memory_keyring):
    _fill_email(dialog)
    dialog.widgets["imap_host"].setText("imap.example.com")
    _own_mailbox_password(dialog, "imap-P4ss")
    saved = dialog.save()
    assert saved is not None and services.accounts.has_mailbox_secret(saved.id)
    dialog.widgets["imap_host"].setText("")            # the mailbox is not read any more
    assert dialog.save() is not None
    assert not services.accounts.has_mailbox_secret(saved.id)     # no orphan secret
    assert _mailbox_entries(memory_keyring) == []
    assert services.accounts.secret_of(saved.id) == "S3cr3t-XYZ-123"


def test_an_own_mailbox_password_left_empty_is_refused_and_nothing_stored(dialog, services,
                                                                          memory_keyring):
    _fill_email(dialog)
    dialog.widgets["imap_host"].setText("imap.example.com")
    dialog.imap_same_password.setChecked(False)
    assert dialog.save() is None
    error = dialog.errors["imap_secret"]
    assert not error.isHidden()
    assert error.text() == "Enter the mailbox's password, or log in with the account's."
    assert error.objectName() == "account_imap_secret_error"
    assert error.parentWidget() is dialog.imap_secret.parentWidget()   # next to the field
    assert "Nothing was saved" in dialog.general.text()
    assert services.accounts.list(kind="email") == []        # checked before anything is stored
    assert memory_keyring.usernames() == []

    # an account saved before: its other settings are not half-changed either
    dialog.imap_same_password.setChecked(True)
    assert error.isHidden()
    saved = dialog.save()
    assert saved is not None
    dialog.widgets["from_name"].setText("Desk")
    dialog.imap_same_password.setChecked(False)
    assert dialog.save() is None
    assert not error.isHidden() and "mailbox's password" in error.text()
    assert services.accounts.get(saved.id).settings["from_name"] == ""
    assert _mailbox_entries(memory_keyring) == []
    dialog.imap_secret.setText("imap-P4ss")               # typing clears the message
    assert error.isHidden()


def test_check_mailbox_now_logs_in_with_the_mailboxs_own_password(qtbot, dialog, services,
                                                                 imap: ImapServer):
    saved = _with_mailbox(dialog, imap, password="the-smtp-relay-password")
    assert services.accounts.secret_of(saved.id) != imap.password
    _own_mailbox_password(dialog, imap.password)
    assert dialog.save() is not None
    assert services.accounts.mailbox_secret_of(saved.id) == imap.password
    imap.deliver(b"From: Someone <someone@example.com>\r\nTo: coordinator@clarion.test\r\n"
                 b"Subject: lunch?\r\nMessage-ID: <lunch-2@example.com>\r\n\r\nAny news?\r\n")
    qtbot.mouseClick(dialog.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.check_button.isEnabled(), timeout=20000)
    assert "Read 1 new message" in dialog.mailbox_answer.text(), dialog.mailbox_answer.text()
    assert dialog.mailbox_status.text().startswith("Read INBOX at ")
