"""Escalation rules (app/clocks/escalation.py): what fires, once, and the rule validation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from app.domain.enums import Category, ImpactFlag, Phase, Severity
from app.errors import ValidationError
from app.clocks.escalation import (
    EscalationInputs, EscalationRule, EscalationTrigger, FlagChange, SeverityChange,
    evaluate_rules, load_default_rules, rule_from_dict, rule_to_dict, validate_rule,
)


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 3, 3, hh, mm, tzinfo=timezone.utc)


T0 = at(10)
S1, S2, S3, S4 = Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4

SEV_UP = EscalationRule("sev_up", "Severity raised to SEV2 or worse → management",
                        EscalationTrigger.SEVERITY_INCREASE, S2, None,
                        (Category.MANAGEMENT,), "escalation_notice")
SEV1_60 = EscalationRule("sev1_60", "SEV1 unresolved after 60 min → executives",
                         EscalationTrigger.TIME_THRESHOLD, S1, 60,
                         (Category.EXECUTIVES,), "escalation_notice")
BUSINESS = EscalationRule("biz", "Business impact → business units",
                          EscalationTrigger.BUSINESS_IMPACT, None, None,
                          (Category.BUSINESS_UNIT, Category.MANAGEMENT), "escalation_notice")
EXTERNAL = EscalationRule("ext", "External impact → customers",
                          EscalationTrigger.EXTERNAL_IMPACT, None, None,
                          (Category.CUSTOMERS,), "status_update")
REGULATORY = EscalationRule("reg", "Regulatory threshold → compliance",
                            EscalationTrigger.REGULATORY_THRESHOLD, None, None,
                            (Category.COMPLIANCE_LEGAL,), "escalation_notice")
ALL = (SEV_UP, SEV1_60, BUSINESS, EXTERNAL, REGULATORY)


def inputs(severity: Severity = S3, phase: Phase = Phase.INVESTIGATING, *,
           changes: tuple[SeverityChange, ...] = (), flags: tuple[FlagChange, ...] = (),
           business: bool = False, external: bool = False, regulatory: bool = False,
           fired: frozenset[str] = frozenset()) -> EscalationInputs:
    return EscalationInputs(severity=severity, phase=phase, detected_at=T0,
                            impact_business=business, impact_external=external,
                            impact_regulatory=regulatory, severity_changes=changes,
                            flag_changes=flags, fired=fired)


def keys(rules, inp, now) -> list[str]:
    return [p.condition_key for p in evaluate_rules(rules, inp, now)]


# --- severity increase ---------------------------------------------------------------------------

def test_severity_increase_to_the_rule_severity_fires_with_a_reason():
    inp = inputs(S2, changes=(SeverityChange(at(10, 12), S3, S2),))
    [proposal] = evaluate_rules([SEV_UP], inp, at(10, 13))
    assert proposal.condition_key == "sev_up:to:SEV2"
    assert proposal.reason == "Severity raised SEV3 → SEV2 at 10:12 UTC"
    assert proposal.condition_at == at(10, 12)
    assert proposal.categories == (Category.MANAGEMENT,)
    assert proposal.template_type == "escalation_notice" and proposal.rule is SEV_UP


def test_severity_increase_not_reaching_the_rule_severity_or_a_decrease_does_not_fire():
    up_to_sev3 = inputs(S3, changes=(SeverityChange(at(10, 5), S4, S3),))
    assert keys([SEV_UP], up_to_sev3, at(11)) == []
    down = inputs(S3, changes=(SeverityChange(at(10, 5), S1, S3),))
    assert keys([SEV_UP], down, at(11)) == []


def test_sev3_to_sev2_to_sev1_fires_twice():
    changes = (SeverityChange(at(10, 30), S2, S1), SeverityChange(at(10, 10), S3, S2))
    proposals = evaluate_rules([SEV_UP], inputs(S1, changes=changes), at(11))
    assert [p.condition_key for p in proposals] == ["sev_up:to:SEV2", "sev_up:to:SEV1"]
    assert proposals[1].reason == "Severity raised SEV2 → SEV1 at 10:30 UTC"


def test_sev1_to_sev2_to_sev1_does_not_fire_again_for_sev1():
    changes = (SeverityChange(at(10, 5), S3, S1), SeverityChange(at(10, 20), S1, S2),
               SeverityChange(at(10, 40), S2, S1))
    # All at once: "to SEV1" once (the first time), never "to SEV2" (that was a decrease).
    assert keys([SEV_UP], inputs(S1, changes=changes), at(11)) == ["sev_up:to:SEV1"]
    fired = frozenset({"sev_up:to:SEV1"})
    assert keys([SEV_UP], inputs(S1, changes=changes, fired=fired), at(11)) == []


def test_a_severity_rule_at_sev1_ignores_increases_to_sev2():
    rule = replace(SEV_UP, key="sev1_only", severity=S1)
    changes = (SeverityChange(at(10, 10), S3, S2), SeverityChange(at(10, 30), S2, S1))
    assert keys([rule], inputs(S1, changes=changes), at(11)) == ["sev1_only:to:SEV1"]


# --- time threshold ------------------------------------------------------------------------------

def test_time_threshold_before_and_after():
    inp = inputs(S1)
    assert keys([SEV1_60], inp, at(10, 59)) == []
    [proposal] = evaluate_rules([SEV1_60], inp, at(11))
    assert proposal.condition_key == "sev1_60"
    assert proposal.condition_at == at(11)
    assert proposal.reason == "SEV1 unresolved 60 min after detection (10:00 UTC)"


def test_time_threshold_applies_only_at_its_severity_or_worse():
    assert keys([SEV1_60], inputs(S2), at(12)) == []
    sev2_rule = replace(SEV1_60, key="sev2_120", severity=S2, minutes=120)
    assert keys([sev2_rule], inputs(S1), at(12)) == ["sev2_120"]
    assert keys([sev2_rule], inputs(S3), at(12)) == []


# --- flags ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "flag", "field", "wording"), [
    (BUSINESS, ImpactFlag.BUSINESS, "business", "Business impact flagged at 10:20 UTC"),
    (EXTERNAL, ImpactFlag.EXTERNAL, "external", "External impact flagged at 10:20 UTC"),
    (REGULATORY, ImpactFlag.REGULATORY, "regulatory", "Regulatory threshold flagged at 10:20 UTC"),
])
def test_flag_triggers_fire_while_set_at_the_latest_setting(rule, flag, field, wording):
    flags = (FlagChange(at(10, 5), flag, True), FlagChange(at(10, 10), flag, False),
             FlagChange(at(10, 20), flag, True))
    [proposal] = evaluate_rules([rule], inputs(flags=flags, **{field: True}), at(10, 30))
    assert proposal.condition_key == rule.key
    assert proposal.condition_at == at(10, 20)
    assert proposal.reason == wording
    assert proposal.categories == rule.categories
    assert proposal.template_type == rule.template_type


def test_flag_set_then_cleared_does_not_propose():
    flags = (FlagChange(at(10, 5), ImpactFlag.BUSINESS, True),
             FlagChange(at(10, 10), ImpactFlag.BUSINESS, False))
    assert keys([BUSINESS], inputs(flags=flags, business=False), at(10, 30)) == []


def test_flag_set_at_open_counts_from_detection():
    [proposal] = evaluate_rules([EXTERNAL], inputs(external=True), at(10, 1))
    assert proposal.condition_at == T0
    assert proposal.reason == "External impact flagged at 10:00 UTC"


def test_a_flag_rule_only_looks_at_its_own_flag():
    assert keys([BUSINESS, REGULATORY], inputs(external=True), at(11)) == []


# --- common semantics ----------------------------------------------------------------------------

def everything(phase: Phase = Phase.RESPONDING, fired: frozenset[str] = frozenset()):
    return inputs(S1, phase, changes=(SeverityChange(at(10, 10), S3, S1),),
                  flags=(FlagChange(at(10, 20), ImpactFlag.BUSINESS, True),),
                  business=True, external=True, regulatory=True, fired=fired)


def test_every_trigger_fires_sorted_by_condition_time():
    proposals = evaluate_rules(ALL, everything(), at(11, 30))
    assert [p.condition_key for p in proposals] == ["ext", "reg", "sev_up:to:SEV1", "biz",
                                                    "sev1_60"]
    times = [p.condition_at for p in proposals]
    assert times == sorted(times)


def test_fired_keys_never_fire_twice():
    first = keys(ALL, everything(), at(11, 30))
    assert keys(ALL, everything(fired=frozenset(first)), at(11, 30)) == []


def test_disabled_rules_never_fire():
    disabled = [replace(rule, enabled=False) for rule in ALL]
    assert evaluate_rules(disabled, everything(), at(11, 30)) == []
    assert keys(disabled[:2] + [BUSINESS], everything(), at(11, 30)) == ["biz"]


@pytest.mark.parametrize("phase", [Phase.RESOLVED, Phase.CLOSED])
def test_resolved_and_closed_incidents_get_no_proposals(phase):
    assert evaluate_rules(ALL, everything(phase), at(12)) == []


def test_detected_and_investigating_do_get_proposals():
    assert keys([EXTERNAL], everything(Phase.DETECTED), at(10, 1)) == ["ext"]


# --- defaults and storage ------------------------------------------------------------------------

def test_default_rules_load_and_cover_every_trigger():
    rules = load_default_rules()
    assert {r.trigger for r in rules} == set(EscalationTrigger)
    assert len({r.key for r in rules}) == len(rules)
    by_key = {r.key: r for r in rules}
    up = by_key["sev_increase_sev2"]
    assert up.severity == S2
    assert set(up.categories) == {Category.MANAGEMENT, Category.EXECUTIVES}
    assert by_key["sev1_unresolved_60"].minutes == 60
    assert by_key["sev2_unresolved_120"].categories == (Category.MANAGEMENT,)
    assert Category.BUSINESS_UNIT in by_key["business_impact"].categories
    assert Category.CUSTOMERS in by_key["external_impact"].categories
    assert Category.COMPLIANCE_LEGAL in by_key["regulatory_threshold"].categories
    assert all(r.enabled and r.name and r.template_type == "escalation_notice" for r in rules)


def test_defaults_round_trip_through_dicts_and_json():
    for rule in load_default_rules():
        stored = json.loads(json.dumps(rule_to_dict(rule)))
        assert rule_from_dict(stored) == rule
    assert rule_from_dict(rule_to_dict(replace(SEV_UP, enabled=False))).enabled is False


def test_rule_from_dict_refuses_a_bad_rule():
    with pytest.raises(ValidationError) as info:
        rule_from_dict({**rule_to_dict(SEV_UP), "categories": []})
    assert "categories" in info.value.errors


def test_trigger_labels():
    assert [t.label for t in EscalationTrigger] == [
        "Severity increase", "Time threshold exceeded", "Business impact flagged",
        "External impact flagged", "Regulatory threshold"]


GOOD = {"key": "sev1_after_30", "name": "SEV1 after 30 min → executives",
        "trigger": "time_threshold", "severity": "SEV1", "minutes": 30,
        "categories": ["executives", "management"], "template_type": "escalation_notice"}


def test_validate_rule_accepts_good_values():
    rule, errors = validate_rule(GOOD)
    assert errors == {}
    assert rule == EscalationRule("sev1_after_30", "SEV1 after 30 min → executives",
                                  EscalationTrigger.TIME_THRESHOLD, S1, 30,
                                  (Category.EXECUTIVES, Category.MANAGEMENT), "escalation_notice")
    flag_rule, errors = validate_rule({**GOOD, "trigger": "business_impact", "severity": None,
                                       "minutes": ""})
    assert errors == {} and flag_rule.severity is None and flag_rule.minutes is None


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"key": ""}, "key", "needs a key"),
    ({"key": "has space"}, "key", "no spaces"),
    ({"key": "a:b"}, "key", "':'"),
    ({"name": "  "}, "name", "needs a name"),
    ({"trigger": "moon_phase"}, "trigger", "Choose a trigger"),
    ({"severity": None}, "severity", "Choose a severity"),
    ({"trigger": "severity_increase", "severity": "SEV9", "minutes": None}, "severity",
     "Choose a severity"),
    ({"trigger": "external_impact", "severity": "SEV1", "minutes": None}, "severity",
     "Only severity increase and time threshold rules take a severity"),
    ({"minutes": 0}, "minutes", "between 1 and 10080"),
    ({"minutes": 10081}, "minutes", "between 1 and 10080"),
    ({"minutes": None}, "minutes", "needs a number of minutes"),
    ({"minutes": 1.5}, "minutes", "whole number"),
    ({"trigger": "severity_increase", "minutes": 30}, "minutes", "leave it empty"),
    ({"categories": []}, "categories", "at least one"),
    ({"categories": ["management", "aliens"]}, "categories",
     "Unknown stakeholder category: aliens"),
    ({"template_type": "haiku"}, "template_type", "Choose a template type"),
])
def test_validate_rule_messages(changes, field, message):
    rule, errors = validate_rule({**GOOD, **changes})
    assert rule is None
    assert list(errors) == [field]
    assert message in errors[field]


def test_validate_rule_time_threshold_minutes_accept_a_typed_number():
    rule, _ = validate_rule({**GOOD, "minutes": "45"})
    assert rule is not None and rule.minutes == 45
