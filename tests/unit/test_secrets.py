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
