"""One sender at a time: the sender lease (issue 15).

The window's runner and `clarion outbox flush` take the lease before they recover or claim
anything. Another process that finds a live lease — a heartbeat younger than TTL_S — does not
send and says who holds it; a lease whose heartbeat stopped (the holder crashed or hangs) can be
taken over. Each taking raises the epoch; the holder renews its heartbeat every HEARTBEAT_S and
every claim and outcome write of the outbox checks, in its own transaction, that the epoch is
still its own (`held`), so a sender that lost its lease never claims or records over its
successor. A process with no lease (tests, the demo's seeding) may send only while no one holds
a live one (`nobody_else`).

Plain SQL on the store; the outbox decides what to do when it is refused."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text, update

from app.clock import Clock, ensure_utc
from app.domain.models import SenderLease
from app.errors import ClarionError

NAME = "outbox"
TTL_S = 30.0          # no heartbeat for this long: the holder is gone, the lease can be taken
HEARTBEAT_S = 10.0    # how often the holder says it is alive


@dataclass(frozen=True)
class Lease:
    epoch: int
    holder: str


class LeaseHeld(ClarionError):
    """Another process is sending from this database."""

    def __init__(self, holder: str, heartbeat_at: datetime | None) -> None:
        self.holder, self.heartbeat_at = holder, heartbeat_at
        super().__init__(f"{holder} is sending from this database; this one will not send "
                         f"while it does.")


def holder_name(purpose: str) -> str:
    """"<purpose> (process 1234 on host)": who holds it, in words for the other process."""
    return f"{purpose} (process {os.getpid()} on {socket.gethostname()})"


def live(now: datetime) -> Any:
    """The condition of a lease whose holder is alive."""
    return and_(SenderLease.name == NAME, SenderLease.heartbeat_at.is_not(None),
                SenderLease.heartbeat_at >= now - timedelta(seconds=TTL_S))


def _process_gone(row: SenderLease) -> bool:
    """The holder was a process on this machine that no longer exists (it crashed): its lease
    need not run out first. Elsewhere, or where this cannot be told, only the heartbeat says."""
    if os.name != "posix" or not row.pid or row.pid == os.getpid() or \
            row.host != socket.gethostname():
        return False
    try:
        os.kill(row.pid, 0)          # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:                  # exists, another user's
        return False
    return False


def take(store: Any, clock: Clock, holder: str) -> Lease:
    """Take the lease (a new epoch) unless another holder's is live: then LeaseHeld. Taking it
    again as the same holder (a restart of the runner in the same process) is allowed, and so
    is taking over from a process of this machine that has died (its heartbeat may look
    alive for up to TTL_S)."""
    now = clock.now()
    with store.session() as s, s.begin():
        s.execute(text("UPDATE sender_lease SET epoch = epoch WHERE 0"))   # the write lock first
        row = s.get(SenderLease, NAME)
        if row is None:
            row = SenderLease(name=NAME, epoch=0)
            s.add(row)
        elif row.holder and row.holder != holder and row.heartbeat_at is not None and \
                ensure_utc(row.heartbeat_at) >= now - timedelta(seconds=TTL_S) and \
                not _process_gone(row):
            raise LeaseHeld(row.holder, ensure_utc(row.heartbeat_at))
        row.holder, row.pid, row.host = holder, os.getpid(), socket.gethostname()
        row.epoch = (row.epoch or 0) + 1
        row.taken_at = row.heartbeat_at = now
        s.flush()
        return Lease(row.epoch, holder)


def renew(store: Any, clock: Clock, lease: Lease) -> bool:
    """The heartbeat; False if the lease is no longer ours (taken over meanwhile)."""
    with store.session() as s, s.begin():
        done = s.execute(update(SenderLease)
                         .where(SenderLease.name == NAME, SenderLease.epoch == lease.epoch)
                         .values(heartbeat_at=clock.now()))
        return done.rowcount == 1


def release(store: Any, lease: Lease) -> None:
    """Give it up (a clean stop): the next process takes it at once."""
    with store.session() as s, s.begin():
        s.execute(update(SenderLease)
                  .where(SenderLease.name == NAME, SenderLease.epoch == lease.epoch)
                  .values(heartbeat_at=None, holder=""))


def held(lease: Lease) -> Any:
    """The condition, for a claim or an outcome write, that the lease is still ours."""
    return exists(select(SenderLease.name).where(SenderLease.name == NAME,
                                                 SenderLease.epoch == lease.epoch))


def nobody_else(now: datetime) -> Any:
    """For a sender without a lease: no one holds a live one."""
    return ~exists(select(SenderLease.name).where(live(now)))


def may_send(lease: Lease | None, now: datetime) -> Any:
    return held(lease) if lease is not None else nobody_else(now)


_HELD_SQL = "SELECT EXISTS (SELECT 1 FROM sender_lease WHERE name = ? AND epoch = ?)"
_NOBODY_SQL = ("SELECT NOT EXISTS (SELECT 1 FROM sender_lease WHERE name = ? AND "
               "heartbeat_at IS NOT NULL AND heartbeat_at >= ?)")


def may_send_now(conn: Any, lease: Lease | None, now: datetime) -> bool:
    """may_send, asked on a Core connection in plain SQL: the outcome writer asks it in every
    transaction, and building the expression each time cost more than the query."""
    if lease is not None:
        return bool(conn.exec_driver_sql(_HELD_SQL, (NAME, lease.epoch)).scalar())
    bind = SenderLease.__table__.c.heartbeat_at.type.dialect_impl(conn.dialect) \
        .bind_processor(conn.dialect)
    since = now - timedelta(seconds=TTL_S)
    return bool(conn.exec_driver_sql(_NOBODY_SQL, (NAME, bind(since) if bind else since))
                .scalar())


def who_holds(store: Any, clock: Clock) -> str | None:
    """The live holder, if any (for a message)."""
    with store.session() as s:
        return s.scalar(select(SenderLease.holder).where(live(clock.now()),
                                                         SenderLease.holder != ""))


__all__ = ["Lease", "LeaseHeld", "take", "renew", "release", "held", "nobody_else", "may_send",
           "may_send_now",
           "who_holds", "holder_name", "TTL_S", "HEARTBEAT_S"]
