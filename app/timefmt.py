"""Display helpers for times: stored in UTC, shown in a zone with its abbreviation ("14:05
PST"): an incident's times in its client's zone, times across clients in the coordinator's
(`tz=None`): the machine's, unless Settings → Time zone chose another (`set_desk_zone`, applied
once at start and when changed — the one display preference this module keeps)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from app.clock import ensure_utc


_desk: tzinfo | None = None   # the coordinator's zone; None: the machine's


def set_desk_zone(name: str | None) -> bool:
    """The coordinator's zone for times across clients: an IANA name, or ''/None for the
    machine's own. False (and the machine's) for a name that is no zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    global _desk
    _desk = None
    if not name:
        return True
    try:
        _desk = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def desk_zone() -> tzinfo | None:
    """The zone chosen in Settings, or None (the machine's)."""
    return _desk


def coordinator_zone() -> tzinfo:
    """Where the coordinator's own times are: the chosen zone, else the machine's (typed
    times without a zone are taken to be in it)."""
    return _desk if _desk is not None else datetime.now().astimezone().tzinfo  # type: ignore[return-value]


def local(value: datetime, tz: tzinfo | None = None) -> datetime:
    return ensure_utc(value).astimezone(tz if tz is not None else _desk)


def zone_named(name: str | None) -> tzinfo:
    """The IANA zone of that name; UTC for none or an unknown one."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_local(value: datetime | None, tz: tzinfo | None = None, with_date: bool = True,
                 now: datetime | None = None) -> str:
    """'14:05 PST' today, 'Tue 3 Mar 2026 14:05 PST' otherwise, in `tz` (None: the
    coordinator's zone) with the zone's abbreviation; '' for None."""
    if value is None:
        return ""
    shown = local(value, tz)
    zone = f" {shown.tzname()}" if shown.tzname() else ""
    if not with_date:
        return shown.strftime("%H:%M") + zone
    if now is not None and local(now, tz).date() == shown.date():
        return shown.strftime("%H:%M") + zone
    return f"{shown.strftime('%a')} {shown.day} {shown.strftime('%b %Y %H:%M')}{zone}"


def format_duration(delta: timedelta) -> str:
    """A coordinator-friendly span: '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{sign}{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h"
