"""How the clocks' timeline entries read: their times are written in UTC ("2026-03-02 09:05
UTC") — never in one reader's zone — and kept in the entry's data; a reader's window or report
shows them in its own zone (`describe_clock_entry`). Light: the window imports it at start-up."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from app.clock import ensure_utc
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import TimelineKind

# the data key holding each kind's time
_TIMES = {TimelineKind.CLOCK_STARTED.value: "effective_at",
          TimelineKind.CLOCK_SATISFIED.value: "satisfied_at"}


def utc_text(value: datetime) -> str:
    """A time as entries write it: unambiguous, in UTC."""
    return f"{ensure_utc(value):%Y-%m-%d %H:%M} UTC"


def describe_clock_entry(entry: TimelineEntryDTO, show: Callable[[datetime], str]) -> str:
    """The entry's text with its UTC time shown by `show` (the reader's zone); entries written
    before this wording (in the writer's local time) read as written."""
    key = _TIMES.get(entry.kind)
    value = (entry.data or {}).get(key) if key else None
    if not value:
        return entry.summary
    at = datetime.fromisoformat(value)
    written = utc_text(at)
    return entry.summary.replace(written, show(at)) if written in entry.summary \
        else entry.summary
