"""Addresses inside a company network are addresses (issue 18): corp.local, *.test, *.internal,
*.lan and a single-label host pass the syntax check with a quiet note; broken ones do not."""

from __future__ import annotations

import pytest

from app.domain.addresses import internal_note, normalise_email


@pytest.mark.parametrize("address", ["it@corp.local", "qa@host.test", "ops@svc.internal",
                                     "desk@box.lan", "root@mailhost", "It@Corp.Local"])
def test_internal_names_are_taken_with_a_note(address):
    clean = normalise_email(address)
    assert clean.rpartition("@")[2] == address.rpartition("@")[2].lower()
    assert "inside a company network" in internal_note(clean)


@pytest.mark.parametrize("address", ["ada@example.com", "zoë@example.com"])
def test_public_names_get_no_note(address):
    assert internal_note(normalise_email(address)) == ""


@pytest.mark.parametrize("address", ["user@@example.com", "no-at-sign", "a b@example.com",
                                     "x@localhost"])
def test_broken_addresses_are_still_refused(address):
    with pytest.raises(ValueError):
        normalise_email(address)


def test_a_stakeholder_and_an_account_take_an_internal_address(store, frozen_clock, client_id):
    from app.domain.dto import ContactPointData, StakeholderData
    from app.sending.account_settings import validate_settings
    from app.stakeholders.service import StakeholderService

    person = StakeholderService(store, frozen_clock).create(StakeholderData(
        client_id=client_id, name="Help desk", category="it_staff_msp",
        contacts=(ContactPointData("email", "it@corp.local", 1),)))
    assert person.contacts[0].address == "it@corp.local"
    settings, _secret = validate_settings(
        "email", {"host": "relay.corp.local", "security": "starttls",
                  "from_address": "incidents@corp.local"}, None, creating=True)
    assert settings["from_address"] == "incidents@corp.local"


def test_the_note_covers_internal_names_and_accents_before_the_at():
    from app.domain.addresses import address_note

    assert address_note("ada@example.com") == ""
    assert address_note("not an address") == ""
    assert "inside a company network" in address_note("it@corp.local")
    assert "accents before the @" in address_note("zoë@example.com")
    both = address_note("zoë@corp.local")
    assert "inside a company network" in both and "accents before the @" in both
