"""A disk that fills up and a folder that turns read-only, for the tests of issue 20 ("Disk full
and read-only"): real file systems where this process may mount them (root on Linux, as in the
project's containers), the real SQLite engine's own error otherwise.

- SmallDisk: a size-limited tmpfs; fill() takes every free block (leave= keeps some), free()
  gives them back. SQLite then fails with SQLITE_FULL ("database or disk is full") as soon as a
  write needs a new block. Its WAL only grows while nothing checkpoints it (SQLite checkpoints
  at 1,000 pages, which these tests never reach), so truncate_wal() before the test's writes
  makes every later commit need new blocks.
- ReadOnlyView: the same folder mounted a second time, read-only (a bind mount). A database
  opened through it while another connection holds it open elsewhere (its -wal and -shm files
  exist) is opened read-only by SQLite, and writes fail with SQLITE_READONLY ("attempt to write
  a readonly database"); with no such connection it cannot be opened at all (SQLITE_CANTOPEN).
  lift() makes the view writable again. A mount that a process holds open for writing cannot
  be made read-only (the kernel answers "busy"), so this is the way to a read-only folder here.
- QueryOnly: the injection where a mount cannot do it (read-only in the middle of a send):
  `PRAGMA query_only` on every transaction of an engine while it is on — SQLite itself refuses
  every write, BEGIN IMMEDIATE included, with SQLITE_READONLY. Not a mock: the engine's own
  error, through SQLAlchemy as in production.

Mounting needs root (CAP_SYS_ADMIN); where it is refused, the tests that need it are skipped with
the reason printed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

CHUNK = 1 << 16


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def cannot_mount(why: str) -> None:
    """Skip, saying why (printed as well: -ra shows it, and so does -s)."""
    reason = f"cannot mount a file system here: {why}"
    print(reason, file=sys.stderr)
    pytest.skip(reason)


def _mount(*args: str) -> None:
    if sys.platform != "linux":
        cannot_mount(f"not Linux ({sys.platform})")
    if os.geteuid() != 0:
        cannot_mount("not root")
    done = _run("mount", *args)
    if done.returncode != 0:
        cannot_mount(f"`mount {' '.join(args)}` said: {done.stderr.strip()}")


def unmount(path: Path) -> None:
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))   # something still holds it: detach it all the same


class SmallDisk:
    """A tmpfs of `size` mounted at `path` (created)."""

    def __init__(self, path: Path, size: str = "8m") -> None:
        self.path = Path(path)
        self.size = size
        self.filler = self.path / ".filler"
        self.mounted = False

    def mount(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", f"size={self.size},mode=0700", "tmpfs", str(self.path))
        self.mounted = True
        return self

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Take every free block, then give `leave` bytes back."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (CHUNK, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != 28:   # ENOSPC: this size no longer fits; try smaller
                        raise
            if leave:
                os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
        finally:
            os.close(fd)
        assert self.free_bytes() <= leave + 4096, self.free_bytes()

    def free(self) -> None:
        """Space returns."""
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            unmount(self.path)
            self.mounted = False


class ReadOnlyView:
    """`folder` mounted again at `view`, read-only."""

    def __init__(self, folder: Path, view: Path) -> None:
        self.folder, self.view = Path(folder), Path(view)
        self.mounted = False

    def mount(self) -> ReadOnlyView:
        self.view.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(self.folder), str(self.view))
        self.mounted = True
        done = _run("mount", "-o", "remount,bind,ro", str(self.view))
        if done.returncode != 0:
            self.unmount()
            cannot_mount(f"a read-only bind mount was refused: {done.stderr.strip()}")
        return self

    def lift(self) -> None:
        """The folder is writable again."""
        done = _run("mount", "-o", "remount,bind,rw", str(self.view))
        assert done.returncode == 0, done.stderr

    def unmount(self) -> None:
        if self.mounted:
            unmount(self.view)
            self.mounted = False


def truncate_wal(db_path: Path) -> None:
    """Checkpoint the database and empty its WAL file (nothing else may be using it)."""
    conn = sqlite3.connect(db_path)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    assert busy == 0, "the WAL is in use: it could not be emptied"
    assert Path(f"{db_path}-wal").stat().st_size == 0


class QueryOnly:
    """While `on`: every transaction of `engine` runs with PRAGMA query_only = 1, so SQLite
    refuses every write (SQLITE_READONLY "attempt to write a readonly database")."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.on = False
        event.listen(engine, "before_cursor_execute", self._apply)

    def _apply(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("BEGIN"):   # the engine's BEGIN [IMMEDIATE]: each transaction
            cursor.connection.execute(f"PRAGMA query_only = {1 if self.on else 0}")

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._apply)
