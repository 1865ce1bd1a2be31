"""The demo database: Harbor IT (an MSP) serving Northwind Health, seeded once from
resources/demo/northwind.json with times relative to the moment of seeding."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from app.clock import Clock, FrozenClock
from app.domain.dto import Facts
from app.domain.enums import Category, Phase, Severity
from app.domain.models import Client
from app.errors import ClarionError
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.paths import resource
from app.stakeholders.service import NewStakeholder, StakeholderService, add_stakeholder
from app.storage.engine import Store

DEMO_FILE = ("demo", "northwind.json")


class DemoSeedError(ClarionError):
    pass


def load_demo_spec(path: Path | None = None) -> dict[str, Any]:
    with open(path or resource(*DEMO_FILE), encoding="utf-8") as fh:
        return json.load(fh)


def remove_database(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def ensure_demo(db_path: Path, clock: Clock, reset: bool = False,
                spec_path: Path | None = None) -> bool:
    """Seed the demo database if it does not exist (or if reset). Returns True if seeded.
    A seed that fails leaves no half-written database behind."""
    if reset:
        remove_database(db_path)
    if db_path.exists():
        return False
    store = Store.open(db_path)
    try:
        seed(store, clock.now(), load_demo_spec(spec_path))
    except Exception:
        store.dispose()
        remove_database(db_path)
        raise
    store.dispose()
    return True


def seed(store: Store, now: datetime, spec: dict[str, Any]) -> int:
    """Write the spec into `store`; returns the demo incident's id."""
    def at(minutes: float) -> datetime:
        return now + timedelta(minutes=minutes)

    client_ids: dict[str, int] = {}
    regions: dict[str, str] = {}
    with store.session() as session, session.begin():
        for c in spec["clients"]:
            client = Client(name=c["name"], is_msp=c.get("is_msp", False),
                            time_zone=c.get("time_zone", "UTC"),
                            default_region=c.get("default_region", "US"), created_at=now,
                            notification_sla_minutes=c.get("notification_sla_minutes"),
                            regimes=list(c.get("regimes", [])))
            session.add(client)
            session.flush()
            client_ids[c["key"]] = client.id
            regions[c["key"]] = client.default_region
        for s in spec["stakeholders"]:
            add_stakeholder(session, NewStakeholder(
                client_id=client_ids[s["client"]], name=s["name"], role=s.get("role", ""),
                category=Category(s["category"]), notes=s.get("notes", ""),
                active=s.get("active", True), max_silence_minutes=s.get("max_silence_minutes"),
                contacts=tuple((ch, addr) for ch, addr in s.get("contacts", []))),
                region=regions[s["client"]])

    _seed_map_extras(store, spec, client_ids, now)
    desks = _seed_coordinators(store, spec, now)
    first: int | None = None
    for inc in [spec["incident"], *spec.get("more_incidents", [])]:
        incident_id = _seed_incident(store, inc, client_ids, now, desks)
        first = first if first is not None else incident_id
    assert first is not None
    return first


def _seed_coordinators(store: Store, spec: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The people the demo's timeline names ("Dana Brooks (Harbor IT)": the name, and the
    organisation as the role note) as coordinators; a desk for each, by the spec's words.
    The spec's main coordinator comes first; key "" is theirs."""
    from app.coordinators.service import CoordinatorService, Desk

    service = CoordinatorService(store, FrozenClock(now))
    said = [spec.get("coordinator", "Coordinator")]
    for inc in [spec["incident"], *spec.get("more_incidents", [])]:
        said += [step["actor"] for step in inc["steps"] if step.get("actor")]
    desks: dict[str, Any] = {}
    for words in dict.fromkeys(said):
        name, _, org = words.partition(" (")
        person = service.find(name) or service.add(name, role_note=org.rstrip(")"))
        desks[words] = Desk(person.name, person.id)
    desks[""] = desks[said[0]]
    return desks


def _seed_incident(store: Store, inc: dict[str, Any], client_ids: dict[str, int],
                   now: datetime, desks: dict[str, Any]) -> int:
    """Play one incident's steps at their times, through the services the window uses."""
    def at(minutes: float) -> datetime:
        return now + timedelta(minutes=minutes)

    clock = FrozenClock(now)
    events = EventBus()
    service = IncidentService(store, clock, events, actor=desks[""])
    incident_id: int | None = None
    for step in inc["steps"]:
        clock.set(at(step["at"]))
        service.actor = desks[step.get("actor", "")]
        action = step["action"]
        if action == "open":
            dto = service.open(
                client_id=client_ids[inc["client"]], title=inc["title"],
                severity=Severity(inc["severity"]), detected_at=at(inc["detected_at"]),
                impact_business=inc.get("impact_business", False),
                impact_external=inc.get("impact_external", False),
                impact_regulatory=inc.get("impact_regulatory", False),
                facts=_facts(Facts(), inc.get("facts", {}), at))
            incident_id = dto.id
            continue
        if incident_id is None:
            raise DemoSeedError("the demo's first step must open the incident")
        if action == "phase":
            service.move_phase(incident_id, Phase(step["to"]))
        elif action == "severity":
            service.change_severity(incident_id, Severity(step["to"]))
        elif action == "note":
            service.add_note(incident_id, step["text"])
        elif action == "decision":
            service.add_decision(incident_id, step["text"])
        elif action == "facts":
            current = service.get(incident_id).facts
            service.update_facts(incident_id, _facts(current, step["facts"], at))
        elif action == "figures":
            service.set_regulatory_figures(incident_id, step.get("affected_individuals"),
                                           step.get("max_state_residents"))
        elif action == "trigger":
            from app.clocks.evaluation import ClockService

            ClockService(store, clock, events, actor=service.actor).record_trigger(
                incident_id, step["trigger"], at(step["effective"]), step.get("text", ""))
        elif action == "message":
            _seed_message(store, clock, service, incident_id, step, at)
        elif action in ("reply", "auto_reply", "bounce"):
            _seed_mail(store, clock, events, incident_id, step)
        elif action == "text":    # a text sent back to the SMS number (STOP, YES, a reply)
            _seed_text(store, clock, events, client_ids[inc["client"]], step)
        elif action == "chase":   # who was asked to confirm and has not: proposed now
            from app.clocks.evaluation import ClockService

            ClockService(store, clock, events).fire_unconfirmed([incident_id])
        elif action == "satisfy":  # by the incident's latest message
            from app.clocks.evaluation import ClockService

            clocks = ClockService(store, clock, events, actor=service.actor)
            latest = clocks.regulatory_messages(incident_id)
            if not latest:
                raise DemoSeedError("a demo clock is satisfied before any message")
            clocks.mark_satisfied(incident_id, step["rule"], latest[0][0])
        else:
            raise DemoSeedError(f"unknown demo step {action!r}")
    if incident_id is None:
        raise DemoSeedError("the demo opens no incident")
    return incident_id


def _seed_message(store: Store, clock: FrozenClock, service: IncidentService, incident_id: int,
                  step: dict[str, Any], at) -> None:  # type: ignore[no-untyped-def]
    """Queue a message as the composer does and deliver it to the drill inbox `sent_after`
    minutes later: the demo has no real account, and says so in the Outbox."""
    import asyncio

    from app.messages.composer import Sender, queue_message
    from app.messages.library import effective_templates
    from app.sending.accounts import AccountService
    from app.sending.channels.drill import DrillSender
    from app.sending.outbox import Outbox
    from app.sending.secrets import MemorySecretBackend, SecretStore
    from app.stakeholders.clients import list_clients
    from app.stakeholders.recipients import resolve_recipients

    incident = service.get(incident_id)
    client = next(c for c in list_clients(store) if c.id == incident.client_id)
    msp = next((c for c in list_clients(store) if c.is_msp), client)
    people = {s.name: s.id for s in StakeholderService(store, clock).list(client.id)}
    try:
        chosen = [people[name] for name in step.get("people", [])]
    except KeyError as exc:
        raise DemoSeedError(f"demo message names an unknown person {exc}") from None
    recipients = resolve_recipients(store, client.id, channels=step.get("channels", ["email"]),
                                    categories=step.get("categories", []),
                                    timing_needs=step.get("timing_needs", []),
                                    group_ids=[], stakeholder_ids=chosen)
    templates = effective_templates(store)
    inputs = {i.name: "" for t in templates.values() if t.type == step["template"]
              for i in t.inputs}  # an optional input left empty, as in the composer
    inputs.update(step.get("inputs", {}))
    try:
        asked = [people[name] for name in step.get("ask", [])]
    except KeyError as exc:
        raise DemoSeedError(f"demo message asks an unknown person {exc}") from None
    queue_message(store, clock, None, incident=incident, client=client,
                  template_type=step["template"], templates=templates,
                  recipients=recipients, actor=service.actor,
                  sender=Sender(name=str(service.actor), organisation=msp.name), inputs=inputs,
                  ask_to_confirm=asked)
    clock.set(at(step["at"] + step.get("sent_after", 1)))
    accounts = AccountService(store, clock, SecretStore(MemorySecretBackend()))
    drill = accounts.create_drill_if_missing()
    sender = DrillSender(drill)
    outbox = Outbox(store, clock, None, lambda _channel, _drill: (drill, sender),
                    actor="Clarion (outbox)")
    asyncio.run(outbox.flush())


def _seed_mail(store: Store, clock: FrozenClock, events: EventBus, incident_id: int,
               step: dict[str, Any]) -> None:
    """What came back about the person's latest email of this incident — a reply, an
    out-of-office or a bounce — read in as a mailbox read would (app/demo/mail.py)."""
    from sqlalchemy import select

    from app.demo.mail import DEMO_FOLDER, DEMO_UIDVALIDITY, bounce_of, reply_to
    from app.domain.models import Delivery, Message
    from app.sending.accounts import AccountService
    from app.mailbox.recorder import MailboxRecorder, ReadMail, position
    from app.sending.secrets import MemorySecretBackend, SecretStore

    action, person = step["action"], step["person"]
    with store.reading() as session:
        row = session.execute(
            select(Delivery.wire, Delivery.address).join(Message, Message.id == Delivery.message_id)
            .where(Message.incident_id == incident_id, Delivery.recipient_name == person,
                   Delivery.channel == "email").order_by(Delivery.id.desc()).limit(1)).first()
    if row is None or not row.wire:
        raise DemoSeedError(f"the demo's {action} answers no email sent to {person}")
    drill = AccountService(store, clock, SecretStore(MemorySecretBackend())) \
        .create_drill_if_missing()
    uid = position(store, drill.id, DEMO_FOLDER)[1] + 1
    if action == "bounce":
        raw = bounce_of(row.wire, address=row.address, diagnostic=step["diagnostic"],
                        status=step.get("status", "5.1.1"), at=clock.now(), number=uid)
    else:
        raw = reply_to(row.wire, name=person, address=row.address, text=step["text"],
                       at=clock.now(), number=uid, automatic=action == "auto_reply")
    result = MailboxRecorder(store, clock, events).record(drill.id, DEMO_FOLDER,
                                                         DEMO_UIDVALIDITY, [ReadMail(uid, raw)])
    if not result.recorded:
        raise DemoSeedError(f"the demo's {action} from {person} was not recorded")


def _seed_text(store: Store, clock: FrozenClock, events: EventBus, client_id: int,
               step: dict[str, Any]) -> None:
    """A text from the person's SMS number, read in as the SMS account's inbound list would
    be (the demo has no provider: the drill account stands in)."""
    from app.domain.models import ContactPoint, Stakeholder
    from app.mailbox.sms import SmsRecorder
    from app.sending.accounts import AccountService
    from app.sending.channels.sms import InboundSmsData
    from app.sending.secrets import MemorySecretBackend, SecretStore
    from sqlalchemy import select

    with store.reading() as session:
        number = session.scalar(
            select(ContactPoint.address).join(Stakeholder)
            .where(Stakeholder.client_id == client_id, Stakeholder.name == step["person"],
                   ContactPoint.channel == "sms").limit(1))
    if number is None:
        raise DemoSeedError(f"the demo's text comes from {step['person']}, who has no SMS "
                            "number")
    drill = AccountService(store, clock, SecretStore(MemorySecretBackend())) \
        .create_drill_if_missing()
    sid = f"SMdemo {step['person']} {step['at']}"[:64]    # the demo's own: not a provider's
    result = SmsRecorder(store, clock, events).record(drill.id, [InboundSmsData(
        sid, number, "+12065550199", step["text"], clock.now())])
    if not result.recorded:
        raise DemoSeedError(f"the demo's text from {step['person']} was not recorded")


def _seed_map_extras(store: Store, spec: dict[str, Any], client_ids: dict[str, int],
                     now: datetime) -> None:
    """Responsibility matrices and groups, through the same services the editor uses."""
    from app.domain.dto import ResponsibilityDTO
    from app.stakeholders.clients import set_matrix
    from app.stakeholders.groups import GroupService
    from app.stakeholders.service import StakeholderService

    for key, rows in spec.get("responsibilities", {}).items():
        set_matrix(store, client_ids[key], [ResponsibilityDTO(**row) for row in rows])
    groups = GroupService(store)
    people = {(s.client_id, s.name): s.id
              for s in StakeholderService(store, FrozenClock(now)).list()}
    made: dict[tuple[int, str], int] = {}
    for g in spec.get("groups", []):
        cid = client_ids[g["client"]]
        made[(cid, g["name"])] = groups.create(cid, g["name"], g.get("description", "")).id
    for g in spec.get("groups", []):
        cid = client_ids[g["client"]]
        try:
            members = {people[(cid, name)] for name in g.get("members", [])}
            nested = {made[(cid, name)] for name in g.get("groups", [])}
        except KeyError as exc:
            raise DemoSeedError(f"demo group {g['name']!r} names an unknown member {exc}") from None
        groups.set_members(made[(cid, g["name"])], members, nested)


def _facts(base: Facts, values: dict[str, Any], at) -> Facts:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("eta_at", "next_update_at"):
            changes[key] = at(value) if value is not None else None
        elif key == "affected_services":
            changes[key] = tuple(value)
        else:
            changes[key] = value
    return replace(base, **changes)
