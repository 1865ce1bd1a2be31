"""First-run organisation (app/stakeholders/clients.py) and contact-point validation (app/stakeholders/service.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.stakeholders.clients import DEFAULT_ORGANISATION, ensure_default_organisation, list_clients
from app.domain.enums import CATEGORY_DEFAULTS, Category, Channel, DetailLevel, TimingNeed
from app.domain.models import ContactPoint, Stakeholder
from app.errors import ValidationError
from app.stakeholders.service import (
    NewStakeholder, add_stakeholder, normalise_address, normalise_email, normalise_phone,
)


def test_default_organisation_is_created_once(store, frozen_clock):
    first = ensure_default_organisation(store, frozen_clock)
    assert first is not None and first.name == DEFAULT_ORGANISATION == "My organisation"
    assert ensure_default_organisation(store, frozen_clock) is None
    assert ensure_default_organisation(store, frozen_clock) is None
    clients = list_clients(store)
    assert [(c.id, c.name) for c in clients] == [(first.id, "My organisation")]
    assert (clients[0].time_zone, clients[0].default_region) == ("UTC", "US")


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("raw,region,e164", [
    ("(206) 555-0101", "US", "+12065550101"),
    ("206.555.0101", "us", "+12065550101"),
    ("+1 206 555 0101", "GB", "+12065550101"),
    ("  020 7946 0958 ", "GB", "+442079460958"),
])
def test_phone_numbers_become_e164(raw, region, e164):
    assert normalise_phone(raw, region) == e164
    assert normalise_address(Channel.SMS, raw, region) == e164
    assert normalise_address(Channel.PHONE, raw, region) == e164
    assert normalise_phone(e164, region) == e164  # idempotent


@pytest.mark.parametrize("raw,region", [
    ("12345", "US"), ("555-0101", "US"), ("not a number", "US"), ("01632 960123", "GB"),
])
def test_invalid_phone_numbers_are_refused(raw, region):
    with pytest.raises(ValidationError) as err:
        normalise_address(Channel.SMS, raw, region)
    assert list(err.value.errors) == ["address"]


def test_emails_are_normalised():
    assert normalise_email("  Some.One@Example.COM ") == "Some.One@example.com"
    assert normalise_address(Channel.EMAIL, "a@b.example.org", "US") == "a@b.example.org"


@pytest.mark.parametrize("raw", ["no-at-sign", "two@@example.com", "a@", "@example.com",
                                 "a b@example.com", "a@exa mple.com"])
def test_invalid_emails_are_refused(raw):
    with pytest.raises(ValidationError) as err:
        normalise_address(Channel.EMAIL, raw, "US")
    assert list(err.value.errors) == ["address"]


@pytest.mark.parametrize("channel", [Channel.WEBHOOK, Channel.SLACK, Channel.TEAMS])
def test_webhooks_must_be_https(channel):
    url = "https://hooks.example.com/T000/B000"
    assert normalise_address(channel, f" {url} ", "US") == url
    for bad in ("http://hooks.example.com/x", "ftp://x.example.com", "https://", "hooks.example.com"):
        with pytest.raises(ValidationError) as err:
            normalise_address(channel, bad, "US")
        assert "address" in err.value.errors


@pytest.mark.parametrize("channel", list(Channel))
def test_empty_addresses_are_refused(channel):
    for empty in ("", "   "):
        with pytest.raises(ValidationError) as err:
            normalise_address(channel, empty, "US")
        assert "address" in err.value.errors


# ---------------------------------------------------------------- stakeholders


@pytest.mark.parametrize("category", list(Category))
def test_add_stakeholder_fills_category_defaults(store, client_id, category):
    need, timing, detail, silence = CATEGORY_DEFAULTS[category]
    with store.session() as session, session.begin():
        s = add_stakeholder(session, NewStakeholder(
            client_id=client_id, name="  Pat   Doe ", category=category,
            contacts=((Channel.EMAIL, "pat@example.com"), (Channel.SMS, "(206) 555-0101"))),
            region="US")
    with store.session() as session:
        stored = session.get(Stakeholder, s.id)
        assert stored.name == "Pat Doe"
        assert (stored.information_need, stored.timing_need, stored.detail_level,
                stored.max_silence_minutes) == (need, timing, detail, silence)
        assert [(c.channel, c.address, c.priority) for c in stored.contact_points] == [
            (Channel.EMAIL, "pat@example.com", 1), (Channel.SMS, "+12065550101", 2)]


def test_category_defaults_follow_the_design_table():
    assert set(CATEGORY_DEFAULTS) == set(Category)
    assert CATEGORY_DEFAULTS[Category.MANAGEMENT][1:] == (TimingNeed.RAPID,
                                                          DetailLevel.OPERATIONAL, 30)
    assert CATEGORY_DEFAULTS[Category.IT_STAFF_MSP][1:] == (TimingNeed.IMMEDIATE,
                                                            DetailLevel.TECHNICAL, 30)
    assert CATEGORY_DEFAULTS[Category.AFFECTED_USERS][1:] == (TimingNeed.IMMEDIATE,
                                                              DetailLevel.SIMPLE, 60)
    assert CATEGORY_DEFAULTS[Category.REGULATORS][3] is None


def test_explicit_values_beat_the_defaults(store, client_id):
    with store.session() as session, session.begin():
        s = add_stakeholder(session, NewStakeholder(
            client_id=client_id, name="Board", category=Category.EXECUTIVES,
            information_need="", timing_need=TimingNeed.IMMEDIATE,
            detail_level=DetailLevel.SIMPLE, max_silence_minutes=5), region="US")
    with store.session() as session:
        stored = session.get(Stakeholder, s.id)
        assert (stored.information_need, stored.timing_need, stored.detail_level,
                stored.max_silence_minutes) == ("", TimingNeed.IMMEDIATE, DetailLevel.SIMPLE, 5)


def test_a_bad_contact_or_name_stores_nothing(store, client_id):
    for new in (
        NewStakeholder(client_id=client_id, name="Ok", category=Category.MEDIA,
                       contacts=((Channel.EMAIL, "ok@example.com"), (Channel.SMS, "12345"))),
        NewStakeholder(client_id=client_id, name="   ", category=Category.MEDIA),
    ):
        with pytest.raises(ValidationError):
            with store.session() as session, session.begin():
                add_stakeholder(session, new, region="US")
    with store.session() as session:
        assert session.scalar(select(func.count(Stakeholder.id))) == 0
        assert session.scalar(select(func.count(ContactPoint.id))) == 0
