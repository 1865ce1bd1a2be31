"""What a message read from the account's mailbox changes in the record (issue 24).

Each message is classified by app/mailbox/inbound.py and matched to the delivery it
answers: first by the delivery's token (X-Clarion-Delivery, kept by a bounce's copy of the
original headers even where a submission service rewrote the Message-ID), then by the
Message-IDs it names (a bounce's original, a reply's In-Reply-To and References). Where several
deliveries match, the bounced recipient's (or the replier's) address decides.

- A **bounce** of a delivery that went out (sent, or unknown) makes it `bounced` with the
  server's reason, and a `delivery_bounced` entry; a regulatory clock that this message met is
  reopened (`clock_reopened`) when none of the message's deliveries to the rule's audience
  still counts.
- An **automatic reply** (out of office) is recorded on the delivery and in an `auto_reply`
  entry; it is never listed as a reply to handle.
- A **reply** is kept (inbound_mail) with a `reply_received` entry. One whose first word
  confirms (YES, OK, …; app/acks/words.py) acknowledges the delivery (`delivery_acknowledged`,
  app/acks/record.py); it is kept as a confirmation (kind `ack`), not a reply to handle, unless
  it says more ("Yes, but when is the portal back?"), which is a reply as well.
- A delay notice, anything that matches nothing, and anything about a closed incident (its
  record is final) is left alone.

Everything of one batch is written in one transaction together with the folder's position
(UIDVALIDITY, last UID), so a crash never records a message without moving past it or moves
past one it did not record. The mailbox is never changed. `inbound_mail`'s triggers bump the
incident's change counter (a bounced regulator notice is due again, app/clocks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app import events as ev
from app.clock import Clock, ensure_utc
from app.domain.enums import Category, DeliveryState, Phase, TimelineKind
from app.domain.models import (
    Delivery, InboundMail, Incident, MailboxPosition, Message, Stakeholder, TimelineEntry,
)
from app.acks.record import EMAIL, acknowledge
from app.acks.words import read_answer
from app.incidents.entries import append_entry
from app.mailbox.inbound import Inbound, parse_inbound
from app.mailbox.replies import ACK, AUTO_REPLY, BOUNCE, REPLY

ACTOR = "Clarion (mailbox)"
# a bounce of a notification to these raises a notification and a Due next item
URGENT_CATEGORIES = frozenset({Category.REGULATORS.value, Category.CUSTOMERS.value})
# what may bounce: it went out, or may have (a crash left it unknown)
BOUNCEABLE = (DeliveryState.SENT.value, DeliveryState.UNKNOWN.value)
COUNTED_NOT = (DeliveryState.CANCELLED.value, DeliveryState.FAILED.value,
               DeliveryState.BOUNCED.value)
TEXT_MAX = 20_000          # a reply's new text kept (the mailbox keeps the whole message)
REASON_MAX = 500
MAILBOX_READ = ev.MAILBOX_READ   # event payload: tuple[Recorded, ...]


@dataclass(frozen=True)
class ReadMail:
    """One message as read from the folder."""
    uid: int
    raw: bytes


@dataclass(frozen=True)
class Recorded:
    """What one message changed (what `clarion mailbox check` prints)."""
    uid: int
    kind: str                 # bounce | auto_reply | reply | ack
    incident_id: int
    delivery_id: int
    inbound_id: int
    recipient: str            # "Name <address>" of the delivery
    summary: str              # the timeline entry's words
    urgent: bool = False      # a regulator's or customer's notification bounced
    reopened: tuple[str, ...] = ()   # titles of the regulatory clocks reopened
    acknowledged: bool = False       # it confirmed the delivery (first time)


@dataclass(frozen=True)
class LeftAlone:
    uid: int
    kind: str
    why: str


@dataclass
class BatchResult:
    recorded: list[Recorded]
    left_alone: list[LeftAlone]
    unmatched: int


@dataclass(frozen=True)
class _Candidate:
    id: int
    message_id: int
    incident_id: int
    phase: str
    state: str
    address: str
    name: str
    stakeholder_id: int | None
    category: str | None
    token: str
    email_message_id: str


_CANDIDATES = select(
    Delivery.id, Delivery.message_id, Message.incident_id, Incident.phase, Delivery.state,
    Delivery.address, Delivery.recipient_name, Delivery.stakeholder_id, Stakeholder.category,
    Delivery.idempotency_key, Delivery.email_message_id,
).join(Message, Message.id == Delivery.message_id).join(
    Incident, Incident.id == Message.incident_id).outerjoin(
    Stakeholder, Stakeholder.id == Delivery.stakeholder_id)


def position(store: Any, account_id: int, folder: str) -> tuple[int, int]:
    """(UIDVALIDITY, last UID) read so far from that folder; (0, 0) before the first read."""
    with store.reading() as session:
        row = session.get(MailboxPosition, (account_id, folder))
        return (row.uidvalidity, row.last_uid) if row else (0, 0)


def record_error(store: Any, clock: Clock, account_id: int, folder: str, error: str) -> None:
    """Why the last check of that folder failed (shown beside the account), kept with its
    position; a later successful check clears it."""
    with store.session() as session, session.begin():
        row = _position_row(session, account_id, folder)
        row.last_error = error[:2000]
        row.checked_at = clock.now()


def _position_row(session: Session, account_id: int, folder: str) -> MailboxPosition:
    row = session.get(MailboxPosition, (account_id, folder))
    if row is None:
        row = MailboxPosition(account_id=account_id, folder=folder, uidvalidity=0, last_uid=0,
                              last_error="")
        session.add(row)
    return row


class MailboxRecorder:
    def __init__(self, store: Any, clock: Clock, events: ev.EventBus | None = None) -> None:
        self.store, self.clock = store, clock
        self.events = events or ev.EventBus()

    def record(self, account_id: int, folder: str, uidvalidity: int,
               mails: Sequence[ReadMail], last_uid: int | None = None) -> BatchResult:
        """Classify, match and record one batch, and move the folder's position to
        `last_uid` (default: the batch's highest UID) in the same transaction."""
        parsed = [(m.uid, parse_inbound(m.raw)) for m in mails]
        result = BatchResult([], [], 0)
        entries: list[Any] = []
        bounced: list[int] = []    # deliveries whose row changed: bounced, or confirmed
        with self.store.session() as session, session.begin():
            for uid, inbound in parsed:
                self._one(session, account_id, folder, uidvalidity, uid, inbound, result,
                          entries, bounced)
            row = _position_row(session, account_id, folder)
            top = max([m.uid for m in mails] + [last_uid or 0])
            if row.uidvalidity != uidvalidity:
                row.uidvalidity, row.last_uid = uidvalidity, 0
            row.last_uid = max(row.last_uid, top)
            row.checked_at = self.clock.now()
            row.last_error = ""
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)
        if bounced:
            self.events.publish(ev.OUTBOX_CHANGED, tuple(bounced))
        if result.recorded:
            self.events.publish(MAILBOX_READ, tuple(result.recorded))
        return result

    # ---------------------------------------------------------------- one message

    def _one(self, session: Session, account_id: int, folder: str, uidvalidity: int,
             uid: int, inbound: Inbound, result: BatchResult, entries: list[Any],
             bounced: list[int]) -> None:
        kind = {"bounce": BOUNCE, "auto_reply": AUTO_REPLY, "reply": REPLY}.get(inbound.kind)
        if kind is None:
            if inbound.kind == "delay" and (inbound.tokens or inbound.refers_to):
                result.left_alone.append(LeftAlone(uid, inbound.kind, "a delay notice: the "
                                                   "server is still trying"))
            else:
                result.unmatched += 1     # the coordinator's other mail
            return
        target = self._match(session, inbound, kind)
        if target is None:
            result.unmatched += 1
            return
        if target.phase == Phase.CLOSED.value:
            result.left_alone.append(LeftAlone(uid, kind, f"incident {target.incident_id} is "
                                                          "closed: its record is final"))
            return
        if self._seen(session, account_id, folder, uidvalidity, uid, inbound, target):
            result.left_alone.append(LeftAlone(uid, kind, "already recorded"))
            return
        if kind == BOUNCE and target.state not in BOUNCEABLE:
            result.left_alone.append(LeftAlone(
                uid, kind, f"delivery {target.id} is {target.state}, not sent"))
            return
        now = self.clock.now()
        who = f"{target.name} <{target.address}>" if target.name else target.address
        reason = _one_line(inbound.reason)[:REASON_MAX] if kind == BOUNCE else ""
        text = inbound.text[:TEXT_MAX]
        answer = read_answer(text, (inbound.from_name, target.name)) if kind == REPLY else None
        if answer is not None and answer.confirms and not answer.rest:
            kind = ACK
        row = InboundMail(
            account_id=account_id, folder=folder, uidvalidity=uidvalidity, uid=uid, kind=kind,
            incident_id=target.incident_id, delivery_id=target.id,
            header_message_id=inbound.message_id[:250],
            from_address=inbound.from_address[:320], from_name=inbound.from_name[:200],
            subject=inbound.subject[:2000],
            sent_at=ensure_utc(inbound.date) if inbound.date else None, received_at=now,
            text=text, reason=reason or inbound.auto_reason[:REASON_MAX], handled_by="")
        session.add(row)
        session.flush()
        reopened: tuple[str, ...] = ()
        urgent = False
        if kind == BOUNCE:
            done = session.execute(
                update(Delivery).where(Delivery.id == target.id,
                                       Delivery.state.in_(BOUNCEABLE))
                .values(state=DeliveryState.BOUNCED, bounced_at=now, bounce_reason=reason,
                        last_error=f"Bounced: {reason}" if reason else "Bounced",
                        updated_at=now))
            if not done.rowcount:      # it changed under us: record nothing of it
                session.delete(row)
                session.flush()
                result.left_alone.append(LeftAlone(uid, kind, "the delivery changed"))
                return
            bounced.append(target.id)
            urgent = (target.category or "") in URGENT_CATEGORIES
            summary = f"Bounced: the email to {who} did not arrive" + \
                (f" — {reason}" if reason else "")
            entries.append(self._append(session, target.incident_id,
                                        TimelineKind.DELIVERY_BOUNCED, summary, {
                                            "delivery_id": target.id,
                                            "message_id": target.message_id,
                                            "inbound_id": row.id, "reason": reason,
                                            "status": _status(inbound, target.address),
                                            "urgent": urgent}))
            reopened = self._reopen_clocks(session, target, who, reason, entries)
        elif kind == AUTO_REPLY:
            session.execute(update(Delivery).where(Delivery.id == target.id).values(
                auto_reply_at=now, auto_reply_text=text[:2000]))
            first = _one_line(text)[:160]
            summary = f"Automatic reply from {who}" + (f": {first}" if first else "")
            entries.append(self._append(session, target.incident_id, TimelineKind.AUTO_REPLY,
                                        summary, {"delivery_id": target.id,
                                                  "message_id": target.message_id,
                                                  "inbound_id": row.id,
                                                  "why": inbound.auto_reason}))
        else:
            sender = inbound.from_name or inbound.from_address or target.name
            acknowledged = None
            if answer is not None and answer.confirms:
                acknowledged = acknowledge(
                    session, incident_id=target.incident_id, message_id=target.message_id,
                    delivery_id=target.id, who=target.name or sender,
                    at=ensure_utc(inbound.date) if inbound.date else now, now=now, via=EMAIL,
                    words=_one_line(text), actor=ACTOR, inbound_id=row.id)
                if acknowledged is not None:
                    entries.append(acknowledged)
                    bounced.append(target.id)     # the outbox shows it confirmed
            first = _one_line(text)[:160]
            summary = f"Reply from {sender}" + (f": {first}" if first else "")
            if kind == REPLY:
                entries.append(self._append(session, target.incident_id,
                                            TimelineKind.REPLY_RECEIVED, summary, {
                                                "delivery_id": target.id,
                                                "message_id": target.message_id,
                                                "inbound_id": row.id,
                                                "from": inbound.from_address}))
            elif acknowledged is not None:
                summary = acknowledged.summary
            else:
                summary = f"Confirmed again by {sender}" + (f": {first}" if first else "")
            result.recorded.append(Recorded(uid, kind, target.incident_id, target.id, row.id,
                                            who, summary, acknowledged=acknowledged is not None))
            return
        result.recorded.append(Recorded(uid, kind, target.incident_id, target.id, row.id, who,
                                        summary, urgent, reopened))

    def _match(self, session: Session, inbound: Inbound, kind: str) -> _Candidate | None:
        found: list[_Candidate] = []
        tokens = [t for t in inbound.tokens if t]
        if tokens:
            found = self._candidates(session, Delivery.idempotency_key.in_(tokens))
        if not found and inbound.refers_to:
            found = self._candidates(session, Delivery.email_message_id.in_(
                list(inbound.refers_to)))
        if len(found) > 1:
            if kind == BOUNCE:
                wanted = {r.address.casefold() for r in inbound.recipients
                          if r.action == "failed"} or \
                    {r.address.casefold() for r in inbound.recipients}
            else:
                wanted = {inbound.from_address.casefold()}
            narrowed = [c for c in found if c.address.casefold() in wanted]
            found = narrowed or found
            # the order the message named them in (a reply's In-Reply-To first)
            rank = {t: i for i, t in enumerate(list(tokens) + list(inbound.refers_to))}
            found.sort(key=lambda c: (min(rank.get(c.token, 1 << 30),
                                          rank.get(c.email_message_id, 1 << 30)), -c.id))
        return found[0] if found else None

    @staticmethod
    def _candidates(session: Session, condition: Any) -> list[_Candidate]:
        return [_Candidate(*row) for row in session.execute(
            _CANDIDATES.where(condition, Delivery.channel == "email").limit(50))]

    @staticmethod
    def _seen(session: Session, account_id: int, folder: str, uidvalidity: int, uid: int,
              inbound: Inbound, target: _Candidate) -> bool:
        """This message was recorded before: at this position, or (the folder's UIDVALIDITY
        changed and it was read again under a new UID) by its own Message-ID."""
        where = [(InboundMail.account_id == account_id) & (InboundMail.folder == folder)
                 & (InboundMail.uidvalidity == uidvalidity) & (InboundMail.uid == uid)]
        if inbound.message_id:
            where.append((InboundMail.delivery_id == target.id)
                         & (InboundMail.header_message_id == inbound.message_id[:250]))
        return session.scalar(select(InboundMail.id).where(or_(*where)).limit(1)) is not None

    def _reopen_clocks(self, session: Session, target: _Candidate, who: str, reason: str,
                       entries: list[Any]) -> tuple[str, ...]:
        """Reopen each regulatory clock that this delivery's message met, where none of the
        message's deliveries to the rule's audience still counts."""
        from app.clocks.regulatory import load_rules

        met: dict[str, int | None] = {}
        for kind, data in session.execute(
                select(TimelineEntry.kind, TimelineEntry.data).where(
                    TimelineEntry.incident_id == target.incident_id,
                    TimelineEntry.kind.in_((TimelineKind.CLOCK_SATISFIED.value,
                                            TimelineKind.CLOCK_REOPENED.value)))
                .order_by(TimelineEntry.id)):
            data = data or {}
            rule_id = str(data.get("rule_id", ""))
            if kind == TimelineKind.CLOCK_REOPENED.value or data.get("cleared"):
                met.pop(rule_id, None)
            else:
                met[rule_id] = data.get("message_id")
        rules = {r.id: r for r in load_rules()}
        titles: list[str] = []
        for rule_id, message_id in met.items():
            rule = rules.get(rule_id)
            if rule is None or message_id != target.message_id:
                continue
            still = select(Delivery.id).where(Delivery.message_id == target.message_id,
                                              Delivery.state.not_in(COUNTED_NOT))
            if rule.audience:
                still = still.join(Stakeholder, Stakeholder.id == Delivery.stakeholder_id) \
                    .where(Stakeholder.category.in_(list(rule.audience)))
            if session.scalar(still.limit(1)) is not None:
                continue
            summary = (f"Clock reopened: {rule.title} — the notification to {who} bounced"
                       + (f" ({reason})" if reason else ""))
            entries.append(self._append(session, target.incident_id,
                                        TimelineKind.CLOCK_REOPENED, summary, {
                                            "rule_id": rule_id, "message_id": message_id,
                                            "delivery_id": target.id, "reason": reason}))
            titles.append(rule.title)
        return tuple(titles)

    def _append(self, session: Session, incident_id: int, kind: TimelineKind, summary: str,
                data: dict[str, Any]) -> Any:
        return append_entry(session, incident_id, self.clock.now(), kind, summary, data, ACTOR)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def _status(inbound: Inbound, address: str) -> str:
    for r in inbound.recipients:
        if r.address.casefold() == address.casefold():
            return r.status
    return inbound.recipients[0].status if inbound.recipients else ""
