"""Reading an email account's mailbox over IMAP (issue 24): one check reads what arrived since
the last one and hands it to app/mailbox/recorder.py; MailboxWatcher keeps checking —
IMAP IDLE where the server offers it, a poll every 60 s otherwise.

The library is IMAPClient (BSD), used from a worker thread: it speaks STARTTLS as well as
implicit TLS and does IDLE on both (aioimaplib, which would fit the asyncio bridge, has IDLE
over implicit TLS only and no STARTTLS, so a port-143 server could not be read safely).

The coordinator's mailbox is never changed: the folder is opened read-only (EXAMINE) and
messages are fetched with BODY.PEEK, so nothing is marked read, moved or deleted. A check
resumes from the folder's UIDVALIDITY and last UID kept in the database (nothing is read twice
across restarts); on its first read, or when the server's UIDVALIDITY changed, it reads the
last `imap_lookback_days` days. Certificates are always verified (the account's CA file, if
given, is trusted too); no password is sent before TLS."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app import events as ev
from app.clock import Clock
from app.errors import ClarionError
from app.sending.account_settings import (
    DEFAULT_LOOKBACK_DAYS, IMAP_DEFAULT_FOLDER, IMAP_DEFAULT_PORTS, IMAP_DEFAULT_SECURITY,
)
from app.sending.channels.base import AccountDTO
from app.mailbox.recorder import (
    LeftAlone, MailboxRecorder, ReadMail, Recorded, position, record_error,
)

BATCH = 50                     # messages fetched and recorded per transaction
WHOLE_MAX = 5 * 1024 * 1024    # larger messages: only their first PART_MAX bytes are read
PART_MAX = 2 * 1024 * 1024
POLL_SECONDS = 60
IDLE_RENEW_SECONDS = 25 * 60   # RFC 2177: re-issue IDLE at least every 29 minutes
TIMEOUT = 30


class MailboxError(ClarionError):
    """A check could not read the mailbox; str() says why, in the coordinator's words."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str             # tls | starttls | none (this computer only)
    username: str
    folder: str
    lookback_days: int
    ca_file: str = ""
    timeout: int = TIMEOUT

    @classmethod
    def of(cls, account: AccountDTO) -> ImapSettings | None:
        """The account's mailbox settings; None when it has no IMAP server (not read)."""
        s = account.settings or {}
        if account.kind != "email" or not s.get("imap_host"):
            return None
        security = s.get("imap_security") or IMAP_DEFAULT_SECURITY
        return cls(host=str(s["imap_host"]),
                   port=int(s.get("imap_port") or IMAP_DEFAULT_PORTS[security]),
                   security=security,
                   username=str(s.get("imap_username") or s.get("username") or ""),
                   folder=str(s.get("imap_folder") or IMAP_DEFAULT_FOLDER),
                   lookback_days=int(s.get("imap_lookback_days") or DEFAULT_LOOKBACK_DAYS),
                   ca_file=str(s.get("ca_file") or ""),
                   timeout=int(s.get("timeout") or TIMEOUT))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class CheckReport:
    """One check of one account's folder."""
    account_id: int
    account_name: str
    folder: str
    read: int = 0
    recorded: list[Recorded] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)
    unmatched: int = 0
    error: str = ""


def _tls_context(settings: ImapSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context()
        if settings.ca_file:
            context.load_verify_locations(cafile=settings.ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise MailboxError(f"The CA certificate file {settings.ca_file} cannot be read: "
                           f"{exc}") from None
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _words(exc: BaseException, settings: ImapSettings) -> str:
    """An exception from connecting or logging in, in the coordinator's words."""
    from imapclient.exceptions import LoginError

    where = f"the IMAP server {settings.where}"
    if isinstance(exc, MailboxError):
        return str(exc)
    if isinstance(exc, LoginError):
        return (f"{where} refused the user name or password ({_text(exc)}). Check both in "
                f"the account's mailbox settings (its own password, or the account's).")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"The certificate of {where} is not trusted ({exc.verify_message or exc}); no "
                f"password left Clarion. Give the account the CA certificate file that signed "
                f"it, or fix the host name.")
    if isinstance(exc, ssl.SSLError):
        return (f"The TLS handshake with {where} failed ({exc}). Check the port and the "
                f"security setting (implicit TLS or STARTTLS).")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where} did not answer within {settings.timeout} s."
    if isinstance(exc, OSError):
        return f"Cannot reach {where}: {exc.strerror or exc}."
    return f"{where}: {_text(exc)}"


def _text(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def connect(settings: ImapSettings, password: str | None) -> Any:
    """A logged-in IMAPClient. TLS first (implicit or STARTTLS), then the login; raises
    MailboxError in words."""
    from imapclient import IMAPClient

    if not settings.username:
        raise MailboxError("The account has no user name to log in to its mailbox with.")
    if not password:
        raise MailboxError("The account has no password in the keyring to log in to its "
                           "mailbox with.")
    client = None
    try:
        context = None if settings.security == "none" else _tls_context(settings)
        client = IMAPClient(settings.host, port=settings.port,
                            ssl=settings.security == "tls", ssl_context=context,
                            timeout=settings.timeout)
        if settings.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise MailboxError(f"The IMAP server {settings.where} does not offer STARTTLS; "
                                   f"no password was sent. Use implicit TLS (usually port "
                                   f"993) if it has it.")
            client.starttls(context)
        client.login(settings.username, password)
        return client
    except Exception as exc:
        if client is not None:
            _close(client)
        raise MailboxError(_words(exc, settings)) from None


def _close(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - it is gone either way
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def read_folder(client: Any, store: Any, clock: Clock, recorder: MailboxRecorder,
                account: AccountDTO, settings: ImapSettings) -> CheckReport:
    """Read what is new in the folder (on a logged-in client) and record it."""
    report = CheckReport(account.id, account.name, settings.folder)
    try:
        info = client.select_folder(settings.folder, readonly=True)
    except Exception as exc:  # noqa: BLE001 - the server's words
        raise MailboxError(f"The folder “{settings.folder}” cannot be opened on "
                           f"{settings.where}: {_text(exc)}") from None
    uidvalidity = int(info.get(b"UIDVALIDITY") or 0)
    uidnext = int(info.get(b"UIDNEXT") or 0)
    known, last = position(store, account.id, settings.folder)
    if known == uidvalidity and known:
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
    else:
        since = (clock.now() - timedelta(days=settings.lookback_days)).date()
        uids = sorted(client.search(["SINCE", since]))
    if not uids:
        recorder.record(account.id, settings.folder, uidvalidity, [],
                        last_uid=max(uidnext - 1, 0) if known != uidvalidity else None)
        return report
    for chunk in _chunks(uids, BATCH):
        sizes = client.fetch(chunk, ["RFC822.SIZE"])
        small = [u for u in chunk if int(sizes.get(u, {}).get(b"RFC822.SIZE", 0)) <= WHOLE_MAX]
        large = [u for u in chunk if u not in set(small)]
        bodies: dict[int, bytes] = {}
        if small:
            for uid, data in client.fetch(small, ["BODY.PEEK[]"]).items():
                bodies[uid] = bytes(data.get(b"BODY[]") or b"")
        if large:
            for uid, data in client.fetch(large, [f"BODY.PEEK[]<0.{PART_MAX}>"]).items():
                bodies[uid] = bytes(data.get(b"BODY[]<0>") or b"")
        mails = [ReadMail(uid, bodies[uid]) for uid in chunk if uid in bodies]
        result = recorder.record(account.id, settings.folder, uidvalidity, mails,
                                 last_uid=max(chunk))
        report.read += len(mails)
        report.recorded += result.recorded
        report.left_alone += result.left_alone
        report.unmatched += result.unmatched
    return report


def check_account(store: Any, clock: Clock, account: AccountDTO, password: str | None,
                  events: ev.EventBus | None = None) -> CheckReport:
    """One read of the account's mailbox folder. A failure is kept with the folder's position
    (shown beside the account) and returned in `error`, never raised."""
    settings = ImapSettings.of(account)
    if settings is None:
        return CheckReport(account.id, account.name, "", error="This account has no IMAP "
                           "server: its mailbox is not read.")
    recorder = MailboxRecorder(store, clock, events)
    client = None
    try:
        client = connect(settings, password)
        return read_folder(client, store, clock, recorder, account, settings)
    except MailboxError as exc:
        record_error(store, clock, account.id, settings.folder, str(exc))
        return CheckReport(account.id, account.name, settings.folder, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a connection that broke mid-read
        text = _words(exc, settings)
        record_error(store, clock, account.id, settings.folder, text)
        return CheckReport(account.id, account.name, settings.folder, error=text)
    finally:
        if client is not None:
            _close(client)


class MailboxWatcher:
    """Keeps one account's folder read, on the thread that calls run(): a check, then IMAP
    IDLE until the server says something arrived (re-issued every 25 min), or where the server
    has no IDLE a check every `poll_seconds`. After a failure it waits `poll_seconds` and
    reconnects. `stop` ends it within about a second. `use_idle=False` polls even where IDLE
    is offered (some proxies and load balancers cut idle connections silently)."""

    def __init__(self, store: Any, clock: Clock, account: AccountDTO,
                 password: Callable[[], str | None], events: ev.EventBus | None = None,
                 poll_seconds: float = POLL_SECONDS,
                 on_report: Callable[[CheckReport], None] | None = None,
                 use_idle: bool = True) -> None:
        self.store, self.clock, self.account = store, clock, account
        self.use_idle = use_idle
        self.password, self.events = password, events
        self.poll_seconds = poll_seconds
        self.on_report = on_report or (lambda report: None)
        self.stop_event = threading.Event()
        self.mode = ""                 # "idle" | "poll" once connected

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        settings = ImapSettings.of(self.account)
        if settings is None:
            return
        recorder = MailboxRecorder(self.store, self.clock, self.events)
        while not self.stop_event.is_set():
            client = None
            try:
                client = connect(settings, self.password())
                idle = self.use_idle and client.has_capability("IDLE")
                self.mode = "idle" if idle else "poll"
                while not self.stop_event.is_set():
                    self.on_report(read_folder(client, self.store, self.clock, recorder,
                                               self.account, settings))
                    if idle:
                        self._idle(client)
                    else:
                        self.stop_event.wait(self.poll_seconds)
                        client.noop()
            except Exception as exc:  # noqa: BLE001 - told, then tried again later
                text = _words(exc, settings)
                record_error(self.store, self.clock, self.account.id, settings.folder, text)
                self.on_report(CheckReport(self.account.id, self.account.name,
                                           settings.folder, error=text))
                self.stop_event.wait(self.poll_seconds)
            finally:
                if client is not None:
                    _close(client)

    def _idle(self, client: Any) -> None:
        """Wait in IDLE until something arrives, the renewal time passes, or stop."""
        client.idle()
        try:
            renew = time.monotonic() + IDLE_RENEW_SECONDS
            while not self.stop_event.is_set() and time.monotonic() < renew:
                responses = client.idle_check(timeout=1)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses
                       if isinstance(r, tuple)):
                    break
        finally:
            client.idle_done()
