"""What keeping the wire content costs (issue 13): the database's growth per 1,000 deliveries,
and the time the claim spends building it.

A demo database is seeded (its messages are rendered from the real templates); --n email
deliveries copying the texts of its demo email copies (subject, text and HTML; each to its own
name and address), and --n SMS, are queued in a fresh migrated Store and sent through the drill
inbox, which builds and stores their wire content at the claim as a real account would. The
file is measured after VACUUM as it is, then again with the wire column emptied: the difference
is what keeping the bytes costs. The claim's share: freeze() timed alone over the same
messages.

Run from the repo root:
    .venv/bin/python tests/benchmarks/bench_wire.py [--n 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.clock import FrozenClock, SystemClock  # noqa: E402
from app.demo.seed import ensure_demo  # noqa: E402
from app.domain.enums import DeliveryState, Severity  # noqa: E402
from app.domain.models import Delivery, Message  # noqa: E402
from app.incidents.lifecycle import IncidentService  # noqa: E402
from app.sending.accounts import AccountService  # noqa: E402
from app.sending.channels.base import OutgoingMessage  # noqa: E402
from app.sending.channels.drill import DrillSender  # noqa: E402
from app.sending.outbox import Outbox  # noqa: E402
from app.sending.secrets import MemorySecretBackend, SecretStore  # noqa: E402
from app.stakeholders.clients import ensure_default_organisation  # noqa: E402
from app.storage import Store  # noqa: E402


def size_after_vacuum(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
    return path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo.db"
        ensure_demo(demo, SystemClock())
        source = Store.open(demo)
        with source.session() as s:
            emails = [(d.subject, d.body_text, d.body_html) for d in s.scalars(
                select(Delivery).where(Delivery.channel == "email"))]
        source.dispose()

        path = Path(tmp) / "clarion.db"
        store = Store.open(path)
        clock = FrozenClock(SystemClock().now().astimezone(timezone.utc))
        client = ensure_default_organisation(store, clock)
        incident = IncidentService(store, clock).open(
            client_id=client.id, title="Portal down", severity=Severity.SEV2,
            detected_at=clock.now())
        now = clock.now()
        with store.session() as s, s.begin():
            msg = Message(incident_id=incident.id, template_type="status_update",
                          template_keys=[], audience={}, created_at=now)
            s.add(msg)
            s.flush()
            rows = []
            for i in range(n):
                subject, text, html = emails[i % len(emails)]
                name = f"Person {i:04d}"
                rows.append(Delivery(
                    message_id=msg.id, recipient_name=name, channel="email",
                    address=f"person.{i:04d}@northwindhealth.example.com",
                    detail_level="technical", template_key="status_update/technical/email",
                    subject=subject, body_text=text, body_html=html,
                    email_message_id=f"<{uuid.uuid4().hex}@clarion.invalid>",
                    idempotency_key=uuid.uuid4().hex, state=DeliveryState.QUEUED,
                    next_attempt_at=now, created_at=now, updated_at=now))
                rows.append(Delivery(
                    message_id=msg.id, recipient_name=name, channel="sms",
                    address=f"+1206555{i:04d}", detail_level="simple",
                    template_key="status_update/simple/sms",
                    body_text=f"[SEV2] Portal down: logins fail at single sign-on; next "
                              f"update by 23:01 PST. Harbor IT ({i})",
                    idempotency_key=uuid.uuid4().hex, state=DeliveryState.QUEUED,
                    next_attempt_at=now, created_at=now, updated_at=now))
            s.add_all(rows)
        accounts = AccountService(store, clock, SecretStore(MemorySecretBackend()))
        drill = accounts.create_drill_if_missing()
        sender = DrillSender(drill)
        outbox = Outbox(store, clock, None, lambda _c, _d: (drill, sender), batch_size=200)
        asyncio.run(outbox.flush())
        with store.session() as s:
            lengths: dict[str, list[int]] = {"email": [], "sms": []}
            for channel, wire in s.execute(select(Delivery.channel, Delivery.wire)):
                lengths[channel.value].append(len(wire or b""))
            texts = [OutgoingMessage(delivery_id=d.id, channel="email", address=d.address,
                                     recipient_name=d.recipient_name, subject=d.subject,
                                     text=d.body_text, html=d.body_html,
                                     email_message_id=d.email_message_id,
                                     idempotency_key=d.idempotency_key)
                     for d in s.scalars(select(Delivery).where(Delivery.channel == "email"))]
        store.dispose()
        assert all(lengths["email"]) and all(lengths["sms"]), "every delivery keeps its wire"
        with_wire = size_after_vacuum(path)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE deliveries SET wire = NULL")
        without = size_after_vacuum(path)

        runs = []
        for _ in range(5):
            start = time.perf_counter()
            for m in texts:
                sender.freeze(m, now)
            runs.append((time.perf_counter() - start) / len(texts))

    per_1000 = (with_wire - without) / (2 * n) * 1000
    print(f"{n:,} emails (mean wire {statistics.mean(lengths['email']):,.0f} bytes, median "
          f"{statistics.median(lengths['email']):,.0f}) and {n:,} SMS (mean "
          f"{statistics.mean(lengths['sms']):,.0f} bytes), sent through the drill inbox")
    print(f"database after VACUUM: {with_wire / 1e6:.2f} MB with the wire kept, "
          f"{without / 1e6:.2f} MB without: {(with_wire - without) / 1e6:.2f} MB for "
          f"{2 * n:,} deliveries")
    print(f"growth per 1,000 deliveries (half email, half SMS): {per_1000 / 1e6:.2f} MB; the "
          f"bytes alone: {statistics.mean(lengths['email']) * 1000 / 1e6:.2f} MB per 1,000 "
          f"emails, {statistics.mean(lengths['sms']) * 1000 / 1e6:.2f} MB per 1,000 SMS")
    print(f"building one email's wire (freeze): median {statistics.median(runs) * 1e6:.0f} µs "
          f"of 5 runs over {len(texts):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
