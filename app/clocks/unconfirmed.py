"""Chasing silence (issue 25): a message that asked its readers to reply YES, and some of them
have not after the wait their category's acknowledgement policy sets for the incident's severity
(by default 30 min for SEV1–2, 2 h for SEV3–4; app/acks/policy.py). Then an escalation is
proposed — reach those people by their next contact point — once per message and category: an
`escalation_proposed` entry whose condition key is `unconfirmed:<message>:<category>`, naming
the people and the addresses already tried. The coordinator answers it like any escalation
(compose, or dismiss with a reason).

Who counts as silent: asked, sent (a sent_at), not confirmed, and not known to have missed the
message (failed, cancelled or bounced deliveries are the outbox's and the mailbox's business).
A closed incident is never chased. Read through the partial index of the asked and not yet
confirmed (migration 0017). ClockService.fire_unconfirmed keeps, per incident, its change
counter and when its next chase falls due, and reads again only where one of them says so."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app import events as ev
from app.acks.policy import AckPolicies, CategoryPolicy
from app.domain.enums import Category, DeliveryState, Phase, TimelineKind
from app.domain.models import Delivery, Incident, Message, Stakeholder, TimelineEntry
from app.incidents.entries import append_entry
from app.messages.library import TYPE_LABELS

PREFIX = "unconfirmed"
RULE_KEY = "unconfirmed"
ACTOR = "Clarion (confirmations)"
NOT_REACHED = (DeliveryState.FAILED, DeliveryState.CANCELLED, DeliveryState.BOUNCED)


@dataclass(frozen=True)
class ChaseProposal:
    incident_id: int
    condition_key: str
    message_id: int
    category: Category
    template_type: str
    stakeholder_ids: tuple[int, ...]
    names: tuple[str, ...]
    tried: tuple[tuple[int, str], ...]      # (stakeholder, the address that did not answer)
    wait_minutes: int
    condition_at: datetime                  # when the first of them had waited long enough

    @property
    def rule_name(self) -> str:
        return f"Not confirmed: {TYPE_LABELS.get(self.template_type, self.template_type)}"

    @property
    def reason(self) -> str:
        n = len(self.names)
        who = ", ".join(self.names[:5]) + (f" and {n - 5} more" if n > 5 else "")
        label = self.category.label.lower()
        return (f"{n} of the {label} asked to confirm message {self.message_id} "
                f"{'has' if n == 1 else 'have'} not after {_span(self.wait_minutes)}: {who} — "
                "reach them by their next contact point")


def condition_key(message_id: int, category: str) -> str:
    return f"{PREFIX}:{message_id}:{category}"


def scan(session: Any, policies: dict[str, CategoryPolicy], now: datetime,
         incident_ids: Sequence[int] | None = None,
         ) -> tuple[list[ChaseProposal], dict[int, datetime]]:
    """The chases due at `now` that the timeline does not have yet, and per incident when its
    next one falls due (none: nothing is waiting). One read of the asked and not confirmed."""
    query = (select(Delivery.stakeholder_id, Delivery.address, Delivery.sent_at,
                    Delivery.message_id, Message.incident_id, Message.template_type,
                    Incident.severity, Stakeholder.category, Stakeholder.name)
             .join(Message, Message.id == Delivery.message_id)
             .join(Incident, Incident.id == Message.incident_id)
             .join(Stakeholder, Stakeholder.id == Delivery.stakeholder_id)
             .where(Delivery.ack_requested.is_(True), Delivery.acknowledged_at.is_(None),
                    Delivery.sent_at.is_not(None), Delivery.state.not_in(NOT_REACHED),
                    Incident.phase != Phase.CLOSED.value)
             .order_by(Delivery.message_id, Stakeholder.name, Delivery.id))
    if incident_ids is None:
        rows = list(session.execute(query))
    else:
        ids = list(incident_ids)
        rows = [row for start in range(0, len(ids), 900) for row in session.execute(
            query.where(Message.incident_id.in_(ids[start:start + 900])))]
    if not rows:
        return [], {}
    fired = _fired(session, {row.incident_id for row in rows})
    groups: dict[tuple[int, int, str], list[Any]] = defaultdict(list)
    upcoming: dict[int, datetime] = {}
    for row in rows:
        category = str(row.category)
        policy = policies.get(category)
        if policy is None or condition_key(row.message_id, category) in \
                fired.get(row.incident_id, ()):
            continue
        severity = row.severity.value if hasattr(row.severity, "value") else str(row.severity)
        wait = policy.wait_minutes(severity)
        due = row.sent_at + timedelta(minutes=wait)
        if due <= now:
            groups[(row.incident_id, row.message_id, category)].append((row, wait, due))
        elif due < upcoming.get(row.incident_id, due + timedelta(seconds=1)):
            upcoming[row.incident_id] = due
    out = []
    for (incident_id, message_id, category), members in groups.items():
        people: dict[int, Any] = {}
        for row, _wait, _due in members:
            people.setdefault(row.stakeholder_id, row)
        out.append(ChaseProposal(
            incident_id=incident_id, condition_key=condition_key(message_id, category),
            message_id=message_id, category=Category(category),
            template_type=members[0][0].template_type,
            stakeholder_ids=tuple(people), names=tuple(r.name for r in people.values()),
            tried=tuple((row.stakeholder_id, row.address) for row, _w, _d in members),
            wait_minutes=members[0][1], condition_at=min(d for _r, _w, d in members)))
    return out, upcoming


def _fired(session: Any, incident_ids: set[int]) -> dict[int, set[str]]:
    """The chase keys each incident's timeline has proposed already."""
    out: dict[int, set[str]] = defaultdict(set)
    ids = sorted(incident_ids)
    for start in range(0, len(ids), 900):
        for incident_id, data in session.execute(
                select(TimelineEntry.incident_id, TimelineEntry.data).where(
                    TimelineEntry.incident_id.in_(ids[start:start + 900]),
                    TimelineEntry.kind == TimelineKind.ESCALATION_PROPOSED.value)):
            key = str((data or {}).get("condition_key"))
            if key.startswith(PREFIX + ":"):
                out[incident_id].add(key)
    return out


def fire_unconfirmed(store: Any, clock: Any, events: ev.EventBus | None = None,
                     incident_ids: Sequence[int] | None = None,
                     now: datetime | None = None) -> list[ChaseProposal]:
    """Record a proposal for every chase that is due and was never proposed."""
    now = now or clock.now()
    with store.reading() as session:
        due, _upcoming = scan(session, AckPolicies(store).load(), now, incident_ids)
    return record(store, events, due, now)


def record(store: Any, events: ev.EventBus | None, due: Sequence[ChaseProposal],
           now: datetime) -> list[ChaseProposal]:
    """Write the proposals (nothing twice: the proposed keys are read again inside the
    writing transaction) and tell the timeline's readers."""
    if not due:
        return []
    recorded: list[ChaseProposal] = []
    entries = []
    with store.session() as session, session.begin():
        fired = _fired(session, {c.incident_id for c in due})
        for chase in due:
            keys = fired[chase.incident_id]
            if chase.condition_key in keys:
                continue
            keys.add(chase.condition_key)
            entries.append(append_entry(
                session, chase.incident_id, now, TimelineKind.ESCALATION_PROPOSED,
                f"Escalation proposed: {chase.rule_name} — {chase.reason}",
                {"condition_key": chase.condition_key, "rule_key": RULE_KEY,
                 "rule_name": chase.rule_name, "reason": chase.reason,
                 "condition_at": chase.condition_at.isoformat(),
                 "categories": [chase.category.value], "template_type": chase.template_type,
                 "message_id": chase.message_id,
                 "stakeholder_ids": list(chase.stakeholder_ids),
                 "tried": [[sid, address] for sid, address in chase.tried],
                 "wait_minutes": chase.wait_minutes, "times": []}, ACTOR))
            recorded.append(chase)
    if events is not None:
        for entry in entries:
            events.publish(ev.TIMELINE_APPENDED, entry)
    return recorded


def _span(minutes: int) -> str:
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} min"
