"""Crash safety of the outbox (issue 5): a process sending 1,000 deliveries is killed with
SIGKILL mid-send. On restart nothing is lost, nothing stays `sending`, nothing was sent twice,
and only what was in flight is `unknown` (left for the coordinator)."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import select

from app.clock import SystemClock
from app.domain.enums import DeliveryState
from app.domain.models import ChannelAccount, Delivery
from app.sending.channels.base import AccountDTO
from app.sending.outbox import Outbox
from app.storage import Store

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000
KILL_AFTER = 100
DEADLINE_S = 60.0

# Sends by appending the delivery id to a file (fsync per id), then tells the parent on stdout.
SENDER = r"""
import asyncio, os, sys
from app.sending.channels.base import SENT, SendOutcome

class FileSender:
    def __init__(self, path, echo=False, pause=0.0):
        self.path, self.echo, self.pause = path, echo, pause

    in_flight = 1

    async def send(self, messages, on_outcome, begin=None):
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            for m in messages:
                if begin is not None and not await begin(m.delivery_id):
                    return
                os.write(fd, f"{m.delivery_id}\n".encode())
                os.fsync(fd)
                if self.echo:
                    sys.stdout.write(f"{m.delivery_id}\n")
                    sys.stdout.flush()
                on_outcome(SendOutcome(m.delivery_id, SENT, provider_id=f"p{m.delivery_id}"))
                await asyncio.sleep(self.pause)
        finally:
            os.close(fd)

    def freeze(self, m, now):
        return f"{m.delivery_id} {m.subject}".encode()

    async def test_connection(self):
        return "ok"

    async def aclose(self):
        pass
"""

CHILD = SENDER + r"""
from app.stakeholders.clients import ensure_default_organisation
from app.clock import SystemClock
from app.domain.enums import Severity
from app.incidents.lifecycle import IncidentService
from app.sending.outbox import Outbox
from app.storage import Store
from tests.outbox_support import add_account, add_message

db, sent_file = sys.argv[1], sys.argv[2]
store = Store.open(db)
clock = SystemClock()
client = ensure_default_organisation(store, clock)
incident = IncidentService(store, clock, actor="crash-test").open(
    client_id=client.id, title="Crash test", severity=Severity.SEV2, detected_at=clock.now())
account_dto = add_account(store, clock, "email", "Relay")
add_message(store, clock, incident.id, [(f"R{i}", f"r{i}@example.com") for i in range({total})])
print("queued", flush=True)
sender = FileSender(sent_file, echo=True, pause=0.002)
outbox = Outbox(store, clock, None, lambda channel, drill: (account_dto, sender))
asyncio.run(outbox.flush())
print("finished", flush=True)
""".replace("{total}", str(TOTAL))


def _read_ids_until(proc: subprocess.Popen, wanted: int, deadline: float) -> list[int]:
    """Delivery ids the child reports on stdout, until `wanted` arrived; fails at the deadline."""
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    buffer, ids = b"", []
    try:
        while len(ids) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"child too slow: {len(ids)} sent in {DEADLINE_S} s")
            if not sel.select(timeout=remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"child exited early (rc={proc.wait()}): "
                                     f"{proc.stderr.read().decode(errors='replace')}")
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            ids += [int(line) for line in complete if line.isdigit()]
            if b"finished" in buffer or any(line == b"finished" for line in complete):
                raise AssertionError("the child finished before it could be killed")
    finally:
        sel.close()
    return ids


def _ids_in(path: Path) -> list[int]:
    """Complete lines only: a write cut by the kill leaves at most one partial last line."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [int(line) for line in data.split(b"\n")[:-1] if line]


def _states(store: Store) -> dict[int, str]:
    with store.session() as s:
        return {i: st.value for i, st in s.execute(select(Delivery.id, Delivery.state))}


def test_sigkill_mid_send_loses_nothing_and_sends_nothing_twice(tmp_path):
    db, first_file, second_file = tmp_path / "outbox.db", tmp_path / "sent-1", tmp_path / "sent-2"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(first_file)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reported = _read_ids_until(proc, KILL_AFTER, time.monotonic() + DEADLINE_S)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    with closing(sqlite3.connect(db)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    first = _ids_in(first_file)
    assert len(first) == len(set(first)), "an id was sent twice"
    assert set(reported) <= set(first)

    store = Store.open(db)
    try:
        before = _states(store)
        assert len(before) == TOTAL  # no delivery lost
        with store.session() as s:
            in_flight = set(s.scalars(select(Delivery.id).where(
                Delivery.state == DeliveryState.SENDING, Delivery.started_at.is_not(None))))
        claimed = {i for i, st in before.items() if st == "sending"}
        assert in_flight and claimed - in_flight, "the kill should land mid-round"
        # one on the wire at a time: its start and the next one's (marked ahead)
        assert len(in_flight) <= 2 * 1
        outbox = Outbox(store, SystemClock(), None, lambda c, d: None)
        assert outbox.recover() == len(in_flight)
        assert outbox.requeued == len(claimed - in_flight)
        after = _states(store)
        assert "sending" not in after.values()
        assert {i for i, st in after.items() if st == "unknown"} == in_flight
        assert {after[i] for i in claimed - in_flight} == {"queued"}
        # every id that reached the "server" is sent or unknown, never queued again
        assert {after[i] for i in first} <= {"sent", "unknown"}
        # everything recorded as sent really went out
        assert {i for i, st in after.items() if st == "sent"} <= set(first)

        # restart: the remaining queued ones go out; unknown ones wait for the coordinator
        namespace: dict = {}
        exec(SENDER, namespace)  # noqa: S102 - the same sender the child used
        sender = namespace["FileSender"](str(second_file))
        with store.session() as s:
            account_id = s.scalar(select(ChannelAccount.id).where(ChannelAccount.name == "Relay"))
        account = AccountDTO(id=account_id, kind="email", name="Relay")
        outbox = Outbox(store, SystemClock(), None, lambda c, d: (account, sender))
        report = asyncio.run(outbox.flush())
        second = _ids_in(second_file)
        assert len(second) == len(set(second)) == report.sent == report.claimed
        assert not set(first) & set(second), "a delivery was sent twice"
        final = _states(store)
        unknown = {i for i, st in final.items() if st == "unknown"}
        assert unknown == in_flight and not unknown & set(second)
        assert set(final.values()) <= {"sent", "unknown"}
        assert set(final) - (set(first) | set(second)) <= unknown
        print(f"killed after {len(first)} sent; {len(in_flight)} in flight became unknown; "
              f"{len(second)} sent after restart")
        assert (set(first) | set(second)) - unknown == {i for i, st in final.items()
                                                        if st == "sent"}
        with closing(sqlite3.connect(db)) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.dispose()

