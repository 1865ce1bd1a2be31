"""The composer core: template parsing, sandboxed rendering, queuing in one transaction,
the coordinator's template versions. Uses small inline templates (the built-in library has its
own tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.stakeholders.clients import list_clients, save_client, settings_of
from app.messages.composer import (
    Rendered, Sender, TemplateRenderError, build_context, propose_audience, queue_message, render,
)
from app.domain.dto import ContactPointData, Facts, StakeholderData
from app.domain.models import Delivery, Message, TimelineEntry
from app.errors import ValidationError
from app.messages.sandbox import MAX_EXPONENT, MAX_OUTPUT, MAX_POWER_BITS, MAX_RANGE
from app.stakeholders.recipients import resolve_recipients
from app.stakeholders.service import StakeholderService
from app.messages.library import (
    MAX_TEMPLATE_CHARS, TemplateFormatError, TemplateSource, effective_templates, history,
    parse_template, revert_to_builtin, save_custom,
)

EMAIL = """---
type: status_update
level: {level}
channel: email
title: Status update
description: test
inputs: [{{"name": "reason", "label": "Reason"}}]
---
=== subject ===
[{{{{ incident.severity }}}}] {{{{ incident.title }}}} — update {{{{ now|time }}}}
=== text ===
Hello {{{{ recipient.name }}}},
{{{{ facts.status }}}}
Affected: {{{{ facts.affected_services|join_and }}}}.
{{% if facts.next_update_at %}}Next update at {{{{ facts.next_update_at|time }}}}.{{% endif %}}
=== html ===
<p>{{{{ facts.status }}}}</p>
"""

SMS = """---
type: status_update
level: {level}
channel: sms
title: Status update SMS
---
=== text ===
{{{{ incident.title }}}}: {{{{ facts.status }}}} Next update {{{{ facts.next_update_at|time }}}}.
"""


def email(level="simple", **swap):
    text = EMAIL.format(level=level)
    for old, new in swap.items():
        text = text.replace(old, new)
    return parse_template(text)


@pytest.fixture
def la_client(store, frozen_clock, client_id):
    current = list_clients(store)[0]
    return save_client(store, frozen_clock, replace(settings_of(current),
                                                     time_zone="America/Los_Angeles"), client_id)


@pytest.fixture
def incident(incidents, la_client, frozen_clock):
    now = frozen_clock.now()
    return incidents.open(
        client_id=la_client.id, title="Patient portal unavailable", severity="SEV2",
        detected_at=now - timedelta(minutes=20),
        facts=Facts(status="Logins fail at <sign-on>.", affected_services=("Portal", "Bill pay",
                                                                          "Chat"),
                    next_update_at=now + timedelta(minutes=30)))


def ctx(incident, client, now, **recipient):
    return build_context(incident, client, Sender("Dana", "Harbor IT"), now,
                         recipient={"name": "Ana", "role": "", "category_label": "",
                                    "detail_level": "simple", **recipient})


# ---------------------------------------------------------------- parsing

@pytest.mark.parametrize("text, fragment", [
    ("no front matter", "front matter"),
    ("---\ntype: status_update\n", "closing ---"),
    ("---\ntype: nope\nlevel: simple\nchannel: sms\ntitle: t\n---\n=== text ===\nx\n", "Unknown type"),
    ("---\ntype: status_update\nlevel: loud\nchannel: sms\ntitle: t\n---\n=== text ===\nx\n",
     "Unknown level"),
    ("---\ntype: status_update\nlevel: simple\nchannel: email\ntitle: t\n---\n=== text ===\nx\n",
     "sections subject, text, html"),
    ("---\ntype: status_update\nlevel: simple\nchannel: sms\ntitle: t\n---\nstray\n=== text ===\n",
     "before the first"),
    ("---\ntype: status_update\nlevel: simple\nchannel: sms\n---\n=== text ===\nx\n", "title"),
])
def test_format_errors_say_what_and_where(text, fragment):
    with pytest.raises(TemplateFormatError, match=fragment):
        parse_template(text)


def test_a_1mb_template_is_refused_plainly():
    huge = SMS.format(level="simple") + "x" * 1_000_000
    with pytest.raises(TemplateFormatError, match="limit is 100,000"):
        parse_template(huge)


def test_parse_reads_sections_inputs_and_lines():
    source = email()
    assert source.key == "status_update/simple/email"
    assert [n for n, _, _ in source.sections] == ["subject", "text", "html"]
    assert source.inputs[0].name == "reason"
    assert source.section_line("text") == 12


# ---------------------------------------------------------------- rendering

def test_every_audience_gets_the_same_facts(incident, la_client, frozen_clock):
    out = render(email(), ctx(incident, la_client, frozen_clock.now()))
    assert out.subject == "[SEV2] Patient portal unavailable — update 01:00 PST"
    assert "Hello Ana," in out.text
    assert "Affected: Portal, Bill pay and Chat." in out.text
    assert "Next update at 01:30 PST." in out.text  # 09:30 UTC in Los Angeles, winter


def test_html_is_escaped_and_text_is_not(incident, la_client, frozen_clock):
    out = render(email(), ctx(incident, la_client, frozen_clock.now()))
    assert "&lt;sign-on&gt;" in out.html and "<sign-on>" not in out.html
    assert "<sign-on>" in out.text


def test_undefined_variable_names_the_part_and_line(incident, la_client, frozen_clock):
    source = email(**{"{{ facts.status }}\nAffected": "{{ facts.nonexistent }}\nAffected"})
    with pytest.raises(TemplateRenderError) as err:
        render(source, ctx(incident, la_client, frozen_clock.now()))
    assert err.value.part == "text" and err.value.line == 13
    assert "nonexistent" in err.value.message


def test_syntax_error_names_the_line(incident, la_client, frozen_clock):
    source = email(**{"Affected:": "{% if %}Affected:"})
    with pytest.raises(TemplateRenderError) as err:
        render(source, ctx(incident, la_client, frozen_clock.now()))
    assert err.value.part == "text" and err.value.line == 14 and "syntax" in err.value.message


def sandboxed(payload: str) -> TemplateSource:
    """An email template whose text section is just `payload` (an email section may render
    up to 200,000 characters, an SMS 1,600: the guards below are the sandbox's own)."""
    head = SMS.format(level="simple").split("=== text ===")[0].replace("channel: sms",
                                                                      "channel: email")
    return parse_template(f"{head}=== subject ===\nS\n=== text ===\n{payload}\n"
                          f"=== html ===\n<p>x</p>\n")


def rendered_text(payload, incident, client, clock) -> str:
    return render(sandboxed(payload), ctx(incident, client, clock.now())).text.rstrip("\n")


def refusal(payload, incident, client, clock) -> TemplateRenderError:
    with pytest.raises(TemplateRenderError) as err:
        render(sandboxed(payload), ctx(incident, client, clock.now()))
    assert err.value.part == "text"
    return err.value


UNSAFE = "not allowed in a template: access to attribute"


@pytest.mark.parametrize("payload, attribute", [
    ("{{ ''.__class__.__mro__ }}", "'__class__' of 'str'"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__class__' of 'str'"),
    ("{{ ''|attr('__class__') }}", "'__class__' of 'str'"),
    ("{{ cycler.__init__.__globals__ }}", "'__init__' of 'type'"),
    ("{{ self.__init__.__globals__ }}", "'__init__' of 'TemplateReference'"),
    ("{{ facts.affected_services.append('x') }}", "'append' of 'list'"),
    ("{{ facts.__class__ }}", "'__class__' of 'dict'"),
    ("{{ lipsum.__globals__ }}", "'__globals__' of 'function'"),
])
def test_reaching_into_python_internals_is_refused(incident, la_client, frozen_clock,
                                                   payload, attribute):
    err = refusal(payload, incident, la_client, frozen_clock)
    assert err.message == f"{UNSAFE} {attribute} object is unsafe."


def test_an_attr_chain_dead_ends_in_an_undefined_value_and_is_refused(incident, la_client,
                                                                     frozen_clock):
    """`''|attr('__class__')` yields an undefined value, not the class, so the chain stops."""
    err = refusal("{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
                  incident, la_client, frozen_clock)
    assert "has no attribute '__mro__'" in err.message
    assert "<class" not in err.message and "object at 0x" not in err.message


EXPONENT = "not allowed in a template: exponent too large"
TOO_LARGE = "not allowed in a template: the result would be too large"
RANGE = "not allowed in a template: range() is limited to 1,000 items in templates"


@pytest.mark.parametrize("payload, message", [
    ("{{ 2 ** 100000 }}", EXPONENT),
    ("{{ 2 ** -100000 }}", EXPONENT),           # negative exponents have the same bound
    # nested powers that reach the guard: the inner power is the outer exponent (128, 729).
    # (Jinja2's ** is left-associative, so 9**9**9 would be (9**9)**9, below.) Kept cheap
    # to compute should the guard go, so a broken guard fails the test instead of hanging it.
    ("{{ 2 ** (2 ** 7) }}", EXPONENT),
    ("{{ 9 ** (9 ** 3) }}", EXPONENT),
    ("{{ (9 ** 64) ** 64 }}", TOO_LARGE),       # each exponent is small; the result is not
    ("{{ 1000000 * 'a' }}", TOO_LARGE),
    ("{{ 'a' * 1000000 }}", TOO_LARGE),
    ("{{ 'a' * 10**9 }}", TOO_LARGE),
    ("{{ [1] * 10**8 }}", TOO_LARGE),
    ("{{ 10**6 * [1] }}", TOO_LARGE),
    ("{{ (1, 2) * 10**6 }}", TOO_LARGE),
    # range() is refused when called, however it is used; the loops are small enough to
    # finish quickly should the guard go
    ("{{ range(10**9)|length }}", RANGE),
    ("{% for a in range(1001) %}{% for b in range(1001) %}x{% endfor %}{% endfor %}", RANGE),
    ("{% for a in range(3) %}{% for b in range(1001) %}x{% endfor %}{% endfor %}", RANGE),
])
def test_templates_that_would_exhaust_memory_or_time_are_refused(incident, la_client,
                                                                 frozen_clock, payload, message):
    assert refusal(payload, incident, la_client, frozen_clock).message == message


@pytest.mark.parametrize("payload, text", [
    # Jinja2's ** is left-associative: 9**9**9 is (9**9)**9, a 78-digit number, not 9**(9**9)
    ("{{ 9**9**9 }}", str((9 ** 9) ** 9)),
    ("{{ 2 ** 10 }}", "1024"),
    ("{{ 'ab' * 3 }} {{ 3 * 'ab' }}", "ababab ababab"),
    ("{{ [1, 2] * 2 }}", "[1, 2, 1, 2]"),
    ("{{ 2.5 * 4 }}", "10.0"),
    ("{% for i in range(3) %}{{ i }}{% endfor %}", "012"),
])
def test_ordinary_arithmetic_still_renders(incident, la_client, frozen_clock, payload, text):
    assert rendered_text(payload, incident, la_client, frozen_clock) == text


def test_the_sandbox_limits_are_the_documented_ones():
    assert (MAX_EXPONENT, MAX_POWER_BITS, MAX_OUTPUT, MAX_RANGE) == (64, 4_096, 200_000, 1_000)


def test_an_exponent_of_64_is_allowed_and_65_refused_either_sign(incident, la_client,
                                                                 frozen_clock):
    assert rendered_text("{{ 2 ** 64 }}", incident, la_client, frozen_clock) == str(2 ** 64)
    assert rendered_text("{{ 2 ** -64 }}", incident, la_client, frozen_clock) == str(2 ** -64)
    for payload in ("{{ 2 ** 65 }}", "{{ 2 ** -65 }}"):
        assert refusal(payload, incident, la_client, frozen_clock).message == EXPONENT


def test_a_power_of_4096_bits_is_allowed_and_4097_refused(incident, la_client, frozen_clock):
    # (2**255)**16: 256 bits x 16 = 4,096; (2**240)**17: 241 bits x 17 = 4,097
    assert rendered_text("{{ ((2 ** 51) ** 5) ** 16 }}", incident, la_client, frozen_clock) \
        == str(2 ** 4080)
    assert refusal("{{ ((2 ** 60) ** 4) ** 17 }}", incident, la_client, frozen_clock).message \
        == TOO_LARGE


@pytest.mark.parametrize("allowed, text, refused", [
    ("'a' * 200000", "a" * 200_000, "'a' * 200001"),
    ("200000 * 'a'", "a" * 200_000, "200001 * 'a'"),
    ("'ab' * 100000", "ab" * 100_000, "'ab' * 100001"),  # the result's length counts
    ("100000 * 'ab'", "ab" * 100_000, "100001 * 'ab'"),
    ("([0] * 200000)|length", "200000", "[0] * 200001"),
    ("(200000 * [0])|length", "200000", "200001 * [0]"),
    ("((0, 1) * 100000)|length", "200000", "(0, 1) * 100001"),
])
def test_repetition_up_to_200000_items_is_allowed_and_one_more_refused(
        incident, la_client, frozen_clock, allowed, text, refused):
    assert rendered_text("{{ " + allowed + " }}", incident, la_client, frozen_clock) == text
    assert refusal("{{ " + refused + " }}", incident, la_client, frozen_clock).message == TOO_LARGE


def test_range_of_1000_items_is_allowed_and_1001_refused(incident, la_client, frozen_clock):
    for payload in ("{{ range(1000)|length }}", "{{ range(0, 2000, 2)|length }}"):
        assert rendered_text(payload, incident, la_client, frozen_clock) == "1000"
    for payload in ("{{ range(1001)|length }}", "{{ range(0, 2002, 2)|length }}"):
        assert refusal(payload, incident, la_client, frozen_clock).message == RANGE


def test_emoji_and_right_to_left_text_render(incident, la_client, frozen_clock):
    shown = replace(incident, facts=replace(incident.facts, status="🚑 שירות הפורטל מושבת"))
    out = render(parse_template(SMS.format(level="simple")),
                 ctx(shown, la_client, frozen_clock.now()))
    assert "🚑 שירות הפורטל מושבת" in out.text


# ---------------------------------------------------------------- audience

def test_initial_acknowledgment_proposes_every_immediate_stakeholder():
    proposal = propose_audience("initial_acknowledgment", "detected")
    assert proposal.timing_needs == ("immediate",) and "immediate" in proposal.reason
    assert "not resolved" in propose_audience("resolution_notice", "investigating").reason
    with pytest.raises(ValidationError):
        propose_audience("nonsense", "detected")


# ---------------------------------------------------------------- queuing

@pytest.fixture
def people(store, frozen_clock, la_client):
    svc = StakeholderService(store, frozen_clock)
    svc.create(StakeholderData(client_id=la_client.id, name="Ana", category="affected_users",
                               contacts=(ContactPointData("email", "ana@example.com", 1),)))
    svc.create(StakeholderData(client_id=la_client.id, name="Ben", category="it_staff_msp",
                               detail_level="simple",
                               contacts=(ContactPointData("sms", "+12065550101", 1),)))
    return svc


def templates_for(*levels):
    out = {}
    for level in levels:
        out[f"status_update/{level}/email"] = email(level)
        out[f"status_update/{level}/sms"] = parse_template(SMS.format(level=level))
    return out


def counts(store):
    with store.session() as s:
        return (s.scalar(select(func.count(Message.id))), s.scalar(select(func.count(Delivery.id))),
                s.scalar(select(func.count(TimelineEntry.id))))


def test_queue_writes_message_deliveries_and_timeline(store, frozen_clock, incident, la_client,
                                                       people):
    recipients = resolve_recipients(store, la_client.id, timing_needs=["immediate"])
    before = counts(store)
    queued = queue_message(store, frozen_clock, None, incident=incident, client=la_client,
                           template_type="status_update", templates=templates_for("simple"),
                           recipients=recipients, sender=Sender("Dana", "Harbor IT"),
                           actor="Dana")
    assert queued.deliveries == 2 and queued.by_channel == {"email": 1, "sms": 1}
    assert counts(store) == (before[0] + 1, before[1] + 2, before[2] + 1)
    with store.session() as s:
        rows = {d.recipient_name: d for d in s.scalars(select(Delivery))}
        entry = s.scalars(select(TimelineEntry).order_by(TimelineEntry.id.desc())).first()
    ana = rows["Ana"]
    assert ana.state.value == "queued" and ana.email_message_id.startswith("<")
    assert ana.subject.startswith("[SEV2]") and "Hello Ana," in ana.body_text
    assert rows["Ben"].email_message_id == "" and rows["Ben"].address == "+12065550101"
    assert len({ana.idempotency_key, rows["Ben"].idempotency_key}) == 2
    assert entry.kind == "message_queued" and "2 recipients" in entry.summary


def test_nothing_is_written_when_one_variant_fails(store, frozen_clock, incident, la_client,
                                                   people):
    broken = templates_for("simple")
    broken["status_update/simple/sms"] = parse_template(
        SMS.format(level="simple").replace("facts.status", "facts.missing"))
    recipients = resolve_recipients(store, la_client.id, timing_needs=["immediate"])
    before = counts(store)
    with pytest.raises(TemplateRenderError):
        queue_message(store, frozen_clock, None, incident=incident, client=la_client,
                      template_type="status_update", templates=broken, recipients=recipients,
                      sender=Sender("Dana", "Harbor IT"))
    assert counts(store) == before


@pytest.mark.parametrize("subject, words", [
    ("Hi\r\nBcc: evil@example.com", "a carriage return (CR)"),
    ("Portal down\x0bupdate 2", "a vertical tab (U+000B: how Word pastes a line break)"),
    ("Portal down\u2028update 2", "a line separator (U+2028)"),
])
def test_a_subject_with_a_line_break_is_refused_naming_it(store, frozen_clock, incident,
                                                          la_client, people, subject, words):
    """Issue 18: every line break a reader would break the subject at, refused when queued
    (not at send time), the message naming the character."""
    recipients = resolve_recipients(store, la_client.id, categories=["affected_users"])
    before = counts(store)
    with pytest.raises(ValidationError) as refused:
        queue_message(store, frozen_clock, None, incident=incident, client=la_client,
                      template_type="status_update", templates=templates_for("simple"),
                      recipients=recipients, sender=Sender("Dana", "Harbor IT"),
                      overrides={"simple/email": Rendered(subject, "x", "")})
    assert refused.value.errors["subject"] == (
        f"The simple/email subject has a line break — {words}; a subject must be one line.")
    assert counts(store) == before


def test_an_override_is_used_for_that_variant_only(store, frozen_clock, incident, la_client,
                                                   people):
    recipients = resolve_recipients(store, la_client.id, timing_needs=["immediate"])
    queue_message(store, frozen_clock, None, incident=incident, client=la_client,
                  template_type="status_update", templates=templates_for("simple"),
                  recipients=recipients, sender=Sender("Dana", "Harbor IT"),
                  overrides={"simple/sms": Rendered("", "Edited by hand\n", "")})
    with store.session() as s:
        rows = {d.recipient_name: d for d in s.scalars(select(Delivery))}
    assert rows["Ben"].body_text == "Edited by hand\n"
    assert "Hello Ana," in rows["Ana"].body_text


# ---------------------------------------------------------------- the coordinator's versions

def test_custom_versions_save_revert_and_history(store, frozen_clock, monkeypatch):
    import app.messages.library as lib

    monkeypatch.setattr(lib, "builtin_templates", lambda: {"status_update/simple/sms":
                                                           parse_template(SMS.format(level="simple"))})
    mine = SMS.format(level="simple").replace("Next update", "We will write again at")
    saved = save_custom(store, frozen_clock, mine, key="status_update/simple/sms")
    assert saved.version == 1 and not saved.builtin
    assert "write again" in effective_templates(store)["status_update/simple/sms"].section("text")
    save_custom(store, frozen_clock, mine + "\n", key="status_update/simple/sms")
    assert effective_templates(store)["status_update/simple/sms"].version == 2
    with pytest.raises(TemplateFormatError, match="must keep type, level and channel"):
        save_custom(store, frozen_clock, mine.replace("level: simple", "level: impact"),
                    key="status_update/simple/sms")
    with pytest.raises(TemplateRenderError, match="syntax"):
        save_custom(store, frozen_clock, mine.replace("{{ incident.title }}", "{{ incident.title "),
                    key="status_update/simple/sms")
    assert revert_to_builtin(store, "status_update/simple/sms") == 2
    assert effective_templates(store)["status_update/simple/sms"].builtin
    assert [v for v, _, retired in history(store, "status_update/simple/sms")] == [2, 1]
    assert MAX_TEMPLATE_CHARS == 100_000


def test_the_same_message_a_moment_ago_is_found_and_only_then(store, frozen_clock, incident,
                                                              la_client, people):
    from app.messages.composer import already_sent

    recipients = resolve_recipients(store, la_client.id, timing_needs=["immediate"])
    ids = [r.stakeholder_id for r in recipients.recipients]
    assert already_sent(store, frozen_clock, incident, "status_update", ids) is None
    queued = queue_message(store, frozen_clock, None, incident=incident, client=la_client,
                           template_type="status_update", templates=templates_for("simple"),
                           recipients=recipients, sender=Sender("Dana", "Harbor IT"))
    frozen_clock.advance(minutes=2)
    found = already_sent(store, frozen_clock, incident, "status_update", ids)
    assert (found.message_id, found.minutes_ago, found.names) == (queued.message_id, 2,
                                                                  ("Ana", "Ben"))
    # only the people both reach are named; someone new alone is not a repeat
    assert already_sent(store, frozen_clock, incident, "status_update", ids[:1]).names == ("Ana",)
    assert already_sent(store, frozen_clock, incident, "status_update", [99]) is None
    # another type, new facts, or long ago: not a repeat
    assert already_sent(store, frozen_clock, incident, "initial_acknowledgment", ids) is None
    changed = replace(incident, facts=replace(incident.facts, status="Restored"))
    assert already_sent(store, frozen_clock, changed, "status_update", ids) is None
    frozen_clock.advance(minutes=14)
    assert already_sent(store, frozen_clock, incident, "status_update", ids) is None
    # cancelled deliveries reached no one
    frozen_clock.advance(minutes=-14)
    with store.session() as s, s.begin():
        s.execute(Delivery.__table__.update().where(
            Delivery.__table__.c.message_id == queued.message_id).values(state="cancelled"))
    assert already_sent(store, frozen_clock, incident, "status_update", ids) is None
