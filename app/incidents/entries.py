"""Appending one entry to an incident's timeline inside the caller's transaction, signed by its
actor (a desk's coordinator, or a component such as "Clarion (mailbox)"): what the clocks' and
the mailbox's writers share. The timeline is append-only; its triggers chain each entry and
bump the incident's change counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.coordinators.service import sign
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import TimelineKind
from app.domain.models import TimelineEntry
from app.incidents.lifecycle import entry_dto


def append_entry(session: Session, incident_id: int, at: datetime, kind: TimelineKind,
                 summary: str, data: dict[str, Any], actor: Any) -> TimelineEntryDTO:
    """Add the entry (flushed, so it has its id) and return it as a DTO to publish once the
    transaction commits."""
    name, coordinator_id = sign(actor)
    entry = TimelineEntry(incident_id=incident_id, at=at, kind=kind.value, actor=name,
                          coordinator_id=coordinator_id, summary=summary, data=data)
    session.add(entry)
    session.flush()
    return entry_dto(entry)
