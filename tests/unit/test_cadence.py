"""Update cadence (app/clocks/cadence.py): what is due, when it becomes overdue, and the statistics."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.clocks.cadence import (
    FIRST_COMMUNICATION_TARGET, CadenceInputs, CadencePolicy, Communication, Roster,
    StakeholderInfo,
    evaluate_cadence, load_default_policies, validate_policy,
)
from app.domain.enums import Category, Phase, Severity, TimingNeed


def at(hh: int, mm: int = 0, day: int = 3) -> datetime:
    return datetime(2026, 3, day, hh, mm, tzinfo=timezone.utc)


T0 = at(10, 0)
POLICY = CadencePolicy(severity=Severity.SEV2, acknowledge_minutes=15, investigating_minutes=30,
                       responding_minutes=60, resolution_minutes=30, summary_hours=24)

USERS = StakeholderInfo(1, "All staff", Category.AFFECTED_USERS, TimingNeed.IMMEDIATE, 60)
IT = StakeholderInfo(2, "Service desk", Category.IT_STAFF_MSP, TimingNeed.IMMEDIATE, 30)
MGMT = StakeholderInfo(3, "Ops manager", Category.MANAGEMENT, TimingNeed.RAPID, 30)
MEDIA = StakeholderInfo(4, "Press office", Category.MEDIA, TimingNeed.IF_NEEDED, None)
PEOPLE = (USERS, IT, MGMT, MEDIA)

_ids = iter(range(1, 10_000))


def comm(who: int | None, queued: datetime, template: str = "status_update",
         sent: datetime | None = None) -> Communication:
    return Communication(stakeholder_id=who, queued_at=queued, sent_at=sent,
                         template_type=template, message_id=next(_ids))


def inputs(phase: Phase = Phase.INVESTIGATING, *, since: datetime | None = None,
           comms: tuple[Communication, ...] = (), resolved: datetime | None = None,
           fact: datetime | None = None, severity: Severity = Severity.SEV2,
           people: tuple[StakeholderInfo, ...] = PEOPLE) -> CadenceInputs:
    return CadenceInputs(severity=severity, phase=phase, detected_at=T0,
                         phase_since=since or T0, resolved_at=resolved, last_fact_change_at=fact,
                         stakeholders=people, communications=comms)


def items(policy: CadencePolicy, inp: CadenceInputs, now: datetime) -> dict[str, object]:
    return {i.key: i for i in evaluate_cadence(policy, inp, now).items}


ACKED = (comm(1, at(10, 5), "initial_acknowledgment"), comm(2, at(10, 5), "initial_acknowledgment"))


# --- acknowledgment ------------------------------------------------------------------------------

def test_acknowledgment_due_15_min_after_detection_for_unreached_immediate_stakeholders():
    found = items(POLICY, inputs(Phase.DETECTED), at(10, 10))
    ack = found["acknowledgment"]
    assert ack.template_type == "initial_acknowledgment"
    assert ack.title == "Initial acknowledgment"
    assert ack.due_at == at(10, 15)
    assert ack.stakeholder_ids == (1, 2)          # immediate only, sorted; not management/media
    assert not ack.overdue
    assert items(POLICY, inputs(Phase.DETECTED), at(10, 15))["acknowledgment"].overdue
    assert "status_update" not in found           # detected: the acknowledgment covers it


def test_acknowledgment_narrows_then_disappears_once_every_immediate_stakeholder_is_reached():
    update_one = (comm(1, at(10, 5), "status_update"),)
    one = items(POLICY, inputs(Phase.DETECTED, comms=update_one), at(10, 20))
    assert one["acknowledgment"].stakeholder_ids == (2,)
    both = items(POLICY, inputs(Phase.INVESTIGATING, comms=(
        comm(1, at(10, 5), "status_update"), comm(2, at(10, 6), "escalation_notice"))),
        at(10, 20))
    assert "acknowledgment" not in both


def test_an_acknowledgment_to_some_immediate_stakeholders_is_the_acknowledgment():
    """The coordinator chose its audience: the ones left out are not owed another one."""
    found = items(POLICY, inputs(Phase.INVESTIGATING, comms=ACKED[:1]), at(10, 20))
    assert "acknowledgment" not in found


def test_acknowledgment_still_due_after_moving_to_investigating_but_not_once_resolved():
    assert "acknowledgment" in items(POLICY, inputs(Phase.RESPONDING), at(11))
    resolved = inputs(Phase.RESOLVED, since=at(11), resolved=at(11))
    assert "acknowledgment" not in items(POLICY, resolved, at(11, 5))


def test_a_communication_without_a_stakeholder_reaches_nobody():
    found = items(POLICY, inputs(Phase.DETECTED, comms=(comm(None, at(10, 2)),)), at(10, 5))
    assert found["acknowledgment"].stakeholder_ids == (1, 2)


# --- status update -------------------------------------------------------------------------------

def test_status_update_every_30_min_while_investigating_from_the_last_communication():
    inp = inputs(Phase.INVESTIGATING, since=at(10, 2), comms=ACKED)
    update = items(POLICY, inp, at(10, 29))["status_update"]
    assert update.due_at == at(10, 35)
    assert update.template_type == "status_update" and update.title == "Status update"
    assert update.stakeholder_ids == (1, 2)       # the audience so far
    assert update.detail == ("Investigating at SEV2: an update every 30 min; "
                             "last update 10:05 UTC")
    assert not update.overdue
    assert items(POLICY, inp, at(10, 35))["status_update"].overdue


def test_status_update_not_overdue_at_10_29_overdue_at_10_31():
    inp = inputs(Phase.INVESTIGATING, since=at(10, 0), comms=(comm(1, at(10, 0)),))
    assert not items(POLICY, inp, at(10, 29))["status_update"].overdue
    assert items(POLICY, inp, at(10, 31))["status_update"].overdue


def test_status_update_counts_from_phase_entry_when_that_is_later():
    inp = inputs(Phase.RESPONDING, since=at(10, 40), comms=ACKED)
    update = items(POLICY, inp, at(10, 45))["status_update"]
    assert update.due_at == at(11, 40)            # responding: 60 min fallback at SEV2
    assert "responding since 10:40 UTC" in update.detail


def test_status_update_goes_to_immediate_stakeholders_when_nobody_was_reached():
    update = items(POLICY, inputs(Phase.INVESTIGATING), at(10, 5))["status_update"]
    assert update.stakeholder_ids == (1, 2)
    assert update.due_at == at(10, 30)


def test_status_update_audience_includes_anyone_reached_in_any_template():
    comms = ACKED + (comm(3, at(10, 20), "escalation_notice"),)
    update = items(POLICY, inputs(Phase.INVESTIGATING, comms=comms), at(10, 25))["status_update"]
    assert update.stakeholder_ids == (1, 2, 3)
    assert update.due_at == at(10, 50)            # the escalation notice counts as a communication


def test_no_status_update_in_detected_resolved_or_closed():
    for phase in (Phase.DETECTED, Phase.RESOLVED, Phase.CLOSED):
        found = items(POLICY, inputs(phase, comms=ACKED, resolved=T0), at(12))
        assert "status_update" not in found and "fact_change" not in found, phase


@pytest.mark.parametrize(("severity", "investigating", "responding"), [
    (Severity.SEV1, 30, 30), (Severity.SEV2, 30, 60), (Severity.SEV3, 45, 60),
    (Severity.SEV4, 60, 120),
])
def test_severity_sets_the_interval(severity, investigating, responding):
    policy = load_default_policies()[severity]
    comms = (comm(1, at(10)),)
    inv = items(policy, inputs(Phase.INVESTIGATING, comms=comms, severity=severity), at(10, 1))
    assert inv["status_update"].due_at == at(10) + timedelta(minutes=investigating)
    assert f"Investigating at {severity.value}" in inv["status_update"].detail
    resp = items(policy, inputs(Phase.RESPONDING, comms=comms, severity=severity), at(10, 1))
    assert resp["status_update"].due_at == at(10) + timedelta(minutes=responding)


# --- fact change ---------------------------------------------------------------------------------

def test_fact_change_after_the_last_update_proposes_an_update_a_few_minutes_later():
    inp = inputs(Phase.RESPONDING, since=at(10, 10), comms=ACKED, fact=at(10, 20))
    change = items(POLICY, inp, at(10, 21))["fact_change"]
    # not overdue the moment the fact is saved: the policy's delay (default 10 min) first
    assert POLICY.fact_update_minutes == 10
    assert change.due_at == at(10, 30) and not change.overdue
    assert items(POLICY, inp, at(10, 31))["fact_change"].overdue
    assert change.template_type == "status_update"
    assert change.title == "Update after a fact change"
    assert change.stakeholder_ids == (1, 2)
    assert "10:20 UTC" in change.detail and "10:05 UTC" in change.detail
    assert "an update within 10 min" in change.detail
    assert "fact_change" in items(POLICY, replace(inp, phase=Phase.INVESTIGATING), at(10, 21))
    at_once = items(replace(POLICY, fact_update_minutes=0), inp, at(10, 21))["fact_change"]
    assert at_once.due_at == at(10, 20) and at_once.overdue and "an update now" in at_once.detail


def test_no_fact_change_item_when_an_update_followed_the_change():
    comms = ACKED + (comm(1, at(10, 25)),)
    inp = inputs(Phase.RESPONDING, comms=comms, fact=at(10, 20))
    assert "fact_change" not in items(POLICY, inp, at(10, 30))
    assert "fact_change" not in items(POLICY, replace(inp, last_fact_change_at=None), at(10, 30))


# --- resolution and summary ----------------------------------------------------------------------

def test_resolution_notice_and_summary_due_after_resolution():
    inp = inputs(Phase.RESOLVED, since=at(11), resolved=at(11), comms=ACKED)
    found = items(POLICY, inp, at(11, 29))
    notice, summary = found["resolution_notice"], found["post_incident_summary"]
    assert notice.due_at == at(11, 30) and not notice.overdue
    assert notice.template_type == "resolution_notice" and notice.title == "Resolution notice"
    assert notice.stakeholder_ids == (1, 2)
    assert items(POLICY, inp, at(11, 31))["resolution_notice"].overdue
    assert summary.due_at == at(11, day=4) and summary.template_type == "post_incident_summary"
    assert summary.title == "Post-incident summary"
    assert not any(k.startswith("silence:") for k in found)   # no max silence once resolved


def test_resolution_notice_before_a_reopen_does_not_satisfy_the_latest_resolution():
    earlier = comm(1, at(10, 40), "resolution_notice")
    inp = inputs(Phase.RESOLVED, since=at(11), resolved=at(11), comms=ACKED + (earlier,))
    assert "resolution_notice" in items(POLICY, inp, at(11, 5))
    sent = inp.communications + (comm(1, at(11, 10), "resolution_notice"),)
    after = items(POLICY, replace(inp, communications=sent), at(11, 15))
    assert "resolution_notice" not in after
    assert "post_incident_summary" in after       # a different template type does not count


def test_summary_disappears_once_queued_after_resolution():
    comms = ACKED + (comm(1, at(11, 10), "resolution_notice"),
                     comm(1, at(15), "post_incident_summary"))
    inp = inputs(Phase.RESOLVED, since=at(11), resolved=at(11), comms=comms)
    assert items(POLICY, inp, at(15, 1)) == {}


def test_closed_gives_no_items_but_keeps_stats():
    result = evaluate_cadence(POLICY, inputs(Phase.CLOSED, comms=ACKED, resolved=at(11)), at(20))
    assert result.items == ()
    assert result.stats.first_queued_at == at(10, 5)


# --- max silence ---------------------------------------------------------------------------------

def test_max_silence_per_stakeholder_uses_their_own_last_communication():
    comms = (comm(1, at(10, 5)), comm(2, at(10, 5)), comm(2, at(10, 40)), comm(3, at(10, 20)),
             comm(4, at(10, 20)))
    found = items(POLICY, inputs(Phase.RESPONDING, comms=comms), at(10, 50))
    assert found["silence:1"].due_at == at(11, 5)      # 60 min after 10:05
    assert found["silence:2"].due_at == at(11, 10)     # 30 min after ITS last (10:40)
    assert found["silence:3"].due_at == at(10, 50) and found["silence:3"].overdue
    assert "silence:4" not in found                      # media: no max silence
    item = found["silence:2"]
    assert item.title == "Max silence — Service desk"
    assert item.stakeholder_ids == (2,) and item.template_type == "status_update"
    assert "30 min" in item.detail and "10:40 UTC" in item.detail


def test_max_silence_ignores_stakeholders_never_reached():
    found = items(POLICY, inputs(Phase.INVESTIGATING, comms=(comm(1, at(10, 5)),)), at(10, 6))
    assert [k for k in found if k.startswith("silence:")] == ["silence:1"]


def test_items_sorted_by_due_time_then_key():
    comms = (comm(1, at(10, 0)), comm(2, at(10, 0)))
    result = evaluate_cadence(POLICY, inputs(Phase.INVESTIGATING, comms=comms), at(10, 1))
    keys = [i.key for i in result.items]
    assert keys == ["silence:2", "status_update", "silence:1"]   # 10:30, 10:30, 11:00
    assert all(a.due_at <= b.due_at for a, b in zip(result.items, result.items[1:]))


# --- statistics ----------------------------------------------------------------------------------

def test_stats_first_queued_and_sent_within_target():
    comms = (comm(2, at(10, 20), sent=at(10, 21)), comm(1, at(10, 8), sent=at(10, 12)))
    stats = evaluate_cadence(POLICY, inputs(comms=comms), at(10, 30)).stats
    assert stats.first_queued_at == at(10, 8) and stats.first_sent_at == at(10, 12)
    assert stats.to_first_queued == timedelta(minutes=8)
    assert stats.to_first_sent == timedelta(minutes=12)
    assert stats.first_within_target is True
    assert stats.last_communication_at == at(10, 20)
    assert stats.since_last == timedelta(minutes=10)


def test_stats_within_target_none_then_false_when_nothing_sent():
    queued_only = (comm(1, at(10, 5)),)
    early = evaluate_cadence(POLICY, inputs(comms=queued_only), at(10, 14)).stats
    assert early.first_within_target is None and early.first_sent_at is None
    assert early.to_first_queued == timedelta(minutes=5)
    late = evaluate_cadence(POLICY, inputs(comms=queued_only), T0 + FIRST_COMMUNICATION_TARGET
                            + timedelta(seconds=1)).stats
    assert late.first_within_target is False


def test_stats_first_sent_after_target_is_false():
    comms = (comm(1, at(10, 5), sent=at(10, 16)),)
    assert evaluate_cadence(POLICY, inputs(comms=comms), at(10, 17)).stats \
        .first_within_target is False


def test_stats_empty_incident():
    stats = evaluate_cadence(POLICY, inputs(), at(10, 1)).stats
    assert stats.first_queued_at is None and stats.last_communication_at is None
    assert stats.since_last is None and stats.longest_waiting is None


def test_stats_longest_waiting_is_the_reached_stakeholder_with_the_oldest_last_communication():
    comms = (comm(1, at(10, 5)), comm(1, at(10, 50)), comm(2, at(10, 20)), comm(3, at(10, 30)))
    stats = evaluate_cadence(POLICY, inputs(comms=comms), at(11)).stats
    assert stats.longest_waiting == (2, "Service desk", timedelta(minutes=40))


# --- policies ------------------------------------------------------------------------------------

def test_default_policies_load_for_all_four_severities():
    policies = load_default_policies()
    assert set(policies) == set(Severity)
    assert [policies[s].investigating_minutes for s in Severity] == [30, 30, 45, 60]
    assert [policies[s].responding_minutes for s in Severity] == [30, 60, 60, 120]
    assert all(p.acknowledge_minutes == 15 and p.resolution_minutes == 30
               and p.summary_hours == 24 and p.fact_update_minutes == 10
               for p in policies.values())
    assert all(p.severity == s for s, p in policies.items())


GOOD = {"severity": "SEV3", "acknowledge_minutes": 15, "investigating_minutes": 45,
        "responding_minutes": 60, "resolution_minutes": 30, "summary_hours": 24,
        "fact_update_minutes": 10}


def test_validate_policy_accepts_good_values():
    policy, errors = validate_policy(GOOD)
    assert errors == {}
    assert policy == CadencePolicy(Severity.SEV3, 15, 45, 60, 30, 24, 10)
    assert validate_policy({**GOOD, "fact_update_minutes": 0})[0].fact_update_minutes == 0
    assert validate_policy({**GOOD, "investigating_minutes": "50"})[0].investigating_minutes == 50


@pytest.mark.parametrize(("field", "value", "message"), [
    ("acknowledge_minutes", 0, "between 1 and 240 minutes"),
    ("acknowledge_minutes", 241, "between 1 and 240 minutes"),
    ("investigating_minutes", 4, "between 5 and 1440 minutes"),
    ("responding_minutes", 1441, "between 5 and 1440 minutes"),
    ("resolution_minutes", 0, "between 1 and 1440 minutes"),
    ("summary_hours", 721, "between 1 and 720 hours"),
    ("fact_update_minutes", 241, "between 0 and 240 minutes"),
    ("fact_update_minutes", -1, "between 0 and 240 minutes"),
    ("investigating_minutes", 30.5, "whole number of minutes"),
    ("investigating_minutes", "soon", "whole number of minutes"),
    ("summary_hours", True, "whole number of hours"),
    ("resolution_minutes", None, "Enter a number of minutes"),
    ("severity", "SEV5", "Choose a severity"),
])
def test_validate_policy_refuses_with_a_clear_message(field, value, message):
    policy, errors = validate_policy({**GOOD, field: value})
    assert policy is None
    assert list(errors) == [field]
    assert message in errors[field]


# --- the roster ---------------------------------------------------------------------------------

def test_only_active_stakeholders_of_the_client_count_however_they_are_passed():
    """A communication to someone no longer in the roster (deactivated, or another client's)
    reaches nobody the clocks follow; a Roster and a plain sequence give the same result."""
    gone = comm(99, at(10, 1))
    found = evaluate_cadence(POLICY, inputs(Phase.INVESTIGATING, comms=(
        comm(3, at(10, 2)), gone, comm(1, at(10, 4)))), at(11, 0))
    assert sorted(i.key for i in found.items) == [
        "acknowledgment", "silence:1", "silence:3", "status_update"]
    by_key = {i.key: i for i in found.items}
    assert by_key["status_update"].stakeholder_ids == (1, 3)
    assert by_key["acknowledgment"].stakeholder_ids == (2,)
    assert found.stats.longest_waiting == (3, "Ops manager", timedelta(minutes=58))
    shuffled = Roster((MEDIA, IT, MGMT, USERS))
    again = evaluate_cadence(POLICY, replace(inputs(Phase.INVESTIGATING, comms=(
        comm(3, at(10, 2)), gone, comm(1, at(10, 4)))), stakeholders=shuffled), at(11, 0))
    assert again == found
    assert (list(shuffled), len(shuffled), shuffled[1], shuffled.immediate) == (
        [MEDIA, IT, MGMT, USERS], 4, IT, (1, 2))


def test_nobody_reached_means_the_immediate_stakeholders_are_the_audience_in_id_order():
    found = items(POLICY, inputs(Phase.INVESTIGATING, people=(IT, MEDIA, USERS)), at(10, 20))
    assert found["status_update"].stakeholder_ids == (1, 2)
    assert found["acknowledgment"].stakeholder_ids == (1, 2)
