"""Render one status update for 10,000 recipients, personalised (each their own name, level and
channel), and queue it — one Message and 10,000 Deliveries in one transaction.

Run: python tests/benchmarks/bench_render.py     (prints messages per second)"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.clock import SystemClock  # noqa: E402
from app.domain.dto import Facts, Recipient, RecipientList  # noqa: E402
from app.domain.enums import Category, DetailLevel  # noqa: E402
from app.incidents.lifecycle import IncidentService  # noqa: E402
from app.messages.composer import (  # noqa: E402
    Sender,
    build_context,
    queue_message,
    recipient_context,
    render,
)
from app.messages.library import builtin_templates  # noqa: E402
from app.stakeholders.clients import ensure_default_organisation  # noqa: E402
from app.storage import Store  # noqa: E402

N = 10_000


def main() -> int:
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        client = ensure_default_organisation(store, clock)
        incidents = IncidentService(store, clock)
        now = clock.now()
        incident = incidents.open(
            client_id=client.id, title="Patient portal unavailable", severity="SEV2",
            detected_at=now - timedelta(minutes=40),
            facts=Facts(status="Logins fail at the single sign-on step; the portal is up.",
                        impact="Patients cannot log in.", affected_services=("Portal", "Bill pay"),
                        eta_at=now + timedelta(minutes=20), eta_qualifier="within 30 minutes",
                        next_update_at=now + timedelta(minutes=15)))
        levels = [d.value for d in DetailLevel]
        cats = [c.value for c in Category]
        recipients = RecipientList(tuple(
            Recipient(stakeholder_id=None, name=f"Person {i}", category=cats[i % 9],  # type: ignore[arg-type]
                      detail_level=levels[i % 4], channel="sms" if i % 3 == 0 else "email",
                      address=f"+1206555{i % 100:04d}" if i % 3 == 0 else f"p{i}@example.com")
            for i in range(N)))
        templates = builtin_templates()
        sender = Sender("Dana Brooks", "Harbor IT")

        start = time.perf_counter()
        for r in recipients.recipients:
            channel = "sms" if r.channel == "sms" else "email"
            source = templates[f"status_update/{r.detail_level}/{channel}"]
            render(source, build_context(incident, client, sender, now, recipient_context(r)))
        render_s = time.perf_counter() - start

        start = time.perf_counter()
        queued = queue_message(store, clock, None, incident=incident, client=client,
                               template_type="status_update", templates=templates,
                               recipients=recipients, sender=sender, actor="bench")
        queue_s = time.perf_counter() - start
        store.dispose()
    print(f"recipients: {N} (email and SMS, four detail levels, personalised)")
    print(f"render only: {render_s:.2f} s = {N / render_s:,.0f} messages/s")
    print(f"render + queue in one transaction: {queue_s:.2f} s = {N / queue_s:,.0f} messages/s "
          f"({queued.deliveries} deliveries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
