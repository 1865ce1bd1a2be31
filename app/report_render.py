"""The post-incident report as text: GitHub-style Markdown and one self-contained HTML5 document.

Both renderers walk the same list of blocks (headings, paragraphs, tables, lists, the chart), so
the two formats always say the same thing; what a version may say was decided when the report
was built (app/reports.py), not here. The HTML stays inside the subset QTextDocument renders
(the PDF is made from it): h1–h3, p, table with border/cellpadding attributes, ul/li, b, span
with an inline colour, img — well-formed (it parses as XML once the doctype line is removed),
every user text escaped, no scripts and no external resources.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clock import ensure_utc
from app.report_model import Audience
from app.timefmt import format_duration

CHART_ALT = "Incident chart: phases, messages, due updates and deadlines over time"
TONES = {"bad": "#b00020", "good": "#1b6e20", "muted": "#666666"}
STYLE = ("body { font-family: sans-serif; font-size: 10pt; color: #202020; }\n"
         "h1 { font-size: 18pt; } h2 { font-size: 14pt; margin-top: 14pt; }\n"
         "h3 { font-size: 11pt; }\n"
         "table { border-collapse: collapse; margin-bottom: 8pt; }\n"
         "th { background-color: #eeeeee; text-align: left; }\n"
         "th, td { vertical-align: top; }\n")


# ---------------------------------------------------------------- blocks

@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False
    tone: str = ""                     # "" | "bad" | "good" | "muted"


Inline = str | Run


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
    rows: list[tuple[Inline, ...]] = field(default_factory=list)


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


def fmt_span(value: timedelta | None) -> str:
    return "—" if value is None else format_duration(value)


def fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "—"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _paragraphs(text: str) -> list[Block]:
    parts = [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n\n")]
    return [P((p,)) for p in parts if p]


def _label(name: str, value: str) -> tuple[Inline, ...]:
    return (Run(f"{name}: ", bold=True), value)


# ---------------------------------------------------------------- what the report says

def _header(r: Any, version: str) -> list[Block]:
    tz = r.time_zone
    resolved = fmt_time(r.resolved_at, tz) if r.resolved_at else "not resolved yet"
    duration = fmt_span((r.resolved_at or r.generated_at) - r.detected_at)
    blocks: list[Block] = [
        H(1, f"Post-incident report: {r.title}"),
        P(_label("Organisation", r.client_name) + ("  ·  ",) + _label("Severity", r.severity.value)
          + ("  ·  ",) + _label("Version", version)
          + (("  ·  ", Run("Drill", bold=True, tone="muted")) if getattr(r, "is_drill", False)
             else ())),
        P(_label("Detected", fmt_time(r.detected_at, tz)) + ("  ·  ",)
          + _label("Resolved", resolved) + ("  ·  ",) + _label("Duration", duration)),
        P((Run(f"Generated {fmt_time(r.generated_at, tz)}; times are shown in {tz}.",
               tone="muted"),)),
    ]
    return blocks


def _root_cause(text: str, under_investigation: bool) -> list[Block]:
    if under_investigation or not text.strip():
        return [P(("Under investigation.",))]
    return _paragraphs(text)


def _first_line(first: Any, tz: str) -> tuple[Inline, ...]:
    if first.queued_at is None:
        verdict = "" if first.within_target is None else " — the 15-minute line was missed"
        return ("Nothing was communicated" + verdict + ".",)
    parts: list[Inline] = [f"First message queued {fmt_time(first.queued_at, tz)} "
                           f"({fmt_span(first.to_queued)} after detection)"]
    if first.sent_at is not None:
        parts.append(f"; first sent {fmt_time(first.sent_at, tz)} "
                     f"({fmt_span(first.to_sent)} after detection)")
    target = fmt_span(first.target)
    if first.within_target is True:
        parts.append(Run(f" — within the {target} line.", tone="good"))
    elif first.within_target is False:
        parts.append(Run(f" — beyond the {target} line.", tone="bad"))
    else:
        parts.append(".")
    return tuple(parts)


def _record_blocks(r: Any) -> list[Block]:
    rec, tz = r.record, r.time_zone
    technical = r.audience == Audience.TECHNICAL
    blocks: list[Block] = [H(2, "Communication record"), H(3, "First communication"),
                           P(_first_line(rec.first, tz))]
    blocks.append(H(3, "Messages"))
    blocks.append(P((f"{_plural(len(rec.messages), 'message')} to "
                     f"{_plural(rec.deliveries, 'recipient')}: {rec.sent} sent, "
                     f"{rec.failed} failed, {rec.unknown} unknown, {rec.pending} pending.",)))
    if rec.messages:
        blocks.append(Table(("Queued", "Message", "Audience", "Recipients", "Sent", "Failed",
                             "Unknown", "First sent"),
                            [(fmt_time(m.at, tz), m.type_label, m.audience, str(m.total),
                              str(m.sent), _count(m.failed), _count(m.unknown),
                              fmt_time(m.first_sent_at, tz)) for m in rec.messages]))
    if technical:
        for m in rec.messages:
            blocks.append(H(3, f"Message {m.id}: {m.type_label}, {fmt_time(m.at, tz)}"
                               + (f" by {m.created_by}" if m.created_by else "")))
            blocks.append(Table(("Recipient", "Channel", "Address", "State", "Sent", "Error"),
                                [(d.name, d.channel, d.address, _state(d.state),
                                  fmt_time(d.sent_at, tz), d.last_error)
                                 for d in m.recipients]))
    blocks.append(H(3, "Update cadence"))
    if rec.gaps:
        blocks.append(P((Run(f"{_plural(len(rec.gaps), 'silence')} longer than the cadence "
                             "allowed:", tone="bad"),)))
        blocks.append(Table(("Phase", "Severity", "Silent from", "Until", "Length", "Allowed"),
                            [(g.phase.label, g.severity.value, fmt_time(g.start, tz),
                              fmt_time(g.end, tz) + (" (still silent)" if g.ongoing else ""),
                              Run(fmt_span(g.length), tone="bad"), fmt_span(g.allowed))
                             for g in rec.gaps]))
    else:
        blocks.append(P((Run("The update cadence was kept in every phase.", tone="good"),)))
    blocks.append(H(3, "Max silence per stakeholder"))
    if rec.silences:
        blocks.append(Table(("Stakeholder", "Silent from", "Until", "Length", "Allowed"),
                            [(s.name, fmt_time(s.start, tz),
                              fmt_time(s.end, tz) + (" (still silent)" if s.ongoing else ""),
                              Run(fmt_span(s.length), tone="bad"), fmt_span(s.allowed))
                             for s in rec.silences]))
    else:
        blocks.append(P(("No stakeholder waited longer than their max silence.",)))
    if rec.resolution_notice_due is not None:
        blocks.append(P(_label("Resolution notice", _notice(rec, tz))))
    blocks.append(H(3, "Escalations"))
    if rec.escalations:
        blocks.append(Table(("Proposed", "Rule", "Why", "Outcome", "Decided", "By", "Reason"),
                            [(fmt_time(e.proposed_at, tz), e.rule_name, e.reason,
                              Run(e.outcome.capitalize(), tone="bad" if e.outcome == "pending"
                                  else ""), fmt_time(e.decided_at, tz), e.decided_by,
                              e.decision_reason) for e in rec.escalations]))
    else:
        blocks.append(P(("No escalation rule fired.",)))
    blocks.append(H(3, "Decisions"))
    if rec.decisions:
        blocks.append(Table(("Time", "By", "Decision"),
                            [(fmt_time(d.at, tz), d.actor, d.text + (
                                f" (effective {fmt_time(d.effective_at, tz)})"
                                if d.effective_at else "")) for d in rec.decisions]))
    else:
        blocks.append(P(("No decisions were recorded.",)))
    blocks.append(H(3, "Regulatory and contractual deadlines"))
    if rec.regulatory:
        blocks.append(Table(("Deadline", "Regime", "Notify", "Started", "Due", "Satisfied",
                             "Outcome"),
                            [(g.title, g.regime, g.recipient, fmt_time(g.started_at, tz),
                              fmt_time(g.due_at, tz), fmt_time(g.satisfied_at, tz),
                              _outcome(g)) for g in rec.regulatory]))
    else:
        blocks.append(P(("No regulatory or contractual deadline applied.",)))
    blocks.append(H(3, "Failed and unknown deliveries"))
    blocks.append(P((f"{rec.failed} failed, {rec.unknown} unknown.",)))
    if technical and rec.failures:
        blocks.append(Table(("Queued", "Message", "Recipient", "Channel", "Address", "State",
                             "Attempts", "Last error"),
                            [(fmt_time(f.at, tz), f.type_label, f.recipient_name, f.channel,
                              f.address, _state(f.state), str(f.attempts), f.last_error)
                             for f in rec.failures]))
    return blocks


def _count(n: int) -> Inline:
    return Run(str(n), tone="bad") if n else "0"


def _state(state: str) -> Inline:
    return Run(state, tone="bad") if state in ("failed", "unknown") else state


def _notice(rec: Any, tz: str) -> str:
    due = fmt_time(rec.resolution_notice_due, tz)
    if rec.resolution_notice_at is None:
        return f"not queued (due {due})"
    late = rec.resolution_notice_at > rec.resolution_notice_due
    return (f"queued {fmt_time(rec.resolution_notice_at, tz)} (due {due}"
            + (", late)" if late else ")"))


def _outcome(line: Any) -> Inline:
    if line.outcome == "met":
        return Run("Met", tone="good")
    if line.outcome == "late":
        return Run("Met late", tone="bad")
    if line.overdue:
        return Run("Open — overdue", tone="bad")
    return "Open" if line.started_at else "Open — not started"


def _full_blocks(r: Any, with_chart: bool) -> list[Block]:
    tz, post, facts = r.time_zone, r.post, r.facts
    blocks = _header(r, r.audience.label)
    blocks.append(H(2, "Summary"))
    blocks += _paragraphs(facts.status) or [P(("No status was written.",))]
    if facts.affected_services:
        blocks.append(P(_label("Affected services", ", ".join(facts.affected_services))))
    if post.resolution_confirmed_at or post.resolution_confirmed_by:
        blocks.append(P(_label("Resolution confirmed",
                               " ".join(x for x in (fmt_time(post.resolution_confirmed_at, tz)
                                                    if post.resolution_confirmed_at else "",
                                                    f"by {post.resolution_confirmed_by}"
                                                    if post.resolution_confirmed_by else "")
                                        if x))))
    if with_chart:
        blocks.append(Chart())
    blocks.append(H(2, "Impact"))
    blocks += _paragraphs(post.impact_summary or facts.impact) or [P(("Not written yet.",))]
    blocks.append(H(2, "Root cause"))
    blocks += _root_cause(post.root_cause, post.root_cause_under_investigation)
    blocks.append(H(2, "Remediation"))
    if post.remediation:
        blocks.append(Table(("Action", "Owner", "Due", "Status"),
                            [(i.text, i.owner or "—", fmt_date(i.due_date),
                              Run("Done", tone="good") if i.done else "Open")
                             for i in post.remediation]))
    else:
        blocks.append(P(("No remediation steps were written.",)))
    blocks.append(H(2, "Phases"))
    blocks.append(Table(("Phase", "From", "To", "Duration", "By"),
                        [(s.phase.label + (" (reopened)" if s.reopen else ""),
                          fmt_time(s.start, tz), fmt_time(s.end, tz) if s.end else "current",
                          fmt_span((s.end or r.generated_at) - s.start), s.actor or "—")
                         for s in r.record.phases]))
    blocks.append(H(2, "Facts"))
    blocks.append(Table(("Fact", "Value"), [
        ("Current status", facts.status or "—"), ("Impact", facts.impact or "—"),
        ("Affected services", ", ".join(facts.affected_services) or "—"),
        ("ETA", " ".join(x for x in (fmt_time(facts.eta_at, tz) if facts.eta_at else "",
                                     facts.eta_qualifier) if x) or "—"),
        ("Workaround", facts.workaround or "—"),
        ("Next update at", fmt_time(facts.next_update_at, tz))]))
    blocks += _record_blocks(r)
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
        blocks.append(Table(("Time", "Event", "By", "What"),
                            [(fmt_time(e.at, tz), e.kind_label, e.actor, e.summary)
                             for e in r.timeline]))
    return blocks


def _customer_blocks(r: Any, with_chart: bool) -> list[Block]:
    tz = r.time_zone
    blocks = _header(r, "Customer")
    blocks.append(H(2, "Summary"))
    blocks += _paragraphs(r.status)
    if r.affected_services:
        blocks.append(P(_label("Affected services", ", ".join(r.affected_services))))
    if r.workaround:
        blocks.append(P(_label("Workaround", r.workaround)))
    if r.resolution_confirmed_at:
        blocks.append(P(_label("Resolution confirmed", fmt_time(r.resolution_confirmed_at, tz))))
    blocks.append(Table(("Phase", "From", "To"),
                        [(s.phase.label, fmt_time(s.start, tz),
                          fmt_time(s.end, tz) if s.end else "current") for s in r.phases]))
    if with_chart:
        blocks.append(Chart())
    blocks.append(H(2, "Impact"))
    blocks += _paragraphs(r.impact_summary) or [P(("Being assessed.",))]
    blocks.append(H(2, "Root cause"))
    blocks += _paragraphs(r.root_cause)
    blocks.append(H(2, "What we are doing to prevent it"))
    if r.remediation:
        blocks.append(Table(("Action", "Due", "Status"),
                            [(i.text, fmt_date(i.due_date), "Done" if i.done else "Planned")
                             for i in r.remediation]))
    else:
        blocks.append(P(("The remediation plan is being prepared.",)))
    blocks.append(H(2, "How we kept you informed"))
    if r.first_communication_after is not None:
        blocks.append(P((f"Our first message went out {fmt_span(r.first_communication_after)} "
                         "after the incident was detected.",)))
    if r.communications:
        blocks.append(Table(("Sent", "Message", "Recipients"),
                            [(fmt_time(c.at, tz), c.type_label, str(c.recipients))
                             for c in r.communications]))
    else:
        blocks.append(P(("No customer messages were sent.",)))
    return blocks


def report_blocks(report: Any, with_chart: bool = False) -> list[Block]:
    if report.audience == Audience.CUSTOMER:
        return _customer_blocks(report, with_chart)
    return _full_blocks(report, with_chart)


# ---------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(r"([*`\[\]])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md_text(text: str) -> str:
    """User text as literal Markdown: emphasis, code and link characters escaped (an
    underscore inside a word, as in America/Los_Angeles, is left alone), HTML made inert."""
    out = (text or "").replace("\r\n", "\n").replace("\\", "\\\\").replace("<", "&lt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), out)


def _md_inline(item: Inline) -> str:
    if isinstance(item, str):
        return _md_text(item)
    text = _md_text(item.text)
    if item.bold and text.strip():
        lead, core, trail = _split_space(text)
        return f"{lead}**{core}**{trail}"
    return text


def _split_space(text: str) -> tuple[str, str, str]:
    core = text.strip()
    start = text.index(core)
    return text[:start], core, text[start + len(core):]


def _md_cell(item: Inline) -> str:
    text = _md_inline(item).replace("|", "\\|").replace("\n", "<br>")
    return text or " "


def render_markdown(report: Any, chart_file: str | None = None) -> str:
    """The report as GitHub-flavoured Markdown; `chart_file` adds an image link to the chart."""
    lines: list[str] = []
    for block in report_blocks(report, with_chart=chart_file is not None):
        if isinstance(block, H):
            lines += ["#" * block.level + " " + _md_text(block.text).replace("\n", " "), ""]
        elif isinstance(block, P):
            lines += ["".join(_md_inline(i) for i in block.runs).replace("\n", "  \n"), ""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
            lines.append("|" + "|".join(" --- " for _ in block.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, UL):
            lines += ["- " + "".join(_md_inline(i) for i in item).replace("\n", " ")
                      for item in block.items]
            lines.append("")
        elif isinstance(block, Chart) and chart_file is not None:
            target = chart_file.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
            lines += [f"![{CHART_ALT}]({target})", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- HTML

def _esc(text: str) -> str:
    return html.escape(text or "", quote=True)


def _html_inline(item: Inline) -> str:
    if isinstance(item, str):
        return _esc(item).replace("\n", "<br/>")
    out = _esc(item.text).replace("\n", "<br/>")
    if item.bold:
        out = f"<b>{out}</b>"
    if item.tone:
        out = f'<span style="color: {TONES[item.tone]};">{out}</span>'
    return out


def render_html(report: Any, chart_png: bytes | None = None) -> str:
    """One self-contained HTML5 document (inline style, the chart as a data: URI, no scripts,
    no external resources), well-formed and inside what QTextDocument renders."""
    body: list[str] = []
    for block in report_blocks(report, with_chart=chart_png is not None):
        if isinstance(block, H):
            body.append(f"<h{block.level}>{_esc(block.text)}</h{block.level}>")
        elif isinstance(block, P):
            body.append("<p>" + "".join(_html_inline(i) for i in block.runs) + "</p>")
        elif isinstance(block, Table):
            rows = ["<tr>" + "".join(f"<th>{_html_inline(h)}</th>" for h in block.headers)
                    + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>"
                     for row in block.rows]
            body.append('<table border="1" cellpadding="4" cellspacing="0" width="100%">'
                        + "".join(rows) + "</table>")
        elif isinstance(block, UL):
            body.append("<ul>" + "".join("<li>" + "".join(_html_inline(i) for i in item)
                                         + "</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Chart) and chart_png is not None:
            data = base64.b64encode(chart_png).decode("ascii")
            body.append(f'<p><img src="data:image/png;base64,{data}" alt="{_esc(CHART_ALT)}"'
                        ' width="640"/></p>')
    title = _esc(f"Post-incident report: {report.title}")
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
            f"<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


__all__ = ["render_markdown", "render_html", "report_blocks", "fmt_time", "fmt_span"]
