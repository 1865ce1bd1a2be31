"""The durable outbox (DESIGN.md "Sending: the outbox"): claim due deliveries in one committed
transaction before any network I/O, hand them to the account's Sender — which waits for each
message's durable start mark before sending it (app/sending/starts.py) — and record what each
attempt did in small group commits (state, backoff, account pauses, with the next start marks),
telling the incident's timeline commit_every sends at a time.

State machine (anything else is refused by skipping the delivery):

    queued ──claim──▶ sending ──▶ sent | retry_wait | failed | unknown
                         └──(credentials refused)──▶ queued, account paused, attempt not counted
                         └──(never handed to a sender: stopped, account refused)──▶ queued
    retry_wait ──claim──▶ sending          retry_wait ──retry──▶ queued
    failed ──retry──▶ queued               unknown ──resend/retry──▶ queued
    unknown ──mark_sent──▶ sent            queued | retry_wait | unknown ──cancel──▶ cancelled

A `sending` row found at start-up was interrupted: recover() makes it `unknown` when its
transmission had started (its start mark, app/sending/starts.py), and puts it back in the queue,
no attempt counted, when it had not (claimed, never sent). `unknown` is never sent again by itself — the coordinator resends (an email keeps its Message-ID) or marks
it sent. Senders returned by `resolve_sender` belong to whoever made them; the outbox never
closes them. Writes from here take SQLite's write lock with their first statement, so a GUI
session that wrote meanwhile cannot make them fail on a stale snapshot.

When the database cannot be written (a full disk, read-only, a failing disk: StorageUnavailable,
app/storage/space.py), sending pauses: the flush in progress claims and starts nothing more; the
outcomes of what was on the wire are kept in memory (`held`) and written, before anything is
claimed, by the next flush that can write (`paused` says why meanwhile). If the process ends
first they are lost from memory, and their rows are still `sending` with a start mark: the next
start's recover() makes them `unknown`, as after a crash — never sent again by itself.

This module is the service (reading, the coordinator's decisions, recovery); the rest is in
    app/sending/flush.py     one flush: claim a round, send it, record outcomes in batches
    app/sending/starts.py    the start marks: at most 2× a sender's in-flight limit in doubt
    app/sending/rows.py      the DTOs and the SQL of the sending path
    app/sending/timeline.py  what goes into the incident's timeline, and its wording
    app/sending/runner.py    run_forever (the GUI's sending thread) and flush_headless (CLI):
                             a layer above this module, which never imports it"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import and_, func, not_, select, update

from app import events as ev
from app.sending.channels.base import AccountDTO, OutgoingMessage, Sender, SendOutcome
from app.clock import Clock, ensure_utc
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import Channel, DeliveryState as S
from app.domain.models import Delivery, Incident, Message
from app.events import OUTBOX_CHANGED
from app.sending.flush import Flush
from app.sending.lease import Lease, may_send
from app.sending.rows import (
    ID_CHUNK, WAITING, DeliveryDTO, FlushReport, chunks, due as due_filter, infos,
    take_write_lock,
)
from app.sending.timeline import (
    ACTOR, DATA_CAP, SUMMARY_OVER, Change, channel_words, entries as timeline_entries,
    recovered_entries,
)
from app.storage.space import problem_of


Resolver = Callable[[str, bool], "tuple[AccountDTO, Sender] | None"]


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
        # The sender lease this outbox sends under (app/sending/lease.py); None: it may send
        # only while no other process holds a live one. `lease_lost`: taken over meanwhile.
        self.lease: Lease | None = None
        self.lease_lost = False
        self.requeued = 0   # the last recover(): claimed deliveries that never left, queued again
        # (channel, is_drill) routes the last flush could not use: no account, or paused.
        # next_due_at() leaves them out so the scheduler waits for `wake` instead of spinning.
        self._blocked: frozenset[tuple[Channel, bool]] = frozenset()
        # Outcomes a flush could not write (the database could not be written), with the flush
        # that knows their deliveries: written by write_held() before anything is claimed.
        self.held: list[tuple[Flush, list[SendOutcome]]] = []
        # Why sending is paused, in words for a status line ("Sending paused: the disk holding
        # the database is full"); None while the last flush could write.
        self.paused: str | None = None

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
        """Every `sending` row was interrupted: the ones whose transmission had started
        become `unknown` (one timeline entry per affected message); the others never left
        and go back to the queue, due now, their attempt not counted. Returns how many became
        unknown (`requeued` holds how many went back). Only under this outbox's lease (or
        while no one holds one): beside a live sender, `sending` rows are on the wire.

        This is also how outcomes kept in memory while the database could not be written
        (`held`) "become unknown" when the process ends first: their rows were left `sending`
        with a start mark. Outcomes still held in this process are written first."""
        self.write_held()
        now = self.clock.now()
        self.requeued = 0
        with self.store.session() as s, s.begin():
            take_write_lock(s)
            if not s.scalar(select(may_send(self.lease, now))):
                return 0   # another process is sending: its `sending` rows are on the wire
            rows = s.execute(select(Delivery.id, Delivery.attempts, Delivery.started_at)
                             .where(Delivery.state == S.SENDING)).all()
            started = [r.id for r in rows if r.started_at is not None]
            never = [r for r in rows if r.started_at is None]
            if never:
                s.execute(update(Delivery), [
                    {"id": r.id, "state": S.QUEUED, "attempts": max(0, r.attempts - 1),
                     "next_attempt_at": now, "updated_at": now,
                     "last_error": "not sent: the application stopped before its turn"}
                    for r in never])
                first = [r.id for r in never if r.attempts <= 1]
                for chunk in chunks(first):  # a first attempt undone: its wire is built
                    s.execute(update(Delivery).where(Delivery.id.in_(chunk))  # again
                              .values(wire=None))
            found = infos(s, started)
            entries = self._tell_untold(s, now)
            if found:
                reason = "interrupted while sending (the application stopped)"
                s.execute(update(Delivery), [
                    {"id": i.id, "state": S.UNKNOWN, "last_error": reason, "updated_at": now,
                     "started_at": None} for i, _ in found])
                entries += recovered_entries(s, [i for i, _ in found], now)
        self.requeued = len(never)
        if rows or entries:
            self._publish(tuple(r.id for r in rows), entries)
        return len(found)

    def _tell_untold(self, s: Any, now: datetime,
                     ids: Sequence[int] | None = None) -> list[TimelineEntryDTO]:
        """Outcomes a flush had committed but not yet put in the timeline (it writes them
        commit_every at a time; their rows keep started_at until then) — after a crash, or
        (`ids`) before the coordinator decides about those deliveries: written now, as the
        flush would have, and cleared, so that the flush does not tell them again."""
        stmt = (select(Delivery.id, Delivery.attempts, Delivery.last_error,
                       Delivery.provider_id, Delivery.next_attempt_at)
                .where(Delivery.started_at.is_not(None), Delivery.state != S.SENDING))
        found = s.execute(stmt) if ids is None else (
            r for chunk in chunks(sorted(ids)) for r in s.execute(stmt.where(
                Delivery.id.in_(chunk))))
        rows = {r.id: r for r in found}
        if not rows:
            return []
        changes = []
        for info, r in infos(s, list(rows)):
            row = rows[info.id]
            extra: dict[str, Any] = {"attempt": row.attempts, "recovered": True}
            if r.state == S.SENT:
                extra["provider_id"] = row.provider_id or ""
            elif r.state == S.RETRY_WAIT and row.next_attempt_at is not None:
                extra["next_attempt_at"] = ensure_utc(row.next_attempt_at).isoformat()
            changes.append(Change(info, "send", r.state, row.last_error, extra))
        for chunk in chunks(sorted(rows)):
            s.execute(update(Delivery).where(Delivery.id.in_(chunk)).values(started_at=None))
        return timeline_entries(s, changes, now, ACTOR)

    # -- reading

    def due(self, limit: int | None = None) -> list[OutgoingMessage]:
        """Queued and retry_wait deliveries whose time has come, oldest first. `unknown` ones
        are not here: only the coordinator sends them again (resend_unknown)."""
        stmt = (select(Delivery, Message.is_drill).join(Message, Message.id == Delivery.message_id)
                .where(due_filter(self.clock.now()))
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
        with self.store.session() as s:
            return [_outgoing(d, drill, d.attempts) for d, drill in s.execute(stmt)]

    def list(self, state: str | None = None, incident_id: int | None = None,
             limit: int = 5000, ids: Iterable[int] | None = None) -> list[DeliveryDTO]:
        """Deliveries, newest message first; with `ids`, only those (any number: they are
        asked for ID_CHUNK at a time, in one read transaction)."""
        stmt = (select(Delivery.id, Delivery.message_id, Message.incident_id, Incident.title,
                       Message.template_type, Delivery.recipient_name, Delivery.channel,
                       Delivery.address, Delivery.state, Delivery.attempts,
                       Delivery.next_attempt_at, Delivery.last_error, Delivery.provider_id,
                       Delivery.sent_at, Delivery.created_at, Delivery.account_id,
                       Message.is_drill, Delivery.subject, Delivery.ack_requested,
                       Delivery.acknowledged_at, Delivery.ack_via)
                .join(Message, Message.id == Delivery.message_id)
                .join(Incident, Incident.id == Message.incident_id)
                .order_by(Delivery.message_id.desc(), Delivery.id).limit(limit))
        if state is not None:
            stmt = stmt.where(Delivery.state == S(state))
        if incident_id is not None:
            stmt = stmt.where(Message.incident_id == incident_id)
        wanted = None if ids is None else sorted(set(ids))
        with self.store.reading() as s:
            if wanted is None:
                rows = list(s.execute(stmt))
            else:
                rows = [r for chunk in chunks(wanted)
                        for r in s.execute(stmt.where(Delivery.id.in_(chunk)))]
            return [DeliveryDTO(*r[:6], r[6].value, r[7], r[8].value, *r[9:16], bool(r[16]), r[17],
                                bool(r[18]), r[19], r[20]) for r in rows]

    def counts(self) -> dict[str, int]:
        out = {st.value: 0 for st in S}
        with self.store.reading() as s:
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
        return None if value is None else ensure_utc(value)

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
            take_write_lock(s)
            found = infos(s, wanted, Delivery.state.in_(allowed))
            if not found:
                return 0
            # an outcome the flush has not told yet is told before the decision that follows
            # it (else a crash would leave it to recover(), which would tell the decided state)
            told = self._tell_untold(s, now, [i.id for i, _ in found])
            values: dict[str, Any] = {"state": to, "updated_at": now}
            if to == S.QUEUED:
                values["next_attempt_at"] = now
            if to == S.SENT:
                values["sent_at"] = now
            if to == S.CANCELLED:
                values["next_attempt_at"] = None
            s.execute(update(Delivery), [{"id": i.id, **values} for i, _ in found])
            changes = [Change(i, action, to, extra={"from": r.state.value}) for i, r in found]
            entries = told + timeline_entries(s, changes, now, self.actor)
        self._publish(tuple(i.id for i, _ in found), entries)
        return len(found)

    # -- sending

    async def flush(self, limit: int | None = None) -> FlushReport:
        """Send what is due, in rounds of at most batch_size (each claimed in one committed
        transaction before any of it goes to the network; the next one while the current
        one's last quarter is out), recording outcomes with the start marks in group commits
        (at most commit_every each; the timeline told commit_every sends at a time), until nothing
        is due or `limit` were claimed. A delivery is claimed at most once per flush.
        How: app/sending/flush.py.

        Outcomes held from an earlier flush (the database could not be written) are written
        first; while that still fails, nothing is claimed and the error (StorageUnavailable)
        is raised. Any storage problem sets `paused`; a flush that could write clears it."""
        try:
            self.write_held()
            report = await Flush(self, limit).run()
        except Exception as exc:
            problem = problem_of(exc)
            if problem is not None:
                self.paused = f"Sending paused: {problem.short}"
            raise
        self.paused = None
        return report

    # -- a database that cannot be written

    def hold(self, flush: Flush, outcomes: list[SendOutcome]) -> None:
        """Keep outcomes `flush` could not write, until write_held() can."""
        self.held.append((flush, list(outcomes)))

    def write_held(self) -> int:
        """Write the outcomes held in memory, each flush's in one transaction (only rows still
        `sending` in the attempt that flush claimed change: writing twice is harmless).
        Returns how many were written; raises (StorageUnavailable) while writing still fails,
        keeping what is not written yet."""
        written = 0
        while self.held:
            flush, outcomes = self.held[0]
            flush.tally(flush.record_interrupted(outcomes, flush.infos))
            self.held.pop(0)
            written += len(outcomes)
        return written

    def _publish(self, ids: tuple[int, ...] | None, entries: list[TimelineEntryDTO]) -> None:
        if self.events is None:
            return
        self.events.publish(OUTBOX_CHANGED, ids)
        for entry in entries:
            self.events.publish(ev.TIMELINE_APPENDED, entry)


def _outgoing(d: Delivery, drill: bool, attempts: int) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id=d.id, channel=d.channel.value, address=d.address,
        recipient_name=d.recipient_name, subject=d.subject, text=d.body_text, html=d.body_html,
        email_message_id=d.email_message_id, idempotency_key=d.idempotency_key,
        attempts=attempts, is_drill=bool(drill))


def status_line(counts: dict[str, int]) -> str:
    """The status bar's words for the outbox's counts per state. A delivery waiting to retry
    means a send failed: that is the offline signal (the network's own idea of "online" is not
    trusted: DESIGN.md)."""
    retrying, queued = counts.get("retry_wait", 0), counts.get("queued", 0)
    sending, unknown = counts.get("sending", 0), counts.get("unknown", 0)
    if retrying:
        text = f"offline — {retrying + queued:,} waiting"
    elif sending:
        text = f"Outbox: sending {sending:,}" + (f", {queued:,} waiting" if queued else "")
    elif queued:
        text = f"Outbox: {queued:,} waiting"
    else:
        text = "Outbox: nothing waiting"
    if unknown:
        text += f" · {unknown:,} need a decision"
    return text


__all__ = ["OUTBOX_CHANGED", "DeliveryDTO", "FlushReport", "Outbox", "status_line",
           "channel_words", "ACTOR", "DATA_CAP", "ID_CHUNK", "SUMMARY_OVER", "WAITING",
           "Resolver"]
