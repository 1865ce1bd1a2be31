"""ClockRules' escalation rule table on a real migrated SQLite file: a new rule goes last, a
deleted rule comes back in its place (the undo of a delete), and a key that exists already is
refused with a message for the key field — by save_rule and by restore_rule alike."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app import events as ev
from app.clocks.escalation import rule_to_dict
from app.clocks.rules import ClockRules
from app.domain.models import EscalationRuleRow
from app.errors import ValidationError

NEW_RULE = {"key": "sev3_unresolved_240", "name": "SEV3 unresolved after 4 hours → management",
            "trigger": "time_threshold", "severity": "SEV3", "minutes": 240,
            "categories": ["management"], "template_type": "escalation_notice", "enabled": True}


@pytest.fixture
def bus() -> ev.EventBus:
    return ev.EventBus()


@pytest.fixture
def rules(store, bus) -> ClockRules:
    return ClockRules(store, bus)


@pytest.fixture
def changes(bus) -> list[object]:
    seen: list[object] = []
    bus.subscribe(ev.CLOCK_RULES_CHANGED, seen.append)
    return seen


def _keys(rules: ClockRules) -> list[str]:
    return [r.key for r in rules.escalation_rules()]


def _rows(store) -> list[tuple[str, int]]:
    with store.session() as session:
        return [(r.key, r.position) for r in session.scalars(
            select(EscalationRuleRow).order_by(EscalationRuleRow.position, EscalationRuleRow.id))]


def test_save_delete_restore_round_trip_keeps_the_rule_and_its_place(store, rules, changes):
    seeded = _rows(store)
    assert len(seeded) == 6

    added = rules.save_rule(NEW_RULE)
    assert _keys(rules)[-1] == "sev3_unresolved_240"
    assert _rows(store)[-1] == ("sev3_unresolved_240", max(p for _k, p in seeded) + 1)
    with_new = _rows(store)

    middle = rules.escalation_rules()[2]
    gone, position = rules.delete_rule(middle.key)
    assert gone == middle and position == dict(with_new)[middle.key]
    assert middle.key not in _keys(rules)

    rules.restore_rule(gone, position)
    assert _rows(store) == with_new                  # back in its place, not at the end
    assert rules.escalation_rules()[2] == middle

    # The rule added last round-trips too, with everything it was saved with.
    rules.restore_rule(*rules.delete_rule(added.key))
    assert rules.escalation_rules()[-1] == added
    assert rule_to_dict(added) == NEW_RULE
    assert _rows(store) == with_new
    assert changes == [None] * 5                      # save, delete, restore, delete, restore


def test_save_rule_refuses_a_key_that_exists(rules, changes):
    before = rules.escalation_rules()
    with pytest.raises(ValidationError) as refused:
        rules.save_rule({**NEW_RULE, "key": "sev1_unresolved_60"})
    assert refused.value.errors == {"key": "A rule “sev1_unresolved_60” exists already."}
    assert rules.escalation_rules() == before and changes == []


def test_restore_refuses_a_key_created_again_meanwhile(store, rules, changes):
    """Undoing a delete after someone re-created the key: a ValidationError for the key field
    (which the dialog's undo command shows), never an IntegrityError, and nothing changes."""
    deleted, position = rules.delete_rule("sev2_unresolved_120")
    again = rules.save_rule({**rule_to_dict(deleted), "name": "Re-created", "minutes": 90})
    after = _rows(store)
    changes.clear()

    with pytest.raises(ValidationError) as refused:
        rules.restore_rule(deleted, position)
    assert refused.value.errors == {"key": "A rule “sev2_unresolved_120” exists already."}
    assert str(refused.value) == "key: A rule “sev2_unresolved_120” exists already."
    assert _rows(store) == after
    assert [r for r in rules.escalation_rules() if r.key == "sev2_unresolved_120"] == [again]
    assert changes == []

    # Once the re-created rule is gone, the undo can put the original back in its place.
    rules.delete_rule(again.key)
    rules.restore_rule(deleted, position)
    assert rules.escalation_rules()[2] == deleted
    assert replace(deleted, name="Re-created", minutes=90) == again
