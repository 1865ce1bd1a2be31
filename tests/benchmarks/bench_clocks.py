"""Incident clocks at scale: evaluate every clock — update cadence, max silence per stakeholder,
escalation proposals, regulatory deadlines — for 1,000 open incidents of 20 clients with 50
stakeholders each (the target), and one incident alone (what the clocks panel does on a worker
thread on every refresh).

The database is a fresh migrated Store. Clients, stakeholders and the drill account go through
the app's own services; one sample incident per client gets real messages queued by the composer
(so the rendered subjects and bodies have their real sizes); the other incidents, their timeline,
messages and deliveries are bulk-inserted with the same rows the services write (phase, severity,
flag and fact changes, backdated regulatory triggers, message_queued and per-delivery
delivery_sent/failed entries, mostly sent deliveries with a few failed, cancelled or still queued).

Timed, under a FrozenClock, each beside its baseline from the same run (the cold evaluation:
a new ClockService, nothing kept):
    evaluate_many() over all open incidents       cold, and with nothing changed since the last
                                                   look (the kept evaluations, issue 22), medians
                                                   of --runs (5); the memory they keep
    overdue_unreminded() over all                  cold: evaluate_many plus the due times the
                                                   notifier compares (worked out on first use)
    evaluate() of one incident                     cold, after a write to it, and kept: medians
                                                   of --single-runs (20)
    fire_escalations() over all                    the first call (records the proposals), then
                                                   calls that find nothing new, cold and kept
    the notifier's look                            fire_escalations + overdue_unreminded

Run from the repo root:
    .venv/bin/python tests/benchmarks/bench_clocks.py [--incidents 1000] [--clients 20]
        [--stakeholders 50] [--messages 3] [--recipients 20] [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from app.sending.accounts import AccountService  # noqa: E402
from app.stakeholders.clients import list_clients, save_client  # noqa: E402
from app.clock import FrozenClock  # noqa: E402
from app.clocks.evaluation import ClockService  # noqa: E402
from app.messages.composer import Sender, queue_message  # noqa: E402
from app.domain.dto import ClientSettings, ContactPointData, StakeholderData  # noqa: E402
from app.domain.enums import (  # noqa: E402
    Category, Channel, DeliveryState, Phase, Severity, TimelineKind,
)
from app.domain.models import (  # noqa: E402
    ContactPoint, Delivery, Incident, Message, Stakeholder, TimelineEntry,
)
from app.events import EventBus  # noqa: E402
from app.incidents.lifecycle import IncidentService  # noqa: E402
from app.stakeholders.recipients import resolve_recipients  # noqa: E402
from app.sending.secrets import MemorySecretBackend, SecretStore  # noqa: E402
from app.stakeholders.service import StakeholderService  # noqa: E402
from app.storage import Store  # noqa: E402
from app.messages.library import TYPE_LABELS, effective_templates  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ACTOR = "Bench Coordinator"
# client regimes, in turn (a US healthcare client, an EU one, a listed company, none)
REGIMES = [("hipaa", "us_wa"), ("gdpr",), ("sec", "nydfs"), ()]
TRIGGER_OF = {"hipaa": "discovery", "gdpr": "awareness", "sec": "materiality_determination"}
OPEN_PHASES = [Phase.DETECTED, Phase.INVESTIGATING, Phase.RESPONDING, Phase.RESOLVED]
PHASE_ORDER = [Phase.DETECTED, Phase.INVESTIGATING, Phase.RESPONDING, Phase.RESOLVED]
SEVERITIES = [Severity.SEV1, Severity.SEV2, Severity.SEV3, Severity.SEV4]
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
LAST = ["Okafor", "Reyes", "Natarajan", "Becker", "Chen", "Whitfield", "Liu", "Bell", "Walsh"]


# ---------------------------------------------------------------- building the database

def add_clients(store: Store, clock: FrozenClock, n: int) -> list[Any]:
    for i in range(n):
        save_client(store, clock, ClientSettings(
            name=f"Client {i + 1:02d}", time_zone="America/Chicago" if i % 2 else "UTC",
            notification_sla_minutes=120 if i % 2 == 0 else None,
            regimes=REGIMES[i % len(REGIMES)]))
    return sorted(list_clients(store), key=lambda c: c.id)


def add_stakeholders(store: Store, clock: FrozenClock, clients: list[Any], per_client: int,
                     rng: random.Random) -> None:
    """Through the import path (one transaction per client, every row validated)."""
    service = StakeholderService(store, clock, EventBus())
    categories = list(Category)
    for client in clients:
        batch = []
        for j in range(per_client):
            name = f"{FIRST[j % len(FIRST)]} {LAST[(j // 3) % len(LAST)]} {client.id}-{j}"
            slug = name.lower().replace(" ", ".")
            batch.append(StakeholderData(
                client_id=client.id, name=name, category=categories[j % len(categories)].value,
                role=f"Role {j}", active=j % 25 != 24,
                max_silence_minutes=rng.choice([None, None, None, 45, 90]),
                contacts=(ContactPointData("email", f"{slug}@example.com", 1),
                          ContactPointData("sms", f"+1206555{(client.id * 100 + j) % 10000:04d}",
                                           2))))
        service.apply_batch(batch, [])


def sample_messages(store: Store, clock: FrozenClock, clients: list[Any],
                    recipients: int) -> tuple[dict[tuple[str, str], dict[str, Any]], list[int]]:
    """One real incident per client with one message of every template type queued by the
    composer: returns the rendered rows by (template type, detail level) and the incident ids."""
    incidents = IncidentService(store, clock, EventBus(), actor=ACTOR)
    templates = effective_templates(store)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    ids = []
    for client in clients:
        incident = incidents.open(client_id=client.id, title=f"Sample outage at {client.name}",
                                  severity=Severity.SEV2, detected_at=clock.now())
        ids.append(incident.id)
        with store.session() as session:
            people = list(session.scalars(select(Stakeholder.id).where(
                Stakeholder.client_id == client.id, Stakeholder.active.is_(True))
                .order_by(Stakeholder.id).limit(recipients)))
        chosen = resolve_recipients(store, client.id, channels=["email"], stakeholder_ids=people)
        for template_type in TYPE_LABELS:
            inputs = {i.name: "" for t in templates.values() if t.type == template_type
                      for i in t.inputs}
            queued = queue_message(store, clock, None, incident=incident, client=client,
                                   template_type=template_type, templates=templates,
                                   recipients=chosen, actor=ACTOR,
                                   sender=Sender(name=ACTOR, organisation="Harbor IT"),
                                   inputs=inputs)
            if client is clients[0]:
                with store.session() as session:
                    for d in session.scalars(select(Delivery).where(
                            Delivery.message_id == queued.message_id)):
                        rows.setdefault((template_type, d.detail_level), {
                            "template_key": d.template_key, "template_version":
                            d.template_version, "subject": d.subject, "body_text": d.body_text,
                            "body_html": d.body_html})
    return rows, ids


def _entry(incident_id: int, at: datetime, kind: TimelineKind, summary: str,
           data: dict[str, Any], actor: str = ACTOR) -> dict[str, Any]:
    return {"incident_id": incident_id, "at": at, "kind": kind.value, "actor": actor,
            "summary": summary, "data": data}


def bulk_incidents(store: Store, clients: list[Any], n: int, messages: int, recipients: int,
                   samples: dict[tuple[str, str], dict[str, Any]], account_id: int,
                   rng: random.Random) -> Counter:
    """n open incidents with their timeline, messages and deliveries, as the services write
    them (explicit ids: the tables only hold the sample incidents so far)."""
    with store.session() as session:
        next_incident = (session.scalar(select(func.max(Incident.id))) or 0) + 1
        next_message = (session.scalar(select(func.max(Message.id))) or 0) + 1
        next_delivery = (session.scalar(select(func.max(Delivery.id))) or 0) + 1
        people: dict[int, list[tuple[int, str, str, str]]] = {}
        for sid, cid, name, level, address in session.execute(
                select(Stakeholder.id, Stakeholder.client_id, Stakeholder.name,
                       Stakeholder.detail_level, ContactPoint.address)
                .join(ContactPoint, ContactPoint.stakeholder_id == Stakeholder.id)
                .where(Stakeholder.active.is_(True), ContactPoint.channel == Channel.EMAIL)
                .order_by(Stakeholder.id)):
            people.setdefault(cid, []).append((sid, name, str(level.value), address))
    fallback = next(iter(samples.values()))
    stats: Counter = Counter()
    incidents, entries, msgs, deliveries = [], [], [], []
    for k in range(n):
        client = clients[k % len(clients)]
        iid = next_incident + k
        severity = SEVERITIES[k % 4]
        phase = OPEN_PHASES[(k // 4) % 4]
        detected = NOW - timedelta(minutes=rng.randint(10, 3 * 24 * 60))
        regulatory = client.regimes != () and k % 5 == 0
        business, external = k % 7 == 0, k % 11 == 0
        span = NOW - detected
        title = f"Incident {iid}: service degraded"
        own: list[dict[str, Any]] = []

        def at(fraction: float) -> datetime:
            return detected + span * fraction

        previous = Phase.DETECTED
        for step, target in enumerate(PHASE_ORDER[1:PHASE_ORDER.index(phase) + 1], 1):
            own.append(_entry(iid, at(0.2 * step), TimelineKind.PHASE_CHANGED,
                              f"Phase: {previous.label} → {target.label}",
                              {"old": previous.value, "new": target.value, "reopen": False,
                               "reason": ""}))
            previous = target
        opened_as = severity
        if k % 4 == 0 and severity.rank < Severity.SEV3.rank:  # raised during the incident
            opened_as = Severity.SEV3
            own.append(_entry(iid, at(0.15), TimelineKind.SEVERITY_CHANGED,
                              f"Severity raised: SEV3 → {severity.value}",
                              {"old": "SEV3", "new": severity.value, "increase": True,
                               "reason": ""}))
        own.insert(0, _entry(iid, detected, TimelineKind.CREATED,
                             f"Incident opened: {title} ({opened_as.value})",
                             {"title": title, "severity": opened_as.value,
                              "detected_at": detected.isoformat(), "drill": False}))
        for flag, on in (("business", business), ("external", external),
                         ("regulatory", regulatory)):
            if on and k % 2:
                own.append(_entry(iid, at(0.1), TimelineKind.FLAG_CHANGED, f"{flag} flagged",
                                  {"flag": flag, "old": False, "new": True}))
        if k % 2:
            own.append(_entry(iid, at(0.5), TimelineKind.FACTS_CHANGED,
                              "Current status: — → Failing over",
                              {"field": "status", "old": "", "new": "Failing over"}))
        affected = None
        if regulatory:
            regime = client.regimes[0]
            trigger = TRIGGER_OF.get(regime, "determination")
            effective = detected - timedelta(hours=rng.randint(0, 96))
            own.append(_entry(iid, at(0.05), TimelineKind.CLOCK_STARTED,
                              f"Decision: {trigger} established (recorded later)",
                              {"trigger": trigger, "effective_at": effective.isoformat(),
                               "note": ""}))
            affected = rng.choice([None, 120, 800])
            if affected is not None:
                own.append(_entry(iid, at(0.3), TimelineKind.FACTS_CHANGED,
                                  f"Individuals affected: — → {affected}",
                                  {"field": "affected_individuals", "old": None,
                                   "new": affected}))
        audience = people[client.id]
        for m in range(messages):
            template_type = "initial_acknowledgment" if m == 0 else "status_update"
            queued_at = at(0.05 + 0.9 * m / max(messages, 1))
            mid = next_message
            next_message += 1
            chosen = rng.sample(audience, min(recipients, len(audience)))
            last = m == messages - 1 and k % 6 == 0  # the newest message still queued
            by_channel = {"email": len(chosen)}
            msgs.append({"id": mid, "incident_id": iid, "template_type": template_type,
                         "template_keys": [], "audience": {}, "created_at": queued_at,
                         "created_by": ACTOR, "is_drill": False})
            own.append(_entry(iid, queued_at, TimelineKind.MESSAGE_QUEUED,
                              f"{TYPE_LABELS[template_type]} queued for {len(chosen)} "
                              f"recipients ({len(chosen)} by email)",
                              {"message_id": mid, "template_type": template_type,
                               "recipients": len(chosen), "by_channel": by_channel,
                               "unreachable": []}))
            sent_at = queued_at + timedelta(seconds=40)
            keys = set()
            for sid, name, level, address in chosen:
                did = next_delivery
                next_delivery += 1
                sample = samples.get((template_type, level), fallback)
                keys.add(sample["template_key"])
                roll = rng.random()
                state = (DeliveryState.QUEUED if last else DeliveryState.FAILED if roll < 0.03
                         else DeliveryState.CANCELLED if roll < 0.05 else DeliveryState.SENT)
                stats[state.value] += 1
                deliveries.append({
                    "id": did, "message_id": mid, "stakeholder_id": sid, "recipient_name": name,
                    "channel": "email", "address": address,
                    "detail_level": level, "template_key": sample["template_key"],
                    "template_version": sample["template_version"],
                    "subject": sample["subject"], "body_text": sample["body_text"],
                    "body_html": sample["body_html"], "email_message_id": f"<{did}@bench>",
                    "idempotency_key": f"bench-{did}", "state": state,
                    "attempts": 0 if last or state == DeliveryState.CANCELLED else 1,
                    "next_attempt_at": queued_at if last else None,
                    "last_error": "550 5.1.1 no such user"
                    if state == DeliveryState.FAILED else "",
                    "provider_id": "", "created_at": queued_at,
                    "updated_at": sent_at if not last else queued_at,
                    "account_id": None if last or state == DeliveryState.CANCELLED
                    else account_id,
                    "sent_at": sent_at if state == DeliveryState.SENT else None,
                    "provider_status": "",
                    # a third of the status updates' readers asked to confirm, half of whom
                    # did (issue 25): the chasing clock's input
                    "ack_requested": template_type == "status_update" and did % 3 == 0,
                    "acknowledged_at": sent_at + timedelta(minutes=5)
                    if template_type == "status_update" and did % 6 == 0
                    and state == DeliveryState.SENT else None,
                    "ack_via": "email" if template_type == "status_update" and did % 6 == 0
                    and state == DeliveryState.SENT else ""})
                if state in (DeliveryState.SENT, DeliveryState.FAILED):
                    kind = (TimelineKind.DELIVERY_SENT if state == DeliveryState.SENT
                            else TimelineKind.DELIVERY_FAILED)
                    own.append(_entry(iid, sent_at, kind, f"Sent to {name} by email",
                                      {"message_id": mid, "channel": "email",
                                       "state": state.value, "action": "send",
                                       "delivery_id": did, "recipient": name},
                                      actor="Clarion (outbox)"))
                elif state == DeliveryState.CANCELLED:
                    own.append(_entry(iid, sent_at, TimelineKind.DECISION,
                                      f"Cancelled delivery to {name} by email",
                                      {"message_id": mid, "channel": "email",
                                       "state": "cancelled", "action": "cancel",
                                       "delivery_id": did, "recipient": name,
                                       "from": "queued"}))
            msgs[-1]["template_keys"] = sorted(keys)
        own.sort(key=lambda e: e["at"])  # appended in time order: id order is time order
        entries += own
        incidents.append({
            "id": iid, "client_id": client.id, "title": title, "severity": severity,
            "phase": phase, "detected_at": detected, "created_at": detected,
            "updated_at": own[-1]["at"], "is_drill": False, "archived": False,
            "impact_business": business, "impact_external": external,
            "impact_regulatory": regulatory,
            "status_text": "Failing over" if k % 2 else "", "impact_text": "",
            "affected_services": ["Mail"], "eta_at": None, "eta_qualifier": "", "workaround": "",
            "next_update_at": None, "affected_individuals": affected,
            "max_state_residents": None})
        stats["phase:" + phase.value] += 1
        stats["regulatory"] += regulatory
    with store.session() as session, session.begin():
        session.execute(insert(Incident), incidents)
        session.execute(insert(Message), msgs)
        for start in range(0, len(deliveries), 5000):
            session.execute(insert(Delivery), deliveries[start:start + 5000])
        for start in range(0, len(entries), 5000):
            session.execute(insert(TimelineEntry), entries[start:start + 5000])
    stats["incidents"], stats["messages"] = len(incidents), len(msgs)
    stats["deliveries"], stats["timeline entries"] = len(deliveries), len(entries)
    return stats


# ---------------------------------------------------------------- timing

CPU: list[float] = []  # the median CPU time of the last timed() call (this process only)
SPREAD: list[float] = []  # the fastest and slowest wall time of the last timed() call


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """(median wall time, last result); the median CPU time goes to CPU[0] — on a shared
    machine the wall time also counts other processes' turns."""
    samples, cpu, result = [], [], None
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[:] = [statistics.median(cpu)]
    SPREAD[:] = [min(samples), max(samples)]
    return statistics.median(samples), result


def spread() -> str:
    """The last timed() call's range: on a shared machine the same work varies by a third."""
    return f"range {SPREAD[0] * 1000:.0f}–{SPREAD[1] * 1000:.0f} ms"


def ms(wall: float) -> str:
    return f"{wall * 1000:.0f} ms (CPU {CPU[0] * 1000:.0f} ms)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1000, help="open incidents in all")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--stakeholders", type=int, default=50, help="per client")
    parser.add_argument("--messages", type=int, default=3, help="per incident")
    parser.add_argument("--recipients", type=int, default=20, help="deliveries per message")
    parser.add_argument("--runs", type=int, default=5, help="evaluate_many runs (median)")
    parser.add_argument("--single-runs", type=int, default=20, help="evaluate runs (median)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the database in this folder and leave it there")
    args = parser.parse_args()
    n_incidents = min(max(args.incidents, args.clients), 20_000)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench-clocks.db"
        if path.exists():
            raise SystemExit(f"{path} exists; choose an empty --keep folder")
        clock = FrozenClock(NOW)
        store = Store.open(path, backup_dir=folder / "backups")
        try:
            t0 = time.perf_counter()
            clients = add_clients(store, clock, args.clients)
            add_stakeholders(store, clock, clients, args.stakeholders, rng)
            drill = AccountService(store, clock, SecretStore(MemorySecretBackend())) \
                .create_drill_if_missing()
            clock.set(NOW - timedelta(minutes=30))
            samples, sample_ids = sample_messages(store, clock, clients, args.recipients)
            clock.set(NOW)
            stats = bulk_incidents(store, clients, n_incidents - len(sample_ids), args.messages,
                                   args.recipients, samples, drill.id, rng)
            with store.engine.connect() as conn:  # settle: the bulk insert is all in the WAL
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            build_s = time.perf_counter() - t0
            size_mb = sum(p.stat().st_size for p in folder.glob("bench-clocks.db*")) / 1e6

            clocks = ClockService(store, clock, EventBus(), actor=ACTOR)
            open_ids = clocks.open_incident_ids()
            print(f"database: {args.clients} clients × {args.stakeholders} stakeholders, "
                  f"{len(open_ids)} open incidents ({len(sample_ids)} through the services), "
                  f"{stats['messages'] + len(sample_ids) * len(TYPE_LABELS)} messages, "
                  f"{stats['deliveries']} bulk deliveries "
                  f"(sent {stats['sent']}, failed {stats['failed']}, "
                  f"cancelled {stats['cancelled']}, queued {stats['queued']}), "
                  f"{stats['timeline entries']} bulk timeline entries, "
                  f"{stats['regulatory']} regulatory; {size_mb:.0f} MB; built in {build_s:.1f} s")

            def cold() -> Any:   # a new service: nothing kept (the baseline of each figure)
                return ClockService(store, clock, EventBus(), actor=ACTOR).evaluate_many()

            cold_s, snapshots = timed(cold, args.runs)
            cold_text = ms(cold_s)
            cold_range = spread()
            assert len(snapshots) == len(open_ids)
            overdue = sum(len(s.overdue()) for s in snapshots.values())
            items = sum(len(s.cadence.items) for s in snapshots.values())
            regulatory = sum(len(s.regulatory) for s in snapshots.values())
            print(f"evaluate_many() over {len(snapshots)} open incidents, cold (a new service): "
                  f"median {cold_text} of {args.runs}, {cold_range} — {items} cadence items, "
                  f"{overdue} overdue, {regulatory} regulatory clocks   [goal ≤ 300 ms]")

            look_cold_s, _ = timed(lambda: ClockService(store, clock, EventBus(), actor=ACTOR)
                                   .overdue_unreminded(), args.runs)
            print(f"overdue_unreminded() cold (a new service: the notifier's first look, the "
                  f"due times worked out too): median {ms(look_cold_s)} of {args.runs} "
                  f"(cold evaluate_many: {cold_text})")

            tracemalloc.start()
            clocks.evaluate_many()
            kept_mb = tracemalloc.get_traced_memory()[0] / 1e6
            tracemalloc.stop()
            steps = iter(range(1, 10_000))

            def later() -> Any:   # the clock moves on (every look is at a new moment)
                return clocks.evaluate_many(now=NOW + timedelta(seconds=30 * next(steps)))

            warm_s, again = timed(later, args.runs)
            assert again.keys() == snapshots.keys()
            print(f"evaluate_many(), nothing changed since the last look: median {ms(warm_s)} "
                  f"of {args.runs} (cold: {cold_text}; the kept evaluations: {kept_mb:.1f} MB)"
                  f"   [goal ≤ 100 ms]")

            busy = max(snapshots.values(), key=lambda s: (len(s.regulatory),
                                                          len(s.cadence.items)))
            single_cold_s, one = timed(lambda: ClockService(store, clock, EventBus())
                                       .evaluate(busy.incident_id), args.single_runs)
            single_cold = f"{single_cold_s * 1000:.1f} ms (CPU {CPU[0] * 1000:.1f} ms)"
            incidents = IncidentService(store, clock, EventBus(), actor=ACTOR)
            incidents.add_note(busy.incident_id, "a write: its counter moves")
            single_s, one = timed(lambda: clocks.evaluate(busy.incident_id), 1)
            single_warm_s, one = timed(lambda: clocks.evaluate(busy.incident_id),
                                       args.single_runs)
            print(f"evaluate() of one incident (#{busy.incident_id}: "
                  f"{len(one.cadence.items)} cadence items, {len(one.regulatory)} regulatory "
                  f"clocks): cold median {single_cold} of {args.single_runs}; after a write to "
                  f"it {single_s * 1000:.1f} ms; kept median {single_warm_s * 1000:.1f} ms "
                  f"(CPU {CPU[0] * 1000:.1f} ms)   [goal ≤ 5 ms]")
            many_after_s, _ = timed(lambda: clocks.evaluate_many(), 1)
            print(f"evaluate_many() after that one write: {ms(many_after_s)} (cold: {cold_text})")

            fire_first_s, fired = timed(lambda: clocks.fire_escalations(), 1)
            fire_first = ms(fire_first_s)
            fire_cold_s, _ = timed(lambda: ClockService(store, clock, EventBus(), actor=ACTOR)
                                   .fire_escalations(), args.runs)
            fire_cold = ms(fire_cold_s)
            fire_s, again = timed(lambda: clocks.fire_escalations(), args.runs)
            assert again == [], "a condition fired twice"
            print(f"fire_escalations() over all: first call {fire_first} (recorded "
                  f"{len(fired)} proposals); nothing new: cold (a new service) median "
                  f"{fire_cold}, kept median {ms(fire_s)} of {args.runs}")
            after_s, snapshots = timed(lambda: clocks.evaluate_many(), args.runs)
            pending = sum(len(s.proposals) for s in snapshots.values())
            print(f"evaluate_many() with the proposals pending: median {ms(after_s)} "
                  f"({pending} pending proposals)")

            chase_first_s, chased = timed(lambda: clocks.fire_unconfirmed(now=NOW), 1)
            chase_s, _ = timed(lambda: clocks.fire_unconfirmed(now=NOW), args.runs)
            with store.reading() as session:
                silent = session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.ack_requested.is_(True), Delivery.acknowledged_at.is_(None)))
            print(f"fire_unconfirmed() over all ({silent:,} deliveries asked and not "
                  f"confirmed): first call {ms(chase_first_s)} (recorded {len(chased)} "
                  f"chases); nothing new: median {ms(chase_s)} of {args.runs}")

            def look() -> Any:   # ui/incidents/notifier.py look(), nothing new
                steps_now = NOW + timedelta(seconds=30 * next(steps))
                return (clocks.fire_escalations(now=steps_now),
                        clocks.fire_unconfirmed(now=steps_now),
                        clocks.overdue_unreminded(now=steps_now))

            for iid, (_title, fresh) in clocks.overdue_unreminded().items():
                clocks.record_reminders(iid, fresh)   # the first look reminds of everything
            clocks.overdue_unreminded()
            look_s, _ = timed(look, args.runs)
            print(f"one notifier look (fire_escalations + fire_unconfirmed + overdue_unreminded, "
                  f"every 30 s on a "
                  f"worker thread), nothing new: median {ms(look_s)} of {args.runs} "
                  f"(cold evaluation: {cold_text})")
        finally:
            store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
