"""The SQLite engine: WAL, synchronous FULL, foreign keys and a busy timeout on every
connection; transactions begun explicitly (BEGIN IMMEDIATE) so DDL is transactional too and a
read-then-write transaction never meets a stale snapshot. An error that says the database
cannot be written — the disk is full, it is read-only, the disk failed — is raised as
StorageUnavailable, in words (app/storage/space.py), the original kept as its __cause__."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, ExceptionContext, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

import app.storage.space as space
from app.storage.private import create_private_file, private_dir

BUSY_TIMEOUT_MS = 5000
READ_ONLY = "clarion_read_only"   # execution option of Store.reading()'s connections


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (not the sqlite3 module) decide when a transaction begins; see _on_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _on_begin(connection: Any) -> None:
    # IMMEDIATE: take the write lock at the start. A deferred transaction that reads and then
    # writes fails at once with "database is locked" if another connection (the sending thread)
    # committed in between — busy_timeout cannot help there. Two writers simply queue.
    # A Store.reading() session only reads: its deferred BEGIN reads a WAL snapshot beside a
    # writer and never waits for one (during a big send the sending thread holds the write
    # lock most of the time, and the window must not wait for it to show what is going on).
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _in_words(db_path: Path) -> Callable[[ExceptionContext], BaseException | None]:
    """The engine's handle_error hook: a storage problem becomes StorageUnavailable (SQLAlchemy
    raises it `from` the DBAPI error); any other error is left as it is. A read-only one also
    retires the engine's connections, as after a lost connection: SQLite opens a file it
    cannot write read-only and keeps it so, so only new connections see a folder made
    writable again."""
    def handle_error(context: ExceptionContext) -> BaseException | None:
        found = space.unavailable(context.original_exception, db_path)
        if found is not None and found.kind in (space.READ_ONLY, space.CANNOT_OPEN) and \
                context.connection is not None:
            context.is_disconnect = True
        return found
    return handle_error


def make_engine(db_path: Path | str) -> Engine:
    """An engine on `db_path`. A new database file is created here empty and 0600 (in a folder
    created 0700 if missing) before SQLite opens it — SQLite would create it with the umask,
    0644 — and SQLite gives its -wal, -shm and -journal files the same 0600. An existing folder
    or file is left as it is: start-up tightens Clarion's own (app.storage.private.tighten).
    A folder or file that cannot be created (full disk, read-only, no permission):
    StorageUnavailable."""
    db_path = Path(db_path)
    if str(db_path) != ":memory:":
        try:
            private_dir(db_path.parent, tighten_existing=False)
            create_private_file(db_path)
        except OSError as exc:
            problem = space.unavailable(exc, db_path)
            if problem is None:
                raise
            raise problem from exc
    engine = create_engine(f"sqlite:///{db_path}", future=True)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    event.listen(engine, "handle_error", _in_words(db_path), retval=True)
    return engine


class Store:
    """One database file: its engine and a session factory (one Session per operation)."""

    def __init__(self, db_path: Path | str) -> None:
        self.path = Path(db_path)
        self.engine = make_engine(self.path)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self._reads: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def reading(self) -> Session:
        """A session for reads only: one consistent snapshot that never waits for a writer.
        Never write through it (a deferred transaction that writes can fail with "database is
        locked" when another connection committed meanwhile)."""
        return self._reads()

    def dispose(self) -> None:
        self.engine.dispose()

    @classmethod
    def open(cls, db_path: Path | str, backup_dir: Path | None = None) -> "Store":
        """Open (creating if needed) and migrate to head, backing up first when migrating."""
        from app.storage.migrate import upgrade_to_head

        store = cls(db_path)
        upgrade_to_head(store.engine, store.path,
                        backup_dir or store.path.parent / "backups")
        return store
