"""A crash run (issue 15), shared by test_outbox_crash_smtp.py and
tests/benchmarks/bench_crash.py: N deliveries queued in a real migrated SQLite file, sent by a
child process — the outbox with EmailSender under the sender lease, the application's sending
policy — to aiosmtpd (STARTTLS + AUTH) in this process; the child is killed with SIGKILL at fixed
moments (a seeded choice of how many messages had arrived), restarted each time (it takes the
dead one's lease, recovers, and sends on), and the last one drains the queue.

What a kill leaves is measured before the next start: `sending` rows with a start mark (they
become `unknown`) beside the bound, twice the account's connections, and those without one (they
go back to the queue). At the end, counted from what the server received: lost (never arrived
although the database shows it sent, queued or waiting to retry, or in no state at all),
arrived twice, and arrived although `unknown`."""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from smtp_fixtures import PASSWORD, Recorder, email_account, make_cert, smtp_server

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, json, sys
from app.clock import SystemClock
from app.sending.channels.base import AccountDTO
from app.sending.channels.email import EmailSender
from app.sending.lease import holder_name, release, take
from app.sending.outbox import Outbox
from app.storage import Store

db, settings, password, account_id = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = Store.open(db)
clock = SystemClock()
dto = AccountDTO(id=account_id, kind="email", name="Relay", settings=settings)
sender = EmailSender(dto, password)
outbox = Outbox(store, clock, None, lambda channel, drill: (dto, sender))
outbox.lease = take(store, clock, holder_name("crash run"))
print(f"recovered {outbox.recover()} requeued {outbox.requeued}", flush=True)

async def main():
    try:
        return await outbox.flush()
    finally:
        await sender.aclose()

report = asyncio.run(main())
release(store, outbox.lease)
print(f"finished: claimed {report.claimed} sent {report.sent}", flush=True)
"""

SETUP = r"""
import json, sys
from app.clock import SystemClock
from app.domain.enums import Severity
from app.incidents.lifecycle import IncidentService
from app.stakeholders.clients import ensure_default_organisation
from app.storage import Store
from tests.outbox_support import add_account, add_message

db, settings, n = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
store = Store.open(db)
clock = SystemClock()
client = ensure_default_organisation(store, clock)
incident = IncidentService(store, clock, actor="crash").open(
    client_id=client.id, title="Crash run", severity=Severity.SEV2, detected_at=clock.now())
dto = add_account(store, clock, "email", "Relay", settings)
add_message(store, clock, incident.id, [(f"R{i}", f"r{i}@example.com") for i in range(n)])
store.dispose()
print(dto.id)
"""


@dataclass
class Kill:
    at: int                  # messages the server had received when the kill was sent
    arrived: int             # ... and when the child was gone
    in_doubt: int            # `sending` with a start mark: what recover() makes unknown
    requeued: int            # `sending` without one: back to the queue
    bound: int


@dataclass
class CrashRun:
    total: int
    connections: int
    kills: list[Kill] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    arrived_unknown: list[str] = field(default_factory=list)
    unknown: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"kill {k + 1}: at {x.at} arrived ({x.arrived} when gone): unknown {x.in_doubt} "
               f"(bound {x.bound}), back to the queue {x.requeued}"
               for k, x in enumerate(self.kills)]
        out.append(f"{self.total} deliveries, {len(self.kills)} kills, {self.seconds:.1f} s: "
                   f"lost {len(self.lost)}, arrived twice {len(self.twice)}, unknown "
                   f"{self.unknown} (arrived although unknown: {len(self.arrived_unknown)})")
        return out


class _Arrivals(Recorder):
    """The server's recorder, waking the harness as messages arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        with self.arrived:
            self.arrived.notify_all()
        return reply

    def wait_for(self, n: int, proc: subprocess.Popen, timeout: float) -> bool:
        """True when n arrived; False when the child ended first."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < n:
                if proc.poll() is not None:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {len(self.received)} arrived in {timeout} s")
                self.arrived.wait(min(left, 0.2))   # wakes on each arrival; polls the child
            return True


def _python(code: str, *args: str, **kw) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _query(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def run(folder: Path, total: int, kills: int, seed: int, connections: int = 8,
        timeout: float = 120.0) -> CrashRun:
    cert = make_cert(folder)
    recorder = _Arrivals()
    db = folder / "crash.db"
    rng = random.Random(seed)
    moments = sorted(rng.sample(range(total // 10, total * 9 // 10), kills))
    result = CrashRun(total, connections)
    started = time.monotonic()
    with smtp_server(recorder, cert) as controller:
        settings = dict(email_account(controller.port, ca_file=cert.cert,
                                      concurrency=connections, timeout=10).settings)
        setup = _python(SETUP, str(db), json.dumps(settings), str(total))
        out, err = setup.communicate(timeout=timeout)
        assert setup.returncode == 0, err.decode(errors="replace")
        account_id = out.decode().split()[-1]
        args = (str(db), json.dumps(settings), PASSWORD, account_id)
        for at in moments + [None]:
            proc = _python(CHILD, *args)
            try:
                if at is None:
                    out, err = proc.communicate(timeout=timeout)
                    assert proc.returncode == 0, err.decode(errors="replace")
                    break
                assert recorder.wait_for(at, proc, timeout), \
                    f"the child ended before the kill at {at}: {proc.stderr.read().decode()}"
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(timeout=timeout) == -signal.SIGKILL
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
                proc.stderr.close()
            [(doubt, back)] = _query(db, "SELECT coalesce(sum(started_at IS NOT NULL), 0), "
                                         "coalesce(sum(started_at IS NULL), 0) "
                                         "FROM deliveries WHERE state = 'sending'")
            result.kills.append(Kill(at, len(recorder.received), doubt, back, 2 * connections))
        arrivals = collections.Counter(recorder.message_ids())
    result.seconds = time.monotonic() - started
    states = dict(_query(db, "SELECT email_message_id, state FROM deliveries"))
    result.lost = sorted(m for m, st in states.items()
                         if st in ("sent", "queued", "retry_wait", "sending")
                         and m not in arrivals) + ["(no row)"] * (total - len(states))
    result.twice = sorted(m for m, n in arrivals.items() if n > 1)
    result.unknown = sum(st == "unknown" for st in states.values())
    result.arrived_unknown = sorted(m for m, st in states.items()
                                    if st == "unknown" and m in arrivals)
    return result
