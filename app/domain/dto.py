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
    notification_sla_minutes: int | None = None
    regimes: tuple[str, ...] = ()


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
    affected_individuals: int | None = None   # regulatory thresholds (None = not yet known)
    max_state_residents: int | None = None


@dataclass(frozen=True)
class TimelineEntryDTO:
    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    coordinator_id: int | None = None   # the person at the desk who wrote it (0010 on)


@dataclass(frozen=True)
class ContactPointData:
    channel: str
    address: str
    priority: int = 1
    label: str = ""
    # an SMS number that asked not to be texted (STOP) or that the provider refuses (issue 25):
    # when and why; set and lifted by the replies read back and by the coordinator, never by
    # a form's save (an edit keeps the stored opt-out of the same number)
    opted_out_at: datetime | None = None
    opted_out_reason: str = ""
    # the stored contact point's id (None: not stored yet); not compared: the same data
    # stored again (an undo) gets another id
    id: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StakeholderData:
    """The editable fields of a stakeholder (what a form, an import row or an undo step holds).
    None for information need / timing / detail / max silence means "the category's default"."""
    client_id: int = 0
    name: str = ""
    category: str = "affected_users"
    role: str = ""
    information_need: str | None = None
    timing_need: str | None = None
    detail_level: str | None = None
    max_silence_minutes: int | None = None
    notes: str = ""
    active: bool = True
    preferred_channel: str | None = None
    contacts: tuple[ContactPointData, ...] = ()


@dataclass(frozen=True)
class StakeholderDTO(StakeholderData):
    """A stored stakeholder: its data (defaults resolved, addresses normalised) and identity."""
    id: int = 0
    client_name: str = ""
    group_ids: tuple[int, ...] = ()

    def data(self) -> StakeholderData:
        from dataclasses import fields as _fields

        return StakeholderData(**{f.name: getattr(self, f.name)
                                  for f in _fields(StakeholderData)})


@dataclass(frozen=True)
class GroupDTO:
    id: int
    client_id: int
    name: str
    description: str = ""
    stakeholder_ids: tuple[int, ...] = ()
    group_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ResponsibilityDTO:
    scenario: str
    communicator: str
    audience: str = ""


@dataclass(frozen=True)
class ClientSettings:
    """The editable fields of a client organisation."""
    name: str
    is_msp: bool = False
    time_zone: str = "UTC"
    default_region: str = "US"
    notification_sla_minutes: int | None = None
    regimes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipient:
    stakeholder_id: int
    name: str
    category: str
    detail_level: str
    channel: str
    address: str


@dataclass(frozen=True)
class Unreachable:
    stakeholder_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class RecipientList:
    recipients: tuple[Recipient, ...]
    unreachable: tuple[Unreachable, ...] = ()
