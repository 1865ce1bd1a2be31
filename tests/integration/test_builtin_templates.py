"""Every built-in template renders for every level against the demo incident, and the linter
finds no error in any of them (warnings such as a two-segment SMS are allowed)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.clock import FrozenClock
from app.demo.seed import ensure_demo
from app.incidents.lifecycle import IncidentService
from app.messages.composer import Sender, build_context, render
from app.messages.library import CHANNELS, LEVELS, TYPES, builtin_templates
from app.messages.lint.linter import LintContext, lint
from app.stakeholders.clients import list_clients
from app.storage import Store

SEED = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    ensure_demo(path, FrozenClock(SEED))
    store = Store.open(path)
    incident = IncidentService(store, FrozenClock(SEED)).list()[0]
    client = next(c for c in list_clients(store) if c.id == incident.client_id)
    yield incident, client
    store.dispose()


def test_all_48_built_ins_exist():
    keys = set(builtin_templates())
    assert keys == {f"{t}/{lvl}/{ch}" for t in TYPES for lvl in LEVELS for ch in CHANNELS}


@pytest.mark.parametrize("template_type", TYPES)
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_renders_against_the_demo_incident_with_no_lint_error(demo, template_type, level,
                                                              channel):
    incident, client = demo
    source = builtin_templates()[f"{template_type}/{level}/{channel}"]
    inputs = {spec.name: spec.example or "" for spec in source.inputs}
    now = SEED
    context = build_context(incident, client, Sender("Dana Brooks", "Harbor IT",
                                                     "incident@harborit.example.com"),
                            now, {"name": "Laura Chen", "role": "IT Operations Manager",
                                  "category_label": "Management", "detail_level": level},
                            inputs)
    out = render(source, context)
    assert out.text.strip()
    if channel == "email":
        assert out.subject and "\n" not in out.subject and out.html.strip()
    findings = lint(out.text, LintContext(channel=channel, detail_level=level,
                                          template_type=template_type, phase=incident.phase.value,
                                          facts=incident.facts, time_zone=client.time_zone,
                                          now=now),
                    subject=out.subject if channel == "email" else None,
                    html=out.html if channel == "email" else None)
    errors = [f"{f.code}: {f.message}" for f in findings if f.severity == "error"]
    assert errors == []
