"""Where things go on the incident chart, as pure geometry; ui/reports/chart.py paints it.

The time axis' ticks on local wall-clock boundaries (`axis_ticks`), greedy label rows
(`LabelRows`), and in `_ChartLayout`: the lanes' sizes and the plot's extent, which labels are
worth placing (a run of identical status updates is labelled once a quarter of the width apart;
more than 80 messages get no labels), the legend's rows and marks collapsed to one per pixel
column; and the public `chart_geometry` / `preferred_height`. `axis_ticks`, `LabelRows` and the
other helpers need no Qt; `_ChartLayout` measures text, so it needs fonts and hence a
QGuiApplication (`ensure_gui_application`), but it never paints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontMetricsF, QGuiApplication

from app.clock import ensure_utc
from app.reports.model import ChartData
from app.timefmt import format_duration

# candidate tick steps, in minutes
_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 7 * 1440, 14 * 1440,
          28 * 1440]
_MAX_LABELLED_MESSAGES = 80


def ensure_gui_application() -> QGuiApplication:
    """The running Q(Gui)Application, or a new QGuiApplication (fonts need one)."""
    app = QGuiApplication.instance()
    if app is None:
        app = QGuiApplication(["clarion"])
    return app  # type: ignore[return-value]


# ---------------------------------------------------------------- geometry helpers

@dataclass
class _Lane:
    key: str
    label: str
    top: float = 0.0
    height: float = 0.0

    @property
    def bottom(self) -> float:
        return self.top + self.height


class LabelRows:
    """Greedy label placement: each row remembers where its last label ends."""

    def __init__(self, rows: int, gap: float) -> None:
        self.ends = [float("-inf")] * rows
        self.gap = gap

    def place(self, left: float, right: float) -> int | None:
        for row, end in enumerate(self.ends):
            if left >= end + self.gap:
                self.ends[row] = right
                return row
        return None


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - an unknown zone name shows UTC rather than nothing
        return timezone.utc


def axis_ticks(start: datetime, end: datetime, tz: tzinfo,
               max_ticks: int) -> tuple[int, list[datetime]]:
    """A step in minutes (the smallest of 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h, 1, 2 days,
    1, 2, 4 weeks giving at most `max_ticks`) and the tick times (UTC) on local wall-clock
    boundaries of `tz`: 09:05, 09:10 … or 06:00, 08:00 … or midnights."""
    span_min = max((end - start).total_seconds() / 60, 1.0)
    step = next((s for s in _STEPS if span_min / s <= max_ticks), _STEPS[-1])
    local_start = start.astimezone(tz).replace(tzinfo=None)
    midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    if step < 1440:
        minutes = local_start.hour * 60 + local_start.minute
        wall = midnight + timedelta(minutes=minutes - minutes % step)
    elif step >= 7 * 1440:
        wall = midnight - timedelta(days=midnight.weekday())  # weeks start on Monday
    else:
        wall = midnight
    ticks: list[datetime] = []
    seen: set[datetime] = set()
    limit = int(span_min / step) + 3
    for _ in range(limit):
        at = wall.replace(tzinfo=tz).astimezone(timezone.utc)
        if at > end:
            break
        if at >= start and at not in seen:
            ticks.append(at)
            seen.add(at)
        wall += timedelta(minutes=step)
    return step, ticks


def _short_date(value: datetime) -> str:
    return f"{value.strftime('%a')} {value.day} {value.strftime('%b')}"


# ---------------------------------------------------------------- the chart's layout

class _ChartLayout:
    """A chart's layout at one size: fonts, lanes, plot extent, label and legend placement.
    ui/reports/chart.py's `_Chart` paints it."""

    def __init__(self, chart: ChartData, width: int, height: int) -> None:
        self.chart = chart
        self.width, self.height = width, height
        self.tz = _zone(chart.time_zone)
        self.start = ensure_utc(chart.start)
        self.end = ensure_utc(chart.end)
        if self.end <= self.start:
            self.end = self.start + timedelta(minutes=1)
        self.span = (self.end - self.start).total_seconds()
        # Text keeps its size down to 900 px wide (a chart shown smaller, as in the PDF, gets
        # relatively larger text); it grows beyond 1400 px and shrinks only when space is short.
        self.s = max(0.45, min(max(1.0, width / 1400), width / 900, height / 300))
        self.font = self._font(17)
        self.small = self._font(15)
        self.title_font = self._font(21, bold=True)
        self.fm = QFontMetricsF(self.font)
        self.fm_small = QFontMetricsF(self.small)
        self.fm_title = QFontMetricsF(self.title_font)
        self.marks: dict[str, list[tuple[datetime, str]]] = {}
        for m in chart.marks:
            self.marks.setdefault(m.kind, []).append((ensure_utc(m.at), m.label))
        for values in self.marks.values():
            values.sort(key=lambda v: v[0])

    def _font(self, px: float, bold: bool = False) -> QFont:
        f = QFont()
        f.setFamilies(["DejaVu Sans", "Noto Sans", "Segoe UI", "Helvetica Neue", "Arial"])
        f.setPixelSize(max(8, round(px * self.s)))
        f.setBold(bold)
        return f

    def x(self, at: datetime) -> float:
        return self.x0 + (at - self.start).total_seconds() / self.span * (self.x1 - self.x0)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    # -- layout
    def layout(self) -> None:
        s = self.s
        self.pad = 14 * s
        self.x0 = 150 * s
        self.x1 = self.width - 26 * s
        line = self.fm.height()
        small_line = self.fm_small.height()
        self.title_bottom = self.pad + self.fm_title.height()
        self.phase_spans = self._phase_spans()
        self.legend_items = self._legend_items()
        self.legend_rows = self._legend_layout()
        legend_h = len(self.legend_rows) * (small_line + 6 * s)
        axis_h = 10 * s + 2 * line + 4 * s
        band_h = max(34 * s, line + 16 * s)
        lanes: list[_Lane] = []
        if self.deadlines():
            lanes.append(_Lane("deadlines", "Deadlines", height=2 * small_line + 10 * s))
        label_rows = max(2, self._message_label_rows(3))
        lanes.append(_Lane("messages", "Messages",
                           height=label_rows * small_line + 44 * s))
        if self.marks.get("escalation"):
            lanes.append(_Lane("escalations", "Escalations", height=small_line + 14 * s))
        if self.marks.get("due"):
            lanes.append(_Lane("due", "Updates due", height=max(26 * s, small_line + 6 * s)))
        top = self.title_bottom + 12 * s
        bottom = self.height - self.pad - legend_h - 10 * s - axis_h - band_h
        fixed = sum(lane.height for lane in lanes)
        self.natural_height = self.height - (bottom - top - fixed)
        extra = max(0.0, bottom - top - fixed)
        y = top
        for lane in lanes:
            if lane.key == "messages":
                lane.height += extra
            lane.top = y
            y += lane.height
        self.lanes = {lane.key: lane for lane in lanes}
        self.lane_order = lanes
        self.band = QRectF(self.x0, y + 4 * s, self.x1 - self.x0, band_h - 4 * s)
        self.axis_y = self.band.bottom()
        self.legend_top = self.height - self.pad - legend_h

    def _message_label_rows(self, most: int) -> int:
        """How many rows of labels the messages need (a dry run of the placement)."""
        messages = self.marks.get("message", [])
        if len(messages) > _MAX_LABELLED_MESSAGES:
            return 0
        rows = LabelRows(most, 10 * self.s)
        used = -1
        for at, label in self._labelled_messages():
            left, right = self._message_label_span(at, label)
            row = rows.place(left, right)
            used = max(used, row if row is not None else -1)
        return used + 1

    def _labelled_messages(self) -> list[tuple[datetime, str]]:
        """The messages worth a label: the same label again (a run of status updates) only
        once a quarter of the chart's width further on."""
        out: list[tuple[datetime, str]] = []
        last_x: dict[str, float] = {}
        for at, label in self.marks.get("message", []):
            if not label:
                continue
            x = self._pinned(at)[0]
            if label in last_x and x - last_x[label] < (self.x1 - self.x0) / 4:
                continue
            last_x[label] = x
            out.append((at, label))
        return out

    def _message_label_span(self, at: datetime, label: str) -> tuple[float, float]:
        x = self._pinned(at)[0]
        w = self.fm_small.horizontalAdvance(label)
        left = x - 4 * self.s if x + w <= self.x1 else x - w + 4 * self.s
        return left, left + w

    def deadlines(self) -> list[tuple[datetime, str, str]]:
        out = [(at, label, "deadline_met") for at, label in self.marks.get("deadline_met", [])]
        out += [(at, label, "deadline") for at, label in self.marks.get("deadline", [])]
        return sorted(out)

    def _legend_items(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        for _a, _b, phase, text in self.phase_spans:  # a band too narrow for its name
            if text is None and f"phase:{phase}" not in dict(items):
                items.append((f"phase:{phase}", phase.replace("_", " ").capitalize()))
        if self.marks.get("message"):
            items.append(("message", "Message sent"))
        if self.marks.get("failed"):
            items.append(("failed", "Delivery failed"))
        if self.marks.get("escalation"):
            items.append(("escalation", "Escalation"))
        if self.marks.get("due"):
            items.append(("due", "Update due"))
        kinds = {(kind if kind == "deadline_met" else
                  "missed" if at <= self.end else "open") for at, _l, kind in self.deadlines()}
        if "deadline_met" in kinds:
            items.append(("deadline_met", "Deadline met"))
        if "missed" in kinds:
            items.append(("missed", "Deadline missed"))
        if "open" in kinds:
            items.append(("open", "Deadline open"))
        return items

    def _legend_layout(self) -> list[list[tuple[str, str, float]]]:
        rows: list[list[tuple[str, str, float]]] = [[]]
        x = self.x0
        swatch = 26 * self.s
        for key, text in self.legend_items:
            w = swatch + self.fm_small.horizontalAdvance(text) + 22 * self.s
            if rows[-1] and x + w > self.x1:
                rows.append([])
                x = self.x0
            rows[-1].append((key, text, x))
            x += w
        return rows if rows[0] else []

    def _phase_spans(self) -> list[tuple[datetime, datetime, str, str | None]]:
        """Each phase clipped to the chart, with the label its band has room for (None)."""
        spans: list[tuple[datetime, datetime, str, str | None]] = []
        for ph in self.chart.phases:
            a = max(ensure_utc(ph.start), self.start)
            b = min(ensure_utc(ph.end), self.end)
            if b <= a:
                continue
            name = ph.phase.replace("_", " ").capitalize()
            room = self.x(b) - self.x(a) - 12 * self.s
            text = next((t for t in (f"{name} · {format_duration(b - a)}", name)
                         if self.fm.horizontalAdvance(t) <= room), None)
            spans.append((a, b, ph.phase, text))
        return spans

    def _pinned(self, at: datetime) -> tuple[float, int]:
        """x of a mark, clamped into the plot; -1/+1 when it lies before/after the chart."""
        if at < self.start:
            return self.x0, -1
        if at > self.end:
            return self.x1, 1
        return self.x(at), 0

    def _when(self, at: datetime) -> str:
        local = self.local(at)
        if local.date() == self.local(self.start).date():
            return f"{local:%H:%M}"
        return f"{_short_date(local)} {local:%H:%M}"

    @staticmethod
    def _columns(xs: list[float]) -> list[float]:
        """One x per pixel column: 5,000 ticks on 1,200 pixels draw as at most 1,200."""
        return sorted({round(x) for x in xs})


@dataclass(frozen=True)
class ChartGeometry:
    """Where things are on a chart of a given size (for tests and image maps)."""
    plot_left: float
    plot_right: float
    band_top: float
    band_bottom: float
    start: datetime
    end: datetime

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return self.plot_left + ((ensure_utc(at) - self.start).total_seconds() / span
                                 * (self.plot_right - self.plot_left))


def chart_geometry(chart: ChartData, width: int = 1400, height: int = 420) -> ChartGeometry:
    ensure_gui_application()
    c = _ChartLayout(chart, max(width, 200), max(height, 120))
    c.layout()
    return ChartGeometry(c.x0, c.x1, c.band.top(), c.band.bottom(), c.start, c.end)


def preferred_height(chart: ChartData, width: int = 1400) -> int:
    """The height at which a chart `width` pixels wide has no empty space in its lanes (an
    incident without deadlines or escalations needs less than one with them)."""
    ensure_gui_application()
    c = _ChartLayout(chart, max(width, 200), 100_000)
    c.layout()
    return max(120, math.ceil(max(c.natural_height, 300 * c.s)))


__all__ = ["ChartGeometry", "LabelRows", "axis_ticks", "chart_geometry",
           "ensure_gui_application", "preferred_height"]
