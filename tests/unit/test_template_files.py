"""The built-in template library (templates/<type>/<level>.<channel>.j2), checked as files.

Pure Python + Jinja2: the composer is not imported. The file format is parsed here by a small
parser of our own (front matter between `---` lines, then `=== name ===` sections), each section
compiled the way DESIGN.md says the composer will: ImmutableSandboxedEnvironment, StrictUndefined,
autoescape for html only, and the composer's filters stubbed as plain functions.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

TYPES = (
    "initial_acknowledgment",
    "status_update",
    "escalation_notice",
    "resolution_notice",
    "post_incident_summary",
    "regulatory_notification",
)
LEVELS = ("technical", "operational", "impact", "simple")
CHANNELS = ("email", "sms")
SECTIONS = {"email": ["subject", "text", "html"], "sms": ["text"]}
RESOLUTION_TYPES = {"resolution_notice", "post_incident_summary"}
FRONT_MATTER_KEYS = {"type", "level", "channel", "title", "description", "inputs"}
ALL_FILES = [(t, lv, ch) for t in TYPES for lv in LEVELS for ch in CHANNELS]

# GSM 03.38: the basic set (one septet each) and the extension table (escape + char: two).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")
SMS_MAX_SEPTETS = 306  # two concatenated GSM-7 segments
SMS_ONE_SEGMENT = 160

ALLOWED_HTML_TAGS = {"p", "strong", "em", "ul", "li", "table", "tr", "td", "br", "h2", "h3"}
PREMATURE = re.compile(r"\b(resolved|fixed|all clear|restored|back to normal)\b", re.I)
BLAME = re.compile(r"\b(blame\w*|fault|faulty|negligen\w*|mistakes?|careless\w*|human error)\b",
                   re.I)


# --------------------------------------------------------------------------- parsing


class TemplateFile:
    def __init__(self, path: Path, meta: dict, sections: dict[str, str], order: list[str]):
        self.path = path
        self.meta = meta
        self.sections = sections
        self.order = order


def parse(path: Path) -> TemplateFile:
    raw = path.read_text(encoding="utf-8")
    lines = raw.split("\n")
    assert lines[0] == "---", f"{path}: must start with a '---' line"
    end = lines.index("---", 1)
    meta: dict = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        assert sep, f"{path}: front-matter line without 'key: value': {line!r}"
        key, value = key.strip(), value.strip()
        assert key not in meta, f"{path}: duplicate front-matter key {key}"
        meta[key] = json.loads(value) if key == "inputs" else value
    sections: dict[str, str] = {}
    order: list[str] = []
    current: str | None = None
    body: list[str] = []
    marker = re.compile(r"^=== ([a-z]+) ===$")
    for line in lines[end + 1 :]:
        m = marker.match(line)
        if m:
            if current is not None:
                sections[current] = "\n".join(body)
            current, body = m.group(1), []
            assert current not in sections, f"{path}: section {current} twice"
            order.append(current)
        else:
            assert current is not None or not line.strip(), f"{path}: text before a section"
            body.append(line)
    if current is not None:
        sections[current] = "\n".join(body)
    return TemplateFile(path, meta, sections, order)


@lru_cache(maxsize=None)
def load(kind: str, level: str, channel: str) -> TemplateFile:
    return parse(TEMPLATES / kind / f"{level}.{channel}.j2")


# --------------------------------------------------------------------------- environment


def make_filters(tz_name: str, now: datetime) -> dict:
    tz = ZoneInfo(tz_name)

    def local(value: datetime) -> datetime:
        assert isinstance(value, datetime) and value.tzinfo is not None, value
        return value.astimezone(tz)

    def time_(value):
        return local(value).strftime("%H:%M %Z")

    def datetime_(value):
        d = local(value)
        return f"{d:%a} {d.day} {d:%b %H:%M %Z}"

    def date_(value):
        d = local(value)
        return f"{d.day} {d:%B %Y}"

    def join_and(items):
        items = [str(i) for i in items]
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + " and " + items[-1]

    def minutes_until(value):
        return int((value - now).total_seconds() // 60)

    return {"time": time_, "datetime": datetime_, "date": date_, "join_and": join_and,
            "minutes_until": minutes_until}


def make_env(html: bool, filters: dict) -> ImmutableSandboxedEnvironment:
    # Jinja's default whitespace handling (no trim_blocks / lstrip_blocks): the templates'
    # line layout relies on it, as templates/README.md says.
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=html)
    env.filters.update(filters)
    return env


NOW = datetime(2026, 3, 3, 22, 5, tzinfo=timezone.utc)  # 14:05 PST
TZ = "America/Los_Angeles"


def context(tf: TemplateFile, *, full: bool = True, drill: bool = False,
            phase: str = "investigating", realistic: bool = True,
            ask_to_confirm: bool = False) -> dict:
    """full: every optional value set (from the inputs' examples); else None / "" / []."""
    inputs = {i["name"]: (i["example"] if full else "") for i in tf.meta["inputs"]}
    return {
        "incident": {
            "id": 42,
            "title": "Patient portal unavailable" if realistic else
            "Patient portal and online bill pay unavailable for all clinics across the "
            "Puget Sound region since this morning",
            "severity": "SEV2",
            "severity_label": "major",
            "phase": phase,
            "phase_label": phase.capitalize(),
            "detected_at": NOW - timedelta(minutes=25),
            "is_drill": drill,
            "impact_business": full,
            "impact_external": full,
            "impact_regulatory": full,
            "reference": "INC-42",
        },
        "facts": {
            "status": "Portal web servers are healthy; the database connection pool is "
                      "exhausted and the team is recycling it." if full else "",
            "impact": "Patients cannot sign in to book appointments or pay bills online."
            if full else "",
            "affected_services": ["Patient portal", "Online bill pay"] if full else [],
            "eta": NOW + timedelta(minutes=30) if full else None,
            "eta_qualifier": "within 30 minutes" if full else "",
            "workaround": "Book by phone on 206-555-0142." if full else "",
            "next_update_at": NOW + timedelta(minutes=30) if full else None,
        },
        "client": {"name": "Northwind Health", "time_zone": TZ},
        "recipient": {
            "name": "Dana Whitfield",
            "role": "Clinic operations manager" if full else "",
            "category_label": "Business unit",
            "detail_level": tf.meta["level"],
        },
        "sender": {
            "name": "Sam Ortega",
            "organisation": "Harbor IT",
            "contact": "206-555-0110" if full else "",
        },
        "now": NOW,
        "inputs": inputs,
        "ask_to_confirm": ask_to_confirm,
    }


_ENVS: dict[bool, ImmutableSandboxedEnvironment] = {}


@lru_cache(maxsize=None)
def compiled(path: Path, name: str):
    html = name == "html"
    if html not in _ENVS:
        _ENVS[html] = make_env(html, make_filters(TZ, NOW))
    return _ENVS[html].from_string(parse(path).sections[name])


def render_all(tf: TemplateFile, ctx: dict) -> dict[str, str]:
    return {name: compiled(tf.path, name).render(ctx) for name in tf.sections}


def visible(rendered: dict[str, str]) -> str:
    """Everything a reader sees: subject, text, and the html with its tags removed."""
    parts = [rendered.get("subject", ""), rendered.get("text", "")]
    if "html" in rendered:
        parts.append(re.sub(r"<[^>]+>", " ", rendered["html"]))
    return "\n".join(parts)


def septets(text: str) -> int:
    return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)


ids = [f"{t}/{lv}.{ch}" for t, lv, ch in ALL_FILES]


# --------------------------------------------------------------------------- tests


def test_exactly_the_48_template_files_exist():
    found = sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.j2"))
    expected = sorted(f"{t}/{lv}.{ch}.j2" for t, lv, ch in ALL_FILES)
    assert found == expected


@pytest.mark.parametrize("kind,level,channel", ALL_FILES, ids=ids)
def test_front_matter_and_sections(kind, level, channel):
    tf = load(kind, level, channel)
    assert set(tf.meta) == FRONT_MATTER_KEYS
    assert (tf.meta["type"], tf.meta["level"], tf.meta["channel"]) == (kind, level, channel)
    assert tf.meta["title"] and tf.meta["description"].endswith(".")
    assert tf.order == SECTIONS[channel]
    for name, source in tf.sections.items():
        assert source.strip(), f"empty section {name}"
        assert "|safe" not in source.replace(" ", ""), "never mark facts safe"
        assert "<script" not in source.lower()
    inputs = tf.meta["inputs"]
    assert isinstance(inputs, list)
    if kind in {"initial_acknowledgment", "status_update"}:
        assert inputs == []
    names = [i["name"] for i in inputs]
    assert len(names) == len(set(names))
    for item in inputs:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", item["name"])
        assert item["label"] and item["example"]
        assert set(item) <= {"name", "label", "example", "optional"}


@pytest.mark.parametrize("kind", TYPES)
def test_inputs_mean_the_same_in_every_file_of_a_type(kind):
    seen: dict[str, dict] = {}
    for level in LEVELS:
        for channel in CHANNELS:
            for item in load(kind, level, channel).meta["inputs"]:
                assert seen.setdefault(item["name"], item) == item, (level, channel, item)


@pytest.mark.parametrize("kind,level,channel", ALL_FILES, ids=ids)
def test_renders_cleanly_with_full_and_empty_facts(kind, level, channel):
    tf = load(kind, level, channel)
    for full, drill, phase, ask in itertools.product(
            (True, False), (False, True), ("investigating", "responding", "resolved"),
            (False, True)):
        ctx = context(tf, full=full, drill=drill, phase=phase, ask_to_confirm=ask)
        out = render_all(tf, ctx)
        # asked: the request once in each body (email: before the sign-off); else never
        request = "Reply YES to confirm." if channel == "sms" else \
            "Please reply YES to confirm you received this."
        for name in ("text", "html"):
            if name in out:
                assert out[name].count(request) == ask, (name, out[name])
        if ask and channel == "email":
            # its own paragraph, just above the sign-off (the last paragraph, whole)
            before, after = out["text"].split(request, 1)
            assert before.endswith("\n\n"), before[-80:]
            assert after.startswith("\n\n") and "\n\n" not in after[2:], after
            assert "Harbor IT" in after
        for name, text in out.items():
            assert "{{" not in text and "{%" not in text
            assert "[insert" not in text.lower() and "lorem" not in text.lower()
            assert not re.search(r"\bNone\b", text), (name, "a None leaked")
            assert text == text.strip() or name == "html", (name, "stray whitespace")
            assert "\n\n\n" not in text, (name, "double blank line")
            if channel == "sms":
                assert "  " not in text and " ." not in text, text
        view = visible(out)
        assert not BLAME.search(view), BLAME.search(view)
        if channel == "email":
            subject = out["subject"]
            assert "\n" not in subject and len(subject) <= 120, subject
            assert subject.startswith("DRILL - ") == drill
            assert out["text"].startswith("DRILL - ") == drill
            assert ("DRILL" in out["html"].split("</p>")[0]) == drill
        else:
            assert out["text"].startswith("DRILL: ") == drill


@pytest.mark.parametrize("kind,level", [(t, lv) for t in TYPES for lv in LEVELS])
def test_long_titles_keep_subjects_short(kind, level):
    tf = load(kind, level, "email")
    ctx = context(tf, drill=True, realistic=False)
    subject = render_all(tf, ctx)["subject"]
    assert "\n" not in subject and len(subject) <= 120, subject


@pytest.mark.parametrize("kind,level", [(t, lv) for t in TYPES for lv in LEVELS])
def test_sms_is_gsm7_and_at_most_two_segments(kind, level):
    tf = load(kind, level, "sms")
    for drill, full, ask in itertools.product((False, True), (True, False), (False, True)):
        text = render_all(tf, context(tf, full=full, drill=drill, ask_to_confirm=ask))["text"]
        outside = {ch for ch in text if ch not in GSM7_BASIC | GSM7_EXTENSION}
        assert not outside, f"characters outside GSM-7: {outside!r} in {text!r}"
        # asking to confirm adds 22 characters: a long typed reason may then take a third
        assert septets(text) <= SMS_MAX_SEPTETS + (153 if ask else 0), (septets(text), text)
        assert not re.search(r"https?://|www\.", text), "no URLs in SMS"
    # Users and managers get one segment for the messages built from the incident facts alone
    # (an escalation's typed reason and decision, or a regulatory heads-up, may take two).
    if level in {"simple", "operational"} and kind != "regulatory_notification" \
            and not tf.meta["inputs"]:
        text = render_all(tf, context(tf, full=True))["text"]
        assert septets(text) <= SMS_ONE_SEGMENT, (septets(text), text)


@pytest.mark.parametrize("level,channel", [(lv, ch) for lv in LEVELS for ch in CHANNELS])
def test_status_updates_state_the_next_update_time(level, channel):
    tf = load("status_update", level, channel)
    ctx = context(tf, full=True)
    expected = make_filters(TZ, NOW)["time"](ctx["facts"]["next_update_at"])
    for name, text in render_all(tf, ctx).items():
        if name == "subject":
            continue
        assert expected in text, (name, text)
        assert re.search(r"\bnext\b", text, re.I), name
    # Without a scheduled time it still says when the next word will come.
    for name, text in render_all(tf, context(tf, full=False)).items():
        if name != "subject":
            assert re.search(r"\b(update|again)\b", text, re.I), (name, text)


@pytest.mark.parametrize("kind,level,channel",
                         [f for f in ALL_FILES if f[0] not in RESOLUTION_TYPES],
                         ids=[i for i, f in zip(ids, ALL_FILES) if f[0] not in RESOLUTION_TYPES])
def test_no_resolution_claims_before_resolution(kind, level, channel):
    tf = load(kind, level, channel)
    for full in (True, False):
        for phase in ("detected", "investigating", "responding"):
            view = visible(render_all(tf, context(tf, full=full, phase=phase)))
            assert not PREMATURE.search(view), (phase, PREMATURE.search(view))


@pytest.mark.parametrize("kind,level", [(t, lv) for t in RESOLUTION_TYPES for lv in LEVELS])
def test_resolution_messages_say_it_is_resolved(kind, level):
    for channel in CHANNELS:
        tf = load(kind, level, channel)
        view = visible(render_all(tf, context(tf, phase="resolved")))
        assert re.search(r"\b(resolved|restored|working normally)\b", view, re.I), channel


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            assert name == "style", f"only inline styles: <{tag} {name}=...>"
            assert "url(" not in (value or ""), "no external images"


@pytest.mark.parametrize("kind,level", [(t, lv) for t in TYPES for lv in LEVELS])
def test_html_uses_simple_tags_and_escapes_facts(kind, level):
    tf = load(kind, level, "email")
    ctx = context(tf, full=True)
    ctx["facts"]["impact"] = "<b>Clinics & pharmacies</b>"
    ctx["incident"]["title"] = "Portal <down>"
    for item in tf.meta["inputs"]:
        ctx["inputs"][item["name"]] = "<i>typed</i>"
    html = render_all(tf, ctx)["html"]
    parser = _Tags()
    parser.feed(html)
    assert parser.tags <= ALLOWED_HTML_TAGS, parser.tags - ALLOWED_HTML_TAGS
    assert "<b>" not in html and "<i>" not in html and "<down>" not in html


def test_regulatory_notice_carries_gdpr_article_33_3_content():
    tf = load("regulatory_notification", "impact", "email")
    ctx = context(tf, full=True)
    text = render_all(tf, ctx)["text"]
    for name in ("regime", "nature", "data_subject_categories", "approx_data_subjects",
                 "record_categories", "approx_records", "contact_point",
                 "likely_consequences", "measures_taken", "discovered_at_text"):
        assert ctx["inputs"][name] in text, name
    empty = render_all(tf, context(tf, full=False))["text"]
    assert "not yet" in empty.lower()  # phased notification: says what is still to come
    for level in LEVELS:
        sms = load("regulatory_notification", level, "sms")
        assert "not notified by SMS" in sms.meta["description"]
