"""The communication record over a hand-built incident (no database): first communication,
cadence gaps phase by phase with the interval in force (a severity raise shortens it), a failed
message that does not end a silence, max-silence breaches (and one line per stakeholder),
escalations and decisions (the outbox's delivery actions are not decisions), regulatory
deadlines met / late / open, failed and unknown deliveries — and the chart and text renderers
built on it: short table times, a <thead> per table, the executive version's capped lists, the
technical version's deliveries grouped per message."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest

from app.clocks.cadence import StakeholderInfo, load_default_policies
from app.domain.dto import Facts, TimelineEntryDTO
from app.domain.enums import Category, Phase, Severity, TimingNeed
from app.clocks.regulatory import ClockInputs, Satisfaction, evaluate_clocks, load_rules
from app.reports.model import Audience, PostIncident
from app.reports.record import (
    DeliveryInfo, MessageInfo, RecordInputs, compute_record, describe_audience,
)
from app.reports.builder import (
    STYLE, Report, TimelineLine, _executive_record, chart_data, feedback_summary, render_html,
    render_markdown,
)
from app.reports.render import Times, fmt_time

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
ADA, BEN, CORA, DAN = 1, 2, 3, 4


def at(minutes: float) -> datetime:
    return T0 + minutes * MIN


_ids = count(1)


def entry(minutes: float, kind: str, summary: str = "", actor: str = "Casey Coordinator",
          **data) -> TimelineEntryDTO:
    return TimelineEntryDTO(next(_ids), 7, at(minutes), kind, actor, summary, data)


TIMELINE = [
    entry(0, "created", "Incident opened", severity="SEV3"),
    entry(25, "phase_changed", "Phase: Detected → Investigating", old="detected",
          new="investigating", reopen=False),
    entry(31, "clock_started", "Decision: awareness established", trigger="awareness",
          effective_at=at(30).isoformat(), note="legal says aware"),
    entry(40, "decision", "Fail over to the standby relay"),
    entry(45, "note", "Internal: vendor blamed the firmware"),
    entry(130, "severity_changed", "Severity raised: SEV3 → SEV1", old="SEV3", new="SEV1",
          increase=True),
    entry(131, "escalation_proposed", "Escalation proposed", actor="Clarion (escalation rules)",
          condition_key="sev_increase:SEV1", rule_name="Severity increase",
          reason="Severity raised to SEV1", categories=["management", "executives"]),
    entry(132, "escalation_proposed", "Escalation proposed", actor="Clarion (escalation rules)",
          condition_key="external", rule_name="External impact", reason="Customers affected",
          categories=["customers"]),
    entry(140, "escalation_decided", "Escalation confirmed", condition_key="sev_increase:SEV1",
          decision="confirmed", message_id=4, reason=""),
    entry(142, "escalation_decided", "Escalation dismissed", condition_key="external",
          decision="dismissed", message_id=None, reason="No customer-visible effect"),
    entry(180, "phase_changed", "Phase: Investigating → Responding", old="investigating",
          new="responding", reopen=False),
    entry(240, "phase_changed", "Phase: Responding → Resolved", old="responding",
          new="resolved", reopen=False),
]

MESSAGES = [
    MessageInfo(1, at(20), "initial_acknowledgment",
                {"timing_needs": ["immediate"], "channels": "email"}, "Casey Coordinator"),
    MessageInfo(2, at(60), "status_update", {}, "Casey Coordinator"),
    MessageInfo(3, at(120), "status_update", {}, "Casey Coordinator"),
    MessageInfo(4, at(170), "escalation_notice", {"categories": ["management"]}, "Casey"),
    MessageInfo(5, at(200), "status_update", {}, "Casey Coordinator"),
    MessageInfo(6, at(220), "status_update", {}, "Casey Coordinator"),
    MessageInfo(7, at(250), "resolution_notice", {}, "Casey Coordinator"),
]
_did = count(1)


def delivery(message: int, who: int, state: str, minutes: float, sent: float | None = None,
             error: str = "", channel: str = "email") -> DeliveryInfo:
    name = {ADA: "Ada Ops", BEN: "Ben User", CORA: "Cora Customer", DAN: "Dan Manager"}[who]
    return DeliveryInfo(next(_did), message, who, name, channel,
                        f"{name.split()[0].lower()}@example.com", state, at(minutes),
                        at(sent) if sent is not None else None, 1 if state != "queued" else 0,
                        error)


DELIVERIES = [
    delivery(1, ADA, "sent", 20, sent=22), delivery(1, BEN, "sent", 20, sent=23),
    delivery(1, CORA, "sent", 20, sent=22, channel="sms"),
    delivery(2, ADA, "sent", 60, sent=61),
    delivery(3, ADA, "sent", 120, sent=121),
    delivery(4, ADA, "unknown", 170, error="connection lost mid-send"),
    delivery(5, ADA, "failed", 200, error="550 5.1.1 no such user"),
    delivery(5, BEN, "failed", 200, error="550 5.1.1 no such user"),
    delivery(6, ADA, "sent", 220, sent=221),
    delivery(7, ADA, "sent", 250, sent=251), delivery(7, BEN, "sent", 250, sent=251),
]

STAKEHOLDERS = (
    StakeholderInfo(ADA, "Ada Ops", Category.IT_STAFF_MSP, TimingNeed.IMMEDIATE, 55),
    StakeholderInfo(BEN, "Ben User", Category.AFFECTED_USERS, TimingNeed.IMMEDIATE, 60),
    StakeholderInfo(CORA, "Cora Customer", Category.CUSTOMERS, TimingNeed.PER_CONTRACT, None),
    StakeholderInfo(DAN, "Dan Manager", Category.MANAGEMENT, TimingNeed.RAPID, 30),
)
NOW = at(30 * 60)  # the next day, 15:00 UTC


def regulatory(now: datetime = NOW):
    return evaluate_clocks(load_rules(), ClockInputs(
        regimes=frozenset({"gdpr", "nis2"}), regulatory_flag=True, detected_at=T0,
        triggers={"awareness": at(30)},
        satisfied={"gdpr_art33": Satisfaction(at(300), 6),
                   "contract_sla": Satisfaction(at(120), 3)},
        affected_individuals=None, max_state_residents=None, sla_minutes=60,
        time_zone="America/Los_Angeles"), now)


def inputs(**changes) -> RecordInputs:
    values = dict(
        incident_id=7, title="Mail relay down", detected_at=T0, now=NOW, severity=Severity.SEV1,
        phase=Phase.RESOLVED, policies=load_default_policies(), timeline=TIMELINE,
        messages=MESSAGES, deliveries=DELIVERIES, stakeholders=STAKEHOLDERS,
        categories={s.id: s.category for s in STAKEHOLDERS}, regulatory=regulatory(),
        time_zone="America/Los_Angeles")
    values.update(changes)
    return RecordInputs(**values)


@pytest.fixture(scope="module")
def record():
    return compute_record(inputs())


# ---------------------------------------------------------------- the record

def test_first_communication_is_measured_from_detection_against_the_line(record):
    first = record.first
    assert first.queued_at == at(20) and first.to_queued == 20 * MIN
    assert first.sent_at == at(22) and first.to_sent == 22 * MIN
    assert first.within_target is False

    quick = compute_record(inputs(deliveries=[delivery(1, ADA, "sent", 20, sent=21)],
                                  messages=[MessageInfo(1, at(5), "initial_acknowledgment")]))
    assert quick.first.to_sent == 21 * MIN and quick.first.within_target is False
    on_time = compute_record(inputs(
        messages=[MessageInfo(1, at(5), "initial_acknowledgment")],
        deliveries=[DeliveryInfo(1, 1, ADA, "Ada Ops", "email", "a@example.com", "sent",
                                 at(5), at(9))]))
    assert on_time.first.to_sent == 9 * MIN and on_time.first.within_target is True


def test_the_record_ends_at_resolution_and_knows_the_phases(record):
    assert record.resolved and record.end == at(240)
    assert [(s.phase, s.start, s.end) for s in record.phases] == [
        (Phase.DETECTED, T0, at(25)), (Phase.INVESTIGATING, at(25), at(180)),
        (Phase.RESPONDING, at(180), at(240)), (Phase.RESOLVED, at(240), None)]
    assert record.resolution_notice_at == at(250)
    assert record.resolution_notice_due == at(240 + 30)


def test_gaps_per_phase_use_the_interval_in_force(record):
    gaps = [(g.phase, g.severity, g.start, g.end, g.allowed, g.due_at) for g in record.gaps]
    assert gaps == [
        # detected: the acknowledgment (15 min) came at 20 min
        (Phase.DETECTED, Severity.SEV3, T0, at(20), 15 * MIN, at(15)),
        # investigating at SEV3: every 45 min; 60 → 120 is a 60-minute silence
        (Phase.INVESTIGATING, Severity.SEV3, at(60), at(120), 45 * MIN, at(105)),
        # raised to SEV1 at 130: every 30 min from the last update at 120, due at 150
        (Phase.INVESTIGATING, Severity.SEV1, at(120), at(170), 30 * MIN, at(150)),
        # responding at SEV1 (30 min) from 180; the failed message at 200 did not count
        (Phase.RESPONDING, Severity.SEV1, at(180), at(220), 30 * MIN, at(210)),
    ]
    assert record.gaps[1].length == 60 * MIN
    assert not any(g.ongoing for g in record.gaps)
    # 25 → 60 (35 min) at SEV3 was within 45: no gap there
    assert not any(g.start == at(25) for g in record.gaps)


def test_an_unresolved_incident_is_judged_up_to_now_and_says_it_is_still_silent():
    timeline = TIMELINE[:5]  # still investigating at SEV3 since 25
    rec = compute_record(inputs(timeline=timeline, phase=Phase.INVESTIGATING,
                                severity=Severity.SEV3, now=at(200),
                                messages=MESSAGES[:2], deliveries=DELIVERIES[:4]))
    assert not rec.resolved and rec.end == at(200)
    last = rec.gaps[-1]
    assert (last.phase, last.start, last.end, last.due_at, last.ongoing) == (
        Phase.INVESTIGATING, at(60), at(200), at(105), True)
    ben = next(s for s in rec.silences if s.name == "Ben User")
    assert (ben.start, ben.end, ben.ongoing) == (at(20), at(200), True)
    assert rec.resolution_notice_due is None


def test_a_reopened_incident_owed_a_resolution_notice_in_its_first_resolved_period():
    timeline = [
        entry(0, "created", severity="SEV3"),
        entry(25, "phase_changed", old="detected", new="investigating"),
        entry(100, "phase_changed", old="investigating", new="resolved"),
        entry(150, "phase_changed", old="resolved", new="investigating", reopen=True),
        entry(200, "phase_changed", old="investigating", new="resolved"),
    ]
    times = {1: 20, 2: 60, 3: 95, 4: 170, 5: 210}
    messages = [MessageInfo(i, at(t), "resolution_notice" if i == 5 else "status_update")
                for i, t in times.items()]
    deliveries = [delivery(i, ADA, "sent", t, sent=t) for i, t in times.items()]
    rec = compute_record(inputs(timeline=timeline, messages=messages, deliveries=deliveries,
                                severity=Severity.SEV3, regulatory=()))
    assert rec.end == at(200)  # the latest resolution
    assert [(s.phase, s.reopen) for s in rec.phases] == [
        (Phase.DETECTED, False), (Phase.INVESTIGATING, False), (Phase.RESOLVED, False),
        (Phase.INVESTIGATING, True), (Phase.RESOLVED, False)]
    assert [(g.phase, g.start, g.end, g.allowed, g.due_at) for g in rec.gaps] == [
        (Phase.DETECTED, T0, at(20), 15 * MIN, at(15)),
        (Phase.RESOLVED, at(100), at(150), 30 * MIN, at(130))]
    assert rec.resolution_notice_at == at(210)


def test_max_silence_breaches_per_stakeholder(record):
    got = [(s.name, s.start, s.end, s.allowed) for s in record.silences]
    assert got == [
        # Ben (60 min) heard nothing between the acknowledgment and resolution: the failed
        # message at 200 does not count
        ("Ben User", at(20), at(240), 60 * MIN),
        # Ada (55 min): 60 → 120; the 'unknown' delivery at 170 still counts as reaching her
        ("Ada Ops", at(60), at(120), 55 * MIN),
    ]
    # Cora has no max silence; Dan was never reached, so his timer never started
    assert record.silences[0].length == 220 * MIN


def test_messages_list_recipients_states_and_counts(record):
    by_id = {m.id: m for m in record.messages}
    ack = by_id[1]
    assert [(r.name, r.channel, r.state) for r in ack.recipients] == [
        ("Ada Ops", "email", "sent"), ("Ben User", "email", "sent"),
        ("Cora Customer", "sms", "sent")]
    assert (ack.total, ack.sent, ack.failed, ack.unknown) == (3, 3, 0, 0)
    assert ack.customer_facing == 2  # Ben (affected users) and Cora (customers)
    assert ack.first_sent_at == at(22)
    assert ack.audience == "timing need immediate (email only)"
    assert ack.type_label == "Initial acknowledgment"
    assert by_id[5].all_failed and not by_id[4].all_failed
    assert (by_id[4].unknown, by_id[5].failed) == (1, 2)
    assert by_id[2].audience == "IT staff / MSP (1)"  # no selectors stored: who it reached
    assert (record.deliveries, record.sent, record.failed, record.unknown) == (11, 8, 2, 1)


def test_failed_and_unknown_deliveries_name_who_channel_and_error(record):
    got = [(f.message_id, f.recipient_name, f.channel, f.state, f.last_error)
           for f in record.failures]
    assert got == [(4, "Ada Ops", "email", "unknown", "connection lost mid-send"),
                   (5, "Ada Ops", "email", "failed", "550 5.1.1 no such user"),
                   (5, "Ben User", "email", "failed", "550 5.1.1 no such user")]


def test_escalations_and_decisions(record):
    esc = {e.condition_key: e for e in record.escalations}
    assert esc["sev_increase:SEV1"].outcome == "confirmed"
    assert esc["sev_increase:SEV1"].message_id == 4
    assert esc["sev_increase:SEV1"].categories == ("Management", "Executives")
    assert esc["external"].outcome == "dismissed"
    assert esc["external"].decision_reason == "No customer-visible effect"
    assert esc["external"].decided_at == at(142)
    assert [(d.kind, d.text) for d in record.decisions] == [
        ("clock_started", "Awareness established — legal says aware"),
        ("decision", "Fail over to the standby relay")]
    assert record.decisions[0].effective_at == at(30)
    pending = compute_record(inputs(timeline=TIMELINE[:8])).escalations
    assert {e.outcome for e in pending} == {"pending"}


def test_regulatory_deadlines_met_late_and_open(record):
    lines = {r.rule_id: r for r in record.regulatory}
    assert lines["gdpr_art33"].outcome == "met"
    assert lines["gdpr_art33"].satisfied_at == at(300)
    assert lines["gdpr_art33"].due_at == at(30) + timedelta(hours=72)
    assert lines["contract_sla"].outcome == "late" and lines["contract_sla"].due_at == at(60)
    early = lines["nis2_early_warning"]
    assert (early.outcome, early.overdue, early.due_at) == ("open", True, at(30 + 24 * 60))
    assert (lines["nis2_notification"].outcome, lines["nis2_notification"].overdue) == (
        "open", False)
    assert lines["nis2_final"].started_at is None and lines["nis2_final"].outcome == "open"
    assert "gdpr_art34" in lines  # no fixed deadline, still listed
    assert all(r.regime for r in record.regulatory)


def test_describe_audience_never_names_people():
    text = describe_audience({"categories": ["customers"], "group_ids": [3],
                              "stakeholder_ids": [1, 2], "channels": "both"}, {3: "Night shift"},
                             [])
    assert text == "Customers; groups Night shift; 2 chosen people (email and SMS)"


# ---------------------------------------------------------------- chart and text (no database)

def full_report(record, audience: Audience = Audience.TECHNICAL, timeline=()) -> Report:
    """The technical version as app.reports.builder builds it, or the executive one (its record without
    recipients, addresses or failures, and no timeline)."""
    post = PostIncident(incident_id=7, impact_summary="Mail delayed for 4 hours",
                        root_cause="Relay disk full", root_cause_under_investigation=False,
                        lessons_learned="Watch disk usage")
    technical = audience == Audience.TECHNICAL
    lines = tuple(TimelineLine(e.at, e.kind, e.kind.replace("_", " ").capitalize(), e.actor,
                               e.summary) for e in timeline) if technical else ()
    return Report(audience=audience, incident_id=7, title="Mail relay down",
                  client_name="Northwind", time_zone="America/Los_Angeles",
                  severity=Severity.SEV1, phase=Phase.RESOLVED, is_drill=False, detected_at=T0,
                  resolved_at=record.end, generated_at=NOW,
                  facts=Facts(status="Mail flows again", affected_services=("Mail",)),
                  post=post, record=record if technical else _executive_record(record),
                  feedback=feedback_summary(post), timeline=lines)


def section(md: str, heading: str) -> str:
    """The Markdown from `heading` up to the next heading."""
    start = md.index(heading + "\n")
    following = re.search(r"^#{1,3} ", md[start + len(heading):], re.MULTILINE)
    return md[start:start + len(heading) + following.start()] if following else md[start:]


def test_chart_marks_messages_failures_dues_deadlines_and_escalations(record):
    chart = chart_data(full_report(record))
    assert (chart.start, chart.end, chart.time_zone) == (T0, at(250), "America/Los_Angeles")
    assert [(p.phase, p.start, p.end) for p in chart.phases] == [
        ("detected", T0, at(25)), ("investigating", at(25), at(180)),
        ("responding", at(180), at(240)), ("resolved", at(240), at(250))]
    kinds = [(m.at, m.kind) for m in chart.marks]
    assert (at(200), "failed") in kinds and (at(220), "message") in kinds
    assert [m.at for m in chart.marks if m.kind == "due"] == [at(15), at(105), at(150), at(210)]
    assert [m.at for m in chart.marks if m.kind == "escalation"] == [at(131), at(132)]
    # deadlines: met on time → deadline_met; met late or open → deadline; those beyond the
    # chart's end are kept for its edge, every other mark lies within the span
    deadlines = {(m.at, m.kind, m.label) for m in chart.marks if m.kind.startswith("deadline")}
    assert (at(60), "deadline", "Contractual notification SLA") in deadlines
    assert (at(30) + timedelta(hours=72), "deadline_met",
            "GDPR Art. 33 — notify the supervisory authority") in deadlines
    assert (at(30 + 24 * 60), "deadline", "NIS2 Art. 23 — early warning") in deadlines
    assert all(chart.start <= m.at <= chart.end for m in chart.marks
               if not m.kind.startswith("deadline"))


def test_markdown_and_html_render_the_record(record):
    report = full_report(record)
    md = render_markdown(report, chart_file="chart.png")
    for heading in ("# Post-incident report: Mail relay down", "## Communication record",
                    "### Update cadence", "### Max silence per stakeholder",
                    "### Regulatory and contractual deadlines", "## Lessons learned"):
        assert heading in md
    assert "| Investigating | SEV1 | 03:00 | 03:50 | 50 min | 30 min |" in md
    assert "![" in md and "](chart.png)" in md
    assert "connection lost mid-send" in md and "ada@example.com" in md
    assert fmt_time(T0, "America/Los_Angeles") == "2026-03-02 01:00 PST"

    page = render_html(report, chart_png=b"\x89PNG fake")
    root = ET.fromstring(page.split("\n", 1)[1])
    assert page.startswith("<!DOCTYPE html>")
    assert root.find("body/p/img").get("src").startswith("data:image/png;base64,")
    assert "<script" not in page and "http" not in page


def test_executive_report_figures_without_recipients_or_addresses(record):
    report = full_report(record, Audience.EXECUTIVE)
    md = render_markdown(report)
    assert "2 failed, 1 unknown." in md
    assert "@example.com" not in md and "connection lost" not in md
    assert "Fail over to the standby relay" in md  # decisions stay for executives
    assert "### Deliveries by message" not in md and "### Recipients" not in md


# ---------------------------------------------------------------- laid out for A4 at 8.5 pt

def test_table_times_are_short_and_the_zone_is_stated_once(record):
    t = Times("America/Los_Angeles", T0)  # detected Mon 2 Mar 2026, 01:00 PST
    assert t.short(at(120)) == "03:00"                                   # the detection day
    assert t.short(NOW) == "3 Mar 07:00"                                 # another day
    assert t.short(datetime(2027, 1, 5, 17, 0, tzinfo=timezone.utc)) == "5 Jan 2027 09:00"
    # daylight saving time began on 8 March: the abbreviation says so
    assert t.short(datetime(2026, 3, 9, 17, 0, tzinfo=timezone.utc)) == "9 Mar 10:00 PDT"
    assert t.short(None) == "—"
    assert t.range(at(2), at(4)) == "01:02–01:04" and t.range(at(2), at(2)) == "01:02"
    assert t.range(at(2), NOW) == "01:02–3 Mar 07:00"

    md = render_markdown(full_report(record))
    assert "Times are in America/Los\\_Angeles (PST)" not in md  # an underscore inside a word
    assert "Times are in America/Los_Angeles (PST); in tables a time without a date is on " \
        "Mon 2 Mar 2026, the day of detection." in md
    assert "**Detected:** 2026-03-02 01:00 PST" in md  # the header keeps full times
    table_rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert table_rows and not [row for row in table_rows if " PST" in row or "2026-03" in row]


def test_messages_table_has_five_columns_with_the_figures_in_one_cell(record):
    md = render_markdown(full_report(record, Audience.EXECUTIVE))
    messages = section(md, "### Messages")
    assert "| Queued | Message | Audience | Deliveries | First sent |" in messages
    assert "| 01:20 | Initial acknowledgment | timing need immediate (email only) | " \
        "3 sent · 0 failed | 01:22 |" in messages
    assert "| 0 sent · 2 failed |" in messages            # message 5
    assert "| 0 sent · 0 failed · 1 unknown |" in messages  # message 4
    # message 3's audience is message 2's: said once
    assert "| 03:00 | Status update | as above | 1 sent · 0 failed | 03:01 |" in messages


def test_every_table_has_its_header_row_in_thead_and_headings_get_px_margins(record):
    for audience in (Audience.TECHNICAL, Audience.EXECUTIVE):
        page = render_html(full_report(record, audience, TIMELINE))
        root = ET.fromstring(page.split("\n", 1)[1])
        tables = root.findall(".//table")
        assert len(tables) >= 6
        for table in tables:
            head, body = table.find("thead"), table.find("tbody")
            assert head is not None and body is not None
            assert [tr.find("th") is not None for tr in head.findall("tr")] == [True]
            assert body.findall("tr") and not body.findall("tr/th")
    # QTextDocument honours margins in px only (a margin in pt dropped the heading's own)
    margins = re.findall(r"margin[-a-z]*:\s*[\d.]+([a-z]*)", STYLE)
    assert margins and set(margins) == {"px"}
    assert re.search(r"h2 \{[^}]*margin-top: (\d+)px", STYLE)
    assert re.search(r"h3 \{[^}]*margin-top: (\d+)px", STYLE)


def test_an_empty_chart_is_left_out_of_the_html(record):
    report = full_report(record)
    assert "<img" not in render_html(report, chart_png=b"")
    assert "<img" not in render_html(report)
    assert 'src="data:image/png;base64,' in render_html(report, chart_png=b"\x89PNG fake")
    assert "](chart.png)" not in render_markdown(report, chart_file="")


def test_delivery_actions_of_the_outbox_are_not_decisions(record):
    timeline = TIMELINE + [
        entry(205, "decision", "Cancelled delivery to Ben User by email", message_id=5,
              channel="email", state="cancelled", action="cancel", delivery_id=8,
              recipient="Ben User"),
        entry(206, "decision", "Queued again for Ada Ops by email (retry)", message_id=5,
              channel="email", state="queued", action="retry", delivery_id=7,
              recipient="Ada Ops"),
        entry(207, "decision", "Resending to Ada Ops by email (the coordinator decided)",
              message_id=4, channel="email", state="queued", action="resend", delivery_id=6,
              recipient="Ada Ops"),
        entry(208, "decision", "Stop the weekly report until the relay is stable")]
    rec = compute_record(inputs(timeline=timeline))
    assert [d.text for d in rec.decisions] == [
        "Awareness established — legal says aware", "Fail over to the standby relay",
        "Stop the weekly report until the relay is stable"]
    md = render_markdown(full_report(rec, Audience.TECHNICAL, timeline))
    decisions = section(md, "### Decisions")
    assert "Stop the weekly report" in decisions and "Cancelled delivery" not in decisions
    # the timeline, the record, still has them, with who did it in the same cell
    assert "| 04:25 | Decision | Cancelled delivery to Ben User by email — Casey Coordinator |" \
        in section(md, "## Timeline")
    assert "| Time | Event | What — by whom |" in md


def test_cancelled_deliveries_are_counted():
    deliveries = DELIVERIES + [delivery(6, BEN, "cancelled", 220), delivery(6, CORA, "queued", 220)]
    rec = compute_record(inputs(deliveries=deliveries))
    assert (rec.cancelled, rec.pending) == (1, 1)
    md = render_markdown(full_report(rec, Audience.EXECUTIVE))
    assert "2 failed, 1 unknown. 1 cancelled before sending." in md
    assert "| 1 sent · 0 failed · 1 pending · 1 cancelled |" in md


def silence_people(n: int):
    """n people reached at 20 and 200 min, Person 00 also at 100; max silence 30 + i min."""
    people = tuple(StakeholderInfo(100 + i, f"Person {i:02d}", Category.IT_STAFF_MSP,
                                   TimingNeed.IMMEDIATE, 30 + i) for i in range(n))
    messages = [MessageInfo(1, at(20), "status_update"), MessageInfo(2, at(100), "status_update"),
                MessageInfo(3, at(200), "status_update")]
    deliveries = [DeliveryInfo(1000 * m + p.id, m, p.id, p.name, "email", f"p{p.id}@example.com",
                               "sent", at(t), at(t))
                  for m, t in ((1, 20), (2, 100), (3, 200)) for p in people
                  if m != 2 or p.name == "Person 00"]
    return compute_record(inputs(stakeholders=people, messages=messages, deliveries=deliveries,
                                 categories={p.id: p.category for p in people}, regulatory=()))


def test_one_silence_line_per_stakeholder_the_worst_first():
    rec = silence_people(25)
    # Person i (1-24): 20 → 200 is 180 min against 30 + i; 200 → 240 (resolved) is 40 min,
    # over the max for i < 10. Person 00: 20 → 100, 100 → 200, 200 → 240 against 30.
    assert len(rec.silences) == 24 + 9 + 3
    lines = rec.stakeholder_silences
    assert [s.name for s in lines] == [f"Person {i:02d}" for i in range(1, 25)] + ["Person 00"]
    first, last = lines[0], lines[-1]
    assert (first.longest.start, first.longest.end, first.allowed, first.times) == (
        at(20), at(200), 31 * MIN, 2)
    assert first.over == 149 * MIN
    assert (last.longest.start, last.longest.end, last.times, last.over) == (
        at(100), at(200), 3, 70 * MIN)
    assert lines[15].times == 1  # Person 16


def test_executive_lists_the_twenty_worst_silences_and_technical_lists_all():
    rec = silence_people(25)
    executive = section(render_markdown(full_report(rec, Audience.EXECUTIVE)),
                        "### Max silence per stakeholder")
    assert "25 stakeholders waited longer than their max silence, 36 times in all." in executive
    assert "| Stakeholder | Longest silence | From | Until | Allowed | Exceeded |" in executive
    assert "| Person 01 | 3 h 00 min | 01:20 | 04:20 | 31 min | 2 times |" in executive
    rows = [line for line in executive.splitlines() if line.startswith("| Person")]
    assert len(rows) == 20 and "Person 21" not in executive and "Person 00" not in executive
    assert "5 more stakeholders waited longer than their max silence, each at most 2 h 09 min " \
        "past it; the technical version lists every one." in executive
    technical = section(render_markdown(full_report(rec)), "### Max silence per stakeholder")
    rows = [line for line in technical.splitlines() if line.startswith("| Person")]
    assert len(rows) == 25 and "more stakeholders" not in technical
    assert "| Person 00 | 1 h 40 min | 02:40 | 04:20 | 30 min | 3 times |" in technical


def test_technical_deliveries_are_grouped_per_message(record):
    assert {m.id: m.same_recipients_as for m in record.messages} == {
        1: None, 2: None, 3: 2, 4: 2, 5: None, 6: 2, 7: 5}
    md = render_markdown(full_report(record))
    deliveries = section(md, "### Deliveries by message")
    assert "**Message 1 · Initial acknowledgment · 01:20 · Casey Coordinator**  \n" \
        "3 recipients by email: Ada Ops, Ben User; by sms: Cora Customer. " \
        "3 sent (01:22–01:23) · 0 failed." in deliveries
    assert "1 recipient, the same as message 2. 1 sent (03:01) · 0 failed." in deliveries
    assert "Unknown whether sent by email — connection lost mid-send: Ada Ops." in deliveries
    assert "Failed by email — 550 5.1.1 no such user: Ada Ops, Ben User." in deliveries
    assert "2 recipients, the same as message 5. 2 sent (05:11) · 0 failed." in deliveries
    recipients = section(md, "### Recipients")
    assert "| Ada Ops | email | ada@example.com | 7 |" in recipients
    assert "| Cora Customer | sms | cora@example.com | 1 |" in recipients
    failures = section(md, "### Failed and unknown deliveries")
    assert "| 550 5.1.1 no such user | 2 | 0 | 1 |" in failures
    assert "| connection lost mid-send | 0 | 1 | 1 |" in failures
