"""The demo database (app/demo/seed.py): Harbor IT serving Northwind Health, seeded once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from app.clock import FrozenClock
from app.demo.seed import ensure_demo, load_demo_spec
from app.domain.enums import Category, Phase, Severity
from app.domain.models import Client, ContactPoint, Incident, Stakeholder, TimelineEntry
from app.errors import ValidationError
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.stakeholders.service import normalise_address
from app.storage import Store

SEEDED_AT = datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc)
TITLE = "Patient portal unavailable"


@pytest.fixture
def demo(tmp_path):
    """(db_path, clock, open Store) of a freshly seeded demo."""
    path = tmp_path / "demo" / "clarion-demo.db"
    clock = FrozenClock(SEEDED_AT)
    assert ensure_demo(path, clock) is True
    store = Store(path)
    yield path, clock, store
    store.dispose()


def _counts(store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("clients", "stakeholders", "contact_points", "incidents",
                          "timeline_entries")}


def _incident(store) -> Incident:
    with store.session() as session:
        return session.scalars(select(Incident).where(Incident.title == TITLE)).one()


def test_seeds_once_only(demo):
    path, clock, store = demo
    before = _counts(store)
    assert before["incidents"] == 2 and before["timeline_entries"] >= 5
    clock.advance(hours=2)
    assert ensure_demo(path, clock) is False
    assert _counts(store) == before
    assert _incident(store).created_at == SEEDED_AT - timedelta(minutes=40)


def test_reset_rebuilds(demo):
    path, clock, store = demo
    seeded = _counts(store)
    old = _incident(store)
    service = IncidentService(store, clock, EventBus(), actor="Tester")
    service.add_note(old.id, "added after seeding")
    store.dispose()

    clock.advance(days=1)
    assert ensure_demo(path, clock, reset=True) is True
    assert _counts(store) == seeded  # the extra note is gone, nothing doubled
    new = _incident(store)
    assert new.created_at == old.created_at + timedelta(days=1)
    assert new.detected_at == old.detected_at + timedelta(days=1)
    with store.session() as session:
        notes = session.scalars(select(TimelineEntry.summary)).all()
    assert "added after seeding" not in notes


def test_the_stakeholder_map(demo):
    _, _, store = demo
    with store.session() as session:
        clients = {c.name: c for c in session.scalars(select(Client))}
        assert set(clients) == {"Harbor IT", "Northwind Health"}
        assert clients["Harbor IT"].is_msp and not clients["Northwind Health"].is_msp
        assert clients["Northwind Health"].time_zone == "America/Los_Angeles"
        stakeholders = session.scalars(select(Stakeholder)).all()
        assert len(stakeholders) >= 25
        assert {s.category for s in stakeholders} == set(Category)
        assert len(set(Category)) == 9
        points = session.scalars(select(ContactPoint)).all()
        assert len(points) >= 25
        for point in points:
            region = point.stakeholder.client.default_region
            assert normalise_address(point.channel, point.address, region) == point.address
            if point.channel == "email":  # reserved example domains only
                assert ".example." in "." + point.address.split("@")[1] + ".", point.address


def test_the_demo_incident(demo):
    _, _, store = demo
    service = IncidentService(store, FrozenClock(SEEDED_AT), EventBus(), actor="x")
    [dto] = [i for i in service.list() if i.title == TITLE]
    assert dto.client_name == "Northwind Health"
    assert dto.severity == Severity.SEV2
    assert dto.phase == Phase.INVESTIGATING
    minutes_ago = (SEEDED_AT - dto.detected_at) / timedelta(minutes=1)
    assert 35 <= minutes_ago <= 45
    assert dto.impact_business and dto.impact_external
    timeline = service.timeline(dto.id)
    kinds = {e.kind for e in timeline}
    assert {"created", "phase_changed", "note", "facts_changed", "decision"} <= kinds
    assert timeline[0].kind == "created"
    assert all(e.at <= SEEDED_AT for e in timeline)
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert dto.facts.affected_services and dto.facts.workaround


def test_a_broken_spec_leaves_no_database(tmp_path):
    spec = load_demo_spec()
    spec["stakeholders"][3]["contacts"][0][1] = "not-an-email"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(spec), encoding="utf-8")
    path = tmp_path / "demo" / "clarion-demo.db"
    with pytest.raises(ValidationError):
        ensure_demo(path, FrozenClock(SEEDED_AT), spec_path=broken)
    leftovers = [p.name for p in path.parent.iterdir()] if path.parent.exists() else []
    assert not any(name.startswith(path.name) for name in leftovers), leftovers
    # and the good spec still seeds there afterwards
    assert ensure_demo(path, FrozenClock(SEEDED_AT)) is True
    store = Store(path)
    try:
        with store.session() as session:
            assert session.scalar(select(func.count(Incident.id))) == 2
    finally:
        store.dispose()


def test_the_demo_communicates_and_runs_regulatory_clocks(demo):
    """The portal incident's acknowledgment really went out (drill inbox: the demo has no
    account), within the 15-minute line; the breach incident has HIPAA and Washington clocks
    running from the recorded discovery, and the contract SLA met by the customer update."""
    from app.clocks.evaluation import ClockService
    from app.clocks.regulatory import ClockStatus

    _, clock, store = demo
    clocks = ClockService(store, clock)
    incidents = {i.title: i.id for i in IncidentService(store, clock, EventBus()).list()}
    portal = clocks.evaluate(incidents[TITLE])
    stats = portal.cadence.stats
    assert stats.first_within_target is True
    assert stats.to_first_sent is not None and stats.to_first_sent <= timedelta(minutes=6)
    assert any(item.key == "fact_change" and item.overdue for item in portal.cadence.items)

    breach = clocks.evaluate(incidents["Lab results emailed to the wrong patients"])
    status = {c.rule.id: c.status for c in breach.regulatory}
    assert status["hipaa_individuals"] == ClockStatus.RUNNING
    assert status["us_wa_residents"] == ClockStatus.RUNNING
    assert status["hipaa_hhs_under_500"] == ClockStatus.RUNNING
    assert status["hipaa_hhs_500_plus"] == ClockStatus.NOT_APPLICABLE
    assert status["hipaa_media"] == ClockStatus.NOT_APPLICABLE
    assert status["contract_sla"] == ClockStatus.SATISFIED
    due = {c.rule.id: c.due_at for c in breach.regulatory}
    assert timedelta(days=29) < due["us_wa_residents"] - clock.now() < timedelta(days=30)


def test_the_demo_timeline_names_its_people_never_the_os_login(demo):
    import getpass

    from app.coordinators.service import CoordinatorService, is_component

    _path, clock, store = demo
    with store.session() as s:
        signed = s.execute(select(TimelineEntry.actor, TimelineEntry.coordinator_id)).all()
    people = {c.id: c.name for c in CoordinatorService(store, clock).list()}
    assert {"Dana Brooks", "Alex Novak", "Ben Ortiz", "Chris Morgan"} <= set(people.values())
    assert signed and getpass.getuser() not in {actor for actor, _ in signed}
    for actor, coordinator_id in signed:
        if is_component(actor):
            assert coordinator_id is None, actor
        else:
            assert people[coordinator_id] == actor
