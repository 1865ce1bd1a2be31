"""The timeline's hash chain: each entry's SHA-256 over a versioned canonical encoding of its
content and the previous entry's hash, kept in `timeline_hashes` (append-only by trigger) and
written in the transaction that appends the entry.

The chain runs in sequence order per incident. The sequence number is given here, in the
appending transaction, while it holds the incident's write lock: SQLite's write lock (Clarion's
transactions begin IMMEDIATE, and the entry's INSERT came first), or on PostgreSQL a row lock on
the incident taken below — never by time (times can be backdated) nor by id (on a shared server
ids are not in commit order).

Encoding version 1 — a canonical JSON array, UTF-8:
  ["clarion-timeline", 1, incident_id, entry_id, seq, at, kind, actor, coordinator_id, summary,
   data, previous_hash]
where `at` is UTC at microsecond precision ("2026-12-06T09:05:00.000000Z"), `data` is the JSON the
database keeps (keys sorted, no whitespace, numbers normalised: a float with an integral value is
written as the integer its shortest round-trip form names, others by that form), and the first
entry's previous hash is 64 zeros. The same values give the same bytes whichever database gave
them back.

Migration 0014 keeps its own frozen copy of this encoding: change it only as a new version."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Sequence

from sqlalchemy import Connection, Integer, String, column, table, text

VERSION = 1
GENESIS = "0" * 64
TAG = "clarion-timeline"

_HASHES = table("timeline_hashes", column("entry_id", Integer), column("incident_id", Integer),
                column("seq", Integer), column("hash", String), column("version", Integer))


@dataclass(frozen=True)
class Content:
    """What the hash covers of one entry (as stored)."""

    incident_id: int
    entry_id: int
    at: datetime
    kind: str
    actor: str
    coordinator_id: int | None
    summary: str
    data: Any


@dataclass(frozen=True)
class Link:
    entry_id: int
    incident_id: int
    seq: int
    hash: str


def utc_text(at: datetime) -> str:
    """UTC at fixed microsecond precision; a naive time is taken as UTC (as stored)."""
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(value: float | Decimal) -> int | float | str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        value = float(value)
    if not math.isfinite(value):
        return repr(value)       # NaN / inf: not JSON; kept as their words
    if value == int(value):
        # the integer its shortest form names, as PostgreSQL's JSONB keeps it: 1e23 is 10**23,
        # not int(1e23), the nearest double (99999999999999991611392)
        return int(Decimal(repr(value)))
    return value


def _normal(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return _number(value)
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    return value


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> Any:
    """_normal() for data that is already as the database keeps it (string keys, lists, plain
    scalars) — nearly every entry's — without the round trip; _NotPlain otherwise."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return _number(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            out[key] = _plain(item)
        return out
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    raise _NotPlain


def canonical_json(value: Any) -> str:
    """`value` as the database keeps JSON (the storage's own json round trip: tuples become
    lists, keys become strings), keys sorted, no whitespace, numbers normalised."""
    try:
        normal = _plain(value)
    except _NotPlain:
        normal = _normal(json.loads(json.dumps(_normal(value), default=str)))
    return json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=True)


def encode(content: Content, seq: int, previous: str) -> bytes:
    """The canonical JSON array of the module's docstring (written in parts: the data's
    canonical text is made once)."""
    scalars = json.dumps([TAG, VERSION, content.incident_id, content.entry_id, seq,
                          utc_text(content.at), content.kind, content.actor or "",
                          content.coordinator_id, content.summary or ""],
                         separators=(",", ":"), ensure_ascii=False)
    data = canonical_json(content.data if content.data is not None else {})
    text = f"{scalars[:-1]},{data},{json.dumps(previous)}]"
    return text.encode("utf-8", "surrogatepass")


def entry_hash(content: Content, seq: int, previous: str) -> str:
    return hashlib.sha256(encode(content, seq, previous)).hexdigest()


def head(connection: Connection, incident_id: int) -> tuple[int, str]:
    """(sequence number, hash) of the incident's last sealed entry; (0, GENESIS) before one."""
    row = connection.execute(text(
        "SELECT seq, hash FROM timeline_hashes WHERE incident_id = :i "
        "ORDER BY seq DESC LIMIT 1"), {"i": incident_id}).first()
    return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)


def _lock(connection: Connection, incident_id: int) -> None:
    # SQLite: the appending transaction already holds the database's write lock. A shared
    # PostgreSQL database has no such lock: the incident's row serialises its appenders.
    # NO KEY UPDATE, not UPDATE: the entry's INSERT already holds FOR KEY SHARE on this row (its
    # foreign key), and two appenders each upgrading that to FOR UPDATE deadlock.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT id FROM incidents WHERE id = :i FOR NO KEY UPDATE"),
                           {"i": incident_id})


def seal(connection: Connection, entries: Iterable[Content]) -> list[Link]:
    """Chain newly inserted entries (in the order given, per incident) in the same transaction:
    their sequence numbers and hashes go into timeline_hashes."""
    links: list[Link] = []
    heads: dict[int, tuple[int, str]] = {}
    for content in entries:
        if content.incident_id not in heads:
            _lock(connection, content.incident_id)
            heads[content.incident_id] = head(connection, content.incident_id)
        seq, previous = heads[content.incident_id]
        seq += 1
        digest = entry_hash(content, seq, previous)
        heads[content.incident_id] = (seq, digest)
        links.append(Link(content.entry_id, content.incident_id, seq, digest))
    rows = [{"entry_id": k.entry_id, "incident_id": k.incident_id, "seq": k.seq,
             "hash": k.hash, "version": VERSION} for k in links]
    if len(rows) == 1:        # one entry (the ORM's, one at a time)
        connection.execute(_HASHES.insert(), rows[0])
    elif rows:                # RETURNING: SQLAlchemy's "insertmanyvalues", one multi-row
        connection.execute(  # statement per 1,000 rows, compiled once (not an executemany)
            _HASHES.insert().returning(_HASHES.c.entry_id),
            rows).all()
    return links


def verify_links(rows: Sequence[tuple[Content, int, str, int]], seq: int,
                 previous: str) -> tuple[int, str, Content | None, str]:
    """Walk stored rows (content, seq, stored hash, version) in sequence order from the link
    after (`seq`, `previous`). Returns the last good (seq, hash), and the first entry that
    breaks the chain with the reason, or None."""
    for content, row_seq, stored, version in rows:
        if row_seq != seq + 1:
            return seq, previous, content, (
                f"entry {content.entry_id} has sequence number {row_seq}, expected {seq + 1}: "
                f"an entry before it is missing")
        if version != VERSION:
            return seq, previous, content, (
                f"entry {content.entry_id} was sealed with encoding version {version}, which "
                f"this Clarion does not know")
        expected = entry_hash(content, row_seq, previous)
        if expected != stored:
            return seq, previous, content, (
                f"entry {content.entry_id} (number {row_seq}) does not match its hash: it was "
                f"changed after it was written, or an entry before it was")
        seq, previous = row_seq, stored
    return seq, previous, None, ""
