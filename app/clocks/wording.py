"""How the clocks' texts read: their times are written in UTC ("2026-03-02 09:05 UTC", or
"09:05 UTC" inside a sentence) — never in one reader's zone — and kept beside the text (in the
entry's data, or a due item's `times`); a reader's window or report shows them in its own zone
(`describe_clock_entry`, `in_zone`). Light: the window imports it at start-up."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Sequence

from app.clock import ensure_utc
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import TimelineKind

# the data key holding each kind's time
_REMINDER = TimelineKind.REMINDER.value
_TIMES = {TimelineKind.CLOCK_STARTED.value: "effective_at",
          TimelineKind.CLOCK_SATISFIED.value: "satisfied_at"}


def utc_text(value: datetime) -> str:
    """A time as entries write it: unambiguous, in UTC."""
    return f"{ensure_utc(value):%Y-%m-%d %H:%M} UTC"


def hm_utc(value: datetime) -> str:
    """A time inside a sentence ("09:05 UTC"); the sentence keeps the value beside it."""
    value = ensure_utc(value)   # fields, not strftime: 25,000 calls for 1,000 incidents
    return f"{value.hour:02d}:{value.minute:02d} UTC"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_hm_utc(value: datetime) -> str:
    """A time with its day inside a sentence ("2 Mar 09:05 UTC"), whatever the locale."""
    value = ensure_utc(value)
    return (f"{value.day} {_MONTHS[value.month - 1]} "
            f"{value.hour:02d}:{value.minute:02d} UTC")


def in_zone(text: str, times: Sequence[datetime], show: Callable[[datetime], str]) -> str:
    """The text with each of its times (written by day_hm_utc or hm_utc) shown by `show`."""
    for value in times:
        for written in (day_hm_utc(value), hm_utc(value)):
            if written in text:
                text = text.replace(written, show(value), 1)
                break
    return text


def times_of(data: dict[str, Any] | None) -> list[datetime]:
    """The times an entry's data keeps for its text (`times`: ISO strings)."""
    return [datetime.fromisoformat(v) for v in (data or {}).get("times", ()) if v]


def _reminder(entry: TimelineEntryDTO, show: Callable[[datetime], str]) -> str:
    """"Overdue: Status update (due 14:05 PST), …": the titles and due times its data keeps."""
    items = [i for i in (entry.data or {}).get("items", ()) if i.get("title") and i.get("due_at")]
    if not items or not entry.summary.startswith("Overdue: "):
        return entry.summary
    shown = ", ".join(f"{i['title']} (due {show(datetime.fromisoformat(i['due_at']))})"
                      for i in items[:5])
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    return f"Overdue: {shown}{more}"


def describe_clock_entry(entry: TimelineEntryDTO, show: Callable[[datetime], str]) -> str:
    """The entry's text with its UTC times shown by `show` (the reader's zone); entries written
    before this wording (in the writer's local time) read as written."""
    if entry.kind == _REMINDER:
        return _reminder(entry, show)
    text = in_zone(entry.summary, times_of(entry.data), show)
    key = _TIMES.get(entry.kind)
    value = (entry.data or {}).get(key) if key else None
    if not value:
        return text
    at = datetime.fromisoformat(value)
    written = utc_text(at)
    return text.replace(written, show(at)) if written in text else text
