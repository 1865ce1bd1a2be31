"""Chasing silence with a frozen clock (issue 25): the people a message asked to confirm who
have not after their category's wait for the incident's severity (30 min for SEV1–2, 2 h for
SEV3–4 by default, editable) are proposed for an escalation — reach them by their next contact
point — once per message and category; whoever confirmed, was not asked, or never got the
message is left out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.acks.policy import AckPolicies
from app.domain.enums import DeliveryState, TimelineKind
from app.domain.models import Delivery
from app.mailbox.recorder import MailboxRecorder, ReadMail
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, flush, open_incident, people, queue, timeline_kinds,
)
from tests.integration.test_mailbox_recorder import (  # noqa: F401 - fixtures
    account_id, answer, deliveries_of,
)

ASKED = ("Eve Exec", "Cal Customer", "Rex Regulator")


def send_asking(store, frozen_clock, incident_id, people,  # noqa: F811
                template_type="status_update"):  # type: ignore[no-untyped-def]
    asked = [people[n] for n in ASKED]
    frozen_clock.set(T0 + 10 * MIN)
    letter = queue(store, frozen_clock, incident_id, template_type,
                   asked + [people["Ada Ops"]], ask=asked)
    frozen_clock.set(T0 + 12 * MIN)               # sent at T0 + 12 min
    assert flush(store, frozen_clock).sent == 4
    return letter


def test_the_silent_are_proposed_once_after_the_wait(store, frozen_clock, incidents, client_id,
                                                     people, clocks, account_id):  # noqa: F811
    incident_id = open_incident(incidents, client_id, severity="SEV2")
    letter = send_asking(store, frozen_clock, incident_id, people)
    sent = deliveries_of(store, letter)
    frozen_clock.set(T0 + 20 * MIN)
    MailboxRecorder(store, frozen_clock).record(account_id, "INBOX", 1, [
        ReadMail(1, answer(sent["Eve Exec"], "Yes"))])

    # 29 minutes after sending: not yet
    assert clocks.fire_unconfirmed(now=T0 + 41 * MIN) == []
    frozen_clock.set(T0 + 42 * MIN)
    fired = clocks.fire_unconfirmed()
    assert sorted((c.category.value, c.names) for c in fired) == [
        ("customers", ("Cal Customer",)), ("regulators", ("Rex Regulator",))]
    cal = next(c for c in fired if c.category.value == "customers")
    assert cal.condition_key == f"unconfirmed:{letter}:customers"
    assert cal.tried == ((people["Cal Customer"], sent["Cal Customer"].address),)
    assert cal.condition_at == T0 + 42 * MIN and cal.wait_minutes == 30
    assert "have not" not in cal.reason and "has not after 30 min: Cal Customer" in cal.reason

    # once: later looks propose nothing more
    assert clocks.fire_unconfirmed(now=T0 + 50 * MIN) == []
    assert clocks.fire_unconfirmed(now=T0 + 600 * MIN) == []
    entries = timeline_kinds(store, incident_id, TimelineKind.ESCALATION_PROPOSED)
    assert sorted(e["condition_key"] for e in entries) == sorted(c.condition_key for c in fired)

    # the clocks panel shows them as pending escalations, with whom to reach and how not
    pending = {p.condition_key: p for p in clocks.evaluate(incident_id).proposals}
    assert pending[cal.condition_key].stakeholder_ids == (people["Cal Customer"],)
    assert pending[cal.condition_key].tried == cal.tried
    assert pending[cal.condition_key].template_type == "status_update"
    clocks.decide_escalation(incident_id, cal.condition_key, confirmed=False,
                             reason="Phoned Cal; he has it")
    assert cal.condition_key not in {p.condition_key
                                     for p in clocks.evaluate(incident_id).proposals}


def test_the_wait_follows_the_severity_and_the_policy(store, frozen_clock, incidents, client_id,
                                                      people, clocks):  # noqa: F811
    incident_id = open_incident(incidents, client_id, severity="SEV3")
    send_asking(store, frozen_clock, incident_id, people)
    # SEV3: two hours
    assert clocks.fire_unconfirmed(now=T0 + 12 * MIN + timedelta(hours=2) - MIN) == []
    AckPolicies(store, frozen_clock).save("regulators", ["resolution_notice"],
                                          {"SEV1": 5, "SEV2": 5, "SEV3": 15, "SEV4": 15})
    # the regulators' own wait is now 15 min: due already, the others not
    fired = clocks.fire_unconfirmed(now=T0 + 28 * MIN)
    assert [c.names for c in fired] == [("Rex Regulator",)]
    later = clocks.fire_unconfirmed(now=T0 + 12 * MIN + timedelta(hours=2))
    assert sorted(c.names for c in later) == [("Cal Customer",), ("Eve Exec",)]


def test_who_never_got_the_message_or_is_closed_is_not_chased(  # noqa: F811
        store, frozen_clock, incidents, client_id, people, clocks):  # noqa: F811
    from app.domain.enums import Phase

    incident_id = open_incident(incidents, client_id, severity="SEV1")
    letter = send_asking(store, frozen_clock, incident_id, people)
    with store.session() as session, session.begin():
        session.execute(update(Delivery).where(
            Delivery.message_id == letter, Delivery.recipient_name == "Cal Customer")
            .values(state=DeliveryState.BOUNCED))
    fired = clocks.fire_unconfirmed(now=T0 + 45 * MIN)
    assert sorted(c.names for c in fired) == [("Eve Exec",), ("Rex Regulator",)]

    other = open_incident(incidents, client_id, severity="SEV1")
    send_asking(store, frozen_clock, other, people)
    incidents.move_phase(other, Phase.RESOLVED)
    incidents.move_phase(other, Phase.CLOSED)
    assert clocks.fire_unconfirmed(now=T0 + 90 * MIN) == []


def test_the_next_contact_point_is_chosen_and_none_left_is_said(store, frozen_clock,
                                                               client_id):  # noqa: F811
    from app.domain.dto import ContactPointData, StakeholderData
    from app.stakeholders.recipients import resolve_recipients
    from app.stakeholders.service import StakeholderService

    svc = StakeholderService(store, frozen_clock)
    cal = svc.create(StakeholderData(
        client_id=client_id, name="Cal Customer", category="customers",
        contacts=(ContactPointData("email", "cal@customer.example", 1),
                  ContactPointData("email", "cal.home@customer.example", 2),
                  ContactPointData("sms", "+12065550188", 3)))).id
    una = svc.create(StakeholderData(
        client_id=client_id, name="Una Only", category="customers",
        contacts=(ContactPointData("email", "una@customer.example", 1),))).id
    found = resolve_recipients(store, client_id, stakeholder_ids=[cal, una], avoid={
        cal: {"CAL@customer.example"}, una: {"una@customer.example"}})
    assert [(r.name, r.channel, r.address) for r in found.recipients] == \
        [("Cal Customer", "email", "cal.home@customer.example")]
    assert [(u.name, u.reason) for u in found.unreachable] == \
        [("Una Only", "no other contact point than the one already tried")]
    sms_only = resolve_recipients(store, client_id, stakeholder_ids=[cal], channels=["sms"],
                                  avoid={cal: {"cal@customer.example"}})
    assert [r.address for r in sms_only.recipients] == ["+12065550188"]


def test_a_look_with_nothing_new_reads_no_delivery(store, frozen_clock, incidents, client_id,
                                                    people, clocks):  # noqa: F811
    """The notifier asks every 30 s: an incident whose counter did not move and whose next
    chase is not due yet is not read again; the due time passing is enough to read it."""
    from sqlalchemy import event

    incident_id = open_incident(incidents, client_id, severity="SEV2")
    send_asking(store, frozen_clock, incident_id, people)
    assert clocks.fire_unconfirmed(now=T0 + 20 * MIN) == []      # due at T0 + 42 min
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        assert clocks.fire_unconfirmed(now=T0 + 30 * MIN) == []
        assert not [s for s in statements if "deliveries" in s]
        assert len(clocks.fire_unconfirmed(now=T0 + 42 * MIN)) == 3
        assert [s for s in statements if "deliveries" in s]
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
