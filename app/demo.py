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
from app.incidents import IncidentService
from app.paths import resource
from app.stakeholders import NewStakeholder, add_stakeholder
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
    inc = spec["incident"]
    clock = FrozenClock(now)
    coordinator = spec.get("coordinator", "coordinator")
    service = IncidentService(store, clock, EventBus(), actor=coordinator)
    incident_id: int | None = None
    for step in inc["steps"]:
        clock.set(at(step["at"]))
        service.actor = step.get("actor", coordinator)
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
        else:
            raise DemoSeedError(f"unknown demo step {action!r}")
    if incident_id is None:
        raise DemoSeedError("the demo opens no incident")
    return incident_id


def _seed_map_extras(store: Store, spec: dict[str, Any], client_ids: dict[str, int],
                     now: datetime) -> None:
    """Responsibility matrices and groups, through the same services the editor uses."""
    from app.clients import set_matrix
    from app.domain.dto import ResponsibilityDTO
    from app.groups import GroupService
    from app.stakeholders import StakeholderService

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
