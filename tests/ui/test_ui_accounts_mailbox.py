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
