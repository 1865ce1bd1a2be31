"""What was said, to whom and when: the sent messages of an incident read back from the store.

A message (one press of Queue in the composer) has deliveries, one per recipient and contact
point; deliveries with the same channel and the same texts are one *variant* (one per detail
level and channel, unless a template names its recipient). For each variant: the texts as they
were queued, the recipients with their delivery state, attempts and last error; for one delivery,
the raw source: the bytes stored when it was first sent (app/sending/channels/wire.py).

Plain functions over the store, returning frozen DTOs; the window, `clarion messages` and the
reports read the same thing."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import case, func, select

from app.clock import ensure_utc
from app.domain.enums import Channel, DeliveryState as S
from app.domain.models import Client, Delivery, Incident, Message
from app.errors import NotFound
from app.messages.library import TYPE_LABELS
from app.timefmt import format_local, zone_named
from app.sending.channels.wire import read_sms_form

# Delivery states in the order a reader wants them counted.
STATE_ORDER = (S.SENT, S.BOUNCED, S.FAILED, S.UNKNOWN, S.CANCELLED, S.RETRY_WAIT, S.SENDING,
               S.QUEUED)
# bounced: sent, then returned by the receiving server (read from the mailbox)
NOT_SENT = frozenset({S.FAILED.value, S.UNKNOWN.value, S.CANCELLED.value, S.BOUNCED.value})
NOT_KEPT = "Not kept (sent before this version)."


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    name: str
    channel: str
    address: str
    state: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    updated_at: datetime
    provider_id: str
    provider_status: str
    subject: str                 # this recipient's copy, as queued
    text: str
    html: str
    # asked to confirm, and when and how they did (issue 25)
    ack_requested: bool = False
    acknowledged_at: datetime | None = None
    ack_via: str = ""
    ack_text: str = ""

    def generic(self) -> tuple[str, str, str]:
        """The texts with this recipient's name taken out, to compare copies."""
        name = self.name.strip()
        if not name:
            return self.subject, self.text, self.html
        return tuple(t.replace(name, "\x00") for t in (self.subject, self.text, self.html))  # type: ignore[return-value]


@dataclass(frozen=True)
class Variant:
    """The deliveries of one template form (type × detail level × channel form): the first
    recipient's copy stands for all when the copies differ only by the recipient's name."""
    channel: str
    detail_level: str
    template_key: str
    recipients: tuple[Recipient, ...]

    @property
    def example(self) -> Recipient:
        return self.recipients[0]

    @property
    def subject(self) -> str:
        return self.example.subject

    @property
    def text(self) -> str:
        return self.example.text

    @property
    def html(self) -> str:
        return self.example.html

    @property
    def same_for_all(self) -> bool:
        """Every copy is the example's but for the recipient's own name."""
        first = self.example.generic()
        return all(r.generic() == first for r in self.recipients[1:])

    @property
    def counts(self) -> dict[str, int]:
        return state_counts(r.state for r in self.recipients)

    @property
    def not_sent(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if r.state in NOT_SENT)


@dataclass(frozen=True)
class MessageSummary:
    id: int
    incident_id: int
    created_at: datetime
    created_by: str
    template_type: str
    type_label: str
    is_drill: bool
    subject: str                 # the first variant's subject, or its text's start (SMS)
    recipients: int
    counts: dict[str, int]       # delivery state -> how many, in STATE_ORDER
    asked: int = 0               # recipients asked to confirm (issue 25)
    confirmed: int = 0           # recipients who confirmed (asked or not)

    @property
    def confirmations(self) -> str:
        """'2 of 3 asked confirmed', or ''."""
        return confirmations_text(self.asked, self.confirmed)


@dataclass(frozen=True)
class SentMessage:
    summary: MessageSummary
    incident_title: str
    zone: tzinfo
    variants: tuple[Variant, ...]

    @property
    def id(self) -> int:
        return self.summary.id


@dataclass(frozen=True)
class RawSource:
    delivery_id: int
    channel: str
    kept: bool                   # the stored bytes exist
    text: str                    # the bytes as text (an email's source, a form read back)
    note: str = ""               # why there are none, or what the text is


def state_counts(states: Any) -> dict[str, int]:
    found = Counter(states)
    return {s.value: found[s.value] for s in STATE_ORDER if found[s.value]}


def counts_text(counts: dict[str, int]) -> str:
    """'6 sent, 1 failed' (in STATE_ORDER; 'retry_wait' as 'waiting to retry')."""
    words = {S.RETRY_WAIT.value: "waiting to retry"}
    return ", ".join(f"{n} {words.get(state, state)}" for state, n in counts.items()) or "none"


ACK_VIA = {"email": "by email", "sms": "by SMS", "manual": "noted by the coordinator"}


def confirmations_text(asked: int, confirmed: int) -> str:
    if not asked and not confirmed:
        return ""
    if not asked:
        return f"{confirmed} confirmed"
    return f"{confirmed} of {asked} asked confirmed" if confirmed <= asked else \
        f"{confirmed} confirmed ({asked} asked)"


def ack_mark(ack_requested: bool, acknowledged_at: datetime | None, ack_via: str,
             zone: tzinfo | None) -> str:
    """A delivery's confirmation in a table cell: '✓ 2026-03-02 09:42 PST by email', 'waiting'
    (asked, not yet), or '' (not asked). Times in `zone`, else the coordinator's."""
    if acknowledged_at is not None:
        when = format_time(acknowledged_at, zone) if zone is not None else \
            format_local(acknowledged_at)
        return f"✓ {when} {ACK_VIA.get(ack_via, ack_via)}".rstrip()
    return "waiting" if ack_requested else ""


def format_time(value: datetime | None, zone: tzinfo) -> str:
    """'2026-03-02 09:00 PST': the incident's client zone, with its abbreviation."""
    if value is None:
        return ""
    shown = ensure_utc(value).astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname()}"


def _preview(subject: str, text: str) -> str:
    return subject or " ".join(text.split())[:80]


def list_messages(store: Any, incident_id: int) -> list[MessageSummary]:
    """The incident's messages, oldest first, each with its recipients counted by state."""
    with store.reading() as s:
        messages = list(s.execute(
            select(Message.id, Message.incident_id, Message.created_at, Message.created_by,
                   Message.template_type, Message.is_drill)
            .where(Message.incident_id == incident_id).order_by(Message.created_at, Message.id)))
        counts: dict[int, Counter] = {}
        acks: dict[int, tuple[int, int]] = {}
        for mid, state, n, asked, confirmed in s.execute(
                select(Delivery.message_id, Delivery.state, func.count(),
                       func.count(case((Delivery.ack_requested.is_(True), 1))),
                       func.count(Delivery.acknowledged_at))
                .join(Message, Message.id == Delivery.message_id)
                .where(Message.incident_id == incident_id)
                .group_by(Delivery.message_id, Delivery.state)):
            counts.setdefault(mid, Counter())[state.value] += n
            before = acks.get(mid, (0, 0))
            acks[mid] = (before[0] + int(asked or 0), before[1] + int(confirmed or 0))
        first: dict[int, tuple[str, str]] = {}
        for mid, subject, text in s.execute(
                select(Delivery.message_id, Delivery.subject, Delivery.body_text)
                .join(Message, Message.id == Delivery.message_id)
                .where(Message.incident_id == incident_id,
                       Delivery.id.in_(select(func.min(Delivery.id))
                                       .group_by(Delivery.message_id)))):
            first[mid] = (subject, text)
    out = []
    for m in messages:
        found = counts.get(m.id, Counter())
        out.append(MessageSummary(
            id=m.id, incident_id=m.incident_id, created_at=m.created_at,
            created_by=m.created_by, template_type=m.template_type,
            type_label=TYPE_LABELS.get(m.template_type, m.template_type),
            is_drill=bool(m.is_drill), subject=_preview(*first.get(m.id, ("", ""))),
            recipients=sum(found.values()), counts=state_counts(found.elements()),
            asked=acks.get(m.id, (0, 0))[0], confirmed=acks.get(m.id, (0, 0))[1]))
    return out


def load_message(store: Any, message_id: int) -> SentMessage:
    """One message with its variants and every recipient. NotFound if there is none."""
    with store.reading() as s:
        head = s.execute(
            select(Message, Incident.title, Client.time_zone)
            .join(Incident, Incident.id == Message.incident_id)
            .join(Client, Client.id == Incident.client_id)
            .where(Message.id == message_id)).first()
        if head is None:
            raise NotFound(f"No message {message_id}.")
        m, title, zone_name = head
        rows = list(s.execute(
            select(Delivery.id, Delivery.recipient_name, Delivery.channel, Delivery.address,
                   Delivery.state, Delivery.attempts, Delivery.last_error, Delivery.sent_at,
                   Delivery.updated_at, Delivery.provider_id, Delivery.provider_status,
                   Delivery.detail_level, Delivery.template_key, Delivery.subject,
                   Delivery.body_text, Delivery.body_html, Delivery.ack_requested,
                   Delivery.acknowledged_at, Delivery.ack_via, Delivery.ack_text)
            .where(Delivery.message_id == message_id).order_by(Delivery.id)))
        summary_fields = dict(id=m.id, incident_id=m.incident_id, created_at=m.created_at,
                              created_by=m.created_by, template_type=m.template_type,
                              is_drill=bool(m.is_drill))
    groups: dict[tuple[str, str], list[Recipient]] = {}
    levels: dict[tuple[str, str], str] = {}
    for r in rows:
        key = (r.channel.value, r.template_key)
        levels.setdefault(key, r.detail_level)
        groups.setdefault(key, []).append(Recipient(
            r.id, r.recipient_name, r.channel.value, r.address, r.state.value, r.attempts,
            r.last_error, r.sent_at, r.updated_at, r.provider_id, r.provider_status,
            r.subject, r.body_text, r.body_html, bool(r.ack_requested), r.acknowledged_at,
            r.ack_via, r.ack_text))
    variants = tuple(Variant(channel, levels[(channel, key)], key, tuple(members))
                     for (channel, key), members in groups.items())
    counts = state_counts(r.state.value for r in rows)
    first = rows[0] if rows else None
    summary = MessageSummary(
        **summary_fields, type_label=TYPE_LABELS.get(m.template_type, m.template_type),
        subject=_preview(first.subject, first.body_text) if first else "",
        recipients=len(rows), counts=counts, asked=sum(1 for r in rows if r.ack_requested),
        confirmed=sum(1 for r in rows if r.acknowledged_at is not None))
    return SentMessage(summary, title, zone_named(zone_name), variants)


def raw_source(store: Any, delivery_id: int) -> RawSource:
    """The bytes that went (or go) on the wire for one delivery, as text."""
    with store.reading() as s:
        row = s.execute(select(Delivery.channel, Delivery.wire, Delivery.attempts,
                               Delivery.state, Delivery.last_error)
                        .where(Delivery.id == delivery_id)).first()
    if row is None:
        raise NotFound(f"No delivery {delivery_id}.")
    channel = row.channel.value
    wire = row.wire
    if wire == b"":
        return RawSource(delivery_id, channel, False, "", NOT_KEPT)
    if wire is None:
        if row.attempts == 0 and row.state in (S.QUEUED, S.CANCELLED):
            note = ("Not built yet: the content is fixed when the delivery is first sent."
                    if row.state == S.QUEUED else "Never sent: cancelled before its first try.")
        else:
            note = f"Nothing was built to send: {row.last_error or 'no reason was recorded'}"
        return RawSource(delivery_id, channel, False, "", note)
    return RawSource(delivery_id, channel, True, *read_wire(channel, wire))


def read_wire(channel: str, wire: bytes) -> tuple[str, str]:
    """(text, note) for stored wire bytes: an email's source as it went after DATA; an SMS's
    request form, field by field, then as posted; a webhook's JSON, indented, then as posted."""
    if channel == Channel.EMAIL.value:
        return (wire.decode("utf-8", "replace").replace("\r\n", "\n"),
                "The message source exactly as it was handed to the mail server.")
    if channel == Channel.SMS.value:
        form = read_sms_form(wire)
        fields = "\n".join(f"{k}: {v}" for k, v in form.items())
        return (f"{fields}\n\n{wire.decode('ascii', 'replace')}",
                "The request posted to the SMS provider: its fields, then its body as sent.")
    try:
        pretty = json.dumps(json.loads(wire), indent=2, ensure_ascii=False)
    except ValueError:
        pretty = wire.decode("utf-8", "replace")
    return (f"{pretty}\n\n{wire.decode('utf-8', 'replace')}",
            "The JSON posted to the webhook: indented, then as sent.")


def describe(message: SentMessage, full: bool = False) -> str:
    """A message as plain text for people: when, what, each variant with its recipients
    counted by state and those not sent named with the reason; `full` adds the texts."""
    z = message.zone
    head = message.summary
    drill = " (drill)" if head.is_drill else ""
    by = f" by {head.created_by}" if head.created_by else ""
    lines = [f"Message {head.id}{drill}: {head.type_label}, queued {format_time(head.created_at, z)}"
             f"{by} — {head.recipients} recipient{'s' * (head.recipients != 1)}: "
             f"{counts_text(head.counts)}"
             + (f"; {head.confirmations}" if head.confirmations else "")]
    for n, v in enumerate(message.variants, 1):
        what = f"subject “{v.subject}”" if v.subject else f"“{_preview('', v.text)}”"
        lines.append(f"  Variant {n} · {v.channel} · {v.detail_level} · {what} — "
                     f"{len(v.recipients)}: {counts_text(v.counts)}")
        if full:
            copies = ("every recipient's copy is this one with their own name"
                      if v.same_for_all else "copies differ between recipients")
            lines.append(f"    As sent to {v.example.name} ({copies}):")
            if v.subject:
                lines.append(f"    Subject: {v.subject}")
            lines += ["    " + line if line else "" for line in v.text.splitlines()]
            if v.html:
                lines.append("    (also sent as HTML)")
        for r in v.not_sent:
            why = f": {r.last_error}" if r.last_error else ""
            lines.append(f"    {r.state}: {r.name} <{r.address}>{why}")
        for r in v.recipients:
            if r.acknowledged_at is not None:
                words = f" — “{r.ack_text}”" if r.ack_text and r.ack_via != "manual" else ""
                lines.append(f"    confirmed: {r.name} "
                             f"{ack_mark(True, r.acknowledged_at, r.ack_via, z)[2:]}{words}")
            elif r.ack_requested and r.state not in NOT_SENT:
                lines.append(f"    not confirmed yet: {r.name} <{r.address}>")
    return "\n".join(lines)


@dataclass(frozen=True)
class DeliveryCopy:
    """One recipient's copy of a message, for a preview."""
    message_id: int
    recipient: Recipient
    zone: tzinfo


def delivery_copy(store: Any, delivery_id: int) -> DeliveryCopy:
    """The copy one delivery carries (one row: cheap enough to read as a selection moves)."""
    with store.reading() as s:
        r = s.execute(
            select(Delivery.id, Delivery.message_id, Delivery.recipient_name, Delivery.channel,
                   Delivery.address, Delivery.state, Delivery.attempts, Delivery.last_error,
                   Delivery.sent_at, Delivery.updated_at, Delivery.provider_id,
                   Delivery.provider_status, Delivery.subject, Delivery.body_text,
                   Delivery.body_html, Delivery.ack_requested, Delivery.acknowledged_at,
                   Delivery.ack_via, Delivery.ack_text, Client.time_zone)
            .join(Message, Message.id == Delivery.message_id)
            .join(Incident, Incident.id == Message.incident_id)
            .join(Client, Client.id == Incident.client_id)
            .where(Delivery.id == delivery_id)).first()
    if r is None:
        raise NotFound(f"No delivery {delivery_id}.")
    return DeliveryCopy(r.message_id, Recipient(
        r.id, r.recipient_name, r.channel.value, r.address, r.state.value, r.attempts,
        r.last_error, r.sent_at, r.updated_at, r.provider_id, r.provider_status, r.subject,
        r.body_text, r.body_html, bool(r.ack_requested), r.acknowledged_at, r.ack_via,
        r.ack_text), zone_named(r.time_zone))


def message_state_counts(store: Any, message_id: int) -> dict[str, int]:
    """How many of a message's deliveries are in each state (STATE_ORDER), in one query."""
    with store.reading() as s:
        found = dict(s.execute(select(Delivery.state, func.count())
                               .where(Delivery.message_id == message_id)
                               .group_by(Delivery.state)).all())
    return {st.value: found[st] for st in STATE_ORDER if found.get(st)}
