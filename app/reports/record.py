"""The communication record of an incident: who got what and when, whether the update cadence
and each stakeholder's max silence were kept over the whole incident, escalations and decisions,
regulatory deadlines met or missed, and the deliveries that failed or whose fate is unknown.

`compute_record` is a pure function over plain inputs (a timeline, messages, deliveries, the
cadence policies, stakeholders and evaluated regulatory clocks), so it is tested against a
hand-built timeline; app.reports.builder.load_record_inputs gathers those inputs from the store.

The record covers detection to resolution (the latest move to resolved; now while unresolved).
Cadence follows app/clocks/cadence.py phase by phase: in *detected* the acknowledgment is due within
the acknowledgment interval; in *investigating* and *responding* an update is due every interval
after the last communication or the phase's start; in a *resolved* period that was later
reopened the resolution notice is due within its interval. A gap is a silence longer than the
interval in force (the severity at that moment decides the interval). A communication counts
when it is queued, like the clocks; a message all of whose deliveries failed or were cancelled
is not a communication. Decisions are the coordinators' (and clock triggers); the outbox's
cancel / retry / resend entries are delivery actions and show in the deliveries' counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from app.clocks.cadence import (
    CadenceInputs, CadencePolicy, Communication, StakeholderInfo, evaluate_cadence,
)
from app.clock import ensure_utc
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import (
    Category, ClockTrigger, DeliveryState, Phase, Regime, Severity, TimelineKind, TimingNeed,
)
from app.clocks.regulatory import ClockState, ClockStatus
from app.messages.library import TYPE_LABELS

NOT_COMMUNICATED = frozenset({DeliveryState.CANCELLED.value, DeliveryState.FAILED.value,
                              DeliveryState.BOUNCED.value})
PENDING_STATES = frozenset({DeliveryState.QUEUED.value, DeliveryState.SENDING.value,
                            DeliveryState.RETRY_WAIT.value})
# who a customer-facing report may count messages to (public and customer audiences)
CUSTOMER_FACING = frozenset({Category.CUSTOMERS, Category.AFFECTED_USERS, Category.MEDIA})
CHANNEL_MODE_LABELS = {"best": "best channel of each person", "email": "email only",
                       "sms": "SMS only", "both": "email and SMS"}
# what the outbox records as a decision entry about one delivery (app/sending/timeline.py):
# delivery actions, counted with the deliveries' states, not decisions about the incident
DELIVERY_ACTIONS = frozenset({"cancel", "retry", "resend"})


from app.reports.record_types import (  # noqa: E402,F401 - the record's types, re-exported
    MessageInfo, DeliveryInfo, RecordInputs, FirstCommunication, RecipientLine, MessageLine, Gap,
    SilenceBreach, StakeholderSilence, EscalationLine, DecisionLine, RegulatoryLine, FailureLine,
    PhaseSpan, CommunicationRecord,
)

# the kinds the record reads, as stored (an enum's .value costs a call per entry)
_CLOCK_STARTED = TimelineKind.CLOCK_STARTED.value
_CREATED = TimelineKind.CREATED.value
_DECISION = TimelineKind.DECISION.value
_ESCALATION_DECIDED = TimelineKind.ESCALATION_DECIDED.value
_ESCALATION_PROPOSED = TimelineKind.ESCALATION_PROPOSED.value
_PHASE_CHANGED = TimelineKind.PHASE_CHANGED.value
_SEVERITY_CHANGED = TimelineKind.SEVERITY_CHANGED.value


# ---------------------------------------------------------------- computing it (pure)

def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _enum_or(cls: type, value: Any, default: Any) -> Any:
    try:
        return cls(value)
    except ValueError:
        return default


def phase_spans(detected_at: datetime, timeline: Sequence[TimelineEntryDTO]) -> list[PhaseSpan]:
    """The phases the incident went through, in order, from its phase_changed entries."""
    spans: list[PhaseSpan] = []
    phase, start, actor, reopen = Phase.DETECTED, detected_at, "", False
    for e in timeline:
        if e.kind != _PHASE_CHANGED:
            continue
        new = _enum_or(Phase, e.data.get("new"), None)
        if new is None:
            continue
        at = max(e.at, start)
        spans.append(PhaseSpan(phase, start, at, actor, reopen))
        phase, start, actor, reopen = new, at, e.actor, bool(e.data.get("reopen"))
    spans.append(PhaseSpan(phase, start, None, actor, reopen))
    return spans


def _severity_steps(timeline: Sequence[TimelineEntryDTO], current: Severity,
                    detected_at: datetime) -> list[tuple[datetime, Severity]]:
    """(from, severity) steps: the severity at opening, then each change."""
    steps: list[tuple[datetime, Severity]] = []
    initial: Severity | None = None
    for e in timeline:
        if e.kind == _CREATED and initial is None:
            initial = _enum_or(Severity, e.data.get("severity"), None)
        elif e.kind == _SEVERITY_CHANGED:
            new = _enum_or(Severity, e.data.get("new"), None)
            if new is None:
                continue
            if not steps and initial is None:
                initial = _enum_or(Severity, e.data.get("old"), None)
            steps.append((e.at, new))
    return [(detected_at, initial or (steps[0][1] if steps else current))] + steps


_PHASE_INTERVAL = {
    Phase.DETECTED: lambda p: timedelta(minutes=p.acknowledge_minutes),
    Phase.INVESTIGATING: lambda p: timedelta(minutes=p.investigating_minutes),
    Phase.RESPONDING: lambda p: timedelta(minutes=p.responding_minutes),
    Phase.RESOLVED: lambda p: timedelta(minutes=p.resolution_minutes),
}


def _breach(base: datetime, end: datetime, phase: Phase,
            steps: Sequence[tuple[datetime, Severity]],
            policies: Mapping[Severity, CadencePolicy], ongoing: bool) -> Gap | None:
    """A gap if the silence [base, end] outlasted the interval in force at some moment of it."""
    interval_of = _PHASE_INTERVAL[phase]
    for i, (s0, severity) in enumerate(steps):
        s1 = steps[i + 1][0] if i + 1 < len(steps) else None
        if s1 is not None and s1 <= base:
            continue
        if s0 >= end:
            break
        lo, hi = max(s0, base), min(s1, end) if s1 is not None else end
        allowed = interval_of(policies[severity])
        due = base + allowed
        if due < hi:
            return Gap(phase=phase, severity=severity, start=base, end=end, allowed=allowed,
                       due_at=max(due, lo), ongoing=ongoing)
    return None


def cadence_gaps(spans: Sequence[PhaseSpan], moments: Sequence[datetime],
                 notices: Sequence[datetime], steps: Sequence[tuple[datetime, Severity]],
                 policies: Mapping[Severity, CadencePolicy], end: datetime,
                 resolved: bool) -> list[Gap]:
    """Every silence longer than its phase's interval between `spans[0].start` and `end`.
    `moments`: when each communication was queued (sorted); `notices`: resolution notices."""
    gaps: list[Gap] = []
    j = 0
    for span in spans:
        p0 = span.start
        p1 = min(span.end, end) if span.end is not None else end
        if p0 >= end:
            break
        open_end = span.end is None or span.end >= end
        ongoing_at_end = open_end and not resolved
        while j < len(moments) and moments[j] < p0:
            j += 1
        inside = []
        k = j
        while k < len(moments) and moments[k] <= p1:
            inside.append(moments[k])
            k += 1
        phase = span.phase
        if phase == Phase.DETECTED:
            earlier = j > 0
            if not earlier:
                stop = inside[0] if inside else p1
                gap = _breach(p0, stop, phase, steps, policies, ongoing_at_end and not inside)
                if gap:
                    gaps.append(gap)
        elif phase in (Phase.INVESTIGATING, Phase.RESPONDING):
            base = p0
            for moment in inside:
                gap = _breach(base, moment, phase, steps, policies, False)
                if gap:
                    gaps.append(gap)
                base = moment
            gap = _breach(base, p1, phase, steps, policies, ongoing_at_end)
            if gap:
                gaps.append(gap)
        elif phase == Phase.RESOLVED and span.end is not None and span.end <= end:
            # a resolved period that was reopened: its resolution notice was due
            notice = next((n for n in notices if p0 <= n <= p1), None)
            gap = _breach(p0, notice or p1, phase, steps, policies, False)
            if gap:
                gaps.append(gap)
    return gaps


def silence_breaches(stakeholders: Sequence[StakeholderInfo],
                     reached: Mapping[int, Sequence[datetime]], end: datetime,
                     resolved: bool) -> list[SilenceBreach]:
    """Each time a stakeholder, once reached, waited longer than their max silence."""
    out: list[SilenceBreach] = []
    for s in stakeholders:
        if s.max_silence_minutes is None:
            continue
        times = sorted(t for t in reached.get(s.id, ()) if t <= end)
        if not times:
            continue  # the silence timer starts with the first communication
        allowed = timedelta(minutes=s.max_silence_minutes)
        for a, b in zip(times, times[1:] + [end]):
            if b - a > allowed:
                out.append(SilenceBreach(s.id, s.name, a, b, allowed,
                                         ongoing=(b == end and not resolved and a == times[-1])))
    out.sort(key=lambda b: (b.start, b.name))
    return out


def silence_summary(breaches: Sequence[SilenceBreach]) -> list[StakeholderSilence]:
    """One line per stakeholder: their longest silence and how many times the max was
    exceeded; the worst first (longest past the max, then most often, then by name)."""
    by_person: dict[int, list[SilenceBreach]] = defaultdict(list)
    for b in breaches:
        by_person[b.stakeholder_id].append(b)
    out = []
    for sid, items in by_person.items():
        longest = max(items, key=lambda b: (b.length, -b.start.timestamp()))
        out.append(StakeholderSilence(sid, longest.name, longest.allowed, longest, len(items)))
    out.sort(key=lambda s: (-s.over.total_seconds(), -s.times, s.name, s.stakeholder_id))
    return out


def describe_audience(audience: Mapping[str, Any], group_names: Mapping[int, str],
                      recipient_categories: Sequence[Category]) -> str:
    """Whom a message was meant for, in words and without anyone's name."""
    parts: list[str] = []
    cats = [_enum_or(Category, c, None) for c in audience.get("categories") or ()]
    if any(cats):
        parts.append(", ".join(c.label for c in cats if c))
    timings = [_enum_or(TimingNeed, t, None) for t in audience.get("timing_needs") or ()]
    if any(timings):
        parts.append("timing need " + ", ".join(t.label.lower() for t in timings if t))
    groups = [group_names.get(g, f"group {g}") for g in audience.get("group_ids") or ()]
    if groups:
        parts.append("groups " + ", ".join(groups))
    picked = len(audience.get("stakeholder_ids") or ())
    if picked:
        parts.append(f"{picked} chosen {'person' if picked == 1 else 'people'}")
    if not parts and recipient_categories:
        counts: dict[Category, int] = defaultdict(int)
        for c in recipient_categories:
            counts[c] += 1
        parts.append(", ".join(f"{c.label} ({n})" for c, n in
                               sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].value))))
    text = "; ".join(parts) or "—"
    mode = CHANNEL_MODE_LABELS.get(str(audience.get("channels") or ""))
    return f"{text} ({mode})" if mode else text


def _message_lines(inputs: RecordInputs) -> list[MessageLine]:
    by_message: dict[int, list[DeliveryInfo]] = defaultdict(list)
    for d in inputs.deliveries:
        by_message[d.message_id].append(d)
    lines = []
    seen: dict[frozenset[tuple[str, str, str]], int] = {}
    for m in sorted(inputs.messages, key=lambda m: (m.created_at, m.id)):
        ds = sorted(by_message.get(m.id, ()), key=lambda d: (d.recipient_name, d.id))
        counts: dict[str, int] = defaultdict(int)
        for d in ds:
            counts[d.state] += 1
        cats = [inputs.categories[d.stakeholder_id] for d in ds
                if d.stakeholder_id is not None and d.stakeholder_id in inputs.categories]
        sent_times = [d.sent_at for d in ds if d.sent_at is not None]
        who = frozenset((d.recipient_name, d.channel, d.address) for d in ds)
        same = seen.setdefault(who, m.id) if ds else m.id
        lines.append(MessageLine(
            id=m.id, at=m.created_at, template_type=m.template_type,
            type_label=TYPE_LABELS.get(m.template_type, m.template_type.replace("_", " ")),
            audience=describe_audience(m.audience or {}, inputs.group_names, cats),
            created_by=m.created_by,
            recipients=tuple(RecipientLine(d.recipient_name, d.channel, d.address, d.state,
                                           d.stakeholder_id, d.sent_at, d.last_error,
                                           d.attempts) for d in ds),
            total=len(ds), sent=counts[DeliveryState.SENT.value],
            failed=counts[DeliveryState.FAILED.value],
            unknown=counts[DeliveryState.UNKNOWN.value],
            pending=sum(counts[s] for s in PENDING_STATES),
            cancelled=counts[DeliveryState.CANCELLED.value],
            customer_facing=sum(1 for c in cats if c in CUSTOMER_FACING),
            first_sent_at=min(sent_times) if sent_times else None,
            same_recipients_as=same if same != m.id else None,
            bounced=counts[DeliveryState.BOUNCED.value]))
    return lines


def _escalations(timeline: Sequence[TimelineEntryDTO]) -> list[EscalationLine]:
    proposed: dict[str, EscalationLine] = {}
    for e in timeline:
        key = str(e.data.get("condition_key", ""))
        if e.kind == _ESCALATION_PROPOSED and key not in proposed:
            cats = tuple(c.label for c in (_enum_or(Category, v, None)
                                           for v in e.data.get("categories") or ()) if c)
            proposed[key] = EscalationLine(
                condition_key=key, rule_name=str(e.data.get("rule_name", "")),
                reason=str(e.data.get("reason", "")), categories=cats, proposed_at=e.at,
                outcome="pending")
        elif e.kind == _ESCALATION_DECIDED and key in proposed \
                and proposed[key].outcome == "pending":
            p = proposed[key]
            decision = "confirmed" if e.data.get("decision") == "confirmed" else "dismissed"
            message_id = e.data.get("message_id")
            proposed[key] = EscalationLine(
                p.condition_key, p.rule_name, p.reason, p.categories, p.proposed_at, decision,
                decided_at=e.at, decided_by=e.actor, decision_reason=str(e.data.get("reason", "")),
                message_id=message_id if isinstance(message_id, int) else None)
    return sorted(proposed.values(), key=lambda x: (x.proposed_at, x.condition_key))


def _decisions(timeline: Sequence[TimelineEntryDTO]) -> list[DecisionLine]:
    out = []
    for e in timeline:
        if e.kind == _DECISION:
            if e.data.get("action") in DELIVERY_ACTIONS:
                continue  # a delivery cancelled, retried or resent: in the deliveries' counts
            out.append(DecisionLine(e.at, e.actor, "decision", e.summary))
        elif e.kind == _CLOCK_STARTED:
            # worded here rather than taken from the summary, whose time is not in the
            # client's zone; the renderer adds the effective time
            trigger = _enum_or(ClockTrigger, e.data.get("trigger"), None)
            note = str(e.data.get("note") or "").strip()
            text = (f"{trigger.label} established" if trigger else e.summary) + \
                (f" — {note}" if note and trigger else "")
            out.append(DecisionLine(e.at, e.actor, "clock_started", text,
                                    effective_at=_iso(e.data.get("effective_at"))))
    return out


def _regime_label(regime: str | None) -> str:
    if not regime:
        return "Contract"
    member = _enum_or(Regime, regime, None)
    return member.label if member else regime.upper()


def regulatory_lines(states: Sequence[ClockState]) -> list[RegulatoryLine]:
    out = []
    for c in states:
        if c.status == ClockStatus.NOT_APPLICABLE:
            continue
        outcome = {ClockStatus.SATISFIED: "met",
                   ClockStatus.SATISFIED_LATE: "late"}.get(c.status, "open")
        out.append(RegulatoryLine(
            rule_id=c.rule.id, title=c.rule.title, regime=_regime_label(c.rule.regime),
            recipient=c.rule.recipient, started_at=c.started_at, due_at=c.due_at,
            satisfied_at=c.satisfied.at if c.satisfied else None, outcome=outcome,
            overdue=c.status == ClockStatus.OVERDUE, explanation=c.explanation))
    return out


def compute_record(inputs: RecordInputs) -> CommunicationRecord:
    detected = inputs.detected_at
    timeline = inputs.timeline
    spans = phase_spans(detected, timeline)
    resolved = inputs.phase in (Phase.RESOLVED, Phase.CLOSED)
    end = inputs.now
    if resolved:
        ends = [s.start for s in spans if s.phase == Phase.RESOLVED] or \
               [s.start for s in spans if s.phase == Phase.CLOSED]
        end = ends[-1] if ends else inputs.now
    end = max(end, detected)

    messages = _message_lines(inputs)
    communicated: set[int] = set()
    first_sent: dict[int, datetime] = {}
    reached: dict[int, list[datetime]] = defaultdict(list)
    for d in inputs.deliveries:
        if d.state in NOT_COMMUNICATED:
            continue
        communicated.add(d.message_id)
        if d.stakeholder_id is not None:
            reached[d.stakeholder_id].append(d.created_at)
        if d.sent_at is not None and (d.message_id not in first_sent
                                      or d.sent_at < first_sent[d.message_id]):
            first_sent[d.message_id] = d.sent_at
    moments = sorted({m.at for m in messages if m.id in communicated})
    notices = sorted({m.at for m in messages if m.id in communicated
                      and m.template_type == "resolution_notice"})

    # the cadence's own first-communication figures (a closed phase: no due items, stats
    # only); one communication per message is all they need
    stats = evaluate_cadence(inputs.policies[inputs.severity], CadenceInputs(
        severity=inputs.severity, phase=Phase.CLOSED, detected_at=detected, phase_since=detected,
        resolved_at=None, last_fact_change_at=None, stakeholders=(),
        communications=[Communication(None, m.created_at, first_sent.get(m.id), m.template_type,
                                      m.id) for m in inputs.messages if m.id in communicated]),
        inputs.now).stats
    first = FirstCommunication(stats.first_queued_at, stats.first_sent_at, stats.to_first_queued,
                               stats.to_first_sent, stats.first_within_target)

    steps = _severity_steps(timeline, inputs.severity, detected)
    gaps = cadence_gaps(spans, moments, notices, steps, inputs.policies, end, resolved)
    silences = silence_breaches(inputs.stakeholders, reached, end, resolved)

    labels = {m.id: m.type_label for m in messages}
    not_sent = (DeliveryState.FAILED.value, DeliveryState.UNKNOWN.value,  # once, not per row
                DeliveryState.BOUNCED.value)
    failures = [FailureLine(d.message_id, d.id, d.created_at, labels.get(d.message_id, ""),
                            d.recipient_name, d.channel, d.address, d.state, d.attempts,
                            d.last_error)
                for d in inputs.deliveries if d.state in not_sent]
    failures.sort(key=lambda f: (f.at, f.message_id, f.recipient_name, f.delivery_id))

    notice_at = notice_due = None
    if resolved:
        notice_due = end + timedelta(minutes=inputs.policies[inputs.severity].resolution_minutes)
        notice_at = next((n for n in notices if n >= end), None)

    return CommunicationRecord(
        incident_id=inputs.incident_id, detected_at=detected, end=end, resolved=resolved,
        phases=tuple(spans), first=first, messages=tuple(messages), gaps=tuple(gaps),
        silences=tuple(silences), escalations=tuple(_escalations(timeline)),
        decisions=tuple(_decisions(timeline)), regulatory=tuple(regulatory_lines(
            inputs.regulatory)), failures=tuple(failures),
        resolution_notice_at=notice_at, resolution_notice_due=notice_due,
        stakeholder_silences=tuple(silence_summary(silences)))


__all__ = [
    "RecordInputs", "MessageInfo", "DeliveryInfo", "CommunicationRecord", "FirstCommunication",
    "MessageLine", "RecipientLine", "Gap", "SilenceBreach", "StakeholderSilence",
    "EscalationLine", "DecisionLine", "RegulatoryLine", "FailureLine", "PhaseSpan",
    "compute_record", "phase_spans", "describe_audience", "silence_summary",
]
