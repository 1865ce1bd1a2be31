"""The composer: render a template for an incident and its recipients in a Jinja2 sandbox, and
queue the result — one Message and a Delivery per recipient, in one transaction, fixed bytes.

Every audience renders from the same incident facts, so the status, ETA and next update time
are the same in every variant: consistency by construction."""

from __future__ import annotations

import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Collection, Mapping

from app.coordinators.service import sign
from app import events as ev
from app.clock import Clock, ensure_utc
from app.domain.dto import ClientDTO, IncidentDTO, Recipient, RecipientList
from app.domain.enums import Category, DeliveryState, Phase, TimelineKind, TimingNeed
from app.errors import ValidationError
from app.messages.library import TYPE_LABELS, TemplateSource
from app.messages.sandbox import (
    TemplateRenderError,
    TooLarge,
    compile_section,
    render_budget,
    f_datetime,
    f_join_and,
)
from app.sending.channels.wire import line_break_in

SEVERITY_LABELS = {"SEV1": "critical", "SEV2": "major", "SEV3": "minor", "SEV4": "low"}
from app.events import MESSAGES_CHANGED  # noqa: E402,F401 - the topic, named here too


@dataclass(frozen=True)
class Sender:
    name: str
    organisation: str
    contact: str = ""


@dataclass(frozen=True)
class Rendered:
    subject: str = ""
    text: str = ""
    html: str = ""


# ---------------------------------------------------------------- context

def build_context(incident: IncidentDTO, client: ClientDTO, sender: Sender, now: datetime,
                  recipient: Mapping[str, Any] | None = None,
                  inputs: Mapping[str, str] | None = None,
                  ask_to_confirm: bool = False) -> dict[str, Any]:
    """Plain values only (dicts, lists, strings, datetimes): no ORM object reaches a template."""
    f = incident.facts
    return {
        "incident": {
            "id": incident.id, "reference": f"INC-{incident.id}", "title": incident.title,
            "severity": incident.severity.value,
            "severity_label": SEVERITY_LABELS[incident.severity.value],
            "phase": incident.phase.value, "phase_label": incident.phase.label,
            "detected_at": incident.detected_at, "is_drill": incident.is_drill,
            "impact_business": incident.impact_business,
            "impact_external": incident.impact_external,
            "impact_regulatory": incident.impact_regulatory,
        },
        "facts": {
            "status": f.status, "impact": f.impact,
            "affected_services": list(f.affected_services), "eta": f.eta_at,
            "eta_qualifier": f.eta_qualifier, "workaround": f.workaround,
            "next_update_at": f.next_update_at,
        },
        "client": {"name": client.name, "time_zone": client.time_zone},
        "recipient": dict(recipient or SAMPLE_RECIPIENT),
        "sender": {"name": sender.name, "organisation": sender.organisation,
                   "contact": sender.contact},
        "now": now,
        "inputs": dict(inputs or {}),
        "ask_to_confirm": ask_to_confirm,
    }


SAMPLE_RECIPIENT = {"name": "(recipient's name)", "role": "", "category_label": "",
                    "detail_level": ""}


def recipient_context(recipient: Recipient, role: str = "") -> dict[str, Any]:
    return {"name": recipient.name, "role": role,
            "category_label": Category(recipient.category).label,
            "detail_level": recipient.detail_level}


VARIABLES_HELP: tuple[tuple[str, str], ...] = (
    ("incident.title", "the incident's title"),
    ("incident.reference", "a short reference, INC-42"),
    ("incident.severity", "SEV1 … SEV4"),
    ("incident.severity_label", "critical, major, minor or low"),
    ("incident.phase_label", "Detected, Investigating, Responding, Resolved, Closed"),
    ("incident.detected_at", "when it was detected (use |time or |datetime)"),
    ("incident.is_drill", "true for a drill"),
    ("facts.status", "current status"),
    ("facts.impact", "impact"),
    ("facts.affected_services", "list of affected services (use |join_and)"),
    ("facts.eta", "estimated restoration time, or none"),
    ("facts.eta_qualifier", "e.g. “within 30 minutes”"),
    ("facts.workaround", "what people can do meanwhile"),
    ("facts.next_update_at", "when the next update comes, or none"),
    ("client.name", "the organisation affected"),
    ("recipient.name", "the person or list receiving it"),
    ("recipient.role", "their role"),
    ("recipient.category_label", "their category in the map"),
    ("sender.name", "you, the coordinator"),
    ("sender.organisation", "who speaks"),
    ("sender.contact", "where to reply"),
    ("now", "the time of sending"),
    ("inputs.…", "the values this template asks for in the composer"),
    ("ask_to_confirm", "true when this recipient is asked to reply YES"),
)


# ---------------------------------------------------------------- asking to confirm

# What an asked recipient reads (issue 25): the built-in templates say it before the sign-off
# ({% if ask_to_confirm %}); a template of the coordinator's, or a variant edited by hand, that
# does not ask gets it added at the end, so an asked person is always asked.
CONFIRM_REQUEST = "Please reply YES to confirm you received this."
SMS_CONFIRM_REQUEST = "Reply YES to confirm."
_ASKS = "reply yes"


def with_confirm_request(out: Rendered, channel: str) -> Rendered:
    """`out` as sent to someone asked to confirm: unchanged when it already asks."""
    text, html = out.text, out.html
    if _ASKS not in " ".join(text.casefold().split()):
        request = SMS_CONFIRM_REQUEST if channel == "sms" else CONFIRM_REQUEST
        body = text.rstrip("\n")
        text = (f"{body} {request}" if channel == "sms" else f"{body}\n\n{request}") + "\n" \
            if body else request + "\n"
    if html and _ASKS not in " ".join(html.casefold().split()):
        html = html.rstrip("\n") + f"\n<p><strong>{CONFIRM_REQUEST}</strong></p>\n"
    return Rendered(subject=out.subject, text=text, html=html)


def example_value(context: Mapping[str, Any], dotted: str) -> str:
    """The value a variable has in `context`, as text, for the composer's variable list."""
    value: Any = context
    for part in dotted.split("."):
        if part == "…":
            return ", ".join(sorted(context.get("inputs", {}))) or "(none for this template)"
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if isinstance(value, datetime):
        return f_datetime(context, value)
    if isinstance(value, list):
        return f_join_and(value)
    return "" if value is None else str(value)


# ---------------------------------------------------------------- rendering

def _template_line(exc: BaseException) -> int | None:
    """The line inside the section where a runtime error happened (Jinja2 rewrites the
    traceback so that template frames carry template line numbers)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


MAX_EMAIL_OUTPUT = 200_000   # characters one section of an email variant may render to
MAX_SMS_OUTPUT = 1_600       # an SMS: ten segments of 160


def render_section(source: TemplateSource, part: str, context: Mapping[str, Any]) -> str:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError

    text = source.section(part)
    if text is None:
        return ""
    first = source.section_line(part)
    try:
        template = compile_section(text, part == "html")
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(part, first + (exc.lineno or 1) - 1,
                                  f"syntax error: {exc.message}") from None
    cap = MAX_SMS_OUTPUT if source.channel == "sms" else MAX_EMAIL_OUTPUT
    try:
        with render_budget():
            out: list[str] = []
            size = 0
            for chunk in template.generate(**context):   # stops at the cap, not after it
                size += len(chunk)
                if size > cap:
                    raise TooLarge(f"its {part} would be longer than {cap:,} characters")
                out.append(chunk)
            return "".join(out)
    except TooLarge as exc:
        raise TemplateRenderError(part, None, f"this template is too large to render "
                                              f"({exc})") from None
    except MemoryError:
        raise TemplateRenderError(part, None, "this template is too large to render (it "
                                              "needs more memory than a message may)") from None
    except UndefinedError as exc:
        line = _template_line(exc)
        raise TemplateRenderError(part, first + line - 1 if line else None,
                                  f"{exc.message} — see the list of variables") from None
    except SecurityError as exc:
        raise TemplateRenderError(part, None, f"not allowed in a template: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        line = _template_line(exc)
        raise TemplateRenderError(part, first + line - 1 if line else None,
                                  f"{type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise TemplateRenderError(part, None, "this template is too large to render (it "
                                              "recurses without end)") from None


def render(source: TemplateSource, context: Mapping[str, Any]) -> Rendered:
    subject = render_section(source, "subject", context).strip()
    return Rendered(subject=subject, text=render_section(source, "text", context).strip() + "\n"
                    if source.section("text") is not None else "",
                    html=render_section(source, "html", context))


def render_preview(level: str, sources: Mapping[str, TemplateSource | None],
                   context: Mapping[str, Any]) -> tuple[dict[str, Rendered | None], str | None]:
    """One detail level's preview: each channel's template (None: this type has none for the
    level) rendered with `context`. Returns the renderings (None where it failed or is missing)
    and what went wrong, in words (the last problem), or None. Pure: the composer runs it on a
    worker thread, so a heavy template never stops the window."""
    out: dict[str, Rendered | None] = {}
    error = None
    for channel, source in sources.items():
        if source is None:
            out[channel] = None
            error = f"no {level} {channel} template for this type"
            continue
        try:
            out[channel] = render(source, context)
        except TemplateRenderError as exc:
            out[channel] = None
            error = f"{channel} template, {exc}"
    return out, error


# ---------------------------------------------------------------- the check on save

def sample_context(source: TemplateSource, now: datetime,
                   ask_to_confirm: bool = False) -> dict[str, Any]:
    """The context of resources/messages/sample-incident.json as the composer would build it,
    for the template's own level, its inputs filled with their examples."""
    import json

    from app.paths import resource

    data = json.loads(resource("messages", "sample-incident.json").read_text(encoding="utf-8"))
    inc, f = data["incident"], data["facts"]
    minutes = lambda key, d: now + timedelta(minutes=d[key])  # noqa: E731
    phase = Phase(inc["phase"])
    return {
        "incident": {
            "id": inc["id"], "reference": f"INC-{inc['id']}", "title": inc["title"],
            "severity": inc["severity"], "severity_label": SEVERITY_LABELS[inc["severity"]],
            "phase": phase.value, "phase_label": phase.label,
            "detected_at": now - timedelta(minutes=inc["detected_minutes_ago"]),
            "is_drill": inc["is_drill"], "impact_business": inc["impact_business"],
            "impact_external": inc["impact_external"],
            "impact_regulatory": inc["impact_regulatory"]},
        "facts": {"status": f["status"], "impact": f["impact"],
                  "affected_services": list(f["affected_services"]),
                  "eta": minutes("eta_in_minutes", f), "eta_qualifier": f["eta_qualifier"],
                  "workaround": f["workaround"],
                  "next_update_at": minutes("next_update_in_minutes", f)},
        "client": dict(data["client"]),
        "recipient": {**data["recipient"], "detail_level": source.level},
        "sender": dict(data["sender"]),
        "now": now,
        "inputs": {i.name: i.example or f"({i.label})" for i in source.inputs},
        "ask_to_confirm": ask_to_confirm,
    }


def check_renders(source: TemplateSource, now: datetime) -> Rendered:
    """Render the template against the sample incident: TemplateRenderError (with the part
    and line) when it cannot — a template that fails here would fail on a real incident.
    Rendered asking to confirm and not: both must work."""
    render(source, sample_context(source, now, ask_to_confirm=True))
    return render(source, sample_context(source, now))


# ---------------------------------------------------------------- audience proposals

@dataclass(frozen=True)
class AudienceProposal:
    categories: tuple[str, ...] = ()
    timing_needs: tuple[str, ...] = ()
    reason: str = ""


def propose_audience(template_type: str, phase: Phase | str) -> AudienceProposal:
    """Who the template type and the incident's phase call for (a starting point the
    coordinator adjusts)."""
    phase = Phase(phase)
    if template_type == "initial_acknowledgment":
        return AudienceProposal(timing_needs=(TimingNeed.IMMEDIATE.value,),
                                reason="everyone whose timing need is immediate")
    if template_type == "status_update":
        timings = [TimingNeed.IMMEDIATE.value, TimingNeed.RAPID.value]
        return AudienceProposal(timing_needs=tuple(timings),
                                reason="everyone who needs immediate or rapid updates")
    if template_type == "escalation_notice":
        return AudienceProposal(categories=(Category.MANAGEMENT.value, Category.EXECUTIVES.value,
                                            Category.BUSINESS_UNIT.value),
                                reason="management, executives and business units")
    if template_type == "resolution_notice":
        return AudienceProposal(timing_needs=(TimingNeed.IMMEDIATE.value, TimingNeed.RAPID.value,
                                              TimingNeed.WHEN_RELEVANT.value,
                                              TimingNeed.PER_CONTRACT.value),
                                reason="everyone who was kept informed"
                                       + (" (the incident is not resolved yet)"
                                          if phase not in (Phase.RESOLVED, Phase.CLOSED) else ""))
    if template_type == "post_incident_summary":
        return AudienceProposal(categories=(Category.MANAGEMENT.value, Category.EXECUTIVES.value,
                                            Category.CUSTOMERS.value,
                                            Category.COMPLIANCE_LEGAL.value),
                                reason="management, executives, customers and compliance")
    if template_type == "regulatory_notification":
        return AudienceProposal(categories=(Category.REGULATORS.value,
                                            Category.COMPLIANCE_LEGAL.value),
                                reason="regulators and compliance / legal")
    raise ValidationError({"template_type": f"Unknown template type “{template_type}”."})


# ---------------------------------------------------------------- queuing

@dataclass(frozen=True)
class QueuedMessage:
    message_id: int
    deliveries: int
    by_channel: dict[str, int] = field(default_factory=dict)


def _email_message_id(domain: str = "clarion.invalid") -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_message(store, clock: Clock, events: ev.EventBus | None, *,  # type: ignore[no-untyped-def]
                  incident: IncidentDTO, client: ClientDTO, template_type: str,
                  templates: Mapping[str, TemplateSource], recipients: RecipientList,
                  sender: Sender, inputs: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Rendered] | None = None,
                  roles: Mapping[int, str] | None = None, actor: str = "",
                  audience: Mapping[str, Any] | None = None,
                  ask_to_confirm: Collection[int] = ()) -> QueuedMessage:
    """Render for every recipient (their own level and channel) and write the Message and its
    Deliveries in ONE transaction, plus a message_queued timeline entry. `overrides` replace the
    rendered text of a variant ("level/channel") for this message only. The stakeholders in
    `ask_to_confirm` are asked to reply YES (their deliveries wait for it). Nothing is written
    if any variant fails to render or a subject would carry a line break."""
    from app.domain.models import Delivery, Incident, Message, TimelineEntry

    if template_type not in TYPE_LABELS:
        raise ValidationError({"template_type": f"Unknown template type “{template_type}”."})
    if not recipients.recipients:
        raise ValidationError({"recipients": "No one to send to: choose the audience."})
    if incident.phase == Phase.CLOSED:
        raise ValidationError({"incident": "The incident is closed; its record is final."})
    now = clock.now()
    overrides = dict(overrides or {})
    asked = set(ask_to_confirm)
    rows: list[dict[str, Any]] = []
    keys: set[str] = set()
    for r in recipients.recipients:
        channel = "sms" if r.channel == "sms" else "email"
        variant = f"{r.detail_level}/{channel}"
        key = f"{template_type}/{variant}"
        source = templates.get(key)
        if source is None:
            raise ValidationError({"template": f"There is no {variant} template for "
                                               f"{TYPE_LABELS[template_type].lower()}."})
        asks = r.stakeholder_id in asked
        if variant in overrides:
            out = overrides[variant]
        else:
            context = build_context(incident, client, sender, now,
                                    recipient_context(r, (roles or {}).get(r.stakeholder_id, "")),
                                    inputs, ask_to_confirm=asks)
            out = render(source, context)
        if asks:
            out = with_confirm_request(out, channel)
        found = line_break_in(out.subject)
        if found:
            raise ValidationError({"subject": f"The {variant} subject has a line break — "
                                              f"{found}; a subject must be one line."})
        if channel == "email" and not out.subject.strip():
            raise ValidationError({"subject": f"The {variant} subject is empty."})
        keys.add(key)
        rows.append({"recipient": r, "key": key, "version": source.version, "out": out,
                     "channel": r.channel, "asks": asks})
    by_channel: dict[str, int] = {}
    for row in rows:
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + 1
    with store.session() as session, session.begin():
        stored = session.get(Incident, incident.id)
        if stored is None:
            raise ValidationError({"incident": "The incident no longer exists."})
        # the facts the message was written from: a second one with the same facts, type and
        # people within minutes is probably a double click (already_sent)
        message = Message(incident_id=incident.id, template_type=template_type,
                          template_keys=sorted(keys),
                          audience={**dict(audience or {}), "facts": facts_key(incident.facts)},
                          created_at=now, created_by=sign(actor)[0], is_drill=incident.is_drill)
        session.add(message)
        session.flush()
        session.add_all([Delivery(
            message_id=message.id, stakeholder_id=row["recipient"].stakeholder_id,
            recipient_name=row["recipient"].name, channel=row["channel"],
            address=row["recipient"].address, detail_level=row["recipient"].detail_level,
            template_key=row["key"], template_version=row["version"],
            subject=row["out"].subject, body_text=row["out"].text, body_html=row["out"].html,
            email_message_id=_email_message_id() if row["channel"] == "email" else "",
            idempotency_key=uuid.uuid4().hex, state=DeliveryState.QUEUED, attempts=0,
            next_attempt_at=now, created_at=now, updated_at=now, ack_requested=row["asks"])
            for row in rows])
        channels = ", ".join(f"{n} by {c if c != 'sms' else 'SMS'}"
                             for c, n in sorted(by_channel.items()))
        asking = sum(1 for row in rows if row["asks"])
        summary = (f"{TYPE_LABELS[template_type]} queued for {len(rows)} recipients ({channels})"
                   + (f", {asking} asked to confirm" if asking else "")
                   + (" — drill" if incident.is_drill else ""))
        entry = TimelineEntry(incident_id=incident.id, at=now, kind=TimelineKind.MESSAGE_QUEUED.value,
                              actor=sign(actor)[0], coordinator_id=sign(actor)[1],
                              summary=summary,
                              data={"message_id": message.id, "template_type": template_type,
                                    "recipients": len(rows), "by_channel": by_channel,
                                    "asked_to_confirm": asking,
                                    "unreachable": [u.name for u in recipients.unreachable]})
        session.add(entry)
        session.flush()
        from app.incidents.lifecycle import entry_dto

        entry_out = entry_dto(entry)
        message_id = message.id
    if events is not None:
        events.publish(ev.TIMELINE_APPENDED, entry_out)
        events.publish(MESSAGES_CHANGED, incident.id)
    return QueuedMessage(message_id=message_id, deliveries=len(rows), by_channel=by_channel)


# ---------------------------------------------------------------- what was sent

@dataclass(frozen=True)
class DeliveryRow:
    recipient_name: str
    channel: str
    address: str
    state: str
    subject: str


def message_deliveries(store, message_id: int) -> list[DeliveryRow]:  # type: ignore[no-untyped-def]
    """The deliveries of one message, for the incident's timeline and the record."""
    from sqlalchemy import select

    from app.domain.models import Delivery

    with store.session() as session:
        return [DeliveryRow(d.recipient_name, d.channel.value, d.address, d.state.value, d.subject)
                for d in session.scalars(select(Delivery).where(Delivery.message_id == message_id)
                                         .order_by(Delivery.recipient_name, Delivery.id))]


def facts_key(facts: Any) -> str:
    """A short fingerprint of an incident's facts (what every message renders from)."""
    import hashlib
    import json
    from dataclasses import asdict

    raw = json.dumps(asdict(facts), sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class AlreadySent:
    """A message of the same type, from the same facts, to some of the same people, queued a
    moment ago (probably a second click)."""
    message_id: int
    minutes_ago: int
    names: tuple[str, ...]          # the people both messages reach


DOUBLE_SEND_MINUTES = 15


def already_sent(store, clock, incident: Any, template_type: str,  # type: ignore[no-untyped-def]
                 stakeholder_ids: list[int],
                 within_minutes: int = DOUBLE_SEND_MINUTES) -> AlreadySent | None:
    """The latest message of `template_type` for the incident, queued in the last minutes
    from the same facts, that reaches any of `stakeholder_ids` (cancelled deliveries aside)."""
    from sqlalchemy import select

    from app.domain.models import Delivery, Message

    now = clock.now()
    wanted = set(stakeholder_ids)
    key = facts_key(incident.facts)
    with store.session() as session:
        recent = session.execute(
            select(Message.id, Message.created_at, Message.audience)
            .where(Message.incident_id == incident.id, Message.template_type == template_type,
                   Message.created_at >= now - timedelta(minutes=within_minutes))
            .order_by(Message.created_at.desc(), Message.id.desc())).all()
        for mid, created_at, audience in recent:
            if (audience or {}).get("facts") != key:
                continue
            both = session.execute(
                select(Delivery.stakeholder_id, Delivery.recipient_name)
                .where(Delivery.message_id == mid, Delivery.state != DeliveryState.CANCELLED)
                ).all()
            names = tuple(dict.fromkeys(n for sid, n in both if sid in wanted))
            if names:
                ago = int((now - ensure_utc(created_at)).total_seconds() // 60)
                return AlreadySent(mid, ago, names)
    return None


def recent_message_counts(store, stakeholder_ids: list[int],  # type: ignore[no-untyped-def]
                          since: datetime) -> dict[int, int]:
    """How many messages each stakeholder was sent (queued or later) since `since` — for the
    over-communication check."""
    from sqlalchemy import func, select

    from app.domain.models import Delivery

    if not stakeholder_ids:
        return {}
    with store.session() as session:
        rows = session.execute(
            select(Delivery.stakeholder_id, func.count(func.distinct(Delivery.message_id)))
            .where(Delivery.stakeholder_id.in_(stakeholder_ids), Delivery.created_at >= since,
                   Delivery.state != DeliveryState.CANCELLED)
            .group_by(Delivery.stakeholder_id)).all()
    return {sid: n for sid, n in rows}
