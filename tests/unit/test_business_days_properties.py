"""Business-day arithmetic (SEC 8-K's 4 business days, and any rule counted in business days)
checked against an independent, slow implementation: the US federal holidays computed from
5 U.S.C. 6103 and OPM's observance rule (a Saturday holiday on the Friday before, a Sunday one
on the Monday after), and days counted one at a time. The committed calendar
(resources/regulatory/us-federal-holidays.json) must be exactly what the law gives."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.clocks.regulatory import HolidayCalendar

CAL = HolidayCalendar.load()


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (0 = Monday) of the month; n = -1 is the last one."""
    days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if date(year, month, d).weekday() == weekday]
    return days[n if n < 0 else n - 1]


def observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def federal_holidays(year: int) -> set[date]:
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2021:  # Juneteenth National Independence Day Act, 2021
        fixed.append(date(year, 6, 19))
    floating = [
        nth_weekday(year, 1, 0, 3),    # Birthday of Martin Luther King, Jr.
        nth_weekday(year, 2, 0, 3),    # Washington's Birthday
        nth_weekday(year, 5, 0, -1),   # Memorial Day
        nth_weekday(year, 9, 0, 1),    # Labor Day
        nth_weekday(year, 10, 0, 2),   # Columbus Day
        nth_weekday(year, 11, 3, 4),   # Thanksgiving Day
    ]
    return {observed(d) for d in fixed} | set(floating)


def law_holidays(first: int, last: int) -> set[date]:
    every = set().union(*(federal_holidays(y) for y in range(first - 1, last + 2)))
    return {d for d in every if first <= d.year <= last}


def slow_add(day: date, n: int, holidays: set[date]) -> date:
    step = 1 if n >= 0 else -1
    counted = 0
    while counted < abs(n):
        day += timedelta(days=step)
        if day.weekday() < 5 and day not in holidays:
            counted += 1
    return day


HOLIDAYS = law_holidays(CAL.first_year, CAL.last_year)
# Far enough inside the calendar that 60 business days either way stay inside it.
FIRST = date(CAL.first_year, 4, 1)
LAST = date(CAL.last_year, 9, 30)


def test_the_committed_calendar_is_the_law_for_every_year_it_covers():
    committed = set(CAL.holidays)
    assert committed == HOLIDAYS, (
        f"missing: {sorted(HOLIDAYS - committed)}; not holidays: {sorted(committed - HOLIDAYS)}")
    assert len(committed) >= 11 * (CAL.last_year - CAL.first_year + 1)


def test_a_new_years_day_on_a_saturday_is_observed_in_the_december_before():
    saturdays = [y for y in range(CAL.first_year + 1, CAL.last_year + 1)
                 if date(y, 1, 1).weekday() == 5]
    assert saturdays, "the calendar should cover at least one such year"
    for year in saturdays:
        assert date(year - 1, 12, 31) in CAL.holidays
        assert CAL.is_business_day(date(year - 1, 12, 31)) is False


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=FIRST, max_value=LAST), st.integers(min_value=-60, max_value=60))
def test_adding_business_days_agrees_with_counting_them_one_by_one(start, n):
    assert CAL.add_business_days(start, n) == slow_add(start, n, HOLIDAYS)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=FIRST, max_value=LAST), st.integers(min_value=1, max_value=60))
def test_the_result_is_a_business_day_and_exactly_n_of_them_lie_between(start, n):
    end = CAL.add_business_days(start, n)
    assert end > start and CAL.is_business_day(end)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(CAL.is_business_day(d) for d in between) == n
    back = CAL.add_business_days(end, -n)
    assert back <= start and (back == start or not CAL.is_business_day(start))


def test_adding_zero_is_the_day_itself_even_on_a_holiday():
    assert CAL.add_business_days(date(CAL.first_year, 12, 25), 0) == date(CAL.first_year, 12, 25)


def test_outside_the_calendar_it_refuses_to_guess():
    with pytest.raises(ValueError, match="holiday calendar covers"):
        CAL.is_business_day(date(CAL.last_year + 1, 3, 2))
