"""The vocabularies of Clarion (DESIGN.md). Values are what the database stores."""

from __future__ import annotations

import re
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
    RESTORED = "restored"                  # the database was restored from a backup
    # read from the sending account's mailbox (issue 24, app/mailbox)
    DELIVERY_BOUNCED = "delivery_bounced"  # a sent email came back: it did not arrive
    AUTO_REPLY = "auto_reply"              # an out-of-office or other automatic answer
    REPLY_RECEIVED = "reply_received"      # someone answered a message
    REPLY_HANDLED = "reply_handled"        # the coordinator dealt with a reply or a bounce
    CLOCK_REOPENED = "clock_reopened"      # the notification that met a clock bounced
    # acknowledgements and SMS replies (issue 25, app/acks)
    DELIVERY_ACKNOWLEDGED = "delivery_acknowledged"  # the person confirmed they received it
    OPTED_OUT = "opted_out"                # a number asked (STOP) or the provider says: no SMS
    OPTED_IN = "opted_in"                  # START, or the coordinator lifted the opt-out


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
    TimelineKind.DELIVERY_BOUNCED: "Delivery bounced",
    TimelineKind.AUTO_REPLY: "Automatic reply",
    TimelineKind.REPLY_RECEIVED: "Reply received",
    TimelineKind.REPLY_HANDLED: "Reply handled",
    TimelineKind.DELIVERY_ACKNOWLEDGED: "Confirmed received",
    TimelineKind.OPTED_OUT: "Opted out of SMS",
    TimelineKind.OPTED_IN: "Opted in to SMS",
    TimelineKind.CLOCK_REOPENED: "Clock reopened",
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
    BOUNCED = "bounced"        # sent, then returned by a server (read from the mailbox)


# ---------------------------------------------------------------- values as people write them

def _words(text: str) -> str:
    """'IT_Staff / MSPs' → 'it staff msp': case, separators (space _ - / & , . +) and a plural
    "s" do not matter when a value is typed or imported."""
    words = re.split(r"[\s_\-/&,.+]+", str(text).casefold())
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                    for w in words if w)


# What contact exports and hand-made lists call the categories (normalised by _words).
_SYNONYMS: dict[type, dict[str, StrEnum]] = {Category: {
    "it": Category.IT_STAFF_MSP, "msp": Category.IT_STAFF_MSP,
    "it staff": Category.IT_STAFF_MSP, "it ops": Category.IT_STAFF_MSP,
    "it operation": Category.IT_STAFF_MSP, "managed service provider": Category.IT_STAFF_MSP,
    "exec": Category.EXECUTIVES, "leadership": Category.EXECUTIVES,
    "c suite": Category.EXECUTIVES, "c level": Category.EXECUTIVES,
    "manager": Category.MANAGEMENT,
    "legal": Category.COMPLIANCE_LEGAL, "compliance": Category.COMPLIANCE_LEGAL,
    "privacy": Category.COMPLIANCE_LEGAL, "dpo": Category.COMPLIANCE_LEGAL,
    "client": Category.CUSTOMERS,
    "press": Category.MEDIA, "journalist": Category.MEDIA,
    "user": Category.AFFECTED_USERS, "end user": Category.AFFECTED_USERS,
    "authority": Category.REGULATORS, "supervisory authority": Category.REGULATORS,
    "bu": Category.BUSINESS_UNIT, "department": Category.BUSINESS_UNIT,
}}


def lenient_match(cls: type[StrEnum], value: object) -> StrEnum | None:
    """The member a typed or imported value means, or None: its value or label in any case,
    with any separators and plurals ("it_staff", "IT-Staff", "Executives" → executives), a
    known synonym ("execs", "legal"), or an unambiguous beginning of three letters or more."""
    key = _words(str(value or ""))
    if not key:
        return None
    for member in cls:
        if key in (_words(member.value), _words(member.label)):
            return member
    found = _SYNONYMS.get(cls, {}).get(key)
    if found is not None:
        return found
    if len(key) >= 3:
        starts = [m for m in cls if _words(m.label).startswith(key)
                  or _words(m.value).startswith(key)]
        if len(starts) == 1:
            return starts[0]
    return None
