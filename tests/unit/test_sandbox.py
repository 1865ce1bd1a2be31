"""The template sandbox (app/messages/sandbox.py) through the templates that use it: the filters
a coordinator's template relies on (times in the client's zone, lists, minutes until), their
fallbacks, the power and repetition guards at their limits, and the error a template that
cannot render reports. Payloads that must be refused are in tests/unit/test_composer.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from app.messages.sandbox import (
    MAX_EXPONENT, MAX_OUTPUT, MAX_POWER_BITS, MAX_RANGE, TemplateRenderError, compile_section,
    environment, guarded_binop,
)

# 14:05 UTC on a winter Tuesday: 06:05 PST in Los Angeles, 15:05 CET in Paris.
AT = datetime(2026, 3, 3, 14, 5, tzinfo=timezone.utc)
LA = {"client": {"time_zone": "America/Los_Angeles"}}


def render(source: str, **context) -> str:  # type: ignore[no-untyped-def]
    return compile_section(source, False).render(**context)


# ---------------------------------------------------------------- filters

def test_time_datetime_and_date_are_shown_in_the_clients_zone_with_its_abbreviation():
    assert render("{{ at|time }}", at=AT, **LA) == "06:05 PST"
    assert render("{{ at|datetime }}", at=AT, **LA) == "Tue 3 Mar 06:05 PST"
    assert render("{{ at|date }}", at=AT, **LA) == "3 March 2026"
    paris = {"client": {"time_zone": "Europe/Paris"}}
    assert render("{{ at|time }}", at=AT, **paris) == "15:05 CET"


def test_the_date_is_the_clients_day_not_utcs():
    late = datetime(2026, 3, 3, 23, 30, tzinfo=timezone.utc)
    assert render("{{ at|date }}", at=late, **LA) == "3 March 2026"
    assert render("{{ at|date }}", at=late, client={"time_zone": "Asia/Tokyo"}) == "4 March 2026"


def test_a_naive_time_is_taken_as_utc():
    assert render("{{ at|time }}", at=AT.replace(tzinfo=None), **LA) == "06:05 PST"


def test_without_a_client_zone_or_with_an_unknown_one_times_are_shown_in_utc():
    assert render("{{ at|time }}", at=AT) == "14:05 UTC"
    assert render("{{ at|time }}", at=AT, client={}) == "14:05 UTC"
    assert render("{{ at|time }}", at=AT, client={"time_zone": ""}) == "14:05 UTC"
    assert render("{{ at|time }}", at=AT, client={"time_zone": "Mars/Olympus"}) == "14:05 UTC"
    assert render("{{ at|time }}", at=AT, client={"time_zone": "../etc"}) == "14:05 UTC"
    assert render("{{ at|time }}", at=AT, client=None) == "14:05 UTC"


@pytest.mark.parametrize("name", ["time", "datetime", "date"])
def test_a_missing_time_is_shown_as_nothing(name):
    assert render("[{{ at|%s }}]" % name, at=None, **LA) == "[]"


@pytest.mark.parametrize("name", ["time", "datetime", "date"])
def test_a_time_filter_on_something_that_is_not_a_time_says_what_it_got(name):
    with pytest.raises(TypeError, match="expected a date and time, got str"):
        render("{{ at|%s }}" % name, at="14:05", **LA)


def test_minutes_until_counts_whole_minutes_and_never_below_zero():
    assert render("{{ at|minutes_until }}", at=AT + timedelta(minutes=30), now=AT) == "30"
    assert render("{{ at|minutes_until }}", at=AT + timedelta(seconds=89), now=AT) == "1"
    assert render("{{ at|minutes_until }}", at=AT + timedelta(seconds=91), now=AT) == "2"
    assert render("{{ at|minutes_until }}", at=AT, now=AT) == "0"
    assert render("{{ at|minutes_until }}", at=AT - timedelta(hours=1), now=AT) == "0"
    assert render("{{ at|minutes_until }}", at=None, now=AT) == "0"
    naive = (AT + timedelta(minutes=5)).replace(tzinfo=None)
    assert render("{{ at|minutes_until }}", at=naive, now=AT) == "5"


@pytest.mark.parametrize("items, shown", [
    ([], ""), (None, ""), (["Portal"], "Portal"), (["Portal", "Email"], "Portal and Email"),
    (["Portal", "Email", "VPN"], "Portal, Email and VPN"), ([1, 2], "1 and 2"),
])
def test_join_and_writes_a_list_as_people_do(items, shown):
    assert render("{{ items|join_and }}", items=items) == shown


# ---------------------------------------------------------------- range and the guards

def test_range_works_as_usual_up_to_its_limit():
    assert render("{% for i in range(3) %}{{ i }}{% endfor %}") == "012"
    assert render("{{ range(2, 8, 3)|list }}") == "[2, 5]"
    assert render("{{ range(%d)|length }}" % MAX_RANGE) == str(MAX_RANGE)
    with pytest.raises(SecurityError, match=f"limited to {MAX_RANGE:,} items"):
        render("{{ range(%d)|length }}" % (MAX_RANGE + 1))


def test_powers_are_refused_only_past_their_limits():
    assert guarded_binop("**", 2, MAX_EXPONENT) == 2 ** MAX_EXPONENT
    assert guarded_binop("**", 2, -MAX_EXPONENT) == 2 ** -MAX_EXPONENT
    with pytest.raises(SecurityError, match="^exponent too large$"):
        guarded_binop("**", 1, MAX_EXPONENT + 1)
    with pytest.raises(SecurityError, match="^exponent too large$"):
        guarded_binop("**", 2, -(MAX_EXPONENT + 1))
    # the size of an integer power: 64 bits to the power 64 is exactly the limit
    assert MAX_POWER_BITS == 64 * 64
    assert guarded_binop("**", 2 ** 63, 64).bit_length() == 63 * 64 + 1
    with pytest.raises(SecurityError, match="^the result would be too large$"):
        guarded_binop("**", 2 ** 64, 64)
    assert guarded_binop("**", 2.5, 2) == 6.25


def test_nested_powers_that_each_stay_under_the_exponent_limit_are_refused_at_once():
    # ((9**64)**64)**64)**64 alone took 12 s of CPU and 6 MB; one level more never ends
    with pytest.raises(SecurityError, match="^the result would be too large$"):
        render("{{ (((9 ** 64) ** 64) ** 64) ** 64 }}")
    assert render("{{ 9 ** 9 ** 2 }}") == str((9 ** 9) ** 2)  # Jinja2 reads it left to right


def test_repetition_is_refused_only_past_the_output_limit_in_either_order():
    assert len(guarded_binop("*", "ab", MAX_OUTPUT // 2)) == MAX_OUTPUT
    assert len(guarded_binop("*", MAX_OUTPUT // 2, "ab")) == MAX_OUTPUT
    assert len(guarded_binop("*", [0], MAX_OUTPUT)) == MAX_OUTPUT
    for left, right in (("ab", MAX_OUTPUT // 2 + 1), (MAX_OUTPUT + 1, "a"),
                        ((0,), MAX_OUTPUT + 1), (MAX_OUTPUT + 1, [0])):
        with pytest.raises(SecurityError, match="^the result would be too large$"):
            guarded_binop("*", left, right)
    assert guarded_binop("*", 6, 7) == 42


def test_the_sandbox_routes_both_operators_through_the_guard_and_leaves_the_others_alone():
    env = environment(False)
    assert env.intercepted_binops == frozenset(["*", "**"])
    assert env.from_string("{{ 7 - 2 }} {{ 7 // 2 }} {{ 2 * 3 }} {{ 2 ** 3 }}").render() \
        == "5 3 6 8"
    with pytest.raises(SecurityError):
        env.from_string("{{ 'a' * n }}").render(n=MAX_OUTPUT + 1)


def test_the_text_environment_does_not_escape_and_the_html_one_does():
    assert compile_section("{{ x }}", False).render(x="<b>&") == "<b>&"
    assert compile_section("{{ x }}", True).render(x="<b>&") == "&lt;b&gt;&amp;"


def test_an_undefined_variable_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError):
        render("{{ facts.nothing_like_this }}", facts={})


# ---------------------------------------------------------------- the error

def test_a_render_error_names_the_part_and_the_line_when_it_has_one():
    with_line = TemplateRenderError("text", 7, "syntax error: unexpected '}'")
    assert str(with_line) == "text, line 7: syntax error: unexpected '}'"
    assert (with_line.part, with_line.line, with_line.message) \
        == ("text", 7, "syntax error: unexpected '}'")
    assert str(TemplateRenderError("subject", None, "too large")) == "subject: too large"


# ---------------------------------------------------------------- the render budget (issue 18)

def _section(body: str, channel: str = "email"):  # type: ignore[no-untyped-def]
    from app.messages.library import parse_template

    head = f"---\ntype: status_update\nlevel: simple\nchannel: {channel}\ntitle: t\n---\n"
    if channel == "sms":
        return parse_template(f"{head}=== text ===\n{body}\n")
    return parse_template(f"{head}=== subject ===\nS\n=== text ===\n{body}\n"
                          f"=== html ===\n<p>x</p>\n")


def test_a_runaway_loop_stops_by_itself_with_a_reason(monkeypatch):
    """Three loops of 1,000 nested (10⁹ steps; the window froze, memory grew past 900 MB):
    stopped at the loop budget (tests/benchmarks/bench_template_budget.py prints how fast)."""
    from app.messages.composer import render_section
    from app.messages.sandbox import MAX_LOOP_STEPS

    source = _section("{% for a in range(1000) %}{% for b in range(1000) %}"
                      "{% for c in range(1000) %}.{% endfor %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateRenderError) as refused:
        render_section(source, "text", {})
    assert f"too large to render (its loops run more than {MAX_LOOP_STEPS:,} times)" in \
        str(refused.value)
    # a loop over a long string counts too (not only range())
    with pytest.raises(TemplateRenderError, match="too large to render"):
        render_section(_section("{% for a in range(1000) %}{% for ch in 'x' * 150000 %}"
                                "{% endfor %}{% endfor %}"), "text", {})


def test_output_stops_at_the_cap_of_its_channel():
    from app.messages.composer import MAX_EMAIL_OUTPUT, MAX_SMS_OUTPUT, render_section

    fits = render_section(_section("{% for i in range(1000) %}{{ 'x' * 199 }}{% endfor %}"),
                          "text", {})
    assert len(fits) == 199_000 <= MAX_EMAIL_OUTPUT
    with pytest.raises(TemplateRenderError,
                       match=f"longer than {MAX_EMAIL_OUTPUT:,} characters"):
        render_section(_section("{% for i in range(1000) %}{{ 'x' * 201 }}{% endfor %}"),
                       "text", {})
    sms = _section("{{ 'x' * 1601 }}", channel="sms")
    with pytest.raises(TemplateRenderError, match=f"longer than {MAX_SMS_OUTPUT:,} characters"):
        render_section(sms, "text", {})


def test_each_render_has_its_own_budget():
    """Five renders of a quarter of the budget each: never over it (the count is per render)."""
    from app.messages.composer import render_section
    from app.messages.sandbox import MAX_LOOP_STEPS

    loops = _section("{%% for a in range(1000) %%}{%% for b in range(%d) %%}"
                     "{%% endfor %%}{%% endfor %%}ok" % (MAX_LOOP_STEPS // 4 // 1000))
    for _ in range(5):
        assert render_section(loops, "text", {}) == "ok"


def _loops(steps_of_1000: int, extra: int = 0) -> str:
    """`steps_of_1000` loops of 1,000 after one another, then one of `extra` steps: exactly
    steps_of_1000 × 1,000 + extra loop steps, none nested."""
    return ("{% for a in range(1000) %}{% endfor %}" * steps_of_1000
            + ("{%% for a in range(%d) %%}{%% endfor %%}" % extra if extra else "") + "ok")


def test_the_loop_budget_allows_exactly_its_steps_and_refuses_one_more():
    """Counted one per step from zero, refused above MAX_LOOP_STEPS: a render of exactly
    50,000 steps renders, 50,001 is refused (in render_section's budget)."""
    from app.messages.composer import render_section
    from app.messages.sandbox import MAX_LOOP_STEPS

    assert MAX_LOOP_STEPS % 1000 == 0
    full = _section(_loops(MAX_LOOP_STEPS // 1000))
    assert render_section(full, "text", {}) == "ok"
    over = _section(_loops(MAX_LOOP_STEPS // 1000, extra=1))
    with pytest.raises(TemplateRenderError, match="its loops run more than 50,000 times"):
        render_section(over, "text", {})


def test_a_loop_rendered_outside_a_budget_gets_one_of_its_own():
    """The sandbox's environment used directly (no render_budget around it): each loop counts
    from zero on its own — over a string of exactly the budget's length it renders, one
    character more is refused."""
    from app.messages.sandbox import MAX_LOOP_STEPS, TooLarge, environment

    loop = environment(False).from_string("{% for c in text %}{% endfor %}ok")
    assert loop.render(text="x" * MAX_LOOP_STEPS) == "ok"
    with pytest.raises(TooLarge, match="more than 50,000 times"):
        loop.render(text="x" * (MAX_LOOP_STEPS + 1))
