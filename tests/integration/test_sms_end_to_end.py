"""From the composer's queue to a local SMS provider API: an SMS account configured through the
accounts service (auth token in the keyring), stakeholders with phone numbers typed the way
people type them, a status update queued and flushed by the outbox through the application's
own sender pool to the Twilio-shaped HTTP server — the deliveries' states, the timeline as the
record, exactly what the provider received, and the token nowhere in the database or the log.
The SMS counterpart of test_sending_end_to_end.py."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sms_fixtures import SID, TOKEN, Provider, Reply, http_server

from app.clock import FrozenClock
from app.domain.dto import ContactPointData, IncidentDTO, StakeholderData
from app.domain.models import Delivery
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.logs import configure_logging
from app.messages.composer import Sender, queue_message
from app.messages.library import builtin_templates
from app.sending.accounts import AccountService
from app.sending.outbox import Outbox
from app.sending.rows import FlushReport
from app.sending.secrets import SecretStore
from app.stakeholders.clients import ensure_default_organisation
from app.stakeholders.recipients import resolve_recipients
from app.stakeholders.service import StakeholderService
from app.storage import Store

FROM = "+14155550100"
# name -> the number as typed in the stakeholder form (the organisation's region is US)
PEOPLE = {"Ada Ops": "(206) 555-0101", "Ben Desk": "206-555-0102", "Cy Lead": "+1 206 555 0103"}
E164 = {"Ada Ops": "+12065550101", "Ben Desk": "+12065550102", "Cy Lead": "+12065550103"}
# what the Authorization header carries: the token must not be stored in this form either
BASIC = base64.b64encode(f"{SID}:{TOKEN}".encode())


@dataclass
class World:
    store: Store
    clock: FrozenClock
    accounts: AccountService
    account_id: int
    incident: IncidentDTO
    log_path: Path
    handler: logging.Handler


@pytest.fixture
def log_file(tmp_path) -> Iterator[tuple[Path, logging.Handler]]:
    log_path = tmp_path / "logs" / "clarion.log"
    root = logging.getLogger()
    old_level = root.level
    handler = configure_logging(log_path, level=logging.DEBUG)
    try:
        yield log_path, handler
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)


def set_up(tmp_path: Path, clock: FrozenClock, base_url: str,
           log_file: tuple[Path, logging.Handler]) -> World:
    """An SMS account through the accounts service (token to the keyring), three people
    reachable by SMS only, an open incident."""
    store = Store.open(tmp_path / "clarion.db")
    bus = EventBus()
    accounts = AccountService(store, clock, SecretStore(), bus)
    account = accounts.create("sms", "Twilio", {
        "base_url": base_url, "account_sid": SID, "from_number": FROM, "concurrency": 2},
        secret=TOKEN)
    client = ensure_default_organisation(store, clock)
    people = StakeholderService(store, clock, bus)
    for name, number in PEOPLE.items():
        people.create(StakeholderData(client_id=client.id, name=name, category="it_staff_msp",
                                      contacts=(ContactPointData("sms", number, 1),)))
    incident = IncidentService(store, clock, bus).open(
        client_id=client.id, title="Core switch failure", severity="SEV1",
        detected_at=clock.now())
    queued = queue_message(
        store, clock, bus, incident=incident, client=client, template_type="status_update",
        templates=builtin_templates(),
        recipients=resolve_recipients(store, client.id, timing_needs=["immediate"]),
        sender=Sender("Dana", "Harbor IT"))
    assert queued.by_channel == {"sms": 3}
    return World(store, clock, accounts, account.id, incident, *log_file)


def flush(world: World) -> tuple[FlushReport, Outbox]:
    """One flush through the application's own sender pool (the GUI's sending thread's)."""
    from ui.outbox.runner import SenderPool  # Qt-free: only the pool of senders

    pool = SenderPool(world.accounts)
    outbox = Outbox(world.store, world.clock, EventBus(), pool.resolve, rng=random.Random(7))

    async def run() -> FlushReport:
        try:
            return await asyncio.wait_for(outbox.flush(), 15)
        finally:
            await pool.aclose()

    return asyncio.run(run()), outbox


def texts_by_address(store: Store) -> dict[str, str]:
    """The rendered SMS text of every delivery, by phone number, as the database holds it."""
    with store.session() as session:
        return {d.address: d.body_text for d in session.query(Delivery)}


def wires_by_address(store: Store) -> dict[str, bytes | None]:
    with store.session() as session:
        return {d.address: d.wire for d in session.query(Delivery)}


def delivery_entries(world: World) -> list[Any]:
    return [e for e in IncidentService(world.store, world.clock).timeline(world.incident.id)
            if e.kind in ("delivery_sent", "delivery_failed", "delivery_retry")]


def assert_token_nowhere(world: World, tmp_path: Path) -> None:
    """Not in the database file (and its WAL), not in the log, not in the timeline — neither
    as is nor as the Basic credentials the requests carried."""
    entries = IncidentService(world.store, world.clock).timeline(world.incident.id)
    record = json.dumps([(e.summary, e.data) for e in entries], default=str)
    world.handler.flush()
    world.store.dispose()
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("clarion.db*"))
    log_text = world.log_path.read_text(encoding="utf-8")
    assert b"Core switch failure" in blobs and "delivery" in log_text   # real content, here
    for form in (TOKEN.encode(), BASIC):
        assert form not in blobs
        assert form.decode() not in log_text
        assert form.decode() not in record


def test_queued_sms_reaches_the_provider_api_in_e164_and_the_token_stays_out(
        tmp_path, frozen_clock, memory_keyring, log_file):
    provider = Provider()
    with http_server(provider) as url:
        world = set_up(tmp_path, frozen_clock, url, log_file)
        outbox = Outbox(world.store, world.clock, None, lambda *_: None)
        before = outbox.list()
        assert [d.state for d in before] == ["queued"] * 3
        report, outbox = flush(world)

    assert (report.claimed, report.sent, report.failed, report.retry_wait) == (3, 3, 0, 0)
    # exactly what the provider received: one form per person, E.164 To, our From, the text
    # the composer rendered for that person, with the token from the keyring (else 401)
    texts = texts_by_address(world.store)
    got = sorted(provider.requests, key=lambda r: r["form"].get("To", ""))
    assert got == [{"method": "POST", "path": f"/2010-04-01/Accounts/{SID}/Messages.json",
                    "form": {"To": E164[name], "From": FROM, "Body": texts[E164[name]]}}
                   for name in sorted(PEOPLE, key=E164.get)]
    assert all(text.startswith("[SEV1] INC-1 update") for text in texts.values())  # rendered
    # and byte for byte the form stored when each was claimed: the record of what went out
    assert sorted(raw for _, raw in provider.bodies) == sorted(wires_by_address(world.store).values())
    assert {kind for kind, _ in provider.bodies} == {"application/x-www-form-urlencoded"}
    # the deliveries: sent, each with the sid the provider gave it, through this account
    after = {d.address: d for d in outbox.list()}
    assert {d.state for d in after.values()} == {"sent"}
    assert sorted(d.provider_id for d in after.values()) == sorted(provider.statuses)
    assert all(d.account_id == world.account_id and d.attempts == 1 and d.last_error == ""
               and d.sent_at == frozen_clock.now() for d in after.values())
    # the record: one "Sent to … by SMS" entry per person, naming the delivery and its sid
    entries = delivery_entries(world)
    assert sorted(e.summary for e in entries) == sorted(
        f"Sent to {name} by SMS: 201 queued" for name in PEOPLE)   # the provider's status
    assert all(e.kind == "delivery_sent" and e.actor == "outbox" for e in entries)
    by_delivery = {e.data["delivery_id"]: e.data for e in entries}
    assert {i: (data["state"], data["channel"], data["provider_id"])
            for i, data in by_delivery.items()} == \
        {d.id: ("sent", "sms", d.provider_id) for d in after.values()}
    assert_token_nowhere(world, tmp_path)


def test_a_bad_number_fails_with_the_providers_words_and_a_rate_limit_waits_as_told(
        tmp_path, frozen_clock, memory_keyring, log_file):
    """Three people, one SMS each: the provider sends Ada's, refuses Ben's number (400, code
    21211) and rate-limits Cy's (429, Retry-After: 120). Ben's delivery fails for good with
    the provider's words; Cy's waits exactly the 120 s asked (longer than the first back-off)
    and is retried; the timeline says each; the token is still nowhere."""
    provider = Provider(by_to={
        E164["Ben Desk"]: Reply(400, {"code": 21211, "status": 400,
                                      "message": "Invalid 'To' Phone Number",
                                      "more_info": "https://www.twilio.com/docs/errors/21211"}),
        E164["Cy Lead"]: Reply(429, {"code": 20429, "status": 429,
                                     "message": "Too Many Requests"},
                               headers={"Retry-After": "120"})})
    with http_server(provider) as url:
        world = set_up(tmp_path, frozen_clock, url, log_file)
        report, outbox = flush(world)

    assert (report.claimed, report.sent, report.failed, report.retry_wait) == (3, 1, 1, 1)
    assert sorted(r["form"]["To"] for r in provider.requests) == sorted(E164.values())
    after = {d.recipient_name: d for d in outbox.list()}
    ada, ben, cy = after["Ada Ops"], after["Ben Desk"], after["Cy Lead"]
    assert (ada.state, ada.provider_id) == ("sent", next(iter(provider.statuses)))
    assert ben.state == "failed" and ben.next_attempt_at is None
    assert ben.last_error == "400 Invalid 'To' Phone Number (code 21211)"
    assert cy.state == "retry_wait" and cy.attempts == 1
    assert cy.last_error == "429 Too Many Requests (code 20429)"
    assert cy.next_attempt_at == frozen_clock.now() + timedelta(seconds=120)
    assert outbox.retry_delay(1) < 120          # so the 120 s above came from Retry-After

    summaries = {e.data["recipient"]: (e.kind, e.data["state"], e.summary)
                 for e in delivery_entries(world)}
    assert summaries == {
        "Ada Ops": ("delivery_sent", "sent", "Sent to Ada Ops by SMS: 201 queued"),
        "Ben Desk": ("delivery_failed", "failed",
                     ("Not delivered to Ben Desk by SMS: 400 Invalid 'To' Phone Number "
                      "(code 21211)")),
        "Cy Lead": ("delivery_retry", "retry_wait",
                    ("Not yet delivered to Cy Lead by SMS; will retry later: 429 Too Many "
                     "Requests (code 20429)"))}
    assert_token_nowhere(world, tmp_path)


def test_a_retried_sms_posts_the_form_stored_at_its_first_claim_again(
        tmp_path, frozen_clock, memory_keyring, log_file):
    """Cy's SMS is rate-limited, then the account's from number changes; two minutes later the
    retry posts exactly the form stored at the first claim (the old From: that is what the
    provider was asked to send, and the record must say so)."""
    cy = E164["Cy Lead"]
    provider = Provider(by_to={cy: Reply(429, {"code": 20429, "status": 429,
                                              "message": "Too Many Requests"})})
    with http_server(provider) as url:
        world = set_up(tmp_path, frozen_clock, url, log_file)
        flush(world)
        first = wires_by_address(world.store)[cy]
        provider.by_to.clear()
        account = world.accounts.get(world.account_id)
        world.accounts.update(world.account_id, account.name,
                              {**account.settings, "from_number": "+14155550199"})
        frozen_clock.advance(minutes=3)
        report, outbox = flush(world)

    assert (report.claimed, report.sent) == (1, 1)
    posted = [raw for _, raw in provider.bodies if raw == first]
    assert len(posted) == 2            # the refused attempt and the retry, the same bytes
    assert wires_by_address(world.store)[cy] == first
    assert f"From={FROM.replace('+', '%2B')}".encode() in first
