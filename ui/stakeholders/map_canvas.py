"""The stakeholder map's graphics view (MapCanvas): builds the scene from a MapLayout and
handles the mouse (select, double-click, drag a card to another lane with autoscroll), the
keyboard (arrows, Home/End, Enter, Ctrl+Shift+Left/Right, zoom keys), zoom and the lane headers
that stay pinned while scrolling.

It only emits requests: a dropped card snaps back until the owner refreshes the map. Keeping
the headers visible moves nine cached items rather than painting in Python.
"""

from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QPainter, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QApplication, QFrame, QGraphicsPathItem, QGraphicsScene, QGraphicsView, QToolTip, QWidget,
)

from app.domain.dto import StakeholderDTO
from app.domain.enums import Category, TimingNeed
from ui.stakeholders.map_items import (
    SCENE_BG, CardItem, DividerItem, HeaderItem, Theme, label_of, lane_background,
    mark_drop_target, tooltip_text,
)
from ui.stakeholders.map_layout import LANE_INDEX, LANES, MapLayout, lay_out

MIN_ZOOM, MAX_ZOOM, ZOOM_STEP = 0.1, 4.0, 1.25


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
        self.setBackgroundBrush(SCENE_BG)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.viewport().setMouseTracking(True)
        self._theme = Theme(self.font())
        self._layout: MapLayout = lay_out([], False, self._theme.heights)
        self._items: dict[int, CardItem] = {}
        self._headers: list[HeaderItem] = []
        self._backgrounds: list[QGraphicsPathItem] = []
        self._drop_lane: int | None = None
        self._pin_offset = 0.0
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

    def rebuild(self, stakeholders: Iterable[StakeholderDTO], compact: bool) -> None:
        self._end_drag(cancel=True)
        scroll_x = self.horizontalScrollBar().value()
        scroll_y = self.verticalScrollBar().value()
        old_lane = self._layout.where.get(self._selected_id, (None, 0))[0] \
            if self._selected_id is not None else None
        layout = lay_out(stakeholders, compact, self._theme.heights)
        geom = layout.geom

        scene = self.scene()
        self._items = {}
        self._headers = []
        self._backgrounds = []
        self._drop_lane = None
        self._pin_offset = 0.0
        scene.clear()
        self._layout = layout
        theme = self._theme
        add = scene.addItem
        for i, category in enumerate(LANES):
            background = lane_background(geom.lane_rect(i))
            add(background)
            self._backgrounds.append(background)
            header = HeaderItem(category, len(layout.lanes[i]), geom.header_rect(i), theme)
            add(header)
            self._headers.append(header)
            for top, timing, n in layout.dividers[i]:
                add(DividerItem(layout.divider_rect(i, top),
                                label_of(TimingNeed, timing) or "No timing need", n, theme))
            for row, dto in enumerate(layout.lanes[i]):
                card = CardItem(dto, layout.card_rect(i, row), compact, theme)
                add(card)
                self._items[dto.id] = card
        scene.setSceneRect(geom.scene_rect())
        self.horizontalScrollBar().setValue(scroll_x)
        self.verticalScrollBar().setValue(scroll_y)
        if self._selected_id not in self._items:
            self._selected_id = None
        elif self._selected_id is not None:
            card = self._items[self._selected_id]
            card.selected = True
            if layout.where[self._selected_id][0] != old_lane:
                # Moved to another lane (a drop or Ctrl+Shift+arrow): follow it.
                self.ensureVisible(card.rect, 24, 24)
        self._pin_headers()

    # --- queries ------------------------------------------------------------------------------

    @property
    def compact(self) -> bool:
        return self._layout.compact

    def count(self) -> int:
        return len(self._items)

    def lane_ids(self, category: str) -> list[int]:
        return list(self._layout.lane_ids[LANE_INDEX[category]])

    def selected_id(self) -> int | None:
        return self._selected_id

    def card_item(self, stakeholder_id: int) -> CardItem | None:
        return self._items.get(stakeholder_id)

    def to_view(self, scene_rect: QRectF) -> QRectF:
        return self.viewportTransform().mapRect(scene_rect)

    def card_rect(self, stakeholder_id: int) -> QRectF:
        card = self._items.get(stakeholder_id)
        if card is None:
            return QRectF()
        return self.to_view(card.mapRectToScene(card.rect))

    def lane_rect(self, category: str) -> QRectF:
        return self.to_view(self._layout.geom.lane_rect(LANE_INDEX[category]))

    def _id_at(self, view_pos: QPoint) -> int | None:
        pos = self.mapToScene(view_pos)
        return self._layout.id_at(pos.x(), pos.y())

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
        dto = self._layout.dtos[self._selected_id]
        return f"{dto.name} ({label_of(Category, dto.category)})"

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

    def fit_width(self) -> None:
        """Every lane side by side in view (the map then scrolls down, not sideways); never
        larger than life, never below the smallest zoom."""
        rect = self.sceneRect()
        width = self.viewport().width()
        if rect.isEmpty() or width <= 0:
            return
        z = min(1.0, max(MIN_ZOOM, width / rect.width()))
        self.resetTransform()
        self.scale(z, z)
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
        lane = self._layout.where[self._press_id][0]
        card.setPos(self.mapToScene(pos) - self.mapToScene(self._press_pos))
        target = self._layout.geom.lane_at(self.mapToScene(pos).x())
        self._set_drop_target(target if target != lane else None)
        self._drag_target = target

    def _set_drop_target(self, lane: int | None) -> None:
        if lane == self._drop_lane:
            return
        if self._drop_lane is not None:
            mark_drop_target(self._backgrounds[self._drop_lane], False)
        if lane is not None:
            mark_drop_target(self._backgrounds[lane], True)
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
        lane = self._layout.where[sid][0]
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

    def _move_selection(self, key: Qt.Key) -> None:
        if self._selected_id is None:
            first = self._layout.first_id()
            if first is not None:
                self.set_selected(first, notify=True, reveal=True)
            return
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            target = self._layout.neighbour(self._selected_id, 0,
                                            1 if key == Qt.Key.Key_Down else -1)
        else:
            target = self._layout.neighbour(self._selected_id,
                                            1 if key == Qt.Key.Key_Right else -1, 0)
        if target is not None:
            self.set_selected(target, notify=True, reveal=True)

    def _jump(self, first: bool) -> None:
        if self._selected_id is None:
            return
        self.set_selected(self._layout.lane_end(self._selected_id, first), notify=True,
                          reveal=True)

    def _request_neighbour_lane(self, step: int) -> None:
        if self._selected_id is None:
            return
        lane = self._layout.where[self._selected_id][0] + step
        if 0 <= lane < len(LANES):
            self.move_requested.emit(self._selected_id, LANES[lane].value)

    # --- tooltips and the pinned headers ------------------------------------------------------

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            sid = self._id_at(event.pos())
            if sid is not None:
                QToolTip.showText(event.globalPos(), tooltip_text(self._layout.dtos[sid]),
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
        geom = self._layout.geom
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

