"""Channel accounts: the ways out (SMTP, an SMS provider, chat webhooks, the drill inbox).

Settings live in the database; the secret of an account (SMTP password, SMS auth token, webhook
URL) lives only in the OS keyring (app/secrets.py), under the account's id. Validation is pure
(`validate_settings`); the service stores a row and its secret in one logical operation: the
keyring write happens inside the database transaction, after the row validated, so a keyring
that refuses rolls the row back and nothing is stored.
"""

from __future__ import annotations

import builtins
import ipaddress
import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.channels.base import AccountDTO
from app.clock import Clock
from app.domain.models import ChannelAccount
from app.errors import NotFound, ValidationError
from app.events import EventBus
from app.secrets import SecretStore
from app.storage.engine import Store

log = logging.getLogger(__name__)

ACCOUNTS_CHANGED = "accounts_changed"  # payload: tuple of account ids

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
DEFAULT_CONCURRENCY = 4
TIMEOUT_RANGE = (5, 300)
DEFAULT_TIMEOUT = 30

EMAIL_KEYS = ("host", "port", "security", "ca_file", "username", "from_address", "from_name",
              "reply_to", "concurrency", "timeout")
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
        errors[key] = f"Keep the {what} under {limit} characters."
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
    from email_validator import EmailNotValidError, validate_email

    try:  # syntax only: never a DNS look-up (Clarion must work offline)
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


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


def _validate_email(s: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    raw_host = _text(s, "host", errors, "server name", 253)
    host = ""
    if "host" not in errors:
        if not raw_host:
            errors["host"] = "Enter the SMTP server's name or IP address."
        else:
            host = normalise_host(raw_host) or ""
            if not host:
                errors["host"] = f"“{raw_host}” is not a host name or an IP address."
    security = s.get("security") or DEFAULT_SECURITY
    if security not in SECURITIES:
        errors["security"] = ("Choose implicit TLS (“tls”), STARTTLS (“starttls”) or, to this "
                              "computer only, no encryption (“none”).")
        security = DEFAULT_SECURITY
    elif security == "none" and host and host not in LOCAL_HOSTS:
        errors["security"] = "Unencrypted SMTP is allowed only to this computer."
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
    concurrency = _int(s, "concurrency", errors, "concurrency limit", CONCURRENCY_RANGE,
                       DEFAULT_CONCURRENCY)
    timeout = _int(s, "timeout", errors, "timeout (seconds)", TIMEOUT_RANGE, DEFAULT_TIMEOUT)
    return {"host": host, "port": port, "security": security, "ca_file": ca_file,
            "username": username, "from_address": from_address, "from_name": from_name,
            "reply_to": reply_to, "concurrency": concurrency, "timeout": timeout}


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
        errors[SECRET_FIELD] = f"Keep it under {SECRET_MAX} characters."
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


def to_dto(account: ChannelAccount) -> AccountDTO:
    return AccountDTO(id=account.id, kind=account.kind, name=account.name,
                      settings=dict(account.settings or {}), is_default=bool(account.is_default),
                      paused_reason=account.paused_reason or "")


# ---------------------------------------------------------------- the service

@dataclass
class AccountService:
    """Channel accounts and their secrets. One Session per call; DTOs out; ACCOUNTS_CHANGED
    (payload: tuple of ids) after every commit. Exactly one default per kind whenever the
    kind has accounts."""

    store: Store
    clock: Clock
    secrets: SecretStore
    events: EventBus = field(default_factory=EventBus)

    # -- reading

    def list(self, kind: str | None = None) -> builtins.list[AccountDTO]:
        with self.store.session() as session:
            stmt = select(ChannelAccount)
            if kind is not None:
                stmt = stmt.where(ChannelAccount.kind == kind)
            rows = session.scalars(stmt).all()
            rows = sorted(rows, key=lambda a: (KINDS.index(a.kind) if a.kind in KINDS else 99,
                                               a.name.casefold(), a.id))
            return [to_dto(a) for a in rows]

    def get(self, account_id: int) -> AccountDTO:
        with self.store.session() as session:
            return to_dto(self._load(session, account_id))

    def default_for(self, kind: str) -> AccountDTO | None:
        with self.store.session() as session:
            rows = session.scalars(select(ChannelAccount).where(ChannelAccount.kind == kind)
                                   .order_by(ChannelAccount.is_default.desc(),
                                             ChannelAccount.id)).all()
            return to_dto(rows[0]) if rows else None

    def secret_of(self, account_id: int) -> str | None:
        """The account's secret from the keyring (None: none stored). Hand it to a channel;
        never log it, store it or put it in a DTO."""
        return self.secrets.get(account_id)

    def has_secret(self, account_id: int) -> bool:
        return self.secrets.get(account_id) is not None

    # -- changing

    def create(self, kind: str, name: str, settings: dict[str, Any] | None = None,
               secret: str | None = None, is_default: bool = False) -> AccountDTO:
        """Add an account and store its secret in the keyring, both or neither: a keyring
        that refuses (InsecureKeyringError, SecretStoreError) leaves no row behind."""
        stored = False
        with self.store.session() as session:
            try:
                with session.begin():
                    errors: dict[str, str] = {}
                    clean_name = self._check_name(session, name, None, errors)
                    if kind == DRILL and session.scalar(
                            select(ChannelAccount.id).where(ChannelAccount.kind == DRILL)):
                        errors["kind"] = "There is already a drill inbox."
                    try:
                        clean, action = validate_settings(kind, settings, secret, creating=True)
                    except ValidationError as exc:
                        errors.update(exc.errors)
                    if errors:
                        raise ValidationError(errors)
                    now = self.clock.now()
                    others = session.scalars(select(ChannelAccount)
                                             .where(ChannelAccount.kind == kind)).all()
                    account = ChannelAccount(kind=kind, name=clean_name, settings=clean,
                                             is_default=bool(is_default) or not others,
                                             paused_reason="", created_at=now, updated_at=now)
                    if account.is_default:
                        for other in others:
                            other.is_default = False
                    session.add(account)
                    session.flush()
                    if action == "set":
                        assert secret is not None
                        self.secrets.set(account.id, _clean_secret(kind, secret))
                        stored = True
                    dto = to_dto(account)
            except BaseException:
                if stored:  # the commit failed after the keyring took the secret
                    self._forget_quietly(account.id)
                raise
        log.info("account %s created (kind %s)", dto.id, dto.kind)
        self.events.publish(ACCOUNTS_CHANGED, (dto.id,))
        return dto

    def update(self, account_id: int, name: str, settings: dict[str, Any] | None = None,
               secret: str | None = None, is_default: bool | None = None) -> AccountDTO:
        """Change an account. `secret`: None keeps the stored one, "" removes it (an email
        account without a user name), text replaces it. `is_default`: None keeps; True makes
        it the kind's default; False hands the default to the oldest other account of the
        kind (the only account of a kind stays its default)."""
        previous: str | None = None
        replaced = False
        with self.store.session() as session:
            try:
                with session.begin():
                    account = self._load(session, account_id)
                    errors: dict[str, str] = {}
                    clean_name = self._check_name(session, name, account.id, errors)
                    had_username = bool((account.settings or {}).get("username"))
                    try:
                        clean, action = validate_settings(account.kind, settings, secret,
                                                          creating=False,
                                                          had_username=had_username)
                    except ValidationError as exc:
                        errors.update(exc.errors)
                    if errors:
                        raise ValidationError(errors)
                    account.name = clean_name
                    account.settings = clean
                    account.updated_at = self.clock.now()
                    if is_default is not None:
                        self._set_default(session, account, is_default)
                    session.flush()
                    if action == "set":
                        assert secret is not None
                        previous = self.secrets.get(account.id)
                        self.secrets.set(account.id, _clean_secret(account.kind, secret))
                        replaced = True
                    elif action == "delete":
                        self.secrets.delete(account.id)
                    dto = to_dto(account)
            except BaseException:
                if replaced:  # the commit failed after the keyring took the new secret
                    if previous is not None:
                        try:
                            self.secrets.set(account_id, previous)
                        except Exception:
                            log.warning("could not restore the secret of account %s",
                                        account_id)
                    else:
                        self._forget_quietly(account_id)
                raise
        log.info("account %s updated", dto.id)
        self.events.publish(ACCOUNTS_CHANGED, (dto.id,))
        return dto

    def delete(self, account_id: int) -> AccountDTO:
        """Delete the account and its keyring entry. If the keyring cannot delete (locked),
        the account stays (SecretStoreError) so no orphaned secret is left behind."""
        with self.store.session() as session, session.begin():
            account = self._load(session, account_id)
            dto = to_dto(account)
            if account.is_default:
                heir = session.scalar(select(ChannelAccount)
                                      .where(ChannelAccount.kind == account.kind,
                                             ChannelAccount.id != account.id)
                                      .order_by(ChannelAccount.created_at, ChannelAccount.id))
                if heir is not None:
                    heir.is_default = True
            session.delete(account)
            session.flush()
            self.secrets.delete(account_id)
        log.info("account %s deleted", account_id)
        self.events.publish(ACCOUNTS_CHANGED, (account_id,))
        return dto

    def pause(self, account_id: int, reason: str) -> AccountDTO:
        """Stop the account's queue with a reason the coordinator sees (e.g. the server's
        "535 authentication failed")."""
        reason = " ".join((reason or "").split()) or "Paused."
        return self._set_paused(account_id, reason[:1000])

    def resume(self, account_id: int) -> AccountDTO:
        return self._set_paused(account_id, "")

    def create_drill_if_missing(self) -> AccountDTO:
        """The drill inbox (the embedded default when nothing else is configured); idempotent."""
        with self.store.session() as session:
            existing = session.scalar(select(ChannelAccount)
                                      .where(ChannelAccount.kind == DRILL)
                                      .order_by(ChannelAccount.id))
            if existing is not None:
                return to_dto(existing)
            taken = {n.casefold() for n in session.scalars(select(ChannelAccount.name))}
        name, n = DRILL_NAME, 1
        while name.casefold() in taken:
            n += 1
            name = f"{DRILL_NAME} {n}"
        return self.create(DRILL, name, {}, None, is_default=True)

    # -- internals

    def _set_paused(self, account_id: int, reason: str) -> AccountDTO:
        with self.store.session() as session, session.begin():
            account = self._load(session, account_id)
            account.paused_reason = reason
            account.updated_at = self.clock.now()
            dto = to_dto(account)
        log.info("account %s %s", account_id, "paused" if reason else "resumed")
        self.events.publish(ACCOUNTS_CHANGED, (account_id,))
        return dto

    @staticmethod
    def _set_default(session: Session, account: ChannelAccount, wanted: bool) -> None:
        others = session.scalars(select(ChannelAccount)
                                 .where(ChannelAccount.kind == account.kind,
                                        ChannelAccount.id != account.id)
                                 .order_by(ChannelAccount.created_at, ChannelAccount.id)).all()
        if wanted or not others:
            account.is_default = True
            for other in others:
                other.is_default = False
        elif account.is_default:
            account.is_default = False
            others[0].is_default = True

    @staticmethod
    def _check_name(session: Session, name: str, own_id: int | None,
                    errors: dict[str, str]) -> str:
        clean = " ".join((name or "").split()) if isinstance(name, str) else ""
        if not clean:
            errors["name"] = "Enter a name for this account."
        elif len(clean) > NAME_MAX:
            errors["name"] = f"Keep the name under {NAME_MAX} characters."
        else:
            for other_id, other in session.execute(
                    select(ChannelAccount.id, ChannelAccount.name)):
                if other_id != own_id and other.casefold() == clean.casefold():
                    errors["name"] = f"There is already an account called “{other}”."
                    break
        return clean

    @staticmethod
    def _load(session: Session, account_id: int) -> ChannelAccount:
        account = session.get(ChannelAccount, account_id)
        if account is None:
            raise NotFound(f"Account {account_id} does not exist (deleted meanwhile?).")
        return account

    def _forget_quietly(self, account_id: int) -> None:
        try:
            self.secrets.delete(account_id)
        except Exception:
            log.warning("could not remove the secret of account %s", account_id)


__all__ = ["AccountService", "ACCOUNTS_CHANGED", "KINDS", "KIND_LABELS", "SECRET_FIELD",
           "SECRET_LABELS", "validate_settings", "normalise_host", "to_dto", "DRILL_NAME"]
