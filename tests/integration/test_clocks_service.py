"""ClockService on a real migrated SQLite file under a FrozenClock: update cadence and max
silence read from real queued/sent deliveries, per-client cadence policies, escalation proposals
and decisions, regulatory triggers and satisfactions, reminders — and the timeline as the only
thing the service ever writes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.clocks.board import OVERDUE, clock_rows, header_figures
from app.clocks.evaluation import ClockError, ClockService
from app.clocks.regulatory import ClockStatus
from app.clocks.rules import ClockRules
from app.domain.dto import ClientSettings, ContactPointData, StakeholderData
from app.domain.enums import DeliveryState, ImpactFlag, Phase, Severity, TimelineKind
from app.domain.models import CadencePolicyRow, Delivery, TimelineEntry
from app.errors import NotFound, ValidationError
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.messages.composer import Sender, queue_message
from app.messages.library import effective_templates
from app.sending.accounts import AccountService
from app.sending.channels.base import PERMANENT, SendOutcome
from app.sending.channels.drill import DrillSender
from app.sending.outbox import Outbox
from app.sending.secrets import MemorySecretBackend, SecretStore
from app.stakeholders.clients import list_clients, save_client, settings_of
from app.stakeholders.recipients import resolve_recipients
from app.stakeholders.service import StakeholderService

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # the frozen_clock fixture's start
MIN = timedelta(minutes=1)
CLOCK_ENTRY_KINDS = {TimelineKind.CLOCK_STARTED.value, TimelineKind.CLOCK_SATISFIED.value,
                     TimelineKind.ESCALATION_PROPOSED.value,
                     TimelineKind.ESCALATION_DECIDED.value, TimelineKind.REMINDER.value}


# ---------------------------------------------------------------- set-up helpers

# name -> (category, max silence given on the form: None = the category's default)
PEOPLE = {
    "Ada Ops": ("it_staff_msp", None),          # immediate, 30 min
    "Ben User": ("affected_users", None),       # immediate, 60 min
    "Mia Manager": ("management", None),        # rapid, 30 min
    "Eve Exec": ("executives", None),           # when relevant, 60 min
    "Cal Customer": ("customers", None),        # per contract: the client's SLA
    "Cora Customer": ("customers", 45),         # a customer with her own max silence
    "Rex Regulator": ("regulators", None),      # no max silence
    "Lee Legal": ("compliance_legal", None),
}


def add_person(store, clock, client_id: int, name: str, category: str,
               max_silence: int | None = None, active: bool = True) -> int:
    slug = name.lower().replace(" ", ".")
    return StakeholderService(store, clock).create(StakeholderData(
        client_id=client_id, name=name, category=category, max_silence_minutes=max_silence,
        active=active, contacts=(ContactPointData("email", f"{slug}.{client_id}@example.com", 1),),
    )).id


@pytest.fixture
def people(store, frozen_clock, client_id) -> dict[str, int]:
    return {name: add_person(store, frozen_clock, client_id, name, category, silence)
            for name, (category, silence) in PEOPLE.items()}


@pytest.fixture
def clocks(store, frozen_clock) -> ClockService:
    return ClockService(store, frozen_clock, EventBus(), actor="Test Coordinator")


def client_of(store, client_id: int):
    return next(c for c in list_clients(store) if c.id == client_id)


def configure_client(store, clock, client_id: int, **changes) -> None:
    settings = settings_of(client_of(store, client_id))
    save_client(store, clock, replace(settings, **changes), client_id)


def second_client(store, clock) -> int:
    return save_client(store, clock, ClientSettings(name="Other Org")).id


def open_incident(incidents: IncidentService, client_id: int, severity: str = "SEV3",
                  **flags) -> int:
    return incidents.open(client_id=client_id, title="Mail relay down", severity=severity,
                          detected_at=incidents.clock.now(), **flags).id


def queue(store, clock, incident_id: int, template_type: str,
          stakeholder_ids: Sequence[int], ask: Sequence[int] = ()) -> int:
    """Queue a message to these people as the composer does (asking those in `ask` to
    confirm); returns the message id."""
    incident = IncidentService(store, clock).get(incident_id)
    client = client_of(store, incident.client_id)
    templates = effective_templates(store)
    inputs = {i.name: "" for t in templates.values() if t.type == template_type for i in t.inputs}
    recipients = resolve_recipients(store, client.id, channels=["email"],
                                    stakeholder_ids=list(stakeholder_ids))
    assert len(recipients.recipients) == len(set(stakeholder_ids))
    return queue_message(store, clock, None, incident=incident, client=client,
                         template_type=template_type, templates=templates,
                         recipients=recipients, actor="Test Coordinator",
                         sender=Sender(name="Test Coordinator", organisation="Harbor IT"),
                         inputs=inputs, ask_to_confirm=ask).message_id


class RefusingSender(DrillSender):
    """Every message is refused for good (a 550): the deliveries end up failed."""

    async def send(self, messages, on_outcome, begin=None) -> None:  # type: ignore[no-untyped-def]
        for message in messages:
            on_outcome(SendOutcome(message.delivery_id, PERMANENT, "550 5.1.1 no such user"))

    async def aclose(self) -> None:
        return None


def outbox(store, clock, sender=None) -> Outbox:
    accounts = AccountService(store, clock, SecretStore(MemorySecretBackend()))
    drill = accounts.create_drill_if_missing()
    chosen = sender or DrillSender(drill)
    return Outbox(store, clock, None, lambda _channel, _drill: (drill, chosen),
                  actor="Test Coordinator")


def flush(store, clock, sender=None):  # type: ignore[no-untyped-def]
    return asyncio.run(outbox(store, clock, sender).flush())


def items(snapshot) -> dict:  # type: ignore[no-untyped-def]
    return {item.key: item for item in snapshot.cadence.items}


def regulatory(snapshot) -> dict:  # type: ignore[no-untyped-def]
    return {state.rule.id: state for state in snapshot.regulatory}


def timeline_kinds(store, incident_id: int, kind: TimelineKind) -> list[dict]:
    with store.session() as session:
        return list(session.scalars(select(TimelineEntry.data).where(
            TimelineEntry.incident_id == incident_id, TimelineEntry.kind == kind.value)
            .order_by(TimelineEntry.id)))


def db_path(store) -> Path:
    return Path(store.engine.url.database)


def dump(store) -> dict[str, list[tuple]]:
    """Every row of every table, read over a separate plain sqlite3 connection; without the
    clocks' change counters (the triggers' bookkeeping, migration 0015)."""
    with closing(sqlite3.connect(db_path(store))) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for t in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')
                       if r[1] != "change_seq"]
            out[t] = conn.execute(f'SELECT {", ".join(columns)} FROM "{t}" '
                                  "ORDER BY rowid").fetchall()
        return out


# ---------------------------------------------------------------- first communication

def test_first_message_within_the_line_then_status_updates_fall_due(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    immediate = sorted([people["Ada Ops"], people["Ben User"]])

    snap = clocks.evaluate(incident_id)
    ack = items(snap)["acknowledgment"]
    assert ack.due_at == T0 + 15 * MIN and not ack.overdue
    assert ack.stakeholder_ids == tuple(immediate)
    assert snap.cadence.stats.first_within_target is None  # too early to say
    assert "Nothing communicated yet" in header_figures(snap, T0, T0).first

    frozen_clock.advance(minutes=2)
    message_id = queue(store, frozen_clock, incident_id, "initial_acknowledgment", immediate)
    frozen_clock.advance(minutes=4)
    report = flush(store, frozen_clock)
    assert report.sent == 2

    snap = clocks.evaluate(incident_id)
    stats = snap.cadence.stats
    assert stats.to_first_queued == 2 * MIN
    assert stats.first_sent_at == T0 + 6 * MIN
    assert stats.to_first_sent == 6 * MIN
    assert stats.first_within_target is True
    assert stats.last_communication_at == T0 + 2 * MIN
    assert "acknowledgment" not in items(snap)
    figures = header_figures(snap, frozen_clock.now(), T0)
    assert figures.first_ok is True and "6 min after detection" in figures.first
    assert "within the 15-min line" in figures.first
    assert message_id > 0

    incidents.move_phase(incident_id, Phase.INVESTIGATING)  # at 09:06
    snap = clocks.evaluate(incident_id)
    update = items(snap)["status_update"]
    # SEV3 investigating: every 45 min from when investigating began (after the last message)
    assert update.due_at == T0 + 6 * MIN + 45 * MIN
    assert not update.overdue
    assert update.stakeholder_ids == tuple(immediate)  # the people reached so far

    frozen_clock.set(T0 + 50 * MIN)
    assert not items(clocks.evaluate(incident_id))["status_update"].overdue
    frozen_clock.set(T0 + 52 * MIN)
    snap = clocks.evaluate(incident_id)
    assert items(snap)["status_update"].overdue
    row = next(r for r in clock_rows(snap, frozen_clock.now()) if r.key == "status_update")
    assert row.urgency == OVERDUE and row.status == "Overdue 1 min"
    assert ("status_update@" + update.due_at.isoformat()) in {k for k, _d, _t in snap.overdue()}


def test_cancelled_and_failed_deliveries_are_not_communication(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    ada, ben = people["Ada Ops"], people["Ben User"]

    frozen_clock.advance(minutes=1)
    cancelled = queue(store, frozen_clock, incident_id, "initial_acknowledgment", [ada])
    box = outbox(store, frozen_clock)
    [delivery] = [d for d in box.list(incident_id=incident_id) if d.message_id == cancelled]
    assert box.cancel([delivery.id]) == 1
    frozen_clock.advance(minutes=1)
    refused = queue(store, frozen_clock, incident_id, "initial_acknowledgment", [ben])
    report = flush(store, frozen_clock, RefusingSender())
    assert report.failed == 1
    states = {d.message_id: d.state for d in box.list(incident_id=incident_id)}
    assert states == {cancelled: "cancelled", refused: "failed"}

    snap = clocks.evaluate(incident_id)
    stats = snap.cadence.stats
    assert stats.first_queued_at is None and stats.first_sent_at is None
    assert stats.last_communication_at is None
    assert items(snap)["acknowledgment"].stakeholder_ids == tuple(sorted([ada, ben]))
    assert not any(k.startswith("silence:") for k in items(snap))  # nobody was reached

    frozen_clock.set(T0 + 16 * MIN)
    snap = clocks.evaluate(incident_id)
    assert snap.cadence.stats.first_within_target is False
    assert items(snap)["acknowledgment"].overdue

    # a delivery that did go out counts: Ada is reached (her silence runs), Ben is not
    queue(store, frozen_clock, incident_id, "initial_acknowledgment", [ada])
    flush(store, frozen_clock)
    snap = clocks.evaluate(incident_id)
    assert snap.cadence.stats.first_sent_at == T0 + 16 * MIN
    assert snap.cadence.stats.to_first_queued == 16 * MIN
    assert {k for k in items(snap) if k.startswith("silence:")} == {f"silence:{ada}"}


# ---------------------------------------------------------------- max silence

def test_max_silence_runs_per_stakeholder_and_customers_fall_back_to_the_sla(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    incidents.move_phase(incident_id, Phase.INVESTIGATING)
    ada, ben, cal, cora, rex = (people[n] for n in ("Ada Ops", "Ben User", "Cal Customer",
                                                    "Cora Customer", "Rex Regulator"))
    frozen_clock.set(T0 + 5 * MIN)
    queue(store, frozen_clock, incident_id, "status_update", [ada, cal, cora, rex])
    frozen_clock.set(T0 + 20 * MIN)
    queue(store, frozen_clock, incident_id, "status_update", [ada, ben])

    due = {k: i.due_at for k, i in items(clocks.evaluate(incident_id)).items()
           if k.startswith("silence:")}
    assert due == {
        f"silence:{ada}": T0 + 20 * MIN + 30 * MIN,   # from her own last message, not the first
        f"silence:{ben}": T0 + 20 * MIN + 60 * MIN,
        f"silence:{cora}": T0 + 5 * MIN + 45 * MIN,   # her own max silence
    }  # Cal: a customer without max silence, and the client has no SLA; Rex: none at all

    configure_client(store, frozen_clock, client_id, notification_sla_minutes=120)
    snap = clocks.evaluate(incident_id)
    silence = items(snap)[f"silence:{cal}"]
    assert silence.due_at == T0 + 5 * MIN + 120 * MIN
    assert silence.stakeholder_ids == (cal,)
    assert "120 min" in silence.detail
    assert items(snap)[f"silence:{cora}"].due_at == T0 + 50 * MIN  # her own value wins
    assert f"silence:{rex}" not in items(snap)

    frozen_clock.set(T0 + 51 * MIN)
    overdue = {k for k, i in items(clocks.evaluate(incident_id)).items() if i.overdue}
    assert overdue == {f"silence:{ada}", f"silence:{cora}"}


# ---------------------------------------------------------------- cadence policy per client

def test_a_client_cadence_policy_moves_the_due_times_and_a_refused_one_stores_nothing(
        store, frozen_clock, incidents, client_id, people, clocks):
    other = second_client(store, frozen_clock)
    add_person(store, frozen_clock, other, "Otto Ops", "it_staff_msp")
    mine = open_incident(incidents, client_id)
    theirs = open_incident(incidents, other)
    rules = ClockRules(store)
    assert items(clocks.evaluate(mine))["acknowledgment"].due_at == T0 + 15 * MIN

    rules.save_policy(client_id, {"severity": "SEV3", "acknowledge_minutes": 10,
                                  "investigating_minutes": 20, "responding_minutes": 40,
                                  "resolution_minutes": 30, "summary_hours": 12,
                                  "fact_update_minutes": 10})
    both = clocks.evaluate_many([mine, theirs])
    assert items(both[mine])["acknowledgment"].due_at == T0 + 10 * MIN
    assert items(both[theirs])["acknowledgment"].due_at == T0 + 15 * MIN  # not their policy
    for incident_id in (mine, theirs):
        incidents.move_phase(incident_id, Phase.INVESTIGATING)
    both = clocks.evaluate_many([mine, theirs])
    assert items(both[mine])["status_update"].due_at == T0 + 20 * MIN
    assert items(both[theirs])["status_update"].due_at == T0 + 45 * MIN
    [(sev3, customised)] = [(p, c) for p, c in rules.policies(client_id)
                            if p.severity == Severity.SEV3]
    assert customised and sev3.investigating_minutes == 20

    def stored() -> list[tuple]:
        with store.session() as session:
            return [(r.client_id, r.severity, r.investigating_minutes)
                    for r in session.scalars(select(CadencePolicyRow))]

    before = stored()
    assert before == [(client_id, "SEV3", 20)]
    with pytest.raises(ValidationError) as refused:
        rules.save_policy(client_id, {"severity": "SEV3", "acknowledge_minutes": 10,
                                      "investigating_minutes": 2, "responding_minutes": 40,
                                      "resolution_minutes": 30, "summary_hours": 12,
                                  "fact_update_minutes": 10})
    assert set(refused.value.errors) == {"investigating_minutes"}
    with pytest.raises(ValidationError):
        rules.save_policy(other, {"severity": "SEV9", "acknowledge_minutes": 10,
                                  "investigating_minutes": 20, "responding_minutes": 40,
                                  "resolution_minutes": 30, "summary_hours": 12,
                                  "fact_update_minutes": 10})
    with pytest.raises(NotFound):
        rules.save_policy(9999, {"severity": "SEV3", "acknowledge_minutes": 10,
                                 "investigating_minutes": 20, "responding_minutes": 40,
                                 "resolution_minutes": 30, "summary_hours": 12,
                                  "fact_update_minutes": 10})
    assert stored() == before
    assert items(clocks.evaluate(mine))["status_update"].due_at == T0 + 20 * MIN

    rules.reset_policy(client_id, Severity.SEV3)
    assert stored() == []
    assert items(clocks.evaluate(mine))["status_update"].due_at == T0 + 45 * MIN


# ---------------------------------------------------------------- fact changes

def test_a_status_change_after_the_last_update_proposes_one_other_changes_do_not(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    incidents.move_phase(incident_id, Phase.INVESTIGATING)
    reached = [people["Ada Ops"], people["Ben User"]]
    frozen_clock.set(T0 + 10 * MIN)
    queue(store, frozen_clock, incident_id, "status_update", reached)

    frozen_clock.set(T0 + 15 * MIN)
    facts = incidents.get(incident_id).facts
    incidents.update_facts(incident_id, replace(facts, next_update_at=T0 + 40 * MIN))
    incidents.set_regulatory_figures(incident_id, 120, 40)
    assert "fact_change" not in items(clocks.evaluate(incident_id))

    frozen_clock.set(T0 + 20 * MIN)
    facts = incidents.get(incident_id).facts
    incidents.update_facts(incident_id, replace(facts, status="Failing over to the standby"))
    frozen_clock.set(T0 + 21 * MIN)
    change = items(clocks.evaluate(incident_id))["fact_change"]
    # due the policy's few minutes after the save (default 10), not overdue at once
    assert change.due_at == T0 + 30 * MIN and not change.overdue
    frozen_clock.set(T0 + 31 * MIN)
    assert items(clocks.evaluate(incident_id))["fact_change"].overdue
    assert change.template_type == "status_update"
    assert change.stakeholder_ids == tuple(sorted(reached))

    queue(store, frozen_clock, incident_id, "status_update", reached)
    assert "fact_change" not in items(clocks.evaluate(incident_id))


# ---------------------------------------------------------------- escalation

def test_escalation_rules_fire_once_each_and_a_disabled_rule_never(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    quiet = open_incident(incidents, client_id, severity="SEV4")
    assert clocks.fire_escalations() == []

    frozen_clock.set(T0 + 5 * MIN)
    incidents.change_severity(incident_id, Severity.SEV1, "Payments affected")
    fired = clocks.fire_escalations()
    assert [(i, p.condition_key) for i, p in fired] == [(incident_id, "sev_increase_sev2:to:SEV1")]
    assert clocks.fire_escalations() == []  # the same condition never fires twice
    assert len(timeline_kinds(store, incident_id, TimelineKind.ESCALATION_PROPOSED)) == 1

    ClockRules(store).set_enabled("sev2_unresolved_120", False)
    frozen_clock.set(T0 + 59 * MIN)
    assert clocks.fire_escalations() == []
    frozen_clock.set(T0 + 60 * MIN)
    assert [(i, p.condition_key) for i, p in clocks.fire_escalations()] == \
        [(incident_id, "sev1_unresolved_60")]
    frozen_clock.set(T0 + 5 * 60 * MIN)  # long past the disabled rule's 2 hours
    assert clocks.fire_escalations() == []
    assert clocks.fire_escalations([incident_id, quiet]) == []
    recorded = timeline_kinds(store, incident_id, TimelineKind.ESCALATION_PROPOSED)
    assert [d["condition_key"] for d in recorded] == ["sev_increase_sev2:to:SEV1",
                                                      "sev1_unresolved_60"]
    # the reasons' times are kept beside their words, in UTC, for each reader's zone
    assert [d["times"] for d in recorded] == [[(T0 + 5 * MIN).isoformat()], [T0.isoformat()]]
    assert [p.times for p in clocks.evaluate(incident_id).proposals] == [
        (T0 + 5 * MIN,), (T0,)]
    assert timeline_kinds(store, quiet, TimelineKind.ESCALATION_PROPOSED) == []

    # a new ClockService (another window, a restart) reads what fired from the timeline
    assert ClockService(store, frozen_clock).fire_escalations() == []


def test_two_services_firing_at_once_record_each_proposal_once(
        store, frozen_clock, incidents, client_id, people, clocks, monkeypatch):
    incident_id = open_incident(incidents, client_id)
    frozen_clock.set(T0 + 5 * MIN)
    incidents.change_severity(incident_id, Severity.SEV1)
    other = ClockService(store, frozen_clock)
    raced: list = []
    real = ClockService._escalation_inputs

    def read_then_race(g):  # type: ignore[no-untyped-def]
        # our read is done (and stale): the other service fires before we write
        if not raced:
            raced.append(other.fire_escalations([incident_id]))
        return real(g)

    monkeypatch.setattr(clocks, "_escalation_inputs", read_then_race)
    assert clocks.fire_escalations([incident_id]) == []
    assert [p.condition_key for _i, p in raced[0]] == ["sev_increase_sev2:to:SEV1"]
    assert [d["condition_key"] for d in timeline_kinds(
        store, incident_id, TimelineKind.ESCALATION_PROPOSED)] == ["sev_increase_sev2:to:SEV1"]


def test_escalation_decisions(store, frozen_clock, incidents, client_id, people, clocks):
    retired = add_person(store, frozen_clock, client_id, "Old Manager", "management",
                         active=False)
    other = second_client(store, frozen_clock)
    add_person(store, frozen_clock, other, "Their Manager", "management")
    incident_id = open_incident(incidents, client_id)
    elsewhere = open_incident(incidents, client_id)
    frozen_clock.set(T0 + 5 * MIN)
    incidents.change_severity(incident_id, Severity.SEV1)
    incidents.set_impact_flag(incident_id, ImpactFlag.REGULATORY, True)
    clocks.fire_escalations([incident_id])

    proposals = {p.condition_key: p for p in clocks.evaluate(incident_id).proposals}
    assert set(proposals) == {"sev_increase_sev2:to:SEV1", "regulatory_threshold"}
    severity = proposals["sev_increase_sev2:to:SEV1"]
    # the client's ACTIVE stakeholders of the rule's categories: not the retired manager,
    # not the other organisation's
    assert severity.stakeholder_ids == tuple(sorted([people["Mia Manager"], people["Eve Exec"]]))
    assert retired not in severity.stakeholder_ids
    assert proposals["regulatory_threshold"].stakeholder_ids == \
        tuple(sorted([people["Lee Legal"], people["Eve Exec"]]))
    assert severity.template_type == "escalation_notice"
    assert severity.proposed_at == T0 + 5 * MIN

    before = dump(store)
    with pytest.raises(ValidationError) as no_reason:
        clocks.decide_escalation(incident_id, "regulatory_threshold", confirmed=False,
                                 reason="  ")
    assert "reason" in no_reason.value.errors
    foreign = queue(store, frozen_clock, elsewhere, "escalation_notice", [people["Mia Manager"]])
    before = dump(store)
    with pytest.raises(ValidationError):
        clocks.decide_escalation(incident_id, "sev_increase_sev2:to:SEV1", confirmed=True,
                                 message_id=foreign)
    with pytest.raises(NotFound):
        clocks.decide_escalation(incident_id, "no_such_rule", confirmed=True)
    assert dump(store) == before  # nothing was written by the refusals

    notice = queue(store, frozen_clock, incident_id, "escalation_notice",
                   list(severity.stakeholder_ids))
    clocks.decide_escalation(incident_id, "sev_increase_sev2:to:SEV1", confirmed=True,
                             message_id=notice)
    assert [p.condition_key for p in clocks.evaluate(incident_id).proposals] == \
        ["regulatory_threshold"]
    with pytest.raises(ClockError):
        clocks.decide_escalation(incident_id, "sev_increase_sev2:to:SEV1", confirmed=False,
                                 reason="changed my mind")
    clocks.decide_escalation(incident_id, "regulatory_threshold", confirmed=False,
                             reason="Legal already on the bridge")
    assert clocks.evaluate(incident_id).proposals == ()
    with pytest.raises(ClockError):
        clocks.decide_escalation(incident_id, "regulatory_threshold", confirmed=True)

    decided = timeline_kinds(store, incident_id, TimelineKind.ESCALATION_DECIDED)
    assert [(d["condition_key"], d["decision"], d["message_id"], d["reason"]) for d in decided] == [
        ("sev_increase_sev2:to:SEV1", "confirmed", notice, ""),
        ("regulatory_threshold", "dismissed", None, "Legal already on the bridge")]
    # answered proposals stay answered: firing again records nothing
    assert clocks.fire_escalations([incident_id]) == []


# ---------------------------------------------------------------- regulatory clocks

@pytest.fixture
def hipaa_client(store, frozen_clock, client_id, people) -> int:
    configure_client(store, frozen_clock, client_id, regimes=("hipaa", "us_wa"),
                     notification_sla_minutes=240)
    return client_id


def test_a_backdated_discovery_starts_the_hipaa_and_washington_clocks(
        store, frozen_clock, incidents, hipaa_client, clocks):
    incident_id = open_incident(incidents, hipaa_client, impact_regulatory=True)
    waiting = regulatory(clocks.evaluate(incident_id))
    assert set(waiting) == {"hipaa_individuals", "hipaa_hhs_500_plus", "hipaa_hhs_under_500",
                            "hipaa_media", "us_wa_residents", "contract_sla"}
    assert waiting["hipaa_individuals"].status == ClockStatus.WAITING_TRIGGER
    assert waiting["us_wa_residents"].status == ClockStatus.WAITING_TRIGGER
    assert waiting["contract_sla"].due_at == T0 + 240 * MIN

    discovered = T0 - timedelta(days=3)
    clocks.record_trigger(incident_id, "discovery", discovered, note="Mis-sent lab results")
    snap = clocks.evaluate(incident_id)
    states = regulatory(snap)
    assert snap.triggers == {"discovery": discovered}
    assert states["hipaa_individuals"].started_at == discovered
    assert states["hipaa_individuals"].due_at == datetime(2026, 4, 28, 23, 59, 59,
                                                          tzinfo=timezone.utc)  # 60 days
    assert states["us_wa_residents"].started_at == discovered
    assert states["us_wa_residents"].due_at == datetime(2026, 3, 29, 23, 59, 59,
                                                        tzinfo=timezone.utc)  # 30 days
    assert states["hipaa_individuals"].status == ClockStatus.RUNNING
    [entry] = IncidentService(store, frozen_clock).timeline(incident_id)[-1:]
    assert entry.kind == "clock_started" and "(recorded later)" in entry.summary
    assert entry.data["effective_at"] == discovered.isoformat()

    # recorded again: the later record wins even though it names an earlier time
    corrected = T0 - timedelta(days=4)
    clocks.record_trigger(incident_id, "discovery", corrected, note="Found the first report")
    states = regulatory(clocks.evaluate(incident_id))
    assert states["us_wa_residents"].started_at == corrected
    assert states["us_wa_residents"].due_at == datetime(2026, 3, 28, 23, 59, 59,
                                                        tzinfo=timezone.utc)
    assert [d["effective_at"] for d in timeline_kinds(
        store, incident_id, TimelineKind.CLOCK_STARTED)] == [discovered.isoformat(),
                                                              corrected.isoformat()]

    before = dump(store)
    with pytest.raises(ValidationError) as future:
        clocks.record_trigger(incident_id, "discovery", T0 + 6 * MIN)
    assert "effective_at" in future.value.errors
    with pytest.raises(ValidationError):
        clocks.record_trigger(incident_id, "detection", T0)
    with pytest.raises(ValidationError):
        clocks.record_trigger(incident_id, "rumour", T0)
    with pytest.raises(NotFound):
        clocks.record_trigger(9999, "discovery", T0)
    assert dump(store) == before
    clocks.record_trigger(incident_id, "discovery", T0 + 4 * MIN)  # clock skew is tolerated
    assert clocks.evaluate(incident_id).triggers["discovery"] == T0 + 4 * MIN

    incidents.move_phase(incident_id, Phase.CLOSED)
    with pytest.raises(ClockError):
        clocks.record_trigger(incident_id, "discovery", T0)


def test_without_the_regulatory_flag_only_the_contract_sla_runs(
        store, frozen_clock, incidents, hipaa_client, clocks):
    incident_id = open_incident(incidents, hipaa_client)
    clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=1))
    assert list(regulatory(clocks.evaluate(incident_id))) == ["contract_sla"]
    incidents.set_impact_flag(incident_id, ImpactFlag.REGULATORY, True)
    states = regulatory(clocks.evaluate(incident_id))
    assert states["hipaa_individuals"].status == ClockStatus.RUNNING
    assert states["us_wa_residents"].started_at == T0 - timedelta(days=1)
    configure_client(store, frozen_clock, hipaa_client, notification_sla_minutes=None)
    incidents.set_impact_flag(incident_id, ImpactFlag.REGULATORY, False)
    assert clocks.evaluate(incident_id).regulatory == ()


def test_mark_satisfied_links_the_message_at_its_first_sent_time_and_clear_reopens(
        store, frozen_clock, incidents, hipaa_client, people, clocks):
    incident_id = open_incident(incidents, hipaa_client, impact_regulatory=True)
    elsewhere = open_incident(incidents, hipaa_client)
    clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=2))
    frozen_clock.set(T0 + 10 * MIN)
    letter = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Rex Regulator"], people["Lee Legal"]])
    frozen_clock.set(T0 + 13 * MIN)
    flush(store, frozen_clock)
    frozen_clock.set(T0 + 30 * MIN)
    assert [m[0] for m in clocks.regulatory_messages(incident_id)] == [letter]

    clocks.mark_satisfied(incident_id, "hipaa_individuals", letter)
    state = regulatory(clocks.evaluate(incident_id))["hipaa_individuals"]
    assert state.status == ClockStatus.SATISFIED
    assert state.satisfied.message_id == letter
    assert state.satisfied.at == T0 + 13 * MIN  # when it was first sent, not now

    # a message still queued counts from when it was queued
    frozen_clock.set(T0 + 40 * MIN)
    queued = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Rex Regulator"]])
    frozen_clock.set(T0 + 45 * MIN)
    clocks.mark_satisfied(incident_id, "us_wa_residents", queued)
    assert regulatory(clocks.evaluate(incident_id))["us_wa_residents"].satisfied.at == \
        T0 + 40 * MIN

    before = dump(store)
    with pytest.raises(ValidationError):
        clocks.clear_satisfied(incident_id, "hipaa_individuals", "")
    with pytest.raises(NotFound):
        clocks.mark_satisfied(incident_id, "no_such_rule", letter)
    assert dump(store) == before
    foreign = queue(store, frozen_clock, elsewhere, "status_update", [people["Rex Regulator"]])
    assert flush(store, frozen_clock).sent == 2  # the foreign one, and the one still queued
    # a notification that never went out (its one delivery refused) satisfies nothing
    bounced = queue(store, frozen_clock, incident_id, "regulatory_notification",
                    [people["Lee Legal"]])
    assert flush(store, frozen_clock, RefusingSender()).failed == 1
    before = dump(store)
    with pytest.raises(ValidationError):
        clocks.mark_satisfied(incident_id, "hipaa_media", foreign)
    with pytest.raises(ValidationError) as never_sent:
        clocks.mark_satisfied(incident_id, "hipaa_media", bounced)
    assert "message" in never_sent.value.errors
    assert dump(store) == before
    assert regulatory(clocks.evaluate(incident_id))["hipaa_media"].satisfied is None

    clocks.clear_satisfied(incident_id, "hipaa_individuals", "Sent to the wrong office")
    state = regulatory(clocks.evaluate(incident_id))["hipaa_individuals"]
    assert state.status == ClockStatus.RUNNING and state.satisfied is None
    assert regulatory(clocks.evaluate(incident_id))["us_wa_residents"].status == \
        ClockStatus.SATISFIED  # the other clock is untouched

    # a closed incident's record is final: nothing is marked, reopened or answered any more
    from app.clocks.evaluation import ClockError
    from app.domain.enums import Phase

    incidents.move_phase(incident_id, Phase.CLOSED)
    before = dump(store)
    with pytest.raises(ClockError, match="closed"):
        clocks.mark_satisfied(incident_id, "hipaa_individuals", letter)
    with pytest.raises(ClockError, match="closed"):
        clocks.clear_satisfied(incident_id, "us_wa_residents", "Late correction")
    with pytest.raises(ClockError, match="closed"):
        clocks.decide_escalation(incident_id, "any", confirmed=False, reason="Too late")
    assert dump(store) == before


def test_affected_counts_switch_the_hhs_and_media_clocks(
        store, frozen_clock, incidents, hipaa_client, clocks):
    incident_id = open_incident(incidents, hipaa_client, impact_regulatory=True)
    clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=1))

    def status() -> dict[str, ClockStatus]:
        return {k: s.status for k, s in regulatory(clocks.evaluate(incident_id)).items()
                if k.startswith("hipaa_")}

    unknown = regulatory(clocks.evaluate(incident_id))
    # counts not entered: every clock that might apply stays visible
    assert {k: s.status for k, s in unknown.items() if k.startswith("hipaa_")} == {
        "hipaa_individuals": ClockStatus.RUNNING, "hipaa_hhs_500_plus": ClockStatus.RUNNING,
        "hipaa_hhs_under_500": ClockStatus.RUNNING, "hipaa_media": ClockStatus.RUNNING}
    assert "not yet entered" in unknown["hipaa_hhs_500_plus"].explanation

    incidents.set_regulatory_figures(incident_id, 600, 100)
    assert status() == {
        "hipaa_individuals": ClockStatus.RUNNING, "hipaa_hhs_500_plus": ClockStatus.RUNNING,
        "hipaa_hhs_under_500": ClockStatus.NOT_APPLICABLE,
        "hipaa_media": ClockStatus.NOT_APPLICABLE}

    incidents.set_regulatory_figures(incident_id, 120, 120)
    states = regulatory(clocks.evaluate(incident_id))
    assert states["hipaa_hhs_500_plus"].status == ClockStatus.NOT_APPLICABLE
    assert states["hipaa_hhs_under_500"].status == ClockStatus.RUNNING
    # 60 days after the end of the calendar year of discovery
    assert states["hipaa_hhs_under_500"].due_at == datetime(2027, 3, 1, 23, 59, 59,
                                                            tzinfo=timezone.utc)

    incidents.set_regulatory_figures(incident_id, 900, 700)
    assert status()["hipaa_media"] == ClockStatus.RUNNING
    assert status()["hipaa_hhs_500_plus"] == ClockStatus.RUNNING


def test_gdpr_awareness_backdated_80_hours_is_overdue_at_once(
        store, frozen_clock, incidents, client_id, clocks):
    configure_client(store, frozen_clock, client_id, regimes=("gdpr",))
    incident_id = open_incident(incidents, client_id, impact_regulatory=True)
    assert regulatory(clocks.evaluate(incident_id))["gdpr_art33"].status == \
        ClockStatus.WAITING_TRIGGER
    aware = T0 - timedelta(hours=80)
    clocks.record_trigger(incident_id, "awareness", aware)
    snap = clocks.evaluate(incident_id)
    art33 = regulatory(snap)["gdpr_art33"]
    assert art33.status == ClockStatus.OVERDUE
    assert art33.due_at == aware + timedelta(hours=72)
    assert art33.remaining == -timedelta(hours=8)
    assert (f"clock:gdpr_art33@{art33.due_at.isoformat()}", art33.due_at, art33.rule.title) \
        in snap.overdue()
    row = next(r for r in clock_rows(snap, T0) if r.key == "gdpr_art33")
    assert row.urgency == OVERDUE and row.status == "Overdue 8 h 00 min"


# ---------------------------------------------------------------- reminders

def test_each_reminder_is_recorded_once_even_by_a_new_service(
        store, frozen_clock, incidents, client_id, people, clocks):
    incident_id = open_incident(incidents, client_id)
    frozen_clock.set(T0 + 20 * MIN)  # the acknowledgment is overdue
    snap = clocks.evaluate(incident_id)
    overdue = snap.overdue()
    assert [k for k, _d, _t in overdue] == [f"acknowledgment@{(T0 + 15 * MIN).isoformat()}"]

    assert clocks.record_reminders(incident_id, overdue) == overdue
    assert clocks.record_reminders(incident_id, overdue) == []
    fresh = ClockService(store, frozen_clock)  # a restart: it knows only the timeline
    assert fresh.record_reminders(incident_id, overdue) == []
    assert fresh.evaluate(incident_id).reminded == frozenset(k for k, _d, _t in overdue)
    assert clocks.record_reminders(incident_id, []) == []

    frozen_clock.set(T0 + 60 * MIN)
    incidents.move_phase(incident_id, Phase.INVESTIGATING)
    frozen_clock.set(T0 + 2 * 60 * MIN)
    later = ClockService(store, frozen_clock).evaluate(incident_id).overdue()
    assert len(later) == 2
    new = fresh.record_reminders(incident_id, later)
    assert [k for k, _d, _t in new] == [f"status_update@{(T0 + 105 * MIN).isoformat()}"]
    entries = timeline_kinds(store, incident_id, TimelineKind.REMINDER)
    assert [[i["key"] for i in e["items"]] for e in entries] == \
        [[overdue[0][0]], [new[0][0]]]


# ---------------------------------------------------------------- the record

def test_the_service_writes_only_timeline_entries_and_evaluating_writes_nothing(
        store, frozen_clock, incidents, client_id, people, clocks):
    configure_client(store, frozen_clock, client_id, regimes=("hipaa",),
                     notification_sla_minutes=60)
    incident_id = open_incident(incidents, client_id, impact_regulatory=True)
    frozen_clock.set(T0 + 5 * MIN)
    incidents.change_severity(incident_id, Severity.SEV1)
    letter = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Rex Regulator"]])
    flush(store, frozen_clock)
    frozen_clock.set(T0 + 2 * 60 * MIN)

    def only_appended(action) -> list[tuple]:  # type: ignore[no-untyped-def]
        before = dump(store)
        action()
        after = dump(store)
        record = ("timeline_entries", "timeline_hashes")     # the entries and their chain
        assert {t: rows for t, rows in after.items() if t not in record} == \
            {t: rows for t, rows in before.items() if t not in record}
        old = before["timeline_entries"]
        assert after["timeline_entries"][:len(old)] == old  # append-only
        links = before["timeline_hashes"]
        assert after["timeline_hashes"][:len(links)] == links
        added = after["timeline_entries"][len(old):]
        assert len(after["timeline_hashes"]) - len(links) == len(added)   # each one chained
        return added

    steps = [
        lambda: clocks.record_trigger(incident_id, "discovery", T0 - timedelta(days=1)),
        lambda: clocks.mark_satisfied(incident_id, "hipaa_individuals", letter),
        lambda: clocks.clear_satisfied(incident_id, "hipaa_individuals", "Wrong letter"),
        lambda: clocks.fire_escalations(),
        lambda: clocks.decide_escalation(incident_id, "sev1_unresolved_60", confirmed=False,
                                         reason="Already escalated by phone"),
        lambda: clocks.record_reminders(incident_id, clocks.evaluate(incident_id).overdue()),
    ]
    kinds = []
    for step in steps:
        added = only_appended(step)
        assert added, "each step records something"
        kinds += [row[3] for row in added]
    assert set(kinds) == CLOCK_ENTRY_KINDS
    assert all(row[1] == incident_id for row in dump(store)["timeline_entries"]
               if row[3] in CLOCK_ENTRY_KINDS)

    before = dump(store)
    snap = clocks.evaluate(incident_id)
    every = clocks.evaluate_many()
    ClockService(store, frozen_clock).evaluate_many([incident_id])
    assert dump(store) == before
    assert snap.regulatory and snap.proposals and incident_id in every
    with store.session() as session:
        count = session.scalar(select(func.count(TimelineEntry.id)))
    assert count == len(before["timeline_entries"])


def test_mark_met_proposes_the_first_message_after_the_trigger_to_the_clocks_audience(
        store, frozen_clock, incidents, client_id, people, clocks):
    """Issue 17: for HIPAA's notice to individuals (audience: affected users and customers)
    the proposal is the earliest message queued at or after discovery that reached one of
    them — not the newest, not one to IT, not one from before the trigger, not one whose
    deliveries all failed."""
    configure_client(store, frozen_clock, client_id, regimes=("hipaa",))
    incident_id = open_incident(incidents, client_id, impact_regulatory=True)
    assert clocks.proposed_met_message(incident_id, "hipaa_individuals") is None  # not started
    before = queue(store, frozen_clock, incident_id, "status_update", [people["Ben User"]])
    frozen_clock.set(T0 + 10 * MIN)
    clocks.record_trigger(incident_id, "discovery", T0 + 5 * MIN)
    frozen_clock.set(T0 + 20 * MIN)
    queue(store, frozen_clock, incident_id, "status_update", [people["Ada Ops"]])   # IT only
    frozen_clock.set(T0 + 30 * MIN)
    failed = queue(store, frozen_clock, incident_id, "regulatory_notification",
                   [people["Ben User"]])
    with store.session() as s, s.begin():
        s.execute(update(Delivery).where(Delivery.message_id == failed)
                  .values(state=DeliveryState.FAILED))
    frozen_clock.set(T0 + 40 * MIN)
    first = queue(store, frozen_clock, incident_id, "regulatory_notification",
                  [people["Cal Customer"], people["Ada Ops"]])
    frozen_clock.set(T0 + 50 * MIN)
    queue(store, frozen_clock, incident_id, "status_update", [people["Ben User"]])  # later
    assert clocks.proposed_met_message(incident_id, "hipaa_individuals") == first
    assert first != before
    # HHS (audience: regulators) has no such message yet
    assert clocks.proposed_met_message(incident_id, "hipaa_hhs_under_500") is None


# ---------------------------------------------------------------- the deliveries summed up in SQL

def test_the_deliveries_summed_up_per_message_read_as_every_delivery_would(
        store, frozen_clock, incidents, client_id, people, clocks):
    """ClockService reads the deliveries summed up per message in SQL (issue 22); the rules
    must see what index_communications() makes of every delivery one by one: cancelled and
    failed ones left out, a message whose deliveries were queued at different times, one to
    a stakeholder since deleted (no stakeholder id), the first sent time, the latest of each
    template type and of each stakeholder."""
    from app.clocks.cadence import (
        CadenceInputs, Communication, evaluate_cadence, index_communications,
    )
    from app.clocks.evaluation import NOT_COMMUNICATED
    from app.domain.models import Message

    incident_id = open_incident(incidents, client_id)
    ada, ben, cal, cora, mia = (people[n] for n in ("Ada Ops", "Ben User", "Cal Customer",
                                                    "Cora Customer", "Mia Manager"))
    frozen_clock.advance(minutes=3)
    queue(store, frozen_clock, incident_id, "initial_acknowledgment", [ada, ben])
    flush(store, frozen_clock)
    frozen_clock.advance(minutes=7)
    mixed = queue(store, frozen_clock, incident_id, "status_update", [ada, cal, cora, mia])
    frozen_clock.advance(minutes=5)
    queue(store, frozen_clock, incident_id, "resolution_notice", [ben, cora])
    frozen_clock.advance(minutes=5)
    queue(store, frozen_clock, incident_id, "post_incident_summary", [mia])
    flush(store, frozen_clock)
    frozen_clock.advance(minutes=5)
    cancelled = queue(store, frozen_clock, incident_id, "status_update", [ada, ben])
    with store.session() as s, s.begin():
        rows = list(s.scalars(select(Delivery).where(Delivery.message_id == mixed)
                              .order_by(Delivery.id)))
        rows[0].created_at = T0 + 40 * MIN    # Ada's copy queued later than the others
        rows[1].created_at = T0 + 2 * MIN     # Cal's earlier (and first of all)
        rows[2].stakeholder_id = None         # Cora's: a stakeholder since deleted
        rows[3].state = DeliveryState.FAILED  # Mia's refused
        s.execute(update(Delivery).where(Delivery.message_id == cancelled)
                  .values(state=DeliveryState.CANCELLED))

    with store.session() as s:
        every = [Communication(stakeholder_id=sid, queued_at=queued, sent_at=sent,
                               template_type=template_type, message_id=message_id)
                 for sid, queued, sent, template_type, message_id in s.execute(
                     select(Delivery.stakeholder_id, Delivery.created_at, Delivery.sent_at,
                            Message.template_type, Message.id)
                     .join(Message, Message.id == Delivery.message_id)
                     .where(Message.incident_id == incident_id,
                            Delivery.state.not_in(NOT_COMMUNICATED)))]
        gathered = clocks._gather(s, [incident_id])[incident_id]
    expected = index_communications(every)
    assert gathered.communications == expected
    assert expected.last_by_stakeholder == {ada: T0 + 40 * MIN, ben: T0 + 15 * MIN,
                                            cal: T0 + 2 * MIN, cora: T0 + 15 * MIN,
                                            mia: T0 + 20 * MIN}
    assert expected.first_queued == T0 + 2 * MIN and expected.last_queued == T0 + 40 * MIN
    assert expected.acknowledged and expected.first_sent is not None

    for phase in (Phase.INVESTIGATING, Phase.RESOLVED):
        incidents.move_phase(incident_id, phase)
        snap = clocks.evaluate(incident_id)
        inc = incidents.get(incident_id)
        policy = clocks.rules.policies(client_id)[2][0]   # SEV3, as opened
        inputs = CadenceInputs(
            severity=Severity.SEV3, phase=phase, detected_at=T0,
            phase_since=frozen_clock.now(), resolved_at=frozen_clock.now()
            if phase == Phase.RESOLVED else None, last_fact_change_at=None,
            stakeholders=gathered.stakeholders, communications=every)
        assert inc.phase == phase
        assert snap.cadence == evaluate_cadence(policy, inputs, frozen_clock.now())
