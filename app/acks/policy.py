"""Which messages ask their recipients to confirm, and how long to wait for it (issue 25).

Per stakeholder category: the template types whose messages ask it to reply YES (by default
resolution notices to executives, customers and regulators), and the minutes to wait for the
confirmation per severity before proposing to reach the person another way (by default 30 for
SEV1–2, 120 for SEV3–4). The defaults are resources/acks/defaults.json; the coordinator's edits
are rows of `ack_policies` (one per category edited), whose triggers move every open incident's
clock counter. The composer reads the ask, the clocks the wait."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.clock import Clock
from app.domain.enums import Category, Severity
from app.errors import ValidationError
from app.messages.library import TYPE_LABELS, TYPES
from app.paths import resource

DEFAULTS_FILE = ("acks", "defaults.json")
MAX_WAIT = 10080          # a week, in minutes
SEVERITIES = tuple(s.value for s in Severity)


@dataclass(frozen=True)
class CategoryPolicy:
    category: str
    ask_types: tuple[str, ...] = ()
    wait: Mapping[str, int] = field(default_factory=dict)   # severity -> minutes
    edited: bool = False                                     # differs from the defaults' row

    def asks(self, template_type: str) -> bool:
        return template_type in self.ask_types

    def wait_minutes(self, severity: str) -> int:
        return int(self.wait[str(severity)])


@lru_cache(maxsize=1)
def defaults() -> dict[str, CategoryPolicy]:
    data = json.loads(resource(*DEFAULTS_FILE).read_text(encoding="utf-8"))
    wait = {s: int(data["wait"][s]) for s in SEVERITIES}
    return {c.value: CategoryPolicy(c.value, tuple(data["categories"][c.value]["ask_types"]),
                                    dict(wait)) for c in Category}


def asked_categories(policies: Mapping[str, CategoryPolicy], template_type: str) -> list[str]:
    """The categories a message of this type asks to confirm by default, in the map's order."""
    return [c.value for c in Category if policies[c.value].asks(template_type)]


def validate(category: str, ask_types: Iterable[str],
             wait: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, int]]:
    """The edit as stored, or ValidationError naming the field (`wait.SEV2`, `ask_types`)."""
    errors: dict[str, str] = {}
    try:
        Category(category)
    except ValueError:
        raise ValidationError({"category": f"Unknown stakeholder category “{category}”."}) \
            from None
    types = tuple(dict.fromkeys(ask_types))
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        errors["ask_types"] = f"Unknown template type “{unknown[0]}”."
    minutes: dict[str, int] = {}
    for severity in SEVERITIES:
        raw = wait.get(severity)
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            value = None
        if value is None or not 1 <= value <= MAX_WAIT:
            errors[f"wait.{severity}"] = (f"The wait for {severity} must be a whole number of "
                                          f"minutes from 1 to {MAX_WAIT:,} (a week).")
            continue
        minutes[severity] = value
    if errors:
        raise ValidationError(errors)
    return tuple(t for t in TYPES if t in types), minutes


class AckPolicies:
    """Reading and editing the policy (one short transaction each). A change is told as a
    clock rules change: the wait is a clock rule, and the composer's default follows it."""

    def __init__(self, store: Any, clock: Clock | None = None,
                 events: Any = None) -> None:
        self.store, self.clock, self.events = store, clock, events

    def load(self) -> dict[str, CategoryPolicy]:
        from sqlalchemy import select

        from app.domain.models import AckPolicyRow

        out = dict(defaults())
        with self.store.reading() as session:
            for row in session.scalars(select(AckPolicyRow)):
                if row.category not in out:
                    continue
                wait = {"SEV1": row.wait_sev1, "SEV2": row.wait_sev2, "SEV3": row.wait_sev3,
                        "SEV4": row.wait_sev4}
                types = tuple(t for t in TYPES if t in (row.ask_types or []))
                base = out[row.category]
                out[row.category] = CategoryPolicy(
                    row.category, types, wait,
                    edited=(types, dict(wait)) != (base.ask_types, dict(base.wait)))
        return out

    def save(self, category: str, ask_types: Iterable[str],
             wait: Mapping[str, Any]) -> CategoryPolicy:
        """Store one category's policy (the defaults' own values remove the edit)."""
        from app.domain.models import AckPolicyRow

        types, minutes = validate(category, ask_types, wait)
        base = defaults()[category]
        if self.clock is None:
            raise RuntimeError("saving the acknowledgement policy needs a clock")
        with self.store.session() as session, session.begin():
            row = session.get(AckPolicyRow, category)
            if (types, minutes) == (base.ask_types, dict(base.wait)):
                if row is not None:
                    session.delete(row)
                out = base
            else:
                if row is None:
                    row = AckPolicyRow(category=category)
                    session.add(row)
                row.ask_types = list(types)
                row.wait_sev1, row.wait_sev2 = minutes["SEV1"], minutes["SEV2"]
                row.wait_sev3, row.wait_sev4 = minutes["SEV3"], minutes["SEV4"]
                row.updated_at = self.clock.now()
                out = CategoryPolicy(category, types, minutes, edited=True)
        if self.events is not None:
            from app.events import CLOCK_RULES_CHANGED

            self.events.publish(CLOCK_RULES_CHANGED, None)
        return out

    def reset(self, category: str) -> CategoryPolicy:
        base = defaults()[category]
        return self.save(category, base.ask_types, base.wait)


def describe(policies: Mapping[str, CategoryPolicy], template_type: str) -> str:
    """"Resolution notice asks executives, customers and regulators to confirm" or ""."""
    names = [Category(c).label.lower() for c in asked_categories(policies, template_type)]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{TYPE_LABELS[template_type]} asks {listed} to confirm"
