"""One incident's timeline a page at a time, newest first, for the window: Core selects (no
ORM objects) in read-only sessions (a snapshot that never waits for the sending thread), a
keyset on (at, id) descending — the index ix_timeline_incident_at (incident_id, at) with
SQLite's rowid serves it — and the kind filter as a WHERE, so it covers every page.

`IncidentService.timeline()` still reads the whole timeline for those who need all of it
(reports, exports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import func, select, tuple_

from app.domain.dto import TimelineEntryDTO
from app.domain.models import TimelineEntry

PAGE = 200   # rows a page: a few screens of one-line rows, read in a few milliseconds

_T = TimelineEntry      # its columns only: rows of plain values, never ORM objects
_COLUMNS = (_T.id, _T.incident_id, _T.at, _T.kind, _T.actor, _T.summary, _T.data,
            _T.coordinator_id)

Key = tuple[datetime, int]   # (at, id) of an entry: the keyset's position


def key_of(entry: TimelineEntryDTO) -> Key:
    return (entry.at, entry.id)


@dataclass(frozen=True)
class FirstPage:
    """The newest page and the counts, read in one transaction (one snapshot)."""

    entries: list[TimelineEntryDTO]   # newest first
    matching: int    # entries of the kind asked for (all of them without one)
    total: int       # all the incident's entries
    last_id: int     # the highest entry id of any incident then: appends above it are new

    @property
    def complete(self) -> bool:
        return len(self.entries) >= self.matching


def _dto(row: Any) -> TimelineEntryDTO:
    return TimelineEntryDTO(id=row.id, incident_id=row.incident_id, at=row.at, kind=row.kind,
                            actor=row.actor, summary=row.summary, data=dict(row.data or {}),
                            coordinator_id=row.coordinator_id)


def _page_stmt(incident_id: int, kind: str | None, before: Key | None, limit: int) -> Any:
    stmt = select(*_COLUMNS).where(_T.incident_id == incident_id)
    if kind is not None:
        stmt = stmt.where(_T.kind == kind)
    if before is not None:
        stmt = stmt.where(tuple_(_T.at, _T.id) < tuple_(*before))
    return stmt.order_by(_T.at.desc(), _T.id.desc()).limit(limit)


def _count_stmt(incident_id: int, kind: str | None) -> Any:
    stmt = select(func.count()).select_from(_T).where(_T.incident_id == incident_id)
    return stmt if kind is None else stmt.where(_T.kind == kind)


def page(store: Any, incident_id: int, *, kind: str | None = None, before: Key | None = None,
         limit: int = PAGE) -> list[TimelineEntryDTO]:
    """Up to `limit` entries, newest first, strictly older than `before` (the key of the last
    entry already shown) — of `kind` only when given."""
    with store.reading() as session:
        return [_dto(r) for r in session.execute(_page_stmt(incident_id, kind, before, limit))]


def count(store: Any, incident_id: int, kind: str | None = None) -> int:
    with store.reading() as session:
        return int(session.execute(_count_stmt(incident_id, kind)).scalar_one())


def first_page(store: Any, incident_id: int, *, kind: str | None = None,
               limit: int = PAGE) -> FirstPage:
    """The newest `limit` entries (of `kind` when given) with the counts the window shows."""
    with store.reading() as session:
        entries = [_dto(r) for r in session.execute(_page_stmt(incident_id, kind, None, limit))]
        if kind is None and len(entries) < limit:
            total = matching = len(entries)
        else:
            total = int(session.execute(_count_stmt(incident_id, None)).scalar_one())
            matching = total if kind is None else (
                len(entries) if len(entries) < limit else
                int(session.execute(_count_stmt(incident_id, kind)).scalar_one()))
        last_id = session.execute(select(func.max(_T.id))).scalar_one() or 0
    return FirstPage(entries, matching, total, int(last_id))


def newest_first(entries: Sequence[TimelineEntryDTO]) -> list[TimelineEntryDTO]:
    return sorted(entries, key=key_of, reverse=True)
