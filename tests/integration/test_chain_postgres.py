"""The timeline's hash chain (app/domain/chain.py, issue 21) on a real PostgreSQL beside a real
migrated SQLite file: the same entries, appended through the ORM (its after_insert listener seals
them) and read back from each database, encode to the same bytes and carry the same hashes. The
values are the ones the two databases keep differently: times (SQLite: text; PostgreSQL: a
timestamp), times given in other zones, JSON key order, number forms, unicode. PostgreSQL's
JSONB, which reorders keys and rewrites numbers, is absorbed too. Two desks appending to one
incident at once are numbered 1..n by the incident's row lock.

The server is a private PostgreSQL started by tests/pg_support.py; where it cannot start, these
tests skip and say why."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import chain
from app.domain.enums import Phase, Severity
from app.domain.models import (
    Base, Client, Coordinator, Incident, TimelineEntry, TimelineHash, chain_content,
)
from app.storage.engine import Store
from tests.pg_support import pg_url, postgres_server  # noqa: F401 - fixtures

CLIENT, COORDINATOR, INCIDENT = 7, 5, 3
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
TABLES = [m.__table__ for m in (Client, Coordinator, Incident, TimelineEntry, TimelineHash)]

# What differs between the databases, one entry at a time (ids given: the same on both).
ENTRIES: list[dict[str, Any]] = [
    dict(id=101, at=datetime(2026, 12, 6, 9, 5, 0, 123456, tzinfo=timezone.utc),
         kind="note", actor="Dana Brooks", coordinator_id=COORDINATOR,
         summary="Portal down 🚨 — first report",
         data={"zulu": 1, "alpha": 2, "mike": {"y": [3, 2, 1], "x": {"b": None, "a": True}}}),
    dict(id=102, at=datetime(2026, 12, 6, 9, 6, tzinfo=timezone.utc),      # 0 microseconds
         kind="decision", actor="Zoë Ångström", coordinator_id=None,
         summary="Notify the regulator\nat 10:00\t(UTC)",
         data={"floats": [1.0, 0.1, 1e20, 2.5, -0.0, 1e-7, 5e-324, 0.30000000000000004,
                          1e23, float(2**60), 1.5e300, -1e22],
               "ints": [0, -1, 2**53 + 1, 2**63 - 1, 2**64, -(2**70), 10**30],
               "flags": [True, False, None]}),
    dict(id=103, at=datetime(2026, 12, 6, 15, 5, 30, 1,                   # Kathmandu, +05:45
                             tzinfo=ZoneInfo("Asia/Kathmandu")),
         kind="note", actor="王伟中", coordinator_id=COORDINATOR,
         summary="مرحبا — שלום — 王伟中 — e\u0301 é — 🚨🧯",
         data={"مرحبا": "عالم", "שלום": "עולם", "e\u0301": "decomposed", "é": "composed",
               "王": ["伟", "中"], "🚨": "emoji key", "｡": "U+FF61 sorts before U+1F6A8",
               "escapes": "quote \" backslash \\ slash / \u2028 \x01 tab\t"}),
    dict(id=104, at=datetime(2026, 12, 6, 4, 59, 59, 999999,               # St John's, -03:30
                             tzinfo=ZoneInfo("America/St_Johns")),
         kind="note", actor="", coordinator_id=None, summary="", data={}),
    dict(id=105, at=datetime(2026, 12, 6, 10, 0, 0, 500000,
                             tzinfo=timezone(timedelta(hours=-7, minutes=-13, seconds=-7))),
         kind="note", actor="outbox", coordinator_id=None, summary="no data at all",
         data=None),
    dict(id=106, at=datetime(2026, 12, 6, 10, 1, tzinfo=timezone.utc), kind="delivery_sent",
         actor="outbox", coordinator_id=None, summary="Sent to 3 recipients",
         data={"nested": [{"b": 1, "a": 2}, [3, [4, {"y": None, "x": True}]], {}, []],
               "recipients": [{"name": "Ünal", "id": 3}, {"id": 1, "name": "Ann"}]}),
]


def schema(engine: Engine) -> None:
    """On PostgreSQL: the tables the chain touches, from the models (SQLite has them all from
    its migrations)."""
    Base.metadata.create_all(engine, tables=TABLES)


def append(engine: Engine, entries: list[dict[str, Any]]) -> None:
    """The incident and its people, then each entry in a transaction of its own, through the
    ORM: the after_insert listener seals it."""
    with Session(engine) as s, s.begin():
        s.add(Client(id=CLIENT, name="Zoë & Söhne 🚨", created_at=T0))
        s.add(Coordinator(id=COORDINATOR, name="Dana Brooks", created_at=T0, updated_at=T0))
        s.flush()
        s.add(Incident(id=INCIDENT, client_id=CLIENT, title="Portal down",
                       severity=Severity.SEV2, phase=Phase.DETECTED, detected_at=T0,
                       created_at=T0, updated_at=T0))
    for values in entries:
        with Session(engine) as s, s.begin():
            s.add(TimelineEntry(incident_id=INCIDENT, **values))


def read_chain(engine: Engine, incident_id: int = INCIDENT
               ) -> list[tuple[chain.Content, int, str, int]]:
    """The incident's entries as read back by a fresh session, with their links, by seq."""
    with Session(engine) as s:
        rows = s.execute(
            select(TimelineEntry, TimelineHash)
            .join(TimelineHash, TimelineHash.entry_id == TimelineEntry.id)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineHash.seq)).all()
        return [(chain_content(entry), link.seq, link.hash, link.version)
                for entry, link in rows]


def assert_holds(rows: list[tuple[chain.Content, int, str, int]]) -> None:
    seq, last, broken, reason = chain.verify_links(rows, 0, chain.GENESIS)
    assert broken is None, reason
    assert (seq, last) == (len(rows), rows[-1][2])


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store.open(tmp_path / "c.db")     # a real file, migrated to head
    yield store
    store.dispose()


@pytest.fixture
def pg_engine(pg_url):  # noqa: F811 - the fixture
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


def test_the_same_entries_give_the_same_bytes_and_hashes_on_sqlite_and_postgresql(
        sqlite_store, pg_engine):
    schema(pg_engine)
    append(sqlite_store.engine, ENTRIES)
    append(pg_engine, ENTRIES)

    lite, pg = read_chain(sqlite_store.engine), read_chain(pg_engine)
    assert [c.entry_id for c, *_ in lite] == [c.entry_id for c, *_ in pg] == \
        [e["id"] for e in ENTRIES]
    assert [seq for _, seq, _, _ in pg] == list(range(1, len(ENTRIES) + 1))
    previous = chain.GENESIS
    for (lite_content, seq, lite_hash, _), (pg_content, _, pg_hash, _) in zip(lite, pg):
        assert chain.encode(lite_content, seq, previous) == \
            chain.encode(pg_content, seq, previous), lite_content.entry_id
        assert lite_hash == pg_hash, lite_content.entry_id
        previous = lite_hash
    assert_holds(lite)
    assert_holds(pg)

    # what the encoding wrote for the times given in other zones and the unicode keys
    by_id = {c.entry_id: (c, seq) for c, seq, _, _ in pg}
    kathmandu = chain.encode(by_id[103][0], by_id[103][1], chain.GENESIS).decode("utf-8")
    assert '"2026-12-06T09:20:30.000001Z"' in kathmandu
    assert '"e\u0301":"decomposed","é":"composed"' in kathmandu       # code point order
    assert '"｡":"U+FF61 sorts before U+1F6A8","🚨":"emoji key"' in kathmandu
    st_johns = chain.encode(by_id[104][0], by_id[104][1], chain.GENESIS).decode("utf-8")
    assert '"2026-12-06T08:29:59.999999Z"' in st_johns and st_johns.endswith(
        f'"",{{}},"{chain.GENESIS}"]')
    assert '"2026-12-06T17:13:07.500000Z"' in chain.encode(
        by_id[105][0], by_id[105][1], chain.GENESIS).decode("utf-8")


def test_postgresql_jsonb_rewriting_keys_and_numbers_does_not_change_the_hashes(
        sqlite_store, pg_engine):
    """A team database keeping `data` as JSONB gives it back with its keys reordered (shortest
    first) and its numbers rewritten (1e20 as 100000000000000000000, -0.0 as 0.0): the chain,
    sealed from the values as appended, must still hold on what comes back."""
    schema(pg_engine)
    with pg_engine.begin() as conn:
        conn.execute(text("ALTER TABLE timeline_entries ALTER COLUMN data TYPE jsonb "
                          "USING data::jsonb"))
    append(sqlite_store.engine, ENTRIES)
    append(pg_engine, ENTRIES)
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_typeof(data)::text FROM timeline_entries "
                                 "WHERE id = 102")).scalar_one() == "jsonb"

    lite, pg = read_chain(sqlite_store.engine), read_chain(pg_engine)
    lite_data = {c.entry_id: c.data for c, *_ in lite}
    pg_data = {c.entry_id: c.data for c, *_ in pg}
    # JSONB did rewrite what it was given (else this test would prove nothing)...
    assert list(pg_data[101]) == ["mike", "zulu", "alpha"] != list(lite_data[101])
    assert isinstance(lite_data[102]["floats"][2], float)
    assert isinstance(pg_data[102]["floats"][2], int)                      # 1e20
    assert math.copysign(1, lite_data[102]["floats"][4]) == -1.0            # -0.0 ...
    assert math.copysign(1, pg_data[102]["floats"][4]) == 1.0               # ... became 0.0
    # ...and the canonical form, the bytes and the hashes are those of SQLite all the same
    previous = chain.GENESIS
    for (lite_content, seq, lite_hash, _), (pg_content, _, pg_hash, _) in zip(lite, pg):
        assert chain.canonical_json(pg_content.data) == \
            chain.canonical_json(lite_content.data), lite_content.entry_id
        assert chain.encode(pg_content, seq, previous) == \
            chain.encode(lite_content, seq, previous), lite_content.entry_id
        assert pg_hash == lite_hash, lite_content.entry_id
        previous = lite_hash
    assert_holds(pg)


# ---------------------------------------------------------------- two desks, one incident

APPENDERS, EACH = 2, 50


def both_read_first(monkeypatch) -> None:
    """chain.head() returns only once both desks have read the incident's last link: without
    the lock, both then write the same next number — every round, not by chance."""
    read, together = chain.head, threading.Barrier(APPENDERS)

    def in_step(connection, incident_id):
        found = read(connection, incident_id)
        together.wait(timeout=30)
        return found
    monkeypatch.setattr(chain, "head", in_step)


def race(engine: Engine) -> list[BaseException]:
    """APPENDERS threads append EACH entries to the incident, one transaction each, started
    together round after round; the errors they met."""
    start = threading.Barrier(APPENDERS)

    def desk(n: int) -> list[BaseException]:
        errors: list[BaseException] = []
        for i in range(EACH):
            start.wait(timeout=30)
            try:
                with Session(engine) as s, s.begin():
                    s.add(TimelineEntry(incident_id=INCIDENT, at=T0 + timedelta(seconds=i),
                                        kind="note", actor=f"desk {n}", summary=f"{n}/{i}",
                                        data={"desk": n, "i": i}))
            except Exception as exc:      # noqa: BLE001 - counted and shown by the test
                errors.append(exc)
        return errors

    with ThreadPoolExecutor(APPENDERS) as pool:
        return [e for errors in pool.map(desk, range(APPENDERS)) for e in errors]


def test_two_desks_appending_at_once_are_numbered_one_to_n_without_gaps(
        pg_engine, monkeypatch):
    schema(pg_engine)
    append(pg_engine, [])

    errors = race(pg_engine)       # each round's two appends started together

    assert errors == []
    rows = read_chain(pg_engine)
    assert [seq for _, seq, _, _ in rows] == list(range(1, APPENDERS * EACH + 1))
    assert {c.actor for c, *_ in rows} == {f"desk {n}" for n in range(APPENDERS)}
    assert_holds(rows)


def test_without_the_incident_lock_two_desks_take_the_same_number(pg_engine, monkeypatch):
    """The same race with chain._lock made a no-op (not the code: this test's copy of it):
    both desks read the same last link and write the same next number; the second is refused
    by uq_timeline_hashes_seq. The lock is what turns those refusals into waiting."""
    schema(pg_engine)
    append(pg_engine, [])
    both_read_first(monkeypatch)
    monkeypatch.setattr(chain, "_lock", lambda connection, incident_id: None)

    errors = race(pg_engine)

    assert len(errors) == EACH      # every round: one of the two took the other's number
    assert all(isinstance(e, IntegrityError) and "uq_timeline_hashes_seq" in str(e)
               for e in errors), errors[:3]
    rows = read_chain(pg_engine)           # the refused appends were rolled back whole
    assert len(rows) == APPENDERS * EACH - len(errors)
    assert [seq for _, seq, _, _ in rows] == list(range(1, len(rows) + 1))
    assert_holds(rows)
