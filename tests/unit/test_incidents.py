"""The incident lifecycle service (app/incidents/lifecycle.py) on a real, migrated SQLite file."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from app import events as ev
from app.domain.dto import Facts, IncidentDTO, TimelineEntryDTO
from app.domain.enums import ImpactFlag, Phase, Severity, TimelineKind
from app.domain.models import Base
from app.errors import ConfirmationRequired, TransitionRefused, ValidationError
from app.incidents.lifecycle import IncidentClosed


def counts(store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM incidents")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM timeline_entries")).scalar_one())


@pytest.fixture
def opened(incidents, client_id, frozen_clock):
    return incidents.open(client_id=client_id, title="Email delivery delayed",
                          severity=Severity.SEV3, detected_at=frozen_clock.now())


def kinds(incidents, incident_id) -> list[str]:
    return [e.kind for e in incidents.timeline(incident_id)]


# ---------------------------------------------------------------- open: validation


@pytest.mark.parametrize("title", ["", "   ", "\t\n "])
def test_open_refuses_an_empty_title_and_stores_nothing(incidents, client_id, frozen_clock,
                                                         store, title):
    before = counts(store)
    with pytest.raises(ValidationError) as err:
        incidents.open(client_id=client_id, title=title, severity=Severity.SEV2,
                       detected_at=frozen_clock.now())
    assert "title" in err.value.errors
    assert counts(store) == before == (0, 0)


def test_open_title_length_limit(incidents, client_id, frozen_clock, store):
    with pytest.raises(ValidationError) as err:
        incidents.open(client_id=client_id, title="x" * 201, severity=Severity.SEV2,
                       detected_at=frozen_clock.now())
    assert "title" in err.value.errors
    assert counts(store) == (0, 0)
    ok = incidents.open(client_id=client_id, title="y" * 200, severity=Severity.SEV2,
                        detected_at=frozen_clock.now())
    assert ok.title == "y" * 200


def test_open_collapses_whitespace_in_the_title(incidents, client_id, frozen_clock):
    dto = incidents.open(client_id=client_id, title="  Portal \n  down  ",
                         severity=Severity.SEV2, detected_at=frozen_clock.now())
    assert dto.title == "Portal down"


def test_open_refuses_detection_more_than_five_minutes_ahead(incidents, client_id,
                                                             frozen_clock, store):
    now = frozen_clock.now()
    for ahead in (timedelta(minutes=5, seconds=1), timedelta(hours=1)):
        with pytest.raises(ValidationError) as err:
            incidents.open(client_id=client_id, title="Clock skew", severity=Severity.SEV2,
                           detected_at=now + ahead)
        assert "detected_at" in err.value.errors
    assert counts(store) == (0, 0)
    dto = incidents.open(client_id=client_id, title="Clock skew", severity=Severity.SEV2,
                         detected_at=now + timedelta(minutes=4))
    assert dto.detected_at == now + timedelta(minutes=4)


def test_open_needs_confirmation_for_detection_over_a_week_ago(incidents, client_id,
                                                               frozen_clock, store):
    old = frozen_clock.now() - timedelta(days=8)
    with pytest.raises(ConfirmationRequired) as err:
        incidents.open(client_id=client_id, title="Late breach discovery",
                       severity=Severity.SEV1, detected_at=old)
    assert err.value.field == "detected_at"
    assert "8 days" in err.value.message
    assert counts(store) == (0, 0)
    dto = incidents.open(client_id=client_id, title="Late breach discovery",
                         severity=Severity.SEV1, detected_at=old, confirm_old=True)
    assert dto.detected_at == old
    assert counts(store) == (1, 1)


def test_open_with_six_days_old_detection_needs_no_confirmation(incidents, client_id,
                                                                frozen_clock):
    dto = incidents.open(client_id=client_id, title="Found in logs", severity=Severity.SEV3,
                         detected_at=frozen_clock.now() - timedelta(days=6))
    assert dto.phase == Phase.DETECTED


def test_open_refuses_an_unknown_client(incidents, client_id, frozen_clock, store):
    with pytest.raises(ValidationError) as err:
        incidents.open(client_id=client_id + 999, title="Orphan", severity=Severity.SEV2,
                       detected_at=frozen_clock.now())
    assert "client" in err.value.errors
    assert counts(store) == (0, 0)


def test_open_refuses_bad_facts_and_stores_nothing(incidents, client_id, frozen_clock, store):
    now = frozen_clock.now()
    with pytest.raises(ValidationError) as err:
        incidents.open(client_id=client_id, title="Bad ETA", severity=Severity.SEV2,
                       detected_at=now, facts=Facts(eta_at=now - timedelta(minutes=1)))
    assert "eta_at" in err.value.errors
    assert counts(store) == (0, 0)


def test_open_writes_a_created_entry(incidents, client_id, frozen_clock, store):
    detected = frozen_clock.now() - timedelta(minutes=12)
    dto = incidents.open(client_id=client_id, title="VPN down", severity=Severity.SEV2,
                         detected_at=detected, is_drill=True, impact_business=True)
    assert (dto.phase, dto.severity, dto.is_drill, dto.impact_business) == \
        (Phase.DETECTED, Severity.SEV2, True, True)
    assert dto.client_name == "My organisation"
    assert dto.created_at == frozen_clock.now() and dto.detected_at == detected
    [entry] = incidents.timeline(dto.id)
    assert entry.kind == TimelineKind.CREATED.value
    assert entry.actor == "Test Coordinator"
    assert entry.at == frozen_clock.now()
    assert entry.data == {"title": "VPN down", "severity": "SEV2",
                          "detected_at": detected.isoformat(), "drill": True}
    assert "VPN down" in entry.summary


# ---------------------------------------------------------------- severity and flags


def test_severity_change_records_increase_and_decrease(incidents, opened):
    up = incidents.change_severity(opened.id, Severity.SEV1, reason="spreading")
    assert up.severity == Severity.SEV1
    down = incidents.change_severity(opened.id, Severity.SEV4)
    assert down.severity == Severity.SEV4
    entries = [e for e in incidents.timeline(opened.id)
               if e.kind == TimelineKind.SEVERITY_CHANGED.value]
    assert [(e.data["old"], e.data["new"], e.data["increase"]) for e in entries] == \
        [("SEV3", "SEV1", True), ("SEV1", "SEV4", False)]
    assert "spreading" in entries[0].summary and entries[0].data["reason"] == "spreading"


def test_same_severity_is_refused_without_an_entry(incidents, opened):
    with pytest.raises(TransitionRefused):
        incidents.change_severity(opened.id, Severity.SEV3)
    assert kinds(incidents, opened.id) == ["created"]


def test_impact_flag_entry_only_when_the_value_changes(incidents, opened):
    incidents.set_impact_flag(opened.id, ImpactFlag.REGULATORY, True)
    incidents.set_impact_flag(opened.id, ImpactFlag.REGULATORY, True)   # no change
    incidents.set_impact_flag(opened.id, ImpactFlag.BUSINESS, False)    # already False
    dto = incidents.set_impact_flag(opened.id, ImpactFlag.REGULATORY, False)
    assert dto.impact_regulatory is False
    flags = [e for e in incidents.timeline(opened.id) if e.kind == TimelineKind.FLAG_CHANGED.value]
    assert [(e.data["flag"], e.data["old"], e.data["new"]) for e in flags] == \
        [("regulatory", False, True), ("regulatory", True, False)]
    assert incidents.get(opened.id).impact_regulatory is False


# ---------------------------------------------------------------- facts


def test_update_facts_one_entry_per_changed_field(incidents, opened, frozen_clock):
    eta = frozen_clock.now() + timedelta(hours=1)
    facts = dataclasses.replace(opened.facts, status="Investigating",
                                affected_services=("Mail", "Calendar"), eta_at=eta)
    dto = incidents.update_facts(opened.id, facts)
    assert dto.facts.status == "Investigating"
    assert dto.facts.affected_services == ("Mail", "Calendar")
    assert dto.facts.eta_at == eta
    entries = [e for e in incidents.timeline(opened.id) if e.kind == TimelineKind.FACTS_CHANGED.value]
    by_field = {e.data["field"]: e.data for e in entries}
    assert len(entries) == 3
    assert by_field["status"] == {"field": "status", "old": "", "new": "Investigating"}
    assert by_field["affected_services"] == {"field": "affected_services", "old": [],
                                             "new": ["Mail", "Calendar"]}
    assert by_field["eta_at"] == {"field": "eta_at", "old": None, "new": eta.isoformat()}

    # change one field only: exactly one more entry, with the previous value as old
    incidents.update_facts(opened.id, dataclasses.replace(dto.facts, status="Fixing"))
    entries = [e for e in incidents.timeline(opened.id) if e.kind == TimelineKind.FACTS_CHANGED.value]
    assert len(entries) == 4
    assert entries[-1].data == {"field": "status", "old": "Investigating", "new": "Fixing"}


def test_update_facts_without_a_change_appends_nothing(incidents, opened, frozen_clock):
    facts = dataclasses.replace(opened.facts, status="Looking", workaround="Use webmail")
    dto = incidents.update_facts(opened.id, facts)
    n = len(incidents.timeline(opened.id))
    frozen_clock.advance(minutes=3)
    # same facts, with whitespace that normalisation removes
    again = incidents.update_facts(opened.id, dataclasses.replace(facts, status="  Looking  "))
    assert len(incidents.timeline(opened.id)) == n
    assert again.updated_at == dto.updated_at


def test_update_facts_validation_stores_nothing(incidents, opened, store):
    before_rows = counts(store)
    with pytest.raises(ValidationError) as err:
        incidents.update_facts(opened.id, Facts(status="x",
                                                eta_at=opened.detected_at - timedelta(seconds=1)))
    assert "eta_at" in err.value.errors
    with pytest.raises(ValidationError) as err:
        incidents.update_facts(opened.id, Facts(status="x", affected_services=("s" * 101,)))
    assert "affected_services" in err.value.errors
    with pytest.raises(ValidationError) as err:
        incidents.update_facts(opened.id, Facts(
            next_update_at=opened.detected_at - timedelta(minutes=1)))
    assert "next_update_at" in err.value.errors
    assert counts(store) == before_rows
    assert incidents.get(opened.id).facts == Facts()


def test_service_name_of_exactly_100_characters_is_fine(incidents, opened):
    dto = incidents.update_facts(opened.id, Facts(affected_services=("s" * 100,)))
    assert dto.facts.affected_services == ("s" * 100,)


def test_duplicate_services_collapse_case_insensitively(incidents, opened):
    dto = incidents.update_facts(opened.id, Facts(
        affected_services=("Patient  portal", "patient portal ", "PATIENT PORTAL", "", "Billing")))
    assert dto.facts.affected_services == ("Patient portal", "Billing")
    assert incidents.get(opened.id).facts.affected_services == ("Patient portal", "Billing")


# ---------------------------------------------------------------- notes and decisions


def test_notes_and_decisions(incidents, opened, store):
    note = incidents.add_note(opened.id, "  Called the vendor  ")
    decision = incidents.add_decision(opened.id, "Fail over to site B")
    assert (note.kind, note.summary) == ("note", "Called the vendor")
    assert (decision.kind, decision.summary) == ("decision", "Fail over to site B")
    before = counts(store)
    for add in (incidents.add_note, incidents.add_decision):
        for empty in ("", "   "):
            with pytest.raises(ValidationError) as err:
                add(opened.id, empty)
            assert "text" in err.value.errors
    assert counts(store) == before
    assert kinds(incidents, opened.id) == ["created", "note", "decision"]


# ---------------------------------------------------------------- closed is final


def test_a_closed_incident_refuses_changes_but_keeps_its_timeline(incidents, opened, store):
    incidents.update_facts(opened.id, Facts(status="Mail flowing again"))
    incidents.move_phase(opened.id, Phase.CLOSED)
    timeline = incidents.timeline(opened.id)
    assert [e.kind for e in timeline] == ["created", "facts_changed", "phase_changed"]
    before = counts(store)
    with pytest.raises(IncidentClosed):
        incidents.update_facts(opened.id, Facts(status="changed afterwards"))
    with pytest.raises(IncidentClosed):
        incidents.change_severity(opened.id, Severity.SEV1)
    with pytest.raises(IncidentClosed):
        incidents.set_impact_flag(opened.id, ImpactFlag.EXTERNAL, True)
    with pytest.raises(TransitionRefused):
        incidents.move_phase(opened.id, Phase.INVESTIGATING)
    assert counts(store) == before
    assert incidents.timeline(opened.id) == timeline
    dto = incidents.get(opened.id)
    assert (dto.phase, dto.severity, dto.impact_external, dto.facts.status) == \
        (Phase.CLOSED, Severity.SEV3, False, "Mail flowing again")


def test_a_closed_incident_refuses_new_regulatory_figures_and_stores_nothing(incidents, opened,
                                                                             store):
    """The affected counts drive the HIPAA/media clocks; once closed they stay as recorded."""
    incidents.set_regulatory_figures(opened.id, 120, 40)
    incidents.move_phase(opened.id, Phase.CLOSED)
    timeline = incidents.timeline(opened.id)
    before = counts(store)
    published: list[object] = []
    for topic in (ev.INCIDENT_CHANGED, ev.TIMELINE_APPENDED):
        incidents.events.subscribe(topic, published.append)
    for affected, residents in ((600, 100), (None, None), (120, 40)):
        with pytest.raises(IncidentClosed) as err:
            incidents.set_regulatory_figures(opened.id, affected, residents)
        assert str(err.value) == "This incident is closed: its record is final."
    assert counts(store) == before
    assert incidents.timeline(opened.id) == timeline
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT affected_individuals, max_state_residents FROM "
                                 "incidents WHERE id = :id"), {"id": opened.id}).one() == (120, 40)
    dto = incidents.get(opened.id)
    assert (dto.affected_individuals, dto.max_state_residents) == (120, 40)
    assert published == []


# ---------------------------------------------------------------- events and clock


def test_events_carry_dtos_after_each_change(incidents, client_id, frozen_clock):
    received: list[tuple[str, object]] = []
    incidents.events.subscribe(ev.INCIDENT_CHANGED, lambda p: received.append(("inc", p)))
    incidents.events.subscribe(ev.TIMELINE_APPENDED, lambda p: received.append(("tl", p)))

    dto = incidents.open(client_id=client_id, title="DNS failures", severity=Severity.SEV2,
                         detected_at=frozen_clock.now())
    assert [k for k, _ in received] == ["inc", "tl"]
    incidents.move_phase(dto.id, Phase.INVESTIGATING)
    incidents.update_facts(dto.id, Facts(status="a", impact="b"))
    incidents.add_note(dto.id, "note")
    assert [k for k, _ in received] == ["inc", "tl", "inc", "tl", "inc", "tl", "tl", "inc", "tl"]
    for topic, payload in received:
        assert not isinstance(payload, Base)
        assert isinstance(payload, IncidentDTO if topic == "inc" else TimelineEntryDTO)
        assert dataclasses.is_dataclass(payload)
        with pytest.raises(dataclasses.FrozenInstanceError):
            payload.id = 0  # type: ignore[misc]
    # the payloads match what is stored
    published = [p for k, p in received if k == "tl"]
    assert published == incidents.timeline(dto.id)
    assert received[-2][1] == incidents.get(dto.id)


def test_times_come_from_the_clock(incidents, client_id, frozen_clock):
    t0 = frozen_clock.now()
    dto = incidents.open(client_id=client_id, title="Slow API", severity=Severity.SEV4,
                         detected_at=t0)
    t1 = frozen_clock.advance(minutes=7)
    incidents.move_phase(dto.id, Phase.INVESTIGATING)
    t2 = frozen_clock.advance(hours=1, seconds=30)
    incidents.add_note(dto.id, "still slow")
    t3 = frozen_clock.advance(minutes=2)
    last = incidents.change_severity(dto.id, Severity.SEV3)
    assert [e.at for e in incidents.timeline(dto.id)] == [t0, t1, t2, t3]
    assert all(e.at.tzinfo is not None and e.at.utcoffset() == timedelta(0)
               for e in incidents.timeline(dto.id))
    assert last.created_at == t0 and last.updated_at == t3
    assert incidents.get(dto.id).updated_at.tzinfo == timezone.utc


# ---------------------------------------------------------------- the database keeps the record


@pytest.mark.parametrize("statement", [
    "UPDATE timeline_entries SET summary = 'rewritten' WHERE incident_id = :i",
    "DELETE FROM timeline_entries WHERE incident_id = :i",
])
def test_timeline_rows_are_append_only_in_the_database(incidents, opened, store, statement):
    incidents.add_note(opened.id, "original")
    before = incidents.timeline(opened.id)
    with pytest.raises(DatabaseError, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text(statement), {"i": opened.id})
    assert incidents.timeline(opened.id) == before


def test_an_incident_with_timeline_entries_cannot_be_deleted(incidents, opened, store):
    with pytest.raises(DatabaseError, match="FOREIGN KEY"):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": opened.id})
    assert counts(store) == (1, 1)
    assert incidents.get(opened.id).title == "Email delivery delayed"
