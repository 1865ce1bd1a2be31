"""Date-time editors that edit in a given zone (an incident's client's) and say which: aware UTC
datetimes (app/) to and from the wall-clock fields of that zone, which Qt never shifts,
whatever the machine's zone is."""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QDate, QDateTime, QTime, QTimeZone

from app.clock import ensure_utc


def to_wall_qdatetime(value: datetime, zone) -> QDateTime:  # type: ignore[no-untyped-def]
    """The clock time `value` shows in `zone`, as a QDateTime Qt will not shift (UTC spec)."""
    wall = ensure_utc(value).astimezone(zone)
    return QDateTime(QDate(wall.year, wall.month, wall.day),
                     QTime(wall.hour, wall.minute, wall.second), QTimeZone.utc())


def from_wall_qdatetime(value: QDateTime, zone) -> datetime:  # type: ignore[no-untyped-def]
    """A clock time typed in `zone` (to_wall_qdatetime's editor), as an aware UTC datetime."""
    d, t = value.date(), value.time()
    wall = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute(), t.second(), tzinfo=zone)
    return wall.astimezone(timezone.utc)


def incident_zone(services, client_id: int):  # type: ignore[no-untyped-def]
    """The zone an incident's times are shown and edited in: its client's."""
    from app.stakeholders.clients import list_clients
    from app.timefmt import zone_named

    client = next((c for c in list_clients(services.store) if c.id == client_id), None)
    return zone_named(client.time_zone if client else None)


def edit_in_zone(edit, zone, value: datetime) -> None:  # type: ignore[no-untyped-def]
    """Make a QDateTimeEdit show and edit `zone`'s clock times, say which zone it is, and show
    `value`. Read it back with zoned_value()."""
    edit.setTimeZone(QTimeZone.utc())    # wall-clock fields of `zone`: Qt never shifts them
    name = ensure_utc(value).astimezone(zone).tzname() or ""
    edit.setDisplayFormat(f"yyyy-MM-dd HH:mm '{name}'" if name else "yyyy-MM-dd HH:mm")
    edit.setDateTime(to_wall_qdatetime(value, zone))


def zoned_value(edit, zone) -> datetime:  # type: ignore[no-untyped-def]
    return from_wall_qdatetime(edit.dateTime(), zone)
