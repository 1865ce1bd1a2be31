"""Email over SMTP with aiosmtplib (the application never imports smtplib).

Account settings (AccountDTO.settings):
    host, port (default 465 for "tls", 587 for "starttls", 25 for "none"),
    security: "tls" (implicit TLS) | "starttls" (required, never optional) | "none" (loopback only),
    ca_file (optional CA certificate for a relay signed by an internal CA),
    username (optional: no AUTH without one), from_address, from_name, reply_to,
    concurrency (connections in parallel, default 8), timeout (seconds, default 30),
    messages_per_connection (default 100), local_hostname (the EHLO name; default this computer's
    fully qualified name, else the from address's domain: relays refuse a bare "vm").
The password is given to the constructor (it lives in the keyring, never in settings).

Certificates are always verified (hostname included). Credentials are sent only over TLS. With
"starttls" we connect in clear, read the EHLO and refuse a server that does not offer STARTTLS
before anything else is said; then upgrade, EHLO again, and only then log in.

Outcomes (see app/sending/channels/base.py):
    250 after DATA ............................ SENT (provider_id: the server's queue id if given)
    4xx at MAIL / RCPT / DATA ................. TRANSIENT (421 also drops the connection)
    5xx at RCPT / DATA ........................ PERMANENT for that recipient
    5xx at MAIL (sender refused) .............. AUTH_FAILED: every message would fail the same way
    530 / 534 / 535 / 538 anywhere ............ AUTH_FAILED for the rest of the batch
    certificate not trusted, STARTTLS missing,
      TLS handshake refused, bad settings ..... AUTH_FAILED (the coordinator must fix the account)
    network error / timeout before the message
      body was handed over .................... TRANSIENT
    connection lost / timeout after the body
      was sent, before the final reply ........ UNKNOWN (retry with the same Message-ID is safe)
    subject / name with CR or LF, bad address . PERMANENT (nothing sent)

Connections: up to `concurrency` sessions, each carrying many messages. A relay that takes fewer
connections than that says so on the extra ones — 4xx (usually 421) instead of a greeting, 421
mid-session, or 4xx to MAIL FROM (Exchange Online's "432 4.3.2 … sender thread limit exceeded").
While another session is carrying mail, such a refusal is not the message's fault: the message
goes back to the batch for the working sessions, this session ends, and the sender uses no more
sessions than were working (one more again after each send() with no such refusal). The last
working session's refusal is the message's outcome (TRANSIENT), as above.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

import aiosmtplib
from aiosmtplib import SMTP

from app.errors import ClarionError
from .base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO, Begin,
                   OutgoingMessage, SendOutcome, exception_chain, go_ahead)
from .defaults import EMAIL_DEFAULT_CONCURRENCY
from .drill import drill_outcome
from .wire import Unbuildable, email_bytes, has_line_break, refuse_line_breaks

log = logging.getLogger(__name__)

SECURITY_MODES = ("tls", "starttls", "none")
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
DEFAULT_CONCURRENCY = EMAIL_DEFAULT_CONCURRENCY
DEFAULT_TIMEOUT = 30.0
DEFAULT_MESSAGES_PER_CONNECTION = 100
# Replies that mean "authenticate first / your credentials are refused / encryption needed".
AUTH_CODES = frozenset({530, 534, 535, 538})

# Common shapes of the queue id in a 250 reply after DATA.
_QUEUE_ID_PATTERNS = (
    re.compile(r"queued as\s+<?([A-Za-z0-9][\w.\-@]*)", re.I),   # Postfix, SendGrid, ...
    re.compile(r"\bid=([A-Za-z0-9][\w.\-]*)", re.I),              # Exim
    re.compile(r"^(?:2\.0\.0\s+)?ok\s+([0-9A-Za-z][0-9A-Za-z\-]{15,})\s*$", re.I),  # SES
)


class _AccountProblem(Exception):
    """The account cannot work as it is (credentials refused, TLS refused, bad settings)."""


class _Unreachable(Exception):
    """No session can be opened right now (network down, 4xx greeting, 454 on login)."""


# A relay that checks the EHLO name at RCPT (Postfix: reject_non_fqdn_helo_hostname, answered
# "504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname")
HELO_REFUSED = re.compile(r"\bhelo command rejected\b|\bfully[- ]qualified host ?name\b",
                          re.IGNORECASE)


def default_helo_name(from_address: str) -> str:
    """The EHLO name when the account sets none: this computer's fully qualified name, else
    the from address's domain (relays refuse a bare host name like "vm")."""
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.lower().endswith((".localdomain", ".local", ".lan",
                                                     ".internal")):  # DNS ignores case
        return fqdn
    domain = from_address.rpartition("@")[2].strip()
    return domain or fqdn or "localhost"


def queue_id(reply: str) -> str:
    """The server's queue id in a 250 reply, or ''."""
    for pattern in _QUEUE_ID_PATTERNS:
        found = pattern.search(reply.strip())
        if found:
            return found.group(1).rstrip(".")
    return ""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind an exception (aiosmtplib wraps it as a connect error), if any."""
    return next((e for e in exception_chain(exc) if isinstance(e, ssl.SSLError)), None)


def _tls_problem(exc: BaseException, where: str) -> Exception | None:
    """_AccountProblem for a refused certificate or handshake, _Unreachable for a TLS
    connection cut by the network, None when TLS has nothing to do with it."""
    err = _ssl_error(exc)
    if err is None:
        return None
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or str(err)
        return _AccountProblem(
            f"The certificate of {where} is not trusted ({why}); nothing was sent and no "
            f"password left Clarion. Give the account the CA certificate file that signed "
            f"it, or fix the host name.")
    if isinstance(err, (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)):
        return _Unreachable(f"The TLS connection to {where} was cut: {err}")
    return _AccountProblem(f"The TLS handshake with {where} failed: {err}. Check the "
                           f"port and the security setting (implicit TLS or STARTTLS).")


def _reply(response: Any) -> str:
    return f"{response.code} {response.message}".strip()


@dataclass
class _Batch:
    """One send() call: what is left, and why the workers stopped early, if they did."""
    pending: deque[OutgoingMessage]
    stop_detail: str = ""       # the account must be fixed: everything left is AUTH_FAILED
    offline_detail: str = ""    # the last reason a session could not be opened
    active: int = 0             # workers still at it
    worked: int = 0             # workers whose session carried a message
    refused: bool = False       # a session could not be opened, or was refused (see the top)
    withheld: bool = False      # the outbox withheld a message (Begin said no): stop, report
                                # nothing more

    def stop(self, detail: str) -> None:
        if not self.stop_detail:
            self.stop_detail = detail


@dataclass
class _Prepared:
    body: bytes
    utf8: bool


@dataclass
class _Session:
    client: SMTP
    transcript: list[str] = field(default_factory=list)
    carried: int = 0
    transport: Any = None   # kept: aiosmtplib forgets it when it closes on a timeout
    refused: bool = False   # the relay refused this session (not the message): see the top

    @property
    def alive(self) -> bool:
        return self.client.is_connected

    def close(self) -> None:
        """Drop the connection now. Abort rather than close: a TLS close waits for the
        server's close_notify (up to 30 s) and would leave the socket open meanwhile."""
        for transport in (self.client.transport, self.transport):
            try:
                if transport is not None:
                    transport.abort()
            except Exception:  # its loop may be gone already
                pass
        try:
            self.client.close()
        except Exception:
            pass


class _BodyTracker:
    """Tells whether the message body was handed to the connection during DATA: aiosmtplib
    writes "DATA", waits for 354, then writes the body in one piece. A connection lost before
    that write lost nothing; after it, the server may have the message."""

    def __init__(self, client: SMTP) -> None:
        self.protocol = client.protocol
        self.writes = 0

    def __enter__(self) -> _BodyTracker:
        protocol = self.protocol
        if protocol is not None:
            original = protocol.write

            def counting_write(data: bytes) -> None:
                original(data)
                self.writes += 1

            protocol.write = counting_write  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.protocol is not None:
            self.protocol.__dict__.pop("write", None)

    @property
    def body_sent(self) -> bool:
        return self.writes >= 2


async def run_workers(workers: Iterable[Any]) -> None:
    """Run coroutines together; if one fails (a caller's callback raised), cancel the rest
    and raise that error."""
    tasks = [asyncio.ensure_future(w) for w in workers]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class EmailSender:
    """Sender (app/sending/channels/base.py) for one SMTP account. Sessions are kept between send()
    calls (up to `concurrency` of them, all bound to the running loop) until aclose()."""

    def __init__(self, account: AccountDTO, password: str | None) -> None:
        self.account = account
        self._password = password
        s = account.settings or {}
        self._problems: list[str] = []
        self.security = str(s.get("security") or "starttls").strip().lower()
        if self.security not in SECURITY_MODES:
            self._problems.append(f"Unknown security setting {self.security!r} "
                                  f"(use tls, starttls or none).")
        self.host = str(s.get("host") or "").strip()
        self.port = self._int(s, "port", DEFAULT_PORTS.get(self.security, 587), 1, 65535)
        self.concurrency = self._int(s, "concurrency", DEFAULT_CONCURRENCY, 1, 100)
        self.per_connection = self._int(s, "messages_per_connection",
                                        DEFAULT_MESSAGES_PER_CONNECTION, 1, 100_000)
        self.timeout = self._float(s, "timeout", DEFAULT_TIMEOUT)
        self.ca_file = str(s.get("ca_file") or "").strip()
        self.username = str(s.get("username") or "").strip()
        self.from_address = str(s.get("from_address") or "").strip()
        self.from_name = str(s.get("from_name") or "").strip()
        self.reply_to = str(s.get("reply_to") or "").strip()
        self.local_hostname = str(s.get("local_hostname") or "").strip() or \
            default_helo_name(self.from_address)
        self._idle: list[_Session] = []
        self.ceiling = self.concurrency  # sessions to use: lowered when the relay refuses more
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tls: ssl.SSLContext | None = None

    def __repr__(self) -> str:  # never the password
        return f"EmailSender(account={self.account.id!r}, host={self.host!r}, " \
               f"security={self.security!r})"

    # ---- settings -------------------------------------------------------------------------

    def _int(self, s: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
        raw = s.get(key)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            self._problems.append(f"The {key} setting {raw!r} is not a whole number.")
            return default
        if not low <= value <= high:
            self._problems.append(f"The {key} setting must be between {low} and {high}.")
            return default
        return value

    def _float(self, s: dict[str, Any], key: str, default: float) -> float:
        raw = s.get(key)
        if raw in (None, ""):
            return default
        try:
            value = float(raw)
        except (TypeError, ValueError):
            self._problems.append(f"The {key} setting {raw!r} is not a number.")
            return default
        if value <= 0:
            self._problems.append(f"The {key} setting must be more than 0 seconds.")
            return default
        return value

    def config_problem(self) -> str:
        """Why this account cannot send as configured, or ''."""
        problems = list(self._problems)
        if not self.host:
            problems.append("No SMTP host is set.")
        elif has_line_break(self.host):
            problems.append("The SMTP host contains a line break.")
        if self.security == "none" and self.host and not is_loopback(self.host):
            problems.append(f"Security 'none' is only allowed for a relay on this computer "
                            f"(127.0.0.1), not {self.host}.")
        if self.security == "none" and self.username:
            problems.append("A username is set but security is 'none': Clarion never sends "
                            "credentials without TLS.")
        if self.username and self._password is None:
            problems.append("No password is stored for this account (it lives in the "
                            "keyring).")
        if not self.from_address:
            problems.append("No from-address is set.")
        for label, value in (("from-address", self.from_address), ("display name",
                             self.from_name), ("reply-to", self.reply_to),
                             ("username", self.username)):
            if has_line_break(value):
                problems.append(f"The {label} contains a line break.")
        if self.ca_file and self.security == "none":
            problems.append("A CA certificate file is set but security is 'none'.")
        return " ".join(problems)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            try:
                context = ssl.create_default_context(cafile=self.ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise _AccountProblem(f"The CA certificate file {self.ca_file} cannot be "
                                      f"used: {exc}") from None
            context.check_hostname = True
            context.verify_mode = ssl.CERT_REQUIRED
            self._tls = context
        return self._tls

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    # ---- sessions -------------------------------------------------------------------------

    async def _open(self) -> _Session:
        """Connect, secure and log in. Raises _AccountProblem or _Unreachable."""
        tls = self._tls_context() if self.security != "none" else None
        try:
            client = SMTP(hostname=self.host, port=self.port, use_tls=self.security == "tls",
                          start_tls=False, tls_context=tls if self.security == "tls" else None,
                          timeout=self.timeout, local_hostname=self.local_hostname)
        except ValueError as exc:  # e.g. an EHLO name aiosmtplib will not send
            raise _AccountProblem(f"{self._where}: {exc}") from None
        session = _Session(client)
        try:
            await self._handshake(session, tls)
        except Exception:
            await self._quit(session)  # a polite QUIT when the server still listens
            raise
        except BaseException:
            session.close()
            raise
        return session

    async def _handshake(self, session: _Session, tls: ssl.SSLContext | None) -> None:
        """Greeting, EHLO, STARTTLS when required, EHLO again, login; a transcript in
        session.transcript. Raises _AccountProblem or _Unreachable (the caller closes)."""
        client = session.client
        say = session.transcript.append
        try:
            greeting = await client.connect()
            mode = {"tls": "implicit TLS", "starttls": "STARTTLS", "none": "no TLS"}
            say(f"Connected to {self._where} ({mode[self.security]}).")
            say(f"Greeting: {_reply(greeting)}")
            ehlo = await client.ehlo()
            if self.security == "starttls":
                if not client.supports_extension("starttls"):
                    raise _AccountProblem(
                        f"{self._where} does not offer STARTTLS, which this account requires; "
                        f"nothing was sent and no password left Clarion. The server offered: "
                        f"{_reply(ehlo)}".replace("\n", ", "))
                await client.starttls(tls_context=tls)
                ehlo = await client.ehlo()
            if client.get_transport_info("sslcontext") is not None:
                cipher = client.get_transport_info("cipher")
                say(f"TLS: {cipher[1] if cipher else 'on'}, certificate verified for "
                    f"{self.host}.")
            say(f"EHLO: {_reply(ehlo)}".replace("\n", ", "))
            if self.username:
                if client.get_transport_info("sslcontext") is None:  # belt and braces
                    raise _AccountProblem("Refusing to log in without TLS.")
                login = await client.login(self.username, self._password or "")
                say(f"Login: {_reply(login)}")
            else:
                say("Login: none (no username set).")
            session.transport = client.transport
        except aiosmtplib.SMTPAuthenticationError as exc:
            words = f"{exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                raise _Unreachable(f"{self._where} cannot log in now: {words}") from None
            raise _AccountProblem(f"{self._where} refused the login: {words}") from None
        except aiosmtplib.SMTPResponseException as exc:
            words = f"{exc.code} {exc.message}"
            if 400 <= exc.code < 500 or exc.code < 0:
                raise _Unreachable(f"{self._where} is not taking mail now: {words}") from None
            raise _AccountProblem(f"{self._where} refused the session: {words}") from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            tls_problem = _tls_problem(exc, self._where)
            if tls_problem is not None:
                raise tls_problem from None
            if isinstance(exc, (OSError, aiosmtplib.SMTPConnectError,
                                aiosmtplib.SMTPServerDisconnected,
                                aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError)):
                raise _Unreachable(f"Cannot reach {self._where}: {exc or type(exc).__name__}") \
                    from None
            raise _AccountProblem(f"{self._where}: {exc}") from None  # e.g. no AUTH offered
        except ValueError as exc:  # aiosmtplib refuses a setting (e.g. the EHLO name)
            raise _AccountProblem(f"{self._where}: {exc}") from None

    def _bind_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._slots is None:
            for old in self._idle:  # sessions of a finished loop cannot be used here
                old.close()
            self._idle = []
            self._loop = loop
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    async def _quit(self, session: _Session) -> None:
        """Say goodbye if the session still works, then drop it."""
        if session.alive:
            try:
                await asyncio.wait_for(session.client.quit(), timeout=min(self.timeout, 5.0))
            except Exception:
                pass
        session.close()
        await asyncio.sleep(0)  # the transport finishes closing on the next loop turn

    # ---- messages -------------------------------------------------------------------------

    def freeze(self, message: OutgoingMessage, now: datetime) -> bytes | None:
        """Sender protocol: the complete MIME bytes, Date: now (stored at the first claim)."""
        try:
            return self._build(message, now)
        except Unbuildable:
            return None  # _prepare says why when it is sent

    def _build(self, message: OutgoingMessage, now: datetime) -> bytes:
        return email_bytes(message, from_name=self.from_name, from_address=self.from_address,
                           reply_to=self.reply_to, now=now)

    def _prepare(self, message: OutgoingMessage) -> _Prepared:
        """The bytes to send: those stored at the first claim, or (none stored) built now."""
        if message.wire:
            refuse_line_breaks(("address", message.address))  # the envelope's own use
            body = message.wire
        else:
            body = self._build(message, datetime.now(timezone.utc))
        return _Prepared(body=body,
                         utf8=not (message.address.isascii() and self.from_address.isascii()))

    async def _reset(self, session: _Session) -> None:
        """RSET after a refusal, so the session can carry the next message."""
        if not session.alive:
            return
        try:
            await asyncio.wait_for(session.client.rset(), timeout=min(self.timeout, 10.0))
        except Exception:
            session.close()

    def _classify_reply(self, message: OutgoingMessage, stage: str, code: int,
                        words: str, body_sent: bool) -> SendOutcome:
        d = message.delivery_id
        if code in AUTH_CODES:
            return SendOutcome(d, AUTH_FAILED, f"{self._where} refused to send without valid "
                               f"authentication: {words}")
        if 400 <= code < 500:
            return SendOutcome(d, TRANSIENT, words)
        if 500 <= code < 600:
            if stage == "MAIL":
                return SendOutcome(d, AUTH_FAILED, f"{self._where} refused the sender "
                                   f"{self.from_address}: {words}")
            if HELO_REFUSED.search(words):   # the session's name, not this recipient: every
                return SendOutcome(d, AUTH_FAILED,   # message would fail: pause the account
                                   f"{self._where} refused this computer's EHLO name "
                                   f"{self.local_hostname!r} (set the account's EHLO name to a "
                                   f"fully qualified host name): {words}")
            return SendOutcome(d, PERMANENT, words)
        if stage == "DATA" and body_sent:
            return SendOutcome(d, UNKNOWN, f"Unreadable reply after the message was sent: "
                               f"{words}")
        return SendOutcome(d, TRANSIENT, f"Unreadable reply: {words}")

    async def _transaction(self, session: _Session, message: OutgoingMessage,
                           prepared: _Prepared) -> SendOutcome | None:
        """One MAIL/RCPT/DATA exchange. None: the session was found dead at its first command
        (nothing was sent), so the caller may try again on a new one."""
        client = session.client
        d = message.delivery_id
        stage = "MAIL"
        tracker: _BodyTracker | None = None
        session.carried += 1
        try:
            options: list[str] | None = None
            encoding = "ascii"
            if prepared.utf8:
                if not client.supports_extension("smtputf8"):
                    return SendOutcome(d, PERMANENT, f"The address {message.address} needs "
                                       f"SMTPUTF8, which {self._where} does not offer.")
                options, encoding = ["SMTPUTF8"], "utf-8"
            await client.mail(self.from_address, options=options, encoding=encoding)
            stage = "RCPT"
            await client.rcpt(message.address, encoding=encoding)
            stage = "DATA"
            with _BodyTracker(client) as tracker:
                response = await client.data(prepared.body)
            words = _reply(response)
            return SendOutcome(d, SENT, words, provider_id=queue_id(response.message))
        except aiosmtplib.SMTPResponseException as exc:
            body_sent = bool(tracker and tracker.body_sent)
            await self._reset(session)
            if not body_sent and (exc.code == 421 or (stage == "MAIL" and
                                                      400 <= exc.code < 500)):
                session.refused = True
            return self._classify_reply(message, stage, exc.code, f"{exc.code} {exc.message}",
                                        body_sent)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            session.close()
            words = str(exc) or type(exc).__name__
            if stage == "DATA" and tracker is not None and tracker.body_sent:
                return SendOutcome(d, UNKNOWN, f"The connection to {self._where} was lost "
                                   f"after the message was sent, before the server "
                                   f"confirmed it: {words}")
            if stage == "MAIL" and session.carried > 1 and \
                    isinstance(exc, (ConnectionError, aiosmtplib.SMTPServerDisconnected)):
                return None
            return SendOutcome(d, TRANSIENT, f"The connection to {self._where} failed before "
                               f"the message was sent: {words}")
        except (ValueError, UnicodeError) as exc:  # control characters, unencodable address
            await self._reset(session)
            return SendOutcome(d, PERMANENT, f"The address {message.address!r} cannot be "
                               f"used: {exc}")

    async def _deliver(self, message: OutgoingMessage, session: _Session | None,
                       batch: _Batch, begin: Begin) -> tuple[SendOutcome | None, _Session | None]:
        """Send one message, opening a session when needed. (None, None): no session could be
        opened now; (None, session): the outbox withheld it (batch.withheld). Either way the
        message was not attempted."""
        try:
            prepared = self._prepare(message)
        except Unbuildable as exc:
            return SendOutcome(message.delivery_id, PERMANENT, str(exc)), session
        except (ValueError, UnicodeError) as exc:   # any other header problem: nothing left
            return SendOutcome(message.delivery_id, PERMANENT,  # here, so it is no "unknown"
                               f"The message cannot be built: {exc}; nothing was sent."), session
        while True:
            if session is not None and (not session.alive
                                        or session.carried >= self.per_connection):
                await self._quit(session)
                session = None
            if session is None:
                try:
                    session = await self._open()
                except _AccountProblem as exc:
                    batch.stop(str(exc))
                    return SendOutcome(message.delivery_id, AUTH_FAILED, str(exc)), None
                except _Unreachable as exc:
                    batch.offline_detail = str(exc)
                    return None, None
            if not await begin(message.delivery_id):  # its start is recorded before MAIL
                batch.withheld = True
                return None, session
            outcome = await self._transaction(session, message, prepared)
            if outcome is not None:
                break
            # A reused session had died before MAIL FROM: once more on a fresh one, which
            # always gives an outcome (_transaction answers None only on a reused session).
            session.close()
            session = None
        if outcome.result == AUTH_FAILED:
            batch.stop(outcome.detail)
        return outcome, session

    async def _worker(self, batch: _Batch, on_outcome: Callable[[SendOutcome], None],
                      slots: asyncio.Semaphore, begin: Begin) -> None:
        async with slots:
            session = self._idle.pop() if self._idle else None
            refused: _Session | None = None   # this worker's session, refused by the relay
            batch.active += 1
            worked = False
            try:
                while batch.pending and not batch.stop_detail and not batch.withheld:
                    message = batch.pending.popleft()
                    try:
                        outcome, session = await self._deliver(message, session, batch, begin)
                    except Exception as exc:  # a bug of ours: never claim it went out
                        log.exception("email delivery %s failed unexpectedly",
                                      message.delivery_id)
                        if session is not None:
                            session.close()
                            session = None
                        outcome = SendOutcome(message.delivery_id, UNKNOWN,
                                              f"Internal error while sending: {exc!r}")
                    if outcome is None and batch.withheld:
                        batch.pending.appendleft(message)
                        return
                    if outcome is None:  # no session could be opened: others may get through
                        batch.pending.appendleft(message)
                        batch.refused = True
                        return
                    if session is not None and session.refused:
                        session.refused = False
                        batch.refused = True
                        if batch.active > 1:  # the others carry it: this session ends
                            batch.pending.appendleft(message)
                            batch.offline_detail = outcome.detail
                            refused, session = session, None
                            return      # (counted out below before anything else runs)
                    if outcome.result in (SENT, PERMANENT) and not worked:
                        worked = True
                        batch.worked += 1
                    on_outcome(outcome)
            finally:
                batch.active -= 1
                if refused is not None:
                    await self._quit(refused)
                if session is not None:
                    if session.alive and not batch.stop_detail:
                        self._idle.append(session)
                    else:
                        await self._quit(session)

    @property
    def in_flight(self) -> int:
        """Sender protocol: messages on the wire at once, at most (one per connection)."""
        return self.concurrency

    async def send(self, messages: Sequence[OutgoingMessage],
                   on_outcome: Callable[[SendOutcome], None],
                   begin: Begin = go_ahead) -> None:
        pending: deque[OutgoingMessage] = deque()
        for message in messages:
            if message.is_drill:  # a drill never leaves Clarion, whatever the account
                on_outcome(drill_outcome(message))
            else:
                pending.append(message)
        if not pending:
            return
        problem = self.config_problem()
        if problem:
            for message in pending:
                on_outcome(SendOutcome(message.delivery_id, AUTH_FAILED, problem))
            return
        slots = self._bind_loop()
        batch = _Batch(pending)
        workers = min(self.ceiling, len(pending))
        await run_workers(self._worker(batch, on_outcome, slots, begin)
                          for _ in range(workers))
        if batch.withheld:   # the outbox stops: what is left was never attempted, and it
            return           # knows which (nothing is reported for them)
        if batch.refused and 0 < batch.worked < self.ceiling:
            log.info("%s took %d connection(s) at a time, not %d: using %d from now on",
                     self._where, batch.worked, workers, batch.worked)
            self.ceiling = batch.worked
        elif not batch.refused and workers == self.ceiling < self.concurrency:
            self.ceiling += 1   # the relay took them all this time: try one more next time
        if batch.stop_detail:
            result, detail = AUTH_FAILED, batch.stop_detail
        else:
            result = TRANSIENT
            detail = batch.offline_detail or f"Not attempted: {self._where} was not reachable."
        while batch.pending:
            on_outcome(SendOutcome(batch.pending.popleft().delivery_id, result, detail))

    async def test_connection(self) -> str:
        problem = self.config_problem()
        if problem:
            raise ClarionError(problem)
        try:
            session = await self._open()
        except (_AccountProblem, _Unreachable) as exc:
            raise ClarionError(str(exc)) from None
        await self._quit(session)
        return "\n".join(session.transcript)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for session in idle:
            if running is not None and running is self._loop:
                await self._quit(session)
            else:
                session.close()
