"""Client organisations (app/stakeholders/clients.py): save_client create/update and validation, and the
responsibility matrix (get_matrix defaults, set_matrix all-or-nothing)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from app.stakeholders.clients import (
    DEFAULT_COMMUNICATOR, delete_client, get_matrix, list_clients, save_client, set_matrix,
    settings_of,
)
from app.domain.dto import ClientSettings, ResponsibilityDTO
from app.domain.enums import Communicator, Regime, Scenario
from app.domain.models import Client, Responsibility
from app.errors import NotFound, ValidationError
from app.events import CLIENTS_CHANGED, EventBus

NORTHWIND = ClientSettings(name="Northwind Health", is_msp=False,
                           time_zone="America/Los_Angeles", default_region="us",
                           notification_sla_minutes=240, regimes=("us_wa", "hipaa"))


def client_rows(store) -> list[tuple]:
    with store.session() as session:
        return [(c.id, c.name, c.is_msp, c.time_zone, c.default_region,
                 c.notification_sla_minutes, tuple(c.regimes))
                for c in session.scalars(select(Client).order_by(Client.id))]


def responsibility_rows(store) -> list[tuple]:
    with store.session() as session:
        return [(r.client_id, str(r.scenario.value), str(r.communicator.value), r.audience)
                for r in session.scalars(select(Responsibility).order_by(Responsibility.id))]


# ---------------------------------------------------------------- save_client

def test_save_client_creates_and_normalises(store, frozen_clock):
    dto = save_client(store, frozen_clock, replace(NORTHWIND, name="  Northwind   Health "))
    assert (dto.name, dto.is_msp, dto.time_zone, dto.default_region,
            dto.notification_sla_minutes) == (
        "Northwind Health", False, "America/Los_Angeles", "US", 240)
    assert dto.regimes == ("hipaa", "us_wa")  # enum order, not input order
    assert list_clients(store) == [dto]
    with store.session() as session:
        assert session.get(Client, dto.id).created_at == frozen_clock.now()


def test_save_client_updates_in_place(store, frozen_clock, client_id):
    before = client_rows(store)
    dto = save_client(store, frozen_clock, ClientSettings(
        name="Harbor IT", is_msp=True, time_zone="Europe/London", default_region="GB",
        notification_sla_minutes=None, regimes=("uk_gdpr",)), client_id=client_id)
    assert dto.id == client_id
    assert client_rows(store) == [(client_id, "Harbor IT", True, "Europe/London", "GB", None,
                                   ("uk_gdpr",))]
    assert len(before) == 1
    # keeping its own name is not a clash; settings_of round-trips
    again = save_client(store, frozen_clock, settings_of(dto), client_id=client_id)
    assert again == dto


def test_save_client_update_of_a_missing_client_is_not_found(store, frozen_clock):
    with pytest.raises(NotFound):
        save_client(store, frozen_clock, NORTHWIND, client_id=999)
    assert client_rows(store) == []


@pytest.mark.parametrize("regimes,expected", [
    ((), ()),
    (("us_wa", "hipaa", "gdpr"), ("gdpr", "hipaa", "us_wa")),
    (("dora", "dora", "nis2"), ("nis2", "dora")),
    (tuple(r.value for r in reversed(list(Regime))), tuple(r.value for r in Regime)),
    ((Regime.SEC, "gdpr"), ("gdpr", "sec")),
])
def test_regimes_are_normalised_to_enum_order(store, frozen_clock, regimes, expected):
    dto = save_client(store, frozen_clock, replace(NORTHWIND, regimes=regimes))
    assert dto.regimes == expected
    assert client_rows(store)[0][6] == expected


BAD_SETTINGS = [
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "n" * 201}, "name"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": ""}, "time_zone"),
    ({"time_zone": "../etc/passwd"}, "time_zone"),
    ({"default_region": "XX"}, "default_region"),
    ({"default_region": ""}, "default_region"),
    ({"default_region": "USA"}, "default_region"),
    ({"notification_sla_minutes": 0}, "notification_sla_minutes"),
    ({"notification_sla_minutes": -1}, "notification_sla_minutes"),
    ({"notification_sla_minutes": 43201}, "notification_sla_minutes"),
    ({"notification_sla_minutes": "60"}, "notification_sla_minutes"),
    ({"regimes": ("gdpr", "martian_law")}, "regimes"),
]


@pytest.mark.parametrize("change,key", BAD_SETTINGS,
                         ids=[k + ":" + repr(c)[:30] for c, k in BAD_SETTINGS])
def test_bad_settings_are_refused_under_their_key_and_nothing_is_written(
        store, frozen_clock, client_id, change, key):
    before = client_rows(store)
    with pytest.raises(ValidationError) as err:
        save_client(store, frozen_clock, replace(NORTHWIND, **change))
    assert set(err.value.errors) == {key} and err.value.errors[key].strip()
    with pytest.raises(ValidationError):  # an update is refused the same way
        save_client(store, frozen_clock, replace(NORTHWIND, **change), client_id=client_id)
    assert client_rows(store) == before


def test_unknown_regime_message_names_it(store, frozen_clock):
    with pytest.raises(ValidationError) as err:
        save_client(store, frozen_clock, replace(NORTHWIND, regimes=("martian_law",)))
    assert "martian_law" in err.value.errors["regimes"]


@pytest.mark.parametrize("sla", [1, 60, 43200, None])
def test_sla_boundaries_are_accepted(store, frozen_clock, sla):
    assert save_client(store, frozen_clock,
                       replace(NORTHWIND, notification_sla_minutes=sla)).notification_sla_minutes \
        == sla


def test_duplicate_names_are_refused_on_create_and_rename(store, frozen_clock, client_id):
    other = save_client(store, frozen_clock, NORTHWIND)
    before = client_rows(store)
    with pytest.raises(ValidationError) as err:
        save_client(store, frozen_clock, replace(NORTHWIND, name=" Northwind  Health"))
    assert set(err.value.errors) == {"name"} and "Northwind Health" in err.value.errors["name"]
    with pytest.raises(ValidationError) as err:  # renaming the first onto the second
        save_client(store, frozen_clock, replace(NORTHWIND, name="Northwind Health"),
                    client_id=client_id)
    assert set(err.value.errors) == {"name"}
    assert client_rows(store) == before
    assert other.id != client_id


def test_all_faults_are_reported_together(store, frozen_clock):
    with pytest.raises(ValidationError) as err:
        save_client(store, frozen_clock, ClientSettings(
            name="", time_zone="Mars/Olympus", default_region="XX",
            notification_sla_minutes=0, regimes=("nope",)))
    assert set(err.value.errors) == {"name", "time_zone", "default_region",
                                     "notification_sla_minutes", "regimes"}
    assert client_rows(store) == []


# ---------------------------------------------------------------- responsibility matrix

def test_a_new_client_gets_a_default_for_every_scenario(store, client_id):
    matrix = get_matrix(store, client_id)
    assert list(matrix) == [s.value for s in Scenario]
    assert set(DEFAULT_COMMUNICATOR) == set(Scenario)
    for scenario in Scenario:
        row = matrix[scenario.value]
        assert row.scenario == scenario.value
        assert row.communicator == DEFAULT_COMMUNICATOR[scenario]
        assert row.communicator in {c.value for c in Communicator}
        assert row.audience == ""
    assert matrix["msp_detected"].communicator == "msp"
    assert matrix["client_detected"].communicator == "client"
    assert responsibility_rows(store) == []  # reading writes nothing


def test_set_matrix_stores_and_reads_back(store, frozen_clock, client_id):
    other = save_client(store, frozen_clock, NORTHWIND).id
    result = set_matrix(store, client_id, [
        ResponsibilityDTO("external_communication", "both", "  press office, customers "),
        ResponsibilityDTO(Scenario.TECHNICAL_UPDATES, Communicator.CLIENT, ""),
    ])
    assert result == get_matrix(store, client_id)
    assert result["external_communication"] == ResponsibilityDTO(
        "external_communication", "both", "press office, customers")
    assert result["technical_updates"] == ResponsibilityDTO("technical_updates", "client", "")
    # untouched scenarios keep their defaults
    assert result["msp_detected"].communicator == DEFAULT_COMMUNICATOR[Scenario.MSP_DETECTED]
    # per client: the other organisation still has the defaults
    assert get_matrix(store, other)["external_communication"].communicator == \
        DEFAULT_COMMUNICATOR[Scenario.EXTERNAL_COMMUNICATION]
    # a second save updates the row instead of adding one
    set_matrix(store, client_id, [ResponsibilityDTO("external_communication", "msp", "media")])
    assert get_matrix(store, client_id)["external_communication"] == ResponsibilityDTO(
        "external_communication", "msp", "media")
    assert sorted(responsibility_rows(store)) == [
        (client_id, "external_communication", "msp", "media"),
        (client_id, "technical_updates", "client", "")]


@pytest.mark.parametrize("bad,key", [
    (ResponsibilityDTO("msp_detected", "nobody"), "msp_detected"),
    (ResponsibilityDTO("msp_detected", ""), "msp_detected"),
    (ResponsibilityDTO("alien_invasion", "msp"), "alien_invasion"),
    (ResponsibilityDTO("business_impact", "msp", "a" * 1001), "business_impact"),
])
def test_set_matrix_refuses_bad_rows_and_writes_nothing(store, client_id, bad, key):
    set_matrix(store, client_id, [ResponsibilityDTO("technical_updates", "both", "ops")])
    before = responsibility_rows(store)
    with pytest.raises(ValidationError) as err:
        set_matrix(store, client_id, [ResponsibilityDTO("client_detected", "both", "all"), bad])
    assert set(err.value.errors) == {key}
    assert responsibility_rows(store) == before  # not even the good row went in
    assert get_matrix(store, client_id)["client_detected"].communicator == \
        DEFAULT_COMMUNICATOR[Scenario.CLIENT_DETECTED]


def test_set_matrix_for_a_missing_client_is_not_found(store):
    with pytest.raises(NotFound):
        set_matrix(store, 4242, [ResponsibilityDTO("msp_detected", "msp")])
    assert responsibility_rows(store) == []


def test_set_matrix_with_a_scenario_twice_is_refused_naming_it(store, client_id):
    """Two answers for one scenario: which one is meant cannot be guessed, so neither is
    stored and the coordinator is told which scenario is listed twice."""
    with pytest.raises(ValidationError) as err:
        set_matrix(store, client_id, [ResponsibilityDTO("msp_detected", "msp"),
                                      ResponsibilityDTO("msp_detected", "client")])
    assert err.value.errors == {"msp_detected": "“MSP-detected incident” is listed twice."}
    assert responsibility_rows(store) == []


def test_deleting_a_client_removes_its_matrix(store, frozen_clock):
    other = save_client(store, frozen_clock, NORTHWIND).id
    set_matrix(store, other, [ResponsibilityDTO("msp_detected", "both")])
    with store.session() as session, session.begin():
        session.delete(session.get(Client, other))
    with store.session() as session:
        assert session.scalar(select(func.count(Responsibility.id))) == 0


# ---------------------------------------------------------------- delete_client

@pytest.fixture
def announced() -> tuple[EventBus, list[object]]:
    bus, seen = EventBus(), []
    bus.subscribe(CLIENTS_CHANGED, seen.append)
    return bus, seen


def test_removing_an_organisation_takes_its_map_with_it(store, frozen_clock, client_id,
                                                        announced):
    bus, seen = announced
    other = save_client(store, frozen_clock, NORTHWIND)
    set_matrix(store, other.id, [ResponsibilityDTO("msp_detected", "both", "ops")])
    set_matrix(store, client_id, [ResponsibilityDTO("msp_detected", "client", "")])
    assert delete_client(store, other.id, events=bus) == other
    assert [c.id for c in list_clients(store)] == [client_id]
    assert responsibility_rows(store) == [(client_id, "msp_detected", "client", "")]
    assert seen == [other]
    with pytest.raises(NotFound):
        delete_client(store, other.id, events=bus)


def test_an_organisation_with_incidents_is_not_removed_and_the_coordinator_is_told_why(
        store, frozen_clock, client_id, incidents, announced):
    bus, seen = announced
    other = save_client(store, frozen_clock, NORTHWIND)
    set_matrix(store, other.id, [ResponsibilityDTO("msp_detected", "both", "ops")])
    incident = incidents.open(client_id=other.id, title="Portal down", severity="SEV2",
                              detected_at=frozen_clock.now())
    clients, matrix = client_rows(store), responsibility_rows(store)
    with pytest.raises(ValidationError) as err:
        delete_client(store, other.id, events=bus)
    assert err.value.errors == {"client": "“Northwind Health” has incidents; their record must "
                                          "stay, so the organisation cannot be removed."}
    assert client_rows(store) == clients and responsibility_rows(store) == matrix
    assert get_matrix(store, other.id)["msp_detected"].audience == "ops"
    assert incidents.get(incident.id).client_id == other.id
    assert seen == []


def test_the_last_organisation_is_not_removed_and_the_coordinator_is_told_why(
        store, client_id, announced):
    bus, seen = announced
    set_matrix(store, client_id, [ResponsibilityDTO("msp_detected", "both", "ops")])
    clients, matrix = client_rows(store), responsibility_rows(store)
    with pytest.raises(ValidationError) as err:
        delete_client(store, client_id, events=bus)
    assert err.value.errors == {"client": "Clarion needs at least one organisation."}
    assert client_rows(store) == clients and responsibility_rows(store) == matrix
    assert seen == []
