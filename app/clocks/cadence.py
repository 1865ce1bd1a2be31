"""Update cadence: what communication is due or overdue for an incident at a moment `now`.

Pure functions over frozen inputs — no database, no Qt, no wall clock (time enters only as
`now`). The phase cadence follows DESIGN.md and the incident communication guide: immediate
acknowledgment at detection (target 15 minutes), an update every 30–60 minutes by severity while
investigating, updates on significant change (plus a fallback interval) while responding, a
completion notice on resolution and a summary within 24 hours. On top of it each stakeholder
reached so far has a max-silence timer.

A communication counts when it is queued; the statistics tell queued and sent apart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from app.clocks.wording import hm_utc
from app.domain.enums import Category, Phase, Severity, TimingNeed
from app.paths import resource

FIRST_COMMUNICATION_TARGET = timedelta(minutes=15)
DEFAULTS_FILE = ("cadence", "defaults.json")

DEFAULT_FACT_UPDATE_MINUTES = 10   # migration 0013's default for customised policies too

# field -> (lowest, highest, unit) for validate_policy
POLICY_BOUNDS: dict[str, tuple[int, int, str]] = {
    "acknowledge_minutes": (1, 240, "minutes"),
    "investigating_minutes": (5, 1440, "minutes"),
    "responding_minutes": (5, 1440, "minutes"),
    "fact_update_minutes": (0, 240, "minutes"),
    "resolution_minutes": (1, 1440, "minutes"),
    "summary_hours": (1, 720, "hours"),
}

_ACTIVE = frozenset({Phase.DETECTED, Phase.INVESTIGATING, Phase.RESPONDING})
_IMMEDIATE = TimingNeed.IMMEDIATE


@dataclass(frozen=True)
class CadencePolicy:
    severity: Severity
    acknowledge_minutes: int     # detected: acknowledgment due this long after detection
    investigating_minutes: int   # investigating: an update every N minutes
    responding_minutes: int      # responding: on significant change, plus this fallback interval
    resolution_minutes: int      # resolved: completion notice due this long after resolution
    summary_hours: int           # post-incident summary due this long after resolution
    fact_update_minutes: int = DEFAULT_FACT_UPDATE_MINUTES   # investigating, responding: an
    # update is due this long after a fact changed (time to gather related changes; 0: at once)


@lru_cache(maxsize=1)
def _default_policies() -> tuple[CadencePolicy, ...]:
    path = resource(*DEFAULTS_FILE)
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    policies: list[CadencePolicy] = []
    for entry in data["policies"]:
        policy, errors = validate_policy(entry)
        if policy is None:
            raise ValueError(f"{path}: bad cadence policy {entry.get('severity')!r}: {errors}")
        policies.append(policy)
    missing = set(Severity) - {p.severity for p in policies}
    if missing:
        raise ValueError(f"{path}: no cadence policy for {sorted(s.value for s in missing)}")
    return tuple(policies)


def load_default_policies() -> dict[Severity, CadencePolicy]:
    """The built-in policy per severity (resources/cadence/defaults.json, read once)."""
    return {p.severity: p for p in _default_policies()}


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def validate_policy(values: Mapping[str, object]) -> tuple[CadencePolicy | None, dict[str, str]]:
    """Check a policy from a form or a file: (policy, {}) or (None, {field: message})."""
    errors: dict[str, str] = {}
    severity: Severity | None = None
    raw = values.get("severity")
    try:
        severity = Severity(raw) if raw not in (None, "") else None
    except ValueError:
        pass
    if severity is None:
        errors["severity"] = "Choose a severity: SEV1, SEV2, SEV3 or SEV4."
    numbers: dict[str, int] = {}
    for field, (low, high, unit) in POLICY_BOUNDS.items():
        raw = values.get(field)
        if raw is None or raw == "":
            errors[field] = f"Enter a number of {unit}."
            continue
        number = _whole_number(raw)
        if number is None:
            errors[field] = f"Enter a whole number of {unit} (not {raw!r})."
        elif not low <= number <= high:
            errors[field] = f"Must be between {low} and {high} {unit}."
        else:
            numbers[field] = number
    if errors or severity is None:
        return None, errors
    return CadencePolicy(severity=severity, **numbers), {}


def _silence_words(stakeholder_id: int, name: str, category: Category, limit: int
                   ) -> tuple[str, str, str, timedelta, tuple[int]]:
    """A max-silence item's key, title, detail up to its time, span and stakeholder ids: the
    same for every incident of the stakeholder's client (built once per StakeholderInfo,
    which the incidents of a client share: fewer new objects, less for the garbage collector
    to walk)."""
    return (f"silence:{stakeholder_id}", f"Max silence — {name}",
            f"{name} ({category.label}) should not wait more than {limit} min; "
            "last communication ", timedelta(minutes=limit), (stakeholder_id,))


@dataclass(frozen=True)
class StakeholderInfo:
    id: int
    name: str
    category: Category
    timing_need: TimingNeed
    max_silence_minutes: int | None   # effective value; None = no max silence
    # what evaluate_cadence reads of it for every incident of the client, worked out once:
    # whether it is owed the acknowledgment, and its max-silence item's words (or None)
    immediate: bool = dataclasses.field(init=False, repr=False, compare=False)
    silence: tuple[str, str, str, timedelta, tuple[int]] | None = dataclasses.field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "immediate", self.timing_need == _IMMEDIATE)
        limit = self.max_silence_minutes
        object.__setattr__(self, "silence", None if limit is None else _silence_words(
            self.id, self.name, self.category, limit))


class Roster(Sequence[StakeholderInfo]):
    """A client's active stakeholders (a read-only sequence) with what evaluate_cadence looks
    up in them worked out once: shared by the evaluations of the client's incidents, so each
    one walks the stakeholders its messages reached, not every stakeholder of the client."""

    __slots__ = ("_people", "by_id", "immediate", "silence_of")

    def __init__(self, people: Sequence[StakeholderInfo]) -> None:
        self._people = tuple(people)
        self.by_id = {s.id: s for s in self._people}
        self.immediate = tuple(sorted(s.id for s in self._people if s.immediate))
        # each one's max-silence item words (StakeholderInfo.silence), or None
        self.silence_of = {s.id: s.silence for s in self._people}

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._people[index]

    def __len__(self) -> int:
        return len(self._people)

    def __repr__(self) -> str:
        return f"Roster({list(self._people)!r})"


@dataclass(frozen=True)
class Communication:
    """One delivery to a stakeholder that was not cancelled or failed."""
    stakeholder_id: int | None
    queued_at: datetime
    sent_at: datetime | None
    template_type: str
    message_id: int


@dataclass(frozen=True)
class CadenceInputs:
    severity: Severity
    phase: Phase
    detected_at: datetime
    phase_since: datetime                    # when the current phase was entered
    resolved_at: datetime | None             # latest move to resolved
    last_fact_change_at: datetime | None     # latest change of a fact
    stakeholders: Sequence[StakeholderInfo]  # active stakeholders of the incident's client
    communications: Sequence[Communication] = ()  # of this incident, any order
    # or, instead of the communications, what the rules read of them (ClockService sums them
    # up in SQL: hundreds of rows instead of every delivery)
    index: CommunicationIndex | None = None


class DueItem(NamedTuple):
    """A communication due (or overdue) at due_at. A named tuple, not a frozen dataclass:
    a cold look at 1,000 incidents makes 25,000 of them, each at a third of the cost
    (bench_clocks.py). The fields are in sort order: items sort by due time, then key
    (unique in an incident)."""
    due_at: datetime
    key: str
    template_type: str
    title: str
    overdue: bool
    stakeholder_ids: tuple[int, ...]
    detail: str
    times: tuple[datetime, ...] = ()   # the detail's times, in order (app.clocks.wording)


_new_item = tuple.__new__   # DueItem's fields as one tuple, without the keyword handling


@dataclass(frozen=True)
class CommunicationStats:
    first_queued_at: datetime | None
    first_sent_at: datetime | None
    to_first_queued: timedelta | None
    to_first_sent: timedelta | None
    first_within_target: bool | None
    last_communication_at: datetime | None
    since_last: timedelta | None
    longest_waiting: tuple[int, str, timedelta] | None
    waiting_since: datetime | None = None   # the longest waiting one's last communication


def stats_at(stats: CommunicationStats, detected_at: datetime,
             now: datetime) -> CommunicationStats:
    """The same figures at another moment: the parts that depend on `now` (the 15-minute line
    while nothing was sent, the time since the last message and the longest wait) are
    derived from the stored times here, and only here (evaluate_cadence's too)."""
    if stats.to_first_sent is not None:
        within: bool | None = stats.to_first_sent <= FIRST_COMMUNICATION_TARGET
    elif now - detected_at > FIRST_COMMUNICATION_TARGET:
        within = False
    else:
        within = None
    last, longest = stats.last_communication_at, stats.longest_waiting
    return CommunicationStats(
        first_queued_at=stats.first_queued_at, first_sent_at=stats.first_sent_at,
        to_first_queued=stats.to_first_queued, to_first_sent=stats.to_first_sent,
        first_within_target=within, last_communication_at=last,
        since_last=now - last if last is not None else None,
        longest_waiting=(longest[0], longest[1], now - stats.waiting_since)
        if longest is not None and stats.waiting_since is not None else None,
        waiting_since=stats.waiting_since)


def result_at(result: CadenceResult, detected_at: datetime, now: datetime) -> CadenceResult:
    """An evaluation restated at another moment: equal to evaluate_cadence(…, now) with the
    same inputs. Only the overdue flags (due_at <= now) and stats_at's figures depend on
    `now`; the items, their due times and words do not."""
    items = result.items
    for item in items:
        if (item.due_at <= now) is not item.overdue:
            items = tuple(i if (i.due_at <= now) is i.overdue
                          else i._replace(overdue=not i.overdue) for i in items)
            break
    return CadenceResult(items=items, stats=stats_at(result.stats, detected_at, now))


@dataclass(frozen=True)
class CadenceResult:
    items: tuple[DueItem, ...]
    stats: CommunicationStats


class _Said:
    """Builds a detail sentence and keeps the times it mentions, for in_zone()."""

    def __init__(self) -> None:
        self.times: list[datetime] = []

    def hm(self, value: datetime) -> str:
        self.times.append(value)
        return hm_utc(value)


@dataclass
class CommunicationIndex:
    """Everything the rules and the stats read of an incident's communications (the
    deliveries not cancelled or failed): index_communications() sums them up in one pass."""
    last_by_stakeholder: dict[int, datetime]   # the latest queued to each stakeholder
    first_queued: datetime | None = None
    last_queued: datetime | None = None
    first_sent: datetime | None = None
    last_resolution_notice: datetime | None = None   # the latest queued of each type
    last_summary: datetime | None = None
    acknowledged: bool = False   # an initial acknowledgment was queued


def index_communications(communications: Sequence[Communication]) -> CommunicationIndex:
    idx = CommunicationIndex(last_by_stakeholder={})
    by_stakeholder = idx.last_by_stakeholder
    for c in communications:
        q = c.queued_at
        if idx.first_queued is None or q < idx.first_queued:
            idx.first_queued = q
        if idx.last_queued is None or q > idx.last_queued:
            idx.last_queued = q
        if c.sent_at is not None and (idx.first_sent is None or c.sent_at < idx.first_sent):
            idx.first_sent = c.sent_at
        if c.stakeholder_id is not None:
            known = by_stakeholder.get(c.stakeholder_id)
            if known is None or q > known:
                by_stakeholder[c.stakeholder_id] = q
        if c.template_type == "resolution_notice":
            if idx.last_resolution_notice is None or q > idx.last_resolution_notice:
                idx.last_resolution_notice = q
        elif c.template_type == "post_incident_summary":
            if idx.last_summary is None or q > idx.last_summary:
                idx.last_summary = q
        elif c.template_type == "initial_acknowledgment":
            idx.acknowledged = True
    return idx


def _stats(inputs: CadenceInputs, idx: CommunicationIndex, now: datetime,
           oldest: tuple[datetime, int, str] | None) -> CommunicationStats:
    """oldest: (last communication, id, name) of the stakeholder waiting longest."""
    detected = inputs.detected_at
    return stats_at(CommunicationStats(
        first_queued_at=idx.first_queued,
        first_sent_at=idx.first_sent,
        to_first_queued=idx.first_queued - detected if idx.first_queued is not None else None,
        to_first_sent=idx.first_sent - detected if idx.first_sent is not None else None,
        first_within_target=None,
        last_communication_at=idx.last_queued,
        since_last=None,
        longest_waiting=(oldest[1], oldest[2], timedelta(0)) if oldest is not None else None,
        waiting_since=oldest[0] if oldest is not None else None,
    ), detected, now)


def evaluate_cadence(policy: CadencePolicy, inputs: CadenceInputs, now: datetime) -> CadenceResult:
    """The due and overdue communications of one incident at `now`, sorted by due time."""
    idx = inputs.index if inputs.index is not None else index_communications(
        inputs.communications)
    reached = idx.last_by_stakeholder
    phase = inputs.phase
    # Only the stakeholders the messages reached are walked (of fifty a client, a thousand
    # incidents): the one waiting longest and, while the incident is active, each max-silence
    # item (the most items: built straight, its words kept in StakeholderInfo.silence)
    roster = inputs.stakeholders
    if not isinstance(roster, Roster):
        roster = Roster(roster)
    silence_of = roster.silence_of
    # the stakeholders still active of this client, in the order they were reached
    reached_ids = [sid for sid in reached if sid in silence_of]
    oldest: tuple[datetime, int, str] | None = None
    if reached_ids:
        seen, sid = min((reached[sid], sid) for sid in reached_ids)
        oldest = (seen, sid, roster.by_id[sid].name)
    items: list[DueItem] = []
    if phase in _ACTIVE:
        shown: dict[datetime, tuple[str, tuple[datetime]]] = {}
        append = items.append
        for sid in reached_ids:
            words_of = silence_of[sid]
            if words_of is None:
                continue
            seen = reached[sid]
            key, title, words, span, ids = words_of
            said_at = shown.get(seen)   # its words and times: shared by the items of a time
            if said_at is None:
                said_at = shown[seen] = (hm_utc(seen), (seen,))
            due = seen + span
            append(_new_item(DueItem, (due, key, "status_update", title, due <= now, ids,
                                       words + said_at[0], said_at[1])))
    stats = _stats(inputs, idx, now, oldest)
    if phase == Phase.CLOSED:
        return CadenceResult(items=(), stats=stats)

    audience = tuple(sorted(reached_ids))
    unreached_immediate = tuple(sid for sid in roster.immediate if sid not in reached)
    recipients = audience or roster.immediate
    last = idx.last_queued

    said = _Said()

    def _hm(value: datetime) -> str:
        return said.hm(value)

    def add(key: str, template: str, title: str, due: datetime, ids: tuple[int, ...],
            detail: str) -> None:
        items.append(DueItem(key=key, template_type=template, title=title, due_at=due,
                             overdue=due <= now, stakeholder_ids=ids, detail=detail,
                             times=tuple(said.times)))
        said.times.clear()

    sev = inputs.severity.value
    # The acknowledgment is one act: once one is queued, the immediate stakeholders the
    # coordinator left out of it were left out on purpose (a breach is not announced to every
    # portal user); other messages only narrow whom it is still owed to.
    if phase in _ACTIVE and unreached_immediate and not idx.acknowledged:
        minutes = policy.acknowledge_minutes
        n = len(unreached_immediate)
        add("acknowledgment", "initial_acknowledgment", "Initial acknowledgment",
            inputs.detected_at + timedelta(minutes=minutes), unreached_immediate,
            f"Detected at {_hm(inputs.detected_at)}: acknowledge within {minutes} min; "
            f"{n} immediate stakeholder{'s' if n != 1 else ''} not reached yet")

    if phase in (Phase.INVESTIGATING, Phase.RESPONDING):
        investigating = phase == Phase.INVESTIGATING
        minutes = policy.investigating_minutes if investigating else policy.responding_minutes
        if last is not None and last >= inputs.phase_since:
            base, since = last, f"last update {_hm(last)}"
        else:
            base, since = inputs.phase_since, f"{phase.value} since {_hm(inputs.phase_since)}"
        rhythm = (f"an update every {minutes} min" if investigating
                  else f"updates on significant change, at least every {minutes} min")
        add("status_update", "status_update", "Status update",
            base + timedelta(minutes=minutes), recipients,
            f"{phase.label} at {sev}: {rhythm}; {since}")

        fact = inputs.last_fact_change_at
        if fact is not None and (last is None or fact > last):
            after = f"after the last update at {_hm(last)}" if last is not None \
                else "and nothing has been sent yet"
            minutes = policy.fact_update_minutes
            within = f"an update within {minutes} min" if minutes else "an update now"
            add("fact_change", "status_update", "Update after a fact change",
                fact + timedelta(minutes=minutes), recipients,
                f"A fact changed at {_hm(fact)}, {after}: {within}")

    if phase == Phase.RESOLVED:
        resolved = inputs.resolved_at or inputs.phase_since
        notice = idx.last_resolution_notice
        if notice is None or notice < resolved:
            minutes = policy.resolution_minutes
            add("resolution_notice", "resolution_notice", "Resolution notice",
                resolved + timedelta(minutes=minutes), recipients,
                f"Resolved at {_hm(resolved)}: confirm completion within {minutes} min")
        summary = idx.last_summary
        if summary is None or summary < resolved:
            hours = policy.summary_hours
            add("post_incident_summary", "post_incident_summary", "Post-incident summary",
                resolved + timedelta(hours=hours), recipients,
                f"Resolved at {_hm(resolved)}: a post-incident summary within {hours} h")

    items.sort()   # by due time, then key (DueItem's first fields)
    return CadenceResult(items=tuple(items), stats=stats)
