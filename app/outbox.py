"""The durable outbox (DESIGN.md "Sending: the outbox"): claim due deliveries in one committed
transaction before any network I/O, hand them to the account's Sender, and record what each
attempt did in batches — state, backoff, account pauses and the incident's timeline together.

State machine (anything else is refused by skipping the delivery):

    queued ──claim──▶ sending ──▶ sent | retry_wait | failed | unknown
                         └──(credentials refused)──▶ queued, account paused, attempt not counted
    retry_wait ──claim──▶ sending          retry_wait ──retry──▶ queued
    failed ──retry──▶ queued               unknown ──resend/retry──▶ queued
    unknown ──mark_sent──▶ sent            queued | retry_wait | unknown ──cancel──▶ cancelled

A `sending` row found at start-up was interrupted: recover() makes it `unknown`. `unknown` is
never sent again by itself — the coordinator resends (an email keeps its Message-ID) or marks
it sent. Senders returned by `resolve_sender` belong to whoever made them; the outbox never
closes them. Writes from here take SQLite's write lock with their first statement, so a GUI
session that wrote meanwhile cannot make them fail on a stale snapshot."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import (
    String, and_, func, insert, not_, or_, select, text, type_coerce, update,
)
from sqlalchemy.orm import Session

from app import events as ev
from app.channels.base import (
    AUTH_FAILED, OUTCOMES, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO, OutgoingMessage,
    SendOutcome, Sender,
)
from app.clock import Clock, ensure_utc
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import Channel, DeliveryState as S, TimelineKind
from app.domain.models import ChannelAccount, Delivery, Incident, Message, TimelineEntry

log = logging.getLogger(__name__)

from app.events import OUTBOX_CHANGED  # noqa: E402,F401 - the topic, named here too
SUMMARY_OVER = 20     # more outcomes than this of one kind for one message in a batch: one entry
DATA_CAP = 200        # delivery ids (and details) kept in one summary entry's data
ID_CHUNK = 500        # ids per IN (...) list
MAX_IDLE_WAIT_S = 600.0  # re-check at least this often while something waits (clock jumps)
ACTOR = "outbox"
WAITING = (S.QUEUED, S.RETRY_WAIT)
_D = Delivery.__table__        # Core: the sending path writes rows, not ORM objects
_TE = TimelineEntry.__table__
# What a claim's RETURNING gives: an OutgoingMessage and the timeline's identity of a delivery.
_CLAIMED = (_D.c.id, _D.c.message_id, _D.c.address, _D.c.recipient_name, _D.c.subject,
            _D.c.body_text, _D.c.body_html, _D.c.email_message_id, _D.c.idempotency_key,
            _D.c.attempts,
            # oldest first within a round: compared as stored (one fixed-width text format),
            # so 2 × batch_size datetimes are not parsed per round for the sort alone
            type_coerce(func.coalesce(_D.c.next_attempt_at, _D.c.created_at),
                        String).label("due_key"))
ROWS_PER_STATEMENT = 100  # outcomes per UPDATE … FROM (VALUES …): 8 variables a row

Resolver = Callable[[str, bool], "tuple[AccountDTO, Sender] | None"]
_Work = list  # [(route, [OutgoingMessage, ...]), ...]: what one round hands the senders


@dataclass(frozen=True)
class DeliveryDTO:
    id: int
    message_id: int
    incident_id: int
    incident_title: str
    template_type: str
    recipient_name: str
    channel: str
    address: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    provider_id: str
    sent_at: datetime | None
    created_at: datetime
    account_id: int | None
    is_drill: bool
    subject: str


@dataclass(frozen=True)
class FlushReport:
    """What one flush did. `paused_accounts`: names of accounts whose queue is paused (paused
    during this flush, or found paused with deliveries waiting for them)."""
    claimed: int
    sent: int
    retry_wait: int
    failed: int
    unknown: int
    paused_accounts: tuple[str, ...]


# ---------------------------------------------------------------- internals

@dataclass(frozen=True)
class _Route:
    key: tuple[Channel, bool]          # (channel, is_drill): what resolve_sender was asked
    account: AccountDTO
    sender: Sender
    has_row: bool                      # the account has a channel_accounts row to point at


@dataclass(frozen=True)
class _Info:
    """A delivery's identity for the timeline (fixed at queue time)."""
    id: int
    message_id: int
    incident_id: int
    recipient: str
    channel: str
    is_drill: bool
    route: _Route | None = None
    attempt: int = 0                   # the attempt this flush claimed (attempts after claim)


@dataclass
class _Change:
    info: _Info
    action: str                        # send | auth | retry | resend | cancel | mark_sent | recover
    state: S
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Applied:
    ids: tuple[int, ...] = ()
    entries: list[TimelineEntryDTO] = field(default_factory=list)
    results: Counter = field(default_factory=Counter)
    paused: list[_Route] = field(default_factory=list)


class _Tally:
    def __init__(self) -> None:
        self.claimed = 0
        self.results: Counter = Counter()
        self.paused: dict[str, None] = {}

    def report(self) -> FlushReport:
        r = self.results
        return FlushReport(self.claimed, r[SENT], r[TRANSIENT], r[PERMANENT], r[UNKNOWN],
                           tuple(self.paused))


class _Collector:
    """Gathers outcomes as the senders report them; hands the writer full batches."""

    def __init__(self, expected: Iterable[int], every: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.expected = set(expected)
        self.every = every
        self.done: set[int] = set()
        self.pending: list[SendOutcome] = []
        self.inflight: list[SendOutcome] = []
        self.wakeup = asyncio.Event()
        self.closed = False

    def accept(self, outcome: SendOutcome) -> None:
        if threading.get_ident() != self.thread:  # a sender reporting from its own thread
            self.loop.call_soon_threadsafe(self.accept, outcome)
            return
        if outcome.delivery_id not in self.expected or outcome.delivery_id in self.done:
            log.warning("ignored an outcome for delivery %s (not in this batch, or repeated)",
                        outcome.delivery_id)
            return
        self.done.add(outcome.delivery_id)
        self.pending.append(outcome)
        if len(self.pending) >= self.every:
            self.wakeup.set()

    def take(self) -> list[SendOutcome] | None:
        if len(self.pending) >= self.every or (self.closed and self.pending):
            batch, self.pending = self.pending[:self.every], self.pending[self.every:]
            return batch
        return None

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), ID_CHUNK):
        yield ids[i:i + ID_CHUNK]


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


def _take_write_lock(session: Session) -> None:
    """Make the transaction's first statement a write (BEGIN is deferred)."""
    session.execute(text("UPDATE deliveries SET id = id WHERE 0"))


def _due(now: datetime) -> Any:
    return and_(Delivery.state.in_(WAITING),
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))


def channel_words(channel: str) -> str:
    return {"sms": "SMS", "slack": "Slack", "teams": "Teams"}.get(channel, channel)


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _text(action: str, state: S, who: str, ch: str) -> str:
    if action == "send":
        return {S.SENT: f"Sent to {who} by {ch}",
                S.FAILED: f"Not delivered to {who} by {ch}",
                S.RETRY_WAIT: f"Not yet delivered to {who} by {ch}; will retry",
                }.get(state, f"Delivery to {who} by {ch} may or may not have gone out; "
                             "the coordinator decides")
    return {"auth": f"Not sent to {who} by {ch}: the account was refused and its queue is paused",
            "mark_sent": f"Marked as sent to {who} by {ch} (checked by the coordinator)",
            "retry": f"Queued again for {who} by {ch} (retry)",
            "resend": f"Resending to {who} by {ch} (the coordinator decided)",
            "cancel": f"Cancelled delivery to {who} by {ch}"}[action]


def _kind(action: str, state: S) -> TimelineKind:
    if action in ("retry", "resend", "cancel"):
        return TimelineKind.DECISION
    return TimelineKind.DELIVERY_SENT if state == S.SENT else TimelineKind.DELIVERY_FAILED


def _entries(session: Session, changes: Sequence[_Change], now: datetime,
             actor: str) -> list[TimelineEntryDTO]:
    """One entry per change, or one summary per (message, action, state, channel) when a batch
    has more than SUMMARY_OVER of them; the summary's data keeps the delivery ids."""
    groups: dict[tuple[int, str, S, str], list[_Change]] = {}
    for c in changes:
        groups.setdefault((c.info.message_id, c.action, c.state, c.info.channel), []).append(c)
    rows: list[dict[str, Any]] = []
    for (message_id, action, state, channel), items in groups.items():
        first = items[0].info
        base = {"message_id": message_id, "channel": channel, "state": state.value,
                "action": action}
        kind = _kind(action, state).value
        drill = " (drill)" if first.is_drill else ""
        if len(items) > SUMMARY_OVER:
            details = list(dict.fromkeys(c.detail for c in items if c.detail))
            reason = ""
            if details:
                reason = ": " + details[0][:300] + (
                    f" (and {len(details) - 1} other reasons)" if len(details) > 1 else "")
            summary = _text(action, state, f"{len(items)} recipients", channel_words(channel))
            data = {**base, "count": len(items), "truncated": len(items) > DATA_CAP,
                    "delivery_ids": [c.info.id for c in items[:DATA_CAP]],
                    "deliveries": [{"id": c.info.id, "recipient": c.info.recipient,
                                    **({"error": c.detail} if c.detail else {}), **c.extra}
                                   for c in items[:DATA_CAP]]}
            rows.append(_entry_row(first.incident_id, now, kind, actor,
                                   summary + reason + drill, data))
            continue
        for c in items:
            summary = _text(action, state, c.info.recipient, channel_words(channel))
            if state == S.RETRY_WAIT and "retry_in_s" in c.extra:
                summary += f" in {_human(c.extra['retry_in_s'])}"
            summary += (f": {c.detail}" if c.detail else "") + drill
            data = {**base, "delivery_id": c.info.id, "recipient": c.info.recipient,
                    **({"error": c.detail} if c.detail else {}), **c.extra}
            rows.append(_entry_row(c.info.incident_id, now, kind, actor, summary, data))
    return _insert_entries(session, rows)


def _entry_row(incident_id: int, at: datetime, kind: str, actor: str, summary: str,
               data: dict[str, Any]) -> dict[str, Any]:
    return {"incident_id": incident_id, "at": at, "kind": kind, "actor": actor,
            "summary": summary, "data": data}


def _insert_entries(session: Session, rows: list[dict[str, Any]]) -> list[TimelineEntryDTO]:
    """Append timeline entries with one Core INSERT (no ORM objects: a batch's bookkeeping
    must stay cheap beside the network work it records)."""
    if not rows:
        return []
    ids = session.connection().execute(
        insert(_TE).returning(_TE.c.id, sort_by_parameter_order=True), rows).scalars().all()
    return [TimelineEntryDTO(id=i, incident_id=r["incident_id"], at=r["at"], kind=r["kind"],
                             actor=r["actor"], summary=r["summary"], data=dict(r["data"]))
            for i, r in zip(ids, rows)]


def _infos(session: Session, ids: Sequence[int], *where: Any) -> list[tuple[_Info, Any]]:
    """(identity, row) for the given ids that match `where`; row has state and attempts."""
    out = []
    for chunk in _chunks(list(ids)):
        rows = session.execute(
            select(Delivery.id, Delivery.message_id, Message.incident_id, Delivery.recipient_name,
                   Delivery.channel, Message.is_drill, Delivery.state, Delivery.attempts)
            .join(Message, Message.id == Delivery.message_id)
            .where(Delivery.id.in_(chunk), *where).order_by(Delivery.id)).all()
        out += [(_Info(r.id, r.message_id, r.incident_id, r.recipient_name, r.channel.value,
                       bool(r.is_drill)), r) for r in rows]
    return out


# ---------------------------------------------------------------- recording outcomes
# Written as one statement per batch (not one per row): the writer runs in a thread, and
# sqlite3 lets go of the GIL at every statement step, so each per-row step was a round of
# GIL hand-overs with the event loop's thread, which does the network I/O.

_OUTCOME_COLUMNS = ("id", "state", "attempts", "next_attempt_at", "last_error", "provider_id",
                    "sent_at")
_binders: dict[Any, tuple[Callable[[Any], Any], ...]] = {}


def _binder(dialect: Any) -> tuple[Callable[[Any], Any], ...]:
    """The column types' own conversions (enum values, naive UTC datetimes) for raw SQL."""
    found = _binders.get(dialect)
    if found is None:
        found = tuple(_D.c[c].type.bind_processor(dialect) or (lambda v: v)
                      for c in _OUTCOME_COLUMNS + ("updated_at",))
        _binders[dialect] = found
    return found


def _stale(conn: Any, claimed: list[tuple[int, int]]) -> set[int]:
    """Of (delivery id, attempt) pairs, the ids that are no longer `sending` in that attempt:
    already recorded, recovered as unknown, or claimed again since. One query per chunk."""
    out: set[int] = set()
    for i in range(0, len(claimed), ROWS_PER_STATEMENT):
        chunk = claimed[i:i + ROWS_PER_STATEMENT]
        sending = _binder(conn.dialect)[1](S.SENDING)
        sql = ("SELECT v.column1 FROM (VALUES " + ", ".join(["(?, ?)"] * len(chunk)) +
               ") AS v LEFT JOIN deliveries AS d ON d.id = v.column1 AND d.state = ? "
               "AND d.attempts = v.column2 WHERE d.id IS NULL")
        params = [x for pair in chunk for x in pair] + [sending]
        out.update(r[0] for r in conn.exec_driver_sql(sql, tuple(params)))
    return out


def _write_outcomes(conn: Any, rows: list[dict[str, Any]], infos: dict[int, _Info],
                    now: datetime) -> None:
    """UPDATE … FROM (VALUES …): each row only if it is still `sending` in the attempt this
    flush claimed (so a late outcome never overwrites a newer attempt)."""
    if not rows:
        return
    conv = _binder(conn.dialect)
    sending = conv[1](S.SENDING)
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[i:i + ROWS_PER_STATEMENT]
        params: list[Any] = [conv[-1](now)]
        for r in chunk:
            params += [f(r[c]) for f, c in zip(conv, _OUTCOME_COLUMNS)]
            params.append(infos[r["id"]].attempt)
        sql = ("UPDATE deliveries SET state = v.column2, attempts = v.column3, "
               "next_attempt_at = v.column4, last_error = v.column5, provider_id = v.column6, "
               "sent_at = v.column7, updated_at = ? FROM (VALUES " +
               ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)) +
               ") AS v WHERE deliveries.id = v.column1 AND deliveries.state = ? "
               "AND deliveries.attempts = v.column8")
        conn.exec_driver_sql(sql, tuple(params + [sending]))


# ---------------------------------------------------------------- the outbox

class Outbox:
    def __init__(self, store, clock: Clock, events: ev.EventBus | None,  # type: ignore[no-untyped-def]
                 resolve_sender: Resolver, batch_size: int = 200, commit_every: int = 50,
                 max_backoff_s: float = 1800, base_backoff_s: float = 30,
                 rng: random.Random | None = None, actor: str = "coordinator") -> None:
        if batch_size < 1 or commit_every < 1:
            raise ValueError("batch_size and commit_every must be at least 1")
        self.store, self.clock, self.events = store, clock, events
        self.resolve_sender = resolve_sender
        self.batch_size, self.commit_every = batch_size, commit_every
        self.max_backoff_s, self.base_backoff_s = float(max_backoff_s), float(base_backoff_s)
        self.rng = rng or random.Random()
        self.actor = actor  # recorded on the coordinator's own actions (retry, cancel, …)
        # (channel, is_drill) routes the last flush could not use: no account, or paused.
        # next_due_at() leaves them out so the scheduler waits for `wake` instead of spinning.
        self._blocked: frozenset[tuple[Channel, bool]] = frozenset()

    # -- backoff

    def backoff(self, attempts: int) -> float:
        """base·2^(attempts−1), capped, ±20 % jitter, never above the cap."""
        raw = self.base_backoff_s * 2.0 ** min(max(attempts - 1, 0), 60)
        return min(min(raw, self.max_backoff_s) * self.rng.uniform(0.8, 1.2), self.max_backoff_s)

    def retry_delay(self, attempts: int, retry_after: float | None = None) -> float:
        delay = self.backoff(attempts)
        return max(delay, float(retry_after)) if retry_after else delay

    # -- start-up

    def recover(self) -> int:
        """Every `sending` row was interrupted mid-send: make it `unknown`, one timeline entry
        per affected message. Returns how many."""
        now = self.clock.now()
        with self.store.session() as s, s.begin():
            _take_write_lock(s)
            ids = list(s.scalars(select(Delivery.id).where(Delivery.state == S.SENDING)))
            found = _infos(s, ids)
            if not found:
                return 0
            reason = "interrupted while sending (the application stopped)"
            s.execute(update(Delivery), [{"id": i.id, "state": S.UNKNOWN, "last_error": reason,
                                          "updated_at": now} for i, _ in found])
            by_message: dict[int, list[_Info]] = {}
            for info, _ in found:
                by_message.setdefault(info.message_id, []).append(info)
            rows = []
            for message_id, infos in by_message.items():
                n = len(infos)
                channels = Counter(i.channel for i in infos)
                how = ", ".join(f"{k} by {channel_words(c)}" for c, k in sorted(channels.items()))
                rows.append(_entry_row(
                    infos[0].incident_id, now, TimelineKind.DELIVERY_FAILED.value, ACTOR,
                    f"{n} {'delivery was' if n == 1 else 'deliveries were'} interrupted while "
                    f"sending ({how}); whether {'it' if n == 1 else 'they'} went out is unknown",
                    {"message_id": message_id, "state": S.UNKNOWN.value, "action": "recover",
                     "count": n, "truncated": n > DATA_CAP,
                     "delivery_ids": [i.id for i in infos[:DATA_CAP]]}))
            entries = _insert_entries(s, rows)
        self._publish(tuple(i.id for i, _ in found), entries)
        return len(found)

    # -- reading

    def due(self, limit: int | None = None) -> list[OutgoingMessage]:
        """Queued and retry_wait deliveries whose time has come, oldest first. `unknown` ones
        are not here: only the coordinator sends them again (resend_unknown)."""
        stmt = (select(Delivery, Message.is_drill).join(Message, Message.id == Delivery.message_id)
                .where(_due(self.clock.now()))
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
        with self.store.session() as s:
            return [self._outgoing(d, drill, d.attempts) for d, drill in s.execute(stmt)]

    def list(self, state: str | None = None, incident_id: int | None = None,
             limit: int = 5000) -> list[DeliveryDTO]:
        stmt = (select(Delivery.id, Delivery.message_id, Message.incident_id, Incident.title,
                       Message.template_type, Delivery.recipient_name, Delivery.channel,
                       Delivery.address, Delivery.state, Delivery.attempts,
                       Delivery.next_attempt_at, Delivery.last_error, Delivery.provider_id,
                       Delivery.sent_at, Delivery.created_at, Delivery.account_id,
                       Message.is_drill, Delivery.subject)
                .join(Message, Message.id == Delivery.message_id)
                .join(Incident, Incident.id == Message.incident_id)
                .order_by(Delivery.message_id.desc(), Delivery.id).limit(limit))
        if state is not None:
            stmt = stmt.where(Delivery.state == S(state))
        if incident_id is not None:
            stmt = stmt.where(Message.incident_id == incident_id)
        with self.store.session() as s:
            return [DeliveryDTO(*r[:6], r[6].value, r[7], r[8].value, *r[9:16], bool(r[16]), r[17])
                    for r in s.execute(stmt)]

    def counts(self) -> dict[str, int]:
        out = {st.value: 0 for st in S}
        with self.store.session() as s:
            for st, n in s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)):
                out[st.value] = n
        return out

    def waiting(self) -> int:
        """Queued and retry_wait deliveries (those held by a paused account are queued)."""
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(Delivery)
                            .where(Delivery.state.in_(WAITING))) or 0

    def next_due_at(self) -> datetime | None:
        """Earliest time a waiting delivery may go, leaving out routes the last flush could
        not use (no account, account paused): those wait for `wake`."""
        stmt = (select(func.min(func.coalesce(Delivery.next_attempt_at, Delivery.created_at)))
                .join(Message, Message.id == Delivery.message_id)
                .where(Delivery.state.in_(WAITING),
                       *[not_(and_(Delivery.channel == c, Message.is_drill.is_(d)))
                         for c, d in self._blocked]))
        with self.store.session() as s:
            value = s.scalar(stmt)
        if value is None:
            return None
        if isinstance(value, str):  # coalesce() loses the column type on some versions
            value = datetime.fromisoformat(value)
        return ensure_utc(value)

    # -- the coordinator's decisions

    def retry(self, ids: Iterable[int]) -> int:
        """failed / unknown / retry_wait → queued, due now."""
        return self._decide(ids, (S.FAILED, S.UNKNOWN, S.RETRY_WAIT), S.QUEUED, "retry")

    def cancel(self, ids: Iterable[int]) -> int:
        """queued / retry_wait / unknown → cancelled. Sent ones stay sent (skipped)."""
        return self._decide(ids, (S.QUEUED, S.RETRY_WAIT, S.UNKNOWN), S.CANCELLED, "cancel")

    def resend_unknown(self, ids: Iterable[int]) -> int:
        """unknown → queued: the coordinator decided to send again (an email keeps its
        Message-ID, so the receiver can de-duplicate; an SMS cannot be)."""
        return self._decide(ids, (S.UNKNOWN,), S.QUEUED, "resend")

    def mark_sent(self, ids: Iterable[int]) -> int:
        """unknown → sent: the coordinator checked that it arrived. sent_at is now."""
        return self._decide(ids, (S.UNKNOWN,), S.SENT, "mark_sent")

    def _decide(self, ids: Iterable[int], allowed: tuple[S, ...], to: S, action: str) -> int:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return 0
        now = self.clock.now()
        with self.store.session() as s, s.begin():
            _take_write_lock(s)
            found = _infos(s, wanted, Delivery.state.in_(allowed))
            if not found:
                return 0
            values: dict[str, Any] = {"state": to, "updated_at": now}
            if to == S.QUEUED:
                values["next_attempt_at"] = now
            if to == S.SENT:
                values["sent_at"] = now
            if to == S.CANCELLED:
                values["next_attempt_at"] = None
            s.execute(update(Delivery), [{"id": i.id, **values} for i, _ in found])
            changes = [_Change(i, action, to, extra={"from": r.state.value}) for i, r in found]
            entries = _entries(s, changes, now, self.actor)
        self._publish(tuple(i.id for i, _ in found), entries)
        return len(found)

    # -- sending

    async def flush(self, limit: int | None = None) -> FlushReport:
        """Send what is due, in rounds of at most batch_size (each claimed in one committed
        transaction before any network I/O), until nothing is due or `limit` were claimed.
        A delivery is claimed at most once per flush."""
        tally, blocked, cache, seen = _Tally(), set(), {}, set()  # type: ignore[var-annotated]
        while True:
            room = self.batch_size if limit is None else min(self.batch_size, limit - tally.claimed)
            if room <= 0:
                break
            routes = self._routes(cache, blocked, tally)
            self._blocked = frozenset(blocked)
            if not routes:
                break
            work, infos = self._claim(routes, room)
            if not infos:
                break
            tally.claimed += len(infos)
            self._publish(tuple(infos), [])
            await self._send_round(work, infos, tally, blocked)
            self._blocked = frozenset(blocked)
            if len(infos) < room or not seen.isdisjoint(infos):
                break
            seen.update(infos)
        return tally.report()

    def _routes(self, cache: dict, blocked: set, tally: _Tally) -> list[_Route]:
        """The (channel, drill) groups with something due, oldest first, each with its account
        and sender; groups with no account or a paused one are blocked and left queued."""
        stmt = (select(Delivery.channel, Message.is_drill)
                .join(Message, Message.id == Delivery.message_id)
                .where(_due(self.clock.now()),
                       *[not_(and_(Delivery.channel == c, Message.is_drill.is_(d)))
                         for c, d in blocked])
                .group_by(Delivery.channel, Message.is_drill)
                .order_by(func.min(Delivery.next_attempt_at)))
        with self.store.session() as s:
            due_keys = [(channel, bool(drill)) for channel, drill in s.execute(stmt).all()]
        # Senders are resolved with no session open here: resolving may itself write (the
        # drill inbox is created on first use), and a transaction held meanwhile by this
        # thread would block that write (BEGIN IMMEDIATE) until it timed out.
        routes: list[_Route] = []
        for key in due_keys:
            channel, drill = key
            if key not in cache:
                try:
                    cache[key] = self.resolve_sender(channel.value, drill)
                except Exception:  # noqa: BLE001 - e.g. the keyring is locked: hold, say so
                    log.exception("no sender for %s (drill=%s)", channel.value, drill)
                    cache[key] = None
            found = cache[key]
            if found is None:
                blocked.add(key)
                continue
            account, sender = found
            with self.store.session() as s:
                row_reason = s.scalar(select(ChannelAccount.paused_reason)
                                      .where(ChannelAccount.id == account.id))
            if row_reason or (row_reason is None and account.paused_reason):
                blocked.add(key)
                tally.paused[account.name] = None
                continue
            routes.append(_Route(key, account, sender, row_reason is not None))
        return routes

    def _claim(self, routes: list[_Route], room: int) -> tuple[_Work, dict[int, _Info]]:
        """ONE transaction: due → sending, attempts + 1, account recorded; committed before
        the caller sends. Room is shared fairly between routes, then the rest to whoever has
        more. The first statement is the UPDATE, so it holds the write lock from the start;
        its RETURNING gives what the senders need, so no row is read twice."""
        now = self.clock.now()
        got: dict[tuple[Channel, bool], list[Any]] = {r.key: [] for r in routes}
        share = math.ceil(room / len(routes))
        with self.store.session() as s, s.begin():
            left = room
            for second_pass in (False, True):
                for r in routes:
                    if left <= 0 or (second_pass and len(got[r.key]) < share):
                        continue
                    n = left if second_pass else min(left, share)
                    rows = self._claim_route(s, r, n, now)
                    got[r.key] += rows
                    left -= len(rows)
            incident_of: dict[int, int] = {}
            for chunk in _chunks(sorted({d.message_id for rows in got.values() for d in rows})):
                incident_of.update(s.execute(select(Message.id, Message.incident_id)
                                             .where(Message.id.in_(chunk))).all())
        work, infos = [], {}
        for r in routes:
            channel, drill = r.key[0].value, r.key[1]
            mine = sorted(got[r.key], key=lambda d: (d.due_key, d.id))
            if mine:
                work.append((r, [OutgoingMessage(
                    delivery_id=d.id, channel=channel, address=d.address,
                    recipient_name=d.recipient_name, subject=d.subject, text=d.body_text,
                    html=d.body_html, email_message_id=d.email_message_id,
                    idempotency_key=d.idempotency_key, attempts=d.attempts - 1, is_drill=drill)
                    for d in mine]))
            for d in mine:
                infos[d.id] = _Info(d.id, d.message_id, incident_of[d.message_id],
                                    d.recipient_name, channel, drill, r, d.attempts)
        return work, infos

    @staticmethod
    def _claim_route(s: Session, r: _Route, n: int, now: datetime) -> list[Any]:
        channel, drill = r.key
        pick = (select(Delivery.id).join(Message, Message.id == Delivery.message_id)
                .where(_due(now), Delivery.channel == channel, Message.is_drill.is_(drill))
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(n))
        if r.has_row:  # paused meanwhile (another flush, another thread): claim nothing
            pick = pick.where(~select(ChannelAccount.id).where(
                ChannelAccount.id == r.account.id, ChannelAccount.paused_reason != "").exists())
        stmt = (update(_D).where(_D.c.id.in_(pick))
                .values(state=S.SENDING, attempts=_D.c.attempts + 1,
                        account_id=r.account.id if r.has_row else None, updated_at=now)
                .returning(*_CLAIMED))
        return list(s.execute(stmt).all())

    @staticmethod
    def _outgoing(d: Delivery, drill: bool, attempts: int) -> OutgoingMessage:
        return OutgoingMessage(
            delivery_id=d.id, channel=d.channel.value, address=d.address,
            recipient_name=d.recipient_name, subject=d.subject, text=d.body_text, html=d.body_html,
            email_message_id=d.email_message_id, idempotency_key=d.idempotency_key,
            attempts=attempts, is_drill=bool(drill))

    async def _send_round(self, work: _Work, infos: dict[int, _Info], tally: _Tally,
                          blocked: set) -> None:
        col = _Collector(infos, self.commit_every)
        writer = asyncio.create_task(self._writer(col, infos, tally, blocked))
        try:
            await asyncio.gather(*(self._send_one(r, msgs, col) for r, msgs in work))
            col.close()
            await writer
        except BaseException:
            # Cancelled, or the writer failed: record what we know; what was handed to a
            # sender without an answer may or may not have gone out. Applying twice is
            # harmless: only rows still `sending` change.
            writer.cancel()
            rest = col.inflight + col.pending + [
                SendOutcome(i, UNKNOWN, "sending was stopped before the server answered")
                for i in sorted(col.expected - col.done)]
            try:
                self._after_apply(self._apply(rest, infos), tally, blocked)
            except Exception:  # noqa: BLE001 - recover() at the next start settles them
                log.exception("could not record the outcomes of an interrupted send")
            raise

    @staticmethod
    async def _send_one(route: _Route, messages: list[OutgoingMessage], col: _Collector) -> None:
        why = "the channel reported nothing for this delivery"
        try:
            await route.sender.send(messages, col.accept)
        except Exception as exc:  # noqa: BLE001 - a sender must not raise; if it does, the
            log.exception("sender for %s failed", route.account.name)  # unreported are unknown
            why = f"the channel stopped: {exc}"[:500]
        for m in messages:
            if m.delivery_id not in col.done:
                col.accept(SendOutcome(m.delivery_id, UNKNOWN, why))

    async def _writer(self, col: _Collector, infos: dict[int, _Info], tally: _Tally,
                      blocked: set) -> None:
        """Commits outcomes commit_every at a time (the commit itself in a thread)."""
        while True:
            await col.wakeup.wait()
            col.wakeup.clear()
            while (batch := col.take()) is not None:
                col.inflight = batch
                applied = await self._apply_async(batch, infos)
                col.inflight = []
                self._after_apply(applied, tally, blocked)
            if col.closed:
                return

    def _apply(self, batch: list[SendOutcome], infos: dict[int, _Info]) -> _Applied:
        """The batch in one transaction, all on the calling thread (an interrupted send)."""
        with self.store.session() as s, s.begin():
            return self._stage(s, batch, infos)

    async def _apply_async(self, batch: list[SendOutcome], infos: dict[int, _Info]) -> _Applied:
        """The batch's statements run here, on the event loop's thread: a millisecond or so of
        CPU work which, run in a thread, made the loop hand the GIL over at every sqlite3 call
        while it does the network I/O. Only the COMMIT (the fsync: disk time, GIL released)
        goes to a thread, so a slow disk does not hold up the network."""
        s = self.store.session()
        try:
            s.begin()
            out = self._stage(s, batch, infos)
        except BaseException:
            s.close()
            raise
        await asyncio.to_thread(_commit_and_close, s)
        return out

    def _stage(self, s: Session, batch: list[SendOutcome], infos: dict[int, _Info]) -> _Applied:
        """One transaction's statements: the batch's state changes, account pauses and
        timeline entries (not committed here)."""
        now = self.clock.now()
        out = _Applied()
        _take_write_lock(s)
        conn = s.connection()
        stale = _stale(conn, [(o.delivery_id, infos[o.delivery_id].attempt) for o in batch])
        updates, changes, pauses = [], [], {}
        for o in batch:
            if o.delivery_id in stale:
                continue  # no longer sending in this attempt: already recorded
            info = infos[o.delivery_id]
            result = o.result if o.result in OUTCOMES else UNKNOWN
            detail = (o.detail or "").strip()[:2000] or (
                "" if o.result in OUTCOMES else f"unexpected outcome {o.result!r}")
            n = info.attempt
            row = {"id": o.delivery_id, "state": S.UNKNOWN, "attempts": n,
                   "next_attempt_at": None, "last_error": detail,
                   "provider_id": o.provider_id or "", "sent_at": None}
            extra: dict[str, Any] = {"attempt": n}
            action = "send"
            if result == SENT:
                row.update(state=S.SENT, sent_at=now, last_error="")
                extra["provider_id"] = o.provider_id or ""
            elif result == TRANSIENT:
                delay = self.retry_delay(n, o.retry_after)
                row.update(state=S.RETRY_WAIT, next_attempt_at=now + timedelta(seconds=delay))
                extra.update(retry_in_s=round(delay, 1),
                             next_attempt_at=row["next_attempt_at"].isoformat())
            elif result == PERMANENT:
                row["state"] = S.FAILED
            elif result == AUTH_FAILED:  # nothing reached the recipient: not an attempt
                action = "auth"
                row.update(state=S.QUEUED, attempts=max(0, n - 1), next_attempt_at=now)
                route = info.route
                if route is not None:
                    pauses[route.key] = (route, detail or "authentication refused")
                    extra["account"] = route.account.name
            if info.route is not None and info.route.has_row:
                extra["account_id"] = info.route.account.id
            updates.append(row)
            changes.append(_Change(info, action, row["state"], detail, extra))
            out.results[AUTH_FAILED if action == "auth" else result] += 1
        _write_outcomes(conn, updates, infos, now)
        for route, reason in pauses.values():
            if route.has_row:
                s.execute(update(ChannelAccount)
                          .where(ChannelAccount.id == route.account.id,
                                 ChannelAccount.paused_reason == "")
                          .values(paused_reason=reason, updated_at=now))
            out.paused.append(route)
        out.entries = _entries(s, changes, now, ACTOR) if changes else []
        out.ids = tuple(r["id"] for r in updates)
        return out

    def _after_apply(self, applied: _Applied, tally: _Tally, blocked: set) -> None:
        tally.results.update(applied.results)
        for route in applied.paused:
            blocked.add(route.key)
            tally.paused[route.account.name] = None
        if applied.ids:
            self._publish(applied.ids, applied.entries)

    def _publish(self, ids: tuple[int, ...] | None, entries: list[TimelineEntryDTO]) -> None:
        if self.events is None:
            return
        self.events.publish(OUTBOX_CHANGED, ids)
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)


# ---------------------------------------------------------------- schedulers

async def run_forever(outbox: Outbox, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Flush; then sleep until the next delivery is due, `wake` is set (something was queued,
    an account changed) or `stop` is set. A flush in progress finishes before stopping; cancel
    the task to interrupt it (what had no answer becomes `unknown`)."""
    while not stop.is_set():
        wake.clear()
        timeout: float | None
        try:
            report = await outbox.flush()
            due = outbox.next_due_at()
            timeout = None if due is None else (due - outbox.clock.now()).total_seconds()
            if timeout is not None and timeout <= 0:
                if report.claimed:
                    continue  # more became due while sending
                timeout = outbox.base_backoff_s  # due but nothing claimable: never spin
            if timeout is not None:
                timeout = min(timeout, MAX_IDLE_WAIT_S)
        except Exception:  # noqa: BLE001 - e.g. the database is busy: try again later
            log.exception("outbox flush failed")
            timeout = outbox.base_backoff_s
        if stop.is_set():
            break
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)


def flush_headless(outbox: Outbox) -> FlushReport:
    """For the CLI: send everything due now, without a window."""
    return asyncio.run(outbox.flush())


__all__ = ["OUTBOX_CHANGED", "DeliveryDTO", "FlushReport", "Outbox", "run_forever",
           "flush_headless", "channel_words"]
