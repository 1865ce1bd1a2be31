"""The incident chart of the post-incident report: the picture a manager looks at first.

Phases as coloured bands along a time axis (in the incident's time zone), every communication as a
tick above them (failed ones in red), escalations as diamonds, cadence due times as small hollow
circles and regulatory deadlines as dashed vertical lines (green met, red missed, orange still
open). Drawn with QPainter on a QImage, so it works headless (offscreen platform); it needs a
QGuiApplication for fonts (`ensure_gui_application`).

Labels are placed greedily in a few rows; a label that fits in none is left out (its mark stays),
so crowded charts thin out instead of overprinting. Thousands of marks cost one QPainter call per
kind: marks are collapsed to one per pixel column first.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor, QFont, QFontMetricsF, QGuiApplication, QImage, QPainter, QPen, QPolygonF,
)

from app.clock import ensure_utc
from app.report_model import ChartData
from app.timefmt import format_duration

# Phase bands: a light fill and a darker ink for the label on it (Okabe–Ito hues, tinted).
PHASE_COLOURS: dict[str, tuple[str, str]] = {
    "detected": ("#f6d2cc", "#8a2b20"),
    "investigating": ("#fbe2b0", "#6e4700"),
    "responding": ("#cfe2f5", "#0b4f86"),
    "resolved": ("#cfeedb", "#1d6537"),
    "closed": ("#e1e4e8", "#3d444d"),
}
_UNKNOWN_PHASE = ("#e8e8e8", "#444444")

MESSAGE = QColor("#24527a")
FAILED = QColor("#c62828")
DUE = QColor("#6b7480")
ESCALATION = QColor("#7b1fa2")
DEADLINE_MET = QColor("#2e7d32")
DEADLINE_MISSED = QColor("#c62828")
DEADLINE_OPEN = QColor("#d9730d")
TEXT = QColor("#1f2328")
TEXT_SOFT = QColor("#57606a")
GRID = QColor("#e9ecef")
RULE = QColor("#c9ced4")
BACKGROUND = QColor("#ffffff")

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


def phase_colour(phase: str) -> QColor:
    return QColor(PHASE_COLOURS.get(phase, _UNKNOWN_PHASE)[0])


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


# ---------------------------------------------------------------- the chart

class _Chart:
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

    def _deadline_colour(self, kind: str, at: datetime) -> QColor:
        if kind == "deadline_met":
            return DEADLINE_MET
        return DEADLINE_MISSED if at <= self.end else DEADLINE_OPEN

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

    # -- drawing
    def paint(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, self.width, self.height), BACKGROUND)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        self._title(p)
        self._grid_and_axis(p)
        self._lane_labels(p)
        self._phases(p)
        self._deadline_lines(p)
        self._phase_labels(p)
        self._messages(p)
        self._escalations(p)
        self._due(p)
        self._deadline_labels(p)
        self._legend(p)

    def _title(self, p: QPainter) -> None:
        s = self.s
        start_local, end_local = self.local(self.start), self.local(self.end)
        zone = start_local.tzname() or ""
        name = getattr(self.tz, "key", "UTC")
        right = f"Times in {name}" + (f" ({zone})" if zone and zone != name else "")
        p.setFont(self.small)
        p.setPen(TEXT_SOFT)
        right_w = self.fm_small.horizontalAdvance(right)
        p.drawText(QRectF(self.width - self.pad - right_w, self.pad, right_w,
                          self.fm_title.height()),
                   int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), right)
        span = format_duration(self.end - self.start)
        when = f"{_short_date(start_local)} {start_local:%H:%M} – "
        when += (f"{end_local:%H:%M}" if end_local.date() == start_local.date()
                 else f"{_short_date(end_local)} {end_local:%H:%M}")
        sub = f"   {when}  ·  {span}"
        room = self.width - 2 * self.pad - right_w - 24 * s
        sub_w = self.fm_small.horizontalAdvance(sub)
        title_w = self.fm_title.horizontalAdvance(self.chart.title)
        with_sub = title_w + sub_w <= room  # the dates give way to the title first
        title = self.fm_title.elidedText(self.chart.title, Qt.TextElideMode.ElideRight, room)
        title_w = self.fm_title.horizontalAdvance(title)
        p.setFont(self.title_font)
        p.setPen(TEXT)
        p.drawText(QRectF(self.pad, self.pad, title_w + 2, self.fm_title.height()),
                   int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), title)
        if with_sub:
            p.setFont(self.small)
            p.setPen(TEXT_SOFT)
            p.drawText(QRectF(self.pad + title_w, self.pad, sub_w + 2, self.fm_title.height()),
                       int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), sub)

    def _grid_and_axis(self, p: QPainter) -> None:
        s = self.s
        label_w = self.fm.horizontalAdvance("00:00") + 34 * s
        max_ticks = max(2, int((self.x1 - self.x0) / label_w))
        step, ticks = axis_ticks(self.start, self.end, self.tz, max_ticks)
        grid_top = self.lane_order[0].top if self.lane_order else self.band.top()
        p.setPen(QPen(GRID, max(1.0, s)))
        p.drawLines([QLineF(self.x(t), grid_top, self.x(t), self.band.top()) for t in ticks])
        # lane separators and the axis line
        p.setPen(QPen(RULE, max(1.0, s)))
        for lane in self.lane_order[1:]:
            p.drawLine(QLineF(self.pad, lane.top, self.x1, lane.top))
        p.drawLine(QLineF(self.x0, self.axis_y, self.x1, self.axis_y))
        tick_len = 7 * s
        p.setPen(QPen(TEXT_SOFT, max(1.0, s)))
        p.drawLines([QLineF(self.x(t), self.axis_y, self.x(t), self.axis_y + tick_len)
                     for t in ticks])
        line = self.fm.height()
        y_time = self.axis_y + tick_len + 2 * s
        previous_date = None
        last_right = float("-inf")
        last_date_right = float("-inf")
        p.setFont(self.font)
        for t in ticks:
            local = self.local(t)
            text = _short_date(local) if step >= 1440 else f"{local:%H:%M}"
            w = self.fm.horizontalAdvance(text)
            cx = self.x(t)
            left = min(max(cx - w / 2, self.x0 - w / 2), self.width - self.pad - w)
            if left >= last_right + 8 * s:
                p.setPen(TEXT)
                p.drawText(QRectF(left, y_time, w + 2, line),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), text)
                last_right = left + w
            if step < 1440 and local.date() != previous_date:
                day = _short_date(local)
                dw = self.fm_small.horizontalAdvance(day)
                dleft = min(max(cx - dw / 2, self.x0 - dw / 2), self.width - self.pad - dw)
                if dleft >= last_date_right + 8 * s:
                    p.setFont(self.small)
                    p.setPen(TEXT_SOFT)
                    p.drawText(QRectF(dleft, y_time + line, dw + 2, line),
                               int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), day)
                    p.setFont(self.font)
                    last_date_right = dleft + dw
                previous_date = local.date()

    def _lane_labels(self, p: QPainter) -> None:
        s = self.s
        p.setFont(self.small)
        p.setPen(TEXT_SOFT)
        room = self.x0 - self.pad - 10 * s
        line = self.fm_small.height()
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for lane in self.lane_order:
            text = self.fm_small.elidedText(lane.label, Qt.TextElideMode.ElideRight, room)
            if lane.key == "messages":  # beside the ticks, not the labels above them
                counts = self._message_counts()
                top = lane.bottom - 6 * s - max(len(counts), 1) * line - (line if counts else 0)
                p.drawText(QRectF(self.pad, top, room, line), flags, text)
                for i, (count, colour) in enumerate(counts, 1):
                    p.setPen(colour)
                    p.drawText(QRectF(self.pad, top + i * line, room, line), flags,
                               self.fm_small.elidedText(count, Qt.TextElideMode.ElideRight,
                                                        room))
                p.setPen(TEXT_SOFT)
            else:
                p.drawText(QRectF(self.pad, lane.top, room, lane.height), flags, text)
        p.drawText(QRectF(self.pad, self.band.top(), room, self.band.height()), flags,
                   "Phase")

    def _message_counts(self) -> list[tuple[str, QColor]]:
        sent = len(self.marks.get("message", []))
        failed = len(self.marks.get("failed", []))
        out = [(f"{sent:,} sent", TEXT_SOFT)] if sent else []
        return out + ([(f"{failed:,} failed", FAILED)] if failed else [])

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

    def _phases(self, p: QPainter) -> None:
        band = self.band
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#f4f5f7"))
        p.drawRect(band)
        for a, b, phase, _text in self.phase_spans:
            p.setBrush(phase_colour(phase))
            p.drawRect(QRectF(self.x(a), band.top(), self.x(b) - self.x(a), band.height()))
        p.setPen(QPen(BACKGROUND, max(1.0, 1.5 * self.s)))  # a thin white seam between phases
        for a, *_rest in self.phase_spans[1:]:
            p.drawLine(QLineF(self.x(a), band.top(), self.x(a), band.bottom()))

    def _phase_labels(self, p: QPainter) -> None:
        """Each band's name (and length, if it fits) on a patch of its own colour, so deadline
        lines crossing the band never cut through the words."""
        s = self.s
        p.setFont(self.font)
        for a, b, phase, text in self.phase_spans:
            if text is None:
                continue
            fill, ink = PHASE_COLOURS.get(phase, _UNKNOWN_PHASE)
            rect = QRectF(self.x(a), self.band.top(), self.x(b) - self.x(a), self.band.height())
            w = self.fm.horizontalAdvance(text)
            p.fillRect(QRectF(rect.center().x() - w / 2 - 5 * s, rect.top() + 4 * s,
                              w + 10 * s, rect.height() - 8 * s), QColor(fill))
            p.setPen(QColor(ink))
            p.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)

    def _pinned(self, at: datetime) -> tuple[float, int]:
        """x of a mark, clamped into the plot; -1/+1 when it lies before/after the chart."""
        if at < self.start:
            return self.x0, -1
        if at > self.end:
            return self.x1, 1
        return self.x(at), 0

    def _deadline_lines(self, p: QPainter) -> None:
        lane = self.lanes.get("deadlines")
        if lane is None:
            return
        s = self.s
        for at, _label, kind in self.deadlines():
            x, side = self._pinned(at)
            pen = QPen(self._deadline_colour(kind, at), max(1.5, 2.2 * s),
                       Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawLine(QLineF(x, lane.top + 2 * s, x, self.band.bottom()))
            if side:
                self._arrow(p, x, lane.bottom - 6 * s, side, self._deadline_colour(kind, at))

    def _arrow(self, p: QPainter, x: float, y: float, side: int, colour: QColor) -> None:
        s = self.s
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        tip = x + side * 9 * s
        p.drawPolygon(QPolygonF([QPointF(tip, y), QPointF(x, y - 6 * s),
                                 QPointF(x, y + 6 * s)]))

    def _when(self, at: datetime) -> str:
        local = self.local(at)
        if local.date() == self.local(self.start).date():
            return f"{local:%H:%M}"
        return f"{_short_date(local)} {local:%H:%M}"

    def _deadline_labels(self, p: QPainter) -> None:
        lane = self.lanes.get("deadlines")
        if lane is None:
            return
        s = self.s
        line = self.fm_small.height()
        rows = LabelRows(2, 10 * s)
        p.setFont(self.small)
        items: list[tuple[float, float, str, QColor]] = []
        before: list[tuple[datetime, str, str]] = []
        after: list[tuple[datetime, str, str]] = []
        for at, label, kind in self.deadlines():
            x, side = self._pinned(at)
            if side:
                (before if side < 0 else after).append((at, label, kind))
                continue
            state = "met" if kind == "deadline_met" else "missed" if at <= self.end else "due"
            text = f"{label} · {state} {self._when(at)}" if label else f"{state} {self._when(at)}"
            w = self.fm_small.horizontalAdvance(text)
            left = x + 5 * s if x + 5 * s + w <= self.x1 else x - 5 * s - w
            items.append((left, w, text, self._deadline_colour(kind, at)))
        # deadlines beyond the chart share one label at its edge: "Later: A due 1 Apr; B …"
        for group, side in ((before, -1), (after, 1)):
            if not group:
                continue
            parts = [f"{'met' if kind == 'deadline_met' else 'due'} {self._when(at)}: "
                     f"{label or 'deadline'}" for at, label, kind in group]
            text = ("Earlier — " if side < 0 else "Later — ") + "; ".join(parts)
            text = self.fm_small.elidedText(text, Qt.TextElideMode.ElideRight,
                                            (self.x1 - self.x0) * 0.9)
            w = self.fm_small.horizontalAdvance(text)
            colour = (DEADLINE_OPEN if any(k == "deadline" for _a, _l, k in group)
                      else DEADLINE_MET)
            left = self.x0 + 14 * s if side < 0 else self.x1 - 14 * s - w
            items.append((left, w, text, colour))
        for left, w, text, colour in sorted(items, key=lambda i: i[0]):
            left = max(left, self.pad)
            row = rows.place(left, left + w)
            if row is None:
                continue
            rect = QRectF(left, lane.top + 3 * s + row * (line + 2 * s), w + 2, line)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(BACKGROUND)
            p.drawRect(rect.adjusted(-3 * s, -2 * s, 3 * s, 2 * s))
            p.setPen(colour)
            p.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                       text)

    @staticmethod
    def _columns(xs: list[float]) -> list[float]:
        """One x per pixel column: 5,000 ticks on 1,200 pixels draw as at most 1,200."""
        return sorted({round(x) for x in xs})

    def _messages(self, p: QPainter) -> None:
        lane = self.lanes["messages"]
        s = self.s
        base = lane.bottom - 6 * s
        top = lane.bottom - 34 * s
        for kind, colour, head in (("message", MESSAGE, 0.0), ("failed", FAILED, 4 * s)):
            xs = [self._pinned(at)[0] for at, _label in self.marks.get(kind, [])]
            if not xs:
                continue
            cols = self._columns(xs)
            p.setPen(QPen(colour, max(1.5, 2.6 * s), Qt.PenStyle.SolidLine,
                          Qt.PenCapStyle.FlatCap))
            p.drawLines([QLineF(x, base, x, top - head) for x in cols])
            if len(cols) <= 400:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(colour)
                r = 4.2 * s
                for x in cols:
                    p.drawEllipse(QPointF(x, top - head), r, r)
        messages = self.marks.get("message", [])
        if not messages or len(messages) > _MAX_LABELLED_MESSAGES:
            return
        line = self.fm_small.height()
        n_rows = max(1, min(4, int((top - 8 * s - lane.top) // line)))
        rows = LabelRows(n_rows, 10 * s)
        p.setFont(self.small)
        p.setPen(TEXT)
        label_bottom = top - 8 * s
        for at, label in self._labelled_messages():
            left, right = self._message_label_span(at, label)
            row = rows.place(left, right)
            if row is None:
                continue
            y = label_bottom - (row + 1) * line  # row 0 nearest the ticks
            p.fillRect(QRectF(left - 2 * s, y, right - left + 4 * s, line), BACKGROUND)
            p.drawText(QRectF(left, y, right - left + 2, line),
                       int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), label)

    def _escalations(self, p: QPainter) -> None:
        lane = self.lanes.get("escalations")
        if lane is None:
            return
        s = self.s
        cy = lane.top + lane.height / 2
        r = 7 * s
        p.setPen(QPen(BACKGROUND, max(1.0, s)))
        p.setBrush(ESCALATION)
        marks = self.marks["escalation"]
        for x in self._columns([self._pinned(at)[0] for at, _label in marks]):
            p.drawPolygon(QPolygonF([QPointF(x, cy - r), QPointF(x + r, cy),
                                     QPointF(x, cy + r), QPointF(x - r, cy)]))
        if len(marks) > _MAX_LABELLED_MESSAGES:
            return
        rows = LabelRows(1, 12 * s)
        p.setFont(self.small)
        p.setPen(ESCALATION.darker(130))
        line = self.fm_small.height()
        xs = sorted(self._pinned(at)[0] for at, _label in marks)
        for at, label in marks:
            if not label:
                continue
            x = self._pinned(at)[0]
            w = self.fm_small.horizontalAdvance(label)
            left = x + r + 4 * s if x + r + 4 * s + w <= self.x1 else x - r - 4 * s - w
            lo, hi = min(left, x) - r - 4 * s, max(left + w, x) + r + 4 * s
            others = bisect_right(xs, hi) - bisect_left(xs, lo)
            if others > 1 or rows.place(min(left, x - r), max(left + w, x + r)) is None:
                continue  # the text would cover another diamond, or another label
            p.fillRect(QRectF(left - 2 * s, cy - line / 2, w + 4 * s, line), BACKGROUND)
            p.drawText(QRectF(left, cy - line / 2, w + 2, line),
                       int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), label)

    def _due(self, p: QPainter) -> None:
        lane = self.lanes.get("due")
        if lane is None:
            return
        s = self.s
        cy = lane.top + lane.height / 2
        r = 5 * s
        p.setPen(QPen(DUE, max(1.2, 1.8 * s)))
        p.setBrush(BACKGROUND)
        for x in self._columns([self._pinned(at)[0] for at, _l in self.marks["due"]]):
            p.drawEllipse(QPointF(x, cy), r, r)

    def _legend(self, p: QPainter) -> None:
        rows = self.legend_rows
        s = self.s
        line = self.fm_small.height()
        p.setFont(self.small)
        for i, row in enumerate(rows):
            y = self.legend_top + i * (line + 6 * s)
            cy = y + line / 2
            for key, text, x in row:
                self._swatch(p, key, x + 10 * s, cy)
                p.setPen(TEXT_SOFT)
                p.drawText(QRectF(x + 26 * s, y, self.fm_small.horizontalAdvance(text) + 2,
                                  line),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)

    def _swatch(self, p: QPainter, key: str, cx: float, cy: float) -> None:
        s = self.s
        if key.startswith("phase:"):
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(phase_colour(key.split(":", 1)[1]))
            p.drawRect(QRectF(cx - 10 * s, cy - 7 * s, 20 * s, 14 * s))
        elif key in ("message", "failed"):
            colour = MESSAGE if key == "message" else FAILED
            p.setPen(QPen(colour, max(1.5, 2.6 * s)))
            p.drawLine(QLineF(cx, cy + 8 * s, cx, cy - 4 * s))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(colour)
            p.drawEllipse(QPointF(cx, cy - 4 * s), 4 * s, 4 * s)
        elif key == "escalation":
            r = 7 * s
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ESCALATION)
            p.drawPolygon(QPolygonF([QPointF(cx, cy - r), QPointF(cx + r, cy),
                                     QPointF(cx, cy + r), QPointF(cx - r, cy)]))
        elif key == "due":
            p.setPen(QPen(DUE, max(1.2, 1.8 * s)))
            p.setBrush(BACKGROUND)
            p.drawEllipse(QPointF(cx, cy), 5 * s, 5 * s)
        else:
            colour = {"deadline_met": DEADLINE_MET, "missed": DEADLINE_MISSED,
                      "open": DEADLINE_OPEN}[key]
            p.setPen(QPen(colour, max(1.5, 2.2 * s), Qt.PenStyle.DashLine))
            p.drawLine(QLineF(cx, cy - 9 * s, cx, cy + 9 * s))


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
    c = _Chart(chart, max(width, 200), max(height, 120))
    c.layout()
    return ChartGeometry(c.x0, c.x1, c.band.top(), c.band.bottom(), c.start, c.end)


def preferred_height(chart: ChartData, width: int = 1400) -> int:
    """The height at which a chart `width` pixels wide has no empty space in its lanes (an
    incident without deadlines or escalations needs less than one with them)."""
    ensure_gui_application()
    c = _Chart(chart, max(width, 200), 100_000)
    c.layout()
    return max(120, math.ceil(max(c.natural_height, 300 * c.s)))


def render_chart(chart: ChartData, width: int = 1400, height: int = 420,
                 pixel_ratio: float = 1.0) -> QImage:
    """The incident chart as an RGB image of width × height (logical) pixels; `pixel_ratio` 2
    draws it at twice the resolution (sharp in print), laid out the same."""
    ensure_gui_application()
    width, height = max(width, 200), max(height, 120)
    ratio = max(1.0, pixel_ratio)
    image = QImage(round(width * ratio), round(height * ratio), QImage.Format.Format_RGB32)
    image.setDevicePixelRatio(ratio)
    image.fill(BACKGROUND)
    c = _Chart(chart, width, height)
    c.layout()
    painter = QPainter(image)
    try:
        c.paint(painter)
    finally:
        painter.end()
    return image


def chart_png(chart: ChartData, width: int = 1400, height: int = 420,
              pixel_ratio: float = 1.0) -> bytes:
    """The incident chart as PNG bytes."""
    image = render_chart(chart, width, height, pixel_ratio)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("the chart could not be encoded as PNG")
    buffer.close()
    return bytes(data.data())


__all__ = ["PHASE_COLOURS", "ChartGeometry", "LabelRows", "axis_ticks", "chart_geometry",
           "chart_png", "ensure_gui_application", "phase_colour", "preferred_height",
           "render_chart"]
