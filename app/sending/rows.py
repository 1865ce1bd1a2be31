"""The outbox's rows and the SQL that reads and writes them (app/sending/outbox.py is the service).

The sending path works on Core rows, not ORM objects: a round's claim is one
UPDATE … RETURNING, and a batch of outcomes is one UPDATE … FROM (VALUES …). The outcome
statements run on the event loop's thread (only their COMMIT goes to a thread): sqlite3 lets go
of the GIL at every statement step, and one step per row made the loop, which does the network
I/O, hand the GIL over dozens of times per batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import Connection, String, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from app.sending.channels.base import AccountDTO, Sender
from app.domain.enums import Channel, DeliveryState as S
from app.domain.models import Delivery, Message

ID_CHUNK = 500              # ids per IN (...) list
ROWS_PER_STATEMENT = 100    # outcomes per UPDATE … FROM (VALUES …): 8 variables a row
WAITING = (S.QUEUED, S.RETRY_WAIT)
D = Delivery.__table__

# What a claim's RETURNING gives: an OutgoingMessage and the timeline's identity of a delivery.
CLAIMED = (D.c.id, D.c.message_id, D.c.address, D.c.recipient_name, D.c.subject,
           D.c.body_text, D.c.body_html, D.c.email_message_id, D.c.idempotency_key, D.c.attempts,
           D.c.wire,
           # oldest first within a round: compared as stored (one fixed-width text format), so
           # 2 × batch_size datetimes are not parsed per round for the sort alone
           type_coerce(func.coalesce(D.c.next_attempt_at, D.c.created_at),
                       String).label("due_key"))


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
    # asked to confirm, and when and how they did (issue 25)
    ack_requested: bool = False
    acknowledged_at: datetime | None = None
    ack_via: str = ""


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


@dataclass(frozen=True)
class Route:
    key: tuple[Channel, bool]          # (channel, is_drill): what resolve_sender was asked
    account: AccountDTO
    sender: Sender
    has_row: bool                      # the account has a channel_accounts row to point at


@dataclass(frozen=True)
class Info:
    """A delivery's identity for the timeline (fixed at queue time)."""
    id: int
    message_id: int
    incident_id: int
    recipient: str
    channel: str
    is_drill: bool
    route: Route | None = None
    attempt: int = 0                   # the attempt this flush claimed (attempts after claim)


def chunks(items: Sequence[Any], size: int = ID_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def connection_of(db: Session | Connection) -> Connection:
    """The Core connection of a Session's transaction, or the connection itself (the flush's
    outcome writer keeps one for the whole flush: no Session built per small commit)."""
    return db.connection() if isinstance(db, Session) else db


def take_write_lock(db: Session | Connection) -> None:
    """Make the transaction's first statement a write (the engine begins IMMEDIATE anyway;
    this keeps the outbox right should that change). Plain SQL: the outcome writer runs it
    in every transaction."""
    connection_of(db).exec_driver_sql("UPDATE deliveries SET id = id WHERE 0")


def due(now: datetime) -> Any:
    return and_(Delivery.state.in_(WAITING),
                or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))


def infos(session: Session, ids: Sequence[int], *where: Any) -> list[tuple[Info, Any]]:
    """(identity, row) for the given ids that match `where`, in id order; row has the state."""
    out = []
    for chunk in chunks(list(ids)):
        rows = session.execute(
            select(Delivery.id, Delivery.message_id, Message.incident_id, Delivery.recipient_name,
                   Delivery.channel, Message.is_drill, Delivery.state)
            .join(Message, Message.id == Delivery.message_id)
            .where(Delivery.id.in_(chunk), *where).order_by(Delivery.id)).all()
        out += [(Info(r.id, r.message_id, r.incident_id, r.recipient_name, r.channel.value,
                      bool(r.is_drill)), r) for r in rows]
    return out


# ---------------------------------------------------------------- recording outcomes

OUTCOME_COLUMNS = ("id", "state", "attempts", "next_attempt_at", "last_error", "provider_id",
                   "sent_at")
_binders: dict[Any, tuple[Callable[[Any], Any], ...]] = {}


def _binder(dialect: Any) -> tuple[Callable[[Any], Any], ...]:
    """The column types' own conversions (enum values, naive UTC datetimes) for raw SQL, in
    the order of OUTCOME_COLUMNS, then updated_at."""
    found = _binders.get(dialect)
    if found is None:
        # dialect_impl: the dialect's own conversion too (SQLite's fixed-width datetime text,
        # as the ORM writes it), not only the column type's
        found = tuple(D.c[c].type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
                      for c in OUTCOME_COLUMNS + ("updated_at",))
        _binders[dialect] = found
    return found


def write_wires(conn: Any, wires: list[tuple[int, bytes]]) -> None:
    """Store (delivery id, wire content) pairs: one UPDATE … FROM (VALUES …) per
    ROWS_PER_STATEMENT, not one statement step per row."""
    for chunk in chunks(wires, ROWS_PER_STATEMENT):
        sql = ("UPDATE deliveries SET wire = v.column2 FROM (VALUES " +
               ", ".join(["(?, ?)"] * len(chunk)) + ") AS v WHERE deliveries.id = v.column1")
        conn.exec_driver_sql(sql, tuple(x for pair in chunk for x in pair))


def write_starts(conn: Any, claimed: list[tuple[int, int]], now: datetime) -> set[int]:
    """Mark (delivery id, attempt) pairs as started now — only rows still `sending` in that
    attempt; returns the ids marked. One UPDATE … FROM (VALUES …) … RETURNING per chunk."""
    conv = _binder(conn.dialect)
    at = D.c.started_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stamp = at(now) if at is not None else now
    sending = conv[1](S.SENDING)
    out: set[int] = set()
    for chunk in chunks(claimed, ROWS_PER_STATEMENT):
        sql = ("UPDATE deliveries SET started_at = ? FROM (VALUES " +
               ", ".join(["(?, ?)"] * len(chunk)) + ") AS v WHERE deliveries.id = v.column1 "
               "AND deliveries.state = ? AND deliveries.attempts = v.column2 "
               "RETURNING deliveries.id")
        params = [stamp] + [x for pair in chunk for x in pair] + [sending]
        out.update(r[0] for r in conn.exec_driver_sql(sql, tuple(params)))
    return out


def write_outcomes(conn: Any, rows: list[dict[str, Any]], claimed_attempt: dict[int, int],
                   now: datetime) -> set[int]:
    """rows: OUTCOME_COLUMNS each. One UPDATE … FROM (VALUES …) per ROWS_PER_STATEMENT rows,
    each row changed only while it is still `sending` in the attempt this flush claimed (so a
    late outcome never settles a newer attempt). Returns the ids it changed."""
    done: set[int] = set()
    conv = _binder(conn.dialect)
    sending, queued = conv[1](S.SENDING), conv[1](S.QUEUED)
    for chunk in chunks(rows, ROWS_PER_STATEMENT):
        params: list[Any] = [conv[-1](now), queued, conv[-1](now)]
        for r in chunk:
            params += [f(r[c]) for f, c in zip(conv, OUTCOME_COLUMNS)]
            params.append(claimed_attempt[r["id"]])
        # started_at: back in the queue (never sent, or the account refused), nothing to
        # remember; otherwise it stays set — or is set, for a send that needed no start mark
        # (a drill) — until the flush tells the outcome in the timeline (see Flush.stage)
        sql = ("UPDATE deliveries SET state = v.column2, attempts = v.column3, "
               "next_attempt_at = v.column4, last_error = v.column5, provider_id = v.column6, "
               "sent_at = v.column7, updated_at = ?, started_at = CASE WHEN v.column2 = ? "
               "THEN NULL ELSE coalesce(deliveries.started_at, ?) END FROM (VALUES " +
               ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)) +
               ") AS v WHERE deliveries.id = v.column1 AND deliveries.state = ? "
               "AND deliveries.attempts = v.column8 RETURNING deliveries.id")
        done.update(r[0] for r in conn.exec_driver_sql(sql, tuple(params + [sending])))
    return done
