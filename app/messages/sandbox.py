"""The sandbox every template renders in: Jinja2's immutable sandbox with limits on the
operators that can exhaust memory or time and on range(), the filters templates use (times in
the client's zone, lists joined with "and"), and the error a template that cannot render raises.
The template library checks sections here on save; the composer renders with it, each section
within a counted budget (render_budget: loop steps across all loops; the composer caps the
output), so a runaway template stops by itself instead of freezing the window."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clock import ensure_utc
from app.errors import ClarionError


class TemplateRenderError(ClarionError):
    """A template that cannot render: which part, which line (in the template file), why."""

    def __init__(self, part: str, line: int | None, message: str) -> None:
        self.part, self.line, self.message = part, line, message
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")


# ---------------------------------------------------------------- environment and filters

_UTC = ZoneInfo("UTC")


def _zone(context: Any) -> ZoneInfo:
    """The client's zone, or UTC where the client has none or an unknown one (a bad zone name
    shows UTC rather than failing)."""
    name = (context.get("client") or {}).get("time_zone")
    if not name:
        return _UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return _UTC


def _local(context: Any, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a date and time, got {type(value).__name__}")
    return ensure_utc(value).astimezone(_zone(context))


def f_time(context: Any, value: datetime | None) -> str:
    if value is None:
        return ""
    local = _local(context, value)
    return f"{local:%H:%M} {local.tzname()}"


def f_datetime(context: Any, value: datetime | None) -> str:
    if value is None:
        return ""
    local = _local(context, value)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def _f_date(context: Any, value: datetime | None) -> str:
    if value is None:
        return ""
    local = _local(context, value)
    return f"{local.day} {local:%B %Y}"


def _f_minutes_until(context: Any, value: datetime | None) -> int:
    if value is None:
        return 0
    now = context.get("now")
    return max(0, round((ensure_utc(value) - ensure_utc(now)).total_seconds() / 60))


def f_join_and(value: Any) -> str:
    items = [str(v) for v in (value or [])]
    if len(items) <= 1:
        return items[0] if items else ""
    return ", ".join(items[:-1]) + " and " + items[-1]


FILTERS_HELP: tuple[tuple[str, str], ...] = (
    ("time", "a time in the client's zone: 14:05 PST"),
    ("datetime", "day and time in the client's zone: Tue 3 Mar 14:05 PST"),
    ("date", "a date: 3 March 2026"),
    ("join_and", "a list as “A, B and C”"),
    ("minutes_until", "whole minutes from now until a time"),
)


MAX_OUTPUT = 200_000  # characters one operation may produce; a message is far smaller
MAX_EXPONENT = 64      # the largest exponent a template may use
MAX_POWER_BITS = 4_096  # the largest integer a power may produce (about 1,200 digits)


def guarded_binop(operator: str, left: Any, right: Any) -> Any:
    """`left ** right` or `left * right` as a template computes them, refused (Jinja2's
    SecurityError) where the result could exhaust memory or time: an exponent above
    MAX_EXPONENT, an integer power above MAX_POWER_BITS (nested powers such as
    `((9**64)**64)**64` each stay under the exponent limit), a repeated string or list longer
    than MAX_OUTPUT. Jinja2's sandbox itself only guards attribute access and range()."""
    from jinja2.exceptions import SecurityError

    if operator == "**":
        if isinstance(right, int) and abs(right) > MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if isinstance(left, int) and isinstance(right, int) \
                and left.bit_length() * abs(right) > MAX_POWER_BITS:
            raise SecurityError("the result would be too large")
        return left ** right
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) \
                and len(seq) * count > MAX_OUTPUT:
            raise SecurityError("the result would be too large")
    return left * right


@lru_cache(maxsize=1)
def _sandbox_class():  # type: ignore[no-untyped-def]
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from jinja2 import nodes

    class ClarionSandbox(ImmutableSandboxedEnvironment):
        """Jinja2's immutable sandbox, with `*` and `**` computed by guarded_binop, and every
        {% for %} counted against the render's loop budget (its iterable is wrapped, when the
        template is parsed, in a call to `_counted`)."""

        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context, operator, left, right):  # type: ignore[no-untyped-def]
            if operator in self.intercepted_binops:
                return guarded_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def _parse(self, source, name, filename):  # type: ignore[no-untyped-def]
            tree = super()._parse(source, name, filename)
            for loop in tree.find_all(nodes.For):
                loop.iter = nodes.Call(nodes.Name(COUNTED, "load"), [loop.iter], [], None,
                                       None, lineno=loop.lineno)
            return tree

    return ClarionSandbox


MAX_RANGE = 1_000  # a message never needs more; Jinja2's own sandbox allows 100,000
MAX_LOOP_STEPS = 50_000   # loop iterations one render may take, all loops and nestings together
COUNTED = "_counted"      # the global every {% for %} iterates through
_steps: ContextVar[list[int] | None] = ContextVar("template_loop_steps", default=None)


class TooLarge(Exception):
    """A render went over its budget (loop steps, output, memory or depth)."""


@contextmanager
def render_budget() -> Iterator[None]:
    """One render's loop budget (each render_section gets its own)."""
    token = _steps.set([0])
    try:
        yield
    finally:
        _steps.reset(token)


def _counted(iterable: Any) -> Iterator[Any]:
    counter = _steps.get()
    if counter is None:            # rendered outside render_budget(): a budget of its own
        counter = [0]
    for item in iterable:
        counter[0] += 1
        if counter[0] > MAX_LOOP_STEPS:
            raise TooLarge(f"its loops run more than {MAX_LOOP_STEPS:,} times")
        yield item


def _small_range(*args: int) -> range:
    from jinja2.exceptions import SecurityError

    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range() is limited to {MAX_RANGE:,} items in templates")
    return rng


@lru_cache(maxsize=2)
def environment(html: bool):  # type: ignore[no-untyped-def]
    """One sandboxed environment per kind of section; compiled templates are cached."""
    from jinja2 import StrictUndefined, pass_context

    env = _sandbox_class()(undefined=StrictUndefined, autoescape=html,
                           keep_trailing_newline=False, cache_size=400)
    env.globals["range"] = _small_range
    env.globals[COUNTED] = _counted
    env.filters.update({
        "time": pass_context(f_time), "datetime": pass_context(f_datetime),
        "date": pass_context(_f_date), "minutes_until": pass_context(_f_minutes_until),
        "join_and": f_join_and,
    })
    return env


@lru_cache(maxsize=512)
def compile_section(source: str, html: bool):  # type: ignore[no-untyped-def]
    return environment(html).from_string(source)
