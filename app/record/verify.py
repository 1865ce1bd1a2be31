"""Verify the timeline's hash chains: walk an incident's entries in sequence order, re-hash each
and compare (app/domain/chain.py), and name the first entry that breaks.

A cold check walks the whole chain. An incremental one (the window, on opening an incident)
starts after the link remembered in `timeline_checked` — once it has confirmed that link is
still there with the same hash — so a 100,000-entry incident is not re-hashed each time it is
opened. It also confirms what is cheap to confirm over the whole incident: every entry has its
link, every link its entry, and the chain did not get shorter. A change to an entry before the
remembered link is found by the cold check (`clarion verify`) and the window's daily one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import Connection, func, select

from app.domain import chain
from app.domain.models import ChainChecked, Incident, TimelineEntry, TimelineHash
from app.storage.engine import Store

PAGE = 5000


@dataclass(frozen=True)
class Break:
    """The first entry where the chain does not hold."""

    seq: int                      # its place in the chain (0 when it has none)
    entry_id: int | None
    at: datetime | None
    summary: str
    reason: str


@dataclass(frozen=True)
class ChainReport:
    incident_id: int
    title: str
    entries: int                  # entries the incident has
    head_seq: int                 # the last link: its number and hash
    head_hash: str
    hashed: int                   # entries re-hashed by this check
    from_seq: int                 # the check started after this link (0: from the start)
    broken: Break | None = None

    @property
    def holds(self) -> bool:
        return self.broken is None

    @property
    def incremental(self) -> bool:
        return self.from_seq > 0


@dataclass
class _Walk:
    seq: int = 0
    previous: str = chain.GENESIS
    hashed: int = 0
    broken: Break | None = None


def _columns():  # type: ignore[no-untyped-def]
    return (TimelineHash.seq, TimelineHash.hash, TimelineHash.version, TimelineHash.entry_id,
            TimelineEntry.id, TimelineEntry.incident_id, TimelineEntry.at, TimelineEntry.kind,
            TimelineEntry.actor, TimelineEntry.coordinator_id, TimelineEntry.summary,
            TimelineEntry.data)


def _content(row) -> chain.Content:  # type: ignore[no-untyped-def]
    return chain.Content(incident_id=row.incident_id, entry_id=row.id, at=row.at,
                         kind=row.kind, actor=row.actor or "",
                         coordinator_id=row.coordinator_id, summary=row.summary or "",
                         data=row.data if row.data is not None else {})


def _walk(conn: Connection, incident_id: int, walk: _Walk,
          progress: Callable[[int], None] | None) -> None:
    while walk.broken is None:
        rows = conn.execute(
            select(*_columns())
            .select_from(TimelineHash)
            .outerjoin(TimelineEntry, TimelineEntry.id == TimelineHash.entry_id)
            .where(TimelineHash.incident_id == incident_id, TimelineHash.seq > walk.seq)
            .order_by(TimelineHash.seq).limit(PAGE)).all()
        if not rows:
            return
        links, gone = [], None      # the page's links up to one whose entry is gone or moved
        for row in rows:
            if row.id is None:
                gone = Break(row.seq, row.entry_id, None, "", (
                    f"entry {row.entry_id} (number {row.seq}) is missing: it was deleted"))
            elif row.incident_id != incident_id:
                gone = Break(row.seq, row.id, row.at, row.summary or "", (
                    f"entry {row.id} (number {row.seq}) was moved to another incident"))
            if gone is not None:
                break
            links.append((_content(row), row.seq, row.hash, row.version))
        seq, previous, bad, reason = chain.verify_links(links, walk.seq, walk.previous)
        walk.hashed += seq - walk.seq
        walk.seq, walk.previous = seq, previous
        if bad is not None:
            bad_seq = next(n for content, n, _, _ in links if content is bad)
            walk.broken = Break(bad_seq, bad.entry_id, bad.at, bad.summary, reason)
        else:
            walk.broken = gone
        if progress is not None:
            progress(walk.hashed)


def _unlinked(conn: Connection, incident_id: int) -> Break | None:
    row = conn.execute(
        select(TimelineEntry.id, TimelineEntry.at, TimelineEntry.summary)
        .outerjoin(TimelineHash, TimelineHash.entry_id == TimelineEntry.id)
        .where(TimelineEntry.incident_id == incident_id, TimelineHash.entry_id.is_(None))
        .order_by(TimelineEntry.id).limit(1)).first()
    if row is None:
        return None
    return Break(0, row.id, row.at, row.summary or "",
                 f"entry {row.id} has no place in the chain: it was added outside Clarion")


def verify_incident(store: Store, incident_id: int, *, incremental: bool = False,
                    now: datetime | None = None,
                    progress: Callable[[int], None] | None = None) -> ChainReport:
    """Check one incident's chain; `incremental` starts after the remembered link. A chain
    that holds is remembered (its head) when `now` is given."""
    with store.reading() as session:
        conn = session.connection()
        title = session.scalar(select(Incident.title).where(Incident.id == incident_id))
        if title is None:
            raise LookupError(f"Incident {incident_id} does not exist.")
        entries = session.scalar(select(func.count()).select_from(TimelineEntry)
                                 .where(TimelineEntry.incident_id == incident_id)) or 0
        last_seq, last_hash = chain.head(conn, incident_id)
        walk = _Walk()
        remembered = session.get(ChainChecked, incident_id) if incremental else None
        if remembered is not None:
            at_mark = session.scalar(select(TimelineHash.hash).where(
                TimelineHash.incident_id == incident_id, TimelineHash.seq == remembered.seq))
            if at_mark is None:
                walk.broken = Break(remembered.seq, None, None, "", (
                    f"the chain was verified up to entry number {remembered.seq} and now ends "
                    f"at {last_seq}: entries were removed"))
            elif at_mark != remembered.hash:
                walk.broken = Break(remembered.seq, None, None, "", (
                    f"entry number {remembered.seq}'s hash is not the one verified before: "
                    f"the chain was rewritten"))
            else:
                walk.seq, walk.previous = remembered.seq, remembered.hash
        from_seq = walk.seq
        if walk.broken is None:
            _walk(conn, incident_id, walk, progress)
        if walk.broken is None:
            walk.broken = _unlinked(conn, incident_id)
        if walk.broken is None and last_seq != entries:
            walk.broken = Break(last_seq, None, None, "", (
                f"the incident has {entries} entries but its chain has {last_seq} links"))
    if now is not None:
        if walk.broken is None and walk.seq != from_seq:   # nothing new: no write at all
            remember(store, incident_id, walk.seq, walk.previous, now)
        elif not incremental:
            forget(store, incident_id)   # later incremental checks walk from the start again
    return ChainReport(incident_id=incident_id, title=title, entries=entries,
                       head_seq=last_seq, head_hash=last_hash, hashed=walk.hashed,
                       from_seq=from_seq, broken=walk.broken)


def remember(store: Store, incident_id: int, seq: int, digest: str, now: datetime) -> None:
    if seq == 0:
        return
    with store.session() as session, session.begin():
        row = session.get(ChainChecked, incident_id)
        if row is None:
            session.add(ChainChecked(incident_id=incident_id, seq=seq, hash=digest,
                                     checked_at=now))
        elif seq >= row.seq:
            row.seq, row.hash, row.checked_at = seq, digest, now


def forget(store: Store, incident_id: int) -> None:
    with store.session() as session, session.begin():
        row = session.get(ChainChecked, incident_id)
        if row is not None:
            session.delete(row)


def verify_all(store: Store, now: datetime) -> list[ChainReport]:
    """Every incident's chain from its first entry (the window's daily check): a change before
    a remembered link is found here, and such a chain is forgotten so that the incident's
    incremental checks find it too."""
    return [verify_incident(store, incident_id, now=now) for incident_id in incident_ids(store)]


def incident_ids(store: Store) -> list[int]:
    with store.reading() as session:
        return list(session.scalars(select(Incident.id).order_by(Incident.id)))


def chain_head(store: Store, incident_id: int) -> tuple[int, str]:
    """The incident's last link (its number and hash): what a report prints."""
    with store.reading() as session:
        return chain.head(session.connection(), incident_id)


@dataclass(frozen=True)
class HeadMatch:
    found_seq: int | None          # the link with that hash (None: no such link)
    head_seq: int
    head_hash: str

    @property
    def is_head(self) -> bool:
        return self.found_seq is not None and self.found_seq == self.head_seq


def match_head(store: Store, incident_id: int, digest: str) -> HeadMatch:
    """Where a printed chain head (a hash, or its beginning of at least 12 characters) is in
    the incident's chain now."""
    wanted = digest.strip().lower()
    with store.reading() as session:
        conn = session.connection()
        seq, head_hash = chain.head(conn, incident_id)
        found = None
        if len(wanted) >= 12:
            found = session.scalar(select(TimelineHash.seq).where(
                TimelineHash.incident_id == incident_id,
                TimelineHash.hash.startswith(wanted, autoescape=True)))
    return HeadMatch(found_seq=found, head_seq=seq, head_hash=head_hash)
