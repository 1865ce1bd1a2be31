"""Phase rules (DESIGN.md "Phases"): detected → investigating → responding → resolved → closed.
Forward one or more steps; resolved may reopen to investigating or responding; closed is final."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.domain.enums import Phase, TimelineKind
from app.errors import TransitionRefused
from app.incidents.lifecycle import allowed_targets, is_reopen, transition_refusal

D, I, R, S, C = (Phase.DETECTED, Phase.INVESTIGATING, Phase.RESPONDING, Phase.RESOLVED,
                 Phase.CLOSED)
ORDER = [D, I, R, S, C]

# The rules written out by hand, independently of the code under test: (from, to) allowed.
ALLOWED = {
    (D, I), (D, R), (D, S), (D, C),
    (I, R), (I, S), (I, C),
    (R, S), (R, C),
    (S, C), (S, I), (S, R),  # reopen from resolved, but never back to detected
}
REOPENS = {(S, I), (S, R)}


def test_the_phase_vocabulary_and_order():
    assert list(Phase) == ORDER
    assert [p.order for p in ORDER] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("current,target", list(itertools.product(ORDER, ORDER)),
                         ids=lambda p: p.value)
def test_every_pair_against_the_rules(current, target):
    refusal = transition_refusal(current, target)
    if (current, target) in ALLOWED:
        assert refusal is None
    else:
        assert isinstance(refusal, str) and refusal.strip(), "a refusal must say why"
    if (current, target) in ALLOWED:
        assert is_reopen(current, target) == ((current, target) in REOPENS)


def test_a_refused_move_is_not_a_reopen():
    refused = [(c, t) for c, t in itertools.product(ORDER, ORDER) if (c, t) not in ALLOWED]
    assert [(c.value, t.value) for c, t in refused if is_reopen(c, t)] == []


def test_refusal_reasons_name_the_rule():
    assert "already" in transition_refusal(R, R)
    for target in ORDER:
        if target != C:
            assert "final" in transition_refusal(C, target)
    assert "detected" in transition_refusal(S, D)
    assert "forward" in transition_refusal(R, I)


def test_allowed_targets_match_the_rules():
    for current in ORDER:
        expected = [t for t in ORDER if (current, t) in ALLOWED]
        assert allowed_targets(current) == expected
    assert allowed_targets(C) == []
    assert allowed_targets(S) == [I, R, C]


def _reachable_from_detected() -> set[Phase]:
    seen, todo = {D}, [D]
    while todo:
        cur = todo.pop()
        for nxt in ORDER:
            if (cur, nxt) in ALLOWED and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _phase_entries(store, incident_id):
    with store.engine.connect() as conn:
        return conn.execute(text(
            "SELECT data FROM timeline_entries WHERE incident_id = :i AND kind = :k "
            "ORDER BY id"), {"i": incident_id, "k": TimelineKind.PHASE_CHANGED.value}).all()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.sampled_from(ORDER), min_size=1, max_size=12))
def test_random_moves_follow_the_rules(incidents, client_id, frozen_clock, moves):
    """Each example opens its own incident, then tries the moves one by one."""
    import json

    from app.domain.enums import Severity

    dto = incidents.open(client_id=client_id, title="Random walk", severity=Severity.SEV3,
                         detected_at=frozen_clock.now())
    phase = D
    expected_entries: list[tuple[str, str, bool]] = []
    for target in moves:
        before = incidents.timeline(dto.id)
        if (phase, target) in ALLOWED:
            after_dto = incidents.move_phase(dto.id, target)
            assert after_dto.phase == target
            after = incidents.timeline(dto.id)
            assert len(after) == len(before) + 1
            new = after[-1]
            assert new.kind == TimelineKind.PHASE_CHANGED.value
            assert new.data["old"] == phase.value and new.data["new"] == target.value
            assert new.data["reopen"] == ((phase, target) in REOPENS)
            expected_entries.append((phase.value, target.value, (phase, target) in REOPENS))
            phase = target
        else:
            with pytest.raises(TransitionRefused) as refused:
                incidents.move_phase(dto.id, target)
            assert str(refused.value).strip()
            assert incidents.timeline(dto.id) == before  # nothing appended
        stored = incidents.get(dto.id).phase
        assert stored == phase
        assert stored in _reachable_from_detected()
    rows = [json.loads(r.data) if isinstance(r.data, str) else r.data
            for r in _phase_entries(incidents.store, dto.id)]
    assert [(r["old"], r["new"], r["reopen"]) for r in rows] == expected_entries
