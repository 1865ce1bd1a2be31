"""A real PostgreSQL for the tests (issue 21: the timeline's hash chain must give the same bytes
on PostgreSQL, the shared team database to come, as on SQLite).

A private cluster in a temporary folder: `initdb` with trust authentication and UTF-8 in the C
locale, then the server itself in the FOREGROUND as a child of the pytest process (`postgres
-D ...`, as tests/integration/mta_fixtures.py runs Postfix's master), listening on a free port of
127.0.0.1 only, with no Unix socket. It is stopped with SIGINT (PostgreSQL's fast shutdown) and
wait(), by its process id. `pg_ctl start` is not used: it leaves the server an orphan, and PID 1
here does not reap orphans.

PostgreSQL refuses to run as root. Where the tests run as root (the project's containers), the
cluster's folder belongs to `nobody` and initdb and the server run as that user (subprocess's
user=/group=, no helper tool); otherwise they run as the current user.

`postgres_server` (session) starts it; `pg_url` gives each test a database of its own, created
empty from template0 and dropped afterwards, as a SQLAlchemy URL for psycopg 3
(`postgresql+psycopg://`). Where the binaries or psycopg are missing, or the server does not
start, the tests that use it skip and say why: never a mock. `.ci/run` installs `postgresql`;
pyproject's `test` extra brings psycopg."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0
USER = "clarion"                  # the cluster's superuser (trust authentication)
RUN_AS = "nobody"                 # who runs PostgreSQL when the tests run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresUnavailable(Exception):
    """PostgreSQL or psycopg is missing, or the server would not start: the tests skip with
    this reason."""


def bindir() -> Path:
    """The folder with initdb and postgres: `pg_config --bindir` when that has them (Debian's
    postgresql-15 patches it to /usr/lib/postgresql/15/bin; libpq-dev's alone says /usr/bin),
    else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        try:
            found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                   timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found:
            candidates.append(Path(found))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                  else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return folder
    raise PostgresUnavailable(
        "initdb and postgres not found (neither `pg_config --bindir` nor "
        "/usr/lib/postgresql/*/bin has them; apt-get install postgresql, see .ci/run)")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _as_user() -> dict[str, Any]:
    """subprocess arguments that drop root to RUN_AS (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresUnavailable(f"the tests run as root and PostgreSQL refuses root, but "
                                  f"there is no user {RUN_AS!r} to run it as") from None
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _connectable(port: int) -> str | None:
    """None once the server accepts a connection, else the error in words."""
    import psycopg

    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=USER, dbname="postgres",
                             connect_timeout=2):
            return None
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__


@dataclass
class PostgresServer:
    root: Path
    port: int
    bin: Path
    version: str = ""
    host: str = "127.0.0.1"
    user: str = USER
    _proc: subprocess.Popen | None = None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 # a test cluster: nothing to keep after a crash
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.root, start_new_session=True, **_as_user())
        deadline = time.monotonic() + START_TIMEOUT
        pause = threading.Event()
        problem: str | None = "not tried"
        while time.monotonic() < deadline and self._proc.poll() is None:
            problem = _connectable(self.port)
            if problem is None:
                return
            pause.wait(0.1)
        exited = self._proc.poll()
        self.stop()
        raise PostgresUnavailable(
            f"the server did not accept connections on 127.0.0.1:{self.port} within "
            f"{START_TIMEOUT:.0f} s (exit {exited}; last: {problem})\n{_tail(self.log_path)}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended, then a checkpoint), waited for."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()            # this process only, by its id
                proc.wait(timeout=10)

    def create_database(self) -> str:
        """A new empty database (UTF-8, from template0); its name."""
        import psycopg

        name = f"clarion_test_{next(self._names)}"
        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_postgres() -> PostgresServer:
    """Build and start a private cluster; raises PostgresUnavailable with the reason."""
    try:
        import psycopg  # noqa: F401 - only whether it is there
    except ImportError as exc:
        raise PostgresUnavailable(f"psycopg is not installed ({exc}; pip install "
                                  f"'psycopg[binary]>=3.1', the `test` extra)") from None
    folder = bindir()
    as_user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="clarion-pg-", dir="/tmp"))
    server = None
    try:
        if as_user:
            os.chown(root, as_user["user"], as_user["group"])
        os.chmod(root, 0o700)
        init = subprocess.run(
            [str(folder / "initdb"), "-D", str(root / "data"), "-U", USER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=120, check=False, cwd=root,
            stdin=subprocess.DEVNULL, **as_user)
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed (exit {init.returncode}):\n"
                                      f"{init.stdout[-2000:]}{init.stderr[-2000:]}")
        version = subprocess.run([str(folder / "postgres"), "--version"], capture_output=True,
                                 text=True, timeout=10, check=False).stdout.strip()
        server = PostgresServer(root, free_port(), folder, version)
        server.start()
        return server
    except BaseException:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running private PostgreSQL for the session; skips with the reason when it cannot
    start. Always stopped and its folder removed at the end."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL could not start: {exc}")
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"PostgreSQL could not start: {type(exc).__name__}: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL (postgresql+psycopg) of an empty database for this test only; dropped
    after it (WITH (FORCE): a connection the test left open does not keep it)."""
    if not postgres_server.running:
        postgres_server.start()
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
