"""Escalation rules: which rules fire for an incident at a moment `now`, and what they propose.

Pure functions — no database, no Qt, no wall clock. A rule joins a trigger from the incident
communication guide (severity increase, time threshold exceeded, business impact, external
impact, regulatory threshold) to the stakeholder categories it proposes to notify and the
template the composer opens with. A rule only *proposes*; the coordinator decides, and the
proposal is recorded on the timeline under its condition key, so one condition never fires twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from app.clocks.wording import hm_utc
from app.domain.enums import Category, ImpactFlag, Phase, Severity, StrEnum
from app.errors import ValidationError, too_long
from app.messages.library import TYPES as TEMPLATE_TYPES
from app.paths import resource

DEFAULTS_FILE = ("escalation", "defaults.json")
MAX_MINUTES = 10080  # one week
MAX_NAME = 200
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class EscalationTrigger(StrEnum):
    SEVERITY_INCREASE = "severity_increase"
    TIME_THRESHOLD = "time_threshold"
    BUSINESS_IMPACT = "business_impact"
    EXTERNAL_IMPACT = "external_impact"
    REGULATORY_THRESHOLD = "regulatory_threshold"

    @property
    def label(self) -> str:
        return _TRIGGER_LABELS[self]


_TRIGGER_LABELS: dict[EscalationTrigger, str] = {
    EscalationTrigger.SEVERITY_INCREASE: "Severity increase",
    EscalationTrigger.TIME_THRESHOLD: "Time threshold exceeded",
    EscalationTrigger.BUSINESS_IMPACT: "Business impact flagged",
    EscalationTrigger.EXTERNAL_IMPACT: "External impact flagged",
    EscalationTrigger.REGULATORY_THRESHOLD: "Regulatory threshold",
}
_SEVERITY_TRIGGERS = frozenset({EscalationTrigger.SEVERITY_INCREASE,
                                EscalationTrigger.TIME_THRESHOLD})
_FLAG_OF: dict[EscalationTrigger, ImpactFlag] = {
    EscalationTrigger.BUSINESS_IMPACT: ImpactFlag.BUSINESS,
    EscalationTrigger.EXTERNAL_IMPACT: ImpactFlag.EXTERNAL,
    EscalationTrigger.REGULATORY_THRESHOLD: ImpactFlag.REGULATORY,
}
_FLAG_WORDING: dict[ImpactFlag, str] = {
    ImpactFlag.BUSINESS: "Business impact flagged",
    ImpactFlag.EXTERNAL: "External impact flagged",
    ImpactFlag.REGULATORY: "Regulatory threshold flagged",
}


@dataclass(frozen=True)
class EscalationRule:
    key: str                      # stable id, e.g. "sev_increase_sev2"
    name: str                     # what a coordinator reads
    trigger: EscalationTrigger
    severity: Severity | None     # the two severity-based triggers only
    minutes: int | None           # TIME_THRESHOLD only: unresolved this long after detection
    categories: tuple[Category, ...]
    template_type: str
    enabled: bool = True


def _whole_number(value: object) -> int | None:
    """An int, or the text of one ("45" from a form); None for anything else (bools too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_rule(values: Mapping[str, object]) -> tuple[EscalationRule | None, dict[str, str]]:
    """Check a rule from a form or from storage: (rule, {}) or (None, {field: message})."""
    errors: dict[str, str] = {}
    key = values.get("key")
    key = key.strip() if isinstance(key, str) else key
    if _empty(key):
        errors["key"] = "A rule needs a key (a short stable id such as sev_increase_sev2)."
    elif not isinstance(key, str) or not _KEY.match(key):
        errors["key"] = "Use up to 80 letters, digits, '_', '-' or '.' (no spaces or ':')."
    name = values.get("name")
    name = name.strip() if isinstance(name, str) else name
    if _empty(name) or not isinstance(name, str):
        errors["name"] = "A rule needs a name the coordinator understands."
    elif len(name) > MAX_NAME:
        errors["name"] = too_long("The name", MAX_NAME, len(name))

    trigger: EscalationTrigger | None = None
    try:
        trigger = EscalationTrigger(values.get("trigger"))
    except ValueError:
        choices = ", ".join(t.label.lower() for t in EscalationTrigger)
        errors["trigger"] = f"Choose a trigger: {choices}."

    severity: Severity | None = None
    raw_severity = values.get("severity")
    if trigger in _SEVERITY_TRIGGERS:
        try:
            severity = Severity(raw_severity)
        except ValueError:
            errors["severity"] = ("Choose a severity (SEV1–SEV4): the rule applies at that "
                                  "severity or worse.")
    elif trigger is not None and not _empty(raw_severity):
        errors["severity"] = "Only severity increase and time threshold rules take a severity."

    minutes: int | None = None
    raw_minutes = values.get("minutes")
    if trigger == EscalationTrigger.TIME_THRESHOLD:
        number = _whole_number(raw_minutes)
        if _empty(raw_minutes):
            errors["minutes"] = "A time threshold needs a number of minutes after detection."
        elif number is None:
            errors["minutes"] = f"Enter a whole number of minutes (not {raw_minutes!r})."
        elif not 1 <= number <= MAX_MINUTES:
            errors["minutes"] = f"Must be between 1 and {MAX_MINUTES} minutes (one week)."
        else:
            minutes = number
    elif trigger is not None and not _empty(raw_minutes):
        errors["minutes"] = "Only time threshold rules take minutes; leave it empty."

    categories: list[Category] = []
    raw_categories = values.get("categories")
    items: list[object]
    if isinstance(raw_categories, (list, tuple, set, frozenset)):
        items = list(raw_categories)
    else:
        items = [] if _empty(raw_categories) else [raw_categories]
    bad: list[str] = []
    for item in items:
        try:
            category = Category(item)
        except ValueError:
            bad.append(str(item))
            continue
        if category not in categories:
            categories.append(category)
    if bad:
        errors["categories"] = f"Unknown stakeholder categor{'ies' if len(bad) > 1 else 'y'}: " \
                               f"{', '.join(bad)}."
    elif not categories:
        errors["categories"] = "Choose at least one stakeholder category to notify."

    template_type = values.get("template_type")
    if template_type not in TEMPLATE_TYPES:
        errors["template_type"] = f"Choose a template type: {', '.join(TEMPLATE_TYPES)}."

    enabled = values.get("enabled", True)
    if not isinstance(enabled, bool):
        errors["enabled"] = "Enabled is yes or no."

    if errors or trigger is None or not isinstance(key, str) or not isinstance(name, str) \
            or not isinstance(template_type, str) or not isinstance(enabled, bool):
        return None, errors
    return EscalationRule(key=key, name=name, trigger=trigger, severity=severity,
                          minutes=minutes, categories=tuple(categories),
                          template_type=template_type, enabled=enabled), {}


def rule_to_dict(rule: EscalationRule) -> dict[str, object]:
    """A JSON-ready dict (enum values as strings); rule_from_dict reads it back."""
    return {
        "key": rule.key,
        "name": rule.name,
        "trigger": rule.trigger.value,
        "severity": rule.severity.value if rule.severity is not None else None,
        "minutes": rule.minutes,
        "categories": [c.value for c in rule.categories],
        "template_type": rule.template_type,
        "enabled": rule.enabled,
    }


def rule_from_dict(d: Mapping[str, object]) -> EscalationRule:
    """The rule a dict stores; raises app.errors.ValidationError when it is not a valid rule."""
    rule, errors = validate_rule(d)
    if rule is None:
        raise ValidationError(errors)
    return rule


@lru_cache(maxsize=1)
def _default_rules() -> tuple[EscalationRule, ...]:
    with open(resource(*DEFAULTS_FILE), encoding="utf-8") as fh:
        data = json.load(fh)
    return tuple(rule_from_dict(entry) for entry in data["rules"])


def load_default_rules() -> list[EscalationRule]:
    """The built-in rules (resources/escalation/defaults.json, read once)."""
    return list(_default_rules())


@dataclass(frozen=True)
class SeverityChange:
    at: datetime
    old: Severity
    new: Severity


@dataclass(frozen=True)
class FlagChange:
    at: datetime
    flag: ImpactFlag
    value: bool


@dataclass(frozen=True)
class EscalationInputs:
    severity: Severity
    phase: Phase
    detected_at: datetime
    impact_business: bool
    impact_external: bool
    impact_regulatory: bool
    severity_changes: Sequence[SeverityChange]
    flag_changes: Sequence[FlagChange]
    fired: frozenset[str]         # condition keys already proposed for this incident


@dataclass(frozen=True)
class Proposal:
    rule: EscalationRule
    condition_key: str            # unique per condition: never fires twice
    reason: str
    condition_at: datetime        # when the condition became true
    categories: tuple[Category, ...]
    template_type: str
    times: tuple[datetime, ...] = ()   # the reason's times, in order (app.clocks.wording)


def _flag_set_at(inputs: EscalationInputs, flag: ImpactFlag) -> datetime | None:
    """When the flag that is set now was set: its latest setting change, else detection."""
    current = {ImpactFlag.BUSINESS: inputs.impact_business,
               ImpactFlag.EXTERNAL: inputs.impact_external,
               ImpactFlag.REGULATORY: inputs.impact_regulatory}[flag]
    if not current:
        return None
    latest: datetime | None = None
    for change in inputs.flag_changes:
        if change.flag == flag and change.value and (latest is None or change.at > latest):
            latest = change.at
    return latest if latest is not None else inputs.detected_at


def evaluate_rules(rules: Sequence[EscalationRule], inputs: EscalationInputs,
                   now: datetime) -> list[Proposal]:
    """The proposals of the enabled rules whose conditions hold at `now` and have not fired."""
    if inputs.phase in (Phase.RESOLVED, Phase.CLOSED):
        return []
    seen: set[str] = set(inputs.fired)
    proposals: list[Proposal] = []

    def propose(rule: EscalationRule, key: str, at: datetime, reason: str,
                mentioned: datetime) -> None:
        if key in seen or at > now:
            return
        seen.add(key)
        proposals.append(Proposal(rule=rule, condition_key=key, reason=reason, condition_at=at,
                                  categories=rule.categories, template_type=rule.template_type,
                                  times=(mentioned,)))

    increases = sorted((c for c in inputs.severity_changes if c.new.rank < c.old.rank),
                       key=lambda c: c.at)
    for rule in rules:
        if not rule.enabled:
            continue
        if rule.trigger == EscalationTrigger.SEVERITY_INCREASE and rule.severity is not None:
            for change in increases:
                if change.new.rank <= rule.severity.rank:
                    propose(rule, f"{rule.key}:to:{change.new.value}", change.at,
                            f"Severity raised {change.old.value} → {change.new.value} "
                            f"at {hm_utc(change.at)}", change.at)
        elif rule.trigger == EscalationTrigger.TIME_THRESHOLD:
            if rule.severity is None or rule.minutes is None:
                continue
            due = inputs.detected_at + timedelta(minutes=rule.minutes)
            if inputs.severity.rank <= rule.severity.rank and now >= due:
                propose(rule, rule.key, due,
                        f"{inputs.severity.value} unresolved {rule.minutes} min after detection "
                        f"({hm_utc(inputs.detected_at)})", inputs.detected_at)
        else:
            flag = _FLAG_OF.get(rule.trigger)
            at = _flag_set_at(inputs, flag) if flag is not None else None
            if flag is not None and at is not None:
                propose(rule, rule.key, at, f"{_FLAG_WORDING[flag]} at {hm_utc(at)}", at)
    proposals.sort(key=lambda p: (p.condition_at, p.rule.key, p.condition_key))
    return proposals
