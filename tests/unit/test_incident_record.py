"""What each change of an incident writes into its record, word for word, and what each refusal
says (app/incidents/lifecycle.py): the summaries and data of the timeline entries, the final
status at resolution, the regulatory figures' bounds, the phase refusals. The record is what is
read back after an outage; mutation testing (issue 26) found these words and bounds unpinned."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app import events as ev
from app.domain.dto import Facts
from app.domain.enums import ImpactFlag, Phase, Severity, TimelineKind
from app.errors import ConfirmationRequired, TransitionRefused, ValidationError
from app.incidents.lifecycle import (
    FUTURE_TOLERANCE, OLD_DETECTION, SERVICE_MAX, TEXT_MAX, TITLE_MAX, _show, is_severity_increase,
    transition_refusal, validate_facts, validate_new_incident)


@pytest.fixture
def opened(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Payroll portal down",
                          severity=Severity.SEV3, detected_at=frozen_clock.now())


def last(incidents, incident_id, n=1):
    entries = incidents.timeline(incident_id)[-n:]
    return [(e.kind, e.summary, e.data) for e in entries]


def published(incidents):
    seen: list[object] = []
    incidents.events.subscribe(ev.INCIDENT_CHANGED, seen.append)
    incidents.events.subscribe(ev.TIMELINE_APPENDED, seen.append)
    return seen


# ------------------------------------------------------------------------------ phases

@pytest.mark.parametrize("current, target, words", [
    (Phase.RESPONDING, Phase.RESPONDING, "The incident is already responding."),
    (Phase.CLOSED, Phase.RESOLVED,
     "A closed incident is final: its phase can no longer change."),
    (Phase.RESOLVED, Phase.DETECTED,
     "A resolved incident can reopen to investigating or responding, not go back to detected."),
    (Phase.RESPONDING, Phase.INVESTIGATING,
     "Phases move forward only: responding → investigating would go back. Only a resolved "
     "incident can be reopened."),
])
def test_a_refused_move_says_why_in_plain_words(current, target, words):
    assert transition_refusal(current, target) == words


def test_every_forward_move_is_allowed_and_no_move_stays_in_place():
    for current in Phase:
        for target in Phase:
            refusal = transition_refusal(current, target)
            if current == Phase.CLOSED or target == current:
                assert refusal is not None
            elif target.order > current.order:
                assert refusal is None, (current, target)


def test_the_refusal_reaches_the_caller_in_its_words(incidents, opened):
    with pytest.raises(TransitionRefused) as refused:
        incidents.move_phase(opened.id, Phase.DETECTED)
    assert str(refused.value) == "The incident is already detected."


def test_resolving_with_a_final_status_records_it_as_the_status_then_the_phase(
        incidents, opened):
    incidents.update_facts(opened.id, Facts(status="Investigating the login failures"))
    incidents.move_phase(opened.id, Phase.RESPONDING)
    seen = published(incidents)
    dto = incidents.move_phase(opened.id, Phase.RESOLVED, reason="  fix deployed ",
                               final_status="  Logins work again for everyone. ")
    assert dto.facts.status == "Logins work again for everyone."
    assert last(incidents, opened.id, 2) == [
        (TimelineKind.FACTS_CHANGED.value,
         "Current status: Investigating the login failures → Logins work again for everyone.",
         {"field": "status", "old": "Investigating the login failures",
          "new": "Logins work again for everyone.", "final": True}),
        (TimelineKind.PHASE_CHANGED.value, "Phase: Responding → Resolved — fix deployed",
         {"old": "responding", "new": "resolved", "reopen": False, "reason": "fix deployed",
          "final_status": "Logins work again for everyone."})]
    assert seen[0] == dto and [e.summary for e in seen[1:]] == [
        s for _k, s, _d in last(incidents, opened.id, 2)]


def test_a_final_status_equal_to_the_status_adds_no_fact_entry(incidents, opened):
    incidents.update_facts(opened.id, Facts(status="Restored"))
    incidents.move_phase(opened.id, Phase.RESOLVED, final_status="Restored")
    assert last(incidents, opened.id) == [
        (TimelineKind.PHASE_CHANGED.value, "Phase: Detected → Resolved",
         {"old": "detected", "new": "resolved", "reopen": False, "reason": "",
          "final_status": "Restored"})]
    assert [e.kind for e in incidents.timeline(opened.id)].count("facts_changed") == 1


def test_a_final_status_into_a_status_never_set_reads_none_before(incidents, opened):
    incidents.move_phase(opened.id, Phase.RESOLVED, final_status="Restored")
    assert last(incidents, opened.id, 2)[0] == (
        TimelineKind.FACTS_CHANGED.value, "Current status: (none) → Restored",
        {"field": "status", "old": "", "new": "Restored", "final": True})


@pytest.mark.parametrize("final, words", [
    ("   ", "Say what is true now that it is resolved."),
    ("x" * (TEXT_MAX + 1), f"The final status is at most {TEXT_MAX:,} characters; this one "
                           f"has {TEXT_MAX + 1:,}."),
])
def test_a_final_status_that_says_nothing_or_too_much_is_refused_and_nothing_moves(
        incidents, opened, final, words):
    with pytest.raises(ValidationError) as refused:
        incidents.move_phase(opened.id, Phase.RESOLVED, final_status=final)
    assert refused.value.errors == {"final_status": words}
    assert incidents.get(opened.id).phase == Phase.DETECTED
    assert len(incidents.timeline(opened.id)) == 1


def test_a_final_status_of_exactly_the_limit_is_taken(incidents, opened):
    dto = incidents.move_phase(opened.id, Phase.RESOLVED, final_status="y" * TEXT_MAX)
    assert dto.facts.status == "y" * TEXT_MAX


def test_a_final_status_given_for_another_phase_is_ignored(incidents, opened):
    """Only resolving states the final truth: moving elsewhere neither checks nor keeps it."""
    dto = incidents.move_phase(opened.id, Phase.INVESTIGATING, final_status="  ")
    assert dto.facts.status == ""
    incidents.move_phase(opened.id, Phase.RESPONDING, final_status="All fixed")
    assert incidents.get(opened.id).facts.status == ""
    assert last(incidents, opened.id) == [
        (TimelineKind.PHASE_CHANGED.value, "Phase: Investigating → Responding",
         {"old": "investigating", "new": "responding", "reopen": False, "reason": ""})]


def test_a_reopen_says_so(incidents, opened):
    incidents.move_phase(opened.id, Phase.RESOLVED, final_status="Fixed")
    incidents.move_phase(opened.id, Phase.INVESTIGATING, reason="errors are back")
    assert last(incidents, opened.id) == [
        (TimelineKind.PHASE_CHANGED.value,
         "Reopened: Resolved → Investigating — errors are back",
         {"old": "resolved", "new": "investigating", "reopen": True,
          "reason": "errors are back"})]


# ---------------------------------------------------------------------------- severity

def test_severity_changes_are_worded_raised_or_lowered_with_the_reason(incidents, opened):
    assert is_severity_increase(Severity.SEV3, Severity.SEV2)
    assert not is_severity_increase(Severity.SEV3, Severity.SEV3)
    seen = published(incidents)
    dto = incidents.change_severity(opened.id, Severity.SEV1, reason=" customers affected ")
    assert (dto.severity, dto.client_name) == (Severity.SEV1, opened.client_name)
    assert seen[0] == dto
    incidents.change_severity(opened.id, Severity.SEV4)
    assert last(incidents, opened.id, 2) == [
        (TimelineKind.SEVERITY_CHANGED.value,
         "Severity raised: SEV3 → SEV1 — customers affected",
         {"old": "SEV3", "new": "SEV1", "increase": True, "reason": "customers affected"}),
        (TimelineKind.SEVERITY_CHANGED.value, "Severity lowered: SEV1 → SEV4",
         {"old": "SEV1", "new": "SEV4", "increase": False, "reason": ""})]
    with pytest.raises(TransitionRefused) as refused:
        incidents.change_severity(opened.id, Severity.SEV4)
    assert str(refused.value) == "The incident is already SEV4."


# ------------------------------------------------------------------------- impact flags

@pytest.mark.parametrize("flag, label", [(ImpactFlag.BUSINESS, "Business impact"),
                                         (ImpactFlag.EXTERNAL, "External impact"),
                                         (ImpactFlag.REGULATORY, "Regulatory impact")])
def test_each_flag_is_named_when_flagged_and_cleared(incidents, opened, flag, label):
    seen = published(incidents)
    dto = incidents.set_impact_flag(opened.id, flag, True)
    assert seen[0] == dto and dto.client_name == opened.client_name
    incidents.set_impact_flag(opened.id, flag, False)
    assert last(incidents, opened.id, 2) == [
        (TimelineKind.FLAG_CHANGED.value, f"{label} flagged",
         {"flag": flag.value, "old": False, "new": True}),
        (TimelineKind.FLAG_CHANGED.value, f"{label} cleared",
         {"flag": flag.value, "old": True, "new": False})]


# ------------------------------------------------------------------- regulatory figures

def test_the_figures_are_recorded_old_and_new_one_entry_each(incidents, opened, frozen_clock):
    frozen_clock.advance(minutes=5)
    dto = incidents.set_regulatory_figures(opened.id, 1200, 0)
    assert (dto.affected_individuals, dto.max_state_residents) == (1200, 0)
    assert dto.updated_at == frozen_clock.now()
    incidents.set_regulatory_figures(opened.id, 10**10, 600)
    assert last(incidents, opened.id, 4) == [
        (TimelineKind.FACTS_CHANGED.value, "Individuals affected: (none) → 1200",
         {"field": "affected_individuals", "old": None, "new": 1200}),
        (TimelineKind.FACTS_CHANGED.value, "Most residents of one state: (none) → 0",
         {"field": "max_state_residents", "old": None, "new": 0}),
        (TimelineKind.FACTS_CHANGED.value, "Individuals affected: 1200 → 10000000000",
         {"field": "affected_individuals", "old": 1200, "new": 10**10}),
        (TimelineKind.FACTS_CHANGED.value, "Most residents of one state: 0 → 600",
         {"field": "max_state_residents", "old": 0, "new": 600})]


def test_the_same_figures_again_write_nothing(incidents, opened, frozen_clock):
    incidents.set_regulatory_figures(opened.id, 40, None)
    before = len(incidents.timeline(opened.id))
    updated = incidents.get(opened.id).updated_at
    frozen_clock.advance(minutes=5)
    dto = incidents.set_regulatory_figures(opened.id, 40, None)
    assert len(incidents.timeline(opened.id)) == before
    assert dto.updated_at == updated


WHOLE = "Enter a whole number of people (0 or more), or leave it empty."


@pytest.mark.parametrize("affected, residents, errors", [
    (-1, None, {"affected_individuals": WHOLE}),
    (None, 10**10 + 1, {"max_state_residents": WHOLE}),
    (True, None, {"affected_individuals": WHOLE}),
    (2.0, None, {"affected_individuals": WHOLE}),
    ("12", -3, {"affected_individuals": WHOLE, "max_state_residents": WHOLE}),
    (10, 11, {"max_state_residents":
              "Residents of one state cannot outnumber the individuals affected."}),
])
def test_figures_that_cannot_be_are_refused_per_field_and_nothing_is_stored(
        incidents, opened, affected, residents, errors):
    with pytest.raises(ValidationError) as refused:
        incidents.set_regulatory_figures(opened.id, affected, residents)
    assert refused.value.errors == errors
    dto = incidents.get(opened.id)
    assert (dto.affected_individuals, dto.max_state_residents) == (None, None)
    assert len(incidents.timeline(opened.id)) == 1


@pytest.mark.parametrize("affected, residents", [(0, 0), (10, 10), (None, 5), (5, None)])
def test_figures_at_their_bounds_are_taken(incidents, opened, affected, residents):
    dto = incidents.set_regulatory_figures(opened.id, affected, residents)
    assert (dto.affected_individuals, dto.max_state_residents) == (affected, residents)


# ------------------------------------------------------------------------ facts, notes

def test_each_fact_is_kept_and_read_back_as_given(incidents, opened, frozen_clock):
    eta = frozen_clock.now() + timedelta(hours=2)
    next_update = frozen_clock.now() + timedelta(minutes=30)
    facts = Facts(status="Degraded", impact="Slow logins", affected_services=("SSO", "VPN"),
                  eta_at=eta, eta_qualifier="about two hours", workaround="Use the backup IdP",
                  next_update_at=next_update)
    dto = incidents.update_facts(opened.id, facts)
    assert dto.facts == facts
    assert incidents.get(opened.id).facts == facts
    again = incidents.update_facts(opened.id, Facts(
        status="Degraded", impact="Slow logins", affected_services=("SSO", "VPN"), eta_at=eta,
        eta_qualifier="about two hours", workaround="Use the backup IdP", next_update_at=None))
    assert again.facts.next_update_at is None
    assert last(incidents, opened.id)[0][1] == "Next update at: 2026-03-02 09:30 UTC → (none)"


@pytest.mark.parametrize("field", ["status", "impact", "workaround"])
def test_a_fact_text_over_the_limit_is_refused_with_its_length(incidents, opened, field):
    with pytest.raises(ValidationError) as refused:
        incidents.update_facts(opened.id, Facts(**{field: "z" * (TEXT_MAX + 1)}))
    assert refused.value.errors == {
        field: f"This is at most {TEXT_MAX:,} characters; this one has {TEXT_MAX + 1:,}."}
    ok = incidents.update_facts(opened.id, Facts(**{field: "z" * TEXT_MAX}))
    assert getattr(ok.facts, field) == "z" * TEXT_MAX


def test_the_workaround_and_qualifier_are_trimmed(incidents, opened):
    dto = incidents.update_facts(opened.id, Facts(workaround="  reboot  ",
                                                  eta_qualifier="  soon "))
    assert (dto.facts.workaround, dto.facts.eta_qualifier) == ("reboot", "soon")


@pytest.mark.parametrize("add, kind, noun", [("add_note", TimelineKind.NOTE, "note"),
                                             ("add_decision", TimelineKind.DECISION,
                                              "decision")])
def test_notes_and_decisions_are_kept_trimmed_and_refused_empty_or_too_long(
        incidents, opened, frozen_clock, add, kind, noun):
    frozen_clock.advance(minutes=3)
    seen = published(incidents)
    entry = getattr(incidents, add)(opened.id, "  Call the vendor  ")
    assert (entry.kind, entry.summary, entry.data, entry.actor, entry.incident_id) == (
        kind.value, "Call the vendor", {}, "Test Coordinator", opened.id)
    assert entry.at == frozen_clock.now() and entry.id is not None
    assert seen[0].updated_at == frozen_clock.now() and seen[1] == entry
    assert incidents.get(opened.id).updated_at == frozen_clock.now()
    with pytest.raises(ValidationError) as empty:
        getattr(incidents, add)(opened.id, " \n ")
    assert empty.value.errors == {"text": f"Write the {noun} before adding it."}
    with pytest.raises(ValidationError) as long:
        getattr(incidents, add)(opened.id, "n" * (TEXT_MAX + 1))
    assert long.value.errors == {
        "text": f"A {noun} is at most {TEXT_MAX:,} characters; this one has {TEXT_MAX + 1:,}."}
    assert getattr(incidents, add)(opened.id, "n" * TEXT_MAX).summary == "n" * TEXT_MAX


# --------------------------------------------------------------------------- read back

def test_entries_at_the_same_moment_read_back_in_the_order_written(incidents, opened):
    for n in range(5):
        incidents.add_note(opened.id, f"note {n}")
    assert [e.summary for e in incidents.timeline(opened.id)][1:] == [
        f"note {n}" for n in range(5)]


def test_entries_read_back_oldest_first_whatever_order_they_were_written_in(
        incidents, opened, frozen_clock):
    frozen_clock.advance(minutes=10)
    incidents.add_note(opened.id, "later")
    frozen_clock.set(frozen_clock.now() - timedelta(minutes=5))   # a clock set back
    incidents.add_note(opened.id, "earlier")
    assert [e.summary for e in incidents.timeline(opened.id)][1:] == ["earlier", "later"]


def test_the_dto_carries_the_client_and_archive_state(incidents, opened, client_id):
    dto = incidents.get(opened.id)
    assert (dto.client_id, dto.archived) == (client_id, False)
    [entry] = incidents.timeline(opened.id)
    assert (entry.incident_id, entry.coordinator_id) == (opened.id, None)
    assert isinstance(entry.id, int)


@pytest.mark.parametrize("value, shown", [
    (None, "(none)"), ("", "(none)"), ((), "(none)"), (("SSO", "VPN"), "SSO, VPN"),
    (datetime(2026, 3, 2, 9, 5, tzinfo=timezone(timedelta(hours=1))), "2026-03-02 08:05 UTC"),
    ("a" * 80, "a" * 80), ("b" * 81, "b" * 77 + "…"), (0, "0"),
])
def test_values_are_shown_in_the_record_readably(value, shown):
    assert _show(value) == shown


# ---------------------------------------------------------------- what is published, read

def test_every_change_publishes_the_incident_and_the_entries_it_wrote(incidents, opened):
    """The window follows the events: a change published without its incident, or with an
    empty entry, would leave it showing the past."""
    seen = published(incidents)
    changes = [
        lambda: incidents.set_impact_flag(opened.id, ImpactFlag.EXTERNAL, True),
        lambda: incidents.set_regulatory_figures(opened.id, 12, 3),
        lambda: incidents.update_facts(opened.id, Facts(status="Degraded", impact="Slow")),
        lambda: incidents.move_phase(opened.id, Phase.RESOLVED, final_status="Fine"),
    ]
    for change in changes:
        seen.clear()
        dto = change()
        assert seen[0] == dto == incidents.get(opened.id)
        assert dto.client_name == opened.client_name
        written = len(seen) - 1
        assert written >= 1 and seen[1:] == incidents.timeline(opened.id)[-written:]


def test_a_fact_change_names_the_old_and_the_new_value(incidents, opened):
    incidents.update_facts(opened.id, Facts(impact="Slow logins"))
    incidents.update_facts(opened.id, Facts(impact="No logins"))
    assert last(incidents, opened.id)[0][1] == "Impact: Slow logins → No logins"


def test_a_note_is_stored_with_empty_data_not_null(incidents, opened, store):
    from sqlalchemy import text

    note = incidents.add_note(opened.id, "Call the vendor")
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT data FROM timeline_entries WHERE id = :id"),
                              {"id": note.id}).scalar_one()
    assert stored == "{}"


def test_an_unknown_incident_is_named(incidents):
    from app.errors import NotFound

    with pytest.raises(NotFound) as missing:
        incidents.add_note(4242, "hello")
    assert str(missing.value) == "Incident 4242 does not exist."


@pytest.mark.parametrize("facts, key, words", [
    (Facts(eta_qualifier="q" * 201), "eta_qualifier",
     "The ETA qualifier is at most 200 characters; this one has 201."),
    (Facts(affected_services=("SSO", "s" * 101, "t" * 102)), "affected_services",
     f"A service name is limited to 100 characters: “{'s' * 30}…”."),
])
def test_facts_that_cannot_be_kept_are_refused_in_their_words(incidents, opened, facts, key,
                                                              words):
    with pytest.raises(ValidationError) as refused:
        incidents.update_facts(opened.id, facts)
    assert refused.value.errors == {key: words}


def test_an_eta_or_next_update_before_detection_is_refused_but_at_detection_taken(
        incidents, opened, frozen_clock):
    detected = opened.detected_at
    with pytest.raises(ValidationError) as refused:
        incidents.update_facts(opened.id, Facts(eta_at=detected - timedelta(seconds=1),
                                                next_update_at=detected - timedelta(seconds=1)))
    assert refused.value.errors == {
        "eta_at": "The ETA cannot be before the incident was detected.",
        "next_update_at": "The next update cannot be before the incident was detected."}
    dto = incidents.update_facts(opened.id, Facts(eta_at=detected, next_update_at=detected))
    assert (dto.facts.eta_at, dto.facts.next_update_at) == (detected, detected)


@pytest.mark.parametrize("title, words", [
    ("  ", "Give the incident a title (what is affected, in a few words)."),
    ("t" * 201, "A title is at most 200 characters; this one has 201."),
])
def test_a_title_that_cannot_be_used_is_refused_in_its_words(incidents, client_id, frozen_clock,
                                                             title, words):
    with pytest.raises(ValidationError) as refused:
        incidents.open(client_id=client_id, title=title, severity=Severity.SEV2,
                       detected_at=frozen_clock.now())
    assert refused.value.errors == {"title": words}


def test_an_incident_without_a_detection_time_is_refused(incidents, client_id):
    with pytest.raises(ValidationError) as refused:
        incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV2,
                       detected_at=None)
    assert refused.value.errors == {"detected_at": "Say when the incident was detected."}


def test_a_hand_over_signs_every_open_incident_in_order_and_says_who_from(
        store, frozen_clock, client_id):
    from sqlalchemy import text

    from app.events import EventBus
    from app.incidents.lifecycle import IncidentService

    def service(actor):
        return IncidentService(store, frozen_clock, EventBus(), actor=actor)

    dana = service("Dana Brooks")
    opened = [dana.open(client_id=client_id, title=f"Incident {n}", severity=Severity.SEV3,
                        detected_at=frozen_clock.now()) for n in range(4)]
    dana.move_phase(opened[1].id, Phase.CLOSED)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE incidents SET archived = 1 WHERE id = :id"),
                     {"id": opened[2].id})
    sam = service("Sam Reyes")
    seen = published(sam)
    entries = sam.hand_over("Dana Brooks")
    assert [(e.incident_id, e.kind, e.summary, e.data, e.actor) for e in entries] == [
        (i.id, TimelineKind.COORDINATOR_CHANGED.value, "Sam Reyes took over from Dana Brooks",
         {"previous": "Dana Brooks", "coordinator": "Sam Reyes"}, "Sam Reyes")
        for i in (opened[0], opened[3])]
    assert seen == entries
    assert [e.summary for e in sam.hand_over("Sam Reyes")] == ["Sam Reyes is coordinating"] * 2
    assert [e.summary for e in sam.hand_over("")] == ["Sam Reyes is coordinating"] * 2


# ------------------------------------------------------------------------------ opening

def test_opening_records_the_created_entry_word_for_word(incidents, client_id, frozen_clock):
    detected = frozen_clock.now() - timedelta(minutes=3)
    seen = published(incidents)
    real = incidents.open(client_id=client_id, title="Mail  down", severity=Severity.SEV2,
                          detected_at=detected)
    drill = incidents.open(client_id=client_id, title="Tabletop", severity=Severity.SEV4,
                           detected_at=detected, is_drill=True)
    assert (real.is_drill, real.archived, drill.is_drill) == (False, False, True)
    assert last(incidents, real.id) == [(
        TimelineKind.CREATED.value, "Incident opened: Mail down (SEV2)",
        {"title": "Mail down", "severity": "SEV2", "detected_at": detected.isoformat(),
         "drill": False})]
    assert last(incidents, drill.id)[0][1:] == (
        "Drill incident opened: Tabletop (SEV4)",
        {"title": "Tabletop", "severity": "SEV4", "detected_at": detected.isoformat(),
         "drill": True})
    assert [type(item).__name__ for item in seen] == ["IncidentDTO", "TimelineEntryDTO"] * 2
    assert [item.id for item in seen[::2]] == [real.id, drill.id]


def test_the_impact_flags_and_facts_given_at_opening_are_kept(incidents, client_id,
                                                              frozen_clock):
    now = frozen_clock.now()
    facts = Facts(status="Investigating", impact="No mail", affected_services=("Mail",),
                  eta_at=now + timedelta(hours=2), eta_qualifier="rough",
                  workaround="Use Teams", next_update_at=now + timedelta(minutes=30))
    dto = incidents.open(client_id=client_id, title="Mail down", severity=Severity.SEV2,
                         detected_at=now, impact_business=True, impact_external=True,
                         impact_regulatory=True, facts=facts)
    again = incidents.get(dto.id)
    for read in (dto, again):
        assert (read.impact_business, read.impact_external, read.impact_regulatory) == \
            (True, True, True)
        assert read.facts == facts
    plain = incidents.open(client_id=client_id, title="Quiet", severity=Severity.SEV4,
                           detected_at=now)
    assert (plain.impact_business, plain.impact_external, plain.impact_regulatory) == \
        (False, False, False)
    assert {i.id for i in incidents.list()} == {dto.id, plain.id}


def test_an_unknown_severity_or_organisation_is_refused_in_its_words(incidents, client_id,
                                                                     frozen_clock):
    with pytest.raises(ValidationError) as refused:
        incidents.open(client_id=client_id, title="Portal down", severity="SEV9",
                       detected_at=frozen_clock.now())
    assert refused.value.errors == {"severity": "Choose a severity from SEV1 to SEV4."}
    with pytest.raises(ValidationError) as refused:
        incidents.open(client_id=client_id + 999, title="Portal down", severity=Severity.SEV2,
                       detected_at=frozen_clock.now())
    assert refused.value.errors == {"client": "Choose the organisation this incident affects."}


def test_detection_up_to_five_minutes_ahead_is_taken_and_beyond_refused_in_its_words():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    edge = now + FUTURE_TOLERANCE
    assert validate_new_incident("Portal down", edge, now, False) == ("Portal down", edge)
    with pytest.raises(ValidationError) as refused:
        validate_new_incident("Portal down", edge + timedelta(microseconds=1), now, False)
    assert refused.value.errors == {"detected_at": (
        "Detection time is in the future; it can be at most 5 minutes ahead of now "
        "(clock skew).")}


def test_detection_exactly_a_week_ago_needs_no_confirmation_and_older_is_asked_in_words():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    week = now - OLD_DETECTION
    assert validate_new_incident("Breach", week, now, False) == ("Breach", week)
    older = week - timedelta(days=2)
    with pytest.raises(ConfirmationRequired) as asked:
        validate_new_incident("Breach", older, now, False)
    assert (asked.value.field, asked.value.message) == ("detected_at", (
        "Detected 9 days ago — more than 7 days. Confirm that this is right (for example, a "
        "breach discovered late)."))
    assert validate_new_incident("Breach", older, now, True) == ("Breach", older)


def test_an_eta_qualifier_of_exactly_the_limit_is_taken():
    detected = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    cleaned, errors = validate_facts(Facts(eta_qualifier="q" * TITLE_MAX), detected)
    assert (errors, cleaned.eta_qualifier) == ({}, "q" * TITLE_MAX)
    _, errors = validate_facts(Facts(eta_qualifier="q" * (TITLE_MAX + 1)), detected)
    assert list(errors) == ["eta_qualifier"]


def test_services_after_one_too_long_are_still_read():
    detected = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    cleaned, errors = validate_facts(
        Facts(affected_services=("Mail", "s" * (SERVICE_MAX + 1), "VPN", "x" * 200, "SSO")),
        detected)
    assert cleaned.affected_services == ("Mail", "VPN", "SSO")
    assert errors == {"affected_services": (
        f"A service name is limited to {SERVICE_MAX} characters: “{'s' * 30}…”.")}


def test_a_desk_without_a_named_coordinator_signs_with_the_login_name(
        store, frozen_clock, monkeypatch):
    import getpass

    from app.events import EventBus
    from app.incidents.lifecycle import IncidentService

    monkeypatch.setattr(getpass, "getuser", lambda: "jroe")
    assert IncidentService(store, frozen_clock, EventBus()).actor == "jroe"
    assert IncidentService(store, frozen_clock, EventBus(), actor="").actor == ""

    def no_login():
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert IncidentService(store, frozen_clock, EventBus()).actor == "coordinator"


def test_the_list_is_newest_detected_first_and_hides_archived_unless_asked(
        incidents, client_id, frozen_clock, store):
    from sqlalchemy import text

    now = frozen_clock.now()
    three, one, two = (incidents.open(client_id=client_id, title=f"{hours} hours ago",
                                      severity=Severity.SEV3,
                                      detected_at=now - timedelta(hours=hours))
                       for hours in (3, 1, 2))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE incidents SET archived = 1 WHERE id = :id"), {"id": one.id})
    shown = incidents.list()
    assert [(i.id, i.client_name, i.archived) for i in shown] == [
        (two.id, "My organisation", False), (three.id, "My organisation", False)]
    assert [(i.id, i.archived) for i in incidents.list(include_archived=True)] == [
        (one.id, True), (two.id, False), (three.id, False)]
