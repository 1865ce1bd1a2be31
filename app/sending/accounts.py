"""Channel accounts: the ways out (SMTP, an SMS provider, chat webhooks, the drill inbox).

Settings live in the database; the secret of an account (SMTP password, SMS auth token, webhook
URL) lives only in the OS keyring (app/sending/secrets.py), under the account's id. Validation is pure
(`validate_settings`); the service stores a row and its secret in one logical operation: the
keyring write happens inside the database transaction, after the row validated, so a keyring
that refuses rolls the row back and nothing is stored.
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.sending.channels.base import AccountDTO
from app.clock import Clock
from app.domain.models import ChannelAccount
from app.errors import NotFound, ValidationError, too_long
from app.events import EventBus
from app.sending.account_settings import (  # noqa: F401 - re-exported for the UI
    DRILL, DRILL_NAME, EMAIL, KIND_LABELS, KINDS, NAME_MAX, SECRET_FIELD, SECRET_LABELS,
    SECRET_MAX, SMS, WEBHOOK_KINDS, _clean_secret, normalise_host, validate_settings,
)
from app.sending.secrets import MAILBOX, SecretStore
from app.storage.engine import Store

log = logging.getLogger(__name__)

from app.events import ACCOUNTS_CHANGED  # noqa: E402,F401 - the topic, named here too

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

    def mailbox_secret_of(self, account_id: int) -> str | None:
        """The password the account's mailbox (IMAP) login uses: its own where one is stored,
        else the account's (issue 24)."""
        own = self.secrets.get(account_id, MAILBOX)
        return own if own is not None else self.secrets.get(account_id)

    def has_mailbox_secret(self, account_id: int) -> bool:
        """Whether the mailbox has a password of its own (not the account's)."""
        return self.secrets.get(account_id, MAILBOX) is not None

    def set_mailbox_secret(self, account_id: int, secret: str | None) -> None:
        """Give an email account's mailbox login a password of its own, or (None or "") none:
        it then logs in with the account's password."""
        account = self.get(account_id)
        if account.kind != EMAIL:
            raise ValidationError({"imap_secret": "Only an email account reads a mailbox."})
        if secret:
            if not isinstance(secret, str) or len(secret) > SECRET_MAX:
                raise ValidationError({"imap_secret": too_long("It", SECRET_MAX, len(secret))
                                       if isinstance(secret, str) else
                                       "The password must be text."})
            self.secrets.set(account_id, secret, MAILBOX)
        else:
            self.secrets.delete(account_id, MAILBOX)
        self.events.publish(ACCOUNTS_CHANGED, (account_id,))

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
                        previous = self.secrets.get(account.id)
                        self.secrets.delete(account.id)
                        replaced = True
                    dto = to_dto(account)
            except BaseException:
                if replaced:  # the commit failed after the keyring changed: put back the old
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
            self.secrets.delete(account_id, MAILBOX)
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
            errors["name"] = too_long("The name", NAME_MAX, len(clean))
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
