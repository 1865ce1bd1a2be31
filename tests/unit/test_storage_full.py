"""A write that fails for lack of space or permission (issue 20, "Disk full and read-only"): the
person is told in words (StorageUnavailable, app/storage/space.py), nothing of the change is
stored — a service's multi-row operation included — and the same write succeeds once space
returns or the folder is writable again.

A full disk is a real small tmpfs; a read-only folder a real read-only (bind) mount — both where
this process may mount (root on Linux), skipped with the reason elsewhere
(tests/storage_support.py). SQLite's own read-only refusal (PRAGMA query_only) covers the words
and the rollback everywhere."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import Severity
from app.domain.models import Incident
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.stakeholders.clients import ensure_default_organisation, list_clients
from app.stakeholders.service import STAKEHOLDERS_CHANGED, StakeholderService
from app.storage import StorageUnavailable, Store, storage_problem
from app.storage.space import CANNOT_OPEN, DISK_ERROR, FULL, READ_ONLY, problem_of
from tests.storage_support import QueryOnly, ReadOnlyView, SmallDisk, truncate_wal

FULL_WORDS = ("The disk holding the database is full: free some space; nothing was saved from "
              "this change.")


def read_only_words(folder: Path) -> str:
    return ("The database cannot be written (read-only folder or file, or no permission): "
            f"make {folder} writable for Clarion; nothing was saved from this change.")


def counts(db_path: Path) -> dict[str, int]:
    """Rows per table, read on a connection of its own (read-only: it changes nothing)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("incidents", "timeline_entries", "stakeholders", "contact_points")}
    finally:
        conn.close()


def people(client_id: int, n: int, notes: str = "", prefix: str = "p") -> list[StakeholderData]:
    """n stakeholders with two contact points each: one import, 3n rows."""
    return [StakeholderData(
        client_id=client_id, name=f"Person {prefix}{i}", notes=notes, information_need=notes,
        contacts=(ContactPointData("email", f"{prefix}{i}@example.com"),
                  ContactPointData("email", f"{prefix}{i}.b@example.com", priority=2)))
        for i in range(n)]


class Services:
    def __init__(self, store: Store, clock) -> None:  # type: ignore[no-untyped-def]
        self.store, self.clock = store, clock
        self.bus = EventBus()
        self.said: list[object] = []
        self.bus.subscribe(STAKEHOLDERS_CHANGED, self.said.append)
        self.incidents = IncidentService(store, clock, self.bus, actor="Test Coordinator")
        self.stakeholders = StakeholderService(store, clock, self.bus)

    @property
    def client_id(self) -> int:
        return list_clients(self.store)[0].id   # a read

    def open_incident(self, title: str = "Portal down"):  # type: ignore[no-untyped-def]
        return self.incidents.open(client_id=self.client_id, title=title,
                                   severity=Severity.SEV2, detected_at=self.clock.now())


@pytest.fixture
def disk(tmp_path):
    small = SmallDisk(tmp_path / "disk", size="16m").mount()
    yield small
    small.unmount()


@pytest.fixture
def on_disk(disk, frozen_clock):
    """A migrated database on the small disk, an organisation in it, its WAL emptied."""
    store = Store.open(disk.path / "clarion.db")
    services = Services(store, frozen_clock)
    ensure_default_organisation(store, frozen_clock)
    truncate_wal(store.path)
    yield services
    store.dispose()


# ---------------------------------------------------------------- a full disk


def test_a_write_on_a_full_disk_says_so_stores_nothing_and_works_once_space_returns(
        disk, on_disk):
    s = on_disk
    before = counts(s.store.path)
    disk.fill()

    with pytest.raises(StorageUnavailable) as opened:
        s.open_incident()
    assert str(opened.value) == FULL_WORDS
    assert opened.value.kind == FULL
    cause = opened.value.__cause__
    assert isinstance(cause, sqlite3.OperationalError) and cause.sqlite_errorname == "SQLITE_FULL"

    with pytest.raises(StorageUnavailable, match="^The disk holding the database is full"):
        s.stakeholders.apply_batch(people(s.client_id, 40), [])   # 120 rows, all or nothing
    assert counts(s.store.path) == before
    assert s.said == []                                  # nothing announced as saved
    assert s.stakeholders.list() == []                   # reading still works

    disk.free()
    incident = s.open_incident()
    created, _ = s.stakeholders.apply_batch(people(s.client_id, 40), [])
    assert len(created) == 40 and s.said == [None]
    assert s.incidents.get(incident.id).title == "Portal down"
    assert counts(s.store.path) == {
        "incidents": before["incidents"] + 1, "timeline_entries": before["timeline_entries"] + 1,
        "stakeholders": before["stakeholders"] + 40,
        "contact_points": before["contact_points"] + 80}


def test_a_large_change_that_fills_the_disk_halfway_leaves_nothing_of_it(disk, on_disk):
    """A change bigger than SQLite's page cache (2 MB) is written to the WAL as it goes; the
    disk runs out in the middle of it, long before its COMMIT. None of it counts."""
    s = on_disk
    before = counts(s.store.path)
    wal = Path(f"{s.store.path}-wal")
    commits: list[int] = []
    event.listen(s.store.engine, "commit", lambda conn: commits.append(1))
    batch = people(s.client_id, 500, notes="x" * 3000)    # ~3 MB of text
    disk.fill(leave=512 * 1024)

    with pytest.raises(StorageUnavailable) as caught:
        s.stakeholders.apply_batch(batch, [])
    assert str(caught.value) == FULL_WORDS
    assert commits == []                                 # it failed before its COMMIT …
    assert wal.stat().st_size > 256 * 1024               # … with part of it on the disk
    assert counts(s.store.path) == before
    assert s.said == []

    disk.free()
    created, _ = s.stakeholders.apply_batch(batch, [])
    assert len(created) == 500
    assert counts(s.store.path)["contact_points"] == before["contact_points"] + 1000


# ---------------------------------------------------------------- a read-only folder


@pytest.fixture
def read_only_view(tmp_path, frozen_clock):
    """The database's folder and a read-only view of it; the database migrated, with an
    organisation, through the folder itself."""
    folder = tmp_path / "data"
    store = Store.open(folder / "clarion.db")
    ensure_default_organisation(store, frozen_clock)
    store.dispose()
    view = ReadOnlyView(folder, tmp_path / "view").mount()
    yield view
    view.unmount()


def test_a_write_in_a_read_only_folder_says_so_stores_nothing_and_works_once_writable(
        read_only_view, frozen_clock):
    """Clarion opens the database through a read-only mount while it is open elsewhere (its
    -wal and -shm files exist, so SQLite can open it, read-only): it can be read, and every
    write is refused. Made writable again, the same write goes through on new connections."""
    view = read_only_view
    keeper = sqlite3.connect(view.folder / "clarion.db")   # holds it open, through the folder
    keeper.execute("SELECT count(*) FROM incidents").fetchone()
    store = Store.open(view.view / "clarion.db")           # up to date: nothing to migrate
    try:
        s = Services(store, frozen_clock)
        before = counts(view.folder / "clarion.db")
        assert s.incidents.list() == []                    # it reads

        with pytest.raises(StorageUnavailable) as opened:
            s.open_incident()
        assert str(opened.value) == read_only_words(view.view)
        assert opened.value.kind == READ_ONLY
        assert opened.value.__cause__.sqlite_errorname == "SQLITE_READONLY"
        client_id = s.client_id
        with pytest.raises(StorageUnavailable, match="^The database cannot be written"):
            s.stakeholders.apply_batch(people(client_id, 40), [])
        assert counts(view.folder / "clarion.db") == before
        assert s.said == []

        view.lift()
        s.open_incident()
        created, _ = s.stakeholders.apply_batch(people(client_id, 40), [])
        assert len(created) == 40
        after = counts(view.folder / "clarion.db")
        assert (after["incidents"], after["contact_points"]) == (
            before["incidents"] + 1, before["contact_points"] + 80)
    finally:
        store.dispose()
        keeper.close()


def test_a_database_in_a_read_only_folder_cannot_be_opened_and_says_where(read_only_view):
    """Nothing holds it open: SQLite cannot make its -shm file in the read-only folder, so it
    cannot open it at all. Start-up shows these words ("The database could not be opened")."""
    view = read_only_view
    with pytest.raises(StorageUnavailable) as caught:
        Store.open(view.view / "clarion.db")
    assert caught.value.kind == CANNOT_OPEN
    assert str(caught.value) == (
        "The database cannot be opened (read-only folder or file, no permission, or the "
        f"folder is gone): check {view.view}; nothing was saved from this change.")
    with pytest.raises(StorageUnavailable) as new:          # a new database: not even created
        Store.open(view.view / "new.db")
    assert new.value.kind == READ_ONLY and str(new.value) == read_only_words(view.view)
    assert isinstance(new.value.__cause__, OSError) and new.value.__cause__.errno == errno.EROFS

    view.lift()
    store = Store.open(view.view / "clarion.db")
    store.dispose()


# ---------------------------------------------------------------- SQLite refusing writes


@pytest.fixture
def refusing(store, frozen_clock):
    """The conftest's database, with SQLite's own read-only switch (PRAGMA query_only)."""
    s = Services(store, frozen_clock)
    ensure_default_organisation(store, frozen_clock)
    s.switch = QueryOnly(store.engine)
    yield s
    s.switch.remove()


def test_a_database_sqlite_will_not_write_says_so_stores_nothing_and_works_once_lifted(
        refusing):
    """No mount needed: the same words and the same all-or-nothing, from SQLite's own
    SQLITE_READONLY; an incident's change of several rows (its state and its timeline)."""
    s = refusing
    incident = s.open_incident()
    before = counts(s.store.path)
    s.switch.on = True
    with pytest.raises(StorageUnavailable) as caught:
        s.incidents.change_severity(incident.id, Severity.SEV1, "customers affected")
    assert str(caught.value) == read_only_words(s.store.path.parent)
    with pytest.raises(StorageUnavailable):
        s.stakeholders.apply_batch(people(s.client_id, 10), [])
    assert counts(s.store.path) == before
    with s.store.reading() as session:                   # a read-only session still reads
        assert session.get(Incident, incident.id).severity == Severity.SEV2

    s.switch.on = False
    assert s.incidents.change_severity(incident.id, Severity.SEV1, "customers affected") \
        .severity == Severity.SEV1
    assert counts(s.store.path)["timeline_entries"] > before["timeline_entries"]
    s.stakeholders.apply_batch(people(s.client_id, 10), [])
    assert counts(s.store.path)["stakeholders"] == before["stakeholders"] + 10


def test_a_connection_that_met_a_read_only_refusal_is_retired_and_the_next_one_works(
        refusing):
    """SQLite keeps a file it opened read-only so: a connection that met a read-only refusal
    is replaced (as after a lost connection), and the same SQLAlchemy connection — e.g. the
    outbox's outcome writer, which keeps one — goes on with a new one."""
    s = refusing
    with s.store.engine.connect() as conn:
        first = conn.connection.driver_connection
        s.switch.on = True
        with pytest.raises(StorageUnavailable):
            conn.execute(text("UPDATE clients SET name = name"))
        conn.rollback()
        s.switch.on = False
        conn.execute(text("UPDATE clients SET name = 'Renamed'"))
        conn.commit()
        assert conn.connection.driver_connection is not first
    with s.store.reading() as session:
        assert session.scalar(text("SELECT name FROM clients")) == "Renamed"


# ---------------------------------------------------------------- which errors, in which words


def real_error(pragma: str, sql: str) -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (x UNIQUE)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute(pragma)
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


def test_storage_problems_are_told_apart_from_other_database_errors(store):
    readonly = real_error("PRAGMA query_only = 1", "INSERT INTO t VALUES (2)")
    unique = real_error("PRAGMA query_only = 0", "INSERT INTO t VALUES (1)")
    assert problem_of(readonly).kind == READ_ONLY
    assert problem_of(unique) is None
    # chained (__cause__ / __context__), as a caller may wrap them
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.Error as exc:
            raise RuntimeError("flush failed") from exc
    except RuntimeError as outer:
        assert problem_of(outer).kind == FULL
        assert storage_problem(outer) == FULL_WORDS
    assert problem_of(sqlite3.OperationalError("disk I/O error")).kind == DISK_ERROR
    assert "(disk I/O error)" in storage_problem(sqlite3.OperationalError("disk I/O error"))
    assert problem_of(sqlite3.OperationalError("unable to open database file")).kind == \
        CANNOT_OPEN
    assert problem_of(sqlite3.OperationalError("database is locked")) is None
    for code, kind in ((errno.ENOSPC, FULL), (errno.EDQUOT, FULL), (errno.EROFS, READ_ONLY),
                       (errno.EACCES, READ_ONLY)):
        assert problem_of(OSError(code, "x")).kind == kind
    assert problem_of(OSError(errno.ECONNREFUSED, "refused")) is None
    assert problem_of(ValueError("database or disk is full")) is None   # not SQLite's
    assert StorageUnavailable(problem_of(readonly)).problem.short == \
        "the database cannot be written (read-only or no permission)"


def test_a_constraint_error_is_not_mistaken_for_a_storage_problem(store, frozen_clock):
    """Only SQLite's own errors are read, not SQLAlchemy's text of them (`.orig` is walked
    instead), which carries the statement's parameters: a name that says "database or disk is
    full" stays a name, and the error stays SQLAlchemy's."""
    client = ensure_default_organisation(store, frozen_clock)
    with pytest.raises(IntegrityError) as caught, store.session() as s, s.begin():
        s.execute(text("INSERT INTO clients (id, name) VALUES (:id, :name)"),
                  {"id": client.id, "name": "database or disk is full"})
    assert "database or disk is full" in str(caught.value)
    assert problem_of(caught.value) is None
