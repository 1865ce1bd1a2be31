"""The stakeholder map view: one lane per category, one card per stakeholder.

The picture a coordinator shows in a planning meeting. It only displays StakeholderDTOs and
emits requests; moving a stakeholder to another category is the workspace's job (through the
service, so it can be undone), after which it calls set_stakeholders() again. Until then a
dropped card snaps back to where it was.

Drawn with plain QGraphicsItems (no proxy widgets) so 500 people build in a few milliseconds.
Cards have a fixed size in scene units; the view scrolls, zooms (Ctrl+wheel, the buttons,
Ctrl++ / Ctrl+- / Ctrl+0) and switches to one-line compact cards for big maps.

Few Python calls per frame, on purpose: cards and headers use DeviceCoordinateCache (painted
once, then blitted while scrolling), lane backgrounds are C++ path items, and the lane headers
stay visible while scrolling by moving nine cached items rather than painting in Python.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterable

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor, QFont, QFontMetricsF, QKeyEvent, QKeySequence, QMouseEvent, QPainter,
    QPainterPath, QPen, QPixmap, QResizeEvent, QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication, QFrame, QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView,
    QHBoxLayout, QLabel, QPushButton, QStyleOptionGraphicsItem, QToolTip, QVBoxLayout, QWidget,
)

from app.domain.dto import StakeholderDTO
from app.domain.enums import Category, DetailLevel, TimingNeed
from ui.widgets.forms import named

#: Above this many stakeholders the map switches to compact cards by itself.
COMPACT_THRESHOLD = 120

LANES: list[Category] = list(Category)
_LANE_INDEX = {c.value: i for i, c in enumerate(LANES)}
_TIMING_INDEX = {t.value: i for i, t in enumerate(TimingNeed)}

MIN_ZOOM, MAX_ZOOM, ZOOM_STEP = 0.1, 4.0, 1.25


@dataclass(frozen=True)
class DetailStyle:
    fill: QColor    # light tint: the card background
    stripe: QColor  # the Okabe–Ito colour: left stripe and border
    ink: QColor     # darker shade for the small detail-level word (readable on the tint)


def _style(fill: str, stripe: str, ink: str) -> DetailStyle:
    return DetailStyle(QColor(fill), QColor(stripe), QColor(ink))


# Okabe–Ito (colour-blind safe) hues: blue, bluish green, orange, reddish purple. The level's
# name is also written on every full-size card, so colour is never the only carrier.
DETAIL_STYLES: dict[str, DetailStyle] = {
    DetailLevel.TECHNICAL.value: _style("#dcebf7", "#0072b2", "#00588a"),
    DetailLevel.OPERATIONAL.value: _style("#d9f2e8", "#009e73", "#006a4d"),
    DetailLevel.IMPACT.value: _style("#fcefd2", "#e69f00", "#875c00"),
    DetailLevel.SIMPLE.value: _style("#f5e3ee", "#cc79a7", "#8c3f6b"),
}
_UNKNOWN_STYLE = _style("#eeeeee", "#8a8a8a", "#555555")

# Timing tags: the urgent ones stand out (dark fill), the rest are quiet outlines.
_URGENT_TAGS = {TimingNeed.IMMEDIATE.value: QColor("#1f2328"),
                TimingNeed.RAPID.value: QColor("#57606a")}

_TEXT = QColor("#1f2328")
_TEXT_SOFT = QColor("#4b535c")
_TEXT_HINT = QColor("#6e7781")
_LANE_BG = QColor("#f0f2f5")
_LANE_BORDER = QColor("#d5d9de")
_HEADER_BG = QColor("#dfe3e8")
_DROP_BG = QColor("#dbe9fb")
_DROP_BORDER = QColor("#0b5cad")
_SELECTED = QColor("#0b1f33")
_SCENE_BG = QColor("#ffffff")
_LANE_PEN = QPen(_LANE_BORDER, 1)
_DROP_PEN = QPen(_DROP_BORDER, 2, Qt.PenStyle.DashLine)


def _label(enum_type: type, value: str | None) -> str:
    if not value:
        return ""
    try:
        return enum_type(value).label
    except ValueError:
        return value.replace("_", " ").capitalize()


class _Theme:
    """Fonts and metrics, derived once from the view's font."""

    def __init__(self, base: QFont) -> None:
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        self.name = QFont(base)
        self.name.setBold(True)
        self.role = QFont(base)
        self.small = QFont(base)
        self.small.setPointSizeF(size * 0.85)
        self.italic_small = QFont(self.small)
        self.italic_small.setItalic(True)
        self.header = QFont(base)
        self.header.setBold(True)
        self.header.setPointSizeF(size * 1.1)
        self.count = QFont(self.small)
        self.count.setBold(True)
        self.fm_name = QFontMetricsF(self.name)
        self.fm_role = QFontMetricsF(self.role)
        self.fm_small = QFontMetricsF(self.small)
        self.fm_italic_small = QFontMetricsF(self.italic_small)
        self.fm_header = QFontMetricsF(self.header)
        self.fm_count = QFontMetricsF(self.count)
        self.inactive_suffix = " (inactive)"
        self.inactive_w = self.fm_italic_small.horizontalAdvance(self.inactive_suffix)


@dataclass(frozen=True)
class _Geometry:
    """Where lanes are, in scene units. Lanes are equal columns; within a lane, cards (and in
    compact mode small timing dividers) stack from the top."""
    card_w: float
    card_h: float
    spacing: float
    lane_pad: float
    gap: float
    header_h: float
    margin: float
    content_h: float  # the tallest lane's stack (at least a few cards, so empty lanes are targets)

    @property
    def lane_w(self) -> float:
        return self.card_w + 2 * self.lane_pad

    @property
    def lane_top(self) -> float:
        return self.margin

    @property
    def first_card_y(self) -> float:
        return self.lane_top + self.header_h + self.lane_pad

    @property
    def lane_h(self) -> float:
        return self.header_h + 2 * self.lane_pad + self.content_h

    def lane_x(self, lane: int) -> float:
        return self.margin + lane * (self.lane_w + self.gap)

    def lane_rect(self, lane: int) -> QRectF:
        return QRectF(self.lane_x(lane), self.lane_top, self.lane_w, self.lane_h)

    def scene_rect(self) -> QRectF:
        return QRectF(0, 0, self.lane_x(len(LANES)) - self.gap + self.margin,
                      self.lane_top + self.lane_h + self.margin)

    def lane_at(self, x: float) -> int | None:
        """The lane a drop at scene x lands in (the gaps between lanes belong to the nearer
        lane; outside the outer lanes is nowhere)."""
        step = self.lane_w + self.gap
        lane = math.floor((x - self.margin + self.gap / 2) / step)
        if 0 <= lane < len(LANES):
            return lane
        return None

    def card_lane_at(self, x: float) -> int | None:
        """The lane whose cards span scene x (None between cards' columns)."""
        step = self.lane_w + self.gap
        lane = math.floor((x - self.margin) / step)
        if not 0 <= lane < len(LANES):
            return None
        x_in = x - self.lane_x(lane) - self.lane_pad
        return lane if 0 <= x_in <= self.card_w else None


def _paint_header(painter: QPainter, rect: QRectF, label: str, count: int, theme: _Theme,
                  pinned: bool = False) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_HEADER_BG)
    painter.drawRoundedRect(rect, 6, 6)
    if not pinned:  # square the bottom corners where the header meets the lane
        painter.drawRect(QRectF(rect.left(), rect.bottom() - 6, rect.width(), 6))
    else:
        painter.setPen(QPen(_LANE_BORDER, 1))
        painter.drawLine(rect.bottomLeft() + QPointF(4, 0), rect.bottomRight() - QPointF(4, 0))
    count_text = str(count)
    pill_w = max(22.0, theme.fm_count.horizontalAdvance(count_text) + 12)
    pill_h = theme.fm_count.height() + 4
    pill = QRectF(rect.right() - 8 - pill_w, rect.center().y() - pill_h / 2, pill_w, pill_h)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#57606a") if count else QColor("#a5adb6"))
    painter.drawRoundedRect(pill, pill_h / 2, pill_h / 2)
    painter.setFont(theme.count)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, count_text)
    painter.setFont(theme.header)
    painter.setPen(_TEXT)
    text_rect = QRectF(rect.left() + 10, rect.top(), pill.left() - rect.left() - 16, rect.height())
    text = theme.fm_header.elidedText(label, Qt.TextElideMode.ElideRight, text_rect.width())
    painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


class _HeaderItem(QGraphicsItem):
    """A lane's header: label and count; below it a hint when the lane is empty. Moved down
    (setPos) to stay visible while the map scrolls."""

    def __init__(self, category: Category, count: int, rect: QRectF, theme: _Theme) -> None:
        super().__init__()
        self.category = category
        self.count = count
        self.rect = rect
        self.pinned = False
        self._theme = theme
        self._hint_h = 0.0 if count else 48.0
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(5)

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-1, -1, 1, 1 + self._hint_h)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        _paint_header(painter, self.rect, self.category.label, self.count, self._theme,
                      self.pinned)
        if not self.count:
            painter.setFont(self._theme.small)
            painter.setPen(_TEXT_HINT)
            r = self.rect
            hint = QRectF(r.left() + 8, r.bottom() + 10, r.width() - 16, self._hint_h - 10)
            painter.drawText(hint, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             "No one in this category\n(drop a card here)")


class _DividerItem(QGraphicsItem):
    """Compact mode: a small heading where the timing need changes inside a lane."""

    def __init__(self, rect: QRectF, label: str, count: int, theme: _Theme) -> None:
        super().__init__()
        self._rect = rect
        self._text = f"{label} · {count}"
        self._theme = theme
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        t = self._theme
        r = self._rect
        painter.setFont(t.count)
        painter.setPen(_TEXT_SOFT)
        painter.drawText(r.adjusted(2, 0, 0, -1),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, self._text)
        x = r.left() + 2 + t.fm_count.horizontalAdvance(self._text) + 6
        y = r.bottom() - t.fm_count.height() / 2
        painter.setPen(QPen(_LANE_BORDER, 1))
        painter.drawLine(QPointF(x, y), QPointF(r.right(), y))


def _lane_background(rect: QRectF) -> QGraphicsPathItem:
    path = QPainterPath()
    path.addRoundedRect(rect, 6, 6)
    item = QGraphicsPathItem(path)
    item.setPen(_LANE_PEN)
    item.setBrush(_LANE_BG)
    return item


class _CardItem(QGraphicsItem):
    """One stakeholder. Texts are elided on the first paint, so building 500 costs little."""

    PAD = 7.0
    STRIPE = 6.0

    def __init__(self, dto: StakeholderDTO, rect: QRectF, compact: bool, theme: _Theme) -> None:
        super().__init__()
        self.dto = dto
        self.compact = compact
        self.selected = False
        self.dragging = False
        # The card is drawn at its place in the scene; pos() is only the drag offset.
        self._rect = rect
        self._theme = theme
        self._style = DETAIL_STYLES.get(dto.detail_level or "", _UNKNOWN_STYLE)
        self._texts: tuple[str, str, str, str] | None = None
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @property
    def rect(self) -> QRectF:
        return self._rect

    def boundingRect(self) -> QRectF:
        # Room for the selection ring and the drag shadow.
        return self._rect.adjusted(-3, -3, 6, 6)

    def _elide(self) -> tuple[str, str, str, str]:
        t = self._theme
        dto = self.dto
        stripe = 4.0 if self.compact else self.STRIPE
        avail = self._rect.width() - stripe - 2 * self.PAD
        name_avail = avail - (t.inactive_w if not dto.active else 0)
        name = t.fm_name.elidedText(dto.name or "(no name)", Qt.TextElideMode.ElideRight,
                                    max(20.0, name_avail))
        if self.compact:
            return name, "", "", ""
        role = t.fm_role.elidedText(dto.role or "", Qt.TextElideMode.ElideRight, avail)
        return name, role, _label(TimingNeed, dto.timing_need), _label(DetailLevel,
                                                                        dto.detail_level)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        if self._texts is None:
            self._texts = self._elide()
        name, role, timing, detail = self._texts
        t = self._theme
        r = self._rect
        s = self._style
        compact = self.compact
        radius = 3.0 if compact else 5.0
        stripe_w = 4.0 if compact else self.STRIPE
        if self.dragging:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(0, 0, 0, 60))
            painter.drawRoundedRect(r.translated(4, 4), radius, radius)
        painter.setPen(Qt.PenStyle.NoPen)
        if not self.dto.active:
            # Faded: an opaque white card, then everything at half strength over it.
            painter.setBrush(_SCENE_BG)
            painter.drawRoundedRect(r, radius, radius)
            painter.setOpacity(0.5)
        painter.setPen(QPen(s.stripe, 1))
        painter.setBrush(s.fill)
        painter.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), radius, radius)
        painter.save()
        painter.setClipRect(QRectF(r.left(), r.top(), stripe_w, r.height()),
                            Qt.ClipOperation.IntersectClip)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(s.stripe)
        painter.drawRoundedRect(r, radius, radius)
        painter.restore()
        x = r.left() + stripe_w + self.PAD
        w = r.width() - stripe_w - 2 * self.PAD
        if compact:
            painter.setFont(t.name)
            painter.setPen(_TEXT)
            line = QRectF(x, r.top(), w, r.height())
            painter.drawText(line, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             name)
            if not self.dto.active:
                self._draw_inactive(painter, line, name)
        else:
            y = r.top() + self.PAD - 1
            name_h = t.fm_name.height()
            painter.setFont(t.name)
            painter.setPen(_TEXT)
            line = QRectF(x, y, w, name_h)
            painter.drawText(line, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             name)
            if not self.dto.active:
                self._draw_inactive(painter, line, name)
            y += name_h
            role_h = t.fm_role.height()
            if role:
                painter.setFont(t.role)
                painter.setPen(_TEXT_SOFT)
                painter.drawText(QRectF(x, y, w, role_h),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, role)
            y += role_h + 4
            tag_h = t.fm_small.height() + 3
            painter.setFont(t.small)
            if timing:
                tag_w = t.fm_small.horizontalAdvance(timing) + 12
                tag = QRectF(x, y, tag_w, tag_h)
                urgent = _URGENT_TAGS.get(self.dto.timing_need or "")
                if urgent is not None:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(urgent)
                    painter.drawRoundedRect(tag, tag_h / 2, tag_h / 2)
                    painter.setPen(QColor("#ffffff"))
                else:
                    painter.setPen(QPen(QColor("#8c959f"), 1))
                    painter.setBrush(QColor("#ffffff"))
                    painter.drawRoundedRect(tag.adjusted(0.5, 0.5, -0.5, -0.5), tag_h / 2,
                                            tag_h / 2)
                    painter.setPen(_TEXT)
                painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, timing)
            if detail:
                painter.setPen(s.ink)
                painter.drawText(QRectF(x, y, w, tag_h),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                                 detail)
        if not self.dto.active:
            painter.setOpacity(1.0)
        if self.selected:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(_SELECTED, 2.5))
            painter.drawRoundedRect(r.adjusted(-1.25, -1.25, 1.25, 1.25), radius + 1, radius + 1)

    def _draw_inactive(self, painter: QPainter, line: QRectF, name: str) -> None:
        t = self._theme
        painter.setFont(t.italic_small)
        painter.setPen(_TEXT)
        x = line.left() + t.fm_name.horizontalAdvance(name)
        painter.drawText(QRectF(x, line.top(), t.inactive_w + 2, line.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         t.inactive_suffix)


def tooltip_text(dto: StakeholderDTO) -> str:
    lines = [f"<b>{_esc(dto.name)}</b>" + (" <i>(inactive)</i>" if not dto.active else "")]
    if dto.role:
        lines.append(_esc(dto.role))
    lines.append(f"Category: {_esc(_label(Category, dto.category))}")
    if dto.timing_need:
        lines.append(f"Timing: {_esc(_label(TimingNeed, dto.timing_need))}")
    if dto.detail_level:
        lines.append(f"Detail: {_esc(_label(DetailLevel, dto.detail_level))}")
    for contact in dto.contacts[:3]:
        lines.append(f"{_esc(contact.channel)}: {_esc(contact.address)}")
    if len(dto.contacts) > 3:
        lines.append(f"… and {len(dto.contacts) - 3} more contact points")
    if dto.client_name:
        lines.append(f"<span style='color:#57606a'>{_esc(dto.client_name)}</span>")
    return "<br>".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sort_key(dto: StakeholderDTO) -> tuple[int, str, int]:
    return (_TIMING_INDEX.get(dto.timing_need or "", len(_TIMING_INDEX)),
            (dto.name or "").casefold(), dto.id)


class MapCanvas(QGraphicsView):
    """The graphics view proper: scene building, hit-testing, drag, keyboard, zoom."""

    selected = Signal(int)
    activated = Signal(int)
    move_requested = Signal(int, str)
    zoom_changed = Signal(float)

    AUTOSCROLL_MARGIN = 28
    AUTOSCROLL_STEP = 24

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(_SCENE_BG)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.viewport().setMouseTracking(True)
        self._theme = _Theme(self.font())
        self._dtos: dict[int, StakeholderDTO] = {}
        self._items: dict[int, _CardItem] = {}
        self._headers: list[_HeaderItem] = []
        self._backgrounds: list[QGraphicsPathItem] = []
        self._drop_lane: int | None = None
        self._pin_offset = 0.0
        self._lane_ids: list[list[int]] = [[] for _ in LANES]
        self._where: dict[int, tuple[int, int]] = {}
        self._tops: list[list[float]] = [[] for _ in LANES]
        self._divider_h = math.ceil(self._theme.fm_small.height() + 6)
        self._geom = self._geometry(False, 0)
        self._compact = False
        self._selected_id: int | None = None
        # Drag state: the card pressed, where, and whether it has started moving.
        self._press_id: int | None = None
        self._press_pos = QPoint()
        self._dragging = False
        self._drag_target: int | None = None
        self._last_mouse = QPoint()
        self._autoscroll = QTimer(self)
        self._autoscroll.setInterval(30)
        self._autoscroll.timeout.connect(self._autoscroll_tick)
        self._cursor = Qt.CursorShape.ArrowCursor
        self.verticalScrollBar().valueChanged.connect(self._pin_headers)

    # --- building ---------------------------------------------------------------------------

    def _geometry(self, compact: bool, content_h: float) -> _Geometry:
        t = self._theme
        if compact:
            card_h = math.ceil(t.fm_name.height() + 6)
            spacing = 3.0
        else:
            card_h = math.ceil(2 * _CardItem.PAD - 1 + t.fm_name.height() + t.fm_role.height()
                               + 4 + t.fm_small.height() + 3)
            spacing = 6.0
        minimum = 3 * (card_h + spacing) if not compact else 8 * (card_h + spacing)
        return _Geometry(card_w=184.0, card_h=float(card_h), spacing=spacing, lane_pad=7.0,
                         gap=6.0, header_h=math.ceil(t.fm_header.height() + 16), margin=10.0,
                         content_h=max(content_h, minimum))

    def _stack(self, lane: list[StakeholderDTO], compact: bool, card_h: float,
               spacing: float) -> tuple[list[float], list[tuple[float, str, int]], float]:
        """Card tops (relative to the lane's first card), the compact mode's timing dividers
        (top, timing value, how many) and the stack's height."""
        tops: list[float] = []
        dividers: list[tuple[float, str, int]] = []
        y = 0.0
        timing: str | None = "\0"
        for dto in lane:
            if compact and (dto.timing_need or "") != timing:
                timing = dto.timing_need or ""
                if tops:
                    y += 4
                dividers.append((y, timing, 0))
                y += self._divider_h
            if dividers:
                top, value, n = dividers[-1]
                dividers[-1] = (top, value, n + 1)
            tops.append(y)
            y += card_h + spacing
        return tops, dividers, max(0.0, y - spacing)

    def rebuild(self, stakeholders: Iterable[StakeholderDTO], compact: bool) -> None:
        self._end_drag(cancel=True)
        scroll_x = self.horizontalScrollBar().value()
        scroll_y = self.verticalScrollBar().value()
        lanes: list[list[StakeholderDTO]] = [[] for _ in LANES]
        dtos: dict[int, StakeholderDTO] = {}
        for dto in stakeholders:
            lane = _LANE_INDEX.get(dto.category)
            if lane is None:  # not a category this version knows: nowhere to draw it
                continue
            lanes[lane].append(dto)
            dtos[dto.id] = dto
        for lane in lanes:
            lane.sort(key=_sort_key)
        old_lane = self._where.get(self._selected_id, (None, 0))[0] \
            if self._selected_id is not None else None
        base = self._geometry(compact, 0)
        stacks = [self._stack(lane, compact, base.card_h, base.spacing) for lane in lanes]
        geom = self._geometry(compact, max(stack[2] for stack in stacks))

        scene = self.scene()
        self._items = {}
        self._headers = []
        self._backgrounds = []
        self._drop_lane = None
        self._pin_offset = 0.0
        scene.clear()
        self._dtos = dtos
        self._compact = compact
        self._geom = geom
        self._lane_ids = [[d.id for d in lane] for lane in lanes]
        self._tops = []
        self._where = {}
        theme = self._theme
        add = scene.addItem
        w, h, y0 = geom.card_w, geom.card_h, geom.first_card_y
        for i, category in enumerate(LANES):
            lane_rect = geom.lane_rect(i)
            background = _lane_background(lane_rect)
            add(background)
            self._backgrounds.append(background)
            header = _HeaderItem(category, len(lanes[i]),
                                 QRectF(lane_rect.left(), lane_rect.top(), lane_rect.width(),
                                        geom.header_h), theme)
            add(header)
            self._headers.append(header)
            x = geom.lane_x(i) + geom.lane_pad
            tops, dividers, _height = stacks[i]
            self._tops.append([y0 + top for top in tops])
            for top, timing, n in dividers:
                add(_DividerItem(QRectF(x, y0 + top, w, self._divider_h),
                                 _label(TimingNeed, timing) or "No timing need", n, theme))
            for row, dto in enumerate(lanes[i]):
                card = _CardItem(dto, QRectF(x, y0 + tops[row], w, h), compact, theme)
                add(card)
                self._items[dto.id] = card
                self._where[dto.id] = (i, row)
        scene.setSceneRect(geom.scene_rect())
        self.horizontalScrollBar().setValue(scroll_x)
        self.verticalScrollBar().setValue(scroll_y)
        if self._selected_id not in self._items:
            self._selected_id = None
        elif self._selected_id is not None:
            card = self._items[self._selected_id]
            card.selected = True
            if self._where[self._selected_id][0] != old_lane:
                # Moved to another lane (a drop or Ctrl+Shift+arrow): follow it.
                self.ensureVisible(card.rect, 24, 24)
        self._pin_headers()

    # --- queries ------------------------------------------------------------------------------

    @property
    def compact(self) -> bool:
        return self._compact

    def count(self) -> int:
        return len(self._items)

    def lane_ids(self, category: str) -> list[int]:
        return list(self._lane_ids[_LANE_INDEX[category]])

    def selected_id(self) -> int | None:
        return self._selected_id

    def card_item(self, stakeholder_id: int) -> _CardItem | None:
        return self._items.get(stakeholder_id)

    def to_view(self, scene_rect: QRectF) -> QRectF:
        return self.viewportTransform().mapRect(scene_rect)

    def card_rect(self, stakeholder_id: int) -> QRectF:
        card = self._items.get(stakeholder_id)
        if card is None:
            return QRectF()
        return self.to_view(card.mapRectToScene(card.rect))

    def lane_rect(self, category: str) -> QRectF:
        return self.to_view(self._geom.lane_rect(_LANE_INDEX[category]))

    def _id_at(self, view_pos: QPoint) -> int | None:
        pos = self.mapToScene(view_pos)
        lane = self._geom.card_lane_at(pos.x())
        if lane is None:
            return None
        tops = self._tops[lane]
        row = bisect.bisect_right(tops, pos.y()) - 1
        if row < 0 or pos.y() > tops[row] + self._geom.card_h:
            return None
        return self._lane_ids[lane][row]

    # --- selection ----------------------------------------------------------------------------

    def set_selected(self, stakeholder_id: int | None, *, notify: bool = False,
                     reveal: bool = False) -> None:
        if stakeholder_id is not None and stakeholder_id not in self._items:
            stakeholder_id = None
        if self._selected_id is not None and self._selected_id in self._items:
            self._items[self._selected_id].selected = False
            self._items[self._selected_id].update()
        self._selected_id = stakeholder_id
        if stakeholder_id is not None:
            card = self._items[stakeholder_id]
            card.selected = True
            card.update()
            if reveal:
                self.ensureVisible(card, 24, 24)
            if notify:
                self.selected.emit(stakeholder_id)
        self.viewport().update()

    def selection_text(self) -> str:
        if self._selected_id is None:
            return ""
        dto = self._dtos[self._selected_id]
        return f"{dto.name} ({_label(Category, dto.category)})"

    # --- zoom ---------------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, under_mouse: bool = False) -> None:
        current = self.zoom()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        if abs(target - current) < 1e-6:
            return
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse if under_mouse
                                     else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(target / current, target / current)
        self._pin_headers()
        self.zoom_changed.emit(self.zoom())

    def fit_all(self) -> None:
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        z = self.zoom()
        if not MIN_ZOOM <= z <= MAX_ZOOM:
            self.resetTransform()
            clamped = min(MAX_ZOOM, max(MIN_ZOOM, z))
            self.scale(clamped, clamped)
        self._pin_headers()
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            if steps:
                self.zoom_by(ZOOM_STEP ** steps, under_mouse=True)
            event.accept()
            return
        super().wheelEvent(event)

    # --- mouse: click, double-click, drag to another lane --------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        sid = self._id_at(pos)
        if sid is None:
            self.set_selected(None)
            super().mousePressEvent(event)
            return
        self._press_id = sid
        self._press_pos = pos
        self._dragging = False
        self.set_selected(sid, notify=True)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        self._last_mouse = pos
        if self._press_id is None:
            hovering = self._id_at(pos) is not None
            self._set_cursor(Qt.CursorShape.OpenHandCursor if hovering
                             else Qt.CursorShape.ArrowCursor)
            super().mouseMoveEvent(event)
            return
        if not self._dragging:
            if (pos - self._press_pos).manhattanLength() < QApplication.startDragDistance():
                return
            self._start_drag()
        self._drag_to(pos)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._press_id is None:
            super().mouseReleaseEvent(event)
            return
        pos = event.position().toPoint()
        moved = (pos - self._press_pos).manhattanLength() >= QApplication.startDragDistance()
        if self._dragging or moved:
            if not self._dragging:
                self._start_drag()
            self._drag_to(pos)
            self._end_drag(cancel=False)
        else:
            self._press_id = None
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            sid = self._id_at(event.position().toPoint())
            if sid is not None:
                self._press_id = None
                self.set_selected(sid)
                self.activated.emit(sid)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def _start_drag(self) -> None:
        card = self._items.get(self._press_id) if self._press_id is not None else None
        if card is None:
            self._press_id = None
            return
        self._dragging = True
        card.dragging = True
        card.setZValue(10)  # above the other cards and the pinned headers
        card.update()
        self._set_cursor(Qt.CursorShape.ClosedHandCursor)
        self._autoscroll.start()

    def _drag_to(self, pos: QPoint) -> None:
        if self._press_id is None or not self._dragging:
            return
        self._last_mouse = pos
        card = self._items[self._press_id]
        lane = self._where[self._press_id][0]
        card.setPos(self.mapToScene(pos) - self.mapToScene(self._press_pos))
        target = self._geom.lane_at(self.mapToScene(pos).x())
        self._set_drop_target(target if target != lane else None)
        self._drag_target = target

    def _set_drop_target(self, lane: int | None) -> None:
        if lane == self._drop_lane:
            return
        if self._drop_lane is not None:
            self._backgrounds[self._drop_lane].setPen(_LANE_PEN)
            self._backgrounds[self._drop_lane].setBrush(_LANE_BG)
        if lane is not None:
            self._backgrounds[lane].setPen(_DROP_PEN)
            self._backgrounds[lane].setBrush(_DROP_BG)
        self._drop_lane = lane

    def _end_drag(self, cancel: bool) -> None:
        self._autoscroll.stop()
        sid, target = self._press_id, self._drag_target
        was_dragging = self._dragging
        self._press_id = None
        self._dragging = False
        self._drag_target = None
        if sid is None or not was_dragging or sid not in self._items:
            return
        card = self._items[sid]
        lane = self._where[sid][0]
        # Snap back: the card moves for good only when the workspace refreshes the map.
        card.dragging = False
        card.setZValue(0)
        card.setPos(0, 0)
        card.update()
        self._set_drop_target(None)
        self._set_cursor(Qt.CursorShape.ArrowCursor)
        if not cancel and target is not None and target != lane:
            self.move_requested.emit(sid, LANES[target].value)

    def _autoscroll_tick(self) -> None:
        if not self._dragging:
            self._autoscroll.stop()
            return
        pos, rect = self._last_mouse, self.viewport().rect()
        m, step = self.AUTOSCROLL_MARGIN, self.AUTOSCROLL_STEP
        dx = -step if pos.x() < m else step if pos.x() > rect.width() - m else 0
        dy = -step if pos.y() < m else step if pos.y() > rect.height() - m else 0
        if dx or dy:
            hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
            hbar.setValue(hbar.value() + dx)
            vbar.setValue(vbar.value() + dy)
            # The press point scrolls with the scene, so the card stays under the mouse.
            self._press_pos -= QPoint(dx, dy)
            self._drag_to(pos)

    # --- keyboard -----------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        arrows = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down)
        if key == Qt.Key.Key_Escape and self._dragging:
            self._end_drag(cancel=True)
        elif event.matches(QKeySequence.StandardKey.ZoomIn) or (ctrl and key == Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif event.matches(QKeySequence.StandardKey.ZoomOut):
            self.zoom_by(1 / ZOOM_STEP)
        elif ctrl and key == Qt.Key.Key_0:
            self.fit_all()
        elif ctrl and shift and key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self._request_neighbour_lane(-1 if key == Qt.Key.Key_Left else 1)
        elif key in arrows and not ctrl:
            self._move_selection(key)
        elif key in (Qt.Key.Key_Home, Qt.Key.Key_End) and not ctrl:
            self._jump(first=key == Qt.Key.Key_Home)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._selected_id is not None:
            self.activated.emit(self._selected_id)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _first_card(self) -> int | None:
        for ids in self._lane_ids:
            if ids:
                return ids[0]
        return None

    def _move_selection(self, key: Qt.Key) -> None:
        if self._selected_id is None:
            first = self._first_card()
            if first is not None:
                self.set_selected(first, notify=True, reveal=True)
            return
        lane, row = self._where[self._selected_id]
        target: int | None = None
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            ids = self._lane_ids[lane]
            new_row = row + (1 if key == Qt.Key.Key_Down else -1)
            if 0 <= new_row < len(ids):
                target = ids[new_row]
        else:
            step = 1 if key == Qt.Key.Key_Right else -1
            other = lane + step
            while 0 <= other < len(LANES) and not self._lane_ids[other]:
                other += step  # skip empty lanes
            if 0 <= other < len(LANES):
                ids = self._lane_ids[other]
                target = ids[min(row, len(ids) - 1)]
        if target is not None:
            self.set_selected(target, notify=True, reveal=True)

    def _jump(self, first: bool) -> None:
        if self._selected_id is None:
            return
        ids = self._lane_ids[self._where[self._selected_id][0]]
        self.set_selected(ids[0] if first else ids[-1], notify=True, reveal=True)

    def _request_neighbour_lane(self, step: int) -> None:
        if self._selected_id is None:
            return
        lane = self._where[self._selected_id][0] + step
        if 0 <= lane < len(LANES):
            self.move_requested.emit(self._selected_id, LANES[lane].value)

    # --- tooltips and the pinned headers ------------------------------------------------------

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            sid = self._id_at(event.pos())
            if sid is not None:
                QToolTip.showText(event.globalPos(), tooltip_text(self._dtos[sid]),
                                  self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def _set_cursor(self, shape: Qt.CursorShape) -> None:
        if shape != self._cursor:
            self._cursor = shape
            self.viewport().setCursor(shape)

    def _pin_headers(self, *_args: object) -> None:
        """Keep the lane headers readable while scrolling down a long map."""
        if not self._headers:
            return
        geom = self._geom
        top = self.mapToScene(QPoint(0, 0)).y()
        offset = min(max(0.0, top - geom.lane_top), geom.lane_h - geom.header_h)
        if abs(offset - self._pin_offset) < 0.01:
            return
        pinned = offset > 0
        for header in self._headers:
            header.setPos(0, offset)
            if header.pinned != pinned:
                header.pinned = pinned
                header.update()
        self._pin_offset = offset

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._pin_headers()


def _legend_swatch(style: DetailStyle) -> QPixmap:
    pix = QPixmap(26, 16)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(style.stripe)
    p.drawRoundedRect(QRectF(0, 0, 26, 16), 3, 3)
    p.setBrush(style.fill)
    p.drawRect(QRectF(5, 1, 20, 14))
    p.end()
    return pix


class StakeholderMapView(QWidget):
    """Stakeholders in category lanes; drag (or Ctrl+Shift+Left/Right) asks to recategorise."""

    category_change_requested = Signal(int, str)  # stakeholder id, new category value
    stakeholder_selected = Signal(int)
    stakeholder_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stakeholderMapView")
        self._compact_override: bool | None = None
        self._auto_compact = False

        self.view = named(MapCanvas(), "stakeholderMap", "Stakeholder map")
        self.view.selected.connect(self.stakeholder_selected)
        self.view.activated.connect(self.stakeholder_activated)
        self.view.move_requested.connect(self.category_change_requested)
        self.view.selected.connect(lambda _id: self._describe())

        self.zoom_out_button = named(QPushButton("−"), "zoomOutButton", "Zoom out",
                                     "Zoom out (Ctrl+-)")
        self.zoom_in_button = named(QPushButton("+"), "zoomInButton", "Zoom in",
                                    "Zoom in (Ctrl++; or Ctrl+mouse wheel)")
        self.fit_button = named(QPushButton("Fit"), "fitButton", "Fit the whole map",
                                "Zoom so the whole map fits (Ctrl+0)")
        self.compact_button = named(QPushButton("Compact"), "compactButton", "Compact cards",
                                    "One-line cards (names only), so big maps fit in fewer "
                                    f"screens; automatic above {COMPACT_THRESHOLD} people")
        self.compact_button.setCheckable(True)
        for button in (self.zoom_out_button, self.zoom_in_button):
            button.setFixedWidth(max(32, button.sizeHint().height()))
        self.zoom_label = QLabel("100%")
        self.zoom_label.setObjectName("zoomLabel")
        self.zoom_label.setMinimumWidth(self.zoom_label.fontMetrics().horizontalAdvance("400%")
                                        + 6)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("mapSummaryLabel")

        self.zoom_out_button.clicked.connect(self.zoom_out)
        self.zoom_in_button.clicked.connect(self.zoom_in)
        self.fit_button.clicked.connect(self.fit)
        self.compact_button.toggled.connect(self._compact_toggled)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{round(z * 100)}%"))

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        bar.setSpacing(6)
        bar.addWidget(self.zoom_out_button)
        bar.addWidget(self.zoom_label)
        bar.addWidget(self.zoom_in_button)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.compact_button)
        bar.addSpacing(12)
        bar.addWidget(self.summary_label)
        bar.addStretch(1)
        legend_title = QLabel("Detail level:")
        legend_title.setObjectName("legendTitle")
        bar.addWidget(legend_title)
        self.legend: list[QLabel] = []
        for level in DetailLevel:
            swatch = QLabel()
            swatch.setPixmap(_legend_swatch(DETAIL_STYLES[level.value]))
            swatch.setObjectName(f"legendSwatch_{level.value}")
            swatch.setAccessibleName(f"{level.label} colour")
            text = QLabel(level.label)
            text.setObjectName(f"legend_{level.value}")
            bar.addWidget(swatch)
            bar.addWidget(text)
            bar.addSpacing(6)
            self.legend.append(text)
        faded = QLabel("<span style='color:#8c959f'><i>Faded = inactive</i></span>")
        faded.setObjectName("legendInactive")
        bar.addWidget(faded)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(line)
        layout.addWidget(self.view, 1)
        self._stakeholders: list[StakeholderDTO] = []
        self.set_stakeholders([])

    # --- the API the workspace uses -------------------------------------------------------------

    def set_stakeholders(self, stakeholders: list[StakeholderDTO]) -> None:
        """Full refresh (after any change); keeps zoom, scroll position and selection."""
        self._stakeholders = list(stakeholders)
        auto = len(self._stakeholders) > COMPACT_THRESHOLD
        if auto != self._auto_compact:  # the map changed size class: the automatic choice wins
            self._auto_compact = auto
            self._compact_override = None
        self._rebuild()

    def select(self, stakeholder_id: int | None) -> None:
        """Select (and reveal) a card without emitting stakeholder_selected."""
        self.view.set_selected(stakeholder_id, reveal=True)
        self._describe()

    def zoom_in(self) -> None:
        self.view.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.view.zoom_by(1 / ZOOM_STEP)

    def fit(self) -> None:
        self.view.fit_all()

    def card_rect(self, stakeholder_id: int) -> QRectF:
        """The card's rectangle in the view's viewport coordinates (empty if not shown)."""
        return self.view.card_rect(stakeholder_id)

    def lane_rect(self, category: str) -> QRectF:
        """The whole lane (header and cards) in the view's viewport coordinates."""
        return self.view.lane_rect(category)

    # --- read-only helpers (tests, the workspace) -----------------------------------------------

    def is_compact(self) -> bool:
        return self.view.compact

    def set_compact(self, compact: bool | None) -> None:
        """Force compact (True) or full (False) cards; None returns to the automatic choice."""
        self._compact_override = compact
        self._rebuild()

    def lane_count(self, category: str) -> int:
        return len(self.view.lane_ids(category))

    def lane_ids(self, category: str) -> list[int]:
        """The ids in a lane, top to bottom."""
        return self.view.lane_ids(category)

    def selected_id(self) -> int | None:
        return self.view.selected_id()

    def zoom(self) -> float:
        return self.view.zoom()

    # --- internals --------------------------------------------------------------------------------

    def _compact_toggled(self, checked: bool) -> None:
        if checked != self.view.compact:
            self.set_compact(checked)

    def _rebuild(self) -> None:
        compact = (self._compact_override if self._compact_override is not None
                   else self._auto_compact)
        self.view.rebuild(self._stakeholders, compact)
        self.compact_button.blockSignals(True)
        self.compact_button.setChecked(compact)
        self.compact_button.blockSignals(False)
        shown = self.view.count()
        inactive = sum(1 for d in self._stakeholders if not d.active)
        text = f"{shown} stakeholder{'s' if shown != 1 else ''}"
        if inactive:
            text += f" ({inactive} inactive)"
        self.summary_label.setText(text)
        self._describe()

    def _describe(self) -> None:
        shown = self.view.count()
        parts = [f"{shown} stakeholder{'s' if shown != 1 else ''} shown in "
                 f"{len(LANES)} category lanes"
                 + (" (compact cards)" if self.view.compact else "") + "."]
        selected = self.view.selection_text()
        if selected:
            parts.append(f"Selected: {selected}.")
        parts.append("Arrow keys move between cards, Enter opens, Ctrl+Shift+Left or Right "
                     "moves the selected stakeholder to the neighbouring category.")
        self.view.setAccessibleDescription(" ".join(parts))
