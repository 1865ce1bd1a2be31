"""What the clocks panel lists, as plain rows: due and overdue updates, pending escalation
proposals and regulatory deadlines, most urgent first, each with the words a coordinator reads
at a glance and what one click should do (open the composer with a template and recipients)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from app.domain.enums import Regime
from app.timefmt import format_duration

if TYPE_CHECKING:  # the panel imports this module at start-up; the clocks load on first use
    from app.clocks.evaluation import IncidentClocks
    from app.clocks.regulatory import ClockState

# urgency: lower sorts first
OVERDUE, PROPOSAL, DUE_SOON, DUE, WAITING, ELAPSED, DONE, NOT_APPLICABLE = range(8)
SOON = timedelta(minutes=10)


@dataclass(frozen=True)
class ClockRow:
    kind: str                  # "cadence" | "escalation" | "regulatory" | "bounce"
    key: str                   # cadence item key, condition key or rule id
    urgency: int
    status: str                # "Overdue 12 min", "Due in 8 min", "Proposed", "Satisfied", …
    title: str
    audience: str              # "4 people: Dana, Lee, …" / "Supervisory authority"
    due_at: datetime | None
    source: str                # "Cadence", "Escalation rule", "HIPAA", …
    detail: str                # the full sentence why
    template_type: str = ""
    stakeholder_ids: tuple[int, ...] = ()
    source_url: str = ""
    times: tuple[datetime, ...] = ()   # the detail's times, shown in the reader's zone
    # a chase of silence: (stakeholder, address) that did not answer — reach them another way
    avoid: tuple[tuple[int, str], ...] = ()

    @property
    def actionable(self) -> bool:
        return self.urgency in (OVERDUE, PROPOSAL, DUE_SOON, DUE)


def _names(ids: tuple[int, ...], names: dict[int, str] | object, limit: int = 3) -> str:
    if not ids:
        return "nobody reached yet"
    shown = [names.get(i, f"#{i}") for i in ids[:limit]]  # type: ignore[union-attr]
    more = f", … +{len(ids) - limit}" if len(ids) > limit else ""
    people = "1 person" if len(ids) == 1 else f"{len(ids)} people"
    return f"{people}: {', '.join(shown)}{more}"


def _relative(due_at: datetime, now: datetime) -> tuple[int, str]:
    if due_at <= now:
        return OVERDUE, f"Overdue {format_duration(now - due_at)}"
    left = due_at - now
    return (DUE_SOON if left <= SOON else DUE), f"Due in {format_duration(left)}"


def _regulatory_row(clock: ClockState, now: datetime) -> ClockRow:
    rule = clock.rule
    status = clock.status.value  # ClockStatus values, compared as text
    if status == "overdue":
        urgency, text = OVERDUE, f"Overdue {format_duration(-(clock.remaining or timedelta()))}"
    elif status in ("running", "due_soon"):
        urgency = DUE_SOON if status == "due_soon" else DUE
        text = f"Due in {format_duration(clock.remaining or timedelta())}"
    elif status == "waiting_trigger":
        urgency, text = WAITING, "Not started"
    elif status == "elapsed":
        urgency = ELAPSED
        text = f"{format_duration(clock.elapsed or timedelta())} elapsed"
    elif status == "satisfied":
        urgency, text = DONE, "Met"
    elif status == "satisfied_late":
        urgency, text = DONE, "Met late"
    else:
        urgency, text = NOT_APPLICABLE, "Not applicable"
    source = Regime(rule.regime).label if rule.regime else "Contract"  # rules load validated
    return ClockRow(kind="regulatory", key=rule.id, urgency=urgency, status=text,
                    title=rule.title, audience=rule.recipient, due_at=clock.due_at,
                    source=source, detail=clock.explanation, times=clock.times,
                    template_type="regulatory_notification" if rule.regime else "status_update",
                    source_url=rule.source_url)


def clock_rows(snapshot: IncidentClocks, now: datetime) -> list[ClockRow]:
    rows: list[ClockRow] = []
    names = snapshot.stakeholder_names
    for b in snapshot.bounces:   # a regulator's or customer's notification did not arrive
        rows.append(ClockRow(
            kind="bounce", key=b.key, urgency=OVERDUE, status="Bounced — send again",
            title=b.title, audience=_names((b.stakeholder_id,), names), due_at=b.bounced_at,
            source="Mailbox", detail=(f"The server returned it: {b.reason}" if b.reason else
                                      "The server returned it.") + " Fix the address and "
            "send it again, or mark the bounce handled in Replies.",
            template_type=b.template_type, stakeholder_ids=(b.stakeholder_id,)))
    silences: dict[datetime, list] = {}
    for item in snapshot.cadence.items:
        if item.key.startswith("silence:"):
            silences.setdefault(item.due_at, []).append(item)
            continue
        urgency, text = _relative(item.due_at, now)
        rows.append(ClockRow(
            kind="cadence", key=item.key, urgency=urgency, status=text, title=item.title,
            audience=_names(item.stakeholder_ids, names), due_at=item.due_at,
            source="Max silence" if item.key.startswith("silence:") else "Cadence",
            detail=item.detail, template_type=item.template_type,
            stakeholder_ids=item.stakeholder_ids, times=item.times))
    # people whose silence ends at the same moment (reached by the same message) are one row
    for due_at, group in silences.items():
        urgency, text = _relative(due_at, now)
        ids = tuple(sorted(i for item in group for i in item.stakeholder_ids))
        title = group[0].title if len(group) == 1 else f"Max silence — {len(group)} people"
        rows.append(ClockRow(
            kind="cadence", key="silence@" + due_at.isoformat(), urgency=urgency, status=text,
            title=title, audience=_names(ids, names), due_at=due_at, source="Max silence",
            detail=group[0].detail if len(group) == 1 else
            "; ".join(item.detail for item in group[:3]) + ("; …" if len(group) > 3 else ""),
            template_type="status_update", stakeholder_ids=ids,
            times=tuple(t for item in group[:3] for t in item.times)))
    for proposal in snapshot.proposals:
        rows.append(ClockRow(
            kind="escalation", key=proposal.condition_key, urgency=PROPOSAL,
            status="Escalation proposed", title=proposal.rule_name,
            audience=", ".join(c.label for c in proposal.categories) + " — "
            + _names(proposal.stakeholder_ids, names, 2),
            due_at=None, source="Escalation rule", detail=proposal.reason,
            template_type=proposal.template_type, stakeholder_ids=proposal.stakeholder_ids,
            times=proposal.times, avoid=proposal.tried))
    rows += [_regulatory_row(clock, now) for clock in snapshot.regulatory]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    # a bounced notice first: what was thought done is not, and it is the oldest debt
    rows.sort(key=lambda r: (r.urgency, r.kind != "bounce", r.due_at or far, r.title))
    return rows


@dataclass(frozen=True)
class HeaderFigures:
    first: str        # "First message 6 min after detection ✓" / "Nothing sent yet — 12 min …"
    first_ok: bool | None
    last: str         # "Last message 14 min ago · waiting longest: Dana Brooks, 52 min"


def header_figures(snapshot: IncidentClocks, now: datetime, detected_at: datetime) -> HeaderFigures:
    s = snapshot.cadence.stats
    if s.to_first_sent is not None:
        mark = "within" if s.first_within_target else "after"
        first = (f"First message sent {format_duration(s.to_first_sent)} after detection "
                 f"({mark} the 15-min line)")
    elif s.to_first_queued is not None:
        first = (f"First message queued {format_duration(s.to_first_queued)} after detection; "
                 "none sent yet")
    else:
        first = (f"Nothing communicated yet — {format_duration(now - detected_at)} since "
                 "detection")
    if s.since_last is not None:
        last = f"Last message {format_duration(s.since_last)} ago"
        if s.longest_waiting:
            _sid, name, waited = s.longest_waiting
            last += f" · waiting longest: {name}, {format_duration(waited)}"
    else:
        last = ""
    return HeaderFigures(first=first, first_ok=s.first_within_target, last=last)
