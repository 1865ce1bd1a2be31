"""The communication record's value types: its inputs (messages, deliveries, the timeline,
policies, stakeholders, clocks) and every line of the record. Computed in app/reports/record.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from app.clocks.cadence import FIRST_COMMUNICATION_TARGET, CadencePolicy, StakeholderInfo
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import Category, Phase, Severity
from app.clocks.regulatory import ClockState


# ---------------------------------------------------------------- inputs

@dataclass(frozen=True)
class MessageInfo:
    id: int
    created_at: datetime
    template_type: str
    audience: Mapping[str, Any] = field(default_factory=dict)
    created_by: str = ""


class DeliveryInfo(NamedTuple):
    """One delivery (a tuple: an incident can have tens of thousands)."""
    id: int
    message_id: int
    stakeholder_id: int | None
    recipient_name: str
    channel: str
    address: str
    state: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class RecordInputs:
    incident_id: int
    title: str
    detected_at: datetime
    now: datetime
    severity: Severity                               # the current severity
    phase: Phase                                     # the current phase
    policies: Mapping[Severity, CadencePolicy]       # the client's cadence per severity
    timeline: Sequence[TimelineEntryDTO]             # oldest first
    messages: Sequence[MessageInfo]
    deliveries: Sequence[DeliveryInfo]
    stakeholders: Sequence[StakeholderInfo] = ()     # active ones, effective max silence
    categories: Mapping[int, Category] = field(default_factory=dict)  # every stakeholder's
    group_names: Mapping[int, str] = field(default_factory=dict)
    regulatory: Sequence[ClockState] = ()            # evaluated at `now`
    time_zone: str = "UTC"
    chain_head: tuple[int, str] = (0, "")            # the timeline's last link when read


# ---------------------------------------------------------------- the record

@dataclass(frozen=True)
class FirstCommunication:
    queued_at: datetime | None
    sent_at: datetime | None
    to_queued: timedelta | None
    to_sent: timedelta | None
    within_target: bool | None        # None: too early to say
    target: timedelta = FIRST_COMMUNICATION_TARGET


class RecipientLine(NamedTuple):
    """One recipient of a message (a tuple, like DeliveryInfo: one per delivery)."""
    name: str
    channel: str
    address: str
    state: str
    stakeholder_id: int | None
    sent_at: datetime | None
    last_error: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class MessageLine:
    id: int
    at: datetime
    template_type: str
    type_label: str
    audience: str                     # a description of whom it was meant for (no names)
    created_by: str
    recipients: tuple[RecipientLine, ...]
    total: int
    sent: int
    failed: int
    unknown: int
    pending: int
    cancelled: int
    customer_facing: int              # deliveries to customers, affected users or media
    first_sent_at: datetime | None
    same_recipients_as: int | None = None   # an earlier message with exactly these recipients
    bounced: int = 0                  # sent, then returned by a server (read from the mailbox)

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and self.failed == self.total


@dataclass(frozen=True)
class Gap:
    phase: Phase
    severity: Severity
    start: datetime
    end: datetime
    allowed: timedelta
    due_at: datetime                  # the moment the update became due
    ongoing: bool = False             # still silent at the end of the record (unresolved)

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class SilenceBreach:
    stakeholder_id: int
    name: str
    start: datetime
    end: datetime
    allowed: timedelta
    ongoing: bool = False

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class StakeholderSilence:
    """One stakeholder's breaches of their max silence in one line: the longest and how many."""
    stakeholder_id: int
    name: str
    allowed: timedelta
    longest: SilenceBreach
    times: int                        # how many silences outlasted the max

    @property
    def over(self) -> timedelta:
        return self.longest.length - self.allowed


@dataclass(frozen=True)
class EscalationLine:
    condition_key: str
    rule_name: str
    reason: str
    categories: tuple[str, ...]       # category labels
    proposed_at: datetime
    outcome: str                      # "confirmed" | "dismissed" | "pending"
    decided_at: datetime | None = None
    decided_by: str = ""
    decision_reason: str = ""
    message_id: int | None = None


@dataclass(frozen=True)
class DecisionLine:
    at: datetime
    actor: str
    kind: str                         # "decision" | "clock_started"
    text: str
    effective_at: datetime | None = None


@dataclass(frozen=True)
class RegulatoryLine:
    rule_id: str
    title: str
    regime: str                       # label: "HIPAA", "Contract", …
    recipient: str
    started_at: datetime | None
    due_at: datetime | None
    satisfied_at: datetime | None
    outcome: str                      # "met" | "late" | "open"
    overdue: bool
    explanation: str


@dataclass(frozen=True)
class FailureLine:
    message_id: int
    delivery_id: int
    at: datetime
    type_label: str
    recipient_name: str
    channel: str
    address: str
    state: str                        # "failed" | "unknown"
    attempts: int
    last_error: str


@dataclass(frozen=True)
class PhaseSpan:
    phase: Phase
    start: datetime
    end: datetime | None              # None: the current phase
    actor: str = ""
    reopen: bool = False


@dataclass(frozen=True)
class CommunicationRecord:
    incident_id: int
    detected_at: datetime
    end: datetime                     # resolution, or now while unresolved
    resolved: bool
    phases: tuple[PhaseSpan, ...]
    first: FirstCommunication
    messages: tuple[MessageLine, ...]
    gaps: tuple[Gap, ...]
    silences: tuple[SilenceBreach, ...]
    escalations: tuple[EscalationLine, ...]
    decisions: tuple[DecisionLine, ...]
    regulatory: tuple[RegulatoryLine, ...]
    failures: tuple[FailureLine, ...]
    resolution_notice_at: datetime | None = None
    resolution_notice_due: datetime | None = None
    # one line per stakeholder who waited longer than their max silence, the worst first
    stakeholder_silences: tuple[StakeholderSilence, ...] = ()

    @property
    def deliveries(self) -> int:
        return sum(m.total for m in self.messages)

    @property
    def sent(self) -> int:
        return sum(m.sent for m in self.messages)

    @property
    def failed(self) -> int:
        return sum(m.failed for m in self.messages)

    @property
    def unknown(self) -> int:
        return sum(m.unknown for m in self.messages)

    @property
    def bounced(self) -> int:
        return sum(m.bounced for m in self.messages)

    @property
    def pending(self) -> int:
        return sum(m.pending for m in self.messages)

    @property
    def cancelled(self) -> int:
        return sum(m.cancelled for m in self.messages)
