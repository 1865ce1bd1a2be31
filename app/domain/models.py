"""SQLAlchemy 2.0 ORM for the nouns in use. ORM objects stay inside app/ services;
the UI only ever sees the frozen DTOs of app/domain/dto.py."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, Connection, Date, DateTime, Enum, ForeignKey, Index, Integer,
    LargeBinary, String, Text, TypeDecorator, UniqueConstraint, event, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship

from app.domain import chain

from app.domain.enums import (
    Category, Channel, Communicator, DeliveryState, DetailLevel, Phase, Scenario, Severity,
    TimelineKind, TimingNeed,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC time")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def stored_utc(text: str) -> datetime:
    """A UTCDateTime column's stored text (naive UTC, read with type_coerce(column, String))
    as the aware time the type returns: parsed with its offset, a fifth of the cost of
    parsing, then replacing the zone (the clocks' and the report's bulk reads)."""
    return datetime.fromisoformat(text + "+00:00")


def _enum(cls: type) -> Enum:
    # Stored as the value string, no CHECK constraint: vocabularies grow by code, not migration.
    return Enum(cls, native_enum=False, create_constraint=False, length=32,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Base(DeclarativeBase):
    pass


class Client(Base):
    """An organisation Clarion communicates for (an MSP serves many)."""

    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("name", name="uq_clients_name"),
        CheckConstraint("length(default_region) = 2", name="ck_clients_region"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_msp: Mapped[bool] = mapped_column(Boolean, default=False)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    default_region: Mapped[str] = mapped_column(String(2), default="US", server_default="US")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Contractual customer-notification SLA in minutes (None: no contract says).
    notification_sla_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    regimes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The clocks' change counter for what its incidents read of it (migration 0015): bumped by
    # triggers only (app/storage/triggers.py), never written by the application.
    change_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    stakeholders: Mapped[list[Stakeholder]] = relationship(
        back_populates="client", cascade="all, delete-orphan", passive_deletes=True)


class Stakeholder(Base):
    __tablename__ = "stakeholders"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"),
                                           index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[Category] = mapped_column(_enum(Category))
    information_need: Mapped[str] = mapped_column(Text, default="")
    timing_need: Mapped[TimingNeed] = mapped_column(_enum(TimingNeed))
    detail_level: Mapped[DetailLevel] = mapped_column(_enum(DetailLevel))
    max_silence_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    preferred_channel: Mapped[Channel | None] = mapped_column(_enum(Channel), nullable=True)

    client: Mapped[Client] = relationship(back_populates="stakeholders")
    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="stakeholder", cascade="all, delete-orphan", passive_deletes=True,
        order_by="ContactPoint.priority")


class ContactPoint(Base):
    __tablename__ = "contact_points"

    id: Mapped[int] = mapped_column(primary_key=True)
    stakeholder_id: Mapped[int] = mapped_column(
        ForeignKey("stakeholders.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    address: Mapped[str] = mapped_column(String(320))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    label: Mapped[str] = mapped_column(String(100), default="")
    # The person asked not to be texted (a STOP reply) or the provider refuses to (Twilio
    # 21610), migration 0017: never texted while set; a START reply or the coordinator lifts it.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opted_out_reason: Mapped[str] = mapped_column(Text, default="")

    stakeholder: Mapped[Stakeholder] = relationship(back_populates="contact_points")


class Responsibility(Base):
    """One cell row of a client's responsibility matrix: in this scenario, who communicates
    (MSP, client or both) and to whom."""

    __tablename__ = "responsibilities"
    __table_args__ = (UniqueConstraint("client_id", "scenario", name="uq_responsibility_scenario"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scenario: Mapped[Scenario] = mapped_column(_enum(Scenario))
    communicator: Mapped[Communicator] = mapped_column(_enum(Communicator))
    audience: Mapped[str] = mapped_column(Text, default="")


class Group(Base):
    """A distribution list: stakeholders and other groups (nesting without cycles)."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("client_id", "name", name="uq_groups_client_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"),
                                           index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (
        CheckConstraint("(stakeholder_id IS NULL) != (member_group_id IS NULL)",
                        name="ck_group_member_one_kind"),
        UniqueConstraint("group_id", "stakeholder_id", name="uq_group_member_stakeholder"),
        UniqueConstraint("group_id", "member_group_id", name="uq_group_member_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          index=True)
    stakeholder_id: Mapped[int | None] = mapped_column(
        ForeignKey("stakeholders.id", ondelete="CASCADE"), nullable=True)
    member_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), nullable=True)


class CustomTemplate(Base):
    """The coordinator's version of a template (key "type/level/channel"). Every save is a new
    version; the newest not-retired version is used; "revert" retires them all."""

    __tablename__ = "custom_templates"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_custom_template_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class ChannelAccount(Base):
    """A way out: an SMTP account, an SMS provider account, a chat webhook, or the drill inbox.
    Its secret (password, auth token, webhook URL) lives in the OS keyring, never here."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("name", name="uq_channel_accounts_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | sms | slack | teams | webhook | drill
    name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str] = mapped_column(Text, default="")  # e.g. authentication refused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """One composed message of an incident: its template and audience. What each recipient
    gets is fixed in its Delivery at queue time."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"),
                                             index=True)
    template_type: Mapped[str] = mapped_column(String(40))
    template_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False)


class Delivery(Base):
    """Message × contact point. Its bytes (subject, text, html, Message-ID) never change after
    queuing; only the state fields do."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next", "state", "next_attempt_at"),
                      Index("ix_deliveries_clocks", "message_id", "state", "stakeholder_id",
                            "created_at", "sent_at"),
                      Index("ix_deliveries_started", "started_at",
                            sqlite_where=text("started_at IS NOT NULL")),
                      # a bounce or a reply names the Message-ID it answers (migration 0016);
                      # not partial: SQLite cannot use a partial index for a bound value
                      Index("ix_deliveries_email_message_id", "email_message_id"),
                      # the asked and not yet confirmed, for the chasing clock (0017)
                      Index("ix_deliveries_unacknowledged", "sent_at",
                            sqlite_where=text("ack_requested = 1 AND acknowledged_at IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="RESTRICT"),
                                            index=True)
    stakeholder_id: Mapped[int | None] = mapped_column(
        ForeignKey("stakeholders.id", ondelete="SET NULL"), nullable=True, index=True)
    recipient_name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    address: Mapped[str] = mapped_column(String(320))
    detail_level: Mapped[str] = mapped_column(String(32))
    template_key: Mapped[str] = mapped_column(String(100))
    template_version: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    email_message_id: Mapped[str] = mapped_column(String(250), default="")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    provider_id: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL"), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the provider later reports for a sent SMS (delivered, undelivered, failed, …).
    provider_status: Mapped[str] = mapped_column(String(32), default="")
    # What went on the wire, built at the first claim (migration 0009): None until then; b""
    # for a delivery attempted before that version. Deferred: lists never load it.
    wire: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    # When this attempt's transmission started (migration 0012): written, committed, before
    # its first byte goes out; cleared by each claim. A crash leaves `unknown` only the
    # `sending` rows that have it; the others never left and go back to the queue. Once the
    # outcome is recorded it stays set until the outcome is told in the timeline (sends are
    # told commit_every at a time): recover() tells what a crash left untold.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Read later from the sending account's mailbox (migration 0016, app/mailbox):
    # when a server returned it and why (the state is then `bounced`), and an automatic answer
    # (out of office) — recorded here, never listed as a reply to handle.
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bounce_reason: Mapped[str] = mapped_column(Text, default="")
    auto_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    auto_reply_text: Mapped[str] = mapped_column(Text, default="")
    # Acknowledgements (migration 0017, app/acks): whether the message asked this person to
    # confirm (fixed at queue time, like the bytes) and when, how (email, sms, manual) and with
    # which words they did. An answer that confirms counts whether or not it was asked for.
    ack_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ack_via: Mapped[str] = mapped_column(String(16), default="")
    ack_text: Mapped[str] = mapped_column(Text, default="")


class InboundMail(Base):
    """A message read from an email account's mailbox that answers one of our deliveries: a
    bounce, an automatic reply or a reply (migration 0016). The mailbox itself is never
    changed; (account, folder, UIDVALIDITY, UID) makes sure nothing is recorded twice."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        UniqueConstraint("account_id", "folder", "uidvalidity", "uid",
                         name="uq_inbound_mail_position"),
        Index("ix_inbound_mail_incident", "incident_id", "kind", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL"), nullable=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))     # bounce | auto_reply | reply
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="RESTRICT"),
                                             index=True)
    header_message_id: Mapped[str] = mapped_column(String(250), default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # its Date:
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)     # when Clarion read it
    text: Mapped[str] = mapped_column(Text, default="")    # the new text (quote stripped)
    reason: Mapped[str] = mapped_column(Text, default="")  # a bounce's: the server's words
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_by: Mapped[str] = mapped_column(String(200), default="")


class MailboxPosition(Base):
    """How far an account's mailbox folder has been read: the next check asks only for UIDs
    above last_uid while the folder's UIDVALIDITY stays the same (migration 0016)."""

    __tablename__ = "mailbox_positions"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="CASCADE"), primary_key=True)
    folder: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class InboundSms(Base):
    """An SMS read back from the provider's inbound messages (migration 0017): a confirmation,
    a reply, or a STOP / START. Matched to the latest SMS delivery to that number in the 48 h
    before it (the coordinator may move it to another incident); a STOP or START from a number
    Clarion did not text lately is kept unmatched — its opt-out holds all the same. Unique by
    the provider's SID: nothing is recorded twice."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        UniqueConstraint("provider_sid", name="uq_inbound_sms_sid"),
        Index("ix_inbound_sms_incident", "incident_id", "kind", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="SET NULL"), nullable=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)     # when Clarion read it
    kind: Mapped[str] = mapped_column(String(16))    # ack | reply | stop | start
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="RESTRICT"), nullable=True, index=True)
    moved_by: Mapped[str] = mapped_column(String(200), default="")
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handled_by: Mapped[str] = mapped_column(String(200), default="")


class SmsPosition(Base):
    """How far an SMS account's inbound messages were read (migration 0017): the next check
    asks for those sent since the day of `last_sent_at` and skips the SIDs already recorded."""

    __tablename__ = "sms_positions"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id", ondelete="CASCADE"), primary_key=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class AckPolicyRow(Base):
    """The coordinator's edit of one stakeholder category's acknowledgement policy (migration
    0017; absent: resources/acks/defaults.json): which template types ask it to confirm, and
    how long to wait for a confirmation per severity before proposing to chase."""

    __tablename__ = "ack_policies"

    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    ask_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    wait_sev1: Mapped[int] = mapped_column(Integer)
    wait_sev2: Mapped[int] = mapped_column(Integer)
    wait_sev3: Mapped[int] = mapped_column(Integer)
    wait_sev4: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"),
                                           index=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    phase: Mapped[Phase] = mapped_column(_enum(Phase))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_drill: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    impact_business: Mapped[bool] = mapped_column(Boolean, default=False)
    impact_external: Mapped[bool] = mapped_column(Boolean, default=False)
    impact_regulatory: Mapped[bool] = mapped_column(Boolean, default=False)
    # The incident's facts (DESIGN.md): every audience's message renders from these.
    status_text: Mapped[str] = mapped_column(Text, default="")
    impact_text: Mapped[str] = mapped_column(Text, default="")
    affected_services: Mapped[list[str]] = mapped_column(JSON, default=list)
    eta_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    eta_qualifier: Mapped[str] = mapped_column(String(200), default="")
    workaround: Mapped[str] = mapped_column(Text, default="")
    next_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # regulatory figures the clocks' thresholds need (None = not yet known)
    affected_individuals: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_state_residents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # post-incident fields (app/reports/postincident.py)
    resolution_confirmed_by: Mapped[str] = mapped_column(String(200), default="")
    resolution_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    impact_summary: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    root_cause_under_investigation: Mapped[bool] = mapped_column(Boolean, default=True)
    lessons_learned: Mapped[str] = mapped_column(Text, default="")
    # The clocks' change counter (migration 0015): bumped by triggers only
    # (app/storage/triggers.py), never written by the application; app/clocks/changes.py
    change_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    client: Mapped[Client] = relationship()


class TimelineEntry(Base):
    """Append-only: triggers in the database refuse UPDATE and DELETE."""

    __tablename__ = "timeline_entries"
    # (incident, kind, at): the timeline's kind filter reads a page without a scan (0015)
    __table_args__ = (Index("ix_timeline_incident_at", "incident_id", "at"),
                      Index("ix_timeline_incident_kind_at", "incident_id", "kind", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Who at the desk wrote it (migration 0010); None for the outbox's and the clocks' own
    # entries, and for entries written before coordinators were kept (record_meta says which).
    coordinator_id: Mapped[int | None] = mapped_column(
        ForeignKey("coordinators.id", ondelete="RESTRICT"), nullable=True)


class TimelineHash(Base):
    """Each entry's place and hash in its incident's chain (app/domain/chain.py), written in the
    transaction that appends the entry; append-only by trigger like the timeline."""

    __tablename__ = "timeline_hashes"
    __table_args__ = (UniqueConstraint("incident_id", "seq", name="uq_timeline_hashes_seq"),)

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("timeline_entries.id", ondelete="RESTRICT"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)


class ChainChecked(Base):
    """How far an incident's chain was last verified (app/record/verify.py), so a long incident
    is not re-hashed each time it is opened."""

    __tablename__ = "timeline_checked"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


def chain_content(entry: TimelineEntry) -> chain.Content:
    return chain.Content(incident_id=entry.incident_id, entry_id=entry.id, at=entry.at,
                         kind=entry.kind, actor=entry.actor or "",
                         coordinator_id=entry.coordinator_id, summary=entry.summary or "",
                         data=entry.data if entry.data is not None else {})


@event.listens_for(TimelineEntry, "after_insert")
def _seal_entry(_mapper: Mapper[Any], connection: Connection, entry: TimelineEntry) -> None:
    # Every entry the ORM appends is chained in its own transaction, whoever wrote it.
    chain.seal(connection, [chain_content(entry)])


class Coordinator(Base):
    """A person who works at a desk: who decided, who sent."""

    __tablename__ = "coordinators"
    __table_args__ = {"sqlite_autoincrement": True}  # an entry never points at someone else

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    role_note: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SenderLease(Base):
    """Who may send from this database now (app/sending/lease.py); one row, name "outbox"."""

    __tablename__ = "sender_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str] = mapped_column(String(200), default="")
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecordMeta(Base):
    """Facts about the record itself (e.g. from which timeline entry coordinators are kept)."""

    __tablename__ = "record_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


__all__ = ["Base", "Client", "Stakeholder", "ContactPoint", "Incident", "TimelineEntry",
           "Coordinator", "RecordMeta", "SenderLease", "TimelineHash", "ChainChecked",
           "Responsibility", "Group", "GroupMember", "CustomTemplate", "Message", "Delivery",
           "ChannelAccount",
           "UTCDateTime", "TimelineKind"]


class CadencePolicyRow(Base):
    """A client's update cadence for one severity (absent: the defaults in resources/cadence)."""

    __tablename__ = "cadence_policies"
    __table_args__ = (UniqueConstraint("client_id", "severity", name="uq_cadence_client_severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(8))
    acknowledge_minutes: Mapped[int] = mapped_column(Integer)
    investigating_minutes: Mapped[int] = mapped_column(Integer)
    responding_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    summary_hours: Mapped[int] = mapped_column(Integer)
    fact_update_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")


class EscalationRuleRow(Base):
    """One escalation rule; `definition` is app.clocks.escalation.rule_to_dict() of it."""

    __tablename__ = "escalation_rules"
    __table_args__ = (UniqueConstraint("key", name="uq_escalation_rules_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RemediationItemRow(Base):
    """One step of an incident's remediation plan, in the order the coordinator gave them."""

    __tablename__ = "remediation_items"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused: undo restores them

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200), default="")
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedbackRow(Base):
    """A stakeholder's rating (1–5) of how an incident was communicated. The name is kept when
    the stakeholder is deleted (stakeholder_id then becomes NULL)."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="ck_feedback_rating"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"),
                                             index=True)
    stakeholder_id: Mapped[int | None] = mapped_column(
        ForeignKey("stakeholders.id", ondelete="SET NULL"), nullable=True)
    stakeholder_name: Mapped[str] = mapped_column(String(200))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
