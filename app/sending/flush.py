"""One flush of the outbox (Outbox.flush): rounds of claim → send → record.

Each round is claimed in ONE committed transaction before any of it goes to the network. Before
a sender puts a message on the wire it awaits its start mark (app/sending/starts.py); the senders
report outcomes as they come, and ONE writer records outcomes and start marks together, as many
as are waiting (at most commit_every outcomes) per transaction: state, backoff, account pauses,
timeline entries and marks — a group commit, so no fsync per message. The writer keeps one
connection for the flush and runs its statements on the event loop's thread; its COMMIT too
while the disk syncs quickly, in a thread when it does not (app/sending/commits.py), so a slow
disk does not hold up the network and the loop never trades the GIL with a thread per statement.

The next round is claimed while the last quarter of the current one is still out, and handed to
the senders when the current one is done, so the network does not wait for the database between
rounds. A crash finds up to about 1¼ rounds `sending`, but only the marked ones — at most twice
the account's in-flight limit — may have gone out: recover() makes those unknown and puts the
rest back in the queue. A stop (cancellation) does the same at once: what was marked and not
answered is unknown, what was claimed and never started goes back, no attempt counted, and so
does an account refused meanwhile for the round claimed for it.

A database that cannot be written (full disk, read-only, a failing disk: app/storage/space.py)
halts the flush: nothing more is claimed or started, what is on the wire finishes, and the
outcomes are recorded — or, while writing still fails, kept in memory by the outbox
(Outbox.hold), which writes them before it claims anything again. Should the process end
first, the rows are still `sending` with their start marks, and recover() makes them unknown at
the next start, as after a crash.

SMS opt-outs (issue 25, app/stakeholders/opt_out.py): a claimed SMS whose number opted out
since it was queued is failed in the claim's transaction and never handed to a sender; a
provider that refuses a number because it replied STOP (Twilio 21610, SendOutcome.opted_out)
opts that number out in the transaction that records the outcome."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqlalchemy import Connection, and_, func, not_, select, update
from sqlalchemy.orm import Session

from app.sending.channels.base import (
    AUTH_FAILED, OUTCOMES, PERMANENT, SENT, TRANSIENT, UNKNOWN, OutgoingMessage, SendOutcome,
)
from app.domain.dto import TimelineEntryDTO
from app.domain.enums import Channel, DeliveryState as S, TimelineKind
from app.domain.models import ChannelAccount, Delivery, Message
from app.events import STAKEHOLDERS_CHANGED
from app.sending.rows import (
    CLAIMED, D, FlushReport, Info, Route, chunks, connection_of, due, take_write_lock,
    write_outcomes, write_starts, write_wires,
)
from app.sending.lease import may_send, may_send_now
from app.sending.commits import WriterConnection
from app.sending.starts import StartGate
from app.sending.timeline import ACTOR, Change, entries, entry_row, insert_entries
from app.stakeholders.opt_out import (
    PROVIDER_REFUSES, not_sent_reason, number_key, opt_out, opted_out,
)
from app.storage.space import problem_of

if TYPE_CHECKING:
    from app.sending.outbox import Outbox

log = logging.getLogger("app.sending.outbox")  # one logger for the whole outbox, as before the split

Work = list  # [(route, [OutgoingMessage, ...]), ...]: what one round hands the senders
PREFETCH_AT = 0.25   # claim the next round when this share of the current one is still out
RELEASED = "released"  # not a channel's outcome: claimed, then never handed to a sender


@dataclass
class Applied:
    ids: tuple[int, ...] = ()
    entries: list[TimelineEntryDTO] = field(default_factory=list)
    results: Counter = field(default_factory=Counter)
    paused: list[Route] = field(default_factory=list)
    started: set[int] = field(default_factory=set)   # start marks written
    lost: bool = False                               # the lease was someone else's: nothing
    unnarrated: list[Change] = field(default_factory=list)  # sends still not in the timeline
    opted_out: set[int] = field(default_factory=set)  # stakeholders whose number the provider
                                                      # refused (21610): now opted out


class Collector:
    """Gathers outcomes as the senders report them and wakes the writer, which takes what has
    come (at most `every`). One per flush; `low` is set when the current round has at most
    `low_water` deliveries out."""

    def __init__(self, every: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.expected: set[int] = set()
        self.every = every
        self.done: set[int] = set()
        self.pending: list[SendOutcome] = []
        self.inflight: list[SendOutcome] = []
        self.wakeup = asyncio.Event()
        self.closed = False
        self.out: set[int] = set()         # the current round's deliveries without an answer
        self.low_water = 0
        self.low = asyncio.Event()
        self.refused: list[int] = []       # deliveries answered AUTH_FAILED
        self.gate_of: dict[int, StartGate] = {}   # the start marks of each delivery's route

    def expect(self, ids: Iterable[int], low_water: int) -> None:
        """A new round: these deliveries go to the senders now."""
        self.expected.update(ids)
        self.out = set(ids)
        self.low_water = low_water
        self.low.clear()

    def accept(self, outcome: SendOutcome) -> None:
        if threading.get_ident() != self.thread:  # a sender reporting from its own thread
            self.loop.call_soon_threadsafe(self.accept, outcome)
            return
        if outcome.delivery_id not in self.expected or outcome.delivery_id in self.done:
            log.warning("ignored an outcome for delivery %s (not in this flush, or repeated)",
                        outcome.delivery_id)
            return
        self.done.add(outcome.delivery_id)
        self.pending.append(outcome)
        gate = self.gate_of.get(outcome.delivery_id)
        if gate is not None:
            gate.reported_outcome(outcome.delivery_id)
        if outcome.result == AUTH_FAILED:
            self.refused.append(outcome.delivery_id)
        self.out.discard(outcome.delivery_id)
        if len(self.out) <= self.low_water:
            self.low.set()
        self.wakeup.set()

    def take(self) -> list[SendOutcome]:
        batch, self.pending = self.pending[:self.every], self.pending[self.every:]
        return batch

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class Flush:
    """The state of one flush: what it claimed and tallied, and the routes it found blocked
    (no account, or paused) so that it leaves them queued."""

    def __init__(self, outbox: Outbox, limit: int | None) -> None:
        self.outbox, self.limit = outbox, limit
        self.claimed = 0
        self.results: Counter = Counter()
        self.paused: dict[str, None] = {}                    # account names, in order
        self.blocked: set[tuple[Channel, bool]] = set()
        self.senders: dict[tuple[Channel, bool], Any] = {}   # resolve_sender's answers
        self.seen: set[int] = set()
        self.infos: dict[int, Info] = {}                     # everything claimed
        self.unsent: set[int] = set()      # claimed, not yet handed to a sender
        self.more = False                  # the last claim was full: more may be due
        self.db = asyncio.Lock()           # this flush's writes, one at a time
        self.writer_db = WriterConnection(outbox.store.engine)   # the outcome writer's
        self.col: Collector | None = None
        self.gates: dict[tuple[Channel, bool], StartGate] = {}   # per route, across rounds
        # Outcomes committed, not yet in the timeline: written commit_every at a time (and at
        # the end), so a fan-out reads as a few summaries, not an entry per small commit.
        # Until then their rows keep started_at: recover() writes them after a crash.
        self.unnarrated: list[Change] = []
        # The database could not be written (app/storage/space.py): the error. Nothing more is
        # claimed or started; what is on the wire finishes and its outcomes are kept.
        self.halted: BaseException | None = None
        # the last claim's SMS whose number opted out since they were queued: failed there,
        # never sent — (delivery ids, their timeline entries) to publish
        self.withheld: tuple[list[int], list[TimelineEntryDTO]] = ([], [])

    def report(self) -> FlushReport:
        r = self.results
        return FlushReport(self.claimed, r[SENT], r[TRANSIENT], r[PERMANENT], r[UNKNOWN],
                           tuple(self.paused))

    async def run(self) -> FlushReport:
        """Round after round until nothing more is due. While a round's last deliveries are
        out (a quarter of it), the next round is claimed — committed, like every claim, before
        any of it is handed to a sender — so the network does not wait for the database in
        between; it is handed over when this round's senders are done, leaving out accounts
        refused meanwhile."""
        col = self.col = Collector(self.outbox.commit_every)
        writer = asyncio.create_task(self.writer(col))
        sending: asyncio.Future | None = None
        try:
            nxt = await self.next_round()
            while nxt is not None:
                work, infos = nxt
                nxt = None
                if writer.done():  # it failed: stop here rather than send unrecorded rounds
                    await writer
                if work:
                    self.unsent.difference_update(infos)
                    col.expect(infos, low_water=int(len(infos) * PREFETCH_AT))
                    sending = asyncio.ensure_future(asyncio.gather(
                        *(_send_one(r, msgs, col, self.gate(r, msgs)) for r, msgs in work)))
                    if self.more:
                        low = asyncio.ensure_future(col.low.wait())
                        try:
                            await asyncio.wait({sending, low},
                                               return_when=asyncio.FIRST_COMPLETED)
                        finally:
                            low.cancel()
                        nxt = await self.prefetch()
                    await sending
                    sending = None
                elif self.more:
                    nxt = await self.next_round()
                if nxt is not None:
                    nxt = self.without_refused(nxt, col)
            col.close()
            await writer
            if self.halted is not None:   # recorded meanwhile; still, this flush was halted
                raise self.halted
        except BaseException:
            # Cancelled, or the writer failed: record what we know. What was handed to a
            # sender without an answer may or may not have gone out; what was claimed but
            # never handed over did not. Recording twice is harmless: only rows still
            # `sending` in the attempt claimed here change.
            writer.cancel()
            for gate in self.gates.values():
                gate.close()
            if sending is not None:
                sending.cancel()
            begun = set().union(*(g.begun for g in self.gates.values()))
            rest = col.inflight + col.pending + [
                SendOutcome(i, RELEASED, "not sent: sending stopped before its turn")
                for i in sorted(self.unsent | (col.expected - col.done - begun))] + [
                SendOutcome(i, UNKNOWN, "sending was stopped before the server answered")
                for i in sorted((col.expected - col.done) & begun)]
            try:
                self.tally(self.record_interrupted(rest, self.infos))
            except Exception as exc:  # noqa: BLE001 - recover() at the next start settles them
                if problem_of(exc) is None:
                    log.exception("could not record the outcomes of an interrupted send")
                elif rest or self.unnarrated:
                    # the database cannot be written: the outbox writes them once it can
                    self.outbox.hold(self, rest)   # (Outbox.write_held, before any claim)
                    log.warning("%d outcomes kept in memory until the database can be written "
                                "(%s)", len(rest), exc)
                else:   # a paused turn with nothing to record: the runner says the pause once
                    log.debug("nothing to record; the database cannot be written: %s", exc)
            raise
        finally:
            self.writer_db.close()
            self.outbox._blocked = frozenset(self.blocked)
        return self.report()

    def gate(self, route: Route, messages: list[OutgoingMessage]) -> StartGate | None:
        """The route's start marks, given this round's messages in the order its sender takes
        them; None for a drill, or a sender that puts nothing on a wire (the drill inbox)."""
        in_flight = int(getattr(route.sender, "in_flight", 1))
        if route.key[1] or in_flight <= 0:
            return None
        gate = self.gates.get(route.key)
        if gate is None:
            assert self.col is not None
            cap = 2 * in_flight
            gate = self.gates[route.key] = StartGate(cap, self.col.wakeup.set)
        ids = [m.delivery_id for m in messages if not m.is_drill]
        for i in ids:
            self.col.gate_of[i] = gate  # type: ignore[union-attr]
        gate.add(ids)
        return gate

    async def prefetch(self) -> tuple[Work, dict[int, Info]] | None:
        """The next round, claimed while the current one's last quarter is out. A claim the
        database refuses for lack of space or permission halts the flush (None) and lets the
        round that is out finish: its outcomes are known, not cut off as unknown."""
        try:
            return await self.next_round()
        except Exception as exc:
            if problem_of(exc) is None:
                raise
            self.halt(exc)
            return None

    def halt(self, exc: BaseException) -> None:
        """The database cannot be written: claim nothing more, start nothing more (the start
        gates close: what has not begun is withheld and goes back to the queue)."""
        if self.halted is None:
            self.halted = exc
            log.warning("the database cannot be written: nothing more is sent (%s)", exc)
        for gate in self.gates.values():
            gate.close()

    async def next_round(self) -> tuple[Work, dict[int, Info]] | None:
        """Claim the next round (None: nothing more to send in this flush)."""
        ob = self.outbox
        if ob.lease_lost or self.halted is not None:
            return None   # another process took the lease over (it sends now), or halted
        self.blocked.update(self.refused_routes())  # refused this flush, maybe not recorded yet
        while True:
            room = ob.batch_size if self.limit is None else \
                min(ob.batch_size, self.limit - self.claimed)
            if room <= 0:
                return None
            async with self.db:
                routes = self.routes()
                if not routes:
                    return None
                work, infos = self.claim(routes, room)
            held, self.withheld = self.withheld, ([], [])
            if held[0]:   # opted out since they were queued: failed in the claim, not sent
                self.claimed += len(held[0])
                self.results[PERMANENT] += len(held[0])
                ob._publish(tuple(held[0]), held[1])
            if infos:
                break
            if not held[0]:
                return None
        self.infos.update(infos)
        self.unsent.update(infos)
        self.claimed += len(infos)
        ob._publish(tuple(infos), [])
        self.more = len(infos) + len(held[0]) == room and self.seen.isdisjoint(infos)
        self.seen.update(infos)
        return work, infos

    def without_refused(self, nxt: tuple[Work, dict[int, Info]],
                        col: Collector) -> tuple[Work, dict[int, Info]]:
        """Leave out of a round claimed in advance the routes whose account was refused
        since: their deliveries go back to the queue unsent (not an attempt)."""
        refused = self.blocked | self.refused_routes()
        work, infos = nxt
        if not refused.intersection(r.key for r, _ in work):
            return nxt
        keep = [(r, msgs) for r, msgs in work if r.key not in refused]
        dropped = [m.delivery_id for r, msgs in work if r.key in refused for m in msgs]
        col.expected.update(dropped)
        self.unsent.difference_update(dropped)
        for i in dropped:
            col.accept(SendOutcome(i, RELEASED, "not sent: the account was refused meanwhile "
                                                "and its queue is paused"))
        kept = {m.delivery_id: infos[m.delivery_id] for _, msgs in keep for m in msgs}
        return keep, kept

    def refused_routes(self) -> set[tuple[Channel, bool]]:
        """Routes a sender answered AUTH_FAILED for in this flush (recorded or not yet)."""
        refused = self.col.refused if self.col is not None else []
        return {route.key for i in refused if (route := self.infos[i].route) is not None}

    def routes(self) -> list[Route]:
        """The (channel, drill) groups with something due, oldest first, each with its account
        and sender; groups with no account or a paused one are blocked and left queued."""
        ob = self.outbox
        stmt = (select(Delivery.channel, Message.is_drill)
                .join(Message, Message.id == Delivery.message_id)
                .where(due(ob.clock.now()),
                       *[not_(and_(Delivery.channel == c, Message.is_drill.is_(d)))
                         for c, d in self.blocked])
                .group_by(Delivery.channel, Message.is_drill)
                .order_by(func.min(Delivery.next_attempt_at)))
        with ob.store.session() as s:
            due_keys = [(channel, bool(drill)) for channel, drill in s.execute(stmt).all()]
        # Senders are resolved with no session open here: resolving may itself write (the
        # drill inbox is created on first use), and a transaction held meanwhile by this
        # thread would block that write (BEGIN IMMEDIATE) until it timed out.
        routes: list[Route] = []
        for key in due_keys:
            channel, drill = key
            if key not in self.senders:
                try:
                    self.senders[key] = ob.resolve_sender(channel.value, drill)
                except Exception:  # noqa: BLE001 - e.g. the keyring is locked: hold, say so
                    log.exception("no sender for %s (drill=%s)", channel.value, drill)
                    self.senders[key] = None
            found = self.senders[key]
            if found is None:
                self.blocked.add(key)
                continue
            account, sender = found
            with ob.store.session() as s:
                row_reason = s.scalar(select(ChannelAccount.paused_reason)
                                      .where(ChannelAccount.id == account.id))
            if row_reason or (row_reason is None and account.paused_reason):
                self.blocked.add(key)
                self.paused[account.name] = None
                continue
            routes.append(Route(key, account, sender, row_reason is not None))
        return routes

    def claim(self, routes: list[Route], room: int) -> tuple[Work, dict[int, Info]]:
        """ONE transaction: due → sending, attempts + 1, account recorded, and the wire content
        of each delivery claimed for its first time built and stored; committed before the
        caller sends. Room is shared fairly between routes, then the rest to whoever has
        more. The first statement is the UPDATE, so it holds the write lock from the start;
        its RETURNING gives what the senders need, so no row is read twice."""
        now = self.outbox.clock.now()
        got: dict[tuple[Channel, bool], list[Any]] = {r.key: [] for r in routes}
        share = math.ceil(room / len(routes))
        work, infos = [], {}
        with self.outbox.store.session() as s, s.begin():
            left = room
            for second_pass in (False, True):
                for r in routes:
                    if left <= 0 or (second_pass and len(got[r.key]) < share):
                        continue
                    n = left if second_pass else min(left, share)
                    rows = _claim_route(s, r, n, now, self.outbox.lease)
                    got[r.key] += rows
                    left -= len(rows)
            incident_of: dict[int, int] = {}
            for chunk in chunks(sorted({d.message_id for rows in got.values() for d in rows})):
                incident_of.update(s.execute(select(Message.id, Message.incident_id)
                                             .where(Message.id.in_(chunk))).all())
            texts = got.get((Channel.SMS, False), [])
            stopped = opted_out(s, [d.address for d in texts]) if texts else {}
            held: list[Change] = []
            frozen: list[tuple[int, bytes]] = []
            for r in routes:
                channel, drill = r.key[0].value, r.key[1]
                mine = sorted(got[r.key], key=lambda d: (d.due_key, d.id))
                msgs = []
                for d in mine:
                    if stopped and r.key == (Channel.SMS, False) \
                            and number_key(d.address) in stopped:
                        held.append(Change(
                            Info(d.id, d.message_id, incident_of[d.message_id],
                                 d.recipient_name, channel, drill, r, d.attempts - 1),
                            "send", S.FAILED,
                            not_sent_reason(d.address, stopped[number_key(d.address)]),
                            {"opted_out": True}))
                        continue
                    m = OutgoingMessage(
                        delivery_id=d.id, channel=channel, address=d.address,
                        recipient_name=d.recipient_name, subject=d.subject, text=d.body_text,
                        html=d.body_html, email_message_id=d.email_message_id,
                        idempotency_key=d.idempotency_key, attempts=d.attempts - 1,
                        is_drill=drill, wire=d.wire or b"")
                    if d.wire is None:  # its first claim: fix what goes out, once
                        try:
                            wire = r.sender.freeze(m, now)
                        except Exception:  # noqa: BLE001 - a bug of the channel's must not
                            log.exception("building delivery %s failed", d.id)  # stop a claim
                            wire = None    # (sent as built then; its send says what is wrong)
                        if wire:
                            m = replace(m, wire=wire)
                            frozen.append((d.id, wire))
                    msgs.append(m)
                    infos[d.id] = Info(d.id, d.message_id, incident_of[d.message_id],
                                       d.recipient_name, channel, drill, r, d.attempts)
                if msgs:
                    work.append((r, msgs))
            write_wires(s.connection(), frozen)
            if held:
                self.withheld = self.fail_withheld(s, held, now)
        return work, infos

    @staticmethod
    def fail_withheld(s: Session, held: list[Change], now: Any
                      ) -> tuple[list[int], list[TimelineEntryDTO]]:
        """In the claim's transaction: SMS claimed whose number opted out since they were
        queued become `failed` (no attempt counted, nothing sent), each with an entry."""
        for c in held:
            s.execute(update(D).where(D.c.id == c.info.id, D.c.state == S.SENDING)
                      .values(state=S.FAILED, attempts=c.info.attempt, next_attempt_at=None,
                              last_error=c.detail[:2000], sent_at=None, started_at=None,
                              updated_at=now))
        return [c.info.id for c in held], entries(s, held, now, ACTOR)

    async def writer(self, col: Collector) -> None:
        """Records what has come — outcomes (at most commit_every) and start marks — in one
        transaction whenever a commit is due (`commit_due`); whatever arrives during a commit
        goes into the next one (each commit in a thread). If it fails, the gates close, so no
        sender waits for a mark that will never be written."""
        try:
            while True:
                await col.wakeup.wait()
                col.wakeup.clear()
                while self.commit_due(col):
                    batch = col.take()
                    settling = {o.delivery_id for o in batch}
                    starts = [(g, g.take(settling)) for g in self.gates.values()]
                    final = col.closed and not col.pending
                    col.inflight = batch
                    applied = await self.record(batch, self.infos,
                                                [i for _, ids in starts for i in ids], final)
                    col.inflight = []
                    if applied.lost:
                        for gate, _ in starts:
                            gate.close()
                        return
                    for gate, ids in starts:
                        gate.committed(ids, applied.started, settling)
                    self.tally(applied)
                if col.closed and not col.pending and not self.unnarrated:
                    return
        except BaseException as exc:
            if isinstance(exc, Exception) and problem_of(exc) is not None:
                self.halt(exc)   # and the flush claims nothing more
            for gate in self.gates.values():
                gate.close()
            raise

    def commit_due(self, col: Collector) -> bool:
        """A commit now: commit_every outcomes wait, or a sender waits for its start mark (or
        soon will: few marked ahead), or the flush is done and something is unrecorded. Else
        outcomes wait for the next such commit — in the bound the gates keep."""
        if col.pending and (len(col.pending) >= self.outbox.commit_every or col.closed):
            return True
        if any(g.urgent(bool(col.pending)) for g in self.gates.values()):
            return True
        return col.closed and bool(self.unnarrated)

    async def record(self, batch: list[SendOutcome], infos: dict[int, Info],
                     starts: Sequence[int] = (), final: bool = False) -> Applied:
        """The batch's statements and the start marks on the writer's connection, on the event
        loop's thread (well under a millisecond of CPU), then the COMMIT (see commits.py)."""
        async with self.db:
            conn = self.writer_db.begin()
            try:
                out = self.stage(conn, batch, infos, final)
                if starts and not out.lost:
                    out.started = write_starts(conn, [
                        (i, infos[i].attempt) for i in starts], self.outbox.clock.now())
            except BaseException:
                self.writer_db.rollback()
                raise
            await self.writer_db.commit()
        self.narrated(out)
        return out

    def record_interrupted(self, batch: list[SendOutcome], infos: dict[int, Info]) -> Applied:
        """The batch in one transaction on the calling thread (a send was interrupted), with
        everything not yet in the timeline."""
        with self.outbox.store.session() as s, s.begin():
            out = self.stage(s, batch, infos, final=True)
        self.narrated(out)
        return out

    def narrated(self, out: Applied) -> None:
        """After a commit: the sends it did not put in the timeline wait for a later one."""
        if not out.lost:
            self.unnarrated = out.unnarrated

    def stage(self, s: Session | Connection, batch: list[SendOutcome], infos: dict[int, Info],
              final: bool = False) -> Applied:
        """One transaction's statements: the batch's state changes and account pauses, and
        timeline entries — an account refused at once; sends once commit_every wait (or at
        the end, `final`), with their rows' started_at cleared (not committed here)."""
        now = self.outbox.clock.now()
        out = Applied()
        take_write_lock(s)
        conn = connection_of(s)
        if not may_send_now(conn, self.outbox.lease, now):
            # the lease is someone else's now: their recovery settles these rows, not us
            self.outbox.lease_lost = True
            log.warning("the sender lease was taken over: %d outcomes not recorded here",
                        len(batch))
            out.lost = True
            return out
        updates, changes, pauses = [], [], {}
        undone: list[int] = []   # first attempts that never reached anyone: wire built again
        results: dict[int, str] = {}
        for o in batch:
            info = infos[o.delivery_id]
            if info.attempt == 1 and o.result in (RELEASED, AUTH_FAILED):
                undone.append(o.delivery_id)
            if o.result == RELEASED:  # claimed, never handed to a sender: back, no attempt
                updates.append({"id": o.delivery_id, "state": S.QUEUED,
                                "attempts": max(0, info.attempt - 1), "next_attempt_at": now,
                                "last_error": o.detail, "provider_id": "", "sent_at": None})
                continue
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
                delay = self.outbox.retry_delay(n, o.retry_after)
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
                    pauses.setdefault(route.key, (route, detail or "authentication refused",
                                                  []))[2].append(o.delivery_id)
                    extra["account"] = route.account.name
            if info.route is not None and info.route.has_row:
                extra["account_id"] = info.route.account.id
            updates.append(row)
            changes.append(Change(info, action, row["state"], detail, extra))
            results[o.delivery_id] = result
        done = write_outcomes(conn, updates, {r["id"]: infos[r["id"]].attempt
                                              for r in updates}, now)
        # only rows still `sending` in the attempt claimed here changed: the others had been
        # recorded already (or recovered, or claimed again since) and are not told again
        changes = [c for c in changes if c.info.id in done]
        undone = [i for i in undone if i in done]
        out.results.update(r for i, r in results.items() if i in done)
        # Nothing of these left (the account refused, or the send stopped before their turn):
        # their next claim is their first again and builds the wire from the account then
        # (a fixed from-address is in it). Only rows this batch just put back are touched.
        for chunk in chunks(undone):
            s.execute(update(D).where(D.c.id.in_(chunk), D.c.state == S.QUEUED,
                                      D.c.attempts == 0).values(wire=None))
        for route, reason, refused in pauses.values():
            if not done.intersection(refused):
                continue
            if route.has_row:
                s.execute(update(ChannelAccount)
                          .where(ChannelAccount.id == route.account.id,
                                 ChannelAccount.paused_reason == "")
                          .values(paused_reason=reason, updated_at=now))
            out.paused.append(route)
        out.entries = entries(s, [c for c in changes if c.action != "send"], now, ACTOR)
        waiting = self.unnarrated + [c for c in changes if c.action == "send"]
        every = self.outbox.commit_every
        k = len(waiting) if final else len(waiting) // every * every
        told, out.unnarrated = waiting[:k], waiting[k:]
        # Told now, in the timeline: their started_at is cleared, nothing left for recover() to
        # tell. Only what this transaction clears is told, so a send is told once even when a
        # commit finished in its thread after the flush was stopped (its rows are cleared).
        cleared: set[int] = set()
        for chunk in chunks(sorted(c.info.id for c in told)):
            cleared.update(s.scalars(update(D).where(
                D.c.id.in_(chunk), D.c.state != S.SENDING, D.c.started_at.is_not(None))
                .values(started_at=None).returning(D.c.id)))
        told = [c for c in told if c.info.id in cleared]
        for n in range(0, len(told), every):   # the timeline's summaries: commit_every each
            out.entries += entries(s, told[n:n + every], now, ACTOR)
        refused = [o for o in batch if o.opted_out and o.result == PERMANENT
                   and o.delivery_id in done]
        if refused:
            out.opted_out, stops = self.opt_out_refused(conn, refused, infos, now)
            out.entries += stops
        out.ids = tuple(r["id"] for r in updates if r["id"] in done)
        return out

    @staticmethod
    def opt_out_refused(conn: Connection, refused: list[SendOutcome], infos: dict[int, Info],
                        now: Any) -> tuple[set[int], list[TimelineEntryDTO]]:
        """The provider refuses these numbers because their owners replied STOP (Twilio
        21610): in the outcome's transaction, every SMS contact point with such a number is
        opted out, and the incident's timeline says so once per number."""
        ids = [o.delivery_id for o in refused]
        numbers = dict(conn.execute(select(D.c.id, D.c.address).where(D.c.id.in_(ids))).all())
        changed: set[int] = set()
        rows = []
        for o in refused:
            info, number = infos[o.delivery_id], numbers.get(o.delivery_id, "")
            who = opt_out(conn, number, now, PROVIDER_REFUSES)
            if not who:
                continue
            changed.update(who)
            rows.append(entry_row(
                info.incident_id, now, TimelineKind.OPTED_OUT.value, ACTOR,
                f"{info.recipient} ({number}) is no longer texted: {PROVIDER_REFUSES}",
                {"delivery_id": info.id, "message_id": info.message_id, "number": number,
                 "reason": PROVIDER_REFUSES, "stakeholder_ids": sorted(who),
                 "provider_words": o.detail}))
        return changed, insert_entries(conn, rows)

    def tally(self, applied: Applied) -> None:
        self.results.update(applied.results)
        if applied.opted_out and self.outbox.events is not None:   # the map shows it
            self.outbox.events.publish(STAKEHOLDERS_CHANGED, tuple(sorted(applied.opted_out)))
        for route in applied.paused:
            self.blocked.add(route.key)
            self.paused[route.account.name] = None
        if applied.ids:
            self.outbox._publish(applied.ids, applied.entries)


def _claim_route(s: Session, r: Route, n: int, now: Any, lease: Any = None) -> list[Any]:
    channel, drill = r.key
    pick = (select(Delivery.id).join(Message, Message.id == Delivery.message_id)
            .where(due(now), Delivery.channel == channel, Message.is_drill.is_(drill))
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(n))
    if r.has_row:  # paused meanwhile (another flush, another thread): claim nothing
        pick = pick.where(~select(ChannelAccount.id).where(
            ChannelAccount.id == r.account.id, ChannelAccount.paused_reason != "").exists())
    stmt = (update(D).where(D.c.id.in_(pick), may_send(lease, now))
            .values(state=S.SENDING, attempts=D.c.attempts + 1, started_at=None,
                    account_id=r.account.id if r.has_row else None, updated_at=now)
            .returning(*CLAIMED))
    return list(s.execute(stmt).all())


async def _send_one(route: Route, messages: list[OutgoingMessage], col: Collector,
                    gate: StartGate | None) -> None:
    why = "the channel reported nothing for this delivery"
    try:
        if gate is None:
            await route.sender.send(messages, col.accept)
        else:
            await route.sender.send(messages, col.accept, gate.begin)
    except Exception as exc:  # noqa: BLE001 - a sender must not raise; if it does, the
        log.exception("sender for %s failed", route.account.name)  # unreported are unknown
        why = f"the channel stopped: {exc}"[:500]
    for m in messages:
        if m.delivery_id in col.done:
            continue
        if gate is None or m.delivery_id in gate.begun:   # it may have gone out
            col.accept(SendOutcome(m.delivery_id, UNKNOWN, why))
        elif gate.closed:   # withheld: the flush stops; back to the queue, not an attempt
            col.accept(SendOutcome(m.delivery_id, RELEASED, "not sent: sending stopped "
                                                            "before its turn"))
        else:   # never started, but the channel failed: later, with backoff (not at once,
            col.accept(SendOutcome(m.delivery_id, TRANSIENT, why))   # again and again)
