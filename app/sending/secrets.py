"""The OS keyring, and nothing weaker: where account secrets (SMTP passwords, SMS auth tokens,
webhook URLs) live. Never the database, a log or an export (DESIGN.md "Quality bars").

`keyring` picks a backend by itself; on a machine without a Secret Service it ends with
`fail.Keyring`, and with `keyrings.alt` installed it may quietly pick a plaintext file. Clarion
refuses to store a secret in any of those and says so in words the UI shows as they are.

Tests inject `MemorySecretBackend` (see `use_memory_keyring`). Its priority is negative, so
keyring never picks it by itself in a real run.
"""

from __future__ import annotations

import logging
import threading

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail, null

from app.errors import ClarionError

log = logging.getLogger(__name__)

SERVICE = "Clarion"

INSTALL_HINT = ("Install and unlock a system keyring (gnome-keyring / KWallet / a Secret "
                "Service; on macOS and Windows the system one is used), then try again.")

# Class names that mean "kept in a file on disk" wherever they come from.
_PLAINTEXT_NAMES = ("PlaintextKeyring", "EncryptedKeyring", "UncryptedFileKeyring",
                    "CryptFileKeyring")


class SecretStoreError(ClarionError):
    """The keyring could not read, store or delete a secret. The message names no secret."""


class InsecureKeyringError(SecretStoreError):
    """Only an insecure keyring (none, null, plaintext) is available: nothing was stored."""


# what else than the account's own secret it may keep: the mailbox (IMAP) login's password,
# where the mailbox is not read with the sending password (issue 24)
MAILBOX = "imap"


def username_for(account_id: int, purpose: str) -> str:
    return f"account-{int(account_id)}" + (f"-{purpose}" if purpose else "")


def _display_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    try:
        return str(cls.name)
    except Exception:  # a backend whose priority raises has no usable name
        return f"{cls.__module__}.{cls.__name__}"


def _insecure_reason(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why this (non-chainer) backend must not hold a secret, or None when it may."""
    cls = type(backend)
    if getattr(cls, "clarion_trusted", False):
        return None
    if isinstance(backend, fail.Keyring):
        return "no keyring backend is available"
    if isinstance(backend, null.Keyring):
        return "the null keyring stores nothing"
    if "keyrings.alt" in cls.__module__ or cls.__module__.startswith("keyrings_alt"):
        return "keyrings.alt backends keep secrets in a file"
    if any(n in cls.__name__ for n in _PLAINTEXT_NAMES):
        return "it keeps secrets in a file"
    if isinstance(backend, chainer.ChainerBackend):
        return "the chain of keyrings is empty"
    return None


def _effective(backend: keyring.backend.KeyringBackend) -> keyring.backend.KeyringBackend:
    """The backend a write really goes to: a chainer writes to the first of its chain."""
    if isinstance(backend, chainer.ChainerBackend):
        chain = list(type(backend).backends)
        return chain[0] if chain else backend
    return backend


class SecretStore:
    """Secrets by account id, under service "Clarion" and username "account-<id>".

    `backend` None means the process's keyring (`keyring.get_keyring()`, looked up on every
    call, so `keyring.set_keyring()` in a test takes effect at once)."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    # -- which keyring

    def _target(self) -> keyring.backend.KeyringBackend:
        return _effective(self._backend if self._backend is not None else keyring.get_keyring())

    def backend_name(self) -> str:
        """What keyring is in use, for the settings dialog ("SecretService Keyring", …)."""
        return _display_name(self._target())

    def is_secure(self) -> bool:
        return _insecure_reason(self._target()) is None

    def insecure_message(self) -> str:
        """The sentence the UI shows when is_secure() is False ("" when it is secure)."""
        target = self._target()
        reason = _insecure_reason(target)
        if reason is None:
            return ""
        return (f"Clarion cannot keep passwords safely on this computer: the keyring found is "
                f"“{_display_name(target)}” ({reason}). {INSTALL_HINT} Nothing was saved.")

    # -- secrets

    def get(self, account_id: int, purpose: str = "") -> str | None:
        """The account's secret (or its secret for `purpose`, e.g. MAILBOX), or None when none
        is stored. An insecure keyring holds nothing Clarion stored, so it answers None."""
        target = self._target()
        if _insecure_reason(target) is not None:
            return None
        try:
            return target.get_password(SERVICE, username_for(account_id, purpose))
        except keyring.errors.KeyringError as exc:
            log.warning("keyring read for account %s failed: %s", account_id,
                        type(exc).__name__)
            raise SecretStoreError(
                f"The system keyring could not be read ({type(exc).__name__}: {exc}). "
                "Is it locked?") from None

    def set(self, account_id: int, secret: str, purpose: str = "") -> None:
        """Store (or replace) the account's secret. Raises InsecureKeyringError, storing
        nothing, when the keyring is not a secure one."""
        if not isinstance(secret, str) or not secret:
            raise ValueError("an empty secret is not stored; use delete()")
        target = self._target()
        if _insecure_reason(target) is not None:
            log.warning("refused to store a secret for account %s: insecure keyring %s",
                        account_id, _display_name(target))
            raise InsecureKeyringError(self.insecure_message())
        try:
            target.set_password(SERVICE, username_for(account_id, purpose), secret)
        except keyring.errors.KeyringError as exc:
            detail = str(exc).replace(secret, "***")
            log.warning("keyring write for account %s failed: %s", account_id,
                        type(exc).__name__)
            raise SecretStoreError(
                f"The system keyring refused to store the secret ({type(exc).__name__}: "
                f"{detail}). Is it locked? Nothing was saved.") from None
        log.info("secret for account %s stored in %s", account_id, _display_name(target))

    def delete(self, account_id: int, purpose: str = "") -> None:
        """Forget the account's secret (for `purpose`); no error when there is none."""
        target = self._target()
        if _insecure_reason(target) is not None:
            return
        try:
            target.delete_password(SERVICE, username_for(account_id, purpose))
        except keyring.errors.PasswordDeleteError:
            return  # nothing stored
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(
                f"The system keyring could not delete the secret ({type(exc).__name__}: "
                f"{exc}). Is it locked?") from None
        log.info("secret for account %s deleted", account_id)


# ---------------------------------------------------------------- tests

class MemorySecretBackend(keyring.backend.KeyringBackend):
    """A keyring in this process's memory, for tests (DESIGN.md: tests inject an in-memory
    keyring). Trusted by SecretStore; never chosen by keyring on its own (negative priority)."""

    clarion_trusted = True
    priority = -10  # type: ignore[assignment]  # below fail (0) and null (-1): never auto-picked

    def __init__(self) -> None:
        super().__init__()
        self._items: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            self._items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            if self._items.pop((service, username), None) is None:
                raise keyring.errors.PasswordDeleteError("no such secret")

    def usernames(self, service: str = SERVICE) -> list[str]:
        """What is stored (for tests' assertions), never the secrets."""
        with self._lock:
            return sorted(u for s, u in self._items if s == service)


def use_memory_keyring() -> MemorySecretBackend:
    """Make a fresh MemorySecretBackend the process's keyring and return it. Restoring the
    previous keyring is the caller's job, e.g. in a fixture:

        previous = keyring.get_keyring()
        backend = use_memory_keyring()
        yield backend
        keyring.set_keyring(previous)
    """
    backend = MemorySecretBackend()
    keyring.set_keyring(backend)
    return backend


__all__ = ["SERVICE", "MAILBOX", "SecretStore", "SecretStoreError", "InsecureKeyringError",
           "MemorySecretBackend", "use_memory_keyring", "username_for"]
