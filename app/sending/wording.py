"""How the outbox's own timeline entries read, where a reader needs more than the stored text
(light: the window's timeline imports it at start-up, without the sending machinery)."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from app.domain.dto import TimelineEntryDTO
from app.domain.enums import TimelineKind

RETRY_LATER = "; will retry later"


def describe_retry(entry: TimelineEntryDTO, show: Callable[[datetime], str]) -> str:
    """A retry as a reader wants it: "…; will retry at 14:05 (451 …)". The entry keeps the
    time in UTC in its data (the summary says "later": an append-only text is never
    re-formatted for another zone); `show` formats it for the window or a report."""
    data = entry.data or {}
    times = [d.get("next_attempt_at") for d in data.get("deliveries", ())] or \
        [data.get("next_attempt_at")]
    times = sorted(t for t in times if t)
    if entry.kind != TimelineKind.DELIVERY_RETRY.value or not times or \
            RETRY_LATER not in entry.summary:
        return entry.summary
    head, _, tail = entry.summary.partition(RETRY_LATER)
    when = show(datetime.fromisoformat(times[0]))
    words = f"will retry at {when}" if len(times) == 1 else f"will retry from {when}"
    reason = tail[2:] if tail.startswith(": ") else tail
    drill = ""
    if reason.endswith(" (drill)"):
        reason, drill = reason[:-len(" (drill)")], " (drill)"
    return f"{head}; {words}" + (f" ({reason})" if reason else "") + drill
