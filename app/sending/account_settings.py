"""What a channel account's settings may say, pure: the kinds, their defaults and limits,
and validate_settings() which normalises settings and the secret or refuses them field by field.
Certificate verification cannot be switched off, and secrets never sit in settings."""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from app.domain.addresses import normalise_email
from app.errors import ValidationError, too_long
from app.sending.channels.defaults import (
    EMAIL_DEFAULT_CONCURRENCY,
    SMS_DEFAULT_CONCURRENCY,
)

EMAIL, SMS, SLACK, TEAMS, WEBHOOK, DRILL = "email", "sms", "slack", "teams", "webhook", "drill"
KINDS = (EMAIL, SMS, SLACK, TEAMS, WEBHOOK, DRILL)
WEBHOOK_KINDS = (SLACK, TEAMS, WEBHOOK)
KIND_LABELS = {EMAIL: "Email (SMTP)", SMS: "SMS provider", SLACK: "Slack webhook",
               TEAMS: "Microsoft Teams webhook", WEBHOOK: "Webhook", DRILL: "Drill inbox"}
# What the secret of each kind is, for the field's label in the settings dialog. Validation
# errors about the secret are keyed SECRET_FIELD whatever the kind.
SECRET_FIELD = "secret"
SECRET_LABELS = {EMAIL: "Password", SMS: "Auth token", SLACK: "Webhook URL",
                 TEAMS: "Webhook URL", WEBHOOK: "Webhook URL"}

NAME_MAX = 100
TEXT_MAX = 200
SECRET_MAX = 4096
DRILL_NAME = "Drill inbox"

SECURITIES = ("tls", "starttls", "none")
DEFAULT_SECURITY = "starttls"
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CONCURRENCY_RANGE = (1, 20)
DEFAULT_CONCURRENCY = SMS_DEFAULT_CONCURRENCY
TIMEOUT_RANGE = (5, 300)
DEFAULT_TIMEOUT = 30


def new_account_defaults(kind: str) -> dict[str, Any]:
    """What a new account's form starts with."""
    if kind == "email":
        return {"security": DEFAULT_SECURITY, "port": DEFAULT_PORTS[DEFAULT_SECURITY],
                "concurrency": EMAIL_DEFAULT_CONCURRENCY, "timeout": DEFAULT_TIMEOUT}
    if kind == "sms":
        return {"concurrency": DEFAULT_CONCURRENCY, "poll_status": True}
    return {}


# Reading the account's mailbox (issue 24, app/mailbox): optional; no IMAP host, no
# reading. The IMAP login uses the mailbox's own password in the keyring where one is stored
# (AccountService.set_mailbox_secret), else the account's.
IMAP_KEYS = ("imap_host", "imap_port", "imap_security", "imap_username", "imap_folder",
             "imap_lookback_days")
IMAP_DEFAULT_PORTS = {"tls": 993, "starttls": 143, "none": 143}
IMAP_DEFAULT_SECURITY = "tls"
IMAP_DEFAULT_FOLDER = "INBOX"
LOOKBACK_RANGE = (1, 90)
DEFAULT_LOOKBACK_DAYS = 7
EMAIL_KEYS = ("host", "port", "security", "ca_file", "username", "from_address", "from_name",
              "reply_to", "local_hostname", "concurrency", "timeout") + IMAP_KEYS
SMS_KEYS = ("base_url", "account_sid", "from_number", "messaging_service_sid", "concurrency",
            "poll_status")
WEBHOOK_KEYS = ("label",)

# A settings key that looks like one of these is a secret on its way into the database.
_SECRET_LIKE = ("password", "passwd", "token", "secret", "api_key", "apikey", "credential")
_VERIFY_LIKE = ("verify", "insecure", "check_hostname", "validate_cert", "ssl_cert_reqs")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
                       r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_SID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

SecretAction = Literal["keep", "set", "delete"]


# ---------------------------------------------------------------- validation (pure)

def _text(settings: dict[str, Any], key: str, errors: dict[str, str], what: str,
          limit: int = TEXT_MAX) -> str:
    value = settings.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[key] = f"The {what} must be text."
        return ""
    value = value.strip()
    if _CONTROL.search(value):
        errors[key] = f"The {what} cannot contain line breaks or control characters."
        return ""
    if len(value) > limit:
        errors[key] = too_long(f"The {what}", limit, len(value))
        return ""
    return value


def _int(settings: dict[str, Any], key: str, errors: dict[str, str], what: str,
         bounds: tuple[int, int], default: int) -> int:
    value = settings.get(key)
    lo, hi = bounds
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None or not lo <= number <= hi:
        errors[key] = f"The {what} must be a whole number from {lo} to {hi}."
        return default
    return number


def _email(value: str) -> str:
    """Syntax only (app.domain.addresses): internal names like corp.local are addresses."""
    return normalise_email(value)


def normalise_host(value: str) -> str | None:
    """A host name or an IP address, lower-case; None when it is neither."""
    host = value.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.endswith("."):  # the fully qualified spelling "mail.example.com."
        host = host[:-1]
    return host if _HOSTNAME.match(host) else None


def _local_http_allowed(parts: Any) -> bool:
    return parts.scheme == "http" and (parts.hostname or "") in LOCAL_HOSTS


def _https_url(value: str) -> str | None:
    """Normalised https URL (http only to this computer), or None. Never echoes the value."""
    value = value.strip()
    if not value or any(c.isspace() for c in value) or _CONTROL.search(value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    if parts.scheme != "https" and not _local_http_allowed(parts):
        return None
    return value


def _refuse_odd_keys(settings: dict[str, Any], allowed: tuple[str, ...], kind: str,
                     errors: dict[str, str]) -> None:
    for key in settings:
        if not isinstance(key, str):
            errors["settings"] = "Setting names must be text."
            continue
        if key in allowed:
            continue
        folded = key.casefold()
        if any(word in folded for word in _SECRET_LIKE):
            label = SECRET_LABELS.get(kind, "secret").lower()
            errors[key] = ("Secrets are never kept in the account's settings: enter it as the "
                           f"{label}, which Clarion stores in the system keyring.")
        elif kind == EMAIL and any(word in folded for word in _VERIFY_LIKE):
            errors[key] = ("Certificate verification is always on. For a relay signed by an "
                           "internal authority, give its CA certificate file instead.")
        else:
            errors[key] = f"“{key}” is not a setting of a {KIND_LABELS[kind]} account."


def _host(s: dict[str, Any], errors: dict[str, str], key: str, what: str,
          missing: str = "") -> str:
    """A server's host name or IP address, normalised; "" when absent (an error `missing`
    when one is needed) or refused."""
    raw = _text(s, key, errors, what, 253)
    if key in errors:
        return ""
    if not raw:
        if missing:
            errors[key] = missing
        return ""
    host = normalise_host(raw) or ""
    if not host:
        errors[key] = f"“{raw}” is not a host name or an IP address."
    return host


def _security(s: dict[str, Any], errors: dict[str, str], key: str, default: str, host: str,
              protocol: str) -> str:
    """TLS, STARTTLS, or no encryption to this computer only."""
    security = s.get(key) or default
    if security not in SECURITIES:
        errors[key] = ("Choose implicit TLS (“tls”), STARTTLS (“starttls”) or, to this "
                       "computer only, no encryption (“none”).")
        return default
    if security == "none" and host and host not in LOCAL_HOSTS:
        errors[key] = f"Unencrypted {protocol} is allowed only to this computer."
    return security


def _validate_email(s: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    host = _host(s, errors, "host", "server name",
                 missing="Enter the SMTP server's name or IP address.")
    security = _security(s, errors, "security", DEFAULT_SECURITY, host, "SMTP")
    port = _int(s, "port", errors, "port", (1, 65535), DEFAULT_PORTS[security])
    ca_file = _text(s, "ca_file", errors, "CA certificate file", 4096)
    if ca_file:
        path = Path(ca_file).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            errors["ca_file"] = "The CA certificate file does not exist or cannot be read."
        else:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(path))
            except (ssl.SSLError, OSError, ValueError):
                errors["ca_file"] = "This file holds no certificate in PEM form."
            ca_file = str(path.resolve())
    username = _text(s, "username", errors, "user name")
    from_address = _text(s, "from_address", errors, "from address", 320)
    if "from_address" not in errors:
        if not from_address:
            errors["from_address"] = "Enter the address messages are sent from."
        else:
            try:
                from_address = _email(from_address)
            except ValueError as exc:
                errors["from_address"] = f"Not a valid email address: {exc}"
    from_name = _text(s, "from_name", errors, "display name")
    reply_to = _text(s, "reply_to", errors, "reply-to address", 320)
    if reply_to and "reply_to" not in errors:
        try:
            reply_to = _email(reply_to)
        except ValueError as exc:
            errors["reply_to"] = f"Not a valid email address: {exc}"
    helo = _text(s, "local_hostname", errors, "EHLO name", 253)
    if helo and "local_hostname" not in errors:
        named = normalise_host(helo)
        if named is None or ("." not in named and ":" not in named
                             and named not in LOCAL_HOSTS):
            errors["local_hostname"] = (f"“{helo}” is not a fully qualified host name (like "
                                        f"desk1.example.com): relays refuse a bare name.")
        else:
            helo = f"[{named}]" if _is_ip(named) else named   # an address literal, RFC 5321
    concurrency = _int(s, "concurrency", errors, "concurrency limit", CONCURRENCY_RANGE,
                       EMAIL_DEFAULT_CONCURRENCY)
    timeout = _int(s, "timeout", errors, "timeout (seconds)", TIMEOUT_RANGE, DEFAULT_TIMEOUT)
    return {"host": host, "port": port, "security": security, "ca_file": ca_file,
            "username": username, "from_address": from_address, "from_name": from_name,
            "reply_to": reply_to, "local_hostname": helo, "concurrency": concurrency,
            "timeout": timeout, **_validate_imap(s, errors, username)}


def _validate_imap(s: dict[str, Any], errors: dict[str, str], smtp_user: str) -> dict[str, Any]:
    """The mailbox settings of an email account: all empty (reading off) or a usable server."""
    host = _host(s, errors, "imap_host", "IMAP server name")
    security = _security(s, errors, "imap_security", IMAP_DEFAULT_SECURITY, host, "IMAP")
    port = _int(s, "imap_port", errors, "IMAP port", (1, 65535), IMAP_DEFAULT_PORTS[security])
    username = _text(s, "imap_username", errors, "IMAP user name")
    folder = _text(s, "imap_folder", errors, "folder", 200) or IMAP_DEFAULT_FOLDER
    lookback = _int(s, "imap_lookback_days", errors, "first read's look-back (days)",
                    LOOKBACK_RANGE, DEFAULT_LOOKBACK_DAYS)
    if not host:
        return {}
    if not username and not smtp_user and "imap_username" not in errors:
        errors["imap_username"] = ("Enter the user name of the mailbox (the account's password "
                                   "logs in to it).")
    return {"imap_host": host, "imap_port": port, "imap_security": security,
            "imap_username": username, "imap_folder": folder, "imap_lookback_days": lookback}


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _validate_sms(s: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    base_url = _text(s, "base_url", errors, "provider's URL", 2000)
    if "base_url" not in errors:
        if not base_url:
            errors["base_url"] = "Enter the provider's API address, e.g. https://api.twilio.com."
        else:
            try:
                parts = urlsplit(base_url)
                parts.port  # noqa: B018
            except ValueError:
                parts = None
            if parts is None or not parts.hostname or (
                    parts.scheme != "https" and not _local_http_allowed(parts)):
                errors["base_url"] = "The provider's URL must be https."
            elif parts.username or parts.password:
                errors["base_url"] = ("Leave the account out of the URL: the auth token goes "
                                      "in its own field, which is kept in the system keyring.")
            elif parts.query or parts.fragment:
                errors["base_url"] = "Give the provider's base address without ?query or #part."
            else:
                base_url = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}".rstrip("/")
    account_sid = _text(s, "account_sid", errors, "account SID")
    if "account_sid" not in errors:
        if not account_sid:
            errors["account_sid"] = "Enter the provider's account SID."
        elif not _SID.match(account_sid):
            errors["account_sid"] = "The account SID has letters and digits only."
    from_number = _text(s, "from_number", errors, "from number", 40)
    service_sid = _text(s, "messaging_service_sid", errors, "messaging service SID")
    if "from_number" not in errors and "messaging_service_sid" not in errors:
        if from_number and service_sid:
            errors["from_number"] = ("Give either a from number or a messaging service SID, "
                                     "not both.")
        elif not from_number and not service_sid:
            errors["from_number"] = "Give a from number or a messaging service SID."
        elif from_number:
            import phonenumbers

            try:
                parsed = phonenumbers.parse(from_number, None)
                valid = phonenumbers.is_valid_number(parsed)
            except phonenumbers.NumberParseException:
                valid = False
            if not valid:
                errors["from_number"] = ("Enter a valid number in international form, "
                                         "e.g. +14155550100.")
            else:
                from_number = phonenumbers.format_number(parsed,
                                                         phonenumbers.PhoneNumberFormat.E164)
        elif not _SID.match(service_sid):
            errors["messaging_service_sid"] = ("The messaging service SID has letters and "
                                               "digits only.")
    concurrency = _int(s, "concurrency", errors, "concurrency limit", CONCURRENCY_RANGE,
                       DEFAULT_CONCURRENCY)
    poll_status = s.get("poll_status", True)
    if poll_status is None:
        poll_status = True
    if not isinstance(poll_status, bool):
        errors["poll_status"] = "Status polling is either on or off."
        poll_status = True
    return {"base_url": base_url, "account_sid": account_sid, "from_number": from_number,
            "messaging_service_sid": service_sid, "concurrency": concurrency,
            "poll_status": poll_status}


def validate_settings(kind: str, settings: dict[str, Any] | None, secret: str | None, *,
                      creating: bool, had_username: bool = False,
                      ) -> tuple[dict[str, Any], SecretAction]:
    """Normalise one account's settings and decide what happens to its secret.

    `secret`: None keeps the stored one (on create: there is none), "" removes it, any other
    text replaces it. `had_username`: on update, whether the email account had a user name
    (so a password is stored). Raises ValidationError keyed by setting name, "name", "kind"
    or SECRET_FIELD; messages never repeat the secret."""
    if kind not in KINDS:
        raise ValidationError({"kind": f"Unknown kind of account “{kind}”. Use one of: "
                                       + ", ".join(KINDS) + "."})
    errors: dict[str, str] = {}
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValidationError({"settings": "Settings must be a mapping of names to values."})
    allowed = {EMAIL: EMAIL_KEYS, SMS: SMS_KEYS, DRILL: ()}.get(kind, WEBHOOK_KEYS)
    _refuse_odd_keys(settings, allowed, kind, errors)
    if secret is not None and not isinstance(secret, str):
        errors[SECRET_FIELD] = "The secret must be text."
        secret = None
    if secret is not None and len(secret) > SECRET_MAX:
        errors[SECRET_FIELD] = too_long("It", SECRET_MAX, len(secret))
        secret = None

    action: SecretAction = "keep"
    if kind == EMAIL:
        clean = _validate_email(settings, errors)
        if clean["username"]:
            if secret == "" or (secret is None and (creating or not had_username)):
                errors[SECRET_FIELD] = "Enter the password for this user name."
            elif secret:
                action = "set"
        elif secret:
            errors.setdefault("username", "Enter the user name this password belongs to.")
        elif not creating and had_username:
            action = "delete"  # no user name any more: no password to keep
    elif kind == SMS:
        clean = _validate_sms(settings, errors)
        token = secret.strip() if secret else secret
        if token == "" or (token is None and creating):
            errors[SECRET_FIELD] = "Enter the provider's auth token."
        elif token is not None and _CONTROL.search(token):
            errors[SECRET_FIELD] = "The auth token cannot contain line breaks."
        elif token:
            action, secret = "set", token
    elif kind in WEBHOOK_KINDS:
        clean = {"label": _text(settings, "label", errors, "label", NAME_MAX)}
        url = secret.strip() if secret else secret
        if url == "" or (url is None and creating):
            errors[SECRET_FIELD] = "Enter the incoming webhook's URL."
        elif url is not None and _https_url(url) is None:
            errors[SECRET_FIELD] = "The webhook URL must be an https:// address."
        elif url:
            action = "set"
    else:  # drill
        clean = {}
        if secret:
            errors[SECRET_FIELD] = "The drill inbox has no secret."
    if errors:
        raise ValidationError(errors)
    return clean, action


def _clean_secret(kind: str, secret: str) -> str:
    return secret if kind == EMAIL else secret.strip()
