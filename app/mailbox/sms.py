"""What people texted back to an SMS account (issue 25): confirmations, replies, STOP and START.

The provider has no callback to a desktop, so a check lists the account's inbound messages
(app/sending/channels/sms.py `SmsSender.list_inbound`) since its position (sms_positions: the
newest message's time, less a margin — the provider filters by day only), skips the SIDs
already recorded (inbound_sms is unique by SID) and records the rest here.

- A message is matched to the **latest SMS delivery to that number** (E.164) that went out —
  sent, unknown (it may have), bounced, or failed after the provider accepted it — in the
  48 hours before the message was sent (a few minutes after too: the two clocks differ).
- Only a **confirmation** (YES, OK, …; app/acks/words.py) → `ack`: the delivery is confirmed
  by SMS (app/acks/record.py). A confirmation that says more ("Yes, but when is the portal
  back?") confirms too and is a `reply` to read; any other text is a `reply` (a
  `reply_received` entry; listed by app/mailbox/replies.py).
- A message that is only **STOP** (or another opt-out keyword) → `stop`: every SMS contact
  point with that number is opted out ("replied STOP on 7 Dec 2026 10:04 UTC") and the matched
  incident's timeline says so (`opted_out`); **START** / UNSTOP → `start` lifts it
  (`opted_in`). From a number Clarion did not text lately, or about a closed incident, the
  message is kept unmatched (no incident) and the opt-out changes all the same.
- Anything else about a **closed** incident is left alone (its record is final), and other
  texts that match nothing are not kept.

One transaction per batch, the position included; events after the commit."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app import events as ev
from app.acks.record import SMS, acknowledge
from app.acks.words import START, STOP, read_answer, sms_keyword
from app.clock import Clock
from app.domain.enums import Channel, DeliveryState, Phase, TimelineKind
from app.domain.models import Delivery, InboundSms, Incident, Message, SmsPosition
from app.errors import ClarionError
from app.incidents.entries import append_entry
from app.mailbox.replies import ACK, REPLY
from app.sending.account_settings import DEFAULT_LOOKBACK_DAYS
from app.sending.channels.base import AccountDTO
from app.sending.channels.sms import InboundSmsData, SmsSender
from app.stakeholders.opt_out import number_key, opt_in, opt_out, stop_reason

log = logging.getLogger(__name__)

ACTOR = "Clarion (SMS)"
MATCH_WINDOW = timedelta(hours=48)   # a reply answers an SMS sent at most this long before it
CLOCK_SKEW = timedelta(minutes=5)    # …or this much after (the provider's clock and ours)
POSITION_MARGIN = timedelta(minutes=5)   # read again: a message listed late is not missed
BODY_MAX = 5000                      # an SMS is at most 1,600 characters; kept whole
SID_CHUNK = 500
# it went out (or may have): a reply can answer it. `failed` counts when the provider had
# accepted it (sent_at set) and later reported it undelivered; `unknown` has no sent_at.
WENT_OUT = (DeliveryState.SENT.value, DeliveryState.BOUNCED.value, DeliveryState.FAILED.value)


@dataclass(frozen=True)
class SmsRecorded:
    """What one SMS changed (shaped like app.mailbox.recorder.Recorded, for the same
    listeners and printing)."""
    sid: str
    kind: str                  # ack | reply | stop | start
    incident_id: int | None    # None: a STOP / START from a number not texted lately
    delivery_id: int | None
    inbound_id: int
    recipient: str             # "Name (+12065550101)", or the number
    summary: str
    acknowledged: bool = False        # it confirmed the delivery (first time)
    stakeholder_ids: tuple[int, ...] = ()   # whose number opted out or in now
    urgent: bool = False
    reopened: tuple[str, ...] = ()
    channel: str = "sms"


@dataclass(frozen=True)
class SmsLeftAlone:
    sid: str
    kind: str
    why: str


@dataclass
class SmsBatch:
    recorded: list[SmsRecorded]
    left_alone: list[SmsLeftAlone]
    unmatched: int              # texts that answer nothing Clarion sent lately (not kept)
    seen: int = 0               # recorded before (their SIDs are known): skipped


@dataclass
class SmsCheckReport:
    """One check of one SMS account's inbound messages."""
    account_id: int
    account_name: str
    read: int = 0               # messages new to Clarion
    recorded: list[SmsRecorded] = field(default_factory=list)
    left_alone: list[SmsLeftAlone] = field(default_factory=list)
    unmatched: int = 0
    error: str = ""


@dataclass(frozen=True)
class _Target:
    id: int
    message_id: int
    incident_id: int
    phase: str
    name: str
    address: str


def keyword_of(body: str) -> str:
    """The opt-out or opt-in keyword as written ('Stop.' → 'STOP'). Pure."""
    return re.sub(r"[\W_\d]+", "", body or "").upper()


def one_line(text: str) -> str:
    return " ".join((text or "").split())


def sms_position(store: Any, account_id: int) -> datetime | None:
    """The sent time of the newest message read from that account (None before the first)."""
    with store.reading() as session:
        row = session.get(SmsPosition, account_id)
        return row.last_sent_at if row else None


def record_sms_error(store: Any, clock: Clock, account_id: int, error: str) -> None:
    """Why the last check of that account failed (a later successful one clears it)."""
    with store.session() as session, session.begin():
        row = _position_row(session, account_id)
        row.last_error = error[:2000]
        row.checked_at = clock.now()


def _position_row(session: Session, account_id: int) -> SmsPosition:
    row = session.get(SmsPosition, account_id)
    if row is None:
        row = SmsPosition(account_id=account_id, last_sent_at=None, last_error="")
        session.add(row)
    return row


_WHEN = func.coalesce(Delivery.sent_at, Delivery.updated_at)
_MATCH = select(
    Delivery.id, Delivery.message_id, Message.incident_id, Incident.phase,
    Delivery.recipient_name, Delivery.address,
).join(Message, Message.id == Delivery.message_id).join(
    Incident, Incident.id == Message.incident_id).where(
    Delivery.channel == Channel.SMS, Message.is_drill.is_(False))


class SmsRecorder:
    def __init__(self, store: Any, clock: Clock, events: ev.EventBus | None = None) -> None:
        self.store, self.clock = store, clock
        self.events = events or ev.EventBus()

    def record(self, account_id: int, messages: Sequence[InboundSmsData]) -> SmsBatch:
        """Match and record one batch (oldest first: a STOP then a START ends texted again),
        skipping SIDs recorded before, and move the account's position to the newest
        message's time, in one transaction; then publish what changed."""
        result = SmsBatch([], [], 0)
        entries: list[Any] = []
        changed: set[int] = set()
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            known = self._known(session, [m.sid for m in messages])
            for m in sorted(messages, key=lambda m: (m.sent_at, m.sid)):
                if m.sid in known:
                    result.seen += 1
                    continue
                known.add(m.sid)
                self._one(session, account_id, m, now, result, entries, changed)
            row = _position_row(session, account_id)
            newest = max((m.sent_at for m in messages), default=None)
            if newest is not None and (row.last_sent_at is None or newest > row.last_sent_at):
                row.last_sent_at = newest
            row.checked_at = now
            row.last_error = ""
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)
        if changed:
            self.events.publish(ev.STAKEHOLDERS_CHANGED, tuple(sorted(changed)))
        if result.recorded:
            self.events.publish(ev.MAILBOX_READ, tuple(result.recorded))
        return result

    @staticmethod
    def _known(session: Session, sids: list[str]) -> set[str]:
        found: set[str] = set()
        for n in range(0, len(sids), SID_CHUNK):
            found.update(session.scalars(select(InboundSms.provider_sid).where(
                InboundSms.provider_sid.in_(sids[n:n + SID_CHUNK]))))
        return found

    @staticmethod
    def match(session: Session, number: str, sent_at: datetime) -> _Target | None:
        """The latest SMS delivery to `number` that went out within MATCH_WINDOW before
        `sent_at` (CLOCK_SKEW after it allowed)."""
        low, high = sent_at - MATCH_WINDOW, sent_at + CLOCK_SKEW
        went_out = or_(
            and_(Delivery.state.in_(WENT_OUT), Delivery.sent_at.is_not(None),
                 Delivery.sent_at >= low, Delivery.sent_at <= high),
            and_(Delivery.state == DeliveryState.UNKNOWN, Delivery.updated_at >= low,
                 Delivery.updated_at <= high))
        row = session.execute(_MATCH.where(Delivery.address == number, went_out)
                              .order_by(_WHEN.desc(), Delivery.id.desc()).limit(1)).first()
        return _Target(*row) if row is not None else None

    # ---------------------------------------------------------------- one message

    def _one(self, session: Session, account_id: int, m: InboundSmsData, now: datetime,
             result: SmsBatch, entries: list[Any], changed: set[int]) -> None:
        number = number_key(m.from_number) or m.from_number.strip()
        keyword = sms_keyword(m.body)
        target = self.match(session, number, m.sent_at) if number else None
        answer = None
        if keyword == STOP or keyword == START:
            kind = keyword
        else:
            answer = read_answer(m.body, (target.name,) if target else ())
            kind = ACK if answer.confirms and not answer.rest else REPLY
        if target is not None and target.phase == Phase.CLOSED.value:
            if keyword is None:
                result.left_alone.append(SmsLeftAlone(
                    m.sid, kind, f"incident {target.incident_id} is closed: its record is "
                                 f"final"))
                return
            target = None      # the opt-out changes all the same; the record stays as it is
        if target is None and keyword is None:
            result.unmatched += 1      # answers nothing Clarion texted lately
            return
        row = InboundSms(
            account_id=account_id, provider_sid=m.sid[:64], from_number=number[:32],
            to_number=m.to_number[:32], body=m.body[:BODY_MAX], sent_at=m.sent_at,
            received_at=now, kind=kind,
            incident_id=target.incident_id if target else None,
            delivery_id=target.id if target else None, moved_by="", handled_by="")
        session.add(row)
        session.flush()
        name = target.name if target and target.name else ""
        who = f"{name} ({number})" if name else number
        text = one_line(m.body)
        if keyword is not None:
            if keyword == STOP:
                ids = opt_out(session, number, now, stop_reason(m.sent_at, keyword_of(m.body)))
                summary = f"{who} replied {keyword_of(m.body)}: no more texts to this number"
                what = TimelineKind.OPTED_OUT
            else:
                ids = opt_in(session, number)
                summary = f"{who} replied {keyword_of(m.body)}: texts to this number are " \
                          f"allowed again"
                what = TimelineKind.OPTED_IN
            changed.update(ids)
            if target is not None:
                entries.append(self._append(session, target, what, summary, {
                    "delivery_id": target.id, "message_id": target.message_id,
                    "inbound_id": row.id, "channel": "sms", "number": number,
                    "stakeholder_ids": list(ids), "words": text[:200]}))
            result.recorded.append(SmsRecorded(
                m.sid, kind, target.incident_id if target else None,
                target.id if target else None, row.id, who, summary, stakeholder_ids=ids))
            return
        assert target is not None and answer is not None
        acknowledged = None
        if answer.confirms:
            acknowledged = acknowledge(
                session, incident_id=target.incident_id, message_id=target.message_id,
                delivery_id=target.id, who=name or number, at=m.sent_at, now=now, via=SMS,
                words=text, actor=ACTOR, inbound_id=row.id)
            if acknowledged is not None:
                entries.append(acknowledged)
        first = text[:160]
        if kind == REPLY:
            summary = f"SMS reply from {who}" + (f": {first}" if first else "")
            entries.append(self._append(session, target, TimelineKind.REPLY_RECEIVED, summary, {
                "delivery_id": target.id, "message_id": target.message_id,
                "inbound_id": row.id, "channel": "sms", "from": number}))
        elif acknowledged is not None:
            summary = acknowledged.summary
        else:
            summary = f"Confirmed again by {who} by SMS" + (f": {first}" if first else "")
        result.recorded.append(SmsRecorded(m.sid, kind, target.incident_id, target.id, row.id,
                                           who, summary, acknowledged=acknowledged is not None))

    def _append(self, session: Session, target: _Target, kind: TimelineKind, summary: str,
                data: dict[str, Any]) -> Any:
        return append_entry(session, target.incident_id, self.clock.now(), kind, summary, data,
                            ACTOR)


# ---------------------------------------------------------------- a check of one account

def since_for(position: datetime | None, now: datetime,
              lookback_days: int = DEFAULT_LOOKBACK_DAYS) -> datetime:
    """From when a check reads: the position less a margin, or (the first read) the last
    `lookback_days` days. Pure."""
    if position is None:
        return now - timedelta(days=lookback_days)
    return position - POSITION_MARGIN


async def read_sms_account(store: Any, clock: Clock, account: AccountDTO, sender: Any,
                           events: ev.EventBus | None = None) -> SmsCheckReport:
    """One read of the account's inbound messages with its sender (on the caller's event
    loop: the window's bridge shares the outbox's sender). A failure is kept with the
    account's position and returned in `error`, never raised."""
    report = SmsCheckReport(account.id, account.name)
    try:
        since = since_for(sms_position(store, account.id), clock.now())
        listed = [m for m in await sender.list_inbound(since) if m.sent_at >= since]
        batch = SmsRecorder(store, clock, events).record(account.id, listed)
    except Exception as exc:  # noqa: BLE001 - said in words, kept beside the account
        text = str(exc) if isinstance(exc, ClarionError) else \
            f"Reading the SMS account's messages failed: {type(exc).__name__}: {exc}"
        if not isinstance(exc, ClarionError):
            log.exception("reading SMS account %s failed", account.id)
        try:
            record_sms_error(store, clock, account.id, text)
        except Exception:  # noqa: BLE001 - the report still says it
            log.exception("could not keep the SMS account's error")
        report.error = text
        return report
    report.read = len(listed) - batch.seen
    report.recorded, report.left_alone = batch.recorded, batch.left_alone
    report.unmatched = batch.unmatched
    return report


def check_sms_account(store: Any, clock: Clock, account: AccountDTO, auth_token: str | None,
                      events: ev.EventBus | None = None) -> SmsCheckReport:
    """One read of an SMS account's inbound messages, on an event loop of its own (the
    command line). Never raises: a failure is in `error` (the token is never in it)."""
    sender = SmsSender(account, auth_token)

    async def run() -> SmsCheckReport:
        try:
            return await read_sms_account(store, clock, account, sender, events)
        finally:
            await sender.aclose()

    report = asyncio.run(run())
    if auth_token and auth_token in report.error:
        report.error = report.error.replace(auth_token, "[token]")
    return report
