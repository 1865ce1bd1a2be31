"""The timeline's hash chain (issue 21): what sealing costs each appended entry, and verifying a
100,000-entry incident cold and incrementally after one append.

Printed, medians of several runs, each figure beside its baseline from the same run:
- the encoding and SHA-256 of one entry (µs);
- appending one note through IncidentService (a transaction of its own), with and without the
  chain (`chain.seal` replaced by a no-op for the baseline);
- the outbox's batch of 50 timeline entries (one Core INSERT), with and without the chain;
- verifying an incident of N entries (default 100,000) from its first entry, and incrementally
  (from the remembered link) after one more entry.

Run: .venv/bin/python tests/benchmarks/bench_chain.py [N]   (not collected by pytest)"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.domain import chain  # noqa: E402

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def median_of(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


class NoChain:
    """chain.seal replaced by a no-op for the duration: the baseline without the chain."""

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.saved = chain.seal
        chain.seal = lambda connection, entries: []   # type: ignore[assignment]
        import app.sending.timeline as timeline
        self.timeline_saved = timeline.seal
        timeline.seal = chain.seal                   # type: ignore[assignment]

    def __exit__(self, *exc):  # type: ignore[no-untyped-def]
        import app.sending.timeline as timeline
        chain.seal = self.saved
        timeline.seal = self.timeline_saved


def outbox_rows(incident_id: int, n: int, start: int = 0) -> list[dict]:
    from app.sending.timeline import entry_row

    return [entry_row(incident_id, AT + timedelta(seconds=start + i), "delivery_sent", "outbox",
                      f"Sent to Recipient {start + i} <person{start + i}@example.org> by email",
                      {"message_id": 1, "channel": "email", "state": "sent", "action": "send",
                       "delivery_id": start + i, "recipient": f"Recipient {start + i}"})
            for i in range(n)]


def main() -> int:
    from app.clock import FrozenClock
    from app.domain.enums import Severity
    from app.events import EventBus
    from app.incidents.lifecycle import IncidentService
    from app.record.verify import verify_incident
    from app.sending.timeline import insert_entries
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    content = chain.Content(1, 12345, AT, "delivery_sent", "outbox", None,
                            "Sent to Dana Brooks <dana@example.org> by email",
                            {"message_id": 7, "channel": "email", "state": "sent",
                             "action": "send", "delivery_id": 991, "recipient": "Dana Brooks"})
    per = median_of(lambda: [chain.entry_hash(content, 5, chain.GENESIS)
                             for _ in range(10_000)], 5) / 10_000
    print(f"encoding + SHA-256 of one entry: {per * 1e6:.1f} µs")

    with tempfile.TemporaryDirectory() as tmp:
        clock = FrozenClock(AT)
        store = Store.open(Path(tmp) / "bench.db")
        client = ensure_default_organisation(store, clock).id
        service = IncidentService(store, clock, EventBus(), actor="Bench")
        small = service.open(client_id=client, title="Small", severity=Severity.SEV3,
                             detected_at=AT)

        def notes(k: int = 200) -> None:
            for i in range(k):
                service.add_note(small.id, f"note {i}")

        with NoChain():
            base = median_of(notes, 3) / 200
        chained = median_of(notes, 3) / 200
        print(f"append one note (own transaction): {chained * 1e3:.3f} ms with the chain, "
              f"{base * 1e3:.3f} ms without (+{(chained - base) * 1e6:.0f} µs)")

        def batch() -> None:
            with store.session() as s, s.begin():
                insert_entries(s, outbox_rows(small.id, 50))

        with NoChain():
            base = median_of(batch, 9)
        chained = median_of(batch, 9)
        print(f"outbox batch of 50 entries: {chained * 1e3:.2f} ms with the chain, "
              f"{base * 1e3:.2f} ms without (+{(chained - base) / 50 * 1e6:.0f} µs an entry)")

        big = service.open(client_id=client, title="Long breach", severity=Severity.SEV1,
                           detected_at=AT)
        start = time.perf_counter()
        for first in range(0, n, 1000):
            with store.session() as s, s.begin():
                insert_entries(s, outbox_rows(big.id, min(1000, n - first), first))
        print(f"built an incident of {n:,} entries in {time.perf_counter() - start:.1f} s")
        size = (Path(tmp) / "bench.db").stat().st_size
        print(f"database {size / 1_048_576:.0f} MB")

        reports = []
        cold = median_of(lambda: reports.append(verify_incident(store, big.id)), 3)
        assert reports[-1].holds and reports[-1].hashed >= n, reports[-1]
        print(f"verify {reports[-1].entries:,} entries cold: {cold:.2f} s "
              f"({cold / reports[-1].hashed * 1e6:.1f} µs an entry)")
        verify_incident(store, big.id, now=clock.now())          # remembered

        def one_more() -> None:
            with store.session() as s, s.begin():
                insert_entries(s, outbox_rows(big.id, 1, n + len(reports)))
            started = time.perf_counter()
            reports.append(verify_incident(store, big.id, incremental=True, now=clock.now()))
            warm_runs.append(time.perf_counter() - started)

        warm_runs: list[float] = []
        for _ in range(5):
            one_more()
        assert all(r.holds for r in reports[-5:]) and reports[-1].hashed == 1, reports[-1]
        warm = statistics.median(warm_runs)
        print(f"verify incrementally after one append: {warm * 1e3:.1f} ms "
              f"(baseline, cold: {cold * 1e3:.0f} ms)")
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
