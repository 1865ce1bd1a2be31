"""The message linter's fact checks (app/messages/lint/linter.py runs them): clock times and "within N minutes"
written into a message that differ from the incident's facts (its ETA, ETA qualifier and next
update time, read in the client's time zone), and a status update or acknowledgment that does
not say when the next update comes. Pure; no Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Iterator

from app.clock import ensure_utc
from app.domain.dto import Facts
from app.messages.lint.text import (
    SENTENCE_END, WORD, Finding, LintContext, clause_words, html_part, parts, past_resolution,
    quote, zone_or_utc,
)

# --- times -----------------------------------------------------------------------------------

_TIME = re.compile(
    r"(?<![\w:.,/])(?:"
    r"(?P<h>[0-9]{1,2})(?P<sep>[:hH])(?P<m>[0-5][0-9])(?![0-9])(?!:[0-9])"
    r"(?:\s?(?P<ap>[aApP])(?:\.[mM]\b\.?|[mM]\b))?"
    r"|(?P<h2>[0-9]{1,2})\s?(?P<ap2>[aApP])(?:\.[mM]\b\.?|[mM]\b)"
    r")(?:\s?(?P<utc>(?i:UTC|GMT))\b|(?P<z>Z)\b)?")
_TIME_PAST_CUES = frozenset(
    "since began begun started start starting detected noticed reported occurred happened "
    "from between".split())
_DURATION_CUES = frozenset("within in for every".split())

# A written date just before a time makes the time part of that date ("2 March 2026 at 16:20",
# "March 2, 2026, 4:20 pm", "2026-03-02 16:20", "on Monday 2 March at 16:20"): a discovery or
# occurrence time in a notice, not a claim about today's ETA. Day-month-year, month-day-year and
# numeric dates with a year; a date without a year only as "on <date> at <time>".
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)[0-9]{2}"
_WEEKDAY = (r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?")
_DAY_MONTH = rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}|{_MONTH}\s+(?:the\s+)?{_DAY}"
_DATED = re.compile(
    r"(?<![\w./\-])(?:"
    rf"(?:{_DAY_MONTH}),?\s+{_YEAR}"
    rf"|{_YEAR}-[01]?[0-9]-[0-3]?[0-9]|[0-3]?[0-9]([./\-])[0-3]?[0-9]\1{_YEAR}"
    r")(?:\s*,)?\s*(?:at\s+)?\Z"
    rf"|(?<!\w)on\s+(?:{_WEEKDAY},?\s+)?(?:{_DAY_MONTH})(?:\s*,)?\s+at\s+\Z", re.I)


def _dated(s: str, start: int) -> bool:
    """Whether a written date stands just before position `start` (a time's start)."""
    return _DATED.search(s, max(0, start - 48), start) is not None


@dataclass(frozen=True)
class _TextTime:
    start: int
    end: int
    minutes: frozenset[int]      # candidate minutes of the day (12-hour "2:05" is 2:05 or 14:05)
    utc: bool


def _times(s: str) -> Iterator[_TextTime]:
    """Clock times written in `s`: 14:05, 2:05 pm, 2 PM, 2 p.m., 14h05, 14:05 UTC."""
    for m in _TIME.finditer(s):
        utc = bool(m.group("utc") or m.group("z"))
        if m.group("h") is not None:
            h, mi, ap = int(m.group("h")), int(m.group("m")), m.group("ap")
            sep = m.group("sep")
        else:
            h, mi, ap, sep = int(m.group("h2")), 0, m.group("ap2"), ""
        if ap:
            if not 1 <= h <= 12:
                continue
            hours = {h % 12 + (12 if ap.lower() == "p" else 0)}
        elif h > 23:
            continue
        elif sep == ":" and 1 <= h <= 12:
            hours = {h, (h + 12) % 24}
        else:
            hours = {h}
        end = m.end()
        while end > m.start() and s[end - 1].isspace():
            end -= 1
        yield _TextTime(m.start(), end, frozenset(x * 60 + mi for x in hours), utc)


def _minute_of_day(value: datetime, tz: tzinfo) -> int:
    local = ensure_utc(value).astimezone(tz)
    return local.hour * 60 + local.minute


def _hhmm(value: datetime, tz: tzinfo) -> str:
    return ensure_utc(value).astimezone(tz).strftime("%H:%M")


def _is_past(t: _TextTime, now: datetime | None, tz: tzinfo) -> bool:
    """Whether the time, read as the reading nearest to now, is now or lies in the 12 hours
    before (a start, detection or "as of" time, not a promise)."""
    if now is None:
        return False
    now_min = _minute_of_day(now, tz)
    deltas = [(c - now_min) % 1440 for c in t.minutes]
    nearest = min(deltas, key=lambda d: min(d, 1440 - d))
    return nearest == 0 or nearest > 720


def _fact_times_text(facts: Facts, tz: tzinfo, suffix: str) -> str:
    eta = _hhmm(facts.eta_at, tz) + suffix if facts.eta_at else None
    nxt = _hhmm(facts.next_update_at, tz) + suffix if facts.next_update_at else None
    if eta and nxt:
        return f"; the ETA is {eta} and the next update {nxt}"
    if eta:
        return f"; the ETA is {eta}"
    if nxt:
        return f"; the next update is at {nxt}"
    return ", but the facts have no ETA or next update time"


_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "six": 6, "eight": 8, "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20,
                 "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60,
                 "ninety": 90}
_DURATION = (r"(?P<n>[0-9]+(?:[.,][0-9]+)?|half\s+an?|forty-five|"
             + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
             + r")\s*-?\s*(?P<u>minutes?|mins?|hours?|hrs?|h|m|days?)\b")
_WITHIN = re.compile(r"\bwithin\s+(?:the\s+next\s+)?" + _DURATION, re.I)
_DURATION_RE = re.compile(r"(?<![\w.])" + _DURATION, re.I)


def _duration_minutes(m: re.Match[str]) -> float:
    n = m.group("n").lower()
    if n.startswith("half"):
        return 30.0
    value = float(n.replace(",", ".")) if n[0].isdigit() else float(_NUMBER_WORDS[n])
    unit = m.group("u").lower()
    factor = 1440 if unit.startswith("d") else 60 if unit.startswith("h") else 1
    return value * factor


# A "within N minutes" is a promise about the ETA or the next update only in a sentence that
# speaks of one ("expect it back within 30 minutes"), not in an instruction ("if a chart does
# not open within two minutes, use the paper forms").
_ETA_CUES = frozenset("""
    eta expect expects expected expecting estimate estimated estimating anticipate anticipated
    fix fixed fixing restore restored restoring resolve resolved resolving resolution recover
    recovered recovery back normal normally again available availability online update updates
    hear
""".split())


def _about_eta(s: str, start: int, end: int) -> bool:
    left = max((m.end() for m in SENTENCE_END.finditer(s, max(0, start - 300), start)),
               default=max(0, start - 300))
    right_match = SENTENCE_END.search(s, end)
    right = right_match.start() if right_match else len(s)
    words = {w.lower() for w in WORD.findall(s[left:start] + " " + s[end:right])}
    return not _ETA_CUES.isdisjoint(words)


# A zone written after a time: "15:22 PST", "15:22 CEST", "15:22 UTC+1", "15:22 (+01:00)".
_ZONE_AFTER = re.compile(r"\s?\(?(?:[A-Z]{2,5}\b|(?:UTC|GMT)?[+\-−][0-9]{1,2}(?::?[0-9]{2})?)")


def _offset(zone: tzinfo, at: datetime) -> object:
    return at.astimezone(zone).utcoffset()


def check_zone_less_time(text: str, subject: str | None, html: str | None,
                         ctx: LintContext) -> list[Finding]:
    """A clock time with no zone while the coordinator's zone differs from the client's (a
    warning): "since about 23:05" typed on a UTC desk goes out read as Pacific time. Times
    Clarion writes carry their zone ("15:22 PST") and never trigger it."""
    if not ctx.coordinator_zone or ctx.now is None:
        return []
    client = zone_or_utc(ctx.time_zone)
    desk = zone_or_utc(ctx.coordinator_zone) if isinstance(ctx.coordinator_zone, str) \
        else ctx.coordinator_zone
    now = ensure_utc(ctx.now)
    if _offset(client, now) == _offset(desk, now):
        return []
    abbreviation = now.astimezone(client).tzname() or ctx.time_zone
    mine = now.astimezone(desk).tzname() or str(ctx.coordinator_zone)
    found: list[Finding] = []
    for part in parts(text, subject, html):
        s = part.text
        for t in _times(s):
            if t.utc or _ZONE_AFTER.match(s, t.end) or s[max(0, t.start - 1):t.start] in \
                    ("+", "-", "−"):   # a zone itself ("+01:00")
                continue
            found.append(part.finding(
                "zone_less_time", "warning",
                f"{quote(s[t.start:t.end])} — in which zone? Messages to this client use "
                f"{abbreviation} (you are on {mine}): write it with its zone", t.start, t.end))
    return found


def check_fact_mismatch(text: str, subject: str | None, html: str | None,
                        ctx: LintContext) -> list[Finding]:
    """Facts written into the message that differ from the incident's (a warning each):
    - a clock time (14:05, 2:05 pm, 2 PM, 14h05; "14:05 UTC" is read in UTC, others in the
      client's zone) that is neither the ETA nor the next update. Times that read as past
      ("since 13:40", "started at", or ctx.now and the 12 hours before it) are start, detection
      or "as of" times and are left alone; so is a duration ("in 2h30"), and so is a time
      that belongs to a date written just before it ("2 March 2026 at 16:20", "on 2 March at
      16:20").
    - "within N minutes/hours", in a sentence about the ETA or the next update ("expect",
      "restored", "back", "update", ...), that neither the ETA qualifier says nor (with ctx.now)
      the ETA or the next update is N minutes away (±5); not once the incident is resolved or
      in a resolution notice or post-incident summary."""
    facts, tz = ctx.facts, zone_or_utc(ctx.time_zone)
    found: list[Finding] = []
    qual_match = _DURATION_RE.search(facts.eta_qualifier or "")
    qual_minutes = _duration_minutes(qual_match) if qual_match else None
    fact_values = [v for v in (facts.eta_at, facts.next_update_at) if v is not None]
    # Once resolved, the ETA is history: "the summary follows within 24 hours" is no ETA claim.
    resolved = past_resolution(ctx)
    for part in parts(text, subject, html):
        s = part.text
        for t in _times(s):
            zone = timezone.utc if t.utc else tz
            if t.minutes & {_minute_of_day(v, zone) for v in fact_values}:
                continue
            before = clause_words(s, t.start, 4)
            if before and before[-1] in _DURATION_CUES:
                continue
            if _TIME_PAST_CUES.intersection(before) or _is_past(t, ctx.now, zone):
                continue
            if _dated(s, t.start):
                continue
            found.append(part.finding(
                "fact_time_mismatch", "warning",
                f"The text says {s[t.start:t.end]}"
                f"{_fact_times_text(facts, zone, ' UTC' if t.utc else '')}",
                t.start, t.end))
        for m in _WITHIN.finditer(s):
            if resolved or not _about_eta(s, m.start(), m.end()):
                continue
            said = _duration_minutes(m)
            if qual_minutes is not None and abs(qual_minutes - said) < 0.5:
                continue
            if ctx.now is not None and any(
                    abs((ensure_utc(v) - ensure_utc(ctx.now)).total_seconds() / 60 - said) <= 5
                    for v in fact_values):
                continue
            facts_say = (f"the ETA qualifier is {quote(facts.eta_qualifier)}"
                         if facts.eta_qualifier.strip() else "the facts have no ETA qualifier")
            found.append(part.finding(
                "fact_eta_mismatch", "warning",
                f"The text says {quote(m.group())}; {facts_say}",
                m.start(), m.end()))
    return found


# --- next update -----------------------------------------------------------------------------

_NEXT_UPDATE_PHRASE = re.compile(
    r"\b(?:next|further|another|follow[\s\-]?up)\s+(?:\w+\s+)?update"
    r"|\b(?:we\s+will|we['’]ll|will)\s+(?:send\s+|give\s+|provide\s+|share\s+)?"
    r"(?:you\s+)?(?:an?\s+)?(?:further\s+)?update"
    r"|\bupdate\s+(?:you\s+)?(?:again\s+)?(?:by|at|before|no\s+later\s+than)\b", re.I)
_NEXT_UPDATE_TEMPLATES = frozenset({"status_update", "initial_acknowledgment"})


def check_next_update(text: str, subject: str | None, html: str | None,
                      ctx: LintContext) -> list[Finding]:
    """A status update or initial acknowledgment must say when the next update comes: its next
    update time (facts.next_update_at, in the client's zone) or a phrase like "next update".
    Missing: a warning. A status update while the facts have no next update time: an error."""
    if ctx.template_type not in _NEXT_UPDATE_TEMPLATES:
        return []
    body = text if text.strip() or not html else html_part(html).text
    nxt = ctx.facts.next_update_at
    if nxt is None and ctx.template_type == "status_update":
        return [Finding("next_update_unset", "error",
                        "Set the next update time in the facts: a status update says when the "
                        "next one comes", "text", 0, 0)]
    if _NEXT_UPDATE_PHRASE.search(body):
        return []
    if nxt is not None:
        tz = zone_or_utc(ctx.time_zone)
        want = {(tz, _minute_of_day(nxt, tz)), (timezone.utc, _minute_of_day(nxt, timezone.utc))}
        for t in _times(body):
            if any(minute in t.minutes and (zone is timezone.utc) == t.utc
                   for zone, minute in want):
                return []
        hint = f": add “Next update at {_hhmm(nxt, tz)}”"
    else:
        hint = " (and the facts have no next update time)"
    return [Finding("next_update_missing", "warning",
                    f"The message does not say when the next update comes{hint}",
                    "text", 0, 0)]
