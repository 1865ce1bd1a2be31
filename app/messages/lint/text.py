"""What the message linter's checks share (app/messages/lint/linter.py runs them): what a check is given
(LintContext) and what it returns (Finding), and how it reads a message — the parts (subject,
plain text, HTML read as text with tags blanked and entities decoded, spans mapped back onto the
HTML string), UTF-16 offsets for Qt, the word lists in resources/lint/ (WordList), links and
email addresses no word check looks inside, and small text helpers (clause words, time zones,
quoting). Pure functions; no Qt.
"""

from __future__ import annotations

import html as _html
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from app.domain.dto import Facts
from app.paths import resource

SEVERITIES = ("error", "warning", "info")
PARTS = ("subject", "text", "html")


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
    root_cause: str | None = None      # the recorded post-incident root cause; "" none; None
                                       # not known to the caller (no cause check then)
    coordinator_zone: str | tzinfo | None = None  # the zone the coordinator types in (None:
                                                  # no check): a name or the machine's tzinfo


# A check: (text, subject, html, ctx) -> findings.
Check = Callable[[str, str | None, str | None, LintContext], list[Finding]]

_RESOLVED_PHASES = frozenset({"resolved", "closed"})
_RESOLUTION_TEMPLATES = frozenset({"resolution_notice", "post_incident_summary"})


def past_resolution(ctx: LintContext) -> bool:
    """Whether the incident is resolved or closed, or the message is a resolution notice or
    post-incident summary: resolution words are no premature claim then, and the ETA is
    history."""
    return ctx.phase in _RESOLVED_PHASES or ctx.template_type in _RESOLUTION_TEMPLATES


def utf16_offset(s: str, index: int) -> int:
    """The UTF-16 position (what Qt's QTextCursor counts) of code-point index `index` in `s`."""
    return index + sum(1 for ch in s[:index] if ord(ch) > 0xFFFF)


# --- parts: the subject, the text and the HTML (read as text, spans mapped back) --------------

class Part:
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
def html_part(source: str) -> Part:
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
    return Part("html", "".join(out), pieces)


def parts(text: str, subject: str | None, html: str | None) -> Iterator[Part]:
    if subject:
        yield Part("subject", subject)
    yield Part("text", text)
    if html:
        yield html_part(html)


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
        elif ch == "*":   # a name ("Acme's fault"): bounded, or each word start of a long
            out.append(r"[\w.\-]{1,64}")   # "a.a.a…" run would be rescanned to its end (n²)
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


def word_list(name: str) -> WordList:
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
# starts only where a run of address characters starts: tried inside a long run without "@"
# (a template's output can be one) it would rescan the run from every position, n² steps
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_TRAILING = ".,;:!?)]}'\"’”"


@lru_cache(maxsize=16)
def url_spans(s: str) -> tuple[tuple[int, int], ...]:
    """Links (http(s)://, www., bare domains like example.com/path), trailing punctuation off."""
    spans = []
    for m in _URL.finditer(s):
        end = m.end()
        while end > m.start() and s[end - 1] in _TRAILING:
            end -= 1
        spans.append((m.start(), end))
    return tuple(spans)


@lru_cache(maxsize=16)
def masked_spans(s: str) -> tuple[tuple[int, int], ...]:
    """Links and email addresses: no word check looks inside them."""
    return url_spans(s) + tuple((m.start(), m.end()) for m in _EMAIL.finditer(s))


def inside(spans: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)


WORD = re.compile(r"[\w'’]+")
_CLAUSE_BREAK = re.compile(r"[.!?;:\n]|\b(?:but|however|although|though)\b", re.I)
SENTENCE_END = re.compile(r"[.!?\n]")


def clause_words(s: str, start: int, limit: int) -> list[str]:
    """The last `limit` words before `start`, in the same clause, lower-cased."""
    window_start = max(0, start - 200)
    window = s[window_start:start]
    cut = 0
    for m in _CLAUSE_BREAK.finditer(window):
        cut = m.end()
    return [w.lower() for w in WORD.findall(window[cut:])][-limit:]


def zone_or_utc(name: str) -> tzinfo:
    try:
        return _zone_cached(name)
    except Exception:                       # an unknown zone: read times as UTC
        return timezone.utc


@lru_cache(maxsize=32)
def _zone_cached(name: str) -> tzinfo:
    return ZoneInfo(name)


def quote(s: str) -> str:
    return "“" + " ".join(s.split()) + "”"


