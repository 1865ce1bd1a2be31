"""The incident chart (ui/reports/chart.py): drawn headless on a QImage from plain ChartData."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.reports.model import ChartData, ChartMark, ChartPhase

LA = "America/Los_Angeles"
T0 = datetime(2026, 3, 2, 14, 5, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def chart_26h() -> ChartData:
    """The shape of the demo's breach incident: 26 hours, a short detected phase."""
    return ChartData(
        "Lab results emailed to the wrong patients", at(0), at(1565), LA,
        phases=(ChartPhase("detected", at(0), at(5)), ChartPhase("investigating", at(5), at(165)),
                ChartPhase("responding", at(165), at(1100)),
                ChartPhase("resolved", at(1100), at(1565))),
        marks=(ChartMark(at(12), "Initial acknowledgment", "message"),
               ChartMark(at(20), "Escalation notice", "message"),
               ChartMark(at(600), "Status update", "failed"),
               ChartMark(at(20), "Escalation: management", "escalation"),
               ChartMark(at(95), "Investigating update due", "due"),
               ChartMark(at(40), "Contract SLA", "deadline_met"),
               ChartMark(at(1400), "Internal review", "deadline")))


def chart_40m() -> ChartData:
    return ChartData(
        "Patient portal unavailable", at(0), at(41), LA,
        phases=(ChartPhase("detected", at(0), at(2)), ChartPhase("investigating", at(2), at(41))),
        marks=(ChartMark(at(4), "Initial acknowledgment", "message"),
               ChartMark(at(17), "Status update", "message")))


def chart_with(n: int, seed: int = 7) -> ChartData:
    rng = random.Random(seed)
    end = at(30 * 60)
    kinds = ["message"] * 90 + ["failed"] * 5 + ["due"] * 3 + ["escalation", "deadline"]
    marks = tuple(ChartMark(at(rng.uniform(0, 30 * 60)), f"mark {i}", rng.choice(kinds))
                  for i in range(n))
    phases = (ChartPhase("detected", at(0), at(3)), ChartPhase("investigating", at(3), at(240)),
              ChartPhase("responding", at(240), at(1200)),
              ChartPhase("resolved", at(1200), at(1680)), ChartPhase("closed", at(1680), end))
    return ChartData("Big incident", at(0), end, "Europe/Berlin", phases, marks)


def column_colours(image, x: float, top: int = 0, bottom: int | None = None) -> set[str]:
    bottom = image.height() if bottom is None else bottom
    return {image.pixelColor(round(x), y).name() for y in range(top, bottom)}


@pytest.mark.parametrize("size", [(1400, 420), (900, 300)])
def test_the_image_has_the_asked_size_and_is_not_blank(qapp, size):
    from ui.reports.chart import render_chart

    image = render_chart(chart_26h(), *size)
    assert (image.width(), image.height()) == size
    white = sum(1 for x in range(0, size[0], 4) for y in range(0, size[1], 4)
                if image.pixelColor(x, y).name() == "#ffffff")
    sampled = len(range(0, size[0], 4)) * len(range(0, size[1], 4))
    assert white < 0.92 * sampled, "the chart is (almost) empty"


@pytest.mark.parametrize("make", [chart_26h, chart_40m])
def test_each_phase_band_has_its_colour_where_its_time_is(qapp, make):
    from ui.reports.chart import PHASE_COLOURS, chart_geometry, render_chart

    chart = make()
    image = render_chart(chart)
    geo = chart_geometry(chart)
    fills = {phase: colours[0] for phase, colours in PHASE_COLOURS.items()}
    y = round(geo.band_top) + 2  # above the label patch: only the band's fill
    for phase in chart.phases:
        mid = phase.start + (phase.end - phase.start) / 2
        colour = image.pixelColor(round(geo.x(mid)), y).name()
        assert colour == fills[phase.phase], (phase.phase, colour)
    # and nothing of the band before the start or after the end
    assert image.pixelColor(round(geo.plot_left) - 4, y).name() not in fills.values()
    assert geo.plot_right < image.width()


def test_failed_messages_are_red_and_deadlines_green_when_met(qapp):
    from ui.reports.chart import DEADLINE_MET, FAILED, MESSAGE, chart_geometry, render_chart

    chart = chart_26h()
    image = render_chart(chart)
    geo = chart_geometry(chart)
    above_band = round(geo.band_top) - 2
    assert FAILED.name() in column_colours(image, geo.x(at(600)), 0, above_band)
    assert MESSAGE.name() not in column_colours(image, geo.x(at(600)), 0, above_band)
    assert MESSAGE.name() in column_colours(image, geo.x(at(12)), 0, above_band)
    assert DEADLINE_MET.name() in column_colours(image, geo.x(at(40)), 0, round(geo.band_bottom))


def test_ticks_for_forty_minutes_are_five_minutes_apart_on_the_local_clock():
    from ui.reports.chart import axis_ticks

    chart = chart_40m()
    step, ticks = axis_ticks(chart.start, chart.end, ZoneInfo(LA), max_ticks=12)
    assert step == 5
    local = [t.astimezone(ZoneInfo(LA)) for t in ticks]
    assert all(t.minute % 5 == 0 and t.second == 0 for t in local)
    assert ticks[0] == chart.start  # 06:05 local
    assert ticks[-1] == chart.start + timedelta(minutes=40)
    assert len(ticks) == 9


def test_ticks_for_a_day_are_whole_local_hours_even_across_a_clock_change():
    from ui.reports.chart import axis_ticks

    tz = ZoneInfo(LA)
    start = datetime(2026, 3, 7, 20, 30, tzinfo=tz)  # 8 March 2026: clocks go forward in LA
    end = start + timedelta(hours=26)
    step, ticks = axis_ticks(start.astimezone(timezone.utc), end.astimezone(timezone.utc), tz,
                             max_ticks=12)
    assert step in (120, 180)
    local = [t.astimezone(tz) for t in ticks]
    assert all(t.minute == 0 and t.hour % (step // 60) == 0 for t in local), local
    assert ticks == sorted(set(ticks))
    assert len(ticks) >= 8


def test_a_long_span_is_ticked_in_days():
    from ui.reports.chart import axis_ticks

    step, ticks = axis_ticks(at(0), at(9 * 24 * 60), ZoneInfo(LA), max_ticks=10)
    assert step == 1440
    assert all(t.astimezone(ZoneInfo(LA)).hour == 0 for t in ticks)


def test_labels_that_fit_no_row_are_left_out_rather_than_overprinted():
    from ui.reports.chart import LabelRows

    rows = LabelRows(2, gap=10)
    placed = [rows.place(100 + i, 300 + i) for i in range(20)]  # twenty labels, nearly one x
    assert placed[:2] == [0, 1]
    assert placed[2:] == [None] * 18
    assert rows.place(320, 400) == 0  # after the first one ends (plus the gap)


def test_marks_and_deadlines_outside_the_span_do_not_break_the_chart(qapp):
    from ui.reports.chart import DEADLINE_OPEN, chart_geometry, render_chart

    base = chart_40m()
    chart = ChartData(base.title, base.start, base.end, base.time_zone, base.phases,
                      base.marks + (ChartMark(at(60 * 24 * 30), "HIPAA notice", "deadline"),
                                    ChartMark(at(-10), "Found later", "message")))
    image = render_chart(chart)
    geo = chart_geometry(chart)
    # pinned at the right edge, drawn in the colour of an open deadline
    assert DEADLINE_OPEN.name() in column_colours(image, geo.plot_right, 0,
                                                  round(geo.band_bottom))


def test_an_empty_chart_still_draws_its_axis(qapp):
    from ui.reports.chart import render_chart

    image = render_chart(ChartData("Nothing yet", at(0), at(0), "Not/AZone"))
    assert image.width() == 1400
    assert any(image.pixelColor(x, y).name() != "#ffffff"
               for x in range(0, 1400, 7) for y in range(0, 420, 7))


def test_png_bytes_decode_to_the_same_picture(qapp):
    from PySide6.QtGui import QImage

    from ui.reports.chart import chart_png

    data = chart_png(chart_40m(), 800, 260)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage.fromData(data, "PNG")
    assert (image.width(), image.height()) == (800, 260)


def test_five_thousand_marks_draw_one_shape_per_pixel_column_not_per_mark(qapp, monkeypatch):
    """5,000 marks on a 1,400-pixel chart: the ticks are merged into one per pixel column and
    kind, dots and labels are left out when there are too many to read, and each mark is
    placed a bounded number of times — so the work follows the chart's width, not the number
    of marks. (How long it takes is measured by tests/benchmarks/bench_export.py.)"""
    from collections import Counter

    from PySide6.QtGui import QPainter

    import ui.reports.chart as chart_module
    from ui.reports.chart import FAILED, MESSAGE, chart_geometry, render_chart
    from ui.reports.chart_layout import _ChartLayout

    shapes: Counter = Counter()

    class CountingPainter(QPainter):
        """Counts the shapes it is asked to draw (each line of a drawLines call)."""

        def __getattribute__(self, name):
            attr = super().__getattribute__(name)
            if not name.startswith(("draw", "fill")):
                return attr

            def counted(*args, **kw):
                shapes[name] += len(args[0]) if name == "drawLines" else 1
                return attr(*args, **kw)
            return counted

    pinned = _ChartLayout._pinned

    def placing(self, at):
        shapes["marks placed"] += 1
        return pinned(self, at)

    monkeypatch.setattr(chart_module, "QPainter", CountingPainter)
    monkeypatch.setattr(_ChartLayout, "_pinned", placing)
    chart = chart_with(5000)
    image = render_chart(chart)
    assert 4000 < sum(m.kind in ("message", "failed") for m in chart.marks)
    assert shapes.pop("marks placed") <= 2 * len(chart.marks)
    geo = chart_geometry(chart)
    width = round(geo.plot_right - geo.plot_left)             # 1,224 pixel columns
    assert shapes["drawLines"] <= 2 * width                   # message and failed ticks, grid
    assert shapes["drawEllipse"] + shapes["drawPolygon"] <= 500   # no dot on every tick
    assert shapes["drawText"] <= 60                           # labels only where readable
    assert sum(shapes.values()) <= 2500
    # the busiest lane really is drawn: most columns of the plot hold a tick (failed ones,
    # drawn last, cover some of the sent ones)
    above_band = round(geo.band_top) - 2
    columns = range(round(geo.plot_left) + 2, round(geo.plot_right) - 2, 10)
    hit = sum(1 for x in columns
              if {MESSAGE.name(), FAILED.name()} & column_colours(image, x, 0, above_band))
    assert hit > 0.9 * len(columns)
    assert any(MESSAGE.name() in column_colours(image, x, 0, above_band) for x in columns)
