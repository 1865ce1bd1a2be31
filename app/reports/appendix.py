"""The reports' appendix: what each message said, variant by variant (issue 13).

A variant is one template form of one message (type × detail level × channel form). For each,
the texts of one copy and the recipients counted by delivery state; the technical version also
names the first copy's recipient and every recipient whose delivery is not `sent` (failed,
unknown, cancelled) with the last error. The executive version gives texts and counts, no names:
the example copy's greeting shows "[recipient]" instead. The customer version keeps only the
variants sent to customers, affected users or the media (delivered: `sent`), with no name at all: the
coordinator who signed the message shows as "[sender]" too.

A few grouped queries, whatever the size of the incident (no per-delivery objects)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from app.domain.enums import DeliveryState as S
from app.domain.models import Delivery, Message, Stakeholder
from app.messages.library import TYPE_LABELS
from app.messages.sent import STATE_ORDER
from app.reports.model import Audience
from app.reports.record import CUSTOMER_FACING

NOT_SENT = (S.FAILED, S.UNKNOWN, S.CANCELLED)
RECIPIENT = "[recipient]"
SENDER = "[sender]"


@dataclass(frozen=True)
class AppendixVariant:
    channel: str
    detail_level: str
    subject: str
    text: str
    counts: dict[str, int]                          # state -> recipients, in STATE_ORDER
    example: str = ""                               # whose copy this is (technical only)
    not_sent: tuple[tuple[str, str, str], ...] = ()  # (name, state, last error): technical

    @property
    def recipients(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class AppendixMessage:
    message_id: int
    at: datetime
    type_label: str
    variants: tuple[AppendixVariant, ...]


def _without(text: str, *names: tuple[str, str]) -> str:
    """The text with each (name, placeholder) replaced, longest name first."""
    for name, placeholder in sorted(names, key=lambda n: -len(n[0].strip())):
        if name.strip():
            text = text.replace(name.strip(), placeholder)
    return text


def message_appendix(store: Any, incident_id: int,
                     audience: Audience | str) -> tuple[AppendixMessage, ...]:
    audience = Audience(audience)
    technical = audience == Audience.TECHNICAL
    key = (Delivery.message_id, Delivery.channel, Delivery.template_key)
    where: list[Any] = [Message.incident_id == incident_id]
    joins: Sequence[Any] = ()
    if audience == Audience.CUSTOMER:
        joins = ((Stakeholder, Stakeholder.id == Delivery.stakeholder_id),)
        where += [Stakeholder.category.in_(sorted(CUSTOMER_FACING)),
                  Delivery.state == S.SENT]     # what customers were sent, not attempts

    def query(*columns: Any) -> Any:
        stmt = select(*columns).join(Message, Message.id == Delivery.message_id)
        for target, on in joins:
            stmt = stmt.join(target, on)
        return stmt.where(*where)

    with store.reading() as s:
        messages = {m.id: m for m in s.execute(
            select(Message.id, Message.created_at, Message.template_type, Message.created_by)
            .where(Message.incident_id == incident_id))}
        counts: dict[tuple, dict[str, int]] = {}
        first: dict[tuple, int] = {}
        levels: dict[tuple, str] = {}
        for mid, channel, tkey, level, state, n, lowest in s.execute(
                query(*key, Delivery.detail_level, Delivery.state, func.count(),
                      func.min(Delivery.id))
                .group_by(*key, Delivery.detail_level, Delivery.state)):
            k = (mid, channel.value, tkey)
            counts.setdefault(k, {})[state.value] = n
            first[k] = min(first.get(k, lowest), lowest)
            levels[k] = level
        examples = {}
        ids = sorted(first.values())
        for i in range(0, len(ids), 500):
            for row in s.execute(select(Delivery.id, Delivery.recipient_name, Delivery.subject,
                                        Delivery.body_text)
                                 .where(Delivery.id.in_(ids[i:i + 500]))):
                examples[row.id] = row
        missed: dict[tuple, list[tuple[str, str, str]]] = {}
        if technical:
            for mid, channel, tkey, name, state, error in s.execute(
                    query(*key, Delivery.recipient_name, Delivery.state, Delivery.last_error)
                    .where(Delivery.state.in_(NOT_SENT)).order_by(Delivery.id)):
                missed.setdefault((mid, channel.value, tkey), []).append(
                    (name, state.value, error))
    by_message: dict[int, list[AppendixVariant]] = {}
    for k in sorted(first, key=lambda k: (k[0], first[k])):
        ex = examples[first[k]]
        found = counts[k]
        ordered = {st.value: found[st.value] for st in STATE_ORDER if st.value in found}
        subject, text = ex.subject, ex.body_text
        if not technical:
            names = [(ex.recipient_name, RECIPIENT)]
            if audience == Audience.CUSTOMER:
                names.append((messages[k[0]].created_by, SENDER))
            subject, text = _without(subject, *names), _without(text, *names)
        by_message.setdefault(k[0], []).append(AppendixVariant(
            channel=k[1], detail_level=levels[k], subject=subject, text=text, counts=ordered,
            example=ex.recipient_name if technical else "",
            not_sent=tuple(missed.get(k, ()))))
    return tuple(
        AppendixMessage(mid, messages[mid].created_at,
                        TYPE_LABELS.get(messages[mid].template_type, messages[mid].template_type),
                        tuple(variants))
        for mid, variants in sorted(by_message.items(),
                                    key=lambda item: (messages[item[0]].created_at, item[0])))
