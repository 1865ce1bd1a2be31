"""Regulatory and contractual notification clocks: which deadlines apply to an incident, when each
is due, and how it stands now.

The rules (resources/regulatory/rules.json) and the holiday calendar
(resources/regulatory/us-federal-holidays.json) are reference material encoded from the cited
primary sources, not legal advice: every rule carries its source URL and the date it was last
reviewed, and a user must confirm each rule with counsel before relying on it.

Pure logic: no database, no Qt. Results are timezone-aware UTC (a naive input is taken as UTC).
"""

from __future__ import annotations

import calendar as _calendar
import dataclasses
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import ensure_utc
from app.clocks.wording import day_hm_utc
from app.domain.enums import Category, ClockTrigger, Regime, StrEnum
from app.paths import resource

CONTRACT_SLA_ID = "contract_sla"
RULE_TRIGGER_PREFIX = "rule:"
# condition key -> (ClockInputs field, test(value, bound), wording); bounds are inclusive
_CONDITIONS: dict[str, tuple[str, Callable[[int, int], bool], Callable[[int], str]]] = {
    "min_affected": ("affected_individuals", operator.ge,
                     lambda b: f"{b} or more individuals are affected"),
    "max_affected": ("affected_individuals", operator.le,
                     lambda b: f"fewer than {b + 1} individuals are affected"),
    "min_state_residents": ("max_state_residents", operator.ge,
                            lambda b: f"more than {b - 1} residents of one state are affected"),
}
CONDITION_KEYS = tuple(_CONDITIONS)


class ClockUnit(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"
    MONTHS = "months"
    YEAR_END_DAYS = "year_end_days"
    NONE = "none"


class ClockStatus(StrEnum):
    WAITING_TRIGGER = "waiting_trigger"
    RUNNING = "running"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    SATISFIED = "satisfied"
    SATISFIED_LATE = "satisfied_late"
    ELAPSED = "elapsed"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class RegulatoryRule:
    id: str
    regime: str | None  # a Regime value; None only for the contract SLA rule
    title: str
    recipient: str
    audience: tuple[str, ...]  # the stakeholder categories the recipient is among (Category values)
    trigger: str  # a ClockTrigger value, or "rule:<id>": when that rule's clock was satisfied
    amount: int | None  # None with unit NONE (and for the contract SLA until it is filled in)
    unit: ClockUnit
    cap: tuple[str, int, ClockUnit] | None  # "no later than": due = min(main due, cap due)
    condition: dict[str, int]  # inclusive bounds, see CONDITION_KEYS; empty = always
    zone: str | None  # zone for day arithmetic; None = the client's zone
    in_force: bool
    source_url: str
    last_reviewed: date
    notes: str


@dataclass(frozen=True)
class Satisfaction:
    at: datetime
    message_id: int | None


@dataclass(frozen=True)
class ClockInputs:
    regimes: frozenset[str]
    regulatory_flag: bool
    detected_at: datetime
    triggers: Mapping[str, datetime]
    satisfied: Mapping[str, Satisfaction]
    affected_individuals: int | None
    max_state_residents: int | None
    sla_minutes: int | None
    time_zone: str


@dataclass(frozen=True)
class ClockState:
    rule: RegulatoryRule
    status: ClockStatus
    started_at: datetime | None
    due_at: datetime | None
    satisfied: Satisfaction | None
    remaining: timedelta | None
    elapsed: timedelta | None
    explanation: str

    @property
    def times(self) -> tuple[datetime, ...]:
        """The times the explanation mentions (app.clocks.wording.in_zone)."""
        return tuple(t for t in (self.started_at,
                                 self.satisfied.at if self.satisfied else None) if t)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class HolidayCalendar:
    """US federal holidays (observed dates) for business-day arithmetic. Outside the years the
    file covers it refuses to answer, so a stale calendar is noticed, never silently wrong."""

    def __init__(self, holidays: Mapping[date, str], first_year: int, last_year: int) -> None:
        _check(first_year <= last_year, f"first_year {first_year} > last_year {last_year}")
        self.holidays: Mapping[date, str] = MappingProxyType(dict(holidays))
        self.first_year, self.last_year = first_year, last_year

    @classmethod
    def load(cls) -> HolidayCalendar:
        return _load_calendar(resource("regulatory", "us-federal-holidays.json"))

    def is_business_day(self, day: date) -> bool:
        _check(self.first_year <= day.year <= self.last_year,
               f"The holiday calendar covers {self.first_year}–{self.last_year}, not "
               f"{day.isoformat()}: extend resources/regulatory/us-federal-holidays.json")
        return day.weekday() < 5 and day not in self.holidays

    def add_business_days(self, day: date, n: int) -> date:
        """The n-th business day after `day` (`day` itself is day 0); n < 0 counts backwards."""
        step = 1 if n >= 0 else -1
        for _ in range(abs(n)):
            day += timedelta(days=step)
            while not self.is_business_day(day):
                day += timedelta(days=step)
        return day


@lru_cache(maxsize=4)
def _load_calendar(path: Path) -> HolidayCalendar:
    data = json.loads(path.read_text(encoding="utf-8"))
    holidays = {date.fromisoformat(day): name for day, name in data["holidays"].items()}
    return HolidayCalendar(holidays, int(data["first_year"]), int(data["last_year"]))


def load_rules() -> list[RegulatoryRule]:
    """The rule table from resources/regulatory/rules.json, validated (cached)."""
    return list(_load_rules(resource("regulatory", "rules.json")))


@lru_cache(maxsize=4)
def _load_rules(path: Path) -> tuple[RegulatoryRule, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(parse_rules(data["rules"] if isinstance(data, dict) else data))


_FIELDS = {f.name for f in dataclasses.fields(RegulatoryRule)}


def parse_rules(rows: Sequence[Mapping[str, Any]]) -> list[RegulatoryRule]:
    """Rules from JSON rows; ValueError naming the rule on a malformed row. A "rule:<id>" trigger
    must name a rule earlier in the table (so chains cannot loop)."""
    rules: list[RegulatoryRule] = []
    for index, row in enumerate(rows):
        try:
            rules.append(_parse_rule(row, {r.id for r in rules}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            name = row.get("id") if isinstance(row, Mapping) else None
            raise ValueError(f"Regulatory rule {name or f'#{index + 1}'}: {exc}") from exc
    return rules


def _positive_int(value: Any, what: str) -> int:
    _check(type(value) is int and value > 0, f"{what} must be a positive integer, not {value!r}")
    return int(value)


def _parse_rule(row: Mapping[str, Any], earlier: set[str]) -> RegulatoryRule:
    _check(set(row) == _FIELDS,
           f"missing {sorted(_FIELDS - set(row))}, unknown {sorted(set(row) - _FIELDS)}")
    rule_id, regime, trigger, amount = row["id"], row["regime"], row["trigger"], row["amount"]
    _check(isinstance(rule_id, str) and bool(rule_id) and rule_id not in earlier,
           "id must be a unique non-empty string")
    is_sla = rule_id == CONTRACT_SLA_ID
    _check(regime is None if is_sla else regime in {r.value for r in Regime},
           f"regime {regime!r} is not a Regime (null only for {CONTRACT_SLA_ID})")
    if trigger.startswith(RULE_TRIGGER_PREFIX):
        _check(trigger.removeprefix(RULE_TRIGGER_PREFIX) in earlier,
               f"trigger {trigger!r} must name a rule earlier in the table")
    else:
        ClockTrigger(trigger)
    unit = ClockUnit(row["unit"])
    if unit is ClockUnit.NONE or is_sla:
        _check(amount is None, "amount must be null with unit none (and for the contract SLA)")
    else:
        _positive_int(amount, "amount")
    cap = None
    if (c := row["cap"]) is not None:
        cap = (ClockTrigger(c["trigger"]).value, _positive_int(c["amount"], "cap amount"),
               ClockUnit(c["unit"]))
        _check(ClockUnit.NONE not in (unit, cap[2]) and cap[2] is not ClockUnit.YEAR_END_DAYS,
               "a cap needs a fixed clock and a cap unit other than none/year_end_days")
    condition = dict(row["condition"])
    for key, bound in condition.items():
        _check(key in CONDITION_KEYS and type(bound) is int and bound >= 0,
               f"condition {key}={bound!r}: keys are {CONDITION_KEYS}, bounds integers >= 0")
    if row["zone"] is not None:
        ZoneInfo(row["zone"])  # ZoneInfoNotFoundError is a KeyError: reported with the rule
    _check(is_sla or str(row["source_url"]).startswith(("https://", "http://")),
           "source_url must be an http(s) URL")
    _check(all(isinstance(row[k], str) and row[k].strip() for k in ("title", "recipient")),
           "title and recipient must be non-empty strings")
    categories = {c.value for c in Category}
    _check(isinstance(row["audience"], list) and bool(row["audience"])
           and all(a in categories for a in row["audience"]),
           f"audience must list stakeholder categories ({sorted(categories)})")
    _check(isinstance(row["in_force"], bool) and isinstance(row["notes"], str),
           "in_force must be a boolean and notes a string")
    return RegulatoryRule(
        id=rule_id, regime=regime, title=row["title"], recipient=row["recipient"],
        audience=tuple(row["audience"]), trigger=trigger, amount=amount, unit=unit, cap=cap, condition=condition, zone=row["zone"],
        in_force=row["in_force"], source_url=row["source_url"],
        last_reviewed=date.fromisoformat(row["last_reviewed"]), notes=row["notes"])


def applicable_rules(rules: Sequence[RegulatoryRule], regimes: frozenset[str],
                     sla_minutes: int | None, regulatory_flag: bool) -> list[RegulatoryRule]:
    """Regime rules in force for the client's regimes when the incident is flagged regulatory;
    the contract SLA (amount filled in) whenever the client has one, flag or not."""
    found: list[RegulatoryRule] = []
    for rule in rules:
        if rule.id == CONTRACT_SLA_ID:
            if sla_minutes is not None:
                found.append(dataclasses.replace(rule, amount=sla_minutes))
        elif regulatory_flag and rule.in_force and rule.regime in regimes:
            found.append(rule)
    return found


def _end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def _add(start: datetime, amount: int, unit: ClockUnit, tz: ZoneInfo,
         calendar: HolidayCalendar | None) -> datetime | None:
    start = ensure_utc(start)
    local = start.astimezone(tz)
    if unit is ClockUnit.MINUTES:
        return start + timedelta(minutes=amount)
    if unit is ClockUnit.HOURS:
        return start + timedelta(hours=amount)  # real elapsed hours: DST does not shift them
    if unit is ClockUnit.CALENDAR_DAYS:
        return _end_of_day(local.date() + timedelta(days=amount), tz)
    if unit is ClockUnit.BUSINESS_DAYS:
        calendar = calendar or HolidayCalendar.load()
        return _end_of_day(calendar.add_business_days(local.date(), amount), tz)
    if unit is ClockUnit.MONTHS:
        months = local.year * 12 + local.month - 1 + amount
        year, month = divmod(months, 12)
        day = min(local.day, _calendar.monthrange(year, month + 1)[1])
        return local.replace(year=year, month=month + 1, day=day, fold=0).astimezone(UTC)
    if unit is ClockUnit.YEAR_END_DAYS:
        return _end_of_day(date(local.year, 12, 31) + timedelta(days=amount), tz)
    return None


def due_time(rule: RegulatoryRule, start: datetime, zone: str,
             calendar: HolidayCalendar) -> datetime | None:
    """When `rule` is due if its trigger happened at `start` (UTC); None without a fixed clock.
    Day arithmetic uses rule.zone, else `zone` (the client's). The cap is not applied here."""
    if rule.amount is None or rule.unit is ClockUnit.NONE:
        return None
    return _add(start, rule.amount, rule.unit, ZoneInfo(rule.zone or zone), calendar)


_fmt = day_hm_utc   # "2 Mar 09:00 UTC": the reader's window shows it in its zone (`times`)


def _duration(span: timedelta) -> str:
    hours, minutes = divmod(int(span.total_seconds() // 60), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _span(amount: int | None, unit: ClockUnit) -> str:
    if unit is ClockUnit.YEAR_END_DAYS:
        return f"{amount} days after the end of the calendar year of"
    words = unit.value.replace("_", " ")
    return f"{amount} {words[:-1] if amount == 1 else words} from"


def _condition(rule: RegulatoryRule, inputs: ClockInputs) -> tuple[str | None, str | None]:
    """(reason it does not apply, note that a number it depends on is not yet entered)."""
    unmet: list[str] = []
    unknown: list[str] = []
    for key, bound in rule.condition.items():
        field, test, words = _CONDITIONS[key]
        value = getattr(inputs, field)
        if value is None:
            unknown.append(words(bound))
        elif not test(value, bound):
            unmet.append(f"{words(bound)} (entered: {value})")
    reason = f"Applies only if {' and '.join(unmet)}" if unmet else None
    note = f"Applies if {' and '.join(unknown)}; number not yet entered" if unknown else None
    return reason, note


def _trigger_time(trigger: str, inputs: ClockInputs) -> datetime | None:
    if trigger.startswith(RULE_TRIGGER_PREFIX):
        done = inputs.satisfied.get(trigger.removeprefix(RULE_TRIGGER_PREFIX))
        return ensure_utc(done.at) if done else None
    if trigger == ClockTrigger.DETECTION.value:
        return ensure_utc(inputs.detected_at)
    recorded = inputs.triggers.get(trigger)
    return ensure_utc(recorded) if recorded else None


def _trigger_text(trigger: str, titles: Mapping[str, str]) -> str:
    """'awareness', 'materiality determination', 'the NIS2 Art. 23 — incident notification'."""
    if trigger.startswith(RULE_TRIGGER_PREFIX):
        rule_id = trigger.removeprefix(RULE_TRIGGER_PREFIX)
        return f"the {titles.get(rule_id, rule_id)}"
    return ClockTrigger(trigger).label.lower()


def _clock(trigger: str, amount: int | None, unit: ClockUnit, inputs: ClockInputs, tz: ZoneInfo,
           calendar: HolidayCalendar | None, titles: Mapping[str, str]
           ) -> tuple[datetime | None, datetime, str] | None:
    """(due or None, start, explanation) of one trigger, or None while it is not recorded."""
    start = _trigger_time(trigger, inputs)
    if start is None:
        return None
    if amount is None or unit is ClockUnit.NONE:
        return None, start, "Without undue delay: no fixed deadline"
    verb = "sent" if trigger.startswith(RULE_TRIGGER_PREFIX) else "recorded"
    return (_add(start, amount, unit, tz, calendar), start,
            f"{_span(amount, unit)} {_trigger_text(trigger, titles)} ({verb} {_fmt(start)})")


def _evaluate(rule: RegulatoryRule, inputs: ClockInputs, now: datetime,
              calendar: HolidayCalendar | None, titles: Mapping[str, str]) -> ClockState:
    satisfied = inputs.satisfied.get(rule.id)
    reason, note = _condition(rule, inputs)
    if reason:
        return ClockState(rule, ClockStatus.NOT_APPLICABLE, None, None, satisfied, None, None,
                          reason)
    tz = ZoneInfo(rule.zone or inputs.time_zone)
    clocks = [(rule.trigger, rule.amount, rule.unit)] + ([rule.cap] if rule.cap else [])
    known = [c for c in (_clock(*spec, inputs, tz, calendar, titles) for spec in clocks) if c]
    if not known:
        verb = "sent" if rule.trigger.startswith(RULE_TRIGGER_PREFIX) else "recorded"
        text = f"starts when {' or '.join(_trigger_text(c[0], titles) for c in clocks)} is {verb}"
        status = ClockStatus.SATISFIED if satisfied else ClockStatus.WAITING_TRIGGER
        return ClockState(rule, status, None, None, satisfied, None, None,
                          f"{note}: {text}" if note else text[0].upper() + text[1:])
    # With a cap ("no later than"), the earlier due of the recorded triggers wins.
    due_at, started_at, text = min(known, key=lambda c: c[0] or datetime.max.replace(tzinfo=UTC))
    if rule.cap:
        text += "; the earlier of " + " and ".join(
            f"{_span(n, u)} {_trigger_text(t, titles)}" for t, n, u in clocks)
    if note:
        text = f"{note}: {text[0].lower()}{text[1:]}"
    if satisfied is not None:
        late = due_at is not None and ensure_utc(satisfied.at) > due_at
        status = ClockStatus.SATISFIED_LATE if late else ClockStatus.SATISFIED
        text += f"; sent {_fmt(satisfied.at)}"
        if late and due_at is not None:
            text += f", {_duration(ensure_utc(satisfied.at) - due_at)} late"
        return ClockState(rule, status, started_at, due_at, satisfied, None, None, text)
    return _running(rule, started_at, due_at, text, now)


def _running(rule: RegulatoryRule, started_at: datetime, due_at: datetime | None, text: str,
             now: datetime) -> ClockState:
    """A started clock not satisfied: the only state that depends on `now`."""
    now = ensure_utc(now)
    elapsed = now - started_at
    if due_at is None:
        return ClockState(rule, ClockStatus.ELAPSED, started_at, None, None, None, elapsed, text)
    remaining = due_at - now
    if remaining < timedelta(0):
        status = ClockStatus.OVERDUE
    elif remaining <= (due_at - started_at) / 4 or remaining <= timedelta(hours=1):
        status = ClockStatus.DUE_SOON
    else:
        status = ClockStatus.RUNNING
    return ClockState(rule, status, started_at, due_at, None, remaining, elapsed, text)


_RUNNING = frozenset({ClockStatus.RUNNING, ClockStatus.DUE_SOON, ClockStatus.OVERDUE,
                      ClockStatus.ELAPSED})


def state_at(state: ClockState, now: datetime) -> ClockState:
    """A clock's state restated at another moment: equal to evaluating it again at `now` with
    the same inputs (which clocks apply, their due times and words do not depend on `now`)."""
    if state.status in _RUNNING and state.started_at is not None:
        return _running(state.rule, state.started_at, state.due_at, state.explanation, now)
    return state


def evaluate_clocks(rules: Sequence[RegulatoryRule], inputs: ClockInputs, now: datetime,
                    calendar: HolidayCalendar | None = None) -> list[ClockState]:
    """The state of every applicable clock, in the order of the rules table. Pure: with a
    calendar passed nothing is read from disk (without one it is loaded once, when needed)."""
    applicable = applicable_rules(rules, inputs.regimes, inputs.sla_minutes,
                                  inputs.regulatory_flag)
    if not applicable:   # an incident without clocks: no titles to look up
        return []
    titles = {rule.id: rule.title for rule in rules}
    return [_evaluate(rule, inputs, now, calendar, titles) for rule in applicable]
