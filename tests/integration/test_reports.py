"""The post-incident report from a real migrated database, through the real services: an incident
with messages really flushed through the outbox (one refused), notes, decisions, an escalation
dismissed, a regulatory trigger and a satisfied deadline. Each audience is built and rendered;
distinctive strings planted in internal places must appear in the technical version and never in
the customer one. Deliveries the coordinator cancelled through the outbox are counted, not listed
as decisions; every version prints every heading and table header to PDF."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from dataclasses import fields, replace
from datetime import date, datetime, timedelta, timezone

import pytest

from app.sending.accounts import AccountService
from app.sending.channels.base import PERMANENT, SendOutcome
from app.sending.channels.drill import DrillSender
from app.stakeholders.clients import list_clients, save_client, settings_of
from app.clocks.evaluation import ClockService
from app.messages.composer import Sender, queue_message
from app.domain.dto import ContactPointData, StakeholderData
from app.domain.enums import ClockTrigger, Phase, Severity
from app.events import EventBus
from app.incidents.lifecycle import IncidentService
from app.sending.outbox import Outbox
from app.stakeholders.recipients import resolve_recipients
from app.reports.model import Audience, FeedbackEntry, PostIncident, RemediationItem
from app.reports.postincident import PostIncidentService
from app.reports.builder import (
    CustomerReport, Report, build_report, chart_data, render_html, render_markdown,
)
from app.sending.secrets import MemorySecretBackend, SecretStore
from app.stakeholders.service import StakeholderService
from app.messages.library import effective_templates

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # the frozen_clock fixture's start
MIN = timedelta(minutes=1)

ACTOR = "Priya Coordinatorsson"
NOTE = "Internal note ZEBRA-7731 the vendor fumbled the upgrade"
DECISION = "Decision QUOKKA-5524 fail over to the standby relay"
DISMISSAL = "Dismissal reason OCELOT-2718"
TRIGGER_NOTE = "Trigger note LYNX-1618"
LESSON = "Lesson MARMOT-9012 page the storage on-call sooner"
OWNER = "Ignatius Remedi"
COMMENT = "Comment WOMBAT-3141 updates came too late"
ROOT_CAUSE = "The relay's spool disk filled up"
IMPACT = "Outgoing mail was delayed for about two hours"
REMEDY = "Alert at 80% spool disk usage"
PEOPLE = {"Ada Lovelock": "it_staff_msp", "Ben Userton": "affected_users",
          "Cal Customerly": "customers", "Mia Managerly": "management"}
INTERNAL = {"note": NOTE, "decision": DECISION, "dismissal": DISMISSAL,
            "trigger note": TRIGGER_NOTE, "lesson": LESSON, "owner": OWNER, "comment": COMMENT,
            "actor": ACTOR, **{f"stakeholder {n}": n for n in PEOPLE},
            "address": "ada.lovelock@example.com"}


class RefusingSender(DrillSender):
    """Every message is refused for good (a 550): the deliveries end up failed."""

    async def send(self, messages, on_outcome, begin=None) -> None:  # type: ignore[no-untyped-def]
        for message in messages:
            on_outcome(SendOutcome(message.delivery_id, PERMANENT, "550 5.1.1 mailbox gone"))

    async def aclose(self) -> None:
        return None


def flush(store, clock, sender=None):  # type: ignore[no-untyped-def]
    accounts = AccountService(store, clock, SecretStore(MemorySecretBackend()))
    drill = accounts.create_drill_if_missing()
    chosen = sender or DrillSender(drill)
    box = Outbox(store, clock, None, lambda _channel, _drill: (drill, chosen), actor=ACTOR)
    return asyncio.run(box.flush())


def client_of(store, client_id: int):
    return next(c for c in list_clients(store) if c.id == client_id)


def queue(store, clock, incident_id: int, template_type: str, ids: list[int]) -> int:
    incident = IncidentService(store, clock).get(incident_id)
    client = client_of(store, incident.client_id)
    templates = effective_templates(store)
    inputs = {i.name: "" for t in templates.values() if t.type == template_type for i in t.inputs}
    recipients = resolve_recipients(store, client.id, channels=["email"], stakeholder_ids=ids)
    return queue_message(store, clock, None, incident=incident, client=client,
                         template_type=template_type, templates=templates,
                         recipients=recipients, actor=ACTOR, inputs=inputs,
                         sender=Sender(name=ACTOR, organisation="Harbor IT"),
                         audience={"stakeholder_ids": ids, "channels": "email"}).message_id


def post_incident(incident_id: int, cal: int) -> PostIncident:
    return PostIncident(
        incident_id=incident_id, resolution_confirmed_by=ACTOR,
        resolution_confirmed_at=T0 + 130 * MIN, impact_summary=IMPACT, root_cause=ROOT_CAUSE,
        root_cause_under_investigation=False, lessons_learned=LESSON,
        remediation=(RemediationItem(1, REMEDY, owner=OWNER, due_date=date(2026, 3, 20)),),
        feedback=(FeedbackEntry(1, cal, "Cal Customerly", 3, COMMENT),
                  FeedbackEntry(2, None, "Anonymous", 5, "")))


@pytest.fixture
def scenario(store, frozen_clock, client_id):
    """An incident run from detection to resolution; returns (incident id, people, message ids)."""
    clock = frozen_clock
    save_client(store, clock, replace(settings_of(client_of(store, client_id)),
                                      time_zone="America/Los_Angeles", regimes=("gdpr",),
                                      notification_sla_minutes=60), client_id)
    people = {}
    for name, category in PEOPLE.items():
        slug = name.lower().replace(" ", ".")
        people[name] = StakeholderService(store, clock).create(StakeholderData(
            client_id=client_id, name=name, category=category,
            contacts=(ContactPointData("email", f"{slug}@example.com", 1),))).id
    ada, ben, cal = people["Ada Lovelock"], people["Ben Userton"], people["Cal Customerly"]
    incidents = IncidentService(store, clock, EventBus(), actor=ACTOR)
    clocks = ClockService(store, clock, EventBus(), actor=ACTOR)
    incident_id = incidents.open(client_id=client_id, title="Mail relay down",
                                 severity=Severity.SEV3, detected_at=clock.now(),
                                 impact_regulatory=True).id
    clock.advance(minutes=3)
    ack = queue(store, clock, incident_id, "initial_acknowledgment", [ada, ben, cal])
    flush(store, clock)
    clock.advance(minutes=2)  # 09:05
    incidents.move_phase(incident_id, Phase.INVESTIGATING)
    incidents.add_note(incident_id, NOTE)
    incidents.add_decision(incident_id, DECISION)
    clocks.record_trigger(incident_id, ClockTrigger.AWARENESS, clock.now(), note=TRIGGER_NOTE)
    clock.advance(minutes=58)  # 10:03: 58 min after investigating began (SEV3: every 45)
    update = queue(store, clock, incident_id, "status_update", [ada])
    flush(store, clock)
    clock.advance(minutes=7)  # 10:10
    refused = queue(store, clock, incident_id, "status_update", [ben])
    flush(store, clock, RefusingSender())
    incidents.change_severity(incident_id, Severity.SEV2)
    fired = clocks.fire_escalations([incident_id])
    key = next(p.condition_key for _i, p in fired if p.rule.key == "sev_increase_sev2")
    clocks.decide_escalation(incident_id, key, confirmed=False, reason=DISMISSAL)
    escalation = queue(store, clock, incident_id, "escalation_notice", [people["Mia Managerly"]])
    flush(store, clock)
    for other in {p.condition_key for _i, p in fired} - {key}:
        clocks.decide_escalation(incident_id, other, confirmed=True, message_id=escalation)
    clock.advance(minutes=20)  # 10:30
    incidents.move_phase(incident_id, Phase.RESPONDING)
    clock.advance(minutes=30)  # 11:00
    incidents.move_phase(incident_id, Phase.RESOLVED)
    clock.advance(minutes=5)
    notice = queue(store, clock, incident_id, "resolution_notice", [ada, ben, cal])
    flush(store, clock)
    clocks.mark_satisfied(incident_id, "gdpr_art33", notice)
    clocks.mark_satisfied(incident_id, "contract_sla", notice)  # due at 10:00: late
    clock.advance(minutes=30)
    return incident_id, people, {"ack": ack, "update": update, "refused": refused,
                                 "escalation": escalation, "notice": notice}


def build(store, clock, incident_id, people, audience):
    return build_report(store, clock, incident_id, audience,
                        post_incident=post_incident(incident_id, people["Cal Customerly"]))


def as_xml(page: str) -> ET.Element:
    first, rest = page.split("\n", 1)
    assert first == "<!DOCTYPE html>"
    return ET.fromstring(rest)


def text_of(root: ET.Element) -> str:
    return "".join(root.itertext())


def test_technical_report_carries_everything(store, frozen_clock, scenario):
    incident_id, people, messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.TECHNICAL)
    assert isinstance(report, Report) and report.audience == Audience.TECHNICAL
    rec = report.record
    assert rec.first.to_queued == 3 * MIN and rec.first.within_target is True
    assert rec.resolved and rec.end == T0 + 120 * MIN
    gaps = [(g.phase, g.start, g.end, g.allowed) for g in rec.gaps]
    assert (Phase.INVESTIGATING, T0 + 5 * MIN, T0 + 63 * MIN, 45 * MIN) in gaps
    refused = next(m for m in rec.messages if m.id == messages["refused"])
    assert refused.all_failed and refused.recipients[0].last_error.startswith("550")
    assert [(f.recipient_name, f.state) for f in rec.failures] == [("Ben Userton", "failed")]
    assert [e.outcome for e in rec.escalations if e.decision_reason == DISMISSAL] == ["dismissed"]
    confirmed = [e for e in rec.escalations if e.outcome == "confirmed"]
    assert confirmed and {e.message_id for e in confirmed} == {messages["escalation"]}
    gdpr = next(r for r in rec.regulatory if r.rule_id == "gdpr_art33")
    assert gdpr.outcome == "met" and gdpr.satisfied_at is not None
    sla = next(r for r in rec.regulatory if r.rule_id == "contract_sla")
    assert sla.outcome == "late" and sla.due_at == T0 + 60 * MIN
    assert report.feedback.count == 2 and report.feedback.average == 4.0

    md = render_markdown(report, chart_file="report-chart.png")
    page = render_html(report, chart_png=b"\x89PNG\r\n\x1a\nnot really")
    html_text = text_of(as_xml(page))
    for what, planted in INTERNAL.items():
        assert planted in md, what
        assert planted in html_text, what
    for section in ("## Summary", "## Impact", "## Root cause", "## Remediation", "## Phases",
                    "## Communication record", "### Update cadence", "### Escalations",
                    "### Decisions", "### Regulatory and contractual deadlines",
                    "### Failed and unknown deliveries", "## Lessons learned",
                    "## Stakeholder feedback", "## Timeline"):
        assert section in md, section
    assert "](report-chart.png)" in md
    assert " PST" in md  # times in the client's zone, with the zone's name

    chart = chart_data(report)
    assert {m.kind for m in chart.marks} >= {"message", "failed", "due", "escalation"}
    assert [p.phase for p in chart.phases][:3] == ["detected", "investigating", "responding"]


def test_executive_report_has_figures_but_no_addresses_or_notes(store, frozen_clock, scenario):
    incident_id, people, _messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.EXECUTIVE)
    assert isinstance(report, Report) and report.timeline == ()
    assert all(m.recipients == () for m in report.record.messages)
    md = render_markdown(report)
    html_text = text_of(as_xml(render_html(report)))
    for text in (md, html_text):
        assert NOTE not in text and "@example.com" not in text
        for kept in (LESSON, OWNER, DECISION, DISMISSAL, ROOT_CAUSE, COMMENT):
            assert kept in text, kept
        assert "1 failed, 0 unknown." in text
    assert "## Timeline" not in md and "### Update cadence" in md


def test_customer_report_never_carries_internal_text(store, frozen_clock, scenario):
    incident_id, people, messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.CUSTOMER)
    assert isinstance(report, CustomerReport)
    # structurally: nothing that could hold a note, decision, name, address or lesson
    names = {f.name for f in fields(report)}
    assert not names & {"post", "record", "timeline", "feedback", "facts"}
    assert [c.recipients for c in report.communications] == [2, 2]  # Ben and Cal, twice
    assert report.root_cause == ROOT_CAUSE and report.remediation[0].text == REMEDY

    md = render_markdown(report, chart_file="chart.png")
    page = render_html(report, chart_png=b"\x89PNG\r\n\x1a\nnot really")
    html_text = text_of(as_xml(page))
    for what, planted in INTERNAL.items():
        assert planted not in md, what
        assert planted not in page, what
    for expected in (ROOT_CAUSE, IMPACT, REMEDY, "## How we kept you informed",
                     "## What we are doing to prevent it", "Initial acknowledgment",
                     "Resolution notice", "3 min after the incident was detected"):
        assert expected in md, expected
    assert ROOT_CAUSE.replace("'", "&#x27;") in page and ROOT_CAUSE in html_text
    assert "Status update" not in md  # the update went to IT staff only; the other failed
    # the phases under their own heading, not run on from the summary's last line
    assert md.index("**Workaround:**" if report.workaround else "## Summary") \
        < md.index("## Phases\n\n| Phase | From | To |") < md.index("## Impact")

    chart = chart_data(report)
    assert [m.kind for m in chart.marks] == ["message", "message"]
    assert all(n not in m.label for m in chart.marks for n in INTERNAL.values())


def test_customer_root_cause_under_investigation_and_no_owners(store, frozen_clock, scenario):
    incident_id, people, _messages = scenario
    post = replace(post_incident(incident_id, people["Cal Customerly"]),
                   root_cause="Suspected: OCTOPUS-404 in the firmware",
                   root_cause_under_investigation=True)
    report = build_report(store, frozen_clock, incident_id, "customer", post_incident=post)
    md = render_markdown(report)
    assert "Under investigation." in md and "OCTOPUS-404" not in md
    assert OWNER not in md and REMEDY in md


def test_user_text_is_escaped_in_html(store, frozen_clock, scenario):
    incident_id, people, _messages = scenario
    post = replace(post_incident(incident_id, people["Cal Customerly"]),
                   impact_summary='<script>alert("x")</script> & <b>bold</b>')
    for audience in Audience:
        page = render_html(build_report(store, frozen_clock, incident_id, audience,
                                        post_incident=post))
        root = as_xml(page)
        assert "<script" not in page and root.find(".//script") is None
        assert '<script>alert("x")</script> & <b>bold</b>' in text_of(root)


def test_post_incident_fields_come_from_the_post_incident_service(store, frozen_clock, scenario):
    """Without an override the builder reads app.reports.postincident; planted there, the lesson,
    the owner and the comment reach the technical version and never the customer one."""
    incident_id, people, _messages = scenario
    service = PostIncidentService(store, frozen_clock, EventBus(), ACTOR)
    service.save_fields(incident_id, impact_summary=IMPACT, root_cause=ROOT_CAUSE,
                        root_cause_under_investigation=False, lessons_learned=LESSON)
    service.add_item(incident_id, REMEDY, owner=OWNER, due_date=date(2026, 3, 20))
    service.add_feedback(incident_id, people["Cal Customerly"], "", 3, COMMENT)
    technical = build_report(store, frozen_clock, incident_id, Audience.TECHNICAL)
    assert isinstance(technical, Report) and technical.post == service.get(incident_id)
    assert technical.post.lessons_learned == LESSON
    assert technical.feedback.count == len(technical.post.feedback) >= 1
    md = render_markdown(technical)
    assert LESSON in md and OWNER in md and COMMENT in md and ROOT_CAUSE in md

    customer = build_report(store, frozen_clock, incident_id, Audience.CUSTOMER)
    md = render_markdown(customer)
    page = render_html(customer)
    assert ROOT_CAUSE in md and REMEDY in md and IMPACT in md
    for planted in (LESSON, OWNER, COMMENT, "Cal Customerly", ACTOR):
        assert planted not in md and planted not in page, planted


def test_cancelled_deliveries_are_counted_not_decisions(store, frozen_clock, scenario):
    """The outbox records a cancellation as a decision entry ("Cancelled delivery to …"): a
    delivery action, in the deliveries' counts and the timeline, never under Decisions."""
    from sqlalchemy import select

    from app.domain.models import Delivery

    incident_id, people, _messages = scenario
    late = queue(store, frozen_clock, incident_id, "status_update",
                 [people["Ada Lovelock"], people["Mia Managerly"]])
    with store.session() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.message_id == late)))
    box = Outbox(store, frozen_clock, None, lambda _channel, _drill: (None, None), actor=ACTOR)
    assert box.cancel(ids) == 2
    technical = build(store, frozen_clock, incident_id, people, Audience.TECHNICAL)
    assert any(e.summary.startswith("Cancelled delivery to Ada Lovelock")
               for e in technical.timeline)
    assert [d.text for d in technical.record.decisions if d.kind == "decision"] == [DECISION]
    assert technical.record.cancelled == 2
    for report in (technical, build(store, frozen_clock, incident_id, people,
                                    Audience.EXECUTIVE)):
        md = render_markdown(report)
        decisions = md[md.index("### Decisions"):md.index("### Regulatory")]
        assert DECISION in decisions and "Cancelled delivery" not in decisions
        assert "1 failed, 0 unknown. 2 cancelled before sending." in md
        assert "| 0 sent · 0 failed · 2 cancelled |" in md
    md = render_markdown(technical)
    assert "Cancelled delivery to Ada Lovelock by email" in md[md.index("## Timeline"):]


def test_every_version_prints_every_heading_and_table_header_to_pdf(store, frozen_clock,
                                                                     scenario, qapp):
    """Each version's blocks drawn by the PDF engine (ui/reports/pdf.py) and read back with
    pdftotext: every heading and every table's header row is there, nothing was missing a
    font. (tests/ui/test_report_pdf.py checks the layout itself: repeated headers, page
    breaks, wrapping, emoji.)"""
    import shutil
    import subprocess
    import unicodedata

    from app.reports.render import H, Table, report_blocks
    from ui.reports.pdf import blocks_to_pdf

    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed")
    incident_id, people, _messages = scenario
    for audience in Audience:
        report = build(store, frozen_clock, incident_id, people, audience)
        blocks = report_blocks(report, with_chart=False)
        result = blocks_to_pdf(blocks, None, title=report.title, footer=report.title)
        assert result.missing == () and result.unsearchable == (), audience
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=result.data,
                             capture_output=True, check=True, timeout=60).stdout
        text = " ".join(unicodedata.normalize("NFKC", out.decode("utf-8")).split())
        expected = [b.text for b in blocks if isinstance(b, H)]
        expected += [" ".join(" ".join(b.headers).split()) for b in blocks
                     if isinstance(b, Table)]
        assert len(expected) >= 8
        for words in expected:
            assert words in text, (audience, words)


# ---------------------------------------------------------------- the appendix (issue 13)

def delivery_texts(store, message_id):
    from app.domain.models import Delivery

    with store.session() as s:
        return {d.recipient_name: (d.subject, d.body_text, d.state.value)
                for d in s.query(Delivery).filter(Delivery.message_id == message_id)}


def test_the_technical_appendix_has_every_message_its_texts_and_who_did_not_get_it(
        store, frozen_clock, scenario):
    incident_id, people, messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.TECHNICAL)
    assert [m.message_id for m in report.appendix] == [
        messages[k] for k in ("ack", "update", "refused", "escalation", "notice")]
    refused = next(m for m in report.appendix if m.message_id == messages["refused"])
    (variant,) = refused.variants
    subject, text, state = delivery_texts(store, messages["refused"])["Ben Userton"]
    assert (variant.subject, variant.text, variant.example) == (subject, text, "Ben Userton")
    assert variant.counts == {"failed": 1} and state == "failed"
    assert variant.not_sent == (("Ben Userton", "failed", "550 5.1.1 mailbox gone"),)
    ack = next(m for m in report.appendix if m.message_id == messages["ack"])
    assert sum(v.recipients for v in ack.variants) == 3
    assert all(v.not_sent == () for v in ack.variants)

    md = render_markdown(report)
    appendix = md[md.index("## Appendix: the messages as sent"):]
    assert "Failed: Ben Userton — 550 5.1.1 mailbox gone" in appendix.replace("\\", "")
    for m in report.appendix:
        assert f"· {m.type_label}" in appendix
        for v in m.variants:
            assert v.subject.replace("[", "\\[").replace("]", "\\]") in appendix


def test_the_executive_appendix_has_texts_and_counts_and_no_recipient(store, frozen_clock,
                                                                      scenario):
    incident_id, people, messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.EXECUTIVE)
    assert len(report.appendix) == 5
    variants = [v for m in report.appendix for v in m.variants]
    assert all(v.example == "" and v.not_sent == () for v in variants)
    texts = " ".join(v.subject + v.text for v in variants)
    for name in PEOPLE:
        assert name not in texts, name              # the greeting says [recipient]
    assert "[recipient]" in texts
    md = render_markdown(report)
    appendix = md[md.index("## Appendix: the messages as sent"):]
    assert "1 recipient: 1 failed" in appendix and "@example.com" not in appendix


def test_the_customer_appendix_has_only_what_customers_were_sent(store, frozen_clock,
                                                                 scenario):
    incident_id, people, messages = scenario
    report = build(store, frozen_clock, incident_id, people, Audience.CUSTOMER)
    # Ben's status update failed and Ada's went to IT staff: neither is here
    assert [m.message_id for m in report.appendix] == [messages["ack"], messages["notice"]]
    signed = [name for m in messages.values()
              for name, (_s, text, _st) in delivery_texts(store, m).items() if ACTOR in text]
    assert "Cal Customerly" in signed              # a copy customers got was signed by Priya
    for m in report.appendix:
        for v in m.variants:
            assert v.counts == {"sent": sum(v.counts.values())}
            assert ACTOR not in v.subject + v.text and "Customerly" not in v.text
    assert any("[sender]" in v.text for m in report.appendix for v in m.variants)
    md = render_markdown(report)
    assert "## Appendix: the messages you received" in md


def test_the_summary_is_the_status_given_at_the_resolution(store, frozen_clock, client_id):
    from app.errors import ValidationError
    from app.domain.dto import Facts

    incidents = IncidentService(store, frozen_clock, EventBus(), actor=ACTOR)
    inc = incidents.open(client_id=client_id, title="Portal down", severity=Severity.SEV3,
                         detected_at=frozen_clock.now())
    incidents.update_facts(inc.id, Facts(status="Cause not yet known"))
    frozen_clock.advance(minutes=30)
    with pytest.raises(ValidationError):
        incidents.move_phase(inc.id, Phase.RESOLVED, final_status="   ")
    incidents.move_phase(inc.id, Phase.RESOLVED,
                         final_status="Resolved at 09:30 UTC: an expired certificate was renewed.")
    assert incidents.get(inc.id).facts.status == \
        "Resolved at 09:30 UTC: an expired certificate was renewed."
    frozen_clock.advance(minutes=5)
    incidents.update_facts(inc.id, Facts(status="Monitoring after the renewal"))  # typed later
    technical = build_report(store, frozen_clock, inc.id, Audience.TECHNICAL)
    assert technical.summary_status == ("Resolved at 09:30 UTC: an expired certificate was "
                                        "renewed.")
    md = render_markdown(technical)
    summary = md[md.index("## Summary"):md.index("## Impact")]
    assert "an expired certificate was renewed" in summary and "Monitoring" not in summary
    customer = build_report(store, frozen_clock, inc.id, Audience.CUSTOMER)
    assert customer.status == technical.summary_status
