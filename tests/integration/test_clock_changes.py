"""The clocks' change counter (issue 22, migration 0015) and the evaluations ClockService keeps
by it, on a real migrated SQLite file under a FrozenClock.

1. Every kind of write a clock reads moves the counter of the incidents that read it — done
   through the application's own services, as the window does them — and leaves the others'
   alone; a guard checks that an evaluation reads no table the triggers do not watch.
2. A kept evaluation equals a fresh one at every moment: a walk of the frozen clock across
   every due time (a microsecond before, at, after), forwards and back, with writes between.
3. "What became overdue since the last look" (the notifier's) and fire_escalations() from the
   kept values equal what a fresh service finds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.clocks.changes import change_counter, change_counters
from app.clocks.evaluation import ClockService
from app.clocks.rules import ClockRules
from app.domain.dto import Facts, StakeholderData
from app.domain.enums import ImpactFlag, Phase, Severity
from app.events import EventBus
from app.stakeholders.clients import save_client
from app.stakeholders.groups import GroupService
from app.stakeholders.service import StakeholderService
from app.domain.dto import ClientSettings
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, RefusingSender, add_person, clocks, configure_client, flush, open_incident,
    outbox, people, queue,
)

DEFAULT_POLICY = {"severity": "SEV3", "acknowledge_minutes": 10, "investigating_minutes": 20,
                  "responding_minutes": 40, "resolution_minutes": 30, "summary_hours": 12,
                  "fact_update_minutes": 5}
RULE = {"key": "bench_flag", "name": "External impact → media", "trigger": "external_impact",
        "categories": ["media"], "template_type": "escalation_notice"}


@pytest.fixture
def world(store, frozen_clock, incidents, client_id, people):  # noqa: F811 - the fixture
    """Two incidents of the client (mine, its sibling) and one of another client."""
    other_client = save_client(store, frozen_clock, ClientSettings(name="Other Org")).id
    add_person(store, frozen_clock, other_client, "Oz Other", "it_staff_msp")
    return {"client": client_id, "other_client": other_client, "people": people,
            "mine": open_incident(incidents, client_id),
            "sibling": open_incident(incidents, client_id),
            "other": open_incident(incidents, other_client)}


def counters(store, world) -> dict[str, int]:
    with store.reading() as session:
        return {name: change_counter(session, world[name])
                for name in ("mine", "sibling", "other")}


def _queued(store, clock, world) -> dict:
    return {"message": queue(store, clock, world["mine"], "status_update",
                             [world["people"]["Ada Ops"], world["people"]["Ben User"]])}


def _rule(store, clock, world) -> dict:
    ClockRules(store).save_rule(RULE)
    return {}



def _stakeholder_data(store, clock, world, **changes) -> StakeholderData:
    person = StakeholderService(store, clock).get(world["people"]["Mia Manager"])
    return StakeholderData(client_id=person.client_id, name=changes.get("name", person.name),
                           category=changes.get("category", str(person.category)),
                           max_silence_minutes=changes.get("max_silence", 30),
                           contacts=())


# (kind of write, what it reads first (not measured), the write, whose counter must move)
INCIDENT, CLIENT, ALL_OPEN = {"mine"}, {"mine", "sibling"}, {"mine", "sibling", "other"}
WRITES = [
    ("timeline: a note", None,
     lambda s, c, w, i, k, p: i.add_note(w["mine"], "Called the vendor"), INCIDENT),
    ("timeline: a regulatory trigger", None,
     lambda s, c, w, i, k, p: k.record_trigger(w["mine"], "discovery", c.now()), INCIDENT),
    ("timeline: a reminder", None,
     lambda s, c, w, i, k, p: k.record_reminders(w["mine"], [("x@y", c.now(), "X")]), INCIDENT),
    ("facts", None,
     lambda s, c, w, i, k, p: i.update_facts(w["mine"], Facts(status="Failing over")), INCIDENT),
    ("phase", None,
     lambda s, c, w, i, k, p: i.move_phase(w["mine"], Phase.INVESTIGATING), INCIDENT),
    ("severity", None,
     lambda s, c, w, i, k, p: i.change_severity(w["mine"], Severity.SEV1), INCIDENT),
    ("impact flag", None,
     lambda s, c, w, i, k, p: i.set_impact_flag(w["mine"], ImpactFlag.REGULATORY, True),
     INCIDENT),
    ("regulatory figures", None,
     lambda s, c, w, i, k, p: i.set_regulatory_figures(w["mine"], 600, 20), INCIDENT),
    ("message queued with its deliveries", None,
     lambda s, c, w, i, k, p: _queued(s, c, w), INCIDENT),
    ("delivery outcome: sent", _queued,
     lambda s, c, w, i, k, p: flush(s, c), INCIDENT),
    ("delivery outcome: failed", _queued,
     lambda s, c, w, i, k, p: flush(s, c, RefusingSender(None)), INCIDENT),
    ("delivery cancelled", _queued,
     lambda s, c, w, i, k, p: outbox(s, c).cancel(_delivery_ids(s, p["message"])), INCIDENT),
    ("stakeholder created", None,
     lambda s, c, w, i, k, p: add_person(s, c, w["client"], "New Person", "management"),
     CLIENT),
    ("stakeholder edited", None,
     lambda s, c, w, i, k, p: StakeholderService(s, c).update(
         w["people"]["Mia Manager"], _stakeholder_data(s, c, w, max_silence=15)), CLIENT),
    ("stakeholder's category", None,
     lambda s, c, w, i, k, p: StakeholderService(s, c).set_category(
         w["people"]["Mia Manager"], "executives"), CLIENT),
    ("stakeholder deleted", None,
     lambda s, c, w, i, k, p: StakeholderService(s, c).delete(w["people"]["Eve Exec"]),
     CLIENT),
    ("client settings", None,
     lambda s, c, w, i, k, p: configure_client(s, c, w["client"], notification_sla_minutes=30),
     CLIENT),
    ("cadence policy saved", None,
     lambda s, c, w, i, k, p: ClockRules(s).save_policy(w["client"], DEFAULT_POLICY), CLIENT),
    ("cadence policy reset", lambda s, c, w: ClockRules(s).save_policy(w["client"],
                                                                       DEFAULT_POLICY) and {},
     lambda s, c, w, i, k, p: ClockRules(s).reset_policy(w["client"], Severity.SEV3), CLIENT),
    ("escalation rule added", None,
     lambda s, c, w, i, k, p: ClockRules(s).save_rule(RULE), ALL_OPEN),
    ("escalation rule disabled", _rule,
     lambda s, c, w, i, k, p: ClockRules(s).set_enabled(RULE["key"], False), ALL_OPEN),
    ("escalation rule deleted", _rule,
     lambda s, c, w, i, k, p: ClockRules(s).delete_rule(RULE["key"]), ALL_OPEN),
]


def _delivery_ids(store, message_id: int) -> list[int]:
    from sqlalchemy import select

    from app.domain.models import Delivery
    with store.reading() as session:
        return list(session.scalars(select(Delivery.id).where(Delivery.message_id == message_id)))


@pytest.mark.parametrize("kind, prepare, write, moves", WRITES, ids=[w[0] for w in WRITES])
def test_each_write_a_clock_reads_moves_the_counter_of_the_incidents_that_read_it(
        store, frozen_clock, incidents, clocks, world, kind, prepare, write, moves):  # noqa: F811
    prepared = prepare(store, frozen_clock, world) if prepare else {}
    frozen_clock.set(T0 + 3 * MIN)
    before = counters(store, world)
    write(store, frozen_clock, world, incidents, clocks, prepared or {})
    after = counters(store, world)
    moved = {name for name in before if after[name] != before[name]}
    assert moved == moves, f"{kind}: moved {sorted(moved)}, expected {sorted(moves)}"
    assert all(after[name] > before[name] for name in moved)   # it only grows


@pytest.mark.parametrize("column, value", [
    ("state", "'failed'"), ("sent_at", "'2026-03-02 09:30:00.000000'"), ("sent_at", "NULL"),
    ("created_at", "'2026-03-02 09:01:00.000000'"), ("stakeholder_id", "NULL"),
    ("attempts", "7"), ("last_error", "'450 try later'"), ("next_attempt_at", "NULL")])
def test_a_delivery_row_moves_the_counter_when_a_column_the_clocks_read_changes(
        store, frozen_clock, world, column, value):
    """The services record an outcome with a timeline entry too; the delivery's own trigger
    must hold without it (a provider's late report, a bounce) — and ignore the columns the
    outbox rewrites on every attempt, which no clock reads."""
    from sqlalchemy import text

    message = _queued(store, frozen_clock, world)["message"]
    with store.session() as session, session.begin():
        session.execute(text("UPDATE deliveries SET state = 'sent', sent_at = "
                             "'2026-03-02 09:20:00.000000' WHERE message_id = :m"),
                        {"m": message})
    before = counters(store, world)
    with store.session() as session, session.begin():
        session.execute(text(f"UPDATE deliveries SET {column} = {value} WHERE id = "
                             "(SELECT min(id) FROM deliveries WHERE message_id = :m)"),
                        {"m": message})
    moved = {name for name, seq in counters(store, world).items() if seq != before[name]}
    read = column in ("state", "sent_at", "created_at", "stakeholder_id")
    assert moved == ({"mine"} if read else set())


def test_writes_the_clocks_do_not_read_leave_the_counters_alone(
        store, frozen_clock, world):
    """Groups, memberships and contact points are not read by any clock (the guard below
    keeps it so): they bump nothing."""
    before = counters(store, world)
    groups = GroupService(store)
    group = groups.create(world["client"], "Night shift")
    groups.set_members(group.id, {world["people"]["Ada Ops"]}, ())
    groups.rename(group.id, "Night crew")
    assert counters(store, world) == before


def test_an_evaluation_reads_only_tables_whose_writes_move_the_counter(store, frozen_clock,
                                                                       world, clocks):  # noqa: F811
    """If a clock starts reading another table, this fails until the table's writes bump the
    counter (app/storage/triggers.py CHANGE_TRIGGERS) — or are shown not to matter."""
    from app.storage.triggers import CHANGE_TRIGGERS

    ClockRules(store).save_rule(RULE)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        ClockService(store, frozen_clock).evaluate_many()
        ClockService(store, frozen_clock).fire_escalations(now=T0)
        ClockService(store, frozen_clock).overdue_unreminded()
        ClockService(store, frozen_clock).fire_unconfirmed(now=T0 + 600 * MIN)
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    read = {t for sql in statements for t in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql, re.I)}
    watched = {re.search(r" ON (\w+)", sql).group(1) for sql in CHANGE_TRIGGERS.values()}
    assert read and read <= watched, read - watched


def test_the_kept_evaluation_is_read_again_only_where_the_counter_moved(
        store, frozen_clock, world, incidents):
    service = ClockService(store, frozen_clock, EventBus())
    ids = [world["mine"], world["sibling"], world["other"]]
    gathered: list[list[int]] = []
    original = service._gather

    def spy(session, chunk, people_and_messages=True):  # type: ignore[no-untyped-def]
        gathered.append(sorted(chunk))
        return original(session, chunk, people_and_messages)

    service._gather = spy  # type: ignore[method-assign]
    service.evaluate_many(ids)
    service.evaluate_many(ids, now=T0 + 90 * MIN)
    assert gathered == [sorted(ids)]
    incidents.add_note(world["sibling"], "one more")
    service.evaluate_many(ids)
    assert gathered[1:] == [[world["sibling"]]]
    configure_client(store, frozen_clock, world["other_client"], notification_sla_minutes=5)
    service.evaluate_many(ids)
    assert gathered[2:] == [[world["other"]]]
    service.fire_escalations(ids)
    service.fire_escalations(ids, now=T0 + 90 * MIN)
    assert len(gathered) == 4   # the escalation inputs once, then kept


def test_the_collector_is_held_off_while_incidents_are_evaluated_and_back_after(
        store, frozen_clock, world):
    import gc

    service = ClockService(store, frozen_clock, EventBus())
    seen: list[bool] = []
    gather, evaluate = service._gather, service._evaluate

    def gathering(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return gather(*args, **kwargs)

    def evaluating(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        if len(seen) == 6:
            raise RuntimeError("an evaluation that fails")
        return evaluate(*args, **kwargs)

    service._gather, service._evaluate = gathering, evaluating  # type: ignore[method-assign]
    assert gc.isenabled()
    service.evaluate_many()
    assert (seen, gc.isenabled()) == ([False] * 4, True)
    frozen_clock.advance(minutes=1)
    service.evaluate_many()   # nothing moved: nothing read, nothing evaluated
    assert len(seen) == 4
    service._kept.clear()
    with pytest.raises(RuntimeError):
        service.evaluate_many()
    assert gc.isenabled()     # back on after a failure too
    gc.disable()
    try:   # a collector the process turned off stays off
        service.evaluate_many()
        assert not gc.isenabled()
    finally:
        gc.enable()


# ---------------------------------------------------------------- kept == fresh, at any time

def boundaries(snapshot) -> list:  # type: ignore[no-untyped-def]
    """Every moment at which something of the snapshot turns, as evaluation computes it."""
    found = [item.due_at for item in snapshot.cadence.items]
    for state in snapshot.regulatory:
        if state.due_at and state.started_at:
            found += [state.due_at, state.due_at - max((state.due_at - state.started_at) / 4,
                                                       timedelta(hours=1))]
    return found


def fresh_unreminded(store, clock, ids, now) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for iid, snap in ClockService(store, clock).evaluate_many(ids, now).items():
        items = [i for i in snap.overdue() if i[0] not in snap.reminded]
        if items:
            out[iid] = (snap.title, items)
    return out


def test_a_kept_evaluation_equals_a_fresh_one_at_every_moment(
        store, frozen_clock, incidents, world, clocks):  # noqa: F811 - the fixture
    p = world["people"]
    configure_client(store, frozen_clock, world["client"], regimes=("gdpr", "hipaa"),
                     notification_sla_minutes=60)
    mine, other = world["mine"], world["other"]
    incidents.set_impact_flag(mine, ImpactFlag.REGULATORY, True)
    frozen_clock.set(T0 + 5 * MIN)
    clocks.record_trigger(mine, "awareness", T0 + 2 * MIN)
    queue(store, frozen_clock, mine, "initial_acknowledgment",
          [p["Ada Ops"], p["Ben User"], p["Cal Customer"], p["Cora Customer"]])
    flush(store, frozen_clock)
    frozen_clock.set(T0 + 10 * MIN)
    incidents.move_phase(mine, Phase.INVESTIGATING)
    incidents.change_severity(mine, Severity.SEV1)
    frozen_clock.set(T0 + 20 * MIN)
    incidents.update_facts(mine, Facts(status="Failing over"))
    ids = [mine, world["sibling"], other]

    start = ClockService(store, frozen_clock).evaluate_many(ids)
    moments = sorted({b + d for s in start.values() for b in boundaries(s)
                      for d in (-timedelta(microseconds=1), timedelta(0),
                                timedelta(microseconds=1))}
                     | {T0 + 15 * MIN + timedelta(microseconds=k) for k in (0, 1)}
                     | {T0 + 20 * MIN + k * 7 * MIN for k in range(40)})
    assert len(moments) > 60
    checked = 0
    for n, now in enumerate(m for m in moments if m >= T0 + 20 * MIN):
        frozen_clock.set(now)
        assert clocks.evaluate_many(ids) == ClockService(store, frozen_clock).evaluate_many(ids)
        assert clocks.evaluate(mine, now) == ClockService(store, frozen_clock).evaluate(mine)
        due = clocks.overdue_unreminded(ids)
        assert due == fresh_unreminded(store, frozen_clock, ids, now)
        if n % 9 == 4:   # the notifier's look now and then: it writes reminders
            for iid, (_title, fresh) in due.items():
                clocks.record_reminders(iid, fresh)
            assert clocks.overdue_unreminded(ids) == {}
            fired = clocks.fire_escalations(ids)
            assert all(prop.condition_at <= now for _iid, prop in fired)
            assert ClockService(store, frozen_clock).fire_escalations(ids) == []  # none missed
        if n == 30:
            queue(store, frozen_clock, mine, "status_update", [p["Ada Ops"], p["Mia Manager"]])
        checked += 1
    assert checked > 60
    # backwards too: a kept evaluation restated at an earlier moment
    for now in (T0 + 20 * MIN, T0 + 16 * MIN, T0 + 15 * MIN):
        assert clocks.evaluate_many(ids, now) == \
            ClockService(store, frozen_clock).evaluate_many(ids, now)
        assert clocks.overdue_unreminded(ids, now) == fresh_unreminded(store, frozen_clock,
                                                                       ids, now)


def test_nothing_new_to_escalate_until_a_threshold_passes(store, frozen_clock, incidents,
                                                          world, clocks):  # noqa: F811
    """The default rules include SEV1 unresolved 60 minutes after detection: the kept inputs
    know when it will first hold, and nothing is proposed before."""
    incidents.change_severity(world["mine"], Severity.SEV1)
    first = {(i, p.condition_key) for i, p in clocks.fire_escalations()}
    assert first and clocks.fire_escalations() == []
    frozen_clock.set(T0 + 60 * MIN - timedelta(microseconds=1))
    assert clocks.fire_escalations() == []
    frozen_clock.set(T0 + 60 * MIN)
    later = [(i, p.condition_key) for i, p in clocks.fire_escalations()]
    assert later and all(i == world["mine"] for i, _k in later)
    assert ClockService(store, frozen_clock).fire_escalations() == []


def test_counters_of_incidents(store, world):
    with store.reading() as session:
        every = change_counters(session)
        assert list(every) == sorted(every) and set(every) >= {world["mine"], world["other"]}
        assert change_counters(session, [world["other"], 999_999]) == {
            world["other"]: every[world["other"]]}
        assert change_counter(session, 999_999) == -1
