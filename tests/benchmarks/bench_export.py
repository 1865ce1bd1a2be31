"""Post-incident report export at scale (issue 7): one incident with 5,000 timeline entries and
20,000 deliveries (a few names in Hebrew and Arabic, some notes with emoji), exported as
Markdown, HTML and PDF for executives, and as PDF (the longest: the whole timeline) for the
technical audience.

The database is a fresh migrated Store. The client, its stakeholders and the drill account go
through the app's services; the incident is opened, moved through its phases and given notes,
decisions and fact changes by IncidentService; one message of every template type is queued by
the composer (so the rendered subjects and bodies have their real sizes). The rest is
bulk-inserted with the rows the app writes: messages of --recipients deliveries each (mostly sent
by email, some failed or cancelled), a message_queued entry per message and the outbox's outcome
entries — one summary entry per message, state and batch when a batch has more than 20 outcomes
of a kind (app/sending/outbox.py SUMMARY_OVER), one entry per delivery otherwise — and notes and fact
changes until the timeline holds --entries entries.

Timed (median of --runs) for each audience: build_report (goal ≤ 0.5 s, issue 23), the chart
PNG, Markdown and HTML rendering; then the whole ui.reports.export.export() call that writes each
file. Each PDF twice in the same run (median of --pdf-runs): the engine of issue 23
(ui/reports/pdf.py) and the one before it (the HTML laid out by QTextDocument,
pdf_candidates/qtextdocument_engine.py), each a whole export; "printing" is the export minus
building the report and drawing its chart. bench_pdf_engines.py compares more engines.

First, on its own: render_chart() with --chart-marks random marks over 30 hours (5,000: the
case tests/ui/test_report_chart.py draws and counts the shapes of; it once timed it there, under
2 s, target under 1 s).

Run from the repo root:
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_export.py
        [--entries 5000] [--deliveries 20000] [--recipients 400] [--runs 3] [--pdf-runs 3]
        [--chart-marks 5000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))   # pdf_candidates: the old engine
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sqlalchemy import func, insert, select  # noqa: E402

from app.sending.accounts import AccountService  # noqa: E402
from app.stakeholders.clients import list_clients, save_client  # noqa: E402
from app.clock import FrozenClock  # noqa: E402
from app.messages.composer import Sender, queue_message  # noqa: E402
from app.domain.dto import ClientSettings, ContactPointData, StakeholderData  # noqa: E402
from app.domain.enums import Category, DeliveryState, Phase, Severity, TimelineKind  # noqa: E402
from app.domain.models import (  # noqa: E402
    ContactPoint, Delivery, Message, Stakeholder, TimelineEntry,
)
from app.events import EventBus  # noqa: E402
from app.incidents.lifecycle import IncidentService  # noqa: E402
from app.stakeholders.recipients import resolve_recipients  # noqa: E402
from app.sending.secrets import MemorySecretBackend, SecretStore  # noqa: E402
from app.stakeholders.service import StakeholderService  # noqa: E402
from app.storage import Store  # noqa: E402
from app.messages.library import TYPE_LABELS, effective_templates  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DETECTED = NOW - timedelta(hours=30)
ACTOR = "Bench Coordinator"
OUTBOX = "outbox"
SUMMARY_OVER = 20
BATCH = 100
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena"]
LAST = ["Okafor", "Reyes", "Natarajan", "Becker", "Chen", "Whitfield", "Liu", "Bell", "Walsh"]
# some people's names in other scripts, and some notes with emoji: what the PDF must print
WORLD = [("דנה לוי", "dana.levi"), ("سارة العلي", "sara.alali"), ("Zoë Ødegård", "zoe.odegard")]


# ---------------------------------------------------------------- building the database

def build(store: Store, clock: FrozenClock, n_entries: int, n_deliveries: int, recipients: int,
          rng: random.Random) -> tuple[int, dict[str, int]]:
    save_client(store, clock, ClientSettings(
        name="Bench Health", time_zone="America/Chicago", notification_sla_minutes=120,
        regimes=("hipaa",)))
    client = list_clients(store)[0]
    categories = list(Category)
    people = []
    for j in range(recipients):
        name = f"{FIRST[j % len(FIRST)]} {LAST[(j // 3) % len(LAST)]} {j}"
        slug = name.lower().replace(" ", ".")
        if j % 40 < len(WORLD):
            name, slug = f"{WORLD[j % 40][0]} {j}", f"{WORLD[j % 40][1]}.{j}"
        people.append(StakeholderData(
            client_id=client.id, name=name, category=categories[j % len(categories)].value,
            role=f"Role {j}", contacts=(ContactPointData("email", f"{slug}@example.com", 1),)))
    StakeholderService(store, clock, EventBus()).apply_batch(people, [])
    drill = AccountService(store, clock, SecretStore(MemorySecretBackend())) \
        .create_drill_if_missing()

    # the incident's life through the services
    clock.set(DETECTED + timedelta(minutes=2))
    incidents = IncidentService(store, clock, EventBus(), actor=ACTOR)
    incident = incidents.open(client_id=client.id, title="Claims platform outage (benchmark)",
                              severity=Severity.SEV3, detected_at=DETECTED)
    for minutes, phase in ((6, Phase.INVESTIGATING), (240, Phase.RESPONDING),
                           (1500, Phase.RESOLVED)):
        clock.set(DETECTED + timedelta(minutes=minutes))
        incidents.move_phase(incident.id, phase)
        if phase == Phase.INVESTIGATING:
            incidents.change_severity(incident.id, Severity.SEV2)
            incidents.update_facts(incident.id, replace(
                incidents.get(incident.id).facts, status="Claims cannot be submitted",
                impact="Providers cannot submit claims", affected_services=["Claims portal"]))
            incidents.add_decision(incident.id, "Fail over to the secondary region")

    # one real message of each type, rendered by the composer: the sizes the bulk rows copy
    clock.set(DETECTED + timedelta(minutes=10))
    templates = effective_templates(store)
    with store.session() as session:
        ids = list(session.scalars(select(Stakeholder.id).where(
            Stakeholder.client_id == client.id).order_by(Stakeholder.id).limit(20)))
    chosen = resolve_recipients(store, client.id, channels=["email"], stakeholder_ids=ids)
    samples: dict[tuple[str, str], dict[str, Any]] = {}
    for template_type in TYPE_LABELS:
        inputs = {i.name: "" for t in templates.values() if t.type == template_type
                  for i in t.inputs}
        queued = queue_message(store, clock, None, incident=incidents.get(incident.id),
                               client=client, template_type=template_type, templates=templates,
                               recipients=chosen, actor=ACTOR,
                               sender=Sender(name=ACTOR, organisation="Bench IT"), inputs=inputs)
        with store.session() as session:
            for d in session.scalars(select(Delivery).where(
                    Delivery.message_id == queued.message_id)):
                samples.setdefault((template_type, d.detail_level), {
                    "template_key": d.template_key, "template_version": d.template_version,
                    "subject": d.subject, "body_text": d.body_text, "body_html": d.body_html})
    stats = bulk(store, incident.id, client.id, n_entries, n_deliveries, recipients, samples,
                 drill.id, rng)
    return incident.id, stats


def bulk(store: Store, incident_id: int, client_id: int, n_entries: int, n_deliveries: int,
         recipients: int, samples: dict[tuple[str, str], dict[str, Any]], account_id: int,
         rng: random.Random) -> dict[str, int]:
    with store.session() as session:
        next_message = (session.scalar(select(func.max(Message.id))) or 0) + 1
        next_delivery = (session.scalar(select(func.max(Delivery.id))) or 0) + 1
        existing = session.scalar(select(func.count()).select_from(TimelineEntry)
                                  .where(TimelineEntry.incident_id == incident_id)) or 0
        audience = [(sid, name, str(level.value), address) for sid, name, level, address in
                    session.execute(
                        select(Stakeholder.id, Stakeholder.name, Stakeholder.detail_level,
                               ContactPoint.address)
                        .join(ContactPoint, ContactPoint.stakeholder_id == Stakeholder.id)
                        .where(Stakeholder.client_id == client_id).order_by(Stakeholder.id))]
    fallback = next(iter(samples.values()))
    n_messages = max(1, n_deliveries // recipients)
    msgs, deliveries, entries = [], [], []
    stats = {"sent": 0, "failed": 0, "cancelled": 0}

    def entry(at: datetime, kind: TimelineKind, summary: str, data: dict[str, Any],
              actor: str = ACTOR) -> None:
        entries.append({"incident_id": incident_id, "at": at, "kind": kind.value,
                        "actor": actor, "summary": summary, "data": data})

    span = timedelta(hours=26)
    for m in range(n_messages):
        template_type = "status_update" if m else "initial_acknowledgment"
        queued_at = DETECTED + timedelta(minutes=12) + span * (m / n_messages)
        mid = next_message
        next_message += 1
        chosen = audience[:recipients]
        keys = set()
        msgs.append({"id": mid, "incident_id": incident_id, "template_type": template_type,
                     "template_keys": [], "audience": {"categories": ["all"]},
                     "created_at": queued_at, "created_by": ACTOR, "is_drill": False})
        entry(queued_at, TimelineKind.MESSAGE_QUEUED,
              f"{TYPE_LABELS[template_type]} queued for {len(chosen)} recipients "
              f"({len(chosen)} by email)",
              {"message_id": mid, "template_type": template_type, "recipients": len(chosen),
               "by_channel": {"email": len(chosen)}, "unreachable": []})
        for b in range(0, len(chosen), BATCH):
            sent_at = queued_at + timedelta(seconds=30 + 20 * (b // BATCH))
            outcomes: dict[DeliveryState, list[tuple[int, str]]] = {}
            for sid, name, level, address in chosen[b:b + BATCH]:
                did = next_delivery
                next_delivery += 1
                roll = rng.random()
                state = (DeliveryState.FAILED if roll < 0.03 else
                         DeliveryState.CANCELLED if roll < 0.04 else DeliveryState.SENT)
                stats[state.value] += 1
                sample = samples.get((template_type, level), fallback)
                keys.add(sample["template_key"])
                deliveries.append({
                    "id": did, "message_id": mid, "stakeholder_id": sid, "recipient_name": name,
                    "channel": "email", "address": address, "detail_level": level,
                    "template_key": sample["template_key"],
                    "template_version": sample["template_version"],
                    "subject": sample["subject"], "body_text": sample["body_text"],
                    "body_html": sample["body_html"], "email_message_id": f"<{did}@bench>",
                    "idempotency_key": f"bench-{did}", "state": state,
                    "attempts": 0 if state == DeliveryState.CANCELLED else 1,
                    "next_attempt_at": None,
                    "last_error": "550 5.1.1 no such user"
                    if state == DeliveryState.FAILED else "",
                    "provider_id": "", "created_at": queued_at, "updated_at": sent_at,
                    "account_id": None if state == DeliveryState.CANCELLED else account_id,
                    "sent_at": sent_at if state == DeliveryState.SENT else None,
                    "provider_status": ""})
                outcomes.setdefault(state, []).append((did, name))
            for state, items in outcomes.items():  # as app/sending/outbox.py records a batch
                action = "cancel" if state == DeliveryState.CANCELLED else "send"
                kind = (TimelineKind.DECISION if action == "cancel" else
                        TimelineKind.DELIVERY_SENT if state == DeliveryState.SENT
                        else TimelineKind.DELIVERY_FAILED)
                verb = {DeliveryState.SENT: "Sent to", DeliveryState.FAILED:
                        "Not delivered to", DeliveryState.CANCELLED: "Cancelled delivery to"}
                base = {"message_id": mid, "channel": "email", "state": state.value,
                        "action": action}
                actor = ACTOR if action == "cancel" else OUTBOX
                if len(items) > SUMMARY_OVER:
                    entry(sent_at, kind, f"{verb[state]} {len(items)} recipients by email",
                          {**base, "count": len(items), "truncated": False,
                           "delivery_ids": [d for d, _n in items],
                           "deliveries": [{"id": d, "recipient": n} for d, n in items]},
                          actor)
                else:
                    for did, name in items:
                        error = ": 550 5.1.1 no such user" if state == DeliveryState.FAILED \
                            else ""
                        entry(sent_at, kind, f"{verb[state]} {name} by email{error}",
                              {**base, "delivery_id": did, "recipient": name}, actor)
        msgs[-1]["template_keys"] = sorted(keys)
    # the coordinator's working notes and fact changes fill the rest of the timeline
    fill = max(0, n_entries - existing - len(entries))
    for k in range(fill):
        at = DETECTED + timedelta(minutes=8) + span * (k / max(fill, 1))
        if k % 4 == 3:
            entry(at, TimelineKind.FACTS_CHANGED, f"Current status: step {k - 1} → step {k}",
                  {"field": "status", "old": f"step {k - 1}", "new": f"step {k}"})
        else:
            mood = " 🔥 bridge call opened" if k % 25 == 0 else \
                " ✅ verified by 👩‍💻 on call" if k % 25 == 12 else ""
            entry(at, TimelineKind.NOTE, f"Working note {k}: checked replica lag on node "
                  f"{k % 17}, queue depth {rng.randint(10, 900)}, no change to the plan{mood}.",
                  {})
    entries.sort(key=lambda e: e["at"])
    with store.session() as session, session.begin():
        session.execute(insert(Message), msgs)
        for start in range(0, len(deliveries), 5000):
            session.execute(insert(Delivery), deliveries[start:start + 5000])
        for start in range(0, len(entries), 5000):
            session.execute(insert(TimelineEntry), entries[start:start + 5000])
    with store.session() as session:
        stats["timeline entries"] = session.scalar(
            select(func.count()).select_from(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)) or 0
        stats["deliveries"] = session.scalar(
            select(func.count()).select_from(Delivery).join(Message)
            .where(Message.incident_id == incident_id)) or 0
        stats["messages"] = session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.incident_id == incident_id)) or 0
    return stats


# ---------------------------------------------------------------- timing

def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), result


def timed_chart(n: int, runs: int, seed: int) -> float:
    """render_chart() of n random marks (mostly messages, some failed, due, escalations and
    deadlines) over a 30-hour incident, fonts loaded before the first run."""
    from app.reports.model import ChartData, ChartMark, ChartPhase
    from ui.reports.chart import render_chart

    rng = random.Random(seed)

    def at(minutes: float) -> datetime:
        return NOW + timedelta(minutes=minutes)

    kinds = ["message"] * 90 + ["failed"] * 5 + ["due"] * 3 + ["escalation", "deadline"]
    marks = tuple(ChartMark(at(rng.uniform(0, 30 * 60)), f"mark {i}", rng.choice(kinds))
                  for i in range(n))
    phases = (ChartPhase("detected", at(0), at(3)), ChartPhase("investigating", at(3), at(240)),
              ChartPhase("responding", at(240), at(1200)),
              ChartPhase("resolved", at(1200), at(1680)),
              ChartPhase("closed", at(1680), at(30 * 60)))
    chart = ChartData("Big incident", at(0), at(30 * 60), "Europe/Berlin", phases, marks)
    render_chart(ChartData("Warm-up", at(0), at(1), "Europe/Berlin"))
    return timed(lambda: render_chart(chart), runs)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=5000, help="timeline entries")
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--recipients", type=int, default=400, help="deliveries per message")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--pdf-runs", type=int, default=3,
                        help="runs of each PDF export, new and old engine (median)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chart-marks", type=int, default=5000,
                        help="marks of the stand-alone chart timing (0: skip it)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the database and write the exports in this folder")
    args = parser.parse_args()

    from app.reports import builder as reports
    from ui.reports.chart import chart_png, ensure_gui_application, preferred_height
    from ui.reports.export import CHART_PIXEL_RATIO, CHART_WIDTH, export

    ensure_gui_application()
    if args.chart_marks:
        chart_s = timed_chart(args.chart_marks, args.runs, args.seed)
        print(f"render_chart with {args.chart_marks:,} random marks over 30 hours: median "
              f"{chart_s * 1000:.0f} ms of {args.runs} (target under 1 s)")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench-export.db"
        if path.exists():
            raise SystemExit(f"{path} exists; choose an empty --keep folder")
        clock = FrozenClock(NOW)
        store = Store.open(path, backup_dir=folder / "backups")
        try:
            t0 = time.perf_counter()
            incident_id, stats = build(store, clock, args.entries, args.deliveries,
                                       args.recipients, rng)
            with store.engine.connect() as conn:
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            clock.set(NOW)
            print(f"incident #{incident_id}: {stats['timeline entries']:,} timeline entries, "
                  f"{stats['messages']} messages, {stats['deliveries']:,} deliveries (sent "
                  f"{stats['sent']:,}, failed {stats['failed']}, cancelled "
                  f"{stats['cancelled']}); built in {time.perf_counter() - t0:.1f} s")

            parts: dict[str, float] = {}
            for audience in ("executive", "technical"):
                build_s, report = timed(lambda: reports.build_report(
                    store, clock, incident_id, audience), args.runs)
                chart = reports.chart_data(report)
                height = preferred_height(chart, CHART_WIDTH)
                chart_s, png = timed(lambda: chart_png(chart, CHART_WIDTH, height,
                                                       CHART_PIXEL_RATIO), args.runs)
                md_s, md = timed(lambda: reports.render_markdown(report, "x.chart.png"),
                                 args.runs)
                html_s, html = timed(lambda: reports.render_html(report, chart_png=png),
                                     args.runs)
                parts[audience] = build_s + chart_s
                print(f"{audience}: build_report {build_s * 1000:.0f} ms [goal ≤ 500 ms]; chart "
                      f"({len(chart.marks)} marks, {len(png) / 1000:.0f} kB PNG) "
                      f"{chart_s * 1000:.0f} ms; render Markdown {md_s * 1000:.0f} ms "
                      f"({len(md) / 1000:,.0f} kB), HTML {html_s * 1000:.0f} ms "
                      f"({len(html) / 1000:,.0f} kB)")
                appendix = md[md.find("## Appendix"):] if "## Appendix" in md else ""
                variants = sum(len(m.variants) for m in report.appendix)
                print(f"{audience}: the message appendix — {len(report.appendix)} messages, "
                      f"{variants} variants, {len(appendix) / 1000:,.0f} kB of Markdown")

            jobs = [("executive", "md"), ("executive", "html")]
            for audience, fmt in jobs:
                out = folder / f"report-{audience}.{fmt}"
                total_s, written = timed(lambda: export(store, clock, incident_id, audience,
                                                        fmt, out), args.runs)
                print(f"export {audience:<9} {fmt:<4}: median {total_s:.2f} s of {args.runs} "
                      f"({written.path.stat().st_size / 1000:,.0f} kB)")
            # the PDF: the engine of issue 23 (ui/reports/pdf.py, the report's blocks drawn
            # with QPainter) beside the one before it (the HTML laid out by QTextDocument),
            # each the whole export: build the report, draw the chart, print, write the file
            from pdf_candidates.qtextdocument_engine import html_to_pdf
            from ui.reports.export import atomic_write

            def old_export(audience: str, out: Path) -> Path:
                report = reports.build_report(store, clock, incident_id, audience)
                chart = reports.chart_data(report)
                png = chart_png(chart, CHART_WIDTH, preferred_height(chart, CHART_WIDTH),
                                CHART_PIXEL_RATIO)
                label = audience.capitalize()
                atomic_write(out, html_to_pdf(reports.render_html(report, chart_png=png),
                                              title=f"{report.title} — post-incident report",
                                              footer=f"{report.title} · {label} version"))
                return out

            for audience in ("executive", "technical"):
                out = folder / f"report-{audience}.pdf"
                new_s, written = timed(lambda: export(store, clock, incident_id, audience,
                                                      "pdf", out), args.pdf_runs)
                new_pages = _pdf_pages(written.path)
                old_out = folder / f"report-{audience}-old-engine.pdf"
                old_s, _old = timed(lambda: old_export(audience, old_out), args.pdf_runs)
                old_pages = _pdf_pages(old_out)
                goal = 3 if audience == "technical" else 1
                print(f"export {audience:<9} pdf : median {new_s:.2f} s of {args.pdf_runs} "
                      f"({new_pages or '?'} pages, {out.stat().st_size / 1000:,.0f} kB; "
                      f"printing about {new_s - parts[audience]:.2f} s)   [goal ≤ {goal} s]  "
                      f"— old engine (QTextDocument): median {old_s:.2f} s ({old_pages or '?'} "
                      f"pages, {old_out.stat().st_size / 1000:,.0f} kB; printing about "
                      f"{old_s - parts[audience]:.2f} s)")
        finally:
            store.dispose()
    return 0


def _pdf_pages(path: Path) -> int | None:
    import re
    import shutil
    import subprocess

    if shutil.which("pdfinfo") is None:
        return None
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    found = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    return int(found[1]) if found else None


if __name__ == "__main__":
    sys.exit(main())
