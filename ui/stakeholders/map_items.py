"""What the stakeholder map paints: the cards, the lane headers, the timing dividers and the lane
backgrounds, with their colours and fonts; also a card's tooltip and the legend's swatches.

Plain QGraphicsItems (no proxy widgets) so 500 people build in a few milliseconds. Few Python
calls per frame, on purpose: cards and headers use DeviceCoordinateCache (painted once, then
blitted while scrolling) and lane backgrounds are C++ path items. Each item is drawn at its
place in the scene (map_layout.py decides where); pos() is only an offset (a dragged card, a
pinned header).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from app.domain.dto import StakeholderDTO
from app.domain.enums import Category, DetailLevel, TimingNeed
from ui.stakeholders.map_layout import CARD_PAD, TextHeights


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
SCENE_BG = QColor("#ffffff")
_LANE_PEN = QPen(_LANE_BORDER, 1)
_DROP_PEN = QPen(_DROP_BORDER, 2, Qt.PenStyle.DashLine)


def label_of(enum_type: type, value: str | None) -> str:
    """An enum value's label; an unknown value spelled out as well as it can be."""
    if not value:
        return ""
    try:
        return enum_type(value).label
    except ValueError:
        return value.replace("_", " ").capitalize()


class Theme:
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
        self.heights = TextHeights(name=self.fm_name.height(), role=self.fm_role.height(),
                                   small=self.fm_small.height(), header=self.fm_header.height())



def _paint_header(painter: QPainter, rect: QRectF, label: str, count: int, theme: Theme,
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


class HeaderItem(QGraphicsItem):
    """A lane's header: label and count; below it a hint when the lane is empty. Moved down
    (setPos) to stay visible while the map scrolls."""

    def __init__(self, category: Category, count: int, rect: QRectF, theme: Theme) -> None:
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


class DividerItem(QGraphicsItem):
    """Compact mode: a small heading where the timing need changes inside a lane."""

    def __init__(self, rect: QRectF, label: str, count: int, theme: Theme) -> None:
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


def lane_background(rect: QRectF) -> QGraphicsPathItem:
    """A lane's rounded background: a C++ path item, so no Python runs when it is painted."""
    path = QPainterPath()
    path.addRoundedRect(rect, 6, 6)
    item = QGraphicsPathItem(path)
    item.setPen(_LANE_PEN)
    item.setBrush(_LANE_BG)
    return item


def mark_drop_target(background: QGraphicsPathItem, on: bool) -> None:
    """A lane's background as the target of a drag (dashed, tinted) or back to usual."""
    background.setPen(_DROP_PEN if on else _LANE_PEN)
    background.setBrush(_DROP_BG if on else _LANE_BG)


class CardItem(QGraphicsItem):
    """One stakeholder. Texts are elided on the first paint, so building 500 costs little."""

    PAD = CARD_PAD
    STRIPE = 6.0

    def __init__(self, dto: StakeholderDTO, rect: QRectF, compact: bool, theme: Theme) -> None:
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
        return name, role, label_of(TimingNeed, dto.timing_need), label_of(DetailLevel,
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
            painter.setBrush(SCENE_BG)
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


def legend_swatch(style: DetailStyle) -> QPixmap:
    """A small card-like swatch of a detail level's colours, for the toolbar's legend."""
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


def tooltip_text(dto: StakeholderDTO) -> str:
    """A card's tooltip (rich text): name, role, category, needs, first contact points."""
    lines = [f"<b>{_esc(dto.name)}</b>" + (" <i>(inactive)</i>" if not dto.active else "")]
    if dto.role:
        lines.append(_esc(dto.role))
    lines.append(f"Category: {_esc(label_of(Category, dto.category))}")
    if dto.timing_need:
        lines.append(f"Timing: {_esc(label_of(TimingNeed, dto.timing_need))}")
    if dto.detail_level:
        lines.append(f"Detail: {_esc(label_of(DetailLevel, dto.detail_level))}")
    for contact in dto.contacts[:3]:
        lines.append(f"{_esc(contact.channel)}: {_esc(contact.address)}")
    if len(dto.contacts) > 3:
        lines.append(f"… and {len(dto.contacts) - 3} more contact points")
    if dto.client_name:
        lines.append(f"<span style='color:#57606a'>{_esc(dto.client_name)}</span>")
    return "<br>".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
