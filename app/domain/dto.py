"""Frozen data transfer objects: what crosses from services to the UI (and between threads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.domain.enums import Phase, Severity


@dataclass(frozen=True)
class ClientDTO:
    id: int
    name: str
    is_msp: bool
    time_zone: str
    default_region: str


@dataclass(frozen=True)
class Facts:
    status: str = ""
    impact: str = ""
    affected_services: tuple[str, ...] = ()
    eta_at: datetime | None = None
    eta_qualifier: str = ""
    workaround: str = ""
    next_update_at: datetime | None = None


FACT_LABELS: dict[str, str] = {
    "status": "Current status",
    "impact": "Impact",
    "affected_services": "Affected services",
    "eta_at": "ETA",
    "eta_qualifier": "ETA qualifier",
    "workaround": "Workaround",
    "next_update_at": "Next update at",
}


@dataclass(frozen=True)
class IncidentDTO:
    id: int
    client_id: int
    client_name: str
    title: str
    severity: Severity
    phase: Phase
    detected_at: datetime
    created_at: datetime
    updated_at: datetime
    is_drill: bool
    archived: bool
    impact_business: bool
    impact_external: bool
    impact_regulatory: bool
    facts: Facts = field(default_factory=Facts)


@dataclass(frozen=True)
class TimelineEntryDTO:
    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
