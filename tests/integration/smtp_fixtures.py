"""Real SMTP servers on 127.0.0.1 for the channel tests: a self-signed certificate made at test
time, an aiosmtpd handler that records what arrives (sessions, AUTH attempts, messages) and can
be told to answer chosen recipients with chosen replies, and a context manager that runs it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.sending.channels.base import AccountDTO, OutgoingMessage

USER, PASSWORD = "clarion", "s3cret-pa55"


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_cert(folder: Path, name: str = "server",
              dns_names: tuple[str, ...] = ("localhost",), ip: str | None = "127.0.0.1") -> Cert:
    """A self-signed certificate, by default for DNS:localhost and IP:127.0.0.1 (made with
    cryptography: no openssl CLI needed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Clarion test relay")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in dns_names]
                + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(cert_path, key_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    session: Any
    mail_options: list[str] = field(default_factory=list)

    @property
    def parsed(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore


@dataclass
class Recorder:
    """aiosmtpd handler + authenticator. Faults: address -> reply, at RCPT or at DATA;
    `drop_after_data`: addresses whose DATA is received and then the connection is cut;
    `hang_at`: addresses for which the server never answers RCPT, or never confirms DATA;
    `cut_at_data`: addresses whose DATA command is answered by hanging up, before the 354 that
    would ask for the body (needs smtp_server(..., wiretap=True)).
    (No attribute may start with "auth_": aiosmtpd would offer it as an AUTH mechanism.)"""
    rcpt_faults: dict[str, str] = field(default_factory=dict)
    data_faults: dict[str, str] = field(default_factory=dict)
    drop_after_data: set[str] = field(default_factory=set)
    hang_at: dict[str, str] = field(default_factory=dict)   # address -> "RCPT" | "DATA"
    cut_at_data: set[str] = field(default_factory=set)
    drop_at_rcpt: set[str] = field(default_factory=set)      # hang up instead of answering RCPT
    drop_at_mail: bool = False                               # hang up at every MAIL FROM
    rcpt_seen: list[str] = field(default_factory=list)       # every RCPT TO, in order
    mail_faults: list[str] = field(default_factory=list)     # answers to the next MAIL FROMs
    # what a relay over its connection limit answers to MAIL FROM (Exchange Online's words)
    over_limit_reply: str = "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
    # ... and what it says instead of its greeting (with refuse_at="greeting")
    over_limit_greeting: str = "421 4.7.0 Too many connections from your address, try later"
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    sessions: list[Any] = field(default_factory=list)        # one per session that sent MAIL
    transports: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # a relay that takes `max_sessions` connections at a time (see smtp_server)
    open_sessions: int = 0
    peak_sessions: int = 0
    refused_sessions: int = 0
    # `login_reply`: the answer to every AUTH instead of checking the credentials (e.g.
    # "454 4.7.0 Temporary authentication failure"); None: 235 for USER/PASSWORD, else 535
    login_reply: str | None = None
    # (mechanism, over TLS?) of every AUTH command that reached the server
    login_commands: list[tuple[str, bool]] = field(default_factory=list)
    # every byte the server read (after TLS decryption), with smtp_server(..., wiretap=True)
    heard: bytearray = field(default_factory=bytearray)

    # authenticator(server, session, envelope, mechanism, auth_data)
    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.lock:
            self.logins.append((login, password))
        if self.login_reply is not None:
            return AuthResult(success=False, handled=False, message=self.login_reply)
        ok = (login, password) == (USER, PASSWORD)
        return AuthResult(success=ok, handled=False)

    async def handle_AUTH(self, server: Any, session: Any, envelope: Any,
                          args: list[str]) -> Any:
        """Note the AUTH command (mechanism, and whether TLS is on), then let aiosmtpd go on
        as usual (MISSING: "no hook's answer")."""
        with self.lock:
            self.login_commands.append((args[0] if args else "",
                                        server.transport.get_extra_info("sslcontext")
                                        is not None))
        return MISSING

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if getattr(server, "over_limit", False):
            return self.over_limit_reply
        if self.drop_at_mail:
            server.transport.abort()
            return "250 never sent"
        with self.lock:
            if not any(s is session for s in self.sessions):
                self.sessions.append(session)
                self.transports.append(server.transport)
        with self.lock:
            fault = self.mail_faults.pop(0) if self.mail_faults else None
        if fault is not None:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            self.rcpt_seen.append(address)
        if self.hang_at.get(address) == "RCPT":
            await self._hang(server)
        if address in self.drop_at_rcpt:
            server.transport.abort()
            return "250 never sent"
        if address in self.rcpt_faults:
            return self.rcpt_faults[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            if rcpt not in self.data_faults:
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                              bytes(envelope.original_content), session,
                                              list(envelope.mail_options)))
        if self.hang_at.get(rcpt) == "DATA":
            await self._hang(server)
        if rcpt in self.drop_after_data:
            server.transport.abort()   # the message is here; the client never hears so
            return "250 never sent"
        if rcpt in self.data_faults:
            return self.data_faults[rcpt]
        n = len(self.received)
        return f"250 2.0.0 Ok: queued as Q{n:05d}"

    @staticmethod
    async def _hang(server: Any) -> None:
        try:
            await asyncio.Event().wait()           # never answer, until the controller stops
        finally:
            server.transport.abort()

    def message_ids(self) -> list[str]:
        return [r.parsed["Message-ID"] for r in self.received]

    def close_idle_sessions(self, controller: Controller, reply: bytes = b"",
                            hang_up: bool = True) -> None:
        """Cut every session the server holds, as a relay does after its idle timeout (Postfix
        says "421 4.4.2 … Error: timeout exceeded" first: pass it as `reply`). With `hang_up`
        False only the reply is sent, as when the hang-up has not reached the client yet."""
        done = threading.Event()

        def cut() -> None:
            for transport in self.transports:
                if reply and not transport.is_closing():
                    transport.write(reply)
                if hang_up:
                    transport.close()
            done.set()
        controller.loop.call_soon_threadsafe(cut)
        assert done.wait(5)


class _LimitedSMTP(SMTP):
    """A relay that takes `limit` connections at a time. Beyond it, with `refuse_at`
    "greeting" it answers 421 instead of its greeting and hangs up (Postfix, most relays);
    with "MAIL" it greets, logs in and then refuses every MAIL FROM with a 4xx."""

    recorder: Recorder
    limit: int
    refuse_at: str
    over_limit = False

    async def _handle_client(self) -> None:
        rec = self.recorder
        with rec.lock:
            self.over_limit = rec.open_sessions >= self.limit
            if self.over_limit:
                rec.refused_sessions += 1
            else:
                rec.open_sessions += 1
                rec.peak_sessions = max(rec.peak_sessions, rec.open_sessions)
        try:
            if self.over_limit and self.refuse_at == "greeting":
                await self.push(rec.over_limit_greeting)
                self.transport.close()
                return
            await super()._handle_client()
        finally:
            if not self.over_limit:
                with rec.lock:
                    rec.open_sessions -= 1


class _LimitedController(Controller):
    def __init__(self, recorder: Recorder, *, limit: int, refuse_at: str, **kwargs: Any) -> None:
        super().__init__(recorder, **kwargs)
        self._limits = (recorder, limit, refuse_at)

    def factory(self) -> SMTP:
        smtp = _LimitedSMTP(self.handler, **self.SMTP_kwargs)
        smtp.recorder, smtp.limit, smtp.refuse_at = self._limits
        return smtp


class _TappedSMTP(SMTP):
    """A relay that keeps every byte it reads in `recorder.heard` (to show that something,
    e.g. a password in any encoding, never reached it), and that may answer STARTTLS with
    `starttls_reply` (e.g. "454 4.7.0 TLS not available") while still advertising it."""

    recorder: Recorder
    starttls_reply: str | None

    def data_received(self, data: bytes) -> None:
        with self.recorder.lock:
            self.recorder.heard.extend(data)
        super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and \
                set(self.envelope.rcpt_tos) & self.recorder.cut_at_data:
            self.transport.abort()      # the DATA command heard, no 354 said, nothing read
            return
        await super().smtp_DATA(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.starttls_reply is not None:
            await self.push(self.starttls_reply)
            return
        await super().smtp_STARTTLS(arg)


class _TappedController(Controller):
    def __init__(self, recorder: Recorder, *, starttls_reply: str | None,
                 **kwargs: Any) -> None:
        super().__init__(recorder, **kwargs)
        self._tap = (recorder, starttls_reply)

    def factory(self) -> SMTP:
        smtp = _TappedSMTP(self.handler, **self.SMTP_kwargs)
        smtp.recorder, smtp.starttls_reply = self._tap
        return smtp


@contextlib.contextmanager
def smtp_server(recorder: Recorder, cert: Cert | None, *, implicit_tls: bool = False,
                starttls: bool = True, auth: bool = True, max_sessions: int | None = None,
                refuse_at: str = "greeting", port: int | None = None,
                auth_in_clear: bool = False, wiretap: bool = False,
                starttls_reply: str | None = None,
                auth_exclude: tuple[str, ...] = (),
                smtputf8: bool = False) -> Iterator[Controller]:
    """aiosmtpd on 127.0.0.1:<free port>. STARTTLS offered and required when `starttls` and a
    certificate is given; AUTH required when `auth` (over TLS only, unless no TLS is offered,
    so that we can show that our side never sends credentials in clear). With `max_sessions`,
    the relay takes that many connections at a time and refuses more (see _LimitedSMTP).
    `auth_in_clear`: a badly configured relay that offers and accepts AUTH before STARTTLS
    (STARTTLS still offered, not required). `wiretap`: every byte the server reads is kept in
    `recorder.heard`, and `recorder.cut_at_data` applies. `starttls_reply`: STARTTLS is
    advertised but answered with this reply
    (both imply `wiretap`; see _TappedSMTP). `auth_exclude`: AUTH mechanisms not offered
    (e.g. ("LOGIN",) for a relay that offers PLAIN only). `smtputf8`: the relay offers SMTPUTF8
    (internationalised addresses such as zoë@example.com)."""
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    if implicit_tls:
        assert cert is not None
        kwargs["ssl_context"] = cert.server_context()
    elif starttls and cert is not None:
        kwargs.update(tls_context=cert.server_context(), require_starttls=not auth_in_clear)
    if auth:
        kwargs.update(authenticator=recorder, auth_required=True,
                      auth_require_tls=not auth_in_clear and
                      bool(cert is not None and (starttls or implicit_tls)))
        if auth_exclude:
            kwargs["auth_exclude_mechanism"] = list(auth_exclude)
    if wiretap or starttls_reply is not None:
        assert max_sessions is None, "a tapped relay takes any number of connections"
        controller: Controller = _TappedController(
            recorder, starttls_reply=starttls_reply, hostname="127.0.0.1",
            port=port or free_port(), **kwargs)
    elif max_sessions is not None:
        controller = _LimitedController(
            recorder, limit=max_sessions, refuse_at=refuse_at, hostname="127.0.0.1",
            port=port or free_port(), **kwargs)
    else:
        controller = Controller(recorder, hostname="127.0.0.1", port=port or free_port(),
                                **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def email_account(controller_port: int, *, security: str = "starttls",
                  ca_file: Path | None = None, username: str | None = USER,
                  concurrency: int = 2, timeout: float = 5.0, **extra: Any) -> AccountDTO:
    settings: dict[str, Any] = {
        "host": "127.0.0.1", "port": controller_port, "security": security,
        "from_address": "alerts@example.com", "from_name": "Harbor IT Alerts",
        "concurrency": concurrency, "timeout": timeout, "local_hostname": "clarion.test"}
    if ca_file is not None:
        settings["ca_file"] = str(ca_file)
    if username:
        settings["username"] = username
    settings.update(extra)
    return AccountDTO(id=1, kind="email", name="Relay", settings=settings)


def outgoing(n: int, *, address: str | None = None, subject: str | None = None,
             text: str = "The portal is down; next update at 16:30.", html: str = "",
             channel: str = "email", is_drill: bool = False) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id=n, channel=channel, address=address or f"user{n}@example.com",
        recipient_name=f"User {n}", subject=subject or f"Incident update {n}", text=text,
        html=html, email_message_id=f"<msg-{n}@clarion.test>", idempotency_key=f"key-{n}",
        is_drill=is_drill)
