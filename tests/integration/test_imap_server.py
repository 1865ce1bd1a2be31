"""The IMAP test server is real (tests/integration/imap_fixtures.py): a private Dovecot 2.3 with
implicit TLS and STARTTLS, read with imapclient the way Clarion reads the coordinator's mailbox.
Where Dovecot is not installed or does not start these tests skip and say why (`.ci/run`
installs dovecot-core and dovecot-imapd); nothing stands in for the server."""

from __future__ import annotations

import imaplib
import socket
import ssl
import time

import pytest
from imap_fixtures import ImapServer, imap_fixture, imap_server_fixture  # noqa: F401 - fixtures
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from mta_fixtures import _wait_for

BOUNCE = (b"From: MAILER-DAEMON@clarion.test\r\n"
          b"To: coordinator@clarion.test\r\n"
          b"Subject: Undelivered Mail Returned to Sender\r\n"
          b"Message-ID: <bounce-1@clarion.test>\r\n"
          b"\r\n"
          b"The mail system could not deliver your message.\r\n")


def message(n: int) -> bytes:
    return (f"From: someone@example.test\r\nSubject: reply {n}\r\n"
            f"Message-ID: <reply-{n}@example.test>\r\n\r\nbody {n}\r\n").encode()


def connect(imap: ImapServer, user: str | None = None) -> IMAPClient:
    """A client logged in over implicit TLS, verifying the test certificate."""
    client = IMAPClient(imap.host, imap.tls_port, ssl_context=imap.ssl_context(), timeout=10)
    client.login(user or imap.user, imap.users[user or imap.user])
    return client


def test_implicit_tls_login_and_peek_keeps_the_message_unread(imap: ImapServer):
    imap.deliver(BOUNCE)
    client = IMAPClient(imap.host, imap.tls_port, ssl_context=imap.ssl_context(), timeout=10)
    try:
        assert client.login(imap.user, imap.password)
        assert "INBOX" in [name for _flags, _sep, name in client.list_folders()]
        selected = client.select_folder("INBOX")
        assert selected[b"EXISTS"] == 1
        [uid] = client.search(["UNSEEN"])
        fetched = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
        assert fetched[b"BODY[]"] == BOUNCE
        assert b"\\Seen" not in fetched[b"FLAGS"]
        assert b"\\Seen" not in client.get_flags([uid])[uid]
        assert client.search(["UNSEEN"]) == [uid]
    finally:
        client.logout()
    # SELECT moved the file from new/ to cur/ (":2,", no flag letter): still unread on disk
    [stored] = imap.messages()
    assert stored.path.parent.name == "cur" and stored.uid == uid
    assert stored.unseen and imap.flags() == [set()]
    assert stored.read_bytes() == BOUNCE


def test_fetching_the_body_without_peek_marks_it_seen(imap: ImapServer):
    imap.deliver(BOUNCE)
    imap.deliver(message(2), seen=True)
    assert imap.flags() == [set(), {"\\Seen"}]
    with connect(imap) as client:
        client.select_folder("INBOX")
        uids = client.search()
        assert client.search(["UNSEEN"]) == uids[:1]
        client.fetch(uids[:1], ["BODY[]"])
    assert imap.flags() == [{"\\Seen"}, {"\\Seen"}]


def test_starttls_on_the_plain_port_then_login(imap: ImapServer):
    client = IMAPClient(imap.host, imap.starttls_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(imap.ssl_context())
        assert client.login(imap.user, imap.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


class _FromAddress(imaplib.IMAP4):
    """imaplib's client, its connection made from a chosen local address."""

    def __init__(self, host: str, port: int, source: str) -> None:
        self._source = source
        super().__init__(host, port, timeout=10)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._source, 0))


def test_no_login_before_starttls_from_an_address_that_is_not_the_servers(imap: ImapServer):
    try:
        with socket.socket() as probe:
            probe.bind((imap.insecure_source, 0))
    except OSError as exc:
        pytest.skip(f"cannot bind {imap.insecure_source} on this machine: {exc}")
    client = _FromAddress(imap.host, imap.starttls_port, imap.insecure_source)
    try:
        assert "LOGINDISABLED" in client.capabilities
        assert "STARTTLS" in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            client.login(imap.user, imap.password)
        client.starttls(imap.ssl_context())
        assert "LOGINDISABLED" not in client.capabilities
        assert client.login(imap.user, imap.password)[0] == "OK"
    finally:
        client.logout()
    # Dovecot's log process writes a moment later
    assert _wait_for(lambda: f"rip={imap.insecure_source}" in imap.log, 5), imap.log


def test_a_wrong_password_is_refused(imap: ImapServer):
    client = IMAPClient(imap.host, imap.tls_port, ssl_context=imap.ssl_context(), timeout=10)
    try:
        with pytest.raises(LoginError):
            client.login(imap.user, "not-the-password")
        with pytest.raises(LoginError):
            client.login("nobody@clarion.test", imap.password)
    finally:
        client.shutdown()


def test_each_user_reads_only_their_own_mailbox(imap: ImapServer):
    imap.deliver(message(1), user=imap.other_user)
    with connect(imap) as mine, connect(imap, imap.other_user) as theirs:
        assert mine.select_folder("INBOX")[b"EXISTS"] == 0
        assert theirs.select_folder("INBOX")[b"EXISTS"] == 1


def test_a_message_delivered_into_a_folder(imap: ImapServer):
    imap.create_folder("Clarion/Bounces")
    imap.deliver(BOUNCE, folder="Clarion/Bounces")
    with connect(imap) as client:
        names = [name for _flags, sep, name in client.list_folders()]
        assert "Clarion/Bounces" in names
        assert "Clarion/Bounces" in [name for *_, name in client.list_sub_folders()]
        client.select_folder("Clarion/Bounces", readonly=True)
        [uid] = client.search()
        assert client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == BOUNCE
    assert imap.flags("Clarion/Bounces") == [set()]
    assert imap.flags() == []


def test_idle_reports_a_delivered_message(imap: ImapServer):
    with connect(imap) as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            imap.deliver(BOUNCE)
            responses: list = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and \
                    not any(r[1:] == (b"EXISTS",) for r in responses):
                responses += client.idle_check(timeout=0.5)
        finally:
            client.idle_done()
        assert (1, b"EXISTS") in responses, imap.log
        assert client.search(["UNSEEN"]) != []


def subjects(client: IMAPClient) -> dict[int, bytes]:
    """UID -> Subject of every message of the selected folder (without marking it read)."""
    fetched = client.fetch(client.search(), ["ENVELOPE"])
    return {uid: data[b"ENVELOPE"].subject for uid, data in fetched.items()}


def test_restart_keeps_uidvalidity_and_uids_and_a_reset_changes_uidvalidity(imap: ImapServer):
    for n in range(3):
        imap.deliver(message(n))
    with connect(imap) as client:
        before = client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
        uids = subjects(client)
    assert uids == {1: b"reply 0", 2: b"reply 1", 3: b"reply 2"}
    assert imap.uidvalidity() == before

    imap.restart()
    imap.deliver(message(3))
    with connect(imap) as client:
        assert client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"] == before
        assert subjects(client) == {**uids, 4: b"reply 3"}     # the new one never reuses a UID

    reset = imap.reset_uidvalidity()
    assert reset > before
    with connect(imap) as client:
        assert client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"] == reset
        assert subjects(client) == {**uids, 4: b"reply 3"}     # same UIDs, new UIDVALIDITY

    imap.messages()[0].path.unlink()                # "reply 0" (UID 1) is gone
    renumbered = imap.reset_uidvalidity(renumber=True)
    assert renumbered > reset
    with connect(imap) as client:
        assert client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"] == renumbered
        assert subjects(client) == {1: b"reply 1", 2: b"reply 2", 3: b"reply 3"}
    assert imap.uidnext() == 4


def test_a_reset_disconnects_a_client_that_has_the_folder_selected(imap: ImapServer):
    imap.deliver(BOUNCE)
    client = connect(imap)
    client.select_folder("INBOX")
    imap.reset_uidvalidity()
    with pytest.raises((imaplib.IMAP4.abort, OSError, ssl.SSLError)):
        client.noop()
        client.noop()


def test_clear_disconnects_sessions_and_empties_every_mailbox(imap: ImapServer):
    imap.deliver(BOUNCE)
    imap.deliver(BOUNCE, folder="Archive")
    imap.deliver(BOUNCE, user=imap.other_user)
    client = connect(imap)
    client.select_folder("INBOX")
    old = imap.uidvalidity()
    imap.clear()
    assert imap.sessions() == []
    with pytest.raises((imaplib.IMAP4.abort, OSError, ssl.SSLError)):
        client.noop()
    assert imap.messages() == [] and imap.messages(user=imap.other_user) == []
    assert not imap.maildir("Archive").exists()
    assert imap.uidvalidity() > old
