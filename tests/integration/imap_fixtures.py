"""A real IMAP server for the tests: a private Dovecot 2.3 (Debian's dovecot-imapd), never a mock.
Clarion reads the coordinator's mailbox over IMAP (bounces, replies); these fixtures give the
tests a server to read from, with mail dropped straight into its Maildirs.

Use it like the other server fixtures (tests/integration/mta_fixtures.py): import the fixture
functions into the test module. They are registered under the names `imap_server` and `imap`
(`@pytest.fixture(name=...)`), so a test's `imap` parameter does not shadow an import (no F811):

    from imap_fixtures import ImapServer, imap_fixture, imap_server_fixture  # noqa: F401

    def test_reads_a_bounce(imap: ImapServer):
        imap.deliver(b"From: MAILER-DAEMON@clarion.test\\r\\nSubject: failed\\r\\n\\r\\nbody\\r\\n")
        with IMAPClient(imap.host, imap.tls_port, ssl_context=imap.ssl_context()) as client:
            client.login(imap.user, imap.password)
            ...
        assert imap.flags() == [set()]             # still unread: no \\Seen in the Maildir

`imap_server` (session scope) starts Dovecot once; `imap` (every test) makes sure it is running,
disconnects every IMAP session left over and empties the users' Maildirs (every folder, the
indexes, the UID lists), so each test starts with an empty INBOX, UIDs from 1 and a new
UIDVALIDITY. Where Dovecot is not installed or does not start, the tests that use it skip and
say why (with the tail of its log).

The server: `dovecot -F` in the foreground as a child of pytest (its own session: stopped with
SIGTERM + wait(), never by process name), everything in one temporary folder (config, base and
state directories, log, certificate, the users' homes), listening on 127.0.0.1 only:

- `tls_port`: implicit TLS (like 993); `starttls_port`: plain with STARTTLS (like 143).
- `ssl = required` and `disable_plaintext_auth = yes`, `login_trusted_networks` empty. Dovecot
  counts a connection as secure when the client's address is the address it connected to, so
  127.0.0.1 -> 127.0.0.1 may LOGIN without TLS. To see "no login before TLS", connect from
  `insecure_source` (127.0.0.2, which the kernel routes on lo) to 127.0.0.1: the greeting then
  advertises LOGINDISABLED and LOGIN answers NO [PRIVACYREQUIRED] until STARTTLS.
- the certificate (`ca_file`, DNS:localhost + IP:127.0.0.1) is made at start; `ssl_context()`
  is a client context that trusts it. TLS 1.2 at least.
- users in a passwd-file (`user`/`password`, `other_user`/`other_password`), mail owned by uid
  65534 (Dovecot refuses uid 0), `~/Maildir` in Maildir++ layout, hierarchy separator "/"
  (folder "Clarion/Bounces" is the directory `.Clarion.Bounces`; "." is not allowed in names).
- a wrong password fails at once (well under 0.01 s): `auth_failure_delay = 0` is not enough in
  Dovecot 2.3.19 (failures still wait for a 500 ms timer), so a first passdb that authenticates
  nobody sets the `nodelay` field; and no anvil auth penalty.
- IDLE: Dovecot watches the Maildir with inotify and reports new mail about 0.5 s after
  `deliver()`; `mailbox_idle_check_interval = 1 secs` (default 30 s) is the fallback poll.
- `mail_max_userip_connections = 100` (default 10: a few tests' clients for one user and one
  address would reach it).

Maildir notes: `deliver()` writes into tmp/, chowns to 65534 and renames into new/ (or into cur/
with ":2,S" when `seen`). When a client SELECTs the folder, Dovecot moves the files of new/ into
cur/ and appends ":2,<flags>" (so a Path returned by deliver() may no longer exist: use
`messages()`/`flags()`, which read new/ and cur/). Flags live in the file names (S = \\Seen,
R = \\Answered, F = \\Flagged, T = \\Deleted, D = \\Draft, a-z = keywords); Dovecot renames a
file as soon as a client changes its flags. `uidvalidity()`, `uidnext()`, `kick()`,
`sessions()` and `reset_uidvalidity()` use `doveadm` on this instance and need the server
running; `create_folder()` uses it when the server runs (created and subscribed) and only makes
the Maildir++ directories when it is stopped.

Starting takes about 0.05 s, stopping about 1 s (Dovecot's master lingers a second on SIGTERM).
`.ci/run` installs the packages (dovecot-core, dovecot-imapd)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mta_fixtures import _gid, _tail, _wait_for
from smtp_fixtures import free_port, make_cert

USER = "coordinator@clarion.test"
PASSWORD = "imap-pa55-word"
OTHER_USER = "observer@clarion.test"
OTHER_PASSWORD = "imap-0ther-w0rd"
NOBODY = 65534                      # owner of every Maildir (Dovecot refuses to run mail as uid 0)
INSECURE_SOURCE = "127.0.0.2"       # a loopback address Dovecot does not count as secure
IMAP_BINARY = Path("/usr/lib/dovecot/imap")     # Debian's dovecot-imapd
START_TIMEOUT = 10.0
# Maildir flag letters -> IMAP system flags (a-z are keywords, named in dovecot-keywords)
_FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                 "T": "\\Deleted"}


class ImapUnavailable(Exception):
    """Dovecot is missing or would not start: the tests skip with this reason."""


@dataclass(frozen=True)
class StoredMessage:
    """One message file of a Maildir folder."""
    path: Path
    uid: int | None          # from dovecot-uidlist; None until Dovecot has seen the file
    flags: frozenset[str]    # IMAP names: {"\\Seen", "\\Flagged", "$Forwarded", ...}

    @property
    def unseen(self) -> bool:
        return "\\Seen" not in self.flags

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def _greets(port: int, context: ssl.SSLContext | None = None) -> bool:
    """True once an IMAP greeting ("* OK") arrives on 127.0.0.1:port, over TLS when `context`
    is given (an accepted connect alone is not enough)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            raw.settimeout(2)
            if context is None:
                return raw.recv(512).startswith(b"* OK")
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return tls.recv(512).startswith(b"* OK")
    except (OSError, ssl.SSLError):
        return False


def _process_group_alive(pgid: int) -> bool:
    """Whether a live process is left in the group (from /proc: zombies that PID 1 has not
    reaped yet do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@dataclass
class ImapServer:
    root: Path
    tls_port: int
    starttls_port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    other_user: str = OTHER_USER
    other_password: str = OTHER_PASSWORD
    insecure_source: str = INSECURE_SOURCE
    start_seconds: float = 0.0           # how long the last start() took
    _proc: subprocess.Popen | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _sequence: int = 0

    # ---- paths and settings
    @property
    def ca_file(self) -> Path:
        """The test certificate (self-signed, DNS:localhost + IP:127.0.0.1) a client trusts."""
        return self.root / "tls" / "server.crt"

    @property
    def conf_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def users(self) -> dict[str, str]:
        """Every account: address -> password."""
        return {self.user: self.password, self.other_user: self.other_password}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server against `ca_file` (host 127.0.0.1 or
        localhost)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def home(self, user: str | None = None) -> Path:
        return self.root / "home" / (user or self.user)

    def maildir(self, folder: str = "INBOX", user: str | None = None) -> Path:
        """The Maildir directory of a folder: ~/Maildir for INBOX, ~/Maildir/.A.B for "A/B"
        (Maildir++)."""
        base = self.home(user) / "Maildir"
        if folder.upper() == "INBOX":
            return base
        if "." in folder or folder.startswith("/") or folder.endswith("/"):
            raise ValueError(f"not a folder name for this server: {folder!r}")
        return base / ("." + folder.replace("/", "."))

    @property
    def log(self) -> str:
        """The tail of Dovecot's log and of its stderr (for failure messages)."""
        return (f"--- dovecot {self.log_path}\n{_tail(self.log_path, 60)}\n"
                f"--- dovecot stderr\n{_tail(self.root / 'dovecot.out', 20)}")

    # ---- mail
    def deliver(self, raw: bytes, folder: str = "INBOX", user: str | None = None,
                seen: bool = False, received: dt.datetime | None = None) -> Path:
        """Put a message into a user's folder the way an MDA does: written in tmp/, owned by
        65534, renamed into new/ (or cur/ with ":2,S" when `seen`). A folder that does not
        exist is created (see create_folder). `received` sets the file's mtime, which Dovecot
        reports as INTERNALDATE. Returns the file's path (Dovecot renames it into cur/ once a
        client selects the folder)."""
        target = self.maildir(folder, user)
        if not (target / "new").is_dir():
            self.create_folder(folder, user)
        with self._lock:
            self._sequence += 1
            now = time.time()
            name = (f"{int(now)}.M{int(now % 1 * 1e6):06d}P{os.getpid()}"
                    f"Q{self._sequence:06d}.clarion-test")
        temporary = target / "tmp" / name
        temporary.write_bytes(raw)
        os.chown(temporary, NOBODY, NOBODY)
        if received is not None:
            stamp = received.timestamp()
            os.utime(temporary, (stamp, stamp))
        final = target / "cur" / f"{name}:2,S" if seen else target / "new" / name
        os.rename(temporary, final)
        return final

    def messages(self, folder: str = "INBOX", user: str | None = None) -> list[StoredMessage]:
        """Every message file of the folder (new/ and cur/), in UID order (files Dovecot has
        not numbered yet come last, in delivery order)."""
        target = self.maildir(folder, user)
        uids = self._uidlist(target)
        keywords = self._keywords(target)
        found: list[StoredMessage] = []
        for sub in ("new", "cur"):
            directory = target / sub
            for path in directory.iterdir() if directory.is_dir() else ():
                base, _, info = path.name.partition(":")
                letters = info[2:] if info.startswith("2,") else ""
                flags = {_FLAG_LETTERS[c] for c in letters if c in _FLAG_LETTERS}
                flags |= {keywords.get(c, c) for c in letters if c.islower()}
                found.append(StoredMessage(path, uids.get(base), frozenset(flags)))
        found.sort(key=lambda m: (m.uid is None, m.uid or 0, _delivery_order(m.path.name)))
        return found

    def flags(self, folder: str = "INBOX", user: str | None = None) -> list[set[str]]:
        """Each message's flags as the Maildir file names say, in UID order: set() for an
        unread message nobody has touched, {"\\Seen"} once read (FETCH BODY[] or STORE)."""
        return [set(m.flags) for m in self.messages(folder, user)]

    @staticmethod
    def _uidlist(folder: Path) -> dict[str, int]:
        """base file name -> UID, from dovecot-uidlist ("<uid> [ext...] :<name>" lines)."""
        try:
            lines = (folder / "dovecot-uidlist").read_text(errors="replace").splitlines()[1:]
        except OSError:
            return {}
        uids = {}
        for line in lines:
            head, sep, name = line.partition(" :")
            if sep and head.split()[0].isdigit():
                uids[name] = int(head.split()[0])
        return uids

    @staticmethod
    def _keywords(folder: Path) -> dict[str, str]:
        """Maildir keyword letter -> IMAP keyword, from dovecot-keywords ("0 $Forwarded")."""
        try:
            lines = (folder / "dovecot-keywords").read_text(errors="replace").splitlines()
        except OSError:
            return {}
        names = {}
        for line in lines:
            index, _, name = line.partition(" ")
            if index.isdigit() and int(index) < 26:
                names[chr(ord("a") + int(index))] = name
        return names

    def create_folder(self, name: str, user: str | None = None) -> Path:
        """Create a folder (and subscribe to it) through doveadm while the server runs; when it
        is stopped, make the Maildir++ directories only (not subscribed). Returns its path."""
        user = user or self.user
        target = self.maildir(name, user)
        if self.running:
            self.doveadm("mailbox", "create", "-s", "-u", user, name)
        else:
            for sub in ("cur", "new", "tmp"):
                (target / sub).mkdir(parents=True, exist_ok=True)
                os.chown(target / sub, NOBODY, NOBODY)
            (target / "maildirfolder").touch()
            for path in (target, target / "maildirfolder"):
                os.chown(path, NOBODY, NOBODY)
        return target

    def uidvalidity(self, folder: str = "INBOX", user: str | None = None) -> int:
        """The folder's UIDVALIDITY, as a client would see it (doveadm; the server must run)."""
        return int(self._status(folder, user)["uidvalidity"])

    def uidnext(self, folder: str = "INBOX", user: str | None = None) -> int:
        return int(self._status(folder, user)["uidnext"])

    def _status(self, folder: str, user: str | None) -> dict[str, str]:
        out = self.doveadm("-f", "flow", "mailbox", "status", "-u", user or self.user,
                           "uidvalidity uidnext messages", folder).stdout
        return dict(part.split("=", 1) for part in out.split() if "=" in part)

    def reset_uidvalidity(self, folder: str = "INBOX", user: str | None = None,
                          renumber: bool = False) -> int:
        """Give the folder a new, higher UIDVALIDITY, as a server does after losing its index;
        returns it. Clients that have the folder selected are disconnected ("IMAP session state
        is inconsistent"). Messages keep their UIDs, unless `renumber`: then the user's sessions
        are kicked, the folder's UID list and indexes are deleted, and Dovecot numbers the
        messages again from 1 (UIDNEXT starts over too). Needs the server running."""
        user = user or self.user
        old = self.uidvalidity(folder, user)
        if renumber:
            self.kick(user)
            target = self.maildir(folder, user)
            for path in target.iterdir():
                if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                    path.unlink()
        new = max(old + 1, int(time.time()))
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(new), folder)
        return self.uidvalidity(folder, user)

    def sessions(self) -> list[str]:
        """The users with an IMAP session open now (doveadm who)."""
        out = self.doveadm("who", check=False).stdout.splitlines()[1:]
        return [line.split()[0] for line in out if line.strip()]

    def kick(self, user: str | None = None, timeout: float = 5.0) -> None:
        """Disconnect every IMAP session of `user` (of every user when None) and wait until
        they are gone."""
        mask = user or "*"
        if not any(user is None or name == user for name in self.sessions()):
            return
        self.doveadm("kick", mask, check=False)
        _wait_for(lambda: not any(user is None or name == user for name in self.sessions()),
                  timeout, poll=0.02)

    def clear(self) -> None:
        """Disconnect every session and empty every user's Maildir: all folders, messages, UID
        lists and indexes go. Only Dovecot's UIDVALIDITY counter (dovecot-uidvalidity*) stays,
        so a folder made again gets a higher UIDVALIDITY than before."""
        if self.running:
            self.kick()
        for user in self.users:
            home = self.home(user)
            maildir = home / "Maildir"
            for path in home.iterdir():
                if path != maildir:
                    _remove(path)
            maildir.mkdir(exist_ok=True)
            for path in maildir.iterdir():
                if not path.name.startswith("dovecot-uidvalidity"):
                    _remove(path)
            for path in (maildir, *(maildir / sub for sub in ("cur", "new", "tmp"))):
                path.mkdir(exist_ok=True)
                os.chown(path, NOBODY, NOBODY)

    def doveadm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run doveadm against this instance (its config: base_dir, auth socket)."""
        done = subprocess.run(["doveadm", "-c", str(self.conf_path), *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}\n{self.log}")
        return done

    # ---- process
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start Dovecot in the foreground (if not running) and wait until both ports greet
        "* OK" (the TLS port after a verified handshake). Raises ImapUnavailable."""
        with self._lock:
            if self.running:
                return
            began = time.monotonic()
            with open(self.root / "dovecot.out", "ab") as out:
                self._proc = subprocess.Popen(
                    ["dovecot", "-F", "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
            context = self.ssl_context()
            proc = self._proc

            def up() -> bool:
                return proc.poll() is not None or \
                    (_greets(self.starttls_port) and _greets(self.tls_port, context))
            if not _wait_for(up, START_TIMEOUT, poll=0.02) or proc.poll() is not None:
                code = proc.poll()
                self.stop()
                raise ImapUnavailable(f"Dovecot did not greet on ports {self.starttls_port} "
                                      f"and {self.tls_port} (exit {code})\n{self.log}")
            self.start_seconds = time.monotonic() - began

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to Dovecot's master, wait for it, then for the rest of its process group
        (login and imap processes end a moment after the master) so that a restart never
        meets an old process still holding a listening socket."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()                   # the master only, by its id
                proc.wait(timeout=5)
            _wait_for(lambda: not _process_group_alive(proc.pid), timeout, poll=0.02)

    def restart(self) -> None:
        self.stop()
        self.start()


def _delivery_order(name: str) -> tuple[int, int, str]:
    """Sort key of a Maildir file name "<secs>.M<usecs>P<pid>...": time first (what Dovecot
    uses to number new files), then the rest."""
    secs, _, rest = name.partition(".")
    usecs = rest[1:].split("P", 1)[0] if rest.startswith("M") else ""
    return (int(secs) if secs.isdigit() else 0, int(usecs) if usecs.isdigit() else 0, rest)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _write_config(root: Path, tls_port: int, starttls_port: int) -> None:
    for d in (root / "tls", root / "run", root / "state", root / "home"):
        d.mkdir(parents=True, exist_ok=True)
    cert = make_cert(root / "tls")
    os.chmod(cert.key, 0o600)            # read by the master (root) only
    users = root / "users"
    users.write_text("".join(f"{name}:{{PLAIN}}{secret}::::::\n"
                             for name, secret in ((USER, PASSWORD),
                                                  (OTHER_USER, OTHER_PASSWORD))))
    os.chown(users, 0, _gid("dovecot"))
    os.chmod(users, 0o640)
    for name in (USER, OTHER_USER):
        home = root / "home" / name
        for d in (home, home / "Maildir", *(home / "Maildir" / s for s in ("cur", "new", "tmp"))):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, NOBODY, NOBODY)
    instance = f"clarion-imap-{os.getpid()}-{tls_port}"
    (root / "dovecot.conf").write_text(f"""\
# A private Dovecot IMAP server for the tests (tests/integration/imap_fixtures.py).
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
login_greeting = Clarion test IMAP ready.
# TLS: implicit on tls_port, STARTTLS on starttls_port; no password before TLS except from a
# client whose address is the server's (Dovecot's "secured" loopback rule)
ssl = required
ssl_cert = <{cert.cert}
ssl_key = <{cert.key}
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
login_trusted_networks =
auth_mechanisms = plain login
# A wrong password is answered at once. auth_failure_delay = 0 alone still leaves 2.3.19's
# failure queue, flushed every 500 ms; a first passdb that authenticates nobody and only sets
# "nodelay" (kept when the next passdb fails) skips that queue. The anvil-auth-penalty socket
# nobody may open (mode 0) keeps repeated failures from growing a penalty.
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = static
  args = noauthenticate nodelay=yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users}
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={root}/home/%u
}}
first_valid_uid = {NOBODY}
first_valid_gid = {NOBODY}
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
}}
# IDLE: inotify on the Maildir reports new mail in ~0.5 s; this is only the fallback poll
mailbox_idle_check_interval = 1 secs
protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    port = {starttls_port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
""")


def start_imap_server() -> ImapServer:
    """Build and start a private Dovecot; raises ImapUnavailable with the reason."""
    missing = [tool for tool in ("dovecot", "doveadm") if not shutil.which(tool)]
    if missing:
        raise ImapUnavailable(f"not installed: {', '.join(missing)} "
                              f"(apt-get install dovecot-core dovecot-imapd; see .ci/run)")
    if not IMAP_BINARY.exists():
        raise ImapUnavailable(f"{IMAP_BINARY} missing (apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        raise ImapUnavailable("a private Dovecot with mail owned by uid 65534 must run as root")
    try:
        _gid("dovecot"), _gid("dovenull")
    except KeyError as exc:
        raise ImapUnavailable(f"system group missing: {exc}") from None
    # pytest's temp folders are 0700: Dovecot's users (dovecot, dovenull, nobody) could not
    # enter them
    root = Path(tempfile.mkdtemp(prefix="clarion-imap-", dir="/tmp"))
    os.chmod(root, 0o755)
    server = None
    try:
        tls_port = free_port()
        starttls_port = free_port()
        while starttls_port == tls_port:
            starttls_port = free_port()
        _write_config(root, tls_port, starttls_port)
        server = ImapServer(root, tls_port, starttls_port)
        server.start()
        return server
    except BaseException:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


@pytest.fixture(scope="session", name="imap_server")
def imap_server_fixture() -> Iterator[ImapServer]:
    """A running private Dovecot IMAP server for the session; skips with the reason when it
    cannot start. Always stopped and its folder removed at the end."""
    try:
        server = start_imap_server()
    except ImapUnavailable as exc:
        pytest.skip(f"Dovecot IMAP could not start: {exc}")
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"Dovecot IMAP could not start: {type(exc).__name__}: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(name="imap")
def imap_fixture(imap_server: ImapServer) -> Iterator[ImapServer]:
    """The session's Dovecot, running, with no session open and empty mailboxes (no folder but
    INBOX) for one test."""
    if not imap_server.running:
        try:
            imap_server.start()
        except ImapUnavailable as exc:
            pytest.fail(f"Dovecot IMAP did not start again: {exc}")
    imap_server.clear()
    yield imap_server
