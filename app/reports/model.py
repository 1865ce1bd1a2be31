"""The nouns of the post-incident report, shared by the post-incident store (app/reports/postincident.py),
the report builder (app/reports/builder.py) and the exporters (ui/reports/export.py): plain frozen values,
no database, no Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from app.domain.enums import StrEnum


class Audience(StrEnum):
    """Who a report version is for. The customer version never carries internal notes,
    decisions, names of people (coordinators, responders, stakeholders) or the blame-free
    review (lessons learned)."""
    TECHNICAL = "technical"
    EXECUTIVE = "executive"
    CUSTOMER = "customer"


class ExportFormat(StrEnum):
    MARKDOWN = "md"
    HTML = "html"
    PDF = "pdf"


@dataclass(frozen=True)
class RemediationItem:
    id: int
    text: str
    owner: str = ""
    due_date: date | None = None
    done: bool = False


@dataclass(frozen=True)
class FeedbackEntry:
    id: int
    stakeholder_id: int | None
    stakeholder_name: str
    rating: int              # 1–5
    comment: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class PostIncident:
    """The post-incident fields of one incident (empty strings / None until written)."""
    incident_id: int
    resolution_confirmed_by: str = ""
    resolution_confirmed_at: datetime | None = None
    impact_summary: str = ""
    root_cause: str = ""
    root_cause_under_investigation: bool = True
    lessons_learned: str = ""
    remediation: tuple[RemediationItem, ...] = ()
    feedback: tuple[FeedbackEntry, ...] = ()


# ---------------------------------------------------------------- the chart

@dataclass(frozen=True)
class ChartPhase:
    phase: str               # a Phase value
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ChartMark:
    at: datetime
    label: str
    kind: str                # "message" | "failed" | "due" | "deadline" | "deadline_met" | "escalation"


@dataclass(frozen=True)
class ChartData:
    """What the incident chart shows: phases along time, each communication as a mark, cadence
    due times and regulatory deadlines. Times UTC; `time_zone` is the zone to label them in."""
    title: str
    start: datetime
    end: datetime
    time_zone: str = "UTC"
    phases: tuple[ChartPhase, ...] = ()
    marks: tuple[ChartMark, ...] = field(default_factory=tuple)
