"""The incident chart of the post-incident report: the picture a manager looks at first.

Phases as coloured bands along a time axis (in the incident's time zone), every communication as a
tick above them (failed ones in red), escalations as diamonds, cadence due times as small hollow
circles and regulatory deadlines as dashed vertical lines (green met, red missed, orange still
open). Drawn with QPainter on a QImage, so it works headless (offscreen platform); it needs a
QGuiApplication for fonts (`ensure_gui_application`).

Labels are placed greedily in a few rows; a label that fits in none is left out (its mark stays),
so crowded charts thin out instead of overprinting. Thousands of marks cost one QPainter call per
kind: marks are collapsed to one per pixel column first.

The layout (axis ticks, lanes, label rows, legend rows, `chart_geometry`, `preferred_height`)
lives in ui/reports/chart_layout.py; this module paints it and re-exports its public names.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF

from app.reports.model import ChartData
from app.timefmt import format_duration
from ui.reports.chart_layout import (
    _MAX_LABELLED_MESSAGES, ChartGeometry, LabelRows, _ChartLayout, _short_date, axis_ticks,
    chart_geometry, ensure_gui_application, preferred_height,
)

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


def phase_colour(phase: str) -> QColor:
    return QColor(PHASE_COLOURS.get(phase, _UNKNOWN_PHASE)[0])


# ---------------------------------------------------------------- the chart

class _Chart(_ChartLayout):
    """The laid-out chart (`layout()` first), painted by `paint`."""

    def _deadline_colour(self, kind: str, at: datetime) -> QColor:
        if kind == "deadline_met":
            return DEADLINE_MET
        return DEADLINE_MISSED if at <= self.end else DEADLINE_OPEN

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
