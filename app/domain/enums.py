"""The vocabularies of Clarion (DESIGN.md). Values are what the database stores."""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    @property
    def label(self) -> str:
        return _LABELS.get(self, self.value.replace("_", " ").capitalize())

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.value


class Category(StrEnum):
    AFFECTED_USERS = "affected_users"
    MANAGEMENT = "management"
    EXECUTIVES = "executives"
    CUSTOMERS = "customers"
    REGULATORS = "regulators"
    MEDIA = "media"
    IT_STAFF_MSP = "it_staff_msp"
    BUSINESS_UNIT = "business_unit"
    COMPLIANCE_LEGAL = "compliance_legal"


class TimingNeed(StrEnum):
    IMMEDIATE = "immediate"
    RAPID = "rapid"
    WHEN_RELEVANT = "when_relevant"
    PER_CONTRACT = "per_contract"
    PER_REQUIREMENT = "per_requirement"
    IF_NEEDED = "if_needed"


class DetailLevel(StrEnum):
    TECHNICAL = "technical"
    OPERATIONAL = "operational"
    IMPACT = "impact"
    SIMPLE = "simple"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    SLACK = "slack"
    TEAMS = "teams"
    WEBHOOK = "webhook"


class Severity(StrEnum):
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[-1])


class Phase(StrEnum):
    DETECTED = "detected"
    INVESTIGATING = "investigating"
    RESPONDING = "responding"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def order(self) -> int:
        return PHASE_ORDER.index(self)


PHASE_ORDER: list[Phase] = [
    Phase.DETECTED, Phase.INVESTIGATING, Phase.RESPONDING, Phase.RESOLVED, Phase.CLOSED,
]


class TimelineKind(StrEnum):
    CREATED = "created"
    PHASE_CHANGED = "phase_changed"
    SEVERITY_CHANGED = "severity_changed"
    FACTS_CHANGED = "facts_changed"
    FLAG_CHANGED = "flag_changed"
    NOTE = "note"
    DECISION = "decision"
    MESSAGE_QUEUED = "message_queued"
    DELIVERY_SENT = "delivery_sent"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_RETRY = "delivery_retry"      # not delivered yet; the outbox tries again later
    ESCALATION_PROPOSED = "escalation_proposed"
    ESCALATION_DECIDED = "escalation_decided"
    CLOCK_STARTED = "clock_started"
    CLOCK_SATISFIED = "clock_satisfied"
    REMINDER = "reminder"
    COORDINATOR_CHANGED = "coordinator_changed"


class ImpactFlag(StrEnum):
    BUSINESS = "business"
    EXTERNAL = "external"
    REGULATORY = "regulatory"


_LABELS: dict[Enum, str] = {
    Category.AFFECTED_USERS: "Affected users",
    Category.IT_STAFF_MSP: "IT staff / MSP",
    Category.BUSINESS_UNIT: "Business unit",
    Category.COMPLIANCE_LEGAL: "Compliance / legal",
    TimingNeed.WHEN_RELEVANT: "When relevant",
    TimingNeed.PER_CONTRACT: "Per contract",
    TimingNeed.PER_REQUIREMENT: "Per requirement",
    TimingNeed.IF_NEEDED: "If needed",
    Channel.SMS: "SMS",
    Channel.EMAIL: "Email",
    TimelineKind.PHASE_CHANGED: "Phase changed",
    TimelineKind.COORDINATOR_CHANGED: "Coordinator changed",
    TimelineKind.DELIVERY_RETRY: "Delivery will retry",
    TimelineKind.SEVERITY_CHANGED: "Severity changed",
    TimelineKind.FACTS_CHANGED: "Fact changed",
    TimelineKind.FLAG_CHANGED: "Impact flag changed",
    TimelineKind.MESSAGE_QUEUED: "Message queued",
    TimelineKind.DELIVERY_SENT: "Delivery sent",
    TimelineKind.DELIVERY_FAILED: "Delivery failed",
    TimelineKind.ESCALATION_PROPOSED: "Escalation proposed",
    TimelineKind.ESCALATION_DECIDED: "Escalation decided",
    TimelineKind.CLOCK_STARTED: "Clock started",
    TimelineKind.CLOCK_SATISFIED: "Clock satisfied",
}


# DESIGN.md "Stakeholder defaults by category": information need, timing, detail, max silence.
CATEGORY_DEFAULTS: dict[Category, tuple[str, TimingNeed, DetailLevel, int | None]] = {
    Category.AFFECTED_USERS: ("What's happening, when restored", TimingNeed.IMMEDIATE,
                              DetailLevel.SIMPLE, 60),
    Category.MANAGEMENT: ("Business impact, response status", TimingNeed.RAPID,
                          DetailLevel.OPERATIONAL, 30),
    Category.EXECUTIVES: ("Material impact, risk, decisions needed", TimingNeed.WHEN_RELEVANT,
                          DetailLevel.IMPACT, 60),
    Category.CUSTOMERS: ("Service impact, remediation", TimingNeed.PER_CONTRACT,
                         DetailLevel.IMPACT, None),  # the contract SLA decides
    Category.REGULATORS: ("Reportable incident details", TimingNeed.PER_REQUIREMENT,
                          DetailLevel.IMPACT, None),  # regulatory clocks decide
    Category.MEDIA: ("Public statement", TimingNeed.IF_NEEDED, DetailLevel.SIMPLE, None),
    Category.IT_STAFF_MSP: ("Technical state, actions, ETA", TimingNeed.IMMEDIATE,
                            DetailLevel.TECHNICAL, 30),
    Category.BUSINESS_UNIT: ("Operational impact on their work", TimingNeed.RAPID,
                             DetailLevel.OPERATIONAL, 60),
    Category.COMPLIANCE_LEGAL: ("Regulatory exposure, evidence", TimingNeed.RAPID,
                                DetailLevel.IMPACT, 60),
}


class Regime(StrEnum):
    """Regulatory regimes a client may be subject to (the regulatory clocks use this list)."""
    GDPR = "gdpr"
    UK_GDPR = "uk_gdpr"
    HIPAA = "hipaa"
    SEC = "sec"
    NIS2 = "nis2"
    DORA = "dora"
    NYDFS = "nydfs"
    US_CO = "us_co"
    US_FL = "us_fl"
    US_TX = "us_tx"
    US_WA = "us_wa"


class ClockTrigger(StrEnum):
    """What starts a regulatory clock. The coordinator records each as a timestamped decision
    (it may be backdated: awareness is often established after the fact); detection is the
    incident's own detection time."""
    DETECTION = "detection"
    AWARENESS = "awareness"
    DISCOVERY = "discovery"
    DETERMINATION = "determination"
    MATERIALITY = "materiality_determination"
    CLASSIFICATION = "classification"
    HIGH_RISK = "high_risk"


class Scenario(StrEnum):
    """Responsibility-matrix scenarios: who communicates in each."""
    MSP_DETECTED = "msp_detected"
    CLIENT_DETECTED = "client_detected"
    EXTERNAL_COMMUNICATION = "external_communication"
    TECHNICAL_UPDATES = "technical_updates"
    BUSINESS_IMPACT = "business_impact"


class Communicator(StrEnum):
    MSP = "msp"
    CLIENT = "client"
    BOTH = "both"


_LABELS.update({
    Regime.GDPR: "GDPR", Regime.UK_GDPR: "UK GDPR", Regime.HIPAA: "HIPAA", Regime.SEC: "SEC",
    Regime.NIS2: "NIS2", Regime.DORA: "DORA",
    Regime.NYDFS: "NYDFS 500.17", Regime.US_CO: "US: Colorado", Regime.US_FL: "US: Florida",
    Regime.US_TX: "US: Texas", Regime.US_WA: "US: Washington",
    ClockTrigger.MATERIALITY: "Materiality determination",
    ClockTrigger.HIGH_RISK: "High risk to individuals established",
    Scenario.MSP_DETECTED: "MSP-detected incident",
    Scenario.CLIENT_DETECTED: "Client-detected incident",
    Scenario.EXTERNAL_COMMUNICATION: "External communication",
    Scenario.TECHNICAL_UPDATES: "Technical updates",
    Scenario.BUSINESS_IMPACT: "Business impact",
    Communicator.MSP: "MSP", Communicator.CLIENT: "Client", Communicator.BOTH: "Both",
    Channel.PHONE: "Phone", Channel.SLACK: "Slack", Channel.TEAMS: "Teams",
    Channel.WEBHOOK: "Webhook",
})


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
