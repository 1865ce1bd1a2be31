"""Where everything goes on the stakeholder map, in scene units.

One lane per category, in the enum's order; within a lane the cards are sorted by timing need,
then name, and stack from the top (in compact mode under small timing dividers). A MapLayout
answers the questions the view asks of that arrangement: which card is at a point, which lane a
drop lands in, and which card an arrow key moves to.

Pure geometry: nothing here paints or handles events, and QRectF is the only Qt type used. The
text heights that size cards and headers come from the view's fonts (map_items.Theme).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Iterable

from PySide6.QtCore import QRectF

from app.domain.dto import StakeholderDTO
from app.domain.enums import Category, TimingNeed

LANES: list[Category] = list(Category)
LANE_INDEX = {c.value: i for i, c in enumerate(LANES)}
_TIMING_INDEX = {t.value: i for i, t in enumerate(TimingNeed)}

#: The space inside a card around its texts (the card item paints with the same).
CARD_PAD = 7.0


@dataclass(frozen=True)
class TextHeights:
    """The line heights of the map's fonts: card name, role, small texts, lane header."""
    name: float
    role: float
    small: float
    header: float


@dataclass(frozen=True)
class Geometry:
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
    divider_h: float  # compact mode: a timing divider above its cards

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

    def card_x(self, lane: int) -> float:
        return self.lane_x(lane) + self.lane_pad

    def lane_rect(self, lane: int) -> QRectF:
        return QRectF(self.lane_x(lane), self.lane_top, self.lane_w, self.lane_h)

    def header_rect(self, lane: int) -> QRectF:
        return QRectF(self.lane_x(lane), self.lane_top, self.lane_w, self.header_h)

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


def geometry(heights: TextHeights, compact: bool, content_h: float) -> Geometry:
    """Card, header and lane sizes for the fonts' heights; full cards hold name, role and a
    line of tags, compact ones the name only."""
    if compact:
        card_h = math.ceil(heights.name + 6)
        spacing = 3.0
    else:
        card_h = math.ceil(2 * CARD_PAD - 1 + heights.name + heights.role + 4 + heights.small + 3)
        spacing = 6.0
    minimum = 3 * (card_h + spacing) if not compact else 8 * (card_h + spacing)
    return Geometry(card_w=184.0, card_h=float(card_h), spacing=spacing, lane_pad=7.0,
                    gap=6.0, header_h=math.ceil(heights.header + 16), margin=10.0,
                    content_h=max(content_h, minimum), divider_h=math.ceil(heights.small + 6))


def sort_key(dto: StakeholderDTO) -> tuple[int, str, int]:
    """A lane's order: timing need (most urgent first), then name, then id."""
    return (_TIMING_INDEX.get(dto.timing_need or "", len(_TIMING_INDEX)),
            (dto.name or "").casefold(), dto.id)


def stack(lane: list[StakeholderDTO], compact: bool, geom: Geometry
          ) -> tuple[list[float], list[tuple[float, str, int]], float]:
    """Card tops (relative to the lane's first card), the compact mode's timing dividers
    (top, timing value, how many) and the stack's height."""
    tops: list[float] = []
    dividers: list[tuple[float, str, int]] = []
    card_h, spacing = geom.card_h, geom.spacing
    y = 0.0
    timing: str | None = "\0"
    for dto in lane:
        if compact and (dto.timing_need or "") != timing:
            timing = dto.timing_need or ""
            if tops:
                y += 4
            dividers.append((y, timing, 0))
            y += geom.divider_h
        if dividers:
            top, value, n = dividers[-1]
            dividers[-1] = (top, value, n + 1)
        tops.append(y)
        y += card_h + spacing
    return tops, dividers, max(0.0, y - spacing)


@dataclass(frozen=True)
class MapLayout:
    """The stakeholders placed: per lane, in order, with every card's top in scene units."""
    geom: Geometry
    compact: bool
    dtos: dict[int, StakeholderDTO]
    lanes: list[list[StakeholderDTO]]  # per lane, top to bottom
    lane_ids: list[list[int]]
    tops: list[list[float]]  # per lane, each card's top (scene y)
    dividers: list[list[tuple[float, str, int]]]  # per lane: (top in scene y, timing, how many)
    where: dict[int, tuple[int, int]]  # stakeholder id → (lane, row)

    def card_rect(self, lane: int, row: int) -> QRectF:
        g = self.geom
        return QRectF(g.card_x(lane), self.tops[lane][row], g.card_w, g.card_h)

    def divider_rect(self, lane: int, top: float) -> QRectF:
        g = self.geom
        return QRectF(g.card_x(lane), top, g.card_w, g.divider_h)

    def id_at(self, x: float, y: float) -> int | None:
        """The stakeholder whose card is at scene (x, y), if any."""
        lane = self.geom.card_lane_at(x)
        if lane is None:
            return None
        tops = self.tops[lane]
        row = bisect.bisect_right(tops, y) - 1
        if row < 0 or y > tops[row] + self.geom.card_h:
            return None
        return self.lane_ids[lane][row]

    def first_id(self) -> int | None:
        """The top card of the first lane that has one."""
        for ids in self.lane_ids:
            if ids:
                return ids[0]
        return None

    def neighbour(self, stakeholder_id: int, lane_step: int, row_step: int) -> int | None:
        """Where an arrow key goes: `row_step` rows up or down the lane, or `lane_step` lanes
        across (skipping empty lanes) to the same row, or the last if that lane is shorter.
        None at the edge."""
        lane, row = self.where[stakeholder_id]
        if row_step:
            ids = self.lane_ids[lane]
            new_row = row + row_step
            return ids[new_row] if 0 <= new_row < len(ids) else None
        other = lane + lane_step
        while 0 <= other < len(LANES) and not self.lane_ids[other]:
            other += lane_step  # skip empty lanes
        if 0 <= other < len(LANES):
            ids = self.lane_ids[other]
            return ids[min(row, len(ids) - 1)]
        return None

    def lane_end(self, stakeholder_id: int, first: bool) -> int:
        """The first (Home) or last (End) card of the stakeholder's lane."""
        ids = self.lane_ids[self.where[stakeholder_id][0]]
        return ids[0] if first else ids[-1]


def lay_out(stakeholders: Iterable[StakeholderDTO], compact: bool,
            heights: TextHeights) -> MapLayout:
    """Lanes, order and positions; stakeholders of a category this version does not know are
    left out (there is no lane to draw them in)."""
    lanes: list[list[StakeholderDTO]] = [[] for _ in LANES]
    dtos: dict[int, StakeholderDTO] = {}
    for dto in stakeholders:
        lane = LANE_INDEX.get(dto.category)
        if lane is None:
            continue
        lanes[lane].append(dto)
        dtos[dto.id] = dto
    for lane in lanes:
        lane.sort(key=sort_key)
    base = geometry(heights, compact, 0)
    stacks = [stack(lane, compact, base) for lane in lanes]
    geom = geometry(heights, compact, max(s[2] for s in stacks))
    y0 = geom.first_card_y
    lane_ids = [[d.id for d in lane] for lane in lanes]
    return MapLayout(
        geom=geom, compact=compact, dtos=dtos, lanes=lanes, lane_ids=lane_ids,
        tops=[[y0 + top for top in s[0]] for s in stacks],
        dividers=[[(y0 + top, timing, n) for top, timing, n in s[1]] for s in stacks],
        where={sid: (i, row) for i, ids in enumerate(lane_ids) for row, sid in enumerate(ids)})
