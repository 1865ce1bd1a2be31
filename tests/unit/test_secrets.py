"""app/sending/secrets.py: the keyring wrapper stores secrets only in a secure keyring, under
service "Clarion" and username "account-<id>", and refuses fail/null/plaintext backends."""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import chainer, fail, null

from app.errors import ClarionError
from app.sending.secrets import (
    SERVICE, InsecureKeyringError, MemorySecretBackend, SecretStore, SecretStoreError,
    use_memory_keyring,
)

SECRET = "S3cr3t-XYZ-123"


@pytest.fixture
def restore_keyring():
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


class _DictBackend(keyring.backend.KeyringBackend):
    """A backend that really stores (so a test can see whether anything was written)."""

    priority = -20  # type: ignore[assignment]  # never picked by keyring on its own

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        self.items.pop((service, username))


class PlaintextKeyring(_DictBackend):
    """Looks like keyrings.alt's file backend."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class _AltOther(_DictBackend):
    pass


_AltOther.__module__ = "keyrings.alt.Gnome"


class _LocalPlaintext(_DictBackend):
    pass


_LocalPlaintext.__name__ = "PlaintextKeyring"


class _TrustedDict(_DictBackend):
    clarion_trusted = True


class _LockedKeyring(keyring.backend.KeyringBackend):
    clarion_trusted = True
    priority = -20  # type: ignore[assignment]

    def get_password(self, service, username):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service, username, password):
        # A careless backend that repeats what it was given: it must not reach our message.
        raise keyring.errors.PasswordSetError(f"cannot store {password}")

    def delete_password(self, service, username):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


# ---------------------------------------------------------------- the in-memory backend

def test_memory_backend_round_trip_under_service_and_account_username(memory_keyring):
    store = SecretStore()
    assert store.get(7) is None
    store.set(7, SECRET)
    assert store.get(7) == SECRET
    assert memory_keyring.get_password(SERVICE, "account-7") == SECRET
    assert SERVICE == "Clarion"
    assert memory_keyring.usernames() == ["account-7"]
    store.set(7, "replaced")
    assert store.get(7) == "replaced"
    store.delete(7)
    assert store.get(7) is None
    assert memory_keyring.usernames() == []
    store.delete(7)  # deleting what is not there is no error


def test_memory_backend_is_secure_and_named(memory_keyring):
    store = SecretStore()
    assert store.is_secure()
    assert "MemorySecretBackend" in store.backend_name()
    assert store.insecure_message() == ""


def test_use_memory_keyring_installs_a_fresh_backend(restore_keyring):
    first = use_memory_keyring()
    assert keyring.get_keyring() is first
    SecretStore().set(1, SECRET)
    second = use_memory_keyring()
    assert keyring.get_keyring() is second
    assert SecretStore().get(1) is None  # nothing leaks from one test's keyring to the next


def test_fixture_restores_the_previous_keyring(restore_keyring):
    marker = null.Keyring()
    keyring.set_keyring(marker)
    previous = keyring.get_keyring()
    use_memory_keyring()
    keyring.set_keyring(previous)
    assert keyring.get_keyring() is marker


def test_memory_backend_is_never_picked_by_keyring_itself():
    # keyring picks the highest priority: ours is below fail.Keyring (0) and null (-1).
    assert MemorySecretBackend.priority < null.Keyring.priority < fail.Keyring.priority


def test_explicit_backend_wins_over_the_process_keyring(memory_keyring):
    mine = _TrustedDict()
    store = SecretStore(mine)
    store.set(3, SECRET)
    assert mine.items == {(SERVICE, "account-3"): SECRET}
    assert memory_keyring.usernames() == []


def test_empty_secret_is_not_stored(memory_keyring):
    with pytest.raises(ValueError):
        SecretStore().set(1, "")
    assert memory_keyring.usernames() == []


# ---------------------------------------------------------------- insecure backends

@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), PlaintextKeyring(),
                                     _AltOther(), _LocalPlaintext()],
                         ids=["fail", "null", "keyrings.alt-plaintext", "keyrings.alt-other",
                              "plaintext-name"])
def test_insecure_backends_refuse_to_store(backend):
    store = SecretStore(backend)
    assert not store.is_secure()
    with pytest.raises(InsecureKeyringError) as info:
        store.set(1, SECRET)
    message = str(info.value)
    assert isinstance(info.value, ClarionError)
    assert "gnome-keyring / KWallet / a Secret Service" in message
    assert store.backend_name() in message  # says what was found
    assert SECRET not in message
    assert "Nothing was saved" in message
    if isinstance(backend, _DictBackend):
        assert backend.items == {}  # really nothing stored
    assert store.get(1) is None  # reading an insecure keyring answers "nothing"
    store.delete(1)  # and deleting is a no-op, not an error


def test_fail_keyring_via_set_keyring_refuses(restore_keyring):
    keyring.set_keyring(fail.Keyring())
    store = SecretStore()
    assert not store.is_secure()
    assert "fail" in store.backend_name().lower()
    with pytest.raises(InsecureKeyringError, match="no keyring backend is available"):
        store.set(1, SECRET)


def test_empty_chainer_is_insecure(monkeypatch):
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    store = SecretStore(chainer.ChainerBackend())
    assert not store.is_secure()
    with pytest.raises(InsecureKeyringError, match="chain of keyrings is empty"):
        store.set(1, SECRET)


def test_chainer_of_only_insecure_backends_is_insecure(monkeypatch):
    plain = PlaintextKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain, null.Keyring()])
    store = SecretStore(chainer.ChainerBackend())
    assert not store.is_secure()
    with pytest.raises(InsecureKeyringError):
        store.set(1, SECRET)
    assert plain.items == {}


def test_chainer_whose_first_backend_is_plaintext_is_insecure(monkeypatch):
    # A chainer writes to the first backend of its chain: a plaintext one there would win.
    plain, secure = PlaintextKeyring(), _TrustedDict()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain, secure])
    store = SecretStore(chainer.ChainerBackend())
    assert not store.is_secure()
    with pytest.raises(InsecureKeyringError):
        store.set(1, SECRET)
    assert plain.items == {} and secure.items == {}


def test_chainer_with_a_secure_first_backend_stores_there(monkeypatch):
    secure, plain = _TrustedDict(), PlaintextKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [secure, plain])
    store = SecretStore(chainer.ChainerBackend())
    assert store.is_secure()
    store.set(2, SECRET)
    assert secure.items == {(SERVICE, "account-2"): SECRET}
    assert plain.items == {}
    assert store.get(2) == SECRET


# ---------------------------------------------------------------- a secure keyring that fails

def test_locked_keyring_errors_name_no_secret():
    store = SecretStore(_LockedKeyring())
    assert store.is_secure()
    with pytest.raises(SecretStoreError) as info:
        store.set(1, SECRET)
    assert not isinstance(info.value, InsecureKeyringError)
    assert SECRET not in str(info.value)
    assert "PasswordSetError" in str(info.value)
    with pytest.raises(SecretStoreError, match="locked"):
        store.get(1)
    with pytest.raises(SecretStoreError):
        store.delete(1)


def test_secret_never_reaches_the_log(memory_keyring, caplog):
    caplog.set_level("DEBUG")
    SecretStore().set(5, SECRET)
    SecretStore().get(5)
    with pytest.raises(InsecureKeyringError):
        SecretStore(fail.Keyring()).set(6, SECRET)
    with pytest.raises(SecretStoreError):
        SecretStore(_LockedKeyring()).set(7, SECRET)
    assert "account 5" in caplog.text  # the log did record the operations
    assert SECRET not in caplog.text


# ---------------------------------------------------------------- the words the coordinator reads

class _AltUnderscoreModule(_DictBackend):
    """A backend from a `keyrings_alt…` module (an old or vendored spelling of keyrings.alt),
    whose class name alone would not give it away."""


_AltUnderscoreModule.__module__ = "keyrings_alt.pyfs"
_AltUnderscoreModule.__name__ = "PyFilesystemKeyring"


@pytest.mark.parametrize("backend, reason", [
    (fail.Keyring(), "no keyring backend is available"),
    (null.Keyring(), "the null keyring stores nothing"),
    (PlaintextKeyring(), "keyrings.alt backends keep secrets in a file"),
    (_AltOther(), "keyrings.alt backends keep secrets in a file"),
    (_AltUnderscoreModule(), "keyrings.alt backends keep secrets in a file"),
    (_LocalPlaintext(), "it keeps secrets in a file"),
    ("empty-chainer", "the chain of keyrings is empty"),
], ids=["fail", "null", "keyrings.alt-plaintext", "keyrings.alt-other", "keyrings_alt-module",
        "plaintext-name", "empty-chainer"])
def test_insecure_message_names_the_keyring_found_and_why_it_is_refused(
        monkeypatch, backend, reason):
    """The sentence the settings dialog shows, word for word: which keyring was found, the
    reason it cannot hold a password, what to install, and that nothing was saved. The refusal
    raised by set() carries the same sentence."""
    if backend == "empty-chainer":
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        backend = chainer.ChainerBackend()
    store = SecretStore(backend)
    expected = ("Clarion cannot keep passwords safely on this computer: the keyring found is "
                f"“{store.backend_name()}” ({reason}). Install and unlock a system keyring "
                "(gnome-keyring / KWallet / a Secret Service; on macOS and Windows the system "
                "one is used), then try again. Nothing was saved.")
    assert store.insecure_message() == expected
    with pytest.raises(InsecureKeyringError) as info:
        store.set(1, SECRET)
    assert str(info.value) == expected
    if isinstance(backend, _DictBackend):
        assert backend.items == {}


def test_the_keyring_names_shown_are_keyrings_own():
    assert SecretStore(fail.Keyring()).backend_name() == "fail Keyring"
    assert SecretStore(null.Keyring()).backend_name() == "null Keyring"
    assert SecretStore(MemorySecretBackend()).backend_name() == "secrets MemorySecretBackend"


def test_a_backend_declared_trusted_is_trusted_whatever_its_name_or_module():
    """`clarion_trusted = True` on the backend's class is a decision that beats the guesses
    from names: a declared backend is used even if its class or module looks like a file
    keyring (without the declaration the same class is refused)."""

    class CryptFileKeyring(_DictBackend):
        clarion_trusted = True

    CryptFileKeyring.__module__ = "keyrings.alt.file"

    class Undeclared(CryptFileKeyring):
        clarion_trusted = False

    Undeclared.__module__ = "keyrings.alt.file"
    trusted = CryptFileKeyring()
    store = SecretStore(trusted)
    assert store.is_secure() and store.insecure_message() == ""
    store.set(4, SECRET)
    assert trusted.items == {(SERVICE, "account-4"): SECRET}
    assert store.get(4) == SECRET
    assert not SecretStore(Undeclared()).is_secure()


def test_a_locked_keyring_is_reported_in_plain_words_naming_the_error_not_the_secret():
    """The three failures of a secure keyring that is locked, word for word as the UI shows
    them: the keyring's error class and text (a secret it repeats is masked), and the hint."""
    store = SecretStore(_LockedKeyring())
    with pytest.raises(SecretStoreError) as info:
        store.get(1)
    assert str(info.value) == ("The system keyring could not be read (KeyringLocked: Failed to "
                               "unlock the collection!). Is it locked?")
    with pytest.raises(SecretStoreError) as info:
        store.set(1, SECRET)
    assert str(info.value) == ("The system keyring refused to store the secret "
                               "(PasswordSetError: cannot store ***). Is it locked? "
                               "Nothing was saved.")
    with pytest.raises(SecretStoreError) as info:
        store.delete(1)
    assert str(info.value) == ("The system keyring could not delete the secret (KeyringLocked: "
                               "Failed to unlock the collection!). Is it locked?")


@pytest.mark.parametrize("secret", ["", None, 42])
def test_only_non_empty_text_is_stored(memory_keyring, secret):
    with pytest.raises(ValueError) as info:
        SecretStore().set(1, secret)
    assert str(info.value) == "an empty secret is not stored; use delete()"
    assert memory_keyring.usernames() == []


def test_the_log_records_each_keyring_operation_by_account_and_keyring(memory_keyring, caplog):
    """What support reads in clarion.log: per operation the account id, the keyring used or
    the error class — exactly these lines, and never the secret. Deleting a secret that is
    not there logs nothing (nothing was deleted)."""
    caplog.set_level("DEBUG", logger="app.sending.secrets")
    SecretStore().set(5, SECRET)
    SecretStore().delete(5)
    SecretStore().delete(5)  # not there any more
    with pytest.raises(InsecureKeyringError):
        SecretStore(fail.Keyring()).set(6, SECRET)
    locked = SecretStore(_LockedKeyring())
    with pytest.raises(SecretStoreError):
        locked.set(7, SECRET)
    with pytest.raises(SecretStoreError):
        locked.get(7)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.name == "app.sending.secrets"]
    assert lines == [
        ("INFO", "secret for account 5 stored in secrets MemorySecretBackend"),
        ("INFO", "secret for account 5 deleted"),
        ("WARNING", "refused to store a secret for account 6: insecure keyring fail Keyring"),
        ("WARNING", "keyring write for account 7 failed: PasswordSetError"),
        ("WARNING", "keyring read for account 7 failed: KeyringLocked"),
    ]
    assert SECRET not in caplog.text


def test_memory_backend_deletes_like_a_real_keyring():
    """The test keyring keeps the keyring API's contract: deleting a stored secret removes
    it quietly; deleting one that is not there raises PasswordDeleteError (which SecretStore
    treats as "nothing stored")."""
    backend = MemorySecretBackend()
    backend.set_password(SERVICE, "account-1", SECRET)
    backend.delete_password(SERVICE, "account-1")
    assert backend.usernames() == []
    with pytest.raises(keyring.errors.PasswordDeleteError) as info:
        backend.delete_password(SERVICE, "account-1")
    assert str(info.value) == "no such secret"
