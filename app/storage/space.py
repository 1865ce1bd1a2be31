"""A database that cannot be written, in words (issue 20): the disk is full, the folder or file
is read-only or not ours, the file cannot be opened, or the disk reports an error — SQLite's
SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN and SQLITE_IOERR, and the operating system's
ENOSPC, EDQUOT, EROFS, EACCES and EPERM, however SQLAlchemy wraps them.

The engine (app/storage/engine.py) raises every such error as StorageUnavailable, the original
kept as its __cause__: a service's failed write reaches the window as a ClarionError whose
message is shown as it is. SQLite undoes the whole transaction when a write fails, so the
sentence can say that nothing of the change was saved."""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.errors import ClarionError

__all__ = ["CANNOT_OPEN", "DISK_ERROR", "FULL", "READ_ONLY", "StorageProblem",
           "StorageUnavailable", "problem_of", "storage_problem", "unavailable"]

FULL = "full"
READ_ONLY = "read-only"
CANNOT_OPEN = "cannot-open"
DISK_ERROR = "disk-error"

NOTHING_SAVED = "nothing was saved from this change."

# SQLite's error names (Python 3.11+: sqlite3.Error.sqlite_errorname, extended codes included)
# and, for errors raised without them, SQLite's own words (stable across versions)
_SQLITE = (
    (FULL, "SQLITE_FULL", ("database or disk is full",)),
    (READ_ONLY, "SQLITE_READONLY", ("attempt to write a readonly database", "readonly database")),
    (CANNOT_OPEN, "SQLITE_CANTOPEN", ("unable to open database file",)),
    (DISK_ERROR, "SQLITE_IOERR", ("disk i/o error",)),
)
_ERRNO = {errno.ENOSPC: FULL, errno.EROFS: READ_ONLY, errno.EACCES: READ_ONLY,
          errno.EPERM: READ_ONLY}
if hasattr(errno, "EDQUOT"):   # a disk quota used up is, for the person, a full disk
    _ERRNO[errno.EDQUOT] = FULL


@dataclass(frozen=True)
class StorageProblem:
    """`kind`: FULL, READ_ONLY, CANNOT_OPEN or DISK_ERROR; `words`: the sentence for the
    person; `short`: a few words for a status line ("the disk holding the database is full")."""
    kind: str
    words: str
    short: str


class StorageUnavailable(ClarionError):
    """The database could not be written (or opened): the disk is full, it is read-only, or
    the disk failed. Nothing of the operation that raised it was saved."""

    def __init__(self, problem: StorageProblem) -> None:
        self.problem = problem
        super().__init__(problem.words)

    @property
    def kind(self) -> str:
        return self.problem.kind


def _folder(path: Path | str | None) -> str:
    if path is None or str(path) in ("", ":memory:"):
        return "the database's folder"
    return str(Path(path).parent)


def _problem(kind: str, path: Path | str | None, said: str) -> StorageProblem:
    folder = _folder(path)
    if kind == FULL:
        return StorageProblem(kind, "The disk holding the database is full: free some space; "
                              + NOTHING_SAVED, "the disk holding the database is full")
    if kind == READ_ONLY:
        return StorageProblem(
            kind, "The database cannot be written (read-only folder or file, or no "
                  f"permission): make {folder} writable for Clarion; " + NOTHING_SAVED,
            "the database cannot be written (read-only or no permission)")
    if kind == CANNOT_OPEN:
        return StorageProblem(
            kind, "The database cannot be opened (read-only folder or file, no permission, "
                  f"or the folder is gone): check {folder}; " + NOTHING_SAVED,
            "the database cannot be opened")
    return StorageProblem(
        kind, f"The disk holding the database reported an error ({said}): " + NOTHING_SAVED
              + " Check that the disk is still there and has space.",
        "the disk holding the database reported an error")


def _kind_of(exc: BaseException) -> tuple[str, str] | None:
    """(kind, what was said) for one exception of the chain; None when it is not about the
    database's storage."""
    # Only sqlite3's own errors are read: SQLAlchemy's wrappers are walked through (their
    # text holds the statement and its parameters, which may say anything).
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", None) or ""
        text = str(exc).lower()
        for kind, code, words in _SQLITE:
            if name.startswith(code) or any(w in text for w in words):
                return kind, str(exc)
        return None
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno], exc.strerror or str(exc)
    return None


def problem_of(exc: BaseException, path: Path | str | None = None) -> StorageProblem | None:
    """What is wrong with the database's storage when `exc` (or what it wraps: SQLAlchemy's
    `.orig`, `__cause__`, `__context__`) says so; None for any other error (locked, damaged,
    a constraint…). `path`: the database file, named in the advice."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageUnavailable):
            return current.problem
        found = _kind_of(current)
        if found is not None:
            return _problem(found[0], path, found[1])
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def storage_problem(exc: BaseException, path: Path | str | None = None) -> str | None:
    """The sentence for the person when `exc` is about the database's storage, else None."""
    problem = problem_of(exc, path)
    return None if problem is None else problem.words


def unavailable(exc: BaseException, path: Path | str | None = None) -> StorageUnavailable | None:
    """StorageUnavailable for `exc` (raise it `from exc`), or None when `exc` is another error."""
    if isinstance(exc, StorageUnavailable):
        return exc
    problem = problem_of(exc, path)
    return None if problem is None else StorageUnavailable(problem)
