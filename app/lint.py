"""The message linter: the classic failure patterns of incident communication, caught while the
coordinator types (DESIGN.md "Don't make the classic mistakes"). Pure functions; no Qt.

Each check is a small function `check(text, subject, html, ctx) -> list[Finding]`; `lint()` runs
every one in CHECKS and sorts what they find by part and position. A finding's span is a range
of Python string indices (code points) in its part — the subject, the plain text or the HTML
string as given — so the editor can underline it; [0, 0) when it is about the whole message.
Qt counts UTF-16 units: convert with `utf16_offset()` when the text holds emoji.

Codes and severities:
  jargon                  warning (detail level impact, simple), info (operational),
                          nothing (technical)
  blame                   warning
  premature_resolution    error (phase not resolved/closed, not a resolution or summary template)
  fact_time_mismatch      warning  a time that is neither the ETA nor the next update
  fact_eta_mismatch       warning  "within N minutes" that the ETA qualifier does not say
  next_update_missing     warning  status update / acknowledgment that does not say when next
  next_update_unset       error    status update while the facts have no next update time
  over_communication      warning
  sms_info                info     encoding and segments (channel sms)
  sms_multipart           warning  2-4 segments
  sms_too_long            error    more than 4 segments
  sms_ucs2                warning  characters that force UCS-2
  sms_url                 warning  a link in an SMS
  subject_empty           error    (email)
  subject_newline         error    (email; header injection)
  subject_too_long        warning  (email; over 120 characters)

The wording checks (jargon, blame, premature resolution) and the time check read the subject, the
text and the HTML; the HTML is read with its tags blanked and its entities decoded, and spans are
mapped back onto the HTML string. Word lists live in resources/lint/ (see their headers).
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from app.clock import ensure_utc
from app.domain.dto import Facts
from app.paths import resource
from app.sms import sms_info

__all__ = [
    "SEVERITIES", "Finding", "LintContext", "lint", "CHECKS", "WordList", "load_word_list",
    "utf16_offset", "check_jargon", "check_blame", "check_premature_resolution",
    "check_fact_mismatch", "check_next_update", "check_over_communication", "check_sms",
    "check_subject",
]

SEVERITIES = ("error", "warning", "info")
PARTS = ("subject", "text", "html")
SUBJECT_MAX = 120
SMS_MAX_SEGMENTS = 4


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str        # one of SEVERITIES
    message: str
    part: str            # "subject" | "text" | "html"
    start: int           # character span in that part; [0, 0) if not about a span
    end: int


@dataclass(frozen=True)
class LintContext:
    channel: str                 # "email" | "sms" | "slack" | "teams" | "webhook"
    detail_level: str            # technical | operational | impact | simple
    template_type: str           # initial_acknowledgment | status_update | ... (see DESIGN.md)
    phase: str                   # detected | investigating | responding | resolved | closed
    facts: Facts                 # eta_at, next_update_at: aware UTC datetimes
    time_zone: str = "UTC"       # the client's zone: times in the text are read in it
    now: datetime | None = None
    recent_messages: int = 0     # messages this recipient got in the last recent_window_minutes
    recent_window_minutes: int = 60
    max_messages_per_window: int = 3   # 0 or less: no limit


# A check: (text, subject, html, ctx) -> findings.
Check = Callable[[str, str | None, str | None, LintContext], list[Finding]]


def utf16_offset(s: str, index: int) -> int:
    """The UTF-16 position (what Qt's QTextCursor counts) of code-point index `index` in `s`."""
    return index + sum(1 for ch in s[:index] if ord(ch) > 0xFFFF)


# --- parts: the subject, the text and the HTML (read as text, spans mapped back) --------------

class _Part:
    """One string to check, and how its indices map back onto the string the caller gave."""

    __slots__ = ("name", "text", "_starts", "_pieces")

    def __init__(self, name: str, text: str,
                 pieces: list[tuple[int, int, int, bool]] | None = None) -> None:
        self.name = name
        self.text = text
        # (plain_start, src_start, src_end, verbatim); None: the identity mapping
        self._pieces = pieces
        self._starts = [p[0] for p in pieces] if pieces else None

    def _source(self, i: int, is_start: bool) -> int:
        assert self._pieces is not None and self._starts is not None
        plain_start, src_start, src_end, verbatim = self._pieces[bisect_right(self._starts, i) - 1]
        if verbatim:
            return src_start + (i - plain_start) + (0 if is_start else 1)
        return src_start if is_start else src_end

    def finding(self, code: str, severity: str, message: str, start: int = 0,
                end: int = 0) -> Finding:
        if self._pieces is not None and end > start:
            start, end = self._source(start, True), self._source(end - 1, False)
        elif self._pieces is not None:
            start = end = 0
        return Finding(code, severity, message, self.name, start, end)


_HTML_TOKEN = re.compile(
    r"<!--.*?-->"
    r"|<(script|style|head|title)\b[^>]*>.*?</\1\s*>"
    r"|<(/?)([a-zA-Z][\w:-]*)[^>]*>"
    r"|<![^>]*>"
    r"|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);",
    re.S | re.I)
_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr td th table blockquote hr section article header "
    "footer pre dd dt dl".split())


@lru_cache(maxsize=8)
def _html_part(source: str) -> _Part:
    """The HTML as text: tags, comments, <head>/<style>/<script> blanked (a block tag to a line
    break, others to a space), entities decoded; spans map back onto `source`."""
    out: list[str] = []
    pieces: list[tuple[int, int, int, bool]] = []
    plain = pos = 0
    for m in _HTML_TOKEN.finditer(source):
        if m.start() > pos:
            pieces.append((plain, pos, m.start(), True))
            out.append(source[pos:m.start()])
            plain += m.start() - pos
        token = m.group()
        if token.startswith("&"):
            repl = _html.unescape(token).replace("\xa0", " ")
        elif m.group(3) and m.group(3).lower() in _BLOCK_TAGS:
            repl = "\n"
        else:
            repl = " "
        pieces.append((plain, m.start(), m.end(), False))
        out.append(repl)
        plain += len(repl)
        pos = m.end()
    if pos < len(source) or not pieces:
        pieces.append((plain, pos, len(source), True))
        out.append(source[pos:])
    return _Part("html", "".join(out), pieces)


def _parts(text: str, subject: str | None, html: str | None) -> Iterator[_Part]:
    if subject:
        yield _Part("subject", subject)
    yield _Part("text", text)
    if html:
        yield _html_part(html)


# --- word lists ------------------------------------------------------------------------------

@dataclass(frozen=True)
class WordEntry:
    term: str
    suggestion: str = ""
    ignore: bool = False     # a "!" entry: a longer phrase that is fine ("blame-free")

    @property
    def acronym(self) -> bool:
        return self.term.isupper()


def _entry_regex(term: str) -> str:
    out: list[str] = []
    for ch in term:
        if ch in " -":
            if not out or out[-1] != r"[\s\-]+":
                out.append(r"[\s\-]+")
        elif ch in "'’":
            out.append("['’]")
        elif ch == "*":
            out.append(r"[\w.\-]+")
        else:
            out.append(re.escape(ch))
    if term[-1].isalpha():
        out.append("(?:e?s)?")          # plurals come free
    return "".join(out)


@dataclass(frozen=True)
class WordList:
    """A word list from resources/lint/: entries, and one regex with a group per entry."""
    entries: tuple[WordEntry, ...]
    pattern: re.Pattern[str] | None

    @classmethod
    def parse(cls, source: str) -> WordList:
        entries: dict[str, WordEntry] = {}
        for raw in source.splitlines():
            line = re.split(r"\s#", raw, maxsplit=1)[0].strip()
            if not line or line.startswith("#"):
                continue
            term, _, suggestion = line.partition(" = ")
            ignore = term.startswith("!")
            term = term.lstrip("!").strip()
            if term:
                entries.setdefault(term.lower(), WordEntry(term, suggestion.strip(), ignore))
        if not entries:
            return cls((), None)
        # Entries that start with a wildcard first, then by first character, longest first (at
        # one position the regex takes the first alternative that matches). Entries sharing a
        # first character sit behind one lookahead, so a word start tries a few alternatives,
        # not all of them: what keeps a keystroke's lint cheap.
        ordered = tuple(sorted(entries.values(), key=lambda e: (
            e.term[0] != "*", e.term[0].lower(), -len(e.term), e.term.lower())))
        groups: dict[str, list[str]] = {}
        for e in ordered:
            groups.setdefault(e.term[0].lower(), []).append(f"({_entry_regex(e.term)})")
        body = "|".join(
            ("" if first == "*" else f"(?={re.escape(first)})") + "(?:" + "|".join(alts) + ")"
            for first, alts in groups.items())
        return cls(ordered, re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.I))

    def finditer(self, s: str) -> Iterator[tuple[int, int, WordEntry]]:
        if self.pattern is None:
            return
        for m in self.pattern.finditer(s):
            entry = self.entries[m.lastindex - 1]  # type: ignore[operator]
            if entry.ignore:
                continue                    # matched instead of the shorter entry inside it
            if entry.acronym:
                core = m.group()[:len(entry.term)]
                if not (core.isupper() or core.islower()):
                    continue                # "San Diego" is not a SAN
            yield m.start(), m.end(), entry


@lru_cache(maxsize=16)
def load_word_list(path: Path) -> WordList:
    """Read and compile a word list once per path (an edited file needs a restart)."""
    return WordList.parse(path.read_text(encoding="utf-8"))


def _word_list(name: str) -> WordList:
    return load_word_list(resource("lint", name))


# --- shared text helpers ---------------------------------------------------------------------

# Top-level domains a bare domain is recognised by: common ones that are not English words, so
# "restored.Status page" (a missing space) is not taken for a link.
_TLDS = ("com|org|net|edu|gov|mil|int|io|co|info|biz|app|dev|ly|uk|ca|au|de|fr|nl|eu|ie|nz|"
         "jp|ch|se|dk|fi|es|pl|pt|br|mx|za|sg|hk|tv|ai|xyz")
_URL = re.compile(
    r"(?<![\w@.\-/])(?:"
    r"(?i:https?://|www\.)[^\s<>\"']+"
    rf"|(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})(?![\w\-])"
    r"(?::\d+)?(?:/[^\s<>\"']*)?"
    r")")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_TRAILING = ".,;:!?)]}'\"’”"


@lru_cache(maxsize=16)
def _url_spans(s: str) -> tuple[tuple[int, int], ...]:
    """Links (http(s)://, www., bare domains like example.com/path), trailing punctuation off."""
    spans = []
    for m in _URL.finditer(s):
        end = m.end()
        while end > m.start() and s[end - 1] in _TRAILING:
            end -= 1
        spans.append((m.start(), end))
    return tuple(spans)


@lru_cache(maxsize=16)
def _masked_spans(s: str) -> tuple[tuple[int, int], ...]:
    """Links and email addresses: no word check looks inside them."""
    return _url_spans(s) + tuple((m.start(), m.end()) for m in _EMAIL.finditer(s))


def _inside(spans: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)


_WORD = re.compile(r"[\w'’]+")
_CLAUSE_BREAK = re.compile(r"[.!?;:\n]|\b(?:but|however|although|though)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?\n]")


def _clause_words(s: str, start: int, limit: int) -> list[str]:
    """The last `limit` words before `start`, in the same clause, lower-cased."""
    window_start = max(0, start - 200)
    window = s[window_start:start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(window):
        cut = m.end()
    return [w.lower() for w in _WORD.findall(window[cut:])][-limit:]


def _zone(name: str) -> tzinfo:
    try:
        return _zone_cached(name)
    except Exception:                       # an unknown zone: read times as UTC
        return timezone.utc


@lru_cache(maxsize=32)
def _zone_cached(name: str) -> tzinfo:
    return ZoneInfo(name)


def _quote(s: str) -> str:
    return "“" + " ".join(s.split()) + "”"


# --- jargon ----------------------------------------------------------------------------------

_JARGON_SEVERITY = {"technical": None, "operational": "info", "impact": "warning",
                    "simple": "warning"}


def check_jargon(text: str, subject: str | None, html: str | None,
                 ctx: LintContext) -> list[Finding]:
    """Technical terms (resources/lint/jargon.txt) in a message to a non-technical audience:
    a warning for detail levels impact and simple, info for operational, nothing for technical.
    Links and email addresses are not read."""
    severity = _JARGON_SEVERITY.get(ctx.detail_level, "warning")
    if severity is None:
        return []
    words = _word_list("jargon.txt")
    found: list[Finding] = []
    for part in _parts(text, subject, html):
        masked = _masked_spans(part.text)
        for start, end, entry in words.finditer(part.text):
            if _inside(masked, start, end):
                continue
            advice = (f"say {_quote(entry.suggestion)} or what it means for them"
                      if entry.suggestion else "say what it means for them")
            found.append(part.finding(
                "jargon", severity,
                f"{_quote(part.text[start:end])} is technical jargon for this audience "
                f"(detail level: {ctx.detail_level}); {advice}", start, end))
    return found


# --- blame -----------------------------------------------------------------------------------

def check_blame(text: str, subject: str | None, html: str | None,
                ctx: LintContext) -> list[Finding]:
    """Language naming a person, team or vendor as at fault (resources/lint/blame.txt):
    a warning at every detail level."""
    words = _word_list("blame.txt")
    found: list[Finding] = []
    for part in _parts(text, subject, html):
        masked = _masked_spans(part.text)
        for start, end, entry in words.finditer(part.text):
            if _inside(masked, start, end):
                continue
            advice = f" (e.g. {_quote(entry.suggestion)})" if entry.suggestion else ""
            found.append(part.finding(
                "blame", "warning",
                f"{_quote(part.text[start:end])} assigns blame: say what happened and what is "
                f"being done, not who is at fault{advice}", start, end))
    return found


# --- premature resolution --------------------------------------------------------------------

_RESOLUTION = re.compile(
    r"(?<![\w\-])(?:resolved|fixed|all[\s\-]+clear|back\s+to\s+normal|fully\s+restored"
    r"|(?:issue|problem|outage|incident|disruption)\s+is\s+(?:now\s+)?over)(?![\w\-])", re.I)
# Words that, a few words before the claim in the same clause, make it a negation, a condition,
# a future or an intention rather than a claim: "not yet resolved", "until it is fixed",
# "once resolved", "will be resolved", "expect to have it fixed".
_HEDGES = frozenset("""
    not no never nor cannot yet until till unless once when whenever if before after whether
    will shall would should could might may be being get getting soon pending awaiting
    expect expects expected expecting expectation hope hopes hoped hopefully hoping
    aim aims aiming plan plans planned planning intend intends intended estimate estimated
    anticipate anticipated anticipating partially partly almost nearly working trying
""".split())
_NOT_RESOLVED_PHASES = frozenset({"resolved", "closed"})
_RESOLUTION_TEMPLATES = frozenset({"resolution_notice", "post_incident_summary"})


def _hedged(s: str, start: int, end: int) -> bool:
    words = _clause_words(s, start, 6)
    for w in words:
        if w in _HEDGES or w.endswith(("n't", "n’t", "'ll", "’ll")):
            return True
    if words and words[-1] in ("a", "an") and s[start:end].lower() == "fixed":
        return True                          # "a fixed schedule"
    m = _SENTENCE_END.search(s, end)
    return bool(m and m.group() == "?")      # "Is it fixed?"


def check_premature_resolution(text: str, subject: str | None, html: str | None,
                               ctx: LintContext) -> list[Finding]:
    """"resolved", "fixed", "all clear", "back to normal", "fully restored", "the issue is over"
    while the incident is not resolved or closed, outside a resolution notice or post-incident
    summary: an error (a claim that has to be taken back costs credibility). Negations,
    conditions and futures ("not yet resolved", "once resolved", "will be fixed") are not
    claims."""
    if ctx.phase in _NOT_RESOLVED_PHASES or ctx.template_type in _RESOLUTION_TEMPLATES:
        return []
    found: list[Finding] = []
    for part in _parts(text, subject, html):
        s = part.text
        for m in _RESOLUTION.finditer(s):
            if _hedged(s, m.start(), m.end()):
                continue
            found.append(part.finding(
                "premature_resolution", "error",
                f"{_quote(m.group())} claims resolution while the incident is still "
                f"{ctx.phase}: if the issue returns, credibility suffers. Say what works again "
                "and that you are watching it.", m.start(), m.end()))
    return found


# --- facts: times and the ETA qualifier ------------------------------------------------------

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
    left = max((m.end() for m in _SENTENCE_END.finditer(s, max(0, start - 300), start)),
               default=max(0, start - 300))
    right_match = _SENTENCE_END.search(s, end)
    right = right_match.start() if right_match else len(s)
    words = {w.lower() for w in _WORD.findall(s[left:start] + " " + s[end:right])}
    return not _ETA_CUES.isdisjoint(words)


def check_fact_mismatch(text: str, subject: str | None, html: str | None,
                        ctx: LintContext) -> list[Finding]:
    """Facts written into the message that differ from the incident's (a warning each):
    - a clock time (14:05, 2:05 pm, 2 PM, 14h05; "14:05 UTC" is read in UTC, others in the
      client's zone) that is neither the ETA nor the next update. Times that read as past
      ("since 13:40", "started at", or ctx.now and the 12 hours before it) are start, detection
      or "as of" times and are left alone; so is a duration ("in 2h30").
    - "within N minutes/hours", in a sentence about the ETA or the next update ("expect",
      "restored", "back", "update", ...), that neither the ETA qualifier says nor (with ctx.now)
      the ETA or the next update is N minutes away (±5); not once the incident is resolved or
      in a resolution notice or post-incident summary."""
    facts, tz = ctx.facts, _zone(ctx.time_zone)
    found: list[Finding] = []
    qual_match = _DURATION_RE.search(facts.eta_qualifier or "")
    qual_minutes = _duration_minutes(qual_match) if qual_match else None
    fact_values = [v for v in (facts.eta_at, facts.next_update_at) if v is not None]
    # Once resolved, the ETA is history: "the summary follows within 24 hours" is no ETA claim.
    resolved = (ctx.phase in _NOT_RESOLVED_PHASES or ctx.template_type in _RESOLUTION_TEMPLATES)
    for part in _parts(text, subject, html):
        s = part.text
        for t in _times(s):
            zone = timezone.utc if t.utc else tz
            if t.minutes & {_minute_of_day(v, zone) for v in fact_values}:
                continue
            before = _clause_words(s, t.start, 4)
            if before and before[-1] in _DURATION_CUES:
                continue
            if _TIME_PAST_CUES.intersection(before) or _is_past(t, ctx.now, zone):
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
            facts_say = (f"the ETA qualifier is {_quote(facts.eta_qualifier)}"
                         if facts.eta_qualifier.strip() else "the facts have no ETA qualifier")
            found.append(part.finding(
                "fact_eta_mismatch", "warning",
                f"The text says {_quote(m.group())}; {facts_say}",
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
    body = text if text.strip() or not html else _html_part(html).text
    nxt = ctx.facts.next_update_at
    if nxt is None and ctx.template_type == "status_update":
        return [Finding("next_update_unset", "error",
                        "Set the next update time in the facts: a status update says when the "
                        "next one comes", "text", 0, 0)]
    if _NEXT_UPDATE_PHRASE.search(body):
        return []
    if nxt is not None:
        tz = _zone(ctx.time_zone)
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


# --- over-communication ----------------------------------------------------------------------

def check_over_communication(text: str, subject: str | None, html: str | None,
                             ctx: LintContext) -> list[Finding]:
    """Too many messages to one recipient: recent_messages >= max_messages_per_window is a
    warning (information overload). A limit of 0 or less means no limit."""
    limit, n = ctx.max_messages_per_window, ctx.recent_messages
    if limit <= 0 or n < limit:
        return []
    noun = "message" if n == 1 else "messages"
    return [Finding("over_communication", "warning",
                    f"This recipient already got {n} {noun} in the last "
                    f"{ctx.recent_window_minutes} minutes; consider combining updates",
                    "text", 0, 0)]


# --- SMS -------------------------------------------------------------------------------------

_COST_WORDS = {2: "costs double", 3: "costs triple", 4: "costs four times as much"}
_PLAIN_FOR = {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "—": "-", "–": "-",
              "…": "...", "\xa0": " ", "\t": " "}


def _show_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return ch
    return "[" + unicodedata.name(ch, f"U+{ord(ch):04X}").lower() + "]"


def check_sms(text: str, subject: str | None, html: str | None,
              ctx: LintContext) -> list[Finding]:
    """For channel sms: the encoding and segment count (info); 2-4 segments (warning, each one
    is billed); more than 4 (error); characters that force UCS-2 and cut an SMS to 70 (warning);
    links, which carriers filter (warning)."""
    if ctx.channel != "sms":
        return []
    info = sms_info(text)
    part = _Part("text", text)
    found: list[Finding] = []
    if info.segments <= 1:
        summary = (f"{info.encoding}, 1 SMS: {info.units} of {info.per_segment} characters "
                   f"({info.remaining} left)") if info.segments else f"{info.encoding}, empty"
    else:
        summary = (f"{info.encoding}, {info.segments} segments of {info.per_segment} characters "
                   f"({info.remaining} left in the last)")
    found.append(part.finding("sms_info", "info", summary))
    if info.segments > SMS_MAX_SEGMENTS:
        found.append(part.finding(
            "sms_too_long", "error",
            f"{info.segments} segments: too long for an SMS (at most {SMS_MAX_SEGMENTS}); "
            "shorten it"))
    elif info.segments > 1:
        found.append(part.finding(
            "sms_multipart", "warning",
            f"{info.segments} segments, {_COST_WORDS[info.segments]}"))
    if info.non_gsm_chars:
        shown = [_show_char(c) for c in info.non_gsm_chars[:10]]
        if len(info.non_gsm_chars) > 10:
            shown.append("…")
        verb = "forces" if len(info.non_gsm_chars) == 1 else "force"
        swaps = [f"{c} → {_PLAIN_FOR[c]}" for c in info.non_gsm_chars if c in _PLAIN_FOR]
        hint = f" (replace {', '.join(swaps)})" if swaps else ""
        first = text.index(info.non_gsm_chars[0])
        found.append(part.finding(
            "sms_ucs2", "warning",
            f"{' '.join(shown)} {verb} UCS-2: 70 characters per SMS{hint}",
            first, first + 1))
    for start, end in _url_spans(text):
        found.append(part.finding(
            "sms_url", "warning",
            f"A link in an SMS ({_quote(text[start:end])}): carriers often filter messages "
            "with links; send the link by email or name the page instead", start, end))
    return found


# --- subject ---------------------------------------------------------------------------------

def check_subject(text: str, subject: str | None, html: str | None,
                  ctx: LintContext) -> list[Finding]:
    """For channel email: an empty subject (error), a line break in it (error: header
    injection), a subject over 120 characters (warning: it gets cut off)."""
    if ctx.channel != "email":
        return []
    if subject is None or not subject.strip():
        return [Finding("subject_empty", "error", "An email needs a subject", "subject", 0, 0)]
    found = [Finding("subject_newline", "error",
                     "A line break in the subject (it could inject mail headers): remove it",
                     "subject", m.start(), m.end())
             for m in re.finditer(r"[\r\n]+", subject)]
    if len(subject) > SUBJECT_MAX:
        found.append(Finding(
            "subject_too_long", "warning",
            f"The subject is {len(subject)} characters; keep it to {SUBJECT_MAX} so it is not "
            "cut off", "subject", SUBJECT_MAX, len(subject)))
    return found


# --- all together ----------------------------------------------------------------------------

CHECKS: tuple[Check, ...] = (
    check_jargon,
    check_blame,
    check_premature_resolution,
    check_fact_mismatch,
    check_next_update,
    check_over_communication,
    check_sms,
    check_subject,
)

_PART_ORDER = {name: i for i, name in enumerate(PARTS)}
_SEVERITY_ORDER = {name: i for i, name in enumerate(SEVERITIES)}


def lint(text: str, ctx: LintContext, subject: str | None = None,
         html: str | None = None) -> list[Finding]:
    """Every finding of every check in CHECKS, sorted by part (subject, text, html), then
    position, then severity (errors first)."""
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(text, subject, html, ctx))
    return sorted(found, key=lambda f: (_PART_ORDER.get(f.part, len(PARTS)), f.start, f.end,
                                        _SEVERITY_ORDER.get(f.severity, 3), f.code))
