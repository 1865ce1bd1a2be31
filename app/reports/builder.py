"""The post-incident report in three versions — technical, executive, customer — the data of its
chart, and the report written as Markdown or HTML. What each version says, as blocks, is
app/reports/render.py; the PDF is drawn from the same blocks by ui/reports/pdf.py. The
communication record itself is app/reports/record.py.

The customer version is a different, smaller structure (CustomerReport): it has no field that
could carry an internal note, a decision, a person's name (coordinator, responder, stakeholder,
remediation owner), an address, the lessons learned or feedback comments — so no renderer can
show them by mistake. The executive version is a Report whose record has no recipients or
addresses and whose timeline is empty.
"""

from __future__ import annotations

import base64
import html
import re
from json import loads
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from app.clock import Clock
from app.domain.dto import Facts, TimelineEntryDTO
from app.domain.enums import Category, Phase, Severity, TimelineKind
from app.domain.models import stored_utc
from app.errors import NotFound
from app.runtime import collection_paused
from app.reports.appendix import AppendixMessage, message_appendix
from app.reports.model import Audience, ChartData, ChartMark, ChartPhase, PostIncident
from app.reports.record import (
    CommunicationRecord, DeliveryInfo, MessageInfo, RecordInputs, compute_record,
)
from app.reports.render import H, P, UL, Cell, Chart, Inline, Table, fmt_time, report_blocks
from app.clocks.wording import describe_clock_entry
from app.sending.wording import describe_retry

UNDER_INVESTIGATION = "Under investigation."
CHART_ALT = "Incident chart: phases, messages, due updates and deadlines over time"
TONES = {"bad": "#b00020", "good": "#1b6e20", "muted": "#666666"}
# Margins in px: QTextDocument ignores one given in pt (and the heading's default with it).
STYLE = ("body { font-family: sans-serif; font-size: 10pt; color: #202020; }\n"
         "h1 { font-size: 18pt; margin-bottom: 8px; }\n"
         "h2 { font-size: 14pt; margin-top: 20px; margin-bottom: 6px; }\n"
         "h3 { font-size: 11pt; margin-top: 14px; margin-bottom: 4px; }\n"
         "p { margin-top: 6px; margin-bottom: 6px; }\n"
         "table { border-collapse: collapse; }\n"
         "th { background-color: #eeeeee; text-align: left; }\n"
         "th, td { vertical-align: top; }\n")


@dataclass(frozen=True)
class FeedbackSummary:
    count: int
    average: float | None
    comments: tuple[tuple[str, int, str], ...] = ()   # (who, rating, comment), non-empty ones


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    kind: str
    kind_label: str
    actor: str
    summary: str


@dataclass(frozen=True)
class Report:
    """The technical or executive version."""
    audience: Audience
    incident_id: int
    title: str
    client_name: str
    time_zone: str
    severity: Severity
    phase: Phase
    is_drill: bool
    detected_at: datetime
    resolved_at: datetime | None
    generated_at: datetime
    facts: Facts
    post: PostIncident
    record: CommunicationRecord
    feedback: FeedbackSummary
    timeline: tuple[TimelineLine, ...] = ()           # technical only
    appendix: tuple[AppendixMessage, ...] = ()        # what each message said, per variant
    summary_status: str = ""     # the status given at the (latest) resolution; else facts'
    chain_head: tuple[int, str] = (0, "")   # the timeline's hash chain head: (number, hash)
    # who was asked to confirm, who did and who never did (issue 25; app/acks/status.py)
    confirmations: Any = None

    @property
    def chart(self) -> ChartData:
        return chart_data(self)


@dataclass(frozen=True)
class CustomerPhase:
    phase: Phase
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class CustomerRemediation:
    text: str
    due_date: date | None
    done: bool


@dataclass(frozen=True)
class CustomerCommunication:
    at: datetime                  # first sent (queued while none was sent)
    type_label: str
    recipients: int               # customer-facing recipients of that message


@dataclass(frozen=True)
class CustomerReport:
    """The customer version: only what may leave the organisation."""
    incident_id: int
    title: str
    client_name: str
    time_zone: str
    severity: Severity
    phase: Phase
    detected_at: datetime
    resolved_at: datetime | None
    generated_at: datetime
    phases: tuple[CustomerPhase, ...]
    status: str
    affected_services: tuple[str, ...]
    workaround: str
    impact_summary: str
    root_cause: str               # UNDER_INVESTIGATION until it is known
    root_cause_known: bool
    remediation: tuple[CustomerRemediation, ...]
    resolution_confirmed_at: datetime | None
    first_communication_after: timedelta | None
    communications: tuple[CustomerCommunication, ...]
    audience: Audience = Audience.CUSTOMER
    appendix: tuple[AppendixMessage, ...] = ()        # only what customers were sent

    @property
    def chart(self) -> ChartData:
        return chart_data(self)


AnyReport = Report | CustomerReport


# ---------------------------------------------------------------- loading the record's inputs

def _utc(text: str | None) -> datetime | None:
    return stored_utc(text) if text else None


class _Times(dict):
    """_utc with each stored text decoded once: the deliveries of a message share their
    queued time (20,000 deliveries, a few thousand different times)."""

    def __missing__(self, text: str | None) -> datetime | None:
        found = self[text] = _utc(text)
        return found


def load_record_inputs(store: Any, clock: Clock, incident_id: int,
                       now: datetime | None = None) -> RecordInputs:
    """Everything compute_record needs for one incident, in a few column queries. The clocks'
    own gathering (app/clocks/evaluation.py) supplies the stakeholders with their effective max silence,
    the cadence policies and the regulatory clocks, so those rules live in one place. The
    deliveries — the largest read — come as plain text columns decoded here, not row by row
    through the ORM's enum and time types."""
    from sqlalchemy import String, select, type_coerce

    from app.clocks.evaluation import ClockService
    from app.coordinators.service import signature
    from app.domain.chain import head
    from app.domain.models import Delivery, Group, Message, RecordMeta, Stakeholder, TimelineEntry

    now = now or clock.now()
    service = ClockService(store, clock)
    with store.session() as session:
        g = service._gather(session, [incident_id]).get(incident_id)
        if g is None:
            raise NotFound(f"Incident {incident_id} does not exist.")
        policies = service.rules.policies_for(session, {g.client.id})
        # entries written before coordinators were kept say so (app/coordinators)
        first_signed = session.scalar(select(RecordMeta.value).where(
            RecordMeta.key == "coordinators_from_entry"))
        first = int(first_signed) if first_signed else None
        # the chain head in the same transaction as the timeline: the report prints it
        connection = session.connection()   # plain Core rows: no ORM loading per row
        chain_head = head(connection, incident_id)
        text = lambda column: type_coerce(column, String)  # noqa: E731
        timeline = [TimelineEntryDTO(r.id, incident_id, _utc(r.at), r.kind,
                                     signature(r.actor or "", r.id, first),
                                     r.summary or "", (loads(r.data) if r.data else None) or {})
                    for r in connection.execute(
                        select(TimelineEntry.id, text(TimelineEntry.at).label("at"),
                               TimelineEntry.kind, TimelineEntry.actor, TimelineEntry.summary,
                               text(TimelineEntry.data).label("data"))
                        .where(TimelineEntry.incident_id == incident_id)
                        .order_by(TimelineEntry.at, TimelineEntry.id))]
        messages = [MessageInfo(r.id, r.created_at, r.template_type, dict(r.audience or {}),
                                r.created_by or "")
                    for r in session.execute(
                        select(Message.id, Message.created_at, Message.template_type,
                               Message.audience, Message.created_by)
                        .where(Message.incident_id == incident_id))]
        times = _Times()
        deliveries = [DeliveryInfo(i, m, s, name, channel, address, state, times[created],
                                   times[sent], attempts or 0, error or "")
                      for i, m, s, name, channel, address, state, created, sent, attempts, error
                      in connection.execute(
                          select(Delivery.id, Delivery.message_id, Delivery.stakeholder_id,
                                 Delivery.recipient_name, text(Delivery.channel),
                                 Delivery.address, text(Delivery.state),
                                 text(Delivery.created_at), text(Delivery.sent_at),
                                 Delivery.attempts, Delivery.last_error)
                          .join(Message, Message.id == Delivery.message_id)
                          .where(Message.incident_id == incident_id))]
        categories = {sid: Category(cat) for sid, cat in session.execute(
            select(Stakeholder.id, text(Stakeholder.category))
            .where(Stakeholder.client_id == g.client.id))}
        group_names = dict(session.execute(
            select(Group.id, Group.name).where(Group.client_id == g.client.id)).all())
        zone = g.client.time_zone or "UTC"
    severity = Severity(g.incident.severity)
    evaluated = service._evaluate(g, policies[(g.client.id, severity)], now)
    return RecordInputs(
        incident_id=incident_id, title=g.incident.title, detected_at=g.incident.detected_at,
        now=now, severity=severity, phase=Phase(g.incident.phase),
        policies={sev: policies[(g.client.id, sev)] for sev in Severity},
        timeline=timeline, messages=messages, deliveries=deliveries,
        stakeholders=tuple(g.stakeholders), categories=categories, group_names=group_names,
        regulatory=tuple(evaluated.regulatory), time_zone=zone, chain_head=chain_head)


# ---------------------------------------------------------------- building

def feedback_summary(post: PostIncident) -> FeedbackSummary:
    ratings = [f.rating for f in post.feedback]
    return FeedbackSummary(
        count=len(ratings), average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        comments=tuple((f.stakeholder_name, f.rating, f.comment.strip())
                       for f in post.feedback if f.comment.strip()))


def _load_post_incident(store: Any, clock: Any, incident_id: int) -> PostIncident:
    from app.events import EventBus
    from app.reports.postincident import PostIncidentService  # written beside this module

    return PostIncidentService(store, clock, EventBus(), None).get(incident_id)


def build_report(store: Any, clock: Any, incident_id: int, audience: Audience | str, *,
                 post_incident: PostIncident | None = None,
                 now: datetime | None = None) -> AnyReport:
    """The report of one incident for one audience (a CustomerReport for customers).
    `post_incident` overrides what app.reports.postincident has stored (previews, tests)."""
    audience = Audience(audience)
    now = now or clock.now()
    with collection_paused():   # 100,000 short-lived objects, no cycles: a sixth of the time
        return _build_report(store, clock, incident_id, audience, post_incident, now)


def _build_report(store: Any, clock: Any, incident_id: int, audience: Audience,
                  post_incident: PostIncident | None, now: datetime) -> AnyReport:
    from app.incidents.lifecycle import IncidentService

    incident = IncidentService(store, clock).get(incident_id)
    inputs = load_record_inputs(store, clock, incident_id, now)
    record = compute_record(inputs)
    post = post_incident if post_incident is not None else \
        _load_post_incident(store, clock, incident_id)
    base = dict(incident_id=incident.id, title=incident.title, client_name=incident.client_name,
                time_zone=inputs.time_zone, severity=incident.severity, phase=incident.phase,
                detected_at=incident.detected_at,
                resolved_at=record.end if record.resolved else None, generated_at=now)
    base["appendix"] = message_appendix(store, incident_id, audience)
    # the Summary is what was true at the resolution, not whatever was typed since
    finals = [e.data.get("final_status") for e in inputs.timeline
              if e.kind == _PHASE_CHANGED and e.data.get("new") == "resolved"]
    final = next((f for f in reversed(finals) if f), "") if record.resolved else ""
    if audience == Audience.CUSTOMER:
        facts = replace(incident.facts, status=final) if final else incident.facts
        return _customer(base, facts, post, record)
    timeline: tuple[TimelineLine, ...] = ()
    if audience == Audience.TECHNICAL:
        zone = inputs.time_zone
        timeline = tuple(TimelineLine(e.at, e.kind, _kind_label(e.kind), e.actor,
                                      _reads(e, zone))
                         for e in inputs.timeline)
    else:
        record = _executive_record(record)
    from app.acks.status import incident_confirmations

    return Report(audience=audience, is_drill=incident.is_drill, facts=incident.facts, post=post,
                  record=record, feedback=feedback_summary(post), timeline=timeline,
                  summary_status=final, chain_head=inputs.chain_head,
                  confirmations=incident_confirmations(store, incident_id), **base)


_KIND_LABELS = {k.value: k.label for k in TimelineKind}
_PHASE_CHANGED = TimelineKind.PHASE_CHANGED.value
_DELIVERY_RETRY = TimelineKind.DELIVERY_RETRY.value


def _reads(entry: TimelineEntryDTO, zone: str) -> str:
    """An entry's text with the times kept in its data shown in the client's zone."""
    def show(at: datetime) -> str:
        return fmt_time(at, zone)
    if entry.kind == _DELIVERY_RETRY:
        return describe_retry(entry, show)
    return describe_clock_entry(entry, show)


def _kind_label(kind: str) -> str:
    return _KIND_LABELS.get(kind) or kind.replace("_", " ").capitalize()


def _executive_record(record: CommunicationRecord) -> CommunicationRecord:
    """No recipients, no addresses: messages keep their figures, failures their counts."""
    return replace(record, messages=tuple(replace(m, recipients=()) for m in record.messages),
                   failures=())


def _customer(base: dict[str, Any], facts: Facts, post: PostIncident,
              record: CommunicationRecord) -> CustomerReport:
    known = bool(post.root_cause.strip()) and not post.root_cause_under_investigation
    communications = tuple(
        CustomerCommunication(at=m.first_sent_at or m.at, type_label=m.type_label,
                              recipients=m.customer_facing)
        for m in record.messages
        if m.customer_facing and m.total > m.failed + m.cancelled)
    # the first message that reached a customer-facing audience, not the first to anyone
    first = min(c.at for c in communications) - record.detected_at if communications else None
    return CustomerReport(
        phases=tuple(CustomerPhase(s.phase, s.start, s.end) for s in record.phases),
        status=facts.status, affected_services=tuple(facts.affected_services),
        workaround=facts.workaround,
        impact_summary=post.impact_summary.strip() or facts.impact,
        root_cause=post.root_cause.strip() if known else UNDER_INVESTIGATION,
        root_cause_known=known,
        remediation=tuple(CustomerRemediation(r.text, r.due_date, r.done)
                          for r in post.remediation),
        resolution_confirmed_at=post.resolution_confirmed_at,
        first_communication_after=first, communications=communications, **base)


# ---------------------------------------------------------------- the chart

def _chart_end(start: datetime, times: list[datetime]) -> datetime:
    end = max([start, *times])
    return end if end > start else start + timedelta(minutes=1)


def _phases(spans: Any, start: datetime, end: datetime) -> tuple[ChartPhase, ...]:
    out = []
    for s in spans:
        s0 = max(s.start, start)
        s1 = min(s.end, end) if s.end is not None else end
        if s0 < end and s1 > s0:
            out.append(ChartPhase(Phase(s.phase).value, s0, s1))
    return tuple(out)


def chart_data(report: AnyReport) -> ChartData:
    """Phases along time; a mark per message ("failed" when every delivery failed), each moment
    an update became due without one, regulatory deadlines and escalations. The customer
    version shows only customer-facing messages, and no mark carries a name. Every mark but a
    deadline lies within [start, end]; a deadline may lie beyond `end` (HIPAA: 60 days), and the
    chart shows it at its edge."""
    start = report.detected_at
    if isinstance(report, CustomerReport):
        end = _chart_end(start, [report.resolved_at or report.generated_at]
                         + [c.at for c in report.communications])
        marks = [ChartMark(c.at, c.type_label, "message") for c in report.communications]
        phases = _phases(report.phases, start, end)
    else:
        record = report.record
        end = _chart_end(start, [record.end] + [m.at for m in record.messages]
                         + [e.proposed_at for e in record.escalations])
        marks = [ChartMark(m.at, m.type_label, "failed" if m.all_failed else "message")
                 for m in record.messages]
        marks += [ChartMark(g.due_at, f"{g.phase.label} update due", "due") for g in record.gaps]
        marks += [ChartMark(r.due_at, r.title, "deadline_met" if r.outcome == "met"
                            else "deadline") for r in record.regulatory if r.due_at]
        marks += [ChartMark(e.proposed_at, f"Escalation: {e.rule_name} ({e.outcome})",
                            "escalation") for e in record.escalations]
        phases = _phases(record.phases, start, end)
    marks = sorted((m for m in marks if start <= m.at <= end or m.kind.startswith("deadline")),
                   key=lambda m: (m.at, m.kind))
    return ChartData(title=report.title, start=start, end=end, time_zone=report.time_zone,
                     phases=phases, marks=tuple(marks))


# ---------------------------------------------------------------- writing: Markdown

# Both writers walk the same blocks (app/reports/render.py), so the formats say the same thing.

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
        core = text.strip()
        start = text.index(core)
        return f"{text[:start]}**{core}**{text[start + len(core):]}"
    return text


def _md_cell(cell: Cell) -> str:
    items = cell if isinstance(cell, tuple) else (cell,)
    text = "".join(_md_inline(i) for i in items).replace("|", "\\|").replace("\n", "<br>")
    return text or " "


def render_markdown(report: Any, chart_file: str | None = None) -> str:
    """The report as GitHub-flavoured Markdown; `chart_file` adds an image link to the chart."""
    lines: list[str] = []
    for block in report_blocks(report, with_chart=bool(chart_file)):
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
        elif isinstance(block, Chart) and chart_file:
            target = chart_file.replace(" ", "%20").replace(")", "%29").replace("(", "%28")
            lines += [f"![{CHART_ALT}]({target})", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- writing: HTML
# Inside the subset QTextDocument renders (a simple HTML every viewer shows): h1–h3, p, table with
# border/cellpadding attributes, th widths and a <thead> (repeated on every page), ul/li, b, span
# with an inline colour, img — well-formed (XML once the doctype line is removed), every user
# text escaped, no scripts and no external resources.

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


def _html_cell(cell: Cell) -> str:
    return "".join(_html_inline(i) for i in (cell if isinstance(cell, tuple) else (cell,)))


def _html_table(block: Table) -> str:
    widths = block.widths if len(block.widths) == len(block.headers) else ()
    cells = [f'<th width="{w}%">' for w in widths] or ["<th>"] * len(block.headers)
    head = "".join(f"{c}{_html_inline(h)}</th>" for c, h in zip(cells, block.headers))
    rows = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>"
                   for row in block.rows)
    return ('<table border="1" cellpadding="2" cellspacing="0" width="100%">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def render_html(report: Any, chart_png: bytes | None = None) -> str:
    """One self-contained HTML5 document (inline style, the chart as a data: URI, no scripts,
    no external resources), well-formed and inside what QTextDocument renders. The table
    headers are in <thead>, so a browser prints them on every page a table runs over."""
    body: list[str] = []
    for block in report_blocks(report, with_chart=bool(chart_png)):
        if isinstance(block, H):
            body.append(f"<h{block.level}>{_esc(block.text)}</h{block.level}>")
        elif isinstance(block, P):
            body.append("<p>" + "".join(_html_inline(i) for i in block.runs) + "</p>")
        elif isinstance(block, Table):
            body.append(_html_table(block))
        elif isinstance(block, UL):
            body.append("<ul>" + "".join("<li>" + "".join(_html_inline(i) for i in item)
                                         + "</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Chart) and chart_png:
            data = base64.b64encode(chart_png).decode("ascii")
            body.append(f'<p><img src="data:image/png;base64,{data}" alt="{_esc(CHART_ALT)}"'
                        ' width="640"/></p>')
    title = _esc(f"Post-incident report: {report.title}")
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
            f"<title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


__all__ = ["Report", "CustomerReport", "AnyReport", "FeedbackSummary", "TimelineLine",
           "CustomerPhase", "CustomerRemediation", "CustomerCommunication", "build_report",
           "chart_data", "feedback_summary", "load_record_inputs", "render_markdown", "render_html",
           "UNDER_INVESTIGATION"]

