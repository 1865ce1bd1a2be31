"""A real MTA for the tests (issue 18): a private Postfix instance with STARTTLS (a certificate
made at test time), SASL AUTH through a private Dovecot auth socket, and delivery into Maildirs
that the tests read back byte for byte.

Everything lives in one temporary folder: Postfix's config, queue and data directories, its
mail log, Dovecot's base/state directories and password file, the Maildirs. Both servers run in
the FOREGROUND as children of the pytest process (`master -d`, `dovecot -F`), on free ports of
127.0.0.1, and are stopped with SIGTERM + wait() (never by process name: another Postfix or
Dovecot on the machine looks the same). Daemonizing commands (`postfix start`) are not used:
PID 1 here does not reap orphans.

Two smtpd listeners: `port` (submission-like: STARTTLS, AUTH only over TLS, relaying only for
authenticated clients, virtual domain example.test delivered into Maildirs) and `strict_port`,
the same plus `smtpd_helo_required = yes` and `smtpd_helo_restrictions =
reject_non_fqdn_helo_hostname`, to show how a refused EHLO name is reported.

Where Postfix or Dovecot is not installed or does not start, `postfix` skips the tests that use
it and says why (with the tail of the logs): never a mock in its place. `.ci/run` installs the
packages (postfix, dovecot-core)."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from smtp_fixtures import free_port, make_cert

USER = "clarion@clarion.example.test"
PASSWORD = "mta-pa55-word"
DOMAIN = "example.test"            # Postfix delivers this virtual domain into Maildirs
NOBODY = 65534                     # Maildir owner (Dovecot refuses uid 0)
MAILBOX = "all"                    # every address of DOMAIN lands in this one Maildir
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
START_TIMEOUT = 10.0


class MTAUnavailable(Exception):
    """Postfix or Dovecot is missing or would not start: the tests skip with this reason."""


def _wait_for(predicate, timeout: float, poll: float = 0.02) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(poll)


def _greets(port: int) -> bool:
    """True once an SMTP greeting ("220 ...") arrives on 127.0.0.1:port (an accepted connect
    alone is not enough: the master accepts before smtpd is ready)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            banner = s.recv(512)
            if banner.startswith(b"220"):
                s.sendall(b"QUIT\r\n")
                return True
    except OSError:
        pass
    return False


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _age(*paths: Path) -> None:
    """Date config files 60 s back: Postfix waits for a config file written "just now"."""
    past = time.time() - 60
    for p in paths:
        os.utime(p, (past, past))


@dataclass
class PostfixInstance:
    root: Path
    port: int
    strict_port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    domain: str = DOMAIN
    _master: subprocess.Popen | None = None
    _dovecot: subprocess.Popen | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- paths
    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def ca_file(self) -> Path:
        """The test certificate (self-signed, DNS:localhost + IP:127.0.0.1) a client trusts."""
        return self.root / "tls" / "server.crt"

    @property
    def maildir(self) -> Path:
        """Base of the Maildirs; everything for DOMAIN is in <maildir>/all/{new,cur,tmp}."""
        return self.root / "maildir"

    @property
    def mail_log_path(self) -> Path:
        return self.root / "mail.log"

    @property
    def dovecot_log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def auth_socket(self) -> Path:
        return self.root / "dovecot" / "run" / "auth-postfix"

    @property
    def mail_log(self) -> str:
        """Postfix's and Dovecot's logs (for debugging failures)."""
        return (f"--- postfix {self.mail_log_path}\n{_tail(self.mail_log_path, 200)}\n"
                f"--- dovecot {self.dovecot_log_path}\n{_tail(self.dovecot_log_path, 50)}\n"
                f"--- master stderr\n{_tail(self.root / 'master.out', 30)}")

    # ---- delivered mail
    def delivered(self) -> list[bytes]:
        """The bytes of every message delivered so far, oldest first (one file per recipient:
        Postfix's virtual agent adds Delivered-To and X-Original-To). Only new/ is read:
        Postfix writes into tmp/ and renames, so a file in new/ is complete."""
        new = self.maildir / MAILBOX / "new"
        files = list(new.iterdir()) if new.is_dir() else []
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.read_bytes() for p in files]

    def messages(self) -> list[email.message.EmailMessage]:
        """delivered(), parsed with the email package's modern policy."""
        return [email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore
                for raw in self.delivered()]

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[bytes]:
        """Wait until at least `count` messages are in the Maildir; returns them all."""
        got: list[bytes] = []

        def enough() -> bool:
            nonlocal got
            got = self.delivered()
            return len(got) >= count
        if not _wait_for(enough, timeout, poll=0.05):
            raise AssertionError(f"{len(got)} of {count} messages delivered within {timeout} s"
                                 f"\n{self.mail_log}")
        return got

    def clear(self) -> None:
        """Empty every Maildir (between tests)."""
        for sub in ("new", "cur"):
            folder = self.maildir / MAILBOX / sub
            for p in folder.iterdir() if folder.is_dir() else ():
                p.unlink()

    def queue_listing(self) -> str:
        """The queue's files with their modes (for a failure message)."""
        spool = self.root / "spool"
        return "\n".join(f"{f.relative_to(spool)} {oct(f.stat().st_mode)}"
                         for sub in ("incoming", "active", "deferred", "maildrop", "hold")
                         for f in sorted((spool / sub).rglob("*"))
                         if f.is_file()) or "(the queue is empty)"

    def wait_until_queue_empty(self, timeout: float = 10.0) -> bool:
        """True once Postfix's queue holds nothing (incoming, active, deferred)."""
        def empty() -> bool:
            for sub in ("incoming", "active", "deferred", "maildrop"):
                d = self.root / "spool" / sub
                if d.is_dir() and any(f.is_file() and _complete(f) for f in d.rglob("*")):
                    return False
            return True
        return _wait_for(empty, timeout, poll=0.05)

    # ---- processes
    def start(self) -> None:
        """Start Dovecot (if not running) and Postfix's master, in the foreground, and wait
        until both listeners greet."""
        with self._lock:
            if self._dovecot is None or self._dovecot.poll() is not None:
                self._start_dovecot()
            if self._master is None or self._master.poll() is not None:
                self._start_master()

    def _start_dovecot(self) -> None:
        if self.auth_socket.exists():
            self.auth_socket.unlink()
        with open(self.root / "dovecot.out", "ab") as out:
            self._dovecot = subprocess.Popen(
                ["dovecot", "-F", "-c", str(self.root / "dovecot.conf")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        if not _wait_for(lambda: self.auth_socket.exists() or self._dovecot.poll() is not None,
                         START_TIMEOUT) or not self.auth_socket.exists():
            raise MTAUnavailable(f"Dovecot's auth socket did not appear (exit "
                                 f"{self._dovecot.poll()})\n"
                                 f"{_tail(self.root / 'dovecot.out')}\n"
                                 f"{_tail(self.dovecot_log_path)}")

    def _start_master(self) -> None:
        pid_file = self.root / "spool" / "pid" / "master.pid"
        if pid_file.exists():
            pid_file.unlink()
        # what `postfix start` does first: a message a stopped cleanup was still writing (never
        # acknowledged to the client) is a temporary file nobody will finish; purge it
        subprocess.run(["postsuper", "-c", str(self.etc), "-p"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
        with open(self.root / "master.out", "ab") as out:
            self._master = subprocess.Popen(
                [POSTFIX_MASTER, "-d", "-c", str(self.etc)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                # its own process group: on SIGTERM the master signals its group (its
                # children); in ours they would live on, holding the listening socket and
                # accepting connections that nobody greets
                start_new_session=True)

        def up() -> bool:
            return self._master.poll() is not None or \
                (_greets(self.port) and _greets(self.strict_port))
        if not _wait_for(up, START_TIMEOUT, poll=0.05) or self._master.poll() is not None:
            raise MTAUnavailable(f"Postfix's master did not greet on ports {self.port} and "
                                 f"{self.strict_port} (exit {self._master.poll()})\n"
                                 f"{self.mail_log}")

    def stop(self, dovecot: bool = False) -> None:
        """Stop Postfix's master (SIGTERM stops it and its children), and Dovecot too when
        `dovecot`. Waits for the processes to end."""
        with self._lock:
            procs = [self._master] + ([self._dovecot] if dovecot else [])
            for proc in procs:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()        # this process only, by its id
                    proc.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self._master is not None and self._master.poll() is None

    def route(self, domain: str, port: int) -> None:
        """Relay mail for `domain` to an SMTP server on 127.0.0.1:port (what it answers —
        a 550 for a bounce — is then Postfix's to report), and have the running master take
        the new setting (SIGHUP, as `postfix reload` does)."""
        subprocess.run(["postconf", "-c", str(self.etc), "-e",
                        f"transport_maps = inline:{{ {{{domain} = smtp:[127.0.0.1]:{port}}} }}"],
                       check=True, capture_output=True, timeout=30)
        _age(self.etc / "main.cf")
        with self._lock:
            if self._master is not None and self._master.poll() is None:
                self._master.send_signal(signal.SIGHUP)


def _complete(queue_file: Path) -> bool:
    """Postfix marks a queue file complete with its owner-execute bit; a file without it was
    being written when its process stopped (the client never got a 250 for it)."""
    try:
        return bool(queue_file.stat().st_mode & stat.S_IXUSR)
    except FileNotFoundError:
        return False


def _write_config(root: Path, port: int, strict_port: int) -> None:
    etc, spool = root / "etc", root / "spool"
    for d in (etc, spool, root / "data", root / "tls", root / "dovecot" / "run",
              root / "dovecot" / "state", root / "maildir"):
        d.mkdir(parents=True, exist_ok=True)
    os.chown(root / "data", _uid("postfix"), -1)        # Postfix's data_directory
    os.chown(root / "maildir", NOBODY, NOBODY)          # the virtual agent runs as nobody
    cert = make_cert(root / "tls")
    os.chmod(cert.key, 0o600)

    users = root / "dovecot" / "users"
    users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    os.chown(users, 0, _gid("dovecot"))
    os.chmod(users, 0o640)
    instance = f"clarion-test-{os.getpid()}-{port}"
    (root / "dovecot.conf").write_text(f"""\
# Dovecot here is only the SASL authority for Postfix: no IMAP/POP3 listener.
instance_name = {instance}
base_dir = {root}/dovecot/run
state_dir = {root}/dovecot/state
log_path = {root}/dovecot.log
protocols =
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users}
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={root}/maildir/%n
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""")

    (etc / "main.cf").write_text(f"""\
# A private Postfix instance for the tests (tests/integration/mta_fixtures.py).
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {spool}
data_directory = {root}/data
mail_owner = postfix
maillog_file = {root}/mail.log
maillog_file_prefixes = {root}
myhostname = mta.clarion.test
mydomain = clarion.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.1/32
relayhost =
default_transport = error:5.7.1 nothing leaves the test MTA
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtputf8_enable = yes
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_banner = $myhostname ESMTP Clarion test MTA
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_base = {root}/maildir
virtual_mailbox_maps = static:{MAILBOX}/
virtual_uid_maps = static:{NOBODY}
virtual_gid_maps = static:{NOBODY}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_cert_file = {cert.cert}
smtpd_tls_key_file = {cert.key}
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {root}/dovecot/run/auth-postfix
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
""")
    services = [
        f"127.0.0.1:{port} inet n - n - - smtpd",
        (f"127.0.0.1:{strict_port} inet n - n - - smtpd"
         " -o smtpd_helo_required=yes -o smtpd_helo_restrictions=reject_non_fqdn_helo_hostname"),
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "local unix - n n - - local",
        "virtual unix - n n - - virtual",
        "lmtp unix - - n - - lmtp",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ]
    (etc / "master.cf").write_text("# every service unchrooted (chroot column: n)\n"
                                   + "\n".join(services) + "\n")
    _age(etc / "main.cf", etc / "master.cf")


def _uid(name: str) -> int:
    import pwd
    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    import grp
    return grp.getgrnam(name).gr_gid


def start_postfix() -> PostfixInstance:
    """Build and start a private instance; raises MTAUnavailable with the reason."""
    missing = [tool for tool in ("postconf", "postfix", "dovecot") if not shutil.which(tool)]
    if missing:
        raise MTAUnavailable(f"not installed: {', '.join(missing)} "
                             f"(apt-get install postfix dovecot-core; see .ci/run)")
    if not os.access(POSTFIX_MASTER, os.X_OK):
        raise MTAUnavailable(f"{POSTFIX_MASTER} missing")
    if os.geteuid() != 0:
        raise MTAUnavailable("a private Postfix master must run as root here")
    try:
        _uid("postfix"), _gid("dovecot")
    except KeyError as exc:
        raise MTAUnavailable(f"system user/group missing: {exc}") from None
    # pytest's temp folders are 0700: Postfix's and Dovecot's users could not enter them
    root = Path(tempfile.mkdtemp(prefix="clarion-mta-", dir="/tmp"))
    os.chmod(root, 0o755)
    instance = None
    try:
        port = free_port()
        strict_port = free_port()
        while strict_port == port:
            strict_port = free_port()
        _write_config(root, port, strict_port)
        check = subprocess.run(["postfix", "-c", str(root / "etc"), "check"],
                               capture_output=True, text=True, timeout=30, check=False)
        if check.returncode != 0:
            raise MTAUnavailable(f"postfix check failed: {check.stdout}{check.stderr}")
        instance = PostfixInstance(root, port, strict_port)
        instance.start()
        return instance
    except BaseException:
        if instance is not None:
            instance.stop(dovecot=True)
        shutil.rmtree(root, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def postfix() -> Iterator[PostfixInstance]:
    """A running private Postfix (+ Dovecot auth) for the session; skips with the reason when
    it cannot start. Always stopped and its folder removed at the end."""
    try:
        instance = start_postfix()
    except MTAUnavailable as exc:
        pytest.skip(f"Postfix could not start: {exc}")
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"Postfix could not start: {type(exc).__name__}: {exc}")
    try:
        yield instance
    finally:
        instance.stop(dovecot=True)
        shutil.rmtree(instance.root, ignore_errors=True)


@pytest.fixture
def mta(postfix: PostfixInstance) -> Iterator[PostfixInstance]:
    """The session's Postfix, running, with empty Maildirs (for one test)."""
    if not postfix.running:
        postfix.start()
    postfix.clear()
    yield postfix
