"""Crash safety against a real SMTP server (issue 5): a process queues 1,000 deliveries and sends
them through aiosmtpd (STARTTLS + AUTH) with our EmailSender; it is killed with SIGKILL mid-send.
Counting what the server received: after restart nothing is lost, nothing is left `sending`, and
no message arrived twice except deliveries the outbox reports as `unknown` (which wait for the
coordinator and are only resent when asked)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from smtp_fixtures import PASSWORD, USER, Recorder, email_account, make_cert, smtp_server
from sqlalchemy import select

from app.sending.channels.email import EmailSender
from app.clock import SystemClock
from app.domain.models import ChannelAccount, Delivery
from app.sending.outbox import Outbox
from app.storage import Store

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000
KILL_AFTER = 120
DEADLINE_S = 60.0

CHILD = r"""
import asyncio, json, sys
from app.sending.channels.email import EmailSender
from app.stakeholders.clients import ensure_default_organisation
from app.clock import SystemClock
from app.domain.enums import Severity
from app.incidents.lifecycle import IncidentService
from app.sending.outbox import Outbox
from app.storage import Store
from tests.outbox_support import add_account, add_message

db, settings, password = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
store = Store.open(db)
clock = SystemClock()
client = ensure_default_organisation(store, clock)
incident = IncidentService(store, clock, actor="crash").open(
    client_id=client.id, title="Crash test", severity=Severity.SEV2, detected_at=clock.now())
dto = add_account(store, clock, "email", "Relay", settings)
add_message(store, clock, incident.id, [(f"R{i}", f"r{i}@example.com") for i in range(1000)])
print("queued", flush=True)
sender = EmailSender(dto, password)
outbox = Outbox(store, clock, None, lambda channel, drill: (dto, sender), batch_size=50,
                commit_every=10)
asyncio.run(outbox.flush())
print("finished", flush=True)
"""


@dataclass
class CountingRecorder(Recorder):
    """The test server's recorder, waking the test when enough messages arrived."""
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        with self.arrived:
            self.arrived.notify_all()
        return reply

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= n, timeout)


def _states(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {mid: st.value for mid, st in s.execute(
            select(Delivery.email_message_id, Delivery.state))}


def test_sigkill_mid_smtp_send_sends_nothing_twice_except_unknowns(tmp_path):
    import json

    cert = make_cert(tmp_path)
    recorder = CountingRecorder()
    db = tmp_path / "outbox.db"
    with smtp_server(recorder, cert) as controller:
        settings = dict(email_account(controller.port, ca_file=cert.cert, concurrency=4,
                                      timeout=10).settings)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), json.dumps(settings),
                                 PASSWORD], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            assert recorder.wait_for(KILL_AFTER, DEADLINE_S), \
                f"the child sent too slowly: {proc.poll()} {proc.stderr.read1(4000)!r}"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        first = collections.Counter(recorder.message_ids())
        assert max(first.values()) == 1, "a message arrived twice before the crash"

        store = Store.open(db)
        try:
            before = _states(store)
            assert len(before) == TOTAL  # nothing lost
            outbox_probe = Outbox(store, SystemClock(), None, lambda c, d: None)
            interrupted = outbox_probe.recover()
            after = _states(store)
            assert "sending" not in after.values()
            unknown = {m for m, st in after.items() if st == "unknown"}
            assert interrupted == len(unknown)
            # everything the database calls sent did arrive
            assert {m for m, st in after.items() if st == "sent"} <= set(first)

            # restart and send the rest; unknown ones wait for the coordinator
            with store.session() as s:
                account_id = s.scalar(select(ChannelAccount.id))
            from app.sending.channels.base import AccountDTO

            dto = AccountDTO(id=account_id, kind="email", name="Relay", settings=settings)
            sender = EmailSender(dto, PASSWORD)
            outbox = Outbox(store, SystemClock(), None, lambda c, d: (dto, sender))

            async def run():
                try:
                    return await outbox.flush()
                finally:
                    await sender.aclose()

            asyncio.run(run())
            final = _states(store)
            total = collections.Counter(recorder.message_ids())
            twice = {m for m, n in total.items() if n > 1}
            assert twice <= unknown, "only a delivery reported unknown may have arrived twice"
            assert set(final.values()) <= {"sent", "unknown"}
            assert {m for m, st in final.items() if st == "sent"} <= set(total)
            assert set(before) - set(total) <= unknown  # whatever never arrived is unknown
            assert (USER, PASSWORD) in recorder.logins
        finally:
            store.dispose()
