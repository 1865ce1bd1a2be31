"""What each version of the post-incident report says, as a list of blocks (headings,
paragraphs, tables, lists, the chart) that app/reports/builder.py writes as Markdown or HTML — so the
formats always say the same thing. What a version may contain was decided when the report was
built (app/reports/builder.py); here it is worded and laid out.

Tables are laid out for an A4 column at 8.5 pt (the PDF): short times ("06:53" on the day of
detection, "27 Nov 06:53" on another; the zone is stated once in the header), few columns, the
figures of a row in one cell. The executive version lists the worst lines of what grows with
the incident (the 20 longest-silent stakeholders); the technical version stays complete but
says a thing once (a message "sent to the same recipients as message 11", addresses in one
table, the delivery actions out of Decisions).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clock import ensure_utc
from app.messages.library import TYPE_LABELS
from app.reports.appendix import RECIPIENT, SENDER
from app.reports.model import Audience
from app.timefmt import format_duration

EXECUTIVE_ROWS = 20        # stakeholder silences the executive version lists (the worst)


# ---------------------------------------------------------------- blocks

@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    tone: str = ""                     # "" | "bad" | "good" | "muted"


Inline = str | Run
Cell = Inline | tuple[Inline, ...]


@dataclass(frozen=True)
class H:
    level: int
    text: str


@dataclass(frozen=True)
class P:
    runs: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    widths: tuple[int, ...] = ()       # per column, % of the page's width (HTML and PDF)


@dataclass(frozen=True)
class UL:
    items: list[tuple[Inline, ...]]


@dataclass(frozen=True)
class Chart:
    pass


Block = H | P | Table | UL | Chart


# ---------------------------------------------------------------- formatting

def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def fmt_time(value: datetime | None, zone: str) -> str:
    """'2026-03-02 09:15 PST' in the client's zone; '—' for None."""
    if value is None:
        return "—"
    local = ensure_utc(value).astimezone(_zone(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone}"


class Times:
    """The report's times in the client's zone: `full` in the header and prose, `short` in
    tables — "06:53" on the day of detection, "27 Nov 06:53" on another day ("27 Nov 2027
    06:53" in another year), the zone's abbreviation added only when it is not the one in force
    at detection (a daylight-saving change)."""

    def __init__(self, zone: str, detected_at: datetime) -> None:
        self.zone, self._tz = zone, _zone(zone)
        self.detected = ensure_utc(detected_at).astimezone(self._tz)
        self.day, self.abbr = self.detected.date(), self.detected.tzname() or zone

    def full(self, value: datetime | None) -> str:
        return fmt_time(value, self.zone)

    def short(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        local = ensure_utc(value).astimezone(self._tz)
        text = f"{local:%H:%M}"
        if local.date() != self.day:
            year = f" {local.year}" if local.year != self.day.year else ""
            text = f"{local.day} {local:%b}{year} {text}"
        abbr = local.tzname() or self.zone
        return text if abbr == self.abbr else f"{text} {abbr}"

    def range(self, start: datetime | None, end: datetime | None) -> str:
        """'07:02', or '07:02–07:04' (the end's date only when it is not the start's)."""
        first, last = self.short(start or end), self.short(end or start)
        if first == last:
            return first
        a, b = (ensure_utc(x).astimezone(self._tz) for x in (start, end))  # type: ignore[arg-type]
        if a.date() == b.date() and a.tzname() == b.tzname():
            last = f"{b:%H:%M}"
        return f"{first}–{last}"


def fmt_span(value: timedelta | None) -> str:
    return "—" if value is None else format_duration(value)


def fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "—"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def _paragraphs(text: str) -> list[Block]:
    parts = [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n\n")]
    return [P((p,)) for p in parts if p]


def _table_or(empty: str, headers: tuple[str, ...], rows: list[tuple[Cell, ...]],
              widths: tuple[int, ...] = ()) -> Block:
    """The table, or the sentence that says there is nothing to list."""
    return Table(headers, rows, widths) if rows else P((empty,))


def _label(name: str, value: str) -> tuple[Inline, ...]:
    return (Run(f"{name}: ", bold=True), value)


def _count(n: int, word: str) -> Inline:
    return Run(f"{n:,} {word}", tone="bad") if n else f"0 {word}"


def _outcomes(m: Any, when: str = "") -> tuple[Inline, ...]:
    """'9 sent · 0 failed', then unknown, pending and cancelled when there are any; `when`
    the deliveries were sent, after the first figure."""
    parts: list[Inline] = [f"{m.sent:,} sent" + (f" ({when})" if when else ""),
                           _count(m.failed, "failed")]
    if m.unknown:
        parts.append(_count(m.unknown, "unknown"))
    if getattr(m, "bounced", 0):
        parts.append(_count(m.bounced, "bounced"))
    parts += [f"{n:,} {word}" for n, word in ((m.pending, "pending"),
                                               (m.cancelled, "cancelled")) if n]
    out: list[Inline] = []
    for part in parts:
        out += [" · ", part] if out else [part]
    return tuple(out)


# ---------------------------------------------------------------- what the report says

def _header(r: Any, version: str, t: Times) -> list[Block]:
    resolved = t.full(r.resolved_at) if r.resolved_at else "not resolved yet"
    duration = fmt_span((r.resolved_at or r.generated_at) - r.detected_at)
    drill = ("  ·  ", Run("Drill", bold=True, tone="muted")) if getattr(r, "is_drill", False) \
        else ()
    detected = t.detected
    return [
        H(1, f"Post-incident report: {r.title}"),
        P(_label("Organisation", r.client_name) + ("  ·  ",) + _label("Severity", r.severity.value)
          + ("  ·  ",) + _label("Version", version) + drill),
        P(_label("Detected", t.full(r.detected_at)) + ("  ·  ",)
          + _label("Resolved", resolved) + ("  ·  ",) + _label("Duration", duration)),
        P((Run(f"Generated {t.full(r.generated_at)}. Times are in {r.time_zone} ({t.abbr}); "
               f"in tables a time without a date is on {detected:%a} {detected.day} "
               f"{detected:%b %Y}, the day of detection.", tone="muted"),)),
    ]


def _root_cause(text: str, under_investigation: bool) -> list[Block]:
    if under_investigation or not text.strip():
        return [P(("Under investigation.",))]
    return _paragraphs(text)


def _first_line(first: Any, t: Times) -> tuple[Inline, ...]:
    if first.queued_at is None:
        verdict = "" if first.within_target is None else " — the 15-minute line was missed"
        return ("Nothing was communicated" + verdict + ".",)
    parts: list[Inline] = [f"First message queued {t.full(first.queued_at)} "
                           f"({fmt_span(first.to_queued)} after detection)"]
    if first.sent_at is not None:
        parts.append(f"; first sent {t.full(first.sent_at)} "
                     f"({fmt_span(first.to_sent)} after detection)")
    target = fmt_span(first.target)
    if first.within_target is True:
        parts.append(Run(f" — within the {target} line.", tone="good"))
    elif first.within_target is False:
        parts.append(Run(f" — beyond the {target} line.", tone="bad"))
    else:
        parts.append(".")
    return tuple(parts)


def _silence_blocks(rec: Any, t: Times, technical: bool) -> list[Block]:
    people = rec.stakeholder_silences
    if not people:
        return [P(("No stakeholder waited longer than their max silence.",))]
    times = sum(s.times for s in people)
    shown = people if technical else people[:EXECUTIVE_ROWS]
    blocks: list[Block] = [
        P((Run(f"{_plural(len(people), 'stakeholder')} waited longer than their max silence, "
               f"{_plural(times, 'time')} in all. Each one's longest silence, the worst first:",
               tone="bad"),)),
        Table(("Stakeholder", "Longest silence", "From", "Until", "Allowed", "Exceeded"),
              [(s.name, Run(fmt_span(s.longest.length), tone="bad"), t.short(s.longest.start),
                t.short(s.longest.end) + (" (still silent)" if s.longest.ongoing else ""),
                fmt_span(s.allowed), _plural(s.times, "time")) for s in shown])]
    rest = people[len(shown):]
    if rest:
        blocks.append(P((Run(f"{_plural(len(rest), 'more stakeholder')} waited longer than "
                             f"their max silence, each at most {fmt_span(rest[0].over)} past "
                             "it; the technical version lists every one.", tone="muted"),)))
    return blocks


_NOT_SENT = {"failed": "Failed", "bounced": "Bounced", "unknown": "Unknown whether sent",
             "retry_wait": "Waiting to retry", "sending": "Sending", "queued": "Still queued",
             "cancelled": "Cancelled"}


def _delivery_blocks(rec: Any, t: Times) -> list[Block]:
    """Technical only: each message's recipients (once: a message sent to the same people as
    an earlier one says so), its outcome and every delivery that was not sent, by state, channel
    and error; then every recipient's address, once."""
    blocks: list[Block] = [H(3, "Deliveries by message")]
    order = list(_NOT_SENT)
    for m in rec.messages:
        head = f"Message {m.id} · {m.type_label} · {t.short(m.at)}" + (
            f" · {m.created_by}" if m.created_by else "")
        if m.same_recipients_as is not None:
            who = f"{_plural(m.total, 'recipient')}, the same as message {m.same_recipients_as}"
        else:
            by_channel: dict[str, list[str]] = defaultdict(list)
            for d in m.recipients:
                by_channel[d.channel].append(d.name)
            who = f"{_plural(m.total, 'recipient')} " + "; ".join(
                f"by {channel}: {', '.join(names)}" for channel, names in by_channel.items())
        last_sent = max((d.sent_at for d in m.recipients if d.sent_at), default=None)
        runs: list[Inline] = [Run(head, bold=True), "\n", who + ". ", *_outcomes(
            m, t.range(m.first_sent_at, last_sent) if m.first_sent_at else ""), "."]
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for d in m.recipients:
            if d.state != "sent":
                groups[(d.state, d.channel, d.last_error.strip())].append(
                    d.name + (f" ({d.attempts} attempts)" if d.attempts > 1 else ""))
        for (state, channel, error), names in sorted(groups.items(), key=lambda kv: (
                order.index(kv[0][0]) if kv[0][0] in order else len(order), -len(kv[1]))):
            if len(names) == m.total and not error:
                continue  # everyone, as the figures say
            runs += ["\n", Run(f"{_NOT_SENT.get(state, state.capitalize())} by {channel}"
                               + (f" — {error}" if error else "") + ": ",
                               tone="bad" if state in ("failed", "unknown", "bounced")
                               else ""),
                     ", ".join(names) + "."]
        blocks.append(P(tuple(runs)))
    directory: dict[tuple[str, str, str], int] = defaultdict(int)
    for m in rec.messages:
        for d in m.recipients:
            directory[(d.name, d.channel, d.address)] += 1
    if directory:
        blocks.append(H(3, "Recipients"))
        blocks.append(Table(("Recipient", "Channel", "Address", "Messages"),
                            [(name, channel, address, str(n)) for (name, channel, address), n
                             in sorted(directory.items())], (32, 10, 46, 12)))
    return blocks


def _failure_blocks(rec: Any, technical: bool) -> list[Block]:
    blocks: list[Block] = [H(3, "Failed and unknown deliveries"),
                           P((f"{rec.failed:,} failed, {rec.unknown:,} unknown."
                              + (f" {rec.bounced:,} sent, then bounced by the receiving "
                                 "server." if rec.bounced else "")
                              + (f" {rec.cancelled:,} cancelled before sending."
                                 if rec.cancelled else ""),))]
    if technical and rec.failures:
        by_error: dict[str, list[Any]] = defaultdict(list)
        for f in rec.failures:
            by_error[f.last_error.strip() or "(no error recorded)"].append(f)
        states = ("failed", "unknown") + (("bounced",) if rec.bounced else ())
        blocks.append(Table(("Error", *(s.capitalize() for s in states), "Messages"), [
            (error, *(str(sum(f.state == s for f in fs)) for s in states),
             str(len({f.message_id for f in fs})))
            for error, fs in sorted(by_error.items(), key=lambda kv: -len(kv[1]))],
            (64, 12, 12, 12) if not rec.bounced else (52, 12, 12, 12, 12)))
        blocks.append(P(("Each one is listed under its message in Deliveries by message.",)))
    return blocks


def _record_blocks(r: Any, t: Times) -> list[Block]:
    rec = r.record
    technical = r.audience == Audience.TECHNICAL
    blocks: list[Block] = [H(2, "Communication record"), H(3, "First communication"),
                           P(_first_line(rec.first, t)), H(3, "Messages"),
                           P((f"{_plural(len(rec.messages), 'message')} to "
                              f"{_plural(rec.deliveries, 'recipient')}: {rec.sent:,} sent, "
                              f"{rec.failed:,} failed, {rec.unknown:,} unknown, "
                              f"{rec.pending:,} pending, {rec.cancelled:,} cancelled"
                              + (f", {rec.bounced:,} bounced" if rec.bounced else "") + ".",))]
    if rec.messages:
        blocks.append(Table(("Queued", "Message", "Audience", "Deliveries", "First sent"),
                            [(t.short(m.at), m.type_label,
                              Run("as above", tone="muted") if i and m.audience ==
                              rec.messages[i - 1].audience else m.audience,
                              _outcomes(m), t.short(m.first_sent_at))
                             for i, m in enumerate(rec.messages)], (13, 19, 33, 22, 13)))
    blocks.append(H(3, "Update cadence"))
    if rec.gaps:
        blocks.append(P((Run(f"{_plural(len(rec.gaps), 'silence')} longer than the cadence "
                             "allowed:", tone="bad"),)))
        blocks.append(Table(("Phase", "Severity", "Silent from", "Until", "Length", "Allowed"),
                            [(g.phase.label, g.severity.value, t.short(g.start),
                              t.short(g.end) + (" (still silent)" if g.ongoing else ""),
                              Run(fmt_span(g.length), tone="bad"), fmt_span(g.allowed))
                             for g in rec.gaps]))
    else:
        blocks.append(P((Run("The update cadence was kept in every phase.", tone="good"),)))
    if rec.resolution_notice_due is not None:
        blocks.append(P(_label("Resolution notice", _notice(rec, t))))
    blocks.append(H(3, "Max silence per stakeholder"))
    blocks += _silence_blocks(rec, t, technical)
    blocks += [H(3, "Escalations"), _table_or(
        "No escalation rule fired.", ("Proposed", "Rule", "Why", "Decision"),
        [(t.short(e.proposed_at), e.rule_name, e.reason, _decided(e, t))
         for e in rec.escalations], (13, 22, 30, 35))]
    blocks += _confirmation_blocks(r, t, technical)
    blocks += [H(3, "Decisions"), _table_or(
        "No decisions were recorded.", ("Time", "By", "Decision"),
        [(t.short(d.at), d.actor, d.text + (f" (effective {t.short(d.effective_at)})"
                                             if d.effective_at else ""))
         for d in rec.decisions], (13, 22, 65))]
    blocks += [H(3, "Regulatory and contractual deadlines"), _table_or(
        "No regulatory or contractual deadline applied.",
        ("Deadline", "Regime", "Notify", "Started", "Due", "Outcome"),
        [(g.title, g.regime, g.recipient, t.short(g.started_at), t.short(g.due_at),
          _outcome(g, t)) for g in rec.regulatory], (30, 11, 17, 13, 13, 16))]
    blocks += _failure_blocks(rec, technical)
    if technical and rec.messages:
        blocks += _delivery_blocks(rec, t)
    return blocks


_VIA = {"email": "by email", "sms": "by SMS", "manual": "noted by the coordinator"}


def _confirmation_blocks(r: Any, t: Times, technical: bool) -> list[Block]:
    """Who was asked to confirm, who did (when, how) and who never did; the executive version
    gives the figures, the technical one every person."""
    summary = getattr(r, "confirmations", None)
    if summary is None or not summary.items:
        return []
    confirmed, silent, unreached = summary.confirmed, summary.silent, summary.unreached
    after = sorted(c.acknowledged_at - c.sent_at for c in confirmed
                   if c.sent_at is not None and c.acknowledged_at >= c.sent_at)
    median = f", half of them within {fmt_span(after[(len(after) - 1) // 2])} of sending" \
        if after else ""
    runs: list[Inline] = [
        f"{_plural(summary.asked, 'person', 'people')} asked to confirm: "
        f"{len([c for c in confirmed if c.asked]):,} confirmed{median}. "]
    if silent:
        runs.append(Run(f"{len(silent):,} never did"
                        + ("." if technical else
                           " (the technical version names them)."), tone="bad"))
    else:
        runs.append(Run("Everyone reached confirmed.", tone="good"))
    if unreached:
        runs.append(f" {_plural(len(unreached), 'message')} never reached the person asked.")
    blocks: list[Block] = [H(3, "Confirmations"), P(tuple(runs))]
    if technical:
        blocks.append(Table(
            ("Recipient", "Message", "Sent", "Confirmed", "How"),
            [(f"{c.recipient_name} ({c.address})", f"{c.message_id} · "
              f"{TYPE_LABELS.get(c.template_type, c.template_type)}", t.short(c.sent_at),
              t.short(c.acknowledged_at) if c.confirmed else
              Run("never" if c.silent else f"not reached ({c.state})", tone="bad"),
              (_VIA.get(c.via, c.via) + (f": “{c.words}”" if c.words and c.via != "manual"
                                         else f": {c.words}" if c.words else ""))
              if c.confirmed else ("asked" if c.asked else ""))
             for c in summary.items], (28, 22, 13, 13, 24)))
    return blocks


def _decided(e: Any, t: Times) -> tuple[Inline, ...]:
    out: list[Inline] = [Run(e.outcome.capitalize(), tone="bad" if e.outcome == "pending"
                             else "")]
    if e.decided_at:
        out.append(f" {t.short(e.decided_at)}")
    if e.decided_by:
        out.append(f" by {e.decided_by}")
    if e.decision_reason:
        out.append(f": {e.decision_reason}")
    return tuple(out)


def _notice(rec: Any, t: Times) -> str:
    due = t.full(rec.resolution_notice_due)
    if rec.resolution_notice_at is None:
        return f"not queued (due {due})"
    late = rec.resolution_notice_at > rec.resolution_notice_due
    return (f"queued {t.full(rec.resolution_notice_at)} (due {due}"
            + (", late)" if late else ")"))


def _outcome(line: Any, t: Times) -> Inline:
    if line.outcome == "met":
        return Run(f"Met {t.short(line.satisfied_at)}", tone="good")
    if line.outcome == "late":
        return Run(f"Met late {t.short(line.satisfied_at)}", tone="bad")
    if line.overdue:
        return Run("Open — overdue", tone="bad")
    return "Open" if line.started_at else "Open — not started"


def _full_blocks(r: Any, with_chart: bool) -> list[Block]:
    post, facts = r.post, r.facts
    t = Times(r.time_zone, r.detected_at)
    blocks = _header(r, r.audience.label, t)
    blocks.append(H(2, "Summary"))
    blocks += _paragraphs(r.summary_status or facts.status) or [P(("No status was written.",))]
    if facts.affected_services:
        blocks.append(P(_label("Affected services", ", ".join(facts.affected_services))))
    if post.resolution_confirmed_at or post.resolution_confirmed_by:
        when = t.full(post.resolution_confirmed_at) if post.resolution_confirmed_at else ""
        who = f"by {post.resolution_confirmed_by}" if post.resolution_confirmed_by else ""
        blocks.append(P(_label("Resolution confirmed", " ".join(x for x in (when, who) if x))))
    if with_chart:
        blocks.append(Chart())
    blocks.append(H(2, "Impact"))
    blocks += _paragraphs(post.impact_summary or facts.impact) or [P(("Not written yet.",))]
    blocks.append(H(2, "Root cause"))
    blocks += _root_cause(post.root_cause, post.root_cause_under_investigation)
    blocks += [H(2, "Remediation"), _table_or(
        "No remediation steps were written.", ("Action", "Owner", "Due", "Status"),
        [(i.text, i.owner or "—", fmt_date(i.due_date),
          Run("Done", tone="good") if i.done else "Open") for i in post.remediation],
        (50, 24, 14, 12))]
    blocks.append(H(2, "Phases"))
    blocks.append(Table(("Phase", "From", "To", "Duration", "By"),
                        [(s.phase.label + (" (reopened)" if s.reopen else ""), t.short(s.start),
                          t.short(s.end) if s.end else "current",
                          fmt_span((s.end or r.generated_at) - s.start), s.actor or "—")
                         for s in r.record.phases]))
    blocks.append(H(2, "Facts"))
    eta = " ".join(x for x in (t.short(facts.eta_at) if facts.eta_at else "",
                               facts.eta_qualifier) if x)
    blocks.append(Table(("Fact", "Value"), [
        ("Current status", facts.status or "—"), ("Impact", facts.impact or "—"),
        ("Affected services", ", ".join(facts.affected_services) or "—"), ("ETA", eta or "—"),
        ("Workaround", facts.workaround or "—"),
        ("Next update at", t.short(facts.next_update_at))], (22, 78)))
    blocks += _record_blocks(r, t)
    blocks.append(H(2, "Lessons learned"))
    blocks += _paragraphs(post.lessons_learned) or [P(("Not written yet.",))]
    blocks.append(H(2, "Stakeholder feedback"))
    fb = r.feedback
    if fb.count:
        blocks.append(P((f"Average rating {fb.average:.1f} / 5 from "
                         f"{_plural(fb.count, 'response')}.",)))
        if fb.comments:
            blocks.append(UL([(Run(f"{who} ({rating}/5): ", bold=True), text)
                              for who, rating, text in fb.comments]))
    else:
        blocks.append(P(("No feedback was collected.",)))
    if r.timeline:
        blocks.append(H(2, "Timeline"))
        blocks.append(Table(("Time", "Event", "What — by whom"),
                            [(t.short(e.at), e.kind_label,
                              (e.summary, Run(f" — {e.actor}", tone="muted")) if e.actor
                              else e.summary) for e in r.timeline], (13, 16, 71)))
    blocks += _appendix_blocks(r, t)
    blocks += _integrity_blocks(r)
    return blocks


def _integrity_blocks(r: Any) -> list[Block]:
    """The chain head when the report was built: a printed report can later be matched
    against the database (`clarion verify --head`)."""
    seq, digest = r.chain_head
    if not seq:
        return []
    return [H(2, "Integrity of the record"),
            P((f"The timeline ({_plural(seq, 'entry', 'entries')}) is hash-chained: each "
               f"entry's SHA-256 covers its content and the entry before it. Chain head: entry "
               f"number {seq}, ", Run(digest, bold=True), ".")),
            P((Run(f"To check this report against the database: clarion verify --head "
                   f"{r.incident_id} {digest}", tone="muted"),))]


def _counts(counts: dict[str, int]) -> str:
    words = {"retry_wait": "waiting to retry"}
    return ", ".join(f"{n:,} {words.get(state, state)}" for state, n in counts.items())


def _appendix_blocks(r: Any, t: Times, customer: bool = False) -> list[Block]:
    """Every message as it was worded, variant by variant (app/reports/appendix.py decided
    what this version may show)."""
    heading = "Appendix: the messages you received" if customer else \
        "Appendix: the messages as sent"
    blocks: list[Block] = [H(2, heading)]
    if not r.appendix:
        blocks.append(P(("No messages were sent.",)))
        return blocks
    technical = r.audience == Audience.TECHNICAL
    if not technical:
        who = f"“{RECIPIENT}” stands where copies name their recipient" + (
            f", “{SENDER}” for the person who signed it" if customer else "")
        blocks.append(P((Run(f"Each text is one recipient's copy; {who}.", tone="muted"),)))
    for m in r.appendix:
        blocks.append(H(3, f"{t.short(m.at)} · {m.type_label}"))
        for v in m.variants:
            head: list[Inline] = [Run(f"{v.channel} · {v.detail_level}", bold=True)]
            if not customer:
                head.append(f" — {_plural(v.recipients, 'recipient')}: {_counts(v.counts)}")
            if technical and v.example:
                head.append(Run(f" — as sent to {v.example}", tone="muted"))
            blocks.append(P(tuple(head)))
            if v.subject:
                blocks.append(P(_label("Subject", v.subject)))
            blocks += _paragraphs(v.text) or [P((Run("(no text)", tone="muted"),))]
            if technical and v.not_sent:
                blocks.append(UL([(Run(f"{state.capitalize()}: ", tone="bad"), name,
                                   Run(f" — {error}", tone="muted") if error else "")
                                  for name, state, error in v.not_sent]))
    return blocks


def _customer_blocks(r: Any, with_chart: bool) -> list[Block]:
    t = Times(r.time_zone, r.detected_at)
    blocks = _header(r, "Customer", t)
    blocks.append(H(2, "Summary"))
    blocks += _paragraphs(r.status)
    if r.affected_services:
        blocks.append(P(_label("Affected services", ", ".join(r.affected_services))))
    if r.workaround:
        blocks.append(P(_label("Workaround", r.workaround)))
    if r.resolution_confirmed_at:
        blocks.append(P(_label("Resolution confirmed", t.full(r.resolution_confirmed_at))))
    blocks.append(H(2, "Phases"))
    blocks.append(Table(("Phase", "From", "To"),
                        [(s.phase.label, t.short(s.start), t.short(s.end) if s.end else "current")
                         for s in r.phases]))
    if with_chart:
        blocks.append(Chart())
    blocks.append(H(2, "Impact"))
    blocks += _paragraphs(r.impact_summary) or [P(("Being assessed.",))]
    blocks.append(H(2, "Root cause"))
    blocks += _paragraphs(r.root_cause)
    blocks += [H(2, "What we are doing to prevent it"), _table_or(
        "The remediation plan is being prepared.", ("Action", "Due", "Status"),
        [(i.text, fmt_date(i.due_date), "Done" if i.done else "Planned")
         for i in r.remediation], (70, 16, 14))]
    blocks.append(H(2, "How we kept you informed"))
    if r.first_communication_after is not None:
        blocks.append(P((f"Our first message went out {fmt_span(r.first_communication_after)} "
                         "after the incident was detected.",)))
    blocks.append(_table_or("No customer messages were sent.", ("Sent", "Message", "Recipients"),
                            [(t.short(c.at), c.type_label, str(c.recipients))
                             for c in r.communications]))
    blocks += _appendix_blocks(r, t, customer=True)
    return blocks


def report_blocks(report: Any, with_chart: bool = False) -> list[Block]:
    if report.audience == Audience.CUSTOMER:
        return _customer_blocks(report, with_chart)
    return _full_blocks(report, with_chart)


__all__ = ["report_blocks", "Block", "H", "P", "Table", "UL", "Chart", "Run", "Inline", "Cell",
           "Times", "fmt_time", "fmt_span", "fmt_date"]
