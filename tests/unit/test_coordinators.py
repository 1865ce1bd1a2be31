"""Coordinators as people in the record (app/coordinators): rows with checked fields, the desk
that signs every entry a person writes (and not the outbox's or the clocks' own), a shift
change written to every open incident, a coordinator with entries kept (inactive, never
deleted), and entries from before this version recognisable as such."""

from __future__ import annotations

import asyncio

import pytest

from app.coordinators.service import (
    CoordinatorService, Desk, desk_for, os_full_name, sign,
)
from app.domain.enums import Phase, Severity
from app.errors import ClarionError, NotFound, ValidationError
from app.incidents.lifecycle import IncidentService
from app.sending.channels.drill import DrillSender
from tests.outbox_support import add_account, add_message, people
from tests.unit.test_outbox import make_outbox


@pytest.fixture
def service(store, frozen_clock):
    return CoordinatorService(store, frozen_clock)


def test_a_coordinator_is_a_checked_row(service):
    dana = service.add("  Dana   Brooks ", "Dana.Brooks@Harbor.example", "(206) 555-0142",
                       "day shift")
    assert (dana.name, dana.email, dana.phone, dana.role_note, dana.active) == (
        "Dana Brooks", "Dana.Brooks@harbor.example", "+12065550142", "day shift", True)
    with pytest.raises(ValidationError) as bad:
        service.add("", "not an address", "12", "x" * 201)
    assert set(bad.value.errors) == {"name", "email", "phone", "role_note"}
    with pytest.raises(ValidationError) as taken:
        service.add("dana brooks")
    assert taken.value.errors["name"] == "There is already a coordinator called “dana brooks”."
    assert service.find("DANA  brooks") == dana and service.find("Sam") is None
    sam = service.add("Sam Reyes")
    assert [c.name for c in service.list()] == ["Dana Brooks", "Sam Reyes"]
    service.update(sam.id, "Sam Reyes", role_note="night shift", active=False)
    assert [c.name for c in service.list()] == ["Dana Brooks"]
    assert [c.active for c in service.list(include_inactive=True)] == [True, False]
    with pytest.raises(NotFound):
        service.get(999)


def test_the_desk_signs_what_a_person_writes_and_a_switch_takes_effect_at_once(
        store, frozen_clock, service, client_id):
    dana, sam = service.add("Dana Brooks"), service.add("Sam Reyes")
    desk = Desk(dana.name, dana.id)
    incidents = IncidentService(store, frozen_clock, actor=desk)
    inc = incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV2,
                         detected_at=frozen_clock.now())
    incidents.add_note(inc.id, "Checking the certificates")
    desk.switch(sam)
    incidents.add_decision(inc.id, "Fail over to the second site")
    entries = incidents.timeline(inc.id)
    assert [(e.kind, e.actor, e.coordinator_id) for e in entries] == [
        ("created", "Dana Brooks", dana.id), ("note", "Dana Brooks", dana.id),
        ("decision", "Sam Reyes", sam.id)]

    # the outbox signs its own entries with its name, no coordinator
    drill = add_account(store, frozen_clock, "drill", "Drill inbox")
    add_message(store, frozen_clock, inc.id, people(1))
    asyncio.run(make_outbox(store, frozen_clock, {"email": (drill, DrillSender(drill))}).flush())
    sent = [e for e in incidents.timeline(inc.id) if e.kind == "delivery_sent"]
    assert [(e.actor, e.coordinator_id) for e in sent] == [("outbox", None)]
    assert sign("Clarion (clocks)") == ("Clarion (clocks)", None)
    assert sign(desk) == ("Sam Reyes", sam.id) and str(desk) == "Sam Reyes"


def test_a_shift_change_is_written_to_every_open_incident(store, frozen_clock, service,
                                                         client_id):
    dana, sam = service.add("Dana Brooks"), service.add("Sam Reyes")
    desk = Desk(dana.name, dana.id)
    incidents = IncidentService(store, frozen_clock, actor=desk)
    opened = [incidents.open(client_id=client_id, title=t, severity=Severity.SEV3,
                             detected_at=frozen_clock.now()) for t in ("A", "B", "C")]
    incidents.move_phase(opened[2].id, Phase.RESOLVED)
    incidents.move_phase(opened[2].id, Phase.CLOSED)
    desk.switch(sam)
    written = incidents.hand_over("Dana Brooks")
    assert sorted(e.incident_id for e in written) == [opened[0].id, opened[1].id]
    assert {(e.kind, e.summary, e.actor, e.coordinator_id) for e in written} == {
        ("coordinator_changed", "Sam Reyes took over from Dana Brooks", "Sam Reyes", sam.id)}


def test_a_coordinator_who_wrote_entries_is_kept(store, frozen_clock, service, client_id):
    dana, spare = service.add("Dana Brooks"), service.add("Spare Person")
    IncidentService(store, frozen_clock, actor=Desk(dana.name, dana.id)).open(
        client_id=client_id, title="Portal down", severity=Severity.SEV3,
        detected_at=frozen_clock.now())
    with pytest.raises(ClarionError, match="wrote 1 timeline entry: the record keeps them"):
        service.delete(dana.id)
    assert service.delete(spare.id) == spare
    assert [c.name for c in service.list(include_inactive=True)] == ["Dana Brooks"]


def test_the_desk_as_this_computer_left_it(service, monkeypatch):
    dana = service.add("Dana Brooks")
    assert desk_for(service, dana.id) == Desk("Dana Brooks", dana.id)
    service.update(dana.id, "Dana Brooks", active=False)
    monkeypatch.setattr("app.coordinators.service.os_full_name", lambda: "")
    left = desk_for(service, dana.id, fallback="Unnamed coordinator")
    assert left == Desk("Unnamed coordinator") and not left.confirmed   # asked again
    assert desk_for(service, None, fallback="x", demo=True) == Desk("x")  # no active one
    sam = service.add("Sam Reyes")
    assert desk_for(service, None, demo=True) == Desk("Sam Reyes", sam.id)


def test_the_os_full_name_is_never_the_bare_login(monkeypatch):
    import getpass
    import pwd
    from types import SimpleNamespace

    monkeypatch.setattr(getpass, "getuser", lambda: "dbrooks")
    monkeypatch.setattr(pwd, "getpwuid", lambda _uid: SimpleNamespace(
        pw_gecos="Dana Brooks,Room 4,,"))
    assert os_full_name() == "Dana Brooks"
    monkeypatch.setattr(pwd, "getpwuid", lambda _uid: SimpleNamespace(pw_gecos="dbrooks"))
    assert os_full_name() == ""
    monkeypatch.setattr(pwd, "getpwuid", lambda _uid: SimpleNamespace(pw_gecos=""))
    assert os_full_name() == ""


def test_entries_from_before_coordinators_are_recognisable(store, frozen_clock, service):
    """A new database keeps coordinators from its first entry on (the migration notes it)."""
    assert service.first_entry_signed() == 1


def test_a_persons_entry_from_before_coordinators_is_marked_and_components_are_not():
    from app.coordinators.service import signature

    assert signature("root", 3, 10) == "root (written before coordinators were kept)"
    assert signature("root", 10, 10) == "root"
    assert signature("outbox", 3, 10) == "outbox"
    assert signature("Clarion (clocks)", 3, 10) == "Clarion (clocks)"
    assert signature("root", 3, None) == "root"
