"""The incident's clocks, read from the store: update cadence, max silence, escalation rules and
regulatory deadlines. The rules themselves are pure functions (app/clocks/cadence.py,
app/clocks/escalation.py, app/clocks/regulatory.py); this module gathers their inputs — in a handful of
queries for any number of incidents — and records what the coordinator decides.

Everything a clock depends on lives in the append-only timeline, so the timeline stays the one
record of the incident: a regulatory trigger is a `clock_started` entry (its effective time may
be backdated), a satisfied deadline a `clock_satisfied` entry linking the message, an escalation
rule firing an `escalation_proposed` entry (its condition key makes it fire once), the
coordinator's answer an `escalation_decided` entry, and an overdue notification a `reminder`."""

from __future__ import annotations

import threading
from json import loads
from types import MappingProxyType
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import String, bindparam, exists, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from app import events as ev
from app.clocks.cadence import (
    CadenceInputs, CadencePolicy, CadenceResult, CommunicationIndex, Roster, StakeholderInfo,
    evaluate_cadence, result_at,
)
from app.clocks.changes import Counter, change_counters
from app.clock import Clock, ensure_utc
from app.clocks.actions import NOT_COMMUNICATED, ClockActions, ClockError  # noqa: F401 (API)
from app.clocks.wording import times_of
from app.clocks.rules import ClockRules
from app.domain.enums import (
    Category, ImpactFlag, Phase, Severity, TimelineKind, TimingNeed,
)
from app.domain.models import (
    Client, Delivery, InboundMail, Incident, Message, Stakeholder, TimelineEntry, stored_utc,
)
from app.errors import NotFound, ValidationError
from app.clocks.escalation import (
    EscalationInputs, EscalationRule, FlagChange, Proposal, SeverityChange, evaluate_rules,
)
from app.clocks.regulatory import (
    ClockInputs, ClockState, ClockStatus, HolidayCalendar, Satisfaction, evaluate_clocks,
    state_at,
)
from app.runtime import collection_paused
from app.storage.engine import Store

CLOCK_KINDS = (TimelineKind.PHASE_CHANGED, TimelineKind.SEVERITY_CHANGED,
               TimelineKind.FACTS_CHANGED, TimelineKind.FLAG_CHANGED,
               TimelineKind.CLOCK_STARTED, TimelineKind.CLOCK_SATISFIED,
               TimelineKind.ESCALATION_PROPOSED, TimelineKind.ESCALATION_DECIDED,
               TimelineKind.REMINDER, TimelineKind.CLOCK_REOPENED)
_CLOCK_REOPENED = TimelineKind.CLOCK_REOPENED.value
# the kinds' values, read once (an enum's .value is a Python-level property: 5,000 entries)
(_PHASE_CHANGED, _FACTS_CHANGED, _CLOCK_STARTED, _CLOCK_SATISFIED, _ESCALATION_PROPOSED,
 _ESCALATION_DECIDED, _REMINDER) = (
    k.value for k in (TimelineKind.PHASE_CHANGED, TimelineKind.FACTS_CHANGED,
                      TimelineKind.CLOCK_STARTED, TimelineKind.CLOCK_SATISFIED,
                      TimelineKind.ESCALATION_PROPOSED, TimelineKind.ESCALATION_DECIDED,
                      TimelineKind.REMINDER))
_SEVERITY_CHANGED = TimelineKind.SEVERITY_CHANGED.value
_FLAG_CHANGED = TimelineKind.FLAG_CHANGED.value
_RESOLVED = Phase.RESOLVED.value
# facts whose change makes an update worth sending (the next update time is our own promise)
SIGNIFICANT_FACTS = {"status", "impact", "affected_services", "eta_at", "eta_qualifier",
                     "workaround"}


@dataclass(frozen=True)
class PendingProposal:
    """An escalation rule fired and the coordinator has not answered yet."""
    condition_key: str
    rule_key: str
    rule_name: str
    reason: str
    proposed_at: datetime
    categories: tuple[Category, ...]
    template_type: str
    stakeholder_ids: tuple[int, ...]   # the active stakeholders of those categories
    times: tuple[datetime, ...] = ()   # the reason's times (app.clocks.wording.in_zone)
    # a chase of silence (app/clocks/unconfirmed.py): the addresses that did not answer, so
    # the composer reaches those people by their next contact point
    tried: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class BouncedNotice:
    """A regulator's or customer's notification that bounced (read from the mailbox, issue
    24): due again at once, until that person gets another one that counts at another address
    or the bounce is marked handled."""
    inbound_id: int
    delivery_id: int
    stakeholder_id: int
    name: str
    address: str
    category: Category
    reason: str
    bounced_at: datetime
    template_type: str

    @property
    def key(self) -> str:
        return f"bounce:{self.inbound_id}"

    @property
    def title(self) -> str:
        who = "Regulator" if self.category == Category.REGULATORS else "Customer"
        return f"{who} notification bounced: {self.name} <{self.address}>"


@dataclass(frozen=True)
class IncidentClocks:
    """Everything the clocks panel shows for one incident at one moment (plain values only)."""
    incident_id: int
    title: str
    evaluated_at: datetime
    cadence: CadenceResult
    regulatory: tuple[ClockState, ...]
    proposals: tuple[PendingProposal, ...]
    triggers: Mapping[str, datetime]
    stakeholder_names: Mapping[int, str]
    reminded: frozenset[str] = field(default_factory=frozenset)
    bounces: tuple[BouncedNotice, ...] = ()

    def overdue(self) -> list[tuple[str, datetime, str]]:
        """(reminder key, due time, title) of everything overdue now."""
        out = [(reminder_key(b.key, b.bounced_at), b.bounced_at, b.title)
               for b in self.bounces]
        out += [(reminder_key(item.key, item.due_at), item.due_at, item.title)
                for item in self.cadence.items if item.overdue]
        out += [(reminder_key(f"clock:{c.rule.id}", c.due_at), c.due_at, c.rule.title)
                for c in self.regulatory if c.status.value == "overdue" and c.due_at]
        return out


# a due time as written in reminder keys; items of one incident share few distinct times
_stamp = lru_cache(maxsize=8192)(datetime.isoformat)


def reminder_key(key: str, due_at: datetime) -> str:
    return f"{key}@{_stamp(due_at)}"


_STARTED = frozenset({ClockStatus.RUNNING, ClockStatus.DUE_SOON, ClockStatus.OVERDUE})
FAR = datetime.max.replace(tzinfo=timezone.utc)


@dataclass(slots=True)
class _Kept:
    """One incident's evaluation, kept until its change counter moves. Valid at any moment:
    what depends on `now` is restated from the kept due times when it is read (_at)."""
    counter: Counter
    clocks: IncidentClocks
    detected_at: datetime
    # _due_times(clocks), worked out when first asked (overdue_unreminded, the notifier):
    # evaluate() and evaluate_many() never read it. Threads that ask at once set equal values.
    _due: tuple[tuple[datetime, bool, int, str, str], ...] | None = None

    @property
    def due(self) -> tuple[tuple[datetime, bool, int, str, str], ...]:
        """What overdue() may ever return that was not reminded yet, by due time:
        (due, strict, position in overdue()'s order, reminder key, title); strict: a
        regulatory clock is overdue only after its due time, a cadence item from it on."""
        due = self._due
        if due is None:
            due = self._due = _due_times(self.clocks)
        return due

    def at(self, now: datetime) -> IncidentClocks:
        clocks = self.clocks
        if now == clocks.evaluated_at:
            return clocks
        regulatory = clocks.regulatory
        if any(c.status in _STARTED or c.status == ClockStatus.ELAPSED for c in regulatory):
            regulatory = tuple(state_at(c, now) for c in regulatory)
        return replace(clocks, evaluated_at=now, regulatory=regulatory,
                       cadence=result_at(clocks.cadence, self.detected_at, now))

    def overdue_at(self, now: datetime) -> list[tuple[str, datetime, str]]:
        """= [i for i in self.at(now).overdue() if i[0] not in reminded], from due times."""
        found = []
        for due, strict, position, key, title in self.due:
            if due > now:
                break
            if not strict or due < now:
                found.append((position, key, due, title))
        found.sort()
        return [(key, due, title) for _p, key, due, title in found]


def _due_times(clocks: IncidentClocks) -> tuple[tuple[datetime, bool, int, str, str], ...]:
    candidates = [(b.bounced_at, False, reminder_key(b.key, b.bounced_at), b.title)
                  for b in clocks.bounces]
    candidates += [(item.due_at, False, reminder_key(item.key, item.due_at), item.title)
                   for item in clocks.cadence.items]
    candidates += [(c.due_at, True, reminder_key(f"clock:{c.rule.id}", c.due_at), c.rule.title)
                   for c in clocks.regulatory if c.status in _STARTED and c.due_at]
    reminded = clocks.reminded
    return tuple(sorted((when, strict, position, key, title)
                        for position, (when, strict, key, title) in enumerate(candidates)
                        if key not in reminded))


@dataclass(frozen=True, slots=True)
class _KeptRules:
    """One incident's escalation inputs, kept until its counter moves or the rules change."""
    counter: Counter
    rules: tuple[EscalationRule, ...]
    inputs: EscalationInputs
    earliest: datetime | None   # the first moment a rule not fired yet could propose


@dataclass
class _Gathered:
    incident: Any
    client: Any
    stakeholders: Sequence[StakeholderInfo] = ()   # a Roster, shared by the client's
    by_category: dict[Category, list[int]] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)
    communications: CommunicationIndex = field(
        default_factory=lambda: CommunicationIndex(last_by_stakeholder={}))
    entries: list[tuple[int, datetime, str, dict[str, Any]]] = field(default_factory=list)
    bounces: list[BouncedNotice] = field(default_factory=list)


_text = lambda column: type_coerce(column, String)  # noqa: E731  (the stored text)
# _gather's statements, built once ("ids": the incidents, or the clients for _PEOPLE)
_INCIDENTS = select(
    Incident.id, Incident.client_id, Incident.title, Incident.severity, Incident.phase,
    Incident.detected_at, Incident.impact_business, Incident.impact_external,
    Incident.impact_regulatory, Incident.affected_individuals, Incident.max_state_residents,
).where(Incident.id.in_(bindparam("ids", expanding=True)))
_CLIENTS = select(
    Client.id, Client.regimes, Client.notification_sla_minutes, Client.time_zone,
).where(Client.id.in_(bindparam("ids", expanding=True)))
_PEOPLE = select(
    Stakeholder.id, Stakeholder.client_id, Stakeholder.name, Stakeholder.category,
    Stakeholder.timing_need, Stakeholder.max_silence_minutes,
).where(Stakeholder.client_id.in_(bindparam("ids", expanding=True)),
        Stakeholder.active.is_(True)).order_by(Stakeholder.name)
_ENTRIES = select(
    TimelineEntry.incident_id, TimelineEntry.id, _text(TimelineEntry.at), TimelineEntry.kind,
    _text(TimelineEntry.data),
).where(TimelineEntry.incident_id.in_(bindparam("ids", expanding=True)),
        TimelineEntry.kind.in_([k.value for k in CLOCK_KINDS])).order_by(TimelineEntry.id)
# the escalation rules read only these (not the reminders, the largest entries)
_ESCALATION_ENTRIES = _ENTRIES.where(TimelineEntry.kind.in_([
    TimelineKind.SEVERITY_CHANGED.value, TimelineKind.FLAG_CHANGED.value,
    TimelineKind.ESCALATION_PROPOSED.value]))


# per message of the incidents: its first and last queued time, first sent time and the
# stakeholders reached, of its deliveries that count (not cancelled or failed)
_MESSAGES = select(
    Message.incident_id, Message.id, Message.template_type,
    _text(func.min(Delivery.created_at)), _text(func.max(Delivery.created_at)),
    _text(func.min(Delivery.sent_at)), func.group_concat(Delivery.stakeholder_id),
).join(Delivery, Delivery.message_id == Message.id).where(
    Message.incident_id.in_(bindparam("ids", expanding=True)),
    Delivery.state.not_in(NOT_COMMUNICATED),
).group_by(Message.incident_id, Message.id)
# the latest queued time per stakeholder of messages whose deliveries were queued at
# different times ("ids": the messages)
_MIXED = select(
    Message.incident_id, Delivery.stakeholder_id, _text(func.max(Delivery.created_at)),
).join(Delivery, Delivery.message_id == Message.id).where(
    Message.id.in_(bindparam("ids", expanding=True)),
    Delivery.state.not_in(NOT_COMMUNICATED), Delivery.stakeholder_id.is_not(None),
).group_by(Message.id, Delivery.stakeholder_id)


# the regulators' and customers' notifications that bounced and are not dealt with: not marked
# handled, and nothing that counts went to that person since at another address (the same
# address bounces again)
_LATER, _LATER_MESSAGE = aliased(Delivery), aliased(Message)
_BOUNCES = select(
    InboundMail.incident_id, InboundMail.id, Delivery.id, Delivery.stakeholder_id,
    Delivery.recipient_name, Delivery.address, Stakeholder.category, InboundMail.reason,
    _text(InboundMail.received_at), Message.template_type,
).join(Delivery, Delivery.id == InboundMail.delivery_id).join(
    Message, Message.id == Delivery.message_id).join(
    Stakeholder, Stakeholder.id == Delivery.stakeholder_id).where(
    InboundMail.incident_id.in_(bindparam("ids", expanding=True)),
    InboundMail.kind == "bounce", InboundMail.handled_at.is_(None),
    Stakeholder.category.in_([Category.REGULATORS.value, Category.CUSTOMERS.value]),
    ~exists().where(_LATER.stakeholder_id == Delivery.stakeholder_id, _LATER.id > Delivery.id,
                    _LATER.state.not_in(NOT_COMMUNICATED), _LATER.address != Delivery.address,
                    _LATER_MESSAGE.id == _LATER.message_id,
                    _LATER_MESSAGE.incident_id == InboundMail.incident_id),
).order_by(InboundMail.id)


def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


class ClockService(ClockActions):
    """Evaluates every clock of any number of incidents, runs the escalation rules, and (from
    ClockActions) records triggers, deadlines met and reminders."""

    def __init__(self, store: Store, clock: Clock, events: ev.EventBus | None = None,
                 actor: str | None = None) -> None:
        super().__init__(store, clock, events, actor)
        self.rules = ClockRules(store, self.events)
        self._calendar = HolidayCalendar.load()
        # Evaluations kept per incident until its change counter (app/clocks/changes.py)
        # moves; plain frozen values only (but each one's due times, set once when first
        # asked), shared by the worker threads under the lock.
        self._lock = threading.Lock()
        self._kept: dict[int, _Kept] = {}
        self._kept_rules: dict[int, _KeptRules] = {}
        # per incident: (its counter, when its next chase of silence falls due, or None)
        self._kept_chases: dict[int, tuple[Counter, datetime | None]] = {}

    # ---------------------------------------------------------------- evaluation

    def open_incident_ids(self) -> list[int]:
        with self.store.session() as session:
            return list(session.scalars(
                select(Incident.id).where(Incident.phase != Phase.CLOSED.value,
                                          Incident.archived.is_(False))
                .order_by(Incident.id)))

    def titles(self, incident_ids: Iterable[int]) -> dict[int, str]:
        ids = list(incident_ids)
        with self.store.reading() as session:
            return {iid: title for chunk in _chunks(ids, 900) for iid, title in session.execute(
                select(Incident.id, Incident.title).where(Incident.id.in_(chunk)))}

    def evaluate(self, incident_id: int, now: datetime | None = None) -> IncidentClocks:
        result = self.evaluate_many([incident_id], now)
        if incident_id not in result:
            raise NotFound(f"Incident {incident_id} does not exist.")
        return result[incident_id]

    def evaluate_many(self, incident_ids: Sequence[int] | None = None,
                      now: datetime | None = None) -> dict[int, IncidentClocks]:
        """Evaluate every clock of the given incidents (all open ones by default). Only the
        incidents whose change counter moved since they were last evaluated are read and
        evaluated again; the others are restated at `now` from what was kept."""
        now = now or self.clock.now()
        return {iid: kept.at(now) for iid, kept in self._current(incident_ids, now).items()}

    def overdue_unreminded(self, incident_ids: Sequence[int] | None = None,
                           now: datetime | None = None
                           ) -> dict[int, tuple[str, list[tuple[str, datetime, str]]]]:
        """{incident id: (title, its overdue items not reminded yet)} of the given incidents
        (all open ones by default) that have some: a comparison of the kept due times with
        `now`, no evaluation unless a counter moved (the notifier asks every half minute)."""
        now = now or self.clock.now()
        out = {}
        current = self._current(incident_ids, now)
        with collection_paused():   # the first look works out every due time: 25,000 tuples
            for iid, kept in current.items():
                if kept.due and kept.due[0][0] <= now:
                    items = kept.overdue_at(now)
                    if items:
                        out[iid] = (kept.clocks.title, items)
        return out

    def _current(self, incident_ids: Sequence[int] | None, now: datetime) -> dict[int, _Kept]:
        """What is kept for the incidents, evaluated again (at `now`) where it is missing or
        the incident's counter moved. The counters are read in the same snapshot as the data
        evaluated from them, so a write that lands meanwhile moves the counter past it."""
        ids = list(incident_ids) if incident_ids is not None else None
        if ids is not None and not ids:
            return {}
        with self.store.reading() as session:
            counters = change_counters(session, ids)
            kept, stale = self._kept_and_stale(self._kept, counters)
            if not stale:
                return {iid: k for iid, k in kept.items() if k is not None}
            with collection_paused():
                gathered = self._gather(session, stale)
                policies = self.rules.policies_for(
                    session, {g.client.id for g in gathered.values()})
        with collection_paused():
            for iid, g in gathered.items():
                policy = policies[(g.client.id, Severity(g.incident.severity))]
                kept[iid] = _Kept(counters[iid], self._evaluate(g, policy, now),
                                  g.incident.detected_at)
        self._keep_newer(self._kept, stale, kept, counters, every_open=ids is None)
        return {iid: k for iid, k in kept.items() if k is not None}

    def _kept_and_stale(self, cache: dict[int, Any], counters: Mapping[int, Counter],
                        outdated: Any = lambda _kept: False
                        ) -> tuple[dict[int, Any], list[int]]:
        """What `cache` holds for the incidents of `counters`, and those to read again: none
        kept, its counter moved, or `outdated` by something else (the rules)."""
        with self._lock:
            kept = {iid: cache.get(iid) for iid in counters}
        stale = [iid for iid, counter in counters.items()
                 if (k := kept[iid]) is None or k.counter != counter or outdated(k)]
        return kept, stale

    def _keep_newer(self, cache: dict[int, Any], stale: Sequence[int],
                    found: Mapping[int, Any], counters: Mapping[int, Counter],
                    every_open: bool) -> None:
        """Keep what was just read for `stale` unless another thread kept something newer
        meanwhile (a thread that read earlier never replaces a later one); after a look at
        every open incident, forget those no longer open (a closed one is read again)."""
        with self._lock:
            for iid in stale:
                old, new = cache.get(iid), found[iid]
                if new is not None and (old is None or _not_newer(old.counter, new.counter)):
                    cache[iid] = new
            if every_open:
                for iid in [i for i in cache if i not in counters]:
                    del cache[iid]

    def _evaluate(self, g: _Gathered, policy: CadencePolicy, now: datetime) -> IncidentClocks:
        inc = g.incident
        phase = Phase(inc.phase)
        phase_value = phase.value
        severity = Severity(inc.severity)
        phase_since = inc.detected_at
        resolved_at: datetime | None = None
        last_fact: datetime | None = None
        triggers: dict[str, datetime] = {}
        satisfied: dict[str, Satisfaction] = {}
        proposed: dict[str, tuple[datetime, dict[str, Any]]] = {}
        decided: set[str] = set()
        reminded: set[str] = set()
        for _id, at, kind, data in g.entries:  # in id order: later entries win
            if kind == _PHASE_CHANGED:
                if data.get("new") == phase_value:
                    phase_since = at
                if data.get("new") == _RESOLVED:
                    resolved_at = at
            elif kind == _FACTS_CHANGED:
                if data.get("field") in SIGNIFICANT_FACTS:
                    last_fact = at
            elif kind == _CLOCK_STARTED:
                effective = _iso(data.get("effective_at"))
                if data.get("trigger") and effective:
                    triggers[str(data["trigger"])] = effective
            elif kind == _CLOCK_SATISFIED:
                rule_id = str(data.get("rule_id", ""))
                if data.get("cleared"):
                    satisfied.pop(rule_id, None)
                else:
                    when = _iso(data.get("satisfied_at")) or at
                    satisfied[rule_id] = Satisfaction(at=when, message_id=data.get("message_id"))
            elif kind == _CLOCK_REOPENED:   # the notification that met it bounced
                satisfied.pop(str(data.get("rule_id", "")), None)
            elif kind == _ESCALATION_PROPOSED:
                proposed[str(data.get("condition_key"))] = (at, data)
            elif kind == _ESCALATION_DECIDED:
                decided.add(str(data.get("condition_key")))
            elif kind == _REMINDER:
                reminded.update(str(i.get("key")) for i in data.get("items", ()))

        cadence = evaluate_cadence(policy, CadenceInputs(
            severity=severity, phase=phase, detected_at=inc.detected_at, phase_since=phase_since,
            resolved_at=resolved_at, last_fact_change_at=last_fact, stakeholders=g.stakeholders,
            index=g.communications), now)
        regulatory = evaluate_clocks(self._regulatory_rules, ClockInputs(
            regimes=frozenset(g.client.regimes or ()), regulatory_flag=bool(inc.impact_regulatory),
            detected_at=inc.detected_at, triggers=triggers, satisfied=satisfied,
            affected_individuals=inc.affected_individuals,
            max_state_residents=inc.max_state_residents,
            sla_minutes=g.client.notification_sla_minutes,
            time_zone=g.client.time_zone or "UTC"), now, self._calendar)
        pending = tuple(
            self._pending(key, at, data, g) for key, (at, data) in proposed.items()
            if key not in decided)
        # rules that would fire now but have not been recorded yet are not shown until
        # fire_escalations() records them: a proposal exists only once it is in the timeline
        return IncidentClocks(
            incident_id=inc.id, title=inc.title, evaluated_at=now, cadence=cadence,
            regulatory=tuple(regulatory), proposals=pending, triggers=dict(triggers),
            stakeholder_names=g.names, reminded=frozenset(reminded),
            bounces=tuple(g.bounces))

    def proposed_met_message(self, incident_id: int, rule_id: str) -> int | None:
        """The message that most likely met a regulatory clock: the earliest one queued at or
        after its trigger that reached (a delivery not cancelled or failed) a stakeholder of
        the rule's audience (regulators, affected users…). None when there is none."""
        state = next((c for c in self.evaluate(incident_id).regulatory
                      if c.rule.id == rule_id), None)
        if state is None or state.started_at is None:
            return None
        audience = [Category(a) for a in state.rule.audience]
        with self.store.session() as session:
            return session.scalar(
                select(Message.id)
                .join(Delivery, Delivery.message_id == Message.id)
                .join(Stakeholder, Stakeholder.id == Delivery.stakeholder_id)
                .where(Message.incident_id == incident_id,
                       Message.created_at >= state.started_at,
                       Delivery.state.not_in(NOT_COMMUNICATED),
                       Stakeholder.category.in_(audience))
                .order_by(Message.created_at, Message.id).limit(1))

    @staticmethod
    def _pending(key: str, at: datetime, data: Mapping[str, Any], g: _Gathered) -> PendingProposal:
        categories = tuple(Category(c) for c in data.get("categories", ())
                           if c in Category._value2member_map_)
        if "stakeholder_ids" in data:     # named people (a chase), still active ones
            active = {sid for c in categories for sid in g.by_category.get(c, ())}
            ids = [int(sid) for sid in data["stakeholder_ids"] if int(sid) in active]
        else:
            ids = sorted({sid for c in categories for sid in g.by_category.get(c, ())})
        tried = tuple((int(pair[0]), str(pair[1])) for pair in data.get("tried", ())
                      if isinstance(pair, (list, tuple)) and len(pair) == 2)
        return PendingProposal(
            condition_key=key, rule_key=str(data.get("rule_key", "")),
            rule_name=str(data.get("rule_name", "")), reason=str(data.get("reason", "")),
            proposed_at=at, categories=categories,
            template_type=str(data.get("template_type") or "escalation_notice"),
            stakeholder_ids=tuple(ids), times=tuple(times_of(dict(data))), tried=tried)

    def _gather(self, session: Session, ids: Sequence[int],
                people_and_messages: bool = True) -> dict[int, _Gathered]:
        """The incidents, their clients and clock timeline entries; with people_and_messages
        also the clients' active stakeholders and what the deliveries that count as
        communication sum up to (the escalation rules need neither, and read only the entries
        of _ESCALATION_ENTRIES)."""
        out: dict[int, _Gathered] = {}
        client_ids: set[int] = set()
        connection = session.connection()   # plain Core rows, statements built once
        for chunk in _chunks(ids, 900):
            for inc in connection.execute(_INCIDENTS, {"ids": chunk}):
                out[inc.id] = _Gathered(incident=inc, client=None)
                client_ids.add(inc.client_id)
        clients = {c.id: c for c in connection.execute(_CLIENTS, {"ids": list(client_ids)})}
        people: dict[int, list[StakeholderInfo]] = defaultdict(list)
        names: dict[int, dict[int, str]] = defaultdict(dict)
        by_category: dict[int, dict[Category, list[int]]] = defaultdict(lambda: defaultdict(list))
        rows = connection.execute(_PEOPLE, {"ids": list(client_ids)}) \
            if people_and_messages else ()
        for row in rows:
            category = Category(row.category)
            silence = row.max_silence_minutes
            if silence is None and category == Category.CUSTOMERS:
                silence = clients[row.client_id].notification_sla_minutes  # the contract SLA
            people[row.client_id].append(StakeholderInfo(
                id=row.id, name=row.name, category=category,
                timing_need=TimingNeed(row.timing_need), max_silence_minutes=silence))
            names[row.client_id][row.id] = row.name
            by_category[row.client_id][category].append(row.id)
        # the names are one read-only mapping per client, shared by its incidents' evaluations
        shared = {cid: MappingProxyType(found) for cid, found in names.items()}
        rosters = {cid: Roster(found) for cid, found in people.items()}
        nobody = Roster(())
        for g in out.values():
            g.client = clients[g.incident.client_id]
            g.stakeholders = rosters.get(g.client.id, nobody)
            g.names = shared.get(g.client.id, MappingProxyType({}))
            g.by_category = by_category[g.client.id]
        for chunk in _chunks(ids, 900):
            if people_and_messages:
                _communications(session, chunk, out)
                for row in connection.execute(_BOUNCES, {"ids": chunk}):
                    out[row[0]].bounces.append(BouncedNotice(
                        row[1], row[2], row[3], row[4], row[5], Category(row[6]), row[7],
                        stored_utc(row[8]), row[9]))
            # the time and data as stored (text), decoded here: a third of the cost of going
            # row by row through the UTCDateTime and JSON types
            for incident_id, entry_id, at, kind, data in connection.execute(
                    _ENTRIES if people_and_messages else _ESCALATION_ENTRIES, {"ids": chunk}):
                out[incident_id].entries.append(
                    (entry_id, stored_utc(at), kind, (loads(data) if data else None) or {}))
        return out

    # ---------------------------------------------------------------- escalation

    def fire_escalations(self, incident_ids: Sequence[int] | None = None,
                         now: datetime | None = None) -> list[tuple[int, Proposal]]:
        """Record a proposal for every rule whose condition became true and never fired for
        this incident. Returns what was recorded (nothing twice, even when called in a race:
        the fired keys are re-read inside the writing transaction)."""
        now = now or self.clock.now()
        rules = tuple(r for r in self.rules.escalation_rules() if r.enabled)
        if not rules:
            return []
        recorded: list[tuple[int, Proposal]] = []
        kept = self._current_rules(incident_ids, rules)
        # only an incident whose kept inputs could propose by now is evaluated: nothing new
        # costs a counter read and a comparison per incident
        due = [iid for iid, k in kept.items() if k.earliest is not None and k.earliest <= now]
        for chunk in _chunks(due, 200):
            candidates = {iid: evaluate_rules(rules, kept[iid].inputs, now) for iid in chunk}
            candidates = {iid: props for iid, props in candidates.items() if props}
            if not candidates:
                continue
            entries = []
            with self.store.session() as session, session.begin():
                for incident_id, props in candidates.items():
                    fired = self._fired_keys(session, incident_id)
                    for prop in props:
                        if prop.condition_key in fired:
                            continue
                        fired.add(prop.condition_key)
                        entry = self._append(session, incident_id, TimelineKind.ESCALATION_PROPOSED,
                                             f"Escalation proposed: {prop.rule.name} — {prop.reason}",
                                             {"condition_key": prop.condition_key,
                                              "rule_key": prop.rule.key, "rule_name": prop.rule.name,
                                              "reason": prop.reason,
                                              "condition_at": prop.condition_at.isoformat(),
                                              "categories": [c.value for c in prop.categories],
                                              "template_type": prop.template_type,
                                              "times": [t.isoformat() for t in prop.times]},
                                             actor="Clarion (escalation rules)")
                        entries.append(entry)
                        recorded.append((incident_id, prop))
            self._publish(entries)
        return recorded

    def fire_unconfirmed(self, incident_ids: Sequence[int] | None = None,
                         now: datetime | None = None) -> list[Any]:
        """Propose to chase the people who were asked to confirm a message and have not after
        their wait (app/clocks/unconfirmed.py): once per message and category. Each
        incident's counter and its next chase's due time are kept: only an incident whose
        counter moved, or whose next chase is due, is read again (the notifier asks every
        30 s)."""
        from app.acks.policy import AckPolicies
        from app.clocks.unconfirmed import record, scan

        now = now or self.clock.now()
        ids = list(incident_ids) if incident_ids is not None else None
        with self.store.reading() as session:
            counters = change_counters(session, ids)
            with self._lock:
                kept = {iid: self._kept_chases.get(iid) for iid in counters}
            stale = [iid for iid, k in kept.items()
                     if k is None or k[0] != counters[iid] or (k[1] is not None and k[1] <= now)]
            if not stale:
                return []
            due, upcoming = scan(session, AckPolicies(self.store).load(), now, stale)
        recorded = record(self.store, self.events, due, now)
        with self._lock:
            for iid in stale:
                # a proposal just recorded moved the counter: read it once more next time
                if not any(c.incident_id == iid for c in recorded):
                    self._kept_chases[iid] = (counters[iid], upcoming.get(iid))
                else:
                    self._kept_chases.pop(iid, None)
        return recorded

    def _current_rules(self, incident_ids: Sequence[int] | None,
                       rules: tuple[EscalationRule, ...]) -> dict[int, _KeptRules]:
        """Each incident's escalation inputs, read again where its counter moved or the rules
        changed, with the first moment any rule could propose for it."""
        ids = list(incident_ids) if incident_ids is not None else None
        if ids is not None and not ids:
            return {}
        with self.store.reading() as session:
            counters = change_counters(session, ids)
            kept, stale = self._kept_and_stale(self._kept_rules, counters,
                                               lambda k: k.rules != rules)
            gathered = {}
            for chunk in _chunks(stale, 900):
                gathered.update(self._gather(session, chunk, people_and_messages=False))
        for iid, g in gathered.items():
            inputs = self._escalation_inputs(g)
            # every proposal that could ever be made: the earliest is when one first could
            ever = evaluate_rules(rules, inputs, FAR)
            kept[iid] = _KeptRules(counters[iid], rules, inputs,
                                   min((p.condition_at for p in ever), default=None))
        if stale:
            self._keep_newer(self._kept_rules, stale, kept, counters, every_open=ids is None)
        return {iid: k for iid, k in kept.items() if k is not None}

    @staticmethod
    def _escalation_inputs(g: _Gathered) -> EscalationInputs:
        inc = g.incident
        severity_changes, flag_changes, fired = [], [], set()
        for _id, at, kind, data in g.entries:
            try:
                if kind == _SEVERITY_CHANGED:
                    severity_changes.append(SeverityChange(at=at, old=Severity(data["old"]),
                                                           new=Severity(data["new"])))
                elif kind == _FLAG_CHANGED:
                    flag_changes.append(FlagChange(at=at, flag=ImpactFlag(data["flag"]),
                                                   value=bool(data["new"])))
            except (KeyError, ValueError):
                continue
            if kind == _ESCALATION_PROPOSED:
                fired.add(str(data.get("condition_key")))
        return EscalationInputs(
            severity=Severity(inc.severity), phase=Phase(inc.phase), detected_at=inc.detected_at,
            impact_business=bool(inc.impact_business), impact_external=bool(inc.impact_external),
            impact_regulatory=bool(inc.impact_regulatory), severity_changes=severity_changes,
            flag_changes=flag_changes, fired=frozenset(fired))

    @staticmethod
    def _fired_keys(session: Session, incident_id: int) -> set[str]:
        return {str((data or {}).get("condition_key")) for data in session.scalars(
            select(TimelineEntry.data).where(
                TimelineEntry.incident_id == incident_id,
                TimelineEntry.kind == TimelineKind.ESCALATION_PROPOSED.value))}

    def decide_escalation(self, incident_id: int, condition_key: str, confirmed: bool,
                          message_id: int | None = None, reason: str = "") -> None:
        """The coordinator's answer to a proposal: confirmed (with the message queued for it)
        or dismissed (with a reason). A proposal is answered once."""
        reason = (reason or "").strip()
        if not confirmed and not reason:
            raise ValidationError({"reason": "Say why the escalation is not needed; the "
                                             "reason goes to the timeline."})
        with self.store.session() as session, session.begin():
            self._writable(session, incident_id)
            proposals = {str((e.data or {}).get("condition_key")): e for e in session.scalars(
                select(TimelineEntry).where(
                    TimelineEntry.incident_id == incident_id,
                    TimelineEntry.kind.in_([TimelineKind.ESCALATION_PROPOSED.value,
                                            TimelineKind.ESCALATION_DECIDED.value]))
                .order_by(TimelineEntry.id))
                if e.kind == TimelineKind.ESCALATION_PROPOSED.value}
            answered = {str((d or {}).get("condition_key")) for d in session.scalars(
                select(TimelineEntry.data).where(
                    TimelineEntry.incident_id == incident_id,
                    TimelineEntry.kind == TimelineKind.ESCALATION_DECIDED.value))}
            proposal = proposals.get(condition_key)
            if proposal is None:
                raise NotFound("That escalation proposal does not exist.")
            if condition_key in answered:
                raise ClockError("That escalation has already been answered.")
            if message_id is not None:
                self._check_message(session, incident_id, message_id)
            name = proposal.data.get("rule_name", "escalation")
            summary = (f"Escalation confirmed: {name}" + (f" (message {message_id})"
                                                          if message_id else "")
                       if confirmed else f"Escalation dismissed: {name} — {reason}")
            entry = self._append(session, incident_id, TimelineKind.ESCALATION_DECIDED, summary,
                                 {"condition_key": condition_key,
                                  "decision": "confirmed" if confirmed else "dismissed",
                                  "message_id": message_id, "reason": reason})
        self._publish([entry])


def _communications(session: Session, ids: Sequence[int], out: dict[int, _Gathered]) -> None:
    """Sum up the incidents' communications (every delivery not cancelled or failed: 60,000
    rows for 1,000 incidents) into their CommunicationIndex: SQL sums them up per message (its
    first and last queued time, first sent time and stakeholders), so a few thousand rows come
    back, their times decoded once each from the stored text (naive UTC, one format: its text
    order is time order)."""
    decoded: dict[str, datetime] = {}

    def utc(stored: str) -> datetime:
        found = decoded.get(stored)
        if found is None:
            found = decoded[stored] = stored_utc(stored)
        return found

    reached: dict[int, list[tuple[datetime, Iterable[int]]]] = defaultdict(list)
    mixed: list[int] = []   # messages whose deliveries were queued at different times
    connection = session.connection()
    for incident_id, message_id, template_type, first, last, sent, people in \
            connection.execute(_MESSAGES, {"ids": ids}):
        idx = out[incident_id].communications
        q_first, q_last = utc(first), utc(last)
        if idx.first_queued is None or q_first < idx.first_queued:
            idx.first_queued = q_first
        if idx.last_queued is None or q_last > idx.last_queued:
            idx.last_queued = q_last
        if sent and (idx.first_sent is None or utc(sent) < idx.first_sent):
            idx.first_sent = utc(sent)
        if template_type == "resolution_notice":
            if idx.last_resolution_notice is None or q_last > idx.last_resolution_notice:
                idx.last_resolution_notice = q_last
        elif template_type == "post_incident_summary":
            if idx.last_summary is None or q_last > idx.last_summary:
                idx.last_summary = q_last
        elif template_type == "initial_acknowledgment":
            idx.acknowledged = True
        if people is None:
            continue
        if first == last:
            reached[incident_id].append((q_last, map(int, str(people).split(","))))
        else:
            mixed.append(message_id)
    for chunk in _chunks(mixed, 900):
        for incident_id, stakeholder_id, last in connection.execute(_MIXED, {"ids": chunk}):
            reached[incident_id].append((utc(last), (stakeholder_id,)))
    for incident_id, found in reached.items():
        by_stakeholder = out[incident_id].communications.last_by_stakeholder
        found.sort(key=lambda pair: pair[0])   # the latest time of each stakeholder wins
        for when, stakeholder_ids in found:
            by_stakeholder.update(dict.fromkeys(stakeholder_ids, when))


def _not_newer(old: Counter, new: Counter) -> bool:
    """Whether `new` is at least as recent as `old` (each part of a counter only grows): a
    thread that read earlier never replaces what a later one kept."""
    return old[0] <= new[0] and old[1] <= new[1]


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

