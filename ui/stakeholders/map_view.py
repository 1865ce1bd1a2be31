"""The stakeholder map view: one lane per category, one card per stakeholder.

The picture a coordinator shows in a planning meeting. It only displays StakeholderDTOs and
emits requests; moving a stakeholder to another category is the workspace's job (through the
service, so it can be undone), after which it calls set_stakeholders() again. Until then a
dropped card snaps back to where it was.

This module is the widget the workspace uses: the toolbar (zoom, fit, compact cards, summary,
detail-level legend) above the graphics view, and the public API. The parts: map_layout.py
(where lanes and cards go: pure geometry and order), map_items.py (what is painted: cards, lane
headers, colours) and map_canvas.py (the QGraphicsView: scene, mouse, keyboard, drag, zoom).
Cards have a fixed size in scene units; the view scrolls, zooms (Ctrl+wheel, the buttons,
Ctrl++ / Ctrl+- / Ctrl+0) and switches to one-line compact cards for big maps.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.domain.dto import StakeholderDTO
from app.domain.enums import DetailLevel
from ui.stakeholders.map_canvas import ZOOM_STEP, MapCanvas
from ui.stakeholders.map_items import DETAIL_STYLES, legend_swatch, tooltip_text
from ui.stakeholders.map_layout import LANES
from ui.widgets.forms import named

__all__ = ["COMPACT_THRESHOLD", "StakeholderMapView", "tooltip_text"]

#: Above this many stakeholders the map switches to compact cards by itself.
COMPACT_THRESHOLD = 120


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
            swatch.setPixmap(legend_swatch(DETAIL_STYLES[level.value]))
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
        self._opened_fitted = False   # the first map shown with people in it opens fitted
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
        self._open_fitted()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._open_fitted()

    def _open_fitted(self) -> None:
        """The first time the map is on screen with people in it: if its lanes run past the
        right edge, zoom out until they all show side by side (once: the zoom is the
        coordinator's after that)."""
        if self._opened_fitted or not self._stakeholders or not self.isVisible():
            return
        self._opened_fitted = True
        if self.view.sceneRect().width() * self.view.zoom() > self.view.viewport().width():
            self.view.fit_width()

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
