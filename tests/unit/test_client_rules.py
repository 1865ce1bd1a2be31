"""Organisations (app/stakeholders/clients.py): each refusal in its words, every bad row of the
responsibility matrix reported at once, the list in name order, settings read back whole —
found unpinned by mutation testing (issue 26)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain.dto import ClientSettings, ResponsibilityDTO
from app.errors import NotFound, ValidationError
from app.stakeholders.clients import (
    delete_client, get_matrix, list_clients, save_client, set_matrix, settings_of,
    validate_client_settings,
)

GOOD = ClientSettings(name="Northwind Health", is_msp=False, time_zone="America/Chicago",
                      default_region="gb", notification_sla_minutes=90, regimes=("gdpr",))


@pytest.mark.parametrize("change, key, words", [
    ({"name": "  "}, "name", "Enter the organisation's name."),
    ({"name": "n" * 201}, "name", "The name is at most 200 characters; this one has 201."),
    ({"time_zone": None}, "time_zone",
     "“” is not a time zone (e.g. Europe/London, America/Chicago)."),
    ({"default_region": None}, "default_region",
     "“” is not a phone region; use a two-letter country code such as US, GB or DE."),
    ({"notification_sla_minutes": 0}, "notification_sla_minutes",
     "The SLA is a number of minutes (1 to 43200)."),
    ({"notification_sla_minutes": 43201}, "notification_sla_minutes",
     "The SLA is a number of minutes (1 to 43200)."),
])
def test_each_bad_setting_is_refused_in_its_words(change, key, words):
    with pytest.raises(ValidationError) as err:
        validate_client_settings(replace(GOOD, **change))
    assert err.value.errors == {key: words}


def test_a_name_of_exactly_200_characters_is_taken():
    assert validate_client_settings(replace(GOOD, name="n" * 200)).name == "n" * 200


def test_organisations_are_listed_by_name(store, frozen_clock, client_id):
    save_client(store, frozen_clock, replace(GOOD, name="Zephyr Freight"))
    save_client(store, frozen_clock, replace(GOOD, name="Acme Bank"))
    assert [c.name for c in list_clients(store)] == [
        "Acme Bank", "My organisation", "Zephyr Freight"]


def test_the_settings_read_back_are_those_saved(store, frozen_clock):
    saved = save_client(store, frozen_clock, GOOD)
    assert settings_of(saved) == replace(GOOD, default_region="GB")
    assert settings_of(saved).notification_sla_minutes == 90


def test_every_bad_row_of_the_matrix_is_reported_at_once(store, client_id):
    with pytest.raises(ValidationError) as err:
        set_matrix(store, client_id, [
            ResponsibilityDTO("alien_invasion", "msp"),
            ResponsibilityDTO("msp_detected", "nobody"),
            ResponsibilityDTO("client_detected", "both"),
            ResponsibilityDTO("client_detected", "msp"),
            ResponsibilityDTO("business_impact", "msp", "a" * 1001),
            ResponsibilityDTO("technical_updates", "msp", "b" * 1000),
            ResponsibilityDTO("external_communication", "everyone"),   # after the long one
        ])
    assert err.value.errors == {
        "alien_invasion": "Unknown scenario “alien_invasion”.",
        "msp_detected": "Choose MSP, client or both.",
        "client_detected": "“Client-detected incident” is listed twice.",
        "business_impact": "“To whom” is at most 1,000 characters; this one has 1,001.",
        "external_communication": "Choose MSP, client or both.",
    }


def test_an_audience_of_exactly_1000_characters_is_kept(store, client_id):
    matrix = set_matrix(store, client_id, [ResponsibilityDTO("technical_updates", "msp",
                                                             "b" * 1000)])
    assert matrix["technical_updates"].audience == "b" * 1000
    assert get_matrix(store, client_id)["technical_updates"].communicator == "msp"


def test_a_missing_organisation_is_named(store, frozen_clock):
    with pytest.raises(NotFound) as matrix:
        set_matrix(store, 4242, [ResponsibilityDTO("msp_detected", "msp")])
    assert str(matrix.value) == "Organisation 4242 does not exist."
    with pytest.raises(NotFound) as saved:
        save_client(store, frozen_clock, GOOD, client_id=4244)
    assert str(saved.value) == "Organisation 4244 does not exist."
    with pytest.raises(NotFound) as deleted:
        delete_client(store, 4243)
    assert str(deleted.value) == "Organisation 4243 does not exist."


def test_saving_an_organisation_announces_it(store, frozen_clock):
    from app.events import CLIENTS_CHANGED, EventBus

    events, seen = EventBus(), []
    events.subscribe(CLIENTS_CHANGED, seen.append)
    created = save_client(store, frozen_clock, GOOD, events=events)
    renamed = save_client(store, frozen_clock, replace(GOOD, name="Northwind Care"),
                          client_id=created.id, events=events)
    assert seen == [created, renamed]


def test_the_first_organisation_is_a_plain_client_in_utc(store, frozen_clock):
    from app.stakeholders.clients import ensure_default_organisation

    first = ensure_default_organisation(store, frozen_clock)
    assert (first.is_msp, first.time_zone, first.default_region, first.regimes) == (
        False, "UTC", "US", ())
