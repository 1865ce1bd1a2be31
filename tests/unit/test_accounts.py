"""app/sending/accounts.py: channel accounts — validation of every setting, defaults, one default per
kind, and secrets that live in the keyring only (never the database, the log or a message)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import keyring
import keyring.backend
import keyring.errors
import pytest
import sqlalchemy.exc
from keyring.backends import fail
from sqlalchemy import event

from app.errors import NotFound, ValidationError
from app.events import EventBus
from app.sending.accounts import (
    ACCOUNTS_CHANGED, DRILL_NAME, SECRET_FIELD, AccountService, validate_settings,
)
from app.sending.secrets import SERVICE, InsecureKeyringError, SecretStore, SecretStoreError

SECRET = "S3cr3t-XYZ-123"

CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBiDCCAS+gAwIBAgIUfn6Z+7bPM2wv+UUBs1wpLfqqWuYwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPQ2xhcmlvbiBUZXN0IENBMB4XDTI2MTEyNzEzNTUwOFoXDTM2
MTEyNDEzNTUwOFowGjEYMBYGA1UEAwwPQ2xhcmlvbiBUZXN0IENBMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAENxaGKa47D/AM3GOyoZSumhMqJCErlyCNXH4jgOWJ
0yNJ4AgzUumIJesa5WeGpNLSgdviQRrHe/GPWhwe44WwHKNTMFEwHQYDVR0OBBYE
FBuTsbVWpjap/Bz9xhYJkuCJrQczMB8GA1UdIwQYMBaAFBuTsbVWpjap/Bz9xhYJ
kuCJrQczMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgUbioMSj9
sLX3LOX93s03nzV+RRxgaiReGYtj1lY1IDwCICawn/qzHfdjzNELRkTC18HP9VnS
/F30k70zU5NCbOh0
-----END CERTIFICATE-----
"""


@pytest.fixture
def published():
    return []


@pytest.fixture
def accounts(store, frozen_clock, memory_keyring, published) -> AccountService:
    bus = EventBus()
    bus.subscribe(ACCOUNTS_CHANGED, published.append)
    return AccountService(store, frozen_clock, SecretStore(), bus)


def email(**overrides):
    settings = {"host": "smtp.example.com", "security": "starttls",
                "from_address": "alerts@example.com"}
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not ...}


def sms(**overrides):
    settings = {"base_url": "https://api.twilio.com", "account_sid": "AC0123456789abcdef",
                "from_number": "+14155550100"}
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not ...}


def row_count(store) -> int:
    with sqlite3.connect(store.path) as conn:
        return conn.execute("SELECT count(*) FROM channel_accounts").fetchone()[0]


def refused(accounts, memory_keyring, *args, **kwargs) -> ValidationError:
    """Create must refuse with a ValidationError and store nothing at all."""
    with pytest.raises(ValidationError) as info:
        accounts.create(*args, **kwargs)
    assert accounts.list() == []
    assert memory_keyring.usernames() == []
    return info.value


# ---------------------------------------------------------------- email

def test_email_defaults(accounts, memory_keyring):
    dto = accounts.create("email", "Relay", email())
    assert dto.kind == "email" and dto.name == "Relay"
    assert dto.settings == {
        "host": "smtp.example.com", "port": 587, "security": "starttls", "ca_file": "",
        "username": "", "from_address": "alerts@example.com", "from_name": "",
        "reply_to": "", "local_hostname": "", "concurrency": 8, "timeout": 30}
    assert accounts.get(dto.id) == dto
    assert accounts.secret_of(dto.id) is None  # no user name: no password needed


@pytest.mark.parametrize("given, kept", [
    ("desk1.harbor.example", "desk1.harbor.example"),
    ("Desk1.Harbor.Example.", "desk1.harbor.example"),
    ("192.0.2.7", "[192.0.2.7]"), ("[2001:db8::7]", "[2001:db8::7]"), ("", "")])
def test_the_ehlo_name_is_a_fully_qualified_name_or_an_address(accounts, memory_keyring,
                                                               given, kept):
    """Issue 18: relays refuse a bare EHLO name (Postfix reject_non_fqdn_helo_hostname)."""
    dto = accounts.create("email", f"Relay {given}", email(local_hostname=given))
    assert dto.settings["local_hostname"] == kept


@pytest.mark.parametrize("given", ["vm", "desk 1.example.com", "desk1.example.com\r\nX"])
def test_a_bare_or_broken_ehlo_name_is_refused_next_to_its_field(accounts, memory_keyring,
                                                                 given):
    errors = refused(accounts, memory_keyring, "email", "Relay", email(local_hostname=given))
    assert "local_hostname" in errors.errors


@pytest.mark.parametrize("security, host, port", [
    ("tls", "smtp.example.com", 465), ("starttls", "smtp.example.com", 587),
    ("none", "127.0.0.1", 25), ("none", "localhost", 25), ("none", "::1", 25)])
def test_email_port_defaults_by_security(accounts, security, host, port):
    dto = accounts.create("email", "Relay", email(security=security, host=host))
    assert dto.settings["port"] == port
    assert dto.settings["security"] == security


def test_email_security_defaults_to_starttls(accounts):
    dto = accounts.create("email", "Relay", email(security=...))
    assert dto.settings["security"] == "starttls" and dto.settings["port"] == 587


def test_email_values_are_normalised(accounts):
    dto = accounts.create("email", "  Main   relay ", email(
        host="SMTP.Example.COM.", port="2525", from_address="Alerts@Example.COM",
        reply_to="desk@example.com", from_name=" IT Service Desk ", username="clarion",
        concurrency=20, timeout=300), secret=SECRET)
    s = dto.settings
    assert dto.name == "Main relay"
    assert s["host"] == "smtp.example.com"
    assert s["port"] == 2525
    assert s["from_address"] == "Alerts@example.com"
    assert s["from_name"] == "IT Service Desk"
    assert (s["concurrency"], s["timeout"]) == (20, 300)


@pytest.mark.parametrize("host, normalised", [
    ("10.0.0.5", "10.0.0.5"), ("[::1]", "::1"), ("mail-1.corp.internal", "mail-1.corp.internal"),
    ("relay", "relay")])
def test_email_host_accepts_names_and_ips(accounts, host, normalised):
    assert accounts.create("email", "Relay", email(host=host)).settings["host"] == normalised


@pytest.mark.parametrize("field, value", [
    ("host", ...), ("host", ""), ("host", "bad host"), ("host", "-bad.example.com"),
    ("host", "a..b"), ("host", "smtp_example.com"), ("host", 42),
    ("port", 0), ("port", 65536), ("port", "abc"), ("port", True), ("port", 25.5),
    ("security", "ssl"), ("security", "TLS1.2"),
    ("username", "clar\nion"),
    ("from_address", ...), ("from_address", ""), ("from_address", "not-an-address"),
    ("from_address", "a@@example.com"),
    ("from_name", "Desk\r\nBcc: victim@example.com"), ("from_name", "x" * 201),
    ("reply_to", "nope"),
    ("concurrency", 0), ("concurrency", 21), ("concurrency", "many"),
    ("timeout", 4), ("timeout", 301),
])
def test_email_field_validation(accounts, memory_keyring, field, value):
    error = refused(accounts, memory_keyring, "email", "Relay", email(**{field: value}))
    assert field in error.errors, error.errors


def test_unencrypted_smtp_only_to_this_computer(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "email", "Relay",
                    email(security="none", host="smtp.example.com"))
    assert error.errors == {"security": "Unencrypted SMTP is allowed only to this computer."}
    # the loopback address is fine, on the default port 25
    assert accounts.create("email", "Local", email(security="none", host="127.0.0.1"))


def test_ca_file_must_be_a_readable_certificate(accounts, memory_keyring, tmp_path):
    missing = tmp_path / "missing.pem"
    assert "ca_file" in refused(accounts, memory_keyring, "email", "Relay",
                                email(ca_file=str(missing))).errors
    assert "ca_file" in refused(accounts, memory_keyring, "email", "Relay",
                                email(ca_file=str(tmp_path))).errors  # a folder
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert "ca_file" in refused(accounts, memory_keyring, "email", "Relay",
                                email(ca_file=str(junk))).errors
    good = tmp_path / "internal-ca.pem"
    good.write_text(CA_PEM)
    dto = accounts.create("email", "Relay", email(ca_file=str(good)))
    assert dto.settings["ca_file"] == str(good.resolve())


@pytest.mark.parametrize("key", ["verify", "verify_cert", "insecure", "check_hostname"])
def test_certificate_verification_cannot_be_turned_off(accounts, memory_keyring, key):
    error = refused(accounts, memory_keyring, "email", "Relay", email(**{key: False}))
    assert "always on" in error.errors[key]


def test_email_user_name_and_password_go_together(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "email", "Relay", email(username="clarion"))
    assert SECRET_FIELD in error.errors
    error = refused(accounts, memory_keyring, "email", "Relay", email(), secret=SECRET)
    assert "username" in error.errors
    dto = accounts.create("email", "Relay", email(username="clarion"), secret=SECRET)
    assert accounts.secret_of(dto.id) == SECRET
    assert memory_keyring.get_password(SERVICE, f"account-{dto.id}") == SECRET


def test_email_password_is_kept_exactly(accounts):
    dto = accounts.create("email", "Relay", email(username="u"), secret=" pass word ")
    assert accounts.secret_of(dto.id) == " pass word "


# ---------------------------------------------------------------- secrets never in settings

@pytest.mark.parametrize("key", ["password", "token", "auth_token", "secret", "api_key",
                                 "smtp_password", "Webhook_Secret"])
@pytest.mark.parametrize("kind", ["email", "sms", "slack"])
def test_settings_refuse_secret_looking_keys(accounts, memory_keyring, kind, key):
    settings = {"email": email(), "sms": sms(), "slack": {}}[kind]
    settings[key] = SECRET
    secret = None if kind == "email" else (
        "tok" if kind == "sms" else "https://hooks.example.com/x")
    error = refused(accounts, memory_keyring, kind, "Account", settings, secret=secret)
    assert "keyring" in error.errors[key]
    assert SECRET not in str(error)


def test_unknown_setting_is_refused(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "email", "Relay", email(colour="blue"))
    assert "colour" in error.errors


def test_settings_must_be_a_mapping(accounts, memory_keyring):
    assert "settings" in refused(accounts, memory_keyring, "email", "Relay", ["host"]).errors


# ---------------------------------------------------------------- sms

def test_sms_defaults_and_token_in_keyring(accounts, memory_keyring):
    dto = accounts.create("sms", "Twilio", sms(base_url="https://api.twilio.com/"),
                          secret=f"  {SECRET}\n")
    assert dto.settings == {
        "base_url": "https://api.twilio.com", "account_sid": "AC0123456789abcdef",
        "from_number": "+14155550100", "messaging_service_sid": "", "concurrency": 4,
        "poll_status": True}
    assert accounts.secret_of(dto.id) == SECRET  # pasted whitespace trimmed from a token
    assert SECRET not in repr(dto)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080", "http://localhost:9000/api",
                                      "https://sms.example.net:8443/v1"])
def test_sms_base_url_accepted(accounts, base_url):
    dto = accounts.create("sms", "Provider", sms(base_url=base_url), secret="tok")
    assert dto.settings["base_url"] == base_url


@pytest.mark.parametrize("base_url", ["http://api.twilio.com", "ftp://api.twilio.com",
                                      "api.twilio.com", "https://", "http://10.0.0.1"])
def test_sms_base_url_must_be_https(accounts, memory_keyring, base_url):
    error = refused(accounts, memory_keyring, "sms", "Provider", sms(base_url=base_url),
                    secret="tok")
    assert error.errors["base_url"] == "The provider's URL must be https."


def test_sms_base_url_without_credentials_or_query(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "sms", "Provider",
                    sms(base_url=f"https://AC1:{SECRET}@api.twilio.com"), secret="tok")
    assert "base_url" in error.errors and SECRET not in str(error)
    assert "base_url" in refused(accounts, memory_keyring, "sms", "Provider",
                                 sms(base_url="https://api.twilio.com?x=1"), secret="t").errors
    assert "base_url" in refused(accounts, memory_keyring, "sms", "Provider",
                                 sms(base_url=...), secret="t").errors


@pytest.mark.parametrize("field, value", [
    ("account_sid", ...), ("account_sid", "AC-123"), ("account_sid", "AC 123"),
    ("from_number", "555"), ("from_number", "(415) 555-0100"), ("from_number", "+1 999"),
    ("concurrency", 0), ("concurrency", 21), ("poll_status", "yes")])
def test_sms_field_validation(accounts, memory_keyring, field, value):
    error = refused(accounts, memory_keyring, "sms", "Provider", sms(**{field: value}),
                    secret="tok")
    assert field in error.errors, error.errors


def test_sms_from_number_or_messaging_service_exactly_one(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "sms", "P",
                    sms(messaging_service_sid="MG0123456789abcdef"), secret="t")
    assert "not both" in error.errors["from_number"]
    error = refused(accounts, memory_keyring, "sms", "P", sms(from_number=...), secret="t")
    assert "from_number" in error.errors
    error = refused(accounts, memory_keyring, "sms", "P",
                    sms(from_number=..., messaging_service_sid="MG 12"), secret="t")
    assert "messaging_service_sid" in error.errors
    dto = accounts.create("sms", "P", sms(from_number=..., messaging_service_sid="MG0123abc",
                                          poll_status=False), secret="t")
    assert dto.settings["from_number"] == ""
    assert dto.settings["messaging_service_sid"] == "MG0123abc"
    assert dto.settings["poll_status"] is False


def test_sms_from_number_normalised_to_e164(accounts):
    dto = accounts.create("sms", "P", sms(from_number="+1 (415) 555-0100"), secret="t")
    assert dto.settings["from_number"] == "+14155550100"


def test_sms_needs_its_auth_token(accounts, memory_keyring):
    assert SECRET_FIELD in refused(accounts, memory_keyring, "sms", "P", sms()).errors
    assert SECRET_FIELD in refused(accounts, memory_keyring, "sms", "P", sms(),
                                   secret="   ").errors


# ---------------------------------------------------------------- chat webhooks

@pytest.mark.parametrize("kind", ["slack", "teams", "webhook"])
def test_webhook_url_is_the_secret(accounts, memory_keyring, kind):
    url = f"https://hooks.example.com/services/T000/B000/{SECRET}"  # any https host
    dto = accounts.create(kind, f"{kind} channel", {"label": "#incidents"}, secret=url)
    assert dto.settings == {"label": "#incidents"}
    assert accounts.secret_of(dto.id) == url
    assert SECRET not in repr(dto)


@pytest.mark.parametrize("kind", ["slack", "teams", "webhook"])
@pytest.mark.parametrize("url", [f"http://hooks.slack.com/services/{SECRET}",
                                 f"hooks.slack.com/{SECRET}", f"https:///{SECRET}",
                                 f"https://hooks.example.com/a {SECRET}"])
def test_webhook_url_must_be_https_and_is_never_echoed(accounts, memory_keyring, kind, url):
    error = refused(accounts, memory_keyring, kind, "Chat", {}, secret=url)
    assert error.errors[SECRET_FIELD] == "The webhook URL must be an https:// address."
    assert SECRET not in str(error)


def test_webhook_to_this_computer_may_be_http(accounts):
    dto = accounts.create("webhook", "Local test hook", {}, secret="http://127.0.0.1:8999/h")
    assert accounts.secret_of(dto.id) == "http://127.0.0.1:8999/h"


def test_webhook_settings_hold_a_label_only(accounts, memory_keyring):
    url = "https://hooks.example.com/x"
    assert "channel" in refused(accounts, memory_keyring, "slack", "S", {"channel": "#a"},
                                secret=url).errors
    assert "label" in refused(accounts, memory_keyring, "teams", "T", {"label": "x" * 101},
                              secret=url).errors
    assert SECRET_FIELD in refused(accounts, memory_keyring, "teams", "T", {}).errors


# ---------------------------------------------------------------- drill

def test_drill_inbox_is_created_once(accounts, published):
    first = accounts.create_drill_if_missing()
    again = accounts.create_drill_if_missing()
    assert first == again
    assert first.kind == "drill" and first.name == DRILL_NAME and first.settings == {}
    assert first.is_default
    assert [a.id for a in accounts.list()] == [first.id]
    assert published == [(first.id,)]  # the second call changed nothing


def test_drill_works_without_a_keyring(accounts, restore_keyring_fail):
    assert accounts.create_drill_if_missing().kind == "drill"


def test_only_one_drill_account(accounts, memory_keyring):
    accounts.create_drill_if_missing()
    with pytest.raises(ValidationError) as info:
        accounts.create("drill", "Second drill", {})
    assert info.value.errors["kind"] == "There is already a drill inbox."
    assert len(accounts.list("drill")) == 1


def test_drill_has_no_settings_and_no_secret(accounts, memory_keyring):
    assert "x" in refused(accounts, memory_keyring, "drill", "D", {"x": 1}).errors
    assert SECRET_FIELD in refused(accounts, memory_keyring, "drill", "D", {},
                                   secret="x").errors


def test_drill_name_taken_by_another_account(accounts):
    accounts.create("email", "drill INBOX", email())
    assert accounts.create_drill_if_missing().name == f"{DRILL_NAME} 2"


# ---------------------------------------------------------------- names and kinds

@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None])
def test_name_required_and_short(accounts, memory_keyring, name):
    assert "name" in refused(accounts, memory_keyring, "email", name, email()).errors


def test_name_of_100_characters_is_fine(accounts):
    assert accounts.create("email", "x" * 100, email()).name == "x" * 100


def test_name_unique_case_insensitive_across_kinds(accounts, memory_keyring):
    first = accounts.create("email", "Main Relay", email())
    with pytest.raises(ValidationError) as info:
        accounts.create("sms", "main relay", sms(), secret="t")
    assert "already" in info.value.errors["name"]
    assert memory_keyring.usernames() == []  # the refused account's token was not stored
    other = accounts.create("email", "Backup", email())
    with pytest.raises(ValidationError) as info:
        accounts.update(other.id, "MAIN RELAY", email())
    assert "name" in info.value.errors
    # renaming an account to its own name in another case is fine
    assert accounts.update(first.id, "MAIN RELAY", email()).name == "MAIN RELAY"


def test_unknown_kind(accounts, memory_keyring):
    assert "kind" in refused(accounts, memory_keyring, "fax", "F", {}).errors


def test_errors_are_reported_together(accounts, memory_keyring):
    error = refused(accounts, memory_keyring, "email", "", email(host="", port=0))
    assert {"name", "host", "port"} <= set(error.errors)


def test_validate_settings_is_pure():
    clean, action = validate_settings("email", email(username="u"), SECRET, creating=True)
    assert action == "set" and clean["username"] == "u" and SECRET not in str(clean)
    assert validate_settings("email", email(), None, creating=False,
                             had_username=True)[1] == "delete"


# ---------------------------------------------------------------- one default per kind

def test_exactly_one_default_per_kind(accounts):
    a = accounts.create("email", "A", email())
    assert a.is_default  # the first of its kind
    b = accounts.create("email", "B", email())
    assert not b.is_default and accounts.default_for("email").id == a.id
    c = accounts.create("email", "C", email(), is_default=True)
    assert c.is_default
    assert [x.name for x in accounts.list("email") if x.is_default] == ["C"]
    accounts.update(a.id, "A", email(), is_default=True)
    assert [x.name for x in accounts.list("email") if x.is_default] == ["A"]
    assert accounts.default_for("email").id == a.id
    # an SMS default does not touch the email one
    s = accounts.create("sms", "S", sms(), secret="t")
    assert s.is_default and accounts.default_for("email").id == a.id


def test_unsetting_the_default_hands_it_on(accounts):
    a = accounts.create("email", "A", email())
    b = accounts.create("email", "B", email())
    accounts.update(a.id, "A", email(), is_default=False)
    assert accounts.default_for("email").id == b.id
    assert not accounts.get(a.id).is_default
    # None keeps the flag as it is
    accounts.update(b.id, "B renamed", email())
    assert accounts.get(b.id).is_default


def test_the_only_account_of_a_kind_stays_default(accounts):
    a = accounts.create("email", "A", email(), is_default=False)
    assert a.is_default
    assert accounts.update(a.id, "A", email(), is_default=False).is_default


def test_deleting_the_default_promotes_the_oldest_other(accounts, frozen_clock):
    a = accounts.create("email", "A", email())
    frozen_clock.advance(minutes=1)
    b = accounts.create("email", "B", email())
    frozen_clock.advance(minutes=1)
    accounts.create("email", "C", email())
    accounts.delete(a.id)
    assert accounts.default_for("email").id == b.id
    assert sum(x.is_default for x in accounts.list("email")) == 1


def test_default_for_a_kind_without_accounts(accounts):
    assert accounts.default_for("sms") is None


# ---------------------------------------------------------------- updates and the keyring

def test_update_keeps_replaces_and_removes_the_secret(accounts, memory_keyring):
    dto = accounts.create("email", "Relay", email(username="clarion"), secret="first")
    accounts.update(dto.id, "Relay", email(username="clarion", port=2525))  # None = keep
    assert accounts.secret_of(dto.id) == "first"
    assert accounts.get(dto.id).settings["port"] == 2525
    accounts.update(dto.id, "Relay", email(username="clarion"), secret="second")
    assert accounts.secret_of(dto.id) == "second"
    with pytest.raises(ValidationError) as info:  # a user name needs a password
        accounts.update(dto.id, "Relay", email(username="clarion"), secret="")
    assert SECRET_FIELD in info.value.errors
    assert accounts.secret_of(dto.id) == "second"
    accounts.update(dto.id, "Relay", email())  # no user name any more: password forgotten
    assert accounts.secret_of(dto.id) is None
    assert not accounts.has_secret(dto.id)
    assert memory_keyring.usernames() == []


def test_adding_a_user_name_needs_a_password(accounts):
    dto = accounts.create("email", "Relay", email())
    with pytest.raises(ValidationError) as info:
        accounts.update(dto.id, "Relay", email(username="clarion"))
    assert SECRET_FIELD in info.value.errors
    assert accounts.get(dto.id).settings["username"] == ""


def test_refused_update_changes_nothing(accounts, memory_keyring):
    dto = accounts.create("sms", "P", sms(), secret="old")
    with pytest.raises(ValidationError):
        accounts.update(dto.id, "Renamed", sms(base_url="http://x.example.com"), secret="new")
    assert accounts.get(dto.id) == dto
    assert accounts.secret_of(dto.id) == "old"


def test_delete_removes_the_keyring_entry(accounts, memory_keyring, published):
    dto = accounts.create("sms", "P", sms(), secret=SECRET)
    keep = accounts.create("slack", "S", {}, secret="https://hooks.example.com/k")
    assert memory_keyring.get_password(SERVICE, f"account-{dto.id}") == SECRET
    deleted = accounts.delete(dto.id)
    assert deleted.id == dto.id
    assert memory_keyring.get_password(SERVICE, f"account-{dto.id}") is None
    assert memory_keyring.usernames() == [f"account-{keep.id}"]
    assert [a.id for a in accounts.list()] == [keep.id]
    assert published[-1] == (dto.id,)
    with pytest.raises(NotFound):
        accounts.get(dto.id)


class _UndeletableKeyring(keyring.backend.KeyringBackend):
    clarion_trusted = True
    priority = -20  # type: ignore[assignment]

    def __init__(self):
        super().__init__()
        self.items = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


def test_delete_keeps_the_account_when_the_keyring_cannot_forget(store, frozen_clock):
    service = AccountService(store, frozen_clock, SecretStore(_UndeletableKeyring()))
    dto = service.create("sms", "P", sms(), secret=SECRET)
    with pytest.raises(SecretStoreError):
        service.delete(dto.id)
    assert service.get(dto.id) == dto  # rolled back: no orphaned secret left behind


# ---------------------------------------------------------------- insecure keyring

@pytest.fixture
def restore_keyring_fail():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.mark.parametrize("kind, settings", [
    ("email", email(username="clarion")), ("sms", sms()), ("slack", {})])
def test_insecure_keyring_refuses_and_leaves_no_row(store, frozen_clock, restore_keyring_fail,
                                                    kind, settings):
    service = AccountService(store, frozen_clock, SecretStore())
    published = []
    service.events.subscribe(ACCOUNTS_CHANGED, published.append)
    secret = SECRET if kind != "slack" else f"https://hooks.example.com/{SECRET}"
    with pytest.raises(InsecureKeyringError) as info:
        service.create(kind, "Account", settings, secret=secret)
    assert "gnome-keyring / KWallet / a Secret Service" in str(info.value)
    assert SECRET not in str(info.value)
    assert service.list() == []
    assert row_count(store) == 0
    assert published == []


def test_insecure_keyring_refuses_an_update_and_rolls_it_back(store, frozen_clock,
                                                              memory_keyring):
    service = AccountService(store, frozen_clock, SecretStore())
    dto = service.create("sms", "P", sms(), secret="old")
    keyring.set_keyring(fail.Keyring())  # the memory_keyring fixture restores afterwards
    with pytest.raises(InsecureKeyringError):
        service.update(dto.id, "Renamed", sms(account_sid="AC999"), secret="new")
    assert service.get(dto.id) == dto
    assert memory_keyring.get_password(SERVICE, f"account-{dto.id}") == "old"


def test_accounts_without_a_secret_work_without_a_keyring(store, frozen_clock,
                                                          restore_keyring_fail):
    service = AccountService(store, frozen_clock, SecretStore())
    dto = service.create("email", "Internal relay", email())  # no user name, no password
    assert service.get(dto.id).name == "Internal relay"
    assert service.secret_of(dto.id) is None
    service.delete(dto.id)
    assert row_count(store) == 0


def test_locked_keyring_leaves_no_row(store, frozen_clock):
    class Locked(_UndeletableKeyring):
        def set_password(self, service, username, password):
            raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    service = AccountService(store, frozen_clock, SecretStore(Locked()))
    with pytest.raises(SecretStoreError, match="locked"):
        service.create("sms", "P", sms(), secret=SECRET)
    assert row_count(store) == 0


# ---------------------------------------------------------------- a commit that fails

class FailingCommits:
    """While `armed`, every commit of the store's sessions fails as a full disk or an I/O
    error would: after everything in the transaction ran (the row flushed, the keyring
    written), at COMMIT. A real SQLAlchemy session event, not a mock of the service."""

    def __init__(self, store) -> None:
        self.store = store
        self.armed = False
        self.failed = 0
        event.listen(store.sessions, "before_commit", self._before_commit)

    def _before_commit(self, session) -> None:
        if self.armed:
            self.failed += 1
            raise sqlalchemy.exc.OperationalError(
                "COMMIT", {}, sqlite3.OperationalError("disk I/O error (injected)"))

    def remove(self) -> None:
        event.remove(self.store.sessions, "before_commit", self._before_commit)


@pytest.fixture
def failing_commits(store):
    commits = FailingCommits(store)
    yield commits
    commits.remove()


def stored_secrets(memory_keyring) -> dict[str, str]:
    return {u: memory_keyring.get_password(SERVICE, u) for u in memory_keyring.usernames()}


@pytest.mark.parametrize("kind, settings, secret", [
    ("sms", sms(), SECRET),
    ("email", email(username="clarion"), SECRET),
    ("slack", {}, f"https://hooks.example.com/services/{SECRET}")])
def test_create_keeps_neither_row_nor_secret_when_the_commit_fails(
        accounts, memory_keyring, published, store, failing_commits, kind, settings, secret):
    """The keyring took the secret, then the database commit failed: the secret is removed
    again, no row is left, nothing is announced — and the next account (SQLite hands it the
    same id) does not inherit an orphaned secret."""
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk I/O error"):
        accounts.create(kind, "Account", settings, secret=secret)
    assert failing_commits.failed == 1            # the failure came at the commit itself
    assert row_count(store) == 0
    assert stored_secrets(memory_keyring) == {}
    assert published == []

    failing_commits.armed = False
    plain = accounts.create("email", "Internal relay", email())   # no user name: no secret
    assert accounts.secret_of(plain.id) is None and not accounts.has_secret(plain.id)
    assert stored_secrets(memory_keyring) == {}


def test_update_keeps_the_old_settings_and_the_old_secret_when_the_commit_fails(
        accounts, memory_keyring, published, failing_commits):
    """A new token replaced the old one in the keyring, then the commit failed: the old
    settings stay (rolled back) and the OLD token is put back, not the new one."""
    before = accounts.create("sms", "Twilio", sms(), secret="old-token")
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk I/O error"):
        accounts.update(before.id, "Renamed", sms(account_sid="AC999"), secret="new-token",
                        is_default=True)
    assert failing_commits.failed == 1
    failing_commits.armed = False
    assert accounts.get(before.id) == before
    assert accounts.secret_of(before.id) == "old-token"
    assert stored_secrets(memory_keyring) == {f"account-{before.id}": "old-token"}
    assert published == [(before.id,)]           # the create's only


def test_update_that_adds_a_password_stores_none_when_the_commit_fails(
        accounts, memory_keyring, failing_commits):
    """An account without a secret gets a user name and a password; the commit fails: no
    user name in the settings and no password left in the keyring."""
    before = accounts.create("email", "Relay", email())
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError):
        accounts.update(before.id, "Relay", email(username="clarion"), secret=SECRET)
    failing_commits.armed = False
    assert accounts.get(before.id) == before
    assert accounts.get(before.id).settings["username"] == ""
    assert accounts.secret_of(before.id) is None
    assert stored_secrets(memory_keyring) == {}


def test_update_that_drops_the_password_keeps_it_when_the_commit_fails(
        accounts, memory_keyring, failing_commits):
    """The user name is removed, so the keyring forgets the password; the commit fails: the
    settings still have the user name, so the password must still be there (else the
    account could never log in again until someone re-enters it)."""
    before = accounts.create("email", "Relay", email(username="clarion"), secret=SECRET)
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError):
        accounts.update(before.id, "Relay", email())
    failing_commits.armed = False
    assert accounts.get(before.id).settings["username"] == "clarion"
    assert accounts.secret_of(before.id) == SECRET
    assert stored_secrets(memory_keyring) == {f"account-{before.id}": SECRET}


# ---------------------------------------------------------------- secrets reach no file

def test_secret_reaches_neither_the_database_nor_the_log(store, accounts, memory_keyring,
                                                         tmp_path):
    from app.logs import configure_logging

    log_path = tmp_path / "logs" / "clarion.log"
    root = logging.getLogger()
    old_level = root.level
    handler = configure_logging(log_path, level=logging.DEBUG)
    try:
        e = accounts.create("email", "Relay", email(host="relay.example.com",
                                                    username="clarion"), secret=SECRET)
        s = accounts.create("sms", "Twilio", sms(), secret=SECRET)
        w = accounts.create("slack", "Incidents", {"label": "#inc"},
                            secret=f"https://hooks.example.com/services/{SECRET}")
        accounts.update(e.id, "Relay", email(host="relay.example.com", username="clarion"),
                        secret=SECRET + "-2")
        accounts.pause(s.id, "535 authentication failed")
        accounts.resume(s.id)
        assert accounts.secret_of(e.id) == SECRET + "-2"
        assert accounts.secret_of(w.id).endswith(SECRET)
        for bad in (lambda: accounts.create("slack", "Bad", {},
                                            secret=f"http://hooks.example.com/{SECRET}"),
                    lambda: accounts.create("email", "Bad", email(password=SECRET))):
            with pytest.raises(ValidationError) as info:
                bad()
            logging.getLogger("app").error("refused: %s", info.value)  # as the UI would log it
        keyring.set_keyring(fail.Keyring())
        with pytest.raises(InsecureKeyringError) as info:
            accounts.create("sms", "Other", sms(), secret=SECRET)
        logging.getLogger("app").error("refused: %s", info.value)
    finally:
        handler.flush()
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)

    db = store.path.read_bytes()
    wal = store.path.with_name(store.path.name + "-wal")
    raw = db + (wal.read_bytes() if wal.exists() else b"")
    assert b"relay.example.com" in raw  # the accounts really are in these bytes
    assert SECRET.encode() not in raw
    assert SECRET.encode("utf-16-le") not in raw

    text = log_path.read_text(encoding="utf-8")
    assert f"account {e.id} created" in text  # the log did record the work
    assert "refused:" in text
    assert SECRET not in text


# ---------------------------------------------------------------- pause, events, reading

def test_pause_and_resume(accounts, published):
    dto = accounts.create("email", "Relay", email())
    paused = accounts.pause(dto.id, "  535   authentication failed ")
    assert paused.paused_reason == "535 authentication failed"
    assert accounts.get(dto.id).paused_reason == "535 authentication failed"
    assert accounts.pause(dto.id, "").paused_reason == "Paused."
    assert accounts.resume(dto.id).paused_reason == ""
    assert published == [(dto.id,)] * 4
    with pytest.raises(NotFound):
        accounts.pause(999, "x")


def test_events_after_each_change_and_none_after_a_refusal(accounts, published):
    with pytest.raises(ValidationError):
        accounts.create("email", "", email())
    assert published == []
    a = accounts.create("email", "A", email())
    accounts.update(a.id, "A2", email())
    accounts.delete(a.id)
    assert published == [(a.id,), (a.id,), (a.id,)]


def test_list_by_kind_in_order(accounts):
    accounts.create("sms", "zeta", sms(), secret="t")
    accounts.create("email", "beta", email())
    accounts.create("email", "Alpha", email())
    accounts.create_drill_if_missing()
    assert [a.name for a in accounts.list()] == ["Alpha", "beta", "zeta", DRILL_NAME]
    assert [a.name for a in accounts.list("email")] == ["Alpha", "beta"]
    assert accounts.list("teams") == []


def test_unknown_account(accounts):
    with pytest.raises(NotFound):
        accounts.get(42)
    with pytest.raises(NotFound):
        accounts.update(42, "x", email())
    with pytest.raises(NotFound):
        accounts.delete(42)


# ---------------------------------------------------------------- defaults: oldest, and per kind

def test_the_default_goes_to_the_oldest_other_by_creation_time_not_by_id(accounts,
                                                                          frozen_clock):
    """"Oldest" means created first. The computer's clock can be set back between two
    accounts, so creation order and id order can differ: when the default is unset or
    deleted, the account created earliest inherits it, whatever its id."""
    start = frozen_clock.now()
    a = accounts.create("email", "A", email())
    frozen_clock.advance(minutes=2)
    accounts.create("email", "B", email())            # id 2, created at +2 min
    frozen_clock.set(start + timedelta(minutes=1))      # the clock was set back
    c = accounts.create("email", "C", email())        # id 3, created at +1 min: older than B
    accounts.update(a.id, "A", email(), is_default=False)
    assert accounts.default_for("email").id == c.id
    accounts.update(a.id, "A", email(), is_default=True)
    accounts.delete(a.id)
    assert accounts.default_for("email").id == c.id
    assert [x.name for x in accounts.list("email") if x.is_default] == ["C"]


def test_accounts_created_in_the_same_instant_hand_on_the_default_by_id(accounts):
    """Accounts created in the same clock instant (the frozen clock never moves here): the
    first one saved counts as the older, both when the default is unset and deleted."""
    a = accounts.create("email", "A", email())
    b = accounts.create("email", "B", email())
    accounts.create("email", "C", email())
    accounts.update(a.id, "A", email(), is_default=False)
    assert accounts.default_for("email").id == b.id
    d = accounts.create("email", "D", email(), is_default=True)
    accounts.delete(d.id)
    assert accounts.default_for("email").id == a.id


def test_defaults_of_other_kinds_are_left_alone(accounts, frozen_clock):
    """Making, unsetting or deleting the default email account never touches the SMS
    accounts' default, even when an SMS account is older than every email account."""
    s1 = accounts.create("sms", "S1", sms(), secret="t")
    frozen_clock.advance(minutes=1)
    s2 = accounts.create("sms", "S2", sms(), secret="t")
    frozen_clock.advance(minutes=1)
    a = accounts.create("email", "A", email())
    frozen_clock.advance(minutes=1)
    b = accounts.create("email", "B", email())

    def defaults():
        return {x.name for x in accounts.list() if x.is_default}

    accounts.update(b.id, "B", email(), is_default=True)
    assert defaults() == {"S1", "B"}
    accounts.update(b.id, "B", email(), is_default=False)
    assert defaults() == {"S1", "A"}
    accounts.delete(a.id)
    assert defaults() == {"S1", "B"}
    accounts.update(s2.id, "S2", sms(), is_default=True)
    assert defaults() == {"S2", "B"}
    assert not accounts.get(s1.id).is_default


# ---------------------------------------------------------------- what the coordinator reads

def test_an_account_deleted_meanwhile_is_named_in_the_message(accounts):
    with pytest.raises(NotFound) as info:
        accounts.update(42, "x", email())
    assert str(info.value) == "Account 42 does not exist (deleted meanwhile?)."


def test_a_pause_reason_is_kept_up_to_1000_characters(accounts):
    """A server's very long reply is cut to its first 1,000 characters, no more, no fewer."""
    dto = accounts.create("email", "Relay", email())
    reason = "".join(f"{i % 10}" for i in range(1200))
    assert accounts.pause(dto.id, reason).paused_reason == reason[:1000]
    assert accounts.get(dto.id).paused_reason == reason[:1000]


def test_an_email_password_is_kept_exactly_when_it_is_changed(accounts, memory_keyring):
    """Spaces around an SMTP password are part of it, on update as on create (SMS tokens
    and webhook URLs are trimmed)."""
    dto = accounts.create("email", "Relay", email(username="u"), secret="first")
    accounts.update(dto.id, "Relay", email(username="u"), secret=" new pass ")
    assert accounts.secret_of(dto.id) == " new pass "
    s = accounts.create("sms", "Twilio", sms(), secret="t1")
    accounts.update(s.id, "Twilio", sms(), secret="  t2  ")
    assert accounts.secret_of(s.id) == "t2"


def test_an_account_of_a_kind_this_version_does_not_know_is_listed_last(accounts, store):
    """A row written by a newer Clarion (a kind this version has not heard of) does not
    break the accounts list: it comes after every known kind."""
    drill = accounts.create_drill_if_missing()
    relay = accounts.create("email", "Relay", email())
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO channel_accounts (kind, name, settings, is_default, paused_reason, "
            "created_at, updated_at) SELECT 'fax', 'A fax line', settings, 1, '', created_at, "
            "updated_at FROM channel_accounts WHERE id = ?", (relay.id,))
    assert [(a.kind, a.name) for a in accounts.list()] == [
        ("email", "Relay"), ("drill", drill.name), ("fax", "A fax line")]


def test_the_log_records_each_change_to_an_account_by_id(accounts, caplog):
    """What support reads in clarion.log about accounts, exactly: created (with its kind),
    updated, paused, resumed, deleted — by id, never a name, setting or secret."""
    caplog.set_level("INFO", logger="app.sending.accounts")
    dto = accounts.create("sms", "Twilio", sms(), secret=SECRET)
    accounts.update(dto.id, "Twilio 2", sms(), secret=SECRET + "-2")
    accounts.pause(dto.id, "535 authentication failed")
    accounts.resume(dto.id)
    accounts.delete(dto.id)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.name == "app.sending.accounts"]
    n = dto.id
    assert lines == [("INFO", f"account {n} created (kind sms)"),
                     ("INFO", f"account {n} updated"),
                     ("INFO", f"account {n} paused"),
                     ("INFO", f"account {n} resumed"),
                     ("INFO", f"account {n} deleted")]


class _LocksAfterWrites(keyring.backend.KeyringBackend):
    """A secure keyring that locks itself (the screen locked) after `writes` writes."""

    clarion_trusted = True
    priority = -20  # type: ignore[assignment]

    def __init__(self, writes: int) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}
        self.writes_left = writes

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        if self.writes_left <= 0:
            raise keyring.errors.KeyringLocked("Failed to unlock the collection!")
        self.writes_left -= 1
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


def test_a_secret_that_cannot_be_put_back_is_logged_and_the_database_error_is_raised(
        store, frozen_clock, failing_commits, caplog):
    """The commit of an update failed after the keyring took the new secret, and the keyring
    locked before the old one could be put back: the coordinator gets the database error
    (the real cause), the settings are rolled back, and the log says which account's secret
    could not be restored, so support knows to re-enter it."""
    backend = _LocksAfterWrites(writes=2)  # the create's and the update's write
    service = AccountService(store, frozen_clock, SecretStore(backend))
    # before the create: its INFO line stays out, whatever level an earlier test left
    caplog.set_level("WARNING", logger="app.sending.accounts")
    before = service.create("sms", "Twilio", sms(), secret="old-token")
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk I/O error"):
        service.update(before.id, "Renamed", sms(account_sid="AC999"), secret="new-token")
    failing_commits.armed = False
    assert service.get(before.id) == before
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "app.sending.accounts"] == [
        ("WARNING", f"could not restore the secret of account {before.id}")]
    assert "token" not in caplog.text


def test_a_secret_that_cannot_be_removed_after_a_failed_create_is_logged(
        store, frozen_clock, failing_commits, caplog):
    """The commit of a new account failed after the keyring took its secret, and the keyring
    locked before the secret could be removed again: the coordinator gets the database error,
    no row is left, and the log names the account id whose secret is left in the keyring."""
    backend = _LocksAfterWrites(writes=1)
    service = AccountService(store, frozen_clock, SecretStore(backend))
    caplog.set_level("WARNING", logger="app.sending.accounts")
    failing_commits.armed = True
    with pytest.raises(sqlalchemy.exc.OperationalError, match="disk I/O error"):
        service.create("sms", "Twilio", sms(), secret=SECRET)
    failing_commits.armed = False
    assert row_count(store) == 0
    assert list(backend.items) == [(SERVICE, "account-1")]  # the orphan the log names
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "app.sending.accounts"] == [
        ("WARNING", "could not remove the secret of account 1")]
    assert SECRET not in caplog.text


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("name, words", [
    ("", "Enter a name for this account."),
    ("   ", "Enter a name for this account."),
    (None, "Enter a name for this account."),
    (42, "Enter a name for this account."),
])
def test_an_account_needs_a_name(accounts, memory_keyring, name, words):
    assert refused(accounts, memory_keyring, "email", name, email()).errors["name"] == words


def test_a_name_is_kept_short_and_unique_whatever_its_case(accounts, memory_keyring):
    from app.sending.accounts import NAME_MAX
    long = refused(accounts, memory_keyring, "email", "x" * (NAME_MAX + 1), email())
    assert long.errors["name"] == (f"The name is at most {NAME_MAX} characters; this one "
                                   f"has {NAME_MAX + 1}.")
    first = accounts.create("email", "  Main   relay ", email())
    assert first.name == "Main relay" and first.paused_reason == ""   # a new account is live
    accounts.create("sms", "Texts", sms(), secret="token")
    with pytest.raises(ValidationError) as twice:
        accounts.create("email", "MAIN RELAY", email())
    assert twice.value.errors["name"] == "There is already an account called “Main relay”."
    # renaming an account to its own name (any case) is no clash
    assert accounts.update(first.id, "main relay", email()).name == "main relay"


# ---------------------------------------------------------------- the mailbox's own password

def test_the_mailbox_logs_in_with_its_own_password_or_the_accounts(accounts, memory_keyring,
                                                                   published):
    """Issue 24: a mailbox read with another login than the sending one (a shared mailbox,
    an app password) keeps its password beside the account's, in the keyring only."""
    dto = accounts.create("email", "Desk", email(username="desk", imap_host="imap.example.com"),
                          secret="smtp-pass")
    assert accounts.mailbox_secret_of(dto.id) == "smtp-pass"
    assert not accounts.has_mailbox_secret(dto.id)
    published.clear()
    accounts.set_mailbox_secret(dto.id, " imap pass ")        # kept as typed, like a password
    assert accounts.mailbox_secret_of(dto.id) == " imap pass "
    assert accounts.secret_of(dto.id) == "smtp-pass"          # the account's is untouched
    assert accounts.has_mailbox_secret(dto.id)
    assert memory_keyring.usernames() == [f"account-{dto.id}", f"account-{dto.id}-imap"]
    assert published == [(dto.id,)]
    assert "imap pass" not in str(accounts.get(dto.id).settings)
    accounts.set_mailbox_secret(dto.id, "")                   # back to the account's password
    assert accounts.mailbox_secret_of(dto.id) == "smtp-pass"
    assert memory_keyring.usernames() == [f"account-{dto.id}"]
    accounts.set_mailbox_secret(dto.id, "again")
    accounts.set_mailbox_secret(dto.id, None)
    assert not accounts.has_mailbox_secret(dto.id)
    accounts.set_mailbox_secret(dto.id, "again")
    accounts.delete(dto.id)                                   # both go with the account
    assert memory_keyring.usernames() == []


def test_only_an_email_account_has_a_mailbox_password(accounts, memory_keyring):
    from app.errors import NotFound, too_long
    from app.sending.account_settings import SECRET_MAX

    texter = accounts.create("sms", "Texts", sms(), secret="token")
    with pytest.raises(ValidationError) as no_mailbox:
        accounts.set_mailbox_secret(texter.id, "x")
    assert "imap_secret" in no_mailbox.value.errors
    desk = accounts.create("email", "Desk", email(username="desk"), secret="p")
    assert no_mailbox.value.errors["imap_secret"] == "Only an email account reads a mailbox."
    with pytest.raises(ValidationError) as long:
        accounts.set_mailbox_secret(desk.id, "x" * (SECRET_MAX + 1))
    assert long.value.errors["imap_secret"] == too_long("It", SECRET_MAX, SECRET_MAX + 1)
    with pytest.raises(ValidationError) as not_text:
        accounts.set_mailbox_secret(desk.id, 12345)  # type: ignore[arg-type]
    assert not_text.value.errors["imap_secret"] == "The password must be text."
    with pytest.raises(NotFound):
        accounts.set_mailbox_secret(9999, "x")
    assert memory_keyring.usernames() == [f"account-{texter.id}", f"account-{desk.id}"]
    accounts.set_mailbox_secret(desk.id, "x" * SECRET_MAX)     # the longest one is kept
    assert accounts.mailbox_secret_of(desk.id) == "x" * SECRET_MAX


def test_mailbox_settings_default_follow_the_security_and_are_refused_field_by_field():
    from app.sending.account_settings import validate_settings

    def clean(**imap):
        return validate_settings("email", email(username="desk", **imap), "p",
                                 creating=True)[0]
    assert not {k for k in clean() if k.startswith("imap_")}       # no host: not read
    assert {k: v for k, v in clean(imap_host="IMAP.Example.com.").items()
            if k.startswith("imap_")} == {
        "imap_host": "imap.example.com", "imap_port": 993, "imap_security": "tls",
        "imap_username": "", "imap_folder": "INBOX", "imap_lookback_days": 7}
    assert clean(imap_host="imap.example.com", imap_security="starttls")["imap_port"] == 143
    assert clean(imap_host="127.0.0.1", imap_security="none")["imap_security"] == "none"
    assert clean(imap_host="imap.example.com", imap_folder="Clarion/Bounces",
                 imap_lookback_days="30")["imap_lookback_days"] == 30
    for bad, key in ((dict(imap_host="not a host"), "imap_host"),
                     (dict(imap_host="imap.example.com", imap_security="ssl"), "imap_security"),
                     (dict(imap_host="imap.example.com", imap_security="none"), "imap_security"),
                     (dict(imap_host="imap.example.com", imap_port=0), "imap_port"),
                     (dict(imap_host="imap.example.com", imap_lookback_days=91),
                      "imap_lookback_days"),
                     (dict(imap_host="imap.example.com", imap_folder="a\nb"), "imap_folder")):
        with pytest.raises(ValidationError) as refused_:
            clean(**bad)
        assert list(refused_.value.errors) == [key], bad
    with pytest.raises(ValidationError) as nobody:
        validate_settings("email", email(imap_host="imap.example.com"), None, creating=True)
    assert "imap_username" in nobody.value.errors
