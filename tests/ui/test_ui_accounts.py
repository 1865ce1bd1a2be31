"""Settings → Sending accounts: bad input next to the field, secrets to the keyring only, an
unsafe keyring refused plainly, and Test connection showing what the server said."""

from __future__ import annotations

import socket

import keyring
import pytest


@pytest.fixture
def dialog(qtbot, window, memory_keyring):
    d = window.edit_accounts()
    qtbot.waitUntil(d.isVisible)
    yield d
    d.reject()


def _fill_email(d, host="smtp.example.com", security="starttls", password="S3cr3t-XYZ-123"):
    d.start_new("email")
    d.name_edit.setText("Service desk relay")
    d.widgets["host"].setText(host)
    d.widgets["security"].setCurrentIndex(d.widgets["security"].findData(security))
    d.widgets["username"].setText("desk")
    d.widgets["secret"].setText(password)
    d.widgets["from_address"].setText("desk@example.com")


def test_create_email_account_keeps_the_password_in_the_keyring(dialog, services,
                                                                 memory_keyring):
    _fill_email(dialog)
    assert dialog.widgets["concurrency"].value() == 8    # a new email account's default
    assert dialog.widgets["timeout"].value() == 30
    saved = dialog.save()
    assert saved is not None and saved.settings["port"] == 587
    assert saved.settings["concurrency"] == 8
    assert services.accounts.secret_of(saved.id) == "S3cr3t-XYZ-123"
    assert "secret" not in saved.settings and "S3cr3t" not in str(saved.settings)
    db = services.store.path.read_bytes() + (
        services.store.path.with_name(services.store.path.name + "-wal").read_bytes()
        if services.store.path.with_name(services.store.path.name + "-wal").exists() else b"")
    assert b"S3cr3t-XYZ-123" not in db
    assert dialog.model.rowCount() >= 1


def test_unencrypted_smtp_to_another_host_is_refused_next_to_the_field(dialog, services):
    _fill_email(dialog, host="smtp.example.com", security="none")
    assert dialog.save() is None
    assert not dialog.errors["security"].isHidden()
    assert "only to this computer" in dialog.errors["security"].text()
    assert services.accounts.list(kind="email") == []


def test_an_unsafe_keyring_refuses_and_stores_nothing(qtbot, window, services):
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        d = window.edit_accounts()
        assert d.keyring_notice.isVisible() and d.keyring_notice.text()
        _fill_email(d)
        assert d.save() is None
        assert d.general.isVisible() and d.general.text()
        assert services.accounts.list(kind="email") == []
        d.reject()
    finally:
        keyring.set_keyring(previous)


def test_test_connection_shows_the_failure_in_words(qtbot, dialog, services):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.start_new("email")
    dialog.name_edit.setText("Local relay")
    dialog.widgets["host"].setText("127.0.0.1")
    dialog.widgets["security"].setCurrentIndex(dialog.widgets["security"].findData("none"))
    dialog.widgets["port"].setValue(port)
    dialog.widgets["from_address"].setText("desk@example.com")
    assert dialog.save() is not None
    dialog.test_connection()
    qtbot.waitUntil(lambda: "✗" in dialog.answer.text(), timeout=15000)
    assert dialog.test_button.isEnabled()


def test_an_internal_from_address_gets_a_quiet_note_not_an_error(dialog):
    dialog.start_new("email")
    dialog.widgets["from_address"].setText("incidents@corp.local")
    assert "corp.local is a name inside a company network" in dialog.from_address_note.text()
    assert not dialog.errors["from_address"].isVisible()
    dialog.widgets["from_address"].setText("incidents@example.com")
    assert not dialog.from_address_note.isVisible()
