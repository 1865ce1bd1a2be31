"""The stakeholder map view: lanes and counts, drag to another lane (a request, never a move),
click / double-click / keyboard, compact mode at 500 people, zoom, names for assistive tech."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QGraphicsView

from app.domain.dto import ContactPointData, StakeholderDTO
from app.domain.enums import Category, DetailLevel, TimingNeed

CATEGORIES = [c.value for c in Category]
TIMINGS = [t.value for t in TimingNeed]
LEVELS = [d.value for d in DetailLevel]

# 25 people: every category but media has someone (media stays empty, still a drop target).
PER_CATEGORY_25 = {"affected_users": 5, "management": 4, "executives": 2, "customers": 3,
                   "regulators": 1, "media": 0, "it_staff_msp": 5, "business_unit": 3,
                   "compliance_legal": 2}


def person(i: int, category: str, *, name: str | None = None, timing: str | None = None,
           active: bool = True) -> StakeholderDTO:
    return StakeholderDTO(
        id=i, client_id=1, client_name="Northwind Health", name=name or f"Person {i:03d}",
        category=category, role=f"Role of person {i}",
        timing_need=timing or TIMINGS[i % len(TIMINGS)], detail_level=LEVELS[i % len(LEVELS)],
        active=active, contacts=(ContactPointData("email", f"p{i}@example.com"),))


def twenty_five() -> list[StakeholderDTO]:
    out, i = [], 1
    for category, n in PER_CATEGORY_25.items():
        for _ in range(n):
            out.append(person(i, category, active=i != 7))
            i += 1
    return out


def many(n: int) -> list[StakeholderDTO]:
    return [person(i, CATEGORIES[(i * 7) % len(CATEGORIES)]) for i in range(1, n + 1)]


@pytest.fixture
def map_view(qtbot):
    from ui.stakeholders.map_view import StakeholderMapView

    view = StakeholderMapView()
    qtbot.addWidget(view)
    view.resize(1600, 900)
    view.show()
    qtbot.waitExposed(view)
    return view


@pytest.fixture
def map25(map_view):
    map_view.set_stakeholders(twenty_five())
    return map_view


def center(rect) -> QPoint:  # type: ignore[no-untyped-def]
    return rect.center().toPoint()


def drag(qtbot, view, start: QPoint, end: QPoint) -> None:  # type: ignore[no-untyped-def]
    viewport = view.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    middle = QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2)
    qtbot.mouseMove(viewport, pos=middle)
    qtbot.mouseMove(viewport, pos=end)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def card_items(view):  # type: ignore[no-untyped-def]
    from ui.stakeholders.map_items import CardItem as _CardItem

    return [item for item in view.view.scene().items() if isinstance(item, _CardItem)]


def test_every_category_has_a_lane_in_enum_order_with_its_count(map25):
    lefts = []
    for category in CATEGORIES:
        assert map25.lane_count(category) == PER_CATEGORY_25[category]
        rect = map25.lane_rect(category)
        assert rect.width() > 100 and rect.height() > 100, category  # even the empty one
        lefts.append(rect.left())
    assert lefts == sorted(lefts)
    assert map25.view.horizontalScrollBar().value() == 0  # a first fill starts top left
    assert map25.view.verticalScrollBar().value() == 0
    assert len(card_items(map25)) == 25
    for category in CATEGORIES:
        for sid in map25.lane_ids(category):
            assert map25.lane_rect(category).contains(map25.card_rect(sid))


def test_cards_are_sorted_by_timing_need_then_name(map_view):
    people = [person(1, "management", name="Zoe", timing="immediate"),
              person(2, "management", name="adam", timing="rapid"),
              person(3, "management", name="Bea", timing="immediate"),
              person(4, "management", name="Carl", timing="if_needed"),
              person(5, "management", name="Abe", timing="rapid")]
    map_view.set_stakeholders(people)
    assert map_view.lane_ids("management") == [3, 1, 5, 2, 4]
    tops = [map_view.card_rect(i).top() for i in map_view.lane_ids("management")]
    assert tops == sorted(tops)


def test_dragging_a_card_to_another_lane_requests_the_change_once(qtbot, map25):
    sid = map25.lane_ids("affected_users")[1]
    before = map25.card_rect(sid)
    requests: list[tuple[int, str]] = []
    map25.category_change_requested.connect(lambda i, c: requests.append((i, c)))
    with qtbot.waitSignal(map25.category_change_requested, timeout=2000) as blocker:
        drag(qtbot, map25, center(before), center(map25.lane_rect("management")))
    assert blocker.args == [sid, "management"]
    assert requests == [(sid, "management")]
    # The widget does not move the card itself: it snaps back until the workspace refreshes.
    assert map25.card_rect(sid) == before
    assert sid in map25.lane_ids("affected_users")
    assert map25.lane_count("management") == PER_CATEGORY_25["management"]


def test_dropping_into_the_empty_lane_is_a_request_too(qtbot, map25):
    map25.view.horizontalScrollBar().setValue(0)
    sid = map25.lane_ids("regulators")[0]
    target = map25.lane_rect("media")
    assert map25.view.viewport().rect().contains(center(target))
    with qtbot.waitSignal(map25.category_change_requested, timeout=2000) as blocker:
        drag(qtbot, map25, center(map25.card_rect(sid)), center(target))
    assert blocker.args == [sid, "media"]


def test_dropping_into_the_same_lane_requests_nothing(qtbot, map25):
    sid = map25.lane_ids("management")[0]
    start = center(map25.card_rect(sid))
    lane = map25.lane_rect("management")
    end = QPoint(int(lane.center().x()), int(lane.bottom()) - 10)
    with qtbot.assertNotEmitted(map25.category_change_requested):
        drag(qtbot, map25, start, end)
    assert map25.card_rect(sid).center().toPoint() == start


def test_a_refresh_after_the_request_shows_the_card_in_its_new_lane(qtbot, map25):
    people = {p.id: p for p in twenty_five()}

    def workspace(sid: int, category: str) -> None:  # what the workspace does, via the service
        from dataclasses import replace
        people[sid] = replace(people[sid], category=category)
        map25.set_stakeholders(list(people.values()))

    map25.category_change_requested.connect(workspace)
    sid = map25.lane_ids("customers")[0]
    drag(qtbot, map25, center(map25.card_rect(sid)), center(map25.lane_rect("executives")))
    qtbot.waitUntil(lambda: sid in map25.lane_ids("executives"))
    assert map25.lane_count("customers") == PER_CATEGORY_25["customers"] - 1
    assert map25.lane_rect("executives").contains(map25.card_rect(sid))


def test_click_selects_and_double_click_activates(qtbot, map25):
    sid = map25.lane_ids("it_staff_msp")[2]
    pos = center(map25.card_rect(sid))
    viewport = map25.view.viewport()
    with qtbot.waitSignal(map25.stakeholder_selected, timeout=2000) as blocker:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [sid]
    assert map25.selected_id() == sid
    with qtbot.waitSignal(map25.stakeholder_activated, timeout=2000) as blocker:
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [sid]


def test_clicking_empty_space_clears_the_selection_without_requests(qtbot, map25):
    map25.select(map25.lane_ids("management")[0])
    lane = map25.lane_rect("media")
    with qtbot.assertNotEmitted(map25.stakeholder_selected):
        qtbot.mouseClick(map25.view.viewport(), Qt.MouseButton.LeftButton, pos=center(lane))
    assert map25.selected_id() is None


def test_keyboard_moves_the_selection_and_enter_activates(qtbot, map25):
    view = map25.view
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    first = map25.lane_ids("affected_users")
    with qtbot.waitSignal(map25.stakeholder_selected, timeout=2000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Down)  # nothing selected: the first card
    assert blocker.args == [first[0]]
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert map25.selected_id() == first[2]
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert map25.selected_id() == first[1]
    qtbot.keyClick(view, Qt.Key.Key_Right)  # same row, next lane
    assert map25.selected_id() == map25.lane_ids("management")[1]
    qtbot.keyClick(view, Qt.Key.Key_Right)  # executives has 2 people: row kept
    assert map25.selected_id() == map25.lane_ids("executives")[1]
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Right)  # regulators has one: the last row
    assert map25.selected_id() == map25.lane_ids("regulators")[0]
    qtbot.keyClick(view, Qt.Key.Key_Right)  # media is empty: skipped
    assert map25.selected_id() == map25.lane_ids("it_staff_msp")[0]
    with qtbot.waitSignal(map25.stakeholder_activated, timeout=2000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert blocker.args == [map25.lane_ids("it_staff_msp")[0]]


def test_ctrl_shift_arrows_request_the_neighbouring_lane(qtbot, map25):
    view = map25.view
    view.setFocus()
    sid = map25.lane_ids("regulators")[0]
    map25.select(sid)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    with qtbot.waitSignal(map25.category_change_requested, timeout=2000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Right, ctrl_shift)
    assert blocker.args == [sid, "media"]  # an empty lane is a valid target
    with qtbot.waitSignal(map25.category_change_requested, timeout=2000) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Left, ctrl_shift)
    assert blocker.args == [sid, "customers"]
    assert map25.lane_ids("regulators") == [sid]  # still only a request
    map25.select(map25.lane_ids("affected_users")[0])
    with qtbot.assertNotEmitted(map25.category_change_requested):
        qtbot.keyClick(view, Qt.Key.Key_Left, ctrl_shift)  # no lane left of the first


def test_500_people_switch_to_compact_cards_and_all_are_drawn(qtbot, map_view):
    """500 people: compact cards, every one drawn, a map that scrolls and stays clickable.
    (How long set_stakeholders(500) takes is measured by tests/benchmarks/bench_map.py.)"""
    people = many(500)
    map_view.set_stakeholders(people)
    assert map_view.is_compact()
    assert map_view.findChild(QAbstractButton, "compactButton").isChecked()
    assert len(card_items(map_view)) == 500
    assert sum(map_view.lane_count(c) for c in CATEGORIES) == 500
    # Compact cards are short: far more of them per screen than full cards.
    sid = map_view.lane_ids("management")[0]
    compact_h = map_view.card_rect(sid).height()
    map_view.set_compact(False)
    assert map_view.card_rect(sid).height() > 2 * compact_h
    map_view.set_compact(None)
    assert map_view.is_compact()
    # The map scrolls; the view stays usable at the bottom of a long lane.
    bar = map_view.view.verticalScrollBar()
    assert bar.maximum() > 0
    bar.setValue(bar.maximum())
    last = map_view.lane_ids("affected_users")[-1]
    with qtbot.waitSignal(map_view.stakeholder_selected, timeout=2000) as blocker:
        qtbot.mouseClick(map_view.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=center(map_view.card_rect(last)))
    assert blocker.args == [last]


def test_compact_button_toggles_one_line_cards(qtbot, map25):
    button = map25.findChild(QAbstractButton, "compactButton")
    sid = map25.lane_ids("management")[0]
    full = map25.card_rect(sid).height()
    assert not map25.is_compact() and not button.isChecked()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert map25.is_compact() and button.isChecked()
    assert map25.card_rect(sid).height() < full / 2
    map25.set_stakeholders(twenty_five())  # a refresh keeps the coordinator's choice
    assert map25.is_compact()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not map25.is_compact()


def test_refresh_keeps_scroll_zoom_and_selection(qtbot, map_view):
    people = many(300)
    map_view.set_stakeholders(people)
    map_view.zoom_in()
    zoom = map_view.zoom()
    bar, hbar = map_view.view.verticalScrollBar(), map_view.view.horizontalScrollBar()
    bar.setValue(bar.maximum() // 2)
    hbar.setValue(hbar.maximum() // 3)
    value, hvalue = bar.value(), hbar.value()
    assert value > 0 and hvalue > 0
    sid = map_view.lane_ids("customers")[3]
    map_view.select(sid)
    bar.setValue(value)
    hbar.setValue(hvalue)
    map_view.set_stakeholders(people)
    assert map_view.zoom() == pytest.approx(zoom)
    assert (bar.value(), hbar.value()) == (value, hvalue)
    assert map_view.selected_id() == sid
    map_view.set_stakeholders([p for p in people if p.id != sid])
    assert map_view.selected_id() is None


def test_zoom_buttons_fit_and_ctrl_wheel(qtbot, map25):
    zoom_in = map25.findChild(QAbstractButton, "zoomInButton")
    zoom_out = map25.findChild(QAbstractButton, "zoomOutButton")
    fit = map25.findChild(QAbstractButton, "fitButton")
    opened = map25.zoom()        # nine lanes are wider than 1600 px: it opened fitted
    assert opened < 1.0
    qtbot.mouseClick(zoom_in, Qt.MouseButton.LeftButton)
    assert map25.zoom() > opened
    qtbot.mouseClick(zoom_out, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(zoom_out, Qt.MouseButton.LeftButton)
    assert map25.zoom() < opened
    qtbot.mouseClick(fit, Qt.MouseButton.LeftButton)
    viewport = map25.view.viewport().rect()
    for category in CATEGORIES:  # everything visible at once
        rect = map25.lane_rect(category).toAlignedRect()
        assert viewport.adjusted(-1, -1, 1, 1).contains(rect), category
    before = map25.zoom()
    pos = QPointF(200, 200)
    event = QWheelEvent(pos, map25.view.viewport().mapToGlobal(pos), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(map25.view.viewport(), event)
    assert map25.zoom() > before
    assert map25.findChild(type(map25.zoom_label), "zoomLabel").text() == \
        f"{round(map25.zoom() * 100)}%"


def test_every_control_is_named_and_the_view_describes_itself(map25):
    controls = [w for w in map25.findChildren(QAbstractButton)] + \
        [w for w in map25.findChildren(QGraphicsView)]
    assert {w.objectName() for w in controls} >= {
        "zoomInButton", "zoomOutButton", "fitButton", "compactButton", "stakeholderMap"}
    for w in controls:
        assert w.objectName() and w.accessibleName(), w
    description = map25.view.accessibleDescription()
    assert "25 stakeholders" in description
    assert "Ctrl+Shift" in description
    map25.select(map25.lane_ids("management")[0])
    assert "Selected: Person" in map25.view.accessibleDescription()


def test_inactive_people_are_shown_and_marked(map25):
    from ui.stakeholders.map_view import tooltip_text

    inactive = [item.dto for item in card_items(map25) if not item.dto.active]
    assert [d.id for d in inactive] == [7]
    assert "(inactive)" in tooltip_text(inactive[0])
    assert "(1 inactive)" in map25.summary_label.text()


def test_a_map_wider_than_its_window_opens_fitted_once(qtbot):
    """Issue 17: the lanes no longer run off the right until Fit is pressed; after the first
    fit the zoom is the coordinator's (a refresh does not fit again)."""
    from ui.stakeholders.map_view import StakeholderMapView

    view = StakeholderMapView()
    qtbot.addWidget(view)
    view.resize(700, 600)                # narrower than nine lanes
    view.show()
    qtbot.waitExposed(view)
    people = twenty_five()
    view.set_stakeholders(people)
    width = view.view.viewport().width()
    assert all(view.lane_rect(c).right() <= width + 1 for c in CATEGORIES), \
        [view.lane_rect(c).right() for c in CATEGORIES]
    zoom = view.view.zoom()
    assert zoom < 1
    view.zoom_in()
    view.set_stakeholders(people)        # a refresh keeps the chosen zoom
    assert view.view.zoom() > zoom
