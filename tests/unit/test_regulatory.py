"""Regulatory clocks (app/clocks/regulatory.py): the rule table, the holiday calendar, due arithmetic
across weekends, holidays and DST, conditions, caps, chained reports and statuses. Pure
functions with explicit "now"s."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.clocks import regulatory
from app.domain.enums import ClockTrigger, Regime
from app.paths import resource
from app.clocks.regulatory import (
    ClockInputs, ClockState, ClockStatus, ClockUnit, HolidayCalendar, RegulatoryRule,
    Satisfaction, applicable_rules, due_time, evaluate_clocks, load_rules, parse_rules,
)

RULES = load_rules()
BY_ID = {rule.id: rule for rule in RULES}
CAL = HolidayCalendar.load()
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
ALL_REGIMES = frozenset(r.value for r in Regime)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def inputs(*, triggers: dict[str, datetime] | None = None,
           satisfied: dict[str, Satisfaction] | None = None, detected_at: datetime | None = None,
           affected: int | None = None, state_residents: int | None = None,
           sla_minutes: int | None = None, flag: bool = True, regimes: frozenset[str] = ALL_REGIMES,
           zone: str = "America/Los_Angeles") -> ClockInputs:
    return ClockInputs(
        regimes=regimes, regulatory_flag=flag, detected_at=detected_at or utc(2026, 3, 2, 9),
        triggers=triggers or {}, satisfied=satisfied or {}, affected_individuals=affected,
        max_state_residents=state_residents, sla_minutes=sla_minutes, time_zone=zone)


def clock(rule_id: str, clock_inputs: ClockInputs, now: datetime) -> ClockState:
    states = {s.rule.id: s for s in evaluate_clocks(RULES, clock_inputs, now, CAL)}
    return states[rule_id]


# ------------------------------------------------------------------------------- rule table

def test_every_rule_loads_with_source_review_date_and_valid_regime() -> None:
    assert len(RULES) >= 20
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert {"gdpr_art33", "gdpr_art34", "uk_gdpr_art33", "hipaa_individuals", "hipaa_hhs_500_plus",
            "hipaa_hhs_under_500", "hipaa_media", "sec_8k_105", "nis2_early_warning",
            "nis2_notification", "nis2_final", "dora_initial", "dora_intermediate",
            "dora_final", "nydfs_500_17", "us_co_residents", "us_fl_individuals",
            "us_tx_individuals", "us_wa_residents", "contract_sla"} <= set(ids)
    triggers = {t.value for t in ClockTrigger}
    for rule in RULES:
        assert isinstance(rule.last_reviewed, date), rule.id
        assert rule.notes.strip(), rule.id
        if rule.id == regulatory.CONTRACT_SLA_ID:
            assert rule.regime is None and rule.amount is None and rule.unit is ClockUnit.MINUTES
            continue
        assert rule.source_url.startswith("https://") or rule.source_url.startswith("http://")
        assert Regime(rule.regime), rule.id
        if rule.trigger.startswith("rule:"):
            assert rule.trigger.removeprefix("rule:") in BY_ID, rule.id
        else:
            assert rule.trigger in triggers, rule.id
        assert (rule.amount is None) == (rule.unit is ClockUnit.NONE), rule.id


def test_rule_table_encodes_the_reference_deadlines() -> None:
    expected = {
        "gdpr_art33": ("awareness", 72, ClockUnit.HOURS),
        "gdpr_art34": ("high_risk", None, ClockUnit.NONE),
        "hipaa_hhs_under_500": ("discovery", 60, ClockUnit.YEAR_END_DAYS),
        "sec_8k_105": ("materiality_determination", 4, ClockUnit.BUSINESS_DAYS),
        "nis2_final": ("rule:nis2_notification", 1, ClockUnit.MONTHS),
        "dora_initial": ("classification", 4, ClockUnit.HOURS),
        "dora_intermediate": ("rule:dora_initial", 72, ClockUnit.HOURS),
        "dora_final": ("rule:dora_intermediate", 1, ClockUnit.MONTHS),
        "us_tx_individuals": ("determination", 60, ClockUnit.CALENDAR_DAYS),
        "us_wa_residents": ("discovery", 30, ClockUnit.CALENDAR_DAYS),
    }
    for rule_id, (trigger, amount, unit) in expected.items():
        rule = BY_ID[rule_id]
        assert (rule.trigger, rule.amount, rule.unit) == (trigger, amount, unit), rule_id
    assert BY_ID["dora_initial"].cap == ("awareness", 24, ClockUnit.HOURS)
    assert BY_ID["sec_8k_105"].zone == "America/New_York"
    assert BY_ID["hipaa_media"].condition == {"min_state_residents": 501}
    assert BY_ID["hipaa_hhs_500_plus"].condition == {"min_affected": 500}
    assert BY_ID["hipaa_hhs_under_500"].condition == {"max_affected": 499}


def _rows() -> list[dict]:
    return json.loads(resource("regulatory", "rules.json").read_text(encoding="utf-8"))["rules"]


@pytest.mark.parametrize("field, value", [
    ("unit", "fortnights"), ("trigger", "rule:no_such_rule"), ("regime", "mars"),
    ("source_url", ""), ("amount", 0), ("condition", {"min_visitors": 3}), ("zone", "Mars/Base"),
    ("audience", []), ("audience", ["martians"]), ("audience", "regulators"),
])
def test_a_malformed_row_is_refused_naming_the_rule(field: str, value: object) -> None:
    rows = _rows()
    row = next(r for r in rows if r["id"] == "nis2_final")
    row[field] = value
    with pytest.raises(ValueError, match="nis2_final"):
        parse_rules(rows)


def test_a_rule_trigger_must_name_an_earlier_rule() -> None:
    rows = _rows()
    first = next(r for r in rows if r["id"] == "gdpr_art33")
    first["trigger"] = "rule:dora_final"  # exists, but later in the table: chains could loop
    with pytest.raises(ValueError, match="gdpr_art33"):
        parse_rules(rows)


def test_load_rules_returns_a_fresh_list_of_the_cached_table() -> None:
    first = load_rules()
    first.clear()
    assert [r.id for r in load_rules()] == [r.id for r in RULES]


# ------------------------------------------------------------------------ holiday calendar

def test_2026_federal_holidays_are_the_observed_dates() -> None:
    in_2026 = sorted(day for day in CAL.holidays if day.year == 2026)
    assert in_2026 == [date(2026, 1, 1), date(2026, 1, 19), date(2026, 2, 16), date(2026, 5, 25),
                       date(2026, 6, 19), date(2026, 7, 3), date(2026, 9, 7), date(2026, 10, 12),
                       date(2026, 11, 11), date(2026, 11, 26), date(2026, 12, 25)]
    assert not CAL.is_business_day(date(2026, 7, 3))  # 4 July is a Saturday: observed Friday
    assert CAL.is_business_day(date(2026, 11, 27))  # the day after Thanksgiving is not a holiday


def test_every_holiday_is_an_observed_weekday_inside_the_calendar_years() -> None:
    assert (CAL.first_year, CAL.last_year) == (2024, 2032)
    for day, name in CAL.holidays.items():
        assert day.weekday() < 5, (day, name)
        assert CAL.first_year <= day.year <= CAL.last_year
    # 1 Jan 2028 is a Saturday: OPM observes it on Friday 31 Dec 2027
    assert date(2027, 12, 31) in CAL.holidays and date(2028, 1, 1) not in CAL.holidays
    for year in range(2024, 2033):  # each year's 11 holidays (New Year's may be on 31 Dec before)
        names = {name.removesuffix(" (observed)") for day, name in CAL.holidays.items()
                 if (day.year == year and day != date(year, 12, 31))
                 or day == date(year - 1, 12, 31)}
        assert len(names) == 11, year


def test_the_calendar_refuses_dates_outside_its_years() -> None:
    with pytest.raises(ValueError, match="2033"):
        CAL.is_business_day(date(2033, 1, 3))
    with pytest.raises(ValueError):
        CAL.is_business_day(date(2023, 12, 29))
    with pytest.raises(ValueError):
        CAL.add_business_days(date(2032, 12, 29), 4)  # runs into 2033
    small = HolidayCalendar({date(2030, 5, 1): "Test"}, 2030, 2030)
    assert small.add_business_days(date(2030, 4, 30), 1) == date(2030, 5, 2)
    assert small.add_business_days(date(2030, 5, 2), -1) == date(2030, 4, 30)


# ------------------------------------------------------------------------ hours and statuses

def test_gdpr_72_hours_run_over_a_weekend_with_running_due_soon_and_overdue() -> None:
    aware = utc(2026, 3, 6, 16)  # Friday
    gdpr = inputs(triggers={"awareness": aware}, zone="Europe/Berlin")
    running = clock("gdpr_art33", gdpr, utc(2026, 3, 6, 17))
    assert running.due_at == utc(2026, 3, 9, 16)  # Monday 16:00 UTC: weekends count
    assert running.status is ClockStatus.RUNNING
    assert running.started_at == aware and running.remaining == timedelta(hours=71)
    assert running.elapsed == timedelta(hours=1)
    assert running.explanation == "72 hours from awareness (recorded 6 Mar 16:00 UTC)"
    assert clock("gdpr_art33", gdpr, utc(2026, 3, 8, 21, 59)).status is ClockStatus.RUNNING
    assert clock("gdpr_art33", gdpr, utc(2026, 3, 8, 22)).status is ClockStatus.DUE_SOON  # 25 %
    assert clock("gdpr_art33", gdpr, utc(2026, 3, 9, 0)).status is ClockStatus.DUE_SOON  # 16 h
    assert clock("gdpr_art33", gdpr, utc(2026, 3, 9, 16)).status is ClockStatus.DUE_SOON
    overdue = clock("gdpr_art33", gdpr, utc(2026, 3, 9, 16, 1))
    assert overdue.status is ClockStatus.OVERDUE and overdue.remaining == -timedelta(minutes=1)


def test_due_soon_is_the_last_quarter_or_the_last_hour() -> None:
    two_hours = inputs(detected_at=utc(2026, 3, 2, 9), sla_minutes=120, flag=False)  # due 11:00
    assert clock("contract_sla", two_hours, utc(2026, 3, 2, 9, 59)).status is ClockStatus.RUNNING
    assert clock("contract_sla", two_hours, utc(2026, 3, 2, 10)).status is ClockStatus.DUE_SOON
    ten_days = inputs(detected_at=utc(2026, 3, 2, 9), sla_minutes=24 * 60 * 10, flag=False)
    # a 10-day window (due 12 Mar 09:00): 25 % is 2.5 days, long before the last hour
    assert clock("contract_sla", ten_days, utc(2026, 3, 9, 20, 59)).status is ClockStatus.RUNNING
    assert clock("contract_sla", ten_days, utc(2026, 3, 9, 21)).status is ClockStatus.DUE_SOON


def test_gdpr_art34_has_no_deadline_and_shows_elapsed_time() -> None:
    state = clock("gdpr_art34", inputs(triggers={"high_risk": utc(2026, 3, 2, 10)}),
                  utc(2026, 3, 2, 15, 30))
    assert state.status is ClockStatus.ELAPSED
    assert state.due_at is None and state.remaining is None
    assert state.elapsed == timedelta(hours=5, minutes=30)
    assert state.explanation == "Without undue delay: no fixed deadline"


def test_72_hours_across_the_march_dst_change_are_72_real_hours() -> None:
    determined = datetime(2026, 3, 7, 12, 0, tzinfo=NY)  # EST; clocks spring forward on 8 Mar
    state = clock("nydfs_500_17", inputs(triggers={"determination": determined},
                                         zone="America/New_York"), utc(2026, 3, 7, 18))
    assert state.due_at == determined.astimezone(UTC) + timedelta(hours=72)
    assert state.due_at == utc(2026, 3, 10, 17)
    assert state.due_at.astimezone(NY).hour == 13  # the local display shifts by an hour


def test_a_backdated_awareness_is_overdue_at_once() -> None:
    now = utc(2026, 3, 10, 12)
    backdated = inputs(detected_at=now, triggers={"awareness": now - timedelta(hours=80)})
    state = clock("gdpr_art33", backdated, now)
    assert state.status is ClockStatus.OVERDUE
    assert state.remaining == -timedelta(hours=8)
    assert state.started_at == now - timedelta(hours=80)


def test_satisfied_on_time_and_late() -> None:
    aware = {"awareness": utc(2026, 3, 2, 9)}
    on_time = clock("gdpr_art33", inputs(triggers=aware, satisfied={
        "gdpr_art33": Satisfaction(utc(2026, 3, 5, 8, 59), 17)}), utc(2026, 3, 20))
    assert on_time.status is ClockStatus.SATISFIED
    assert on_time.satisfied is not None and on_time.satisfied.message_id == 17
    assert on_time.remaining is None and on_time.elapsed is None
    late = clock("gdpr_art33", inputs(triggers=aware, satisfied={
        "gdpr_art33": Satisfaction(utc(2026, 3, 5, 11), None)}), utc(2026, 3, 20))
    assert late.status is ClockStatus.SATISFIED_LATE
    assert late.due_at == utc(2026, 3, 5, 9)
    assert "2 h 00 min late" in late.explanation


def test_a_notice_sent_exactly_at_72_hours_is_on_time_a_microsecond_later_late() -> None:
    aware = {"awareness": utc(2026, 3, 2, 9)}
    due = utc(2026, 3, 5, 9)

    def sent_at(at: datetime) -> ClockState:
        return clock("gdpr_art33", inputs(triggers=aware, satisfied={
            "gdpr_art33": Satisfaction(at, 17)}), utc(2026, 3, 20))

    on_time = sent_at(due)
    assert on_time.due_at == due
    assert on_time.status is ClockStatus.SATISFIED
    assert on_time.explanation.endswith("; sent 5 Mar 09:00 UTC")
    late = sent_at(due + timedelta(microseconds=1))
    assert late.status is ClockStatus.SATISFIED_LATE
    assert late.explanation.endswith("; sent 5 Mar 09:00 UTC, 0 min late")


def test_a_clock_is_overdue_only_after_its_deadline_has_passed() -> None:
    gdpr = inputs(triggers={"awareness": utc(2026, 3, 2, 9)})
    due = utc(2026, 3, 5, 9)
    at_deadline = clock("gdpr_art33", gdpr, due)
    assert at_deadline.status is ClockStatus.DUE_SOON and at_deadline.remaining == timedelta(0)
    just_after = clock("gdpr_art33", gdpr, due + timedelta(microseconds=1))
    assert just_after.status is ClockStatus.OVERDUE
    assert just_after.remaining == -timedelta(microseconds=1)


def test_an_sec_notice_sent_by_the_end_of_the_fourth_business_day_is_on_time() -> None:
    """Business-day deadlines end at 23:59:59 local time on the last day (Wed 7 Oct, New York,
    for a determination on Thursday 1 Oct); the next second is the day after: late."""
    determined = {"materiality_determination": datetime(2026, 10, 1, 9, 0, tzinfo=NY)}
    due = datetime(2026, 10, 7, 23, 59, 59, tzinfo=NY)

    def sent_at(at: datetime) -> ClockState:
        return clock("sec_8k_105", inputs(triggers=determined, zone="UTC", satisfied={
            "sec_8k_105": Satisfaction(at.astimezone(UTC), 4)}), utc(2026, 10, 20))

    on_time = sent_at(due)
    assert on_time.due_at == due
    assert on_time.status is ClockStatus.SATISFIED
    late = sent_at(datetime(2026, 10, 8, 0, 0, 0, tzinfo=NY))
    assert late.status is ClockStatus.SATISFIED_LATE
    assert late.explanation.endswith(", 0 min late")


def test_an_unrecorded_trigger_waits() -> None:
    state = clock("gdpr_art33", inputs(), utc(2026, 3, 2, 10))
    assert state.status is ClockStatus.WAITING_TRIGGER
    assert state.started_at is None and state.due_at is None and state.elapsed is None
    assert state.explanation == "Starts when awareness is recorded"
    sec = clock("sec_8k_105", inputs(), utc(2026, 3, 2, 10))
    assert sec.explanation == "Starts when materiality determination is recorded"


# ------------------------------------------------------------------------------ day units

def test_sec_four_business_days_skip_thanksgiving() -> None:
    determined = datetime(2026, 11, 25, 10, 0, tzinfo=NY)  # Wednesday; Thursday is Thanksgiving
    state = clock("sec_8k_105", inputs(triggers={"materiality_determination": determined},
                                       zone="Europe/London"), utc(2026, 11, 25, 16))
    assert state.due_at == datetime(2026, 12, 2, 23, 59, 59, tzinfo=NY)  # Wednesday 2 Dec
    assert state.due_at.tzinfo == UTC
    assert state.status is ClockStatus.RUNNING


def test_sec_four_business_days_over_a_plain_weekend() -> None:
    rule = BY_ID["sec_8k_105"]
    due = due_time(rule, datetime(2026, 10, 1, 9, 0, tzinfo=NY), "UTC", CAL)  # Thursday
    assert due == datetime(2026, 10, 7, 23, 59, 59, tzinfo=NY)  # Fri, Mon, Tue, Wed


def test_sec_the_eastern_date_decides_not_the_utc_date() -> None:
    determined = datetime(2026, 3, 10, 22, 30, tzinfo=NY)  # Tuesday evening; UTC says Wednesday
    assert determined.astimezone(UTC).date() == date(2026, 3, 11)
    due = due_time(BY_ID["sec_8k_105"], determined.astimezone(UTC), "Asia/Tokyo", CAL)
    assert due == datetime(2026, 3, 16, 23, 59, 59, tzinfo=NY)  # Wed, Thu, Fri, Mon


def test_hipaa_60_calendar_days_end_at_local_midnight_across_the_november_dst_change() -> None:
    discovered = datetime(2026, 10, 1, 10, 0, tzinfo=LA)  # PDT
    state = clock("hipaa_individuals", inputs(triggers={"discovery": discovered}),
                  utc(2026, 10, 2))
    assert state.due_at is not None
    local_due = state.due_at.astimezone(LA)
    assert (local_due.date(), local_due.hour, local_due.minute, local_due.second) == \
        (date(2026, 11, 30), 23, 59, 59)
    assert state.due_at == utc(2026, 12, 1, 7, 59, 59)  # PST, UTC-8
    assert local_due.utcoffset() != discovered.utcoffset()


def test_hipaa_hhs_under_500_is_due_60_days_after_the_year_end() -> None:
    discovered = {"discovery": datetime(2026, 10, 1, 10, 0, tzinfo=LA)}
    small = {s.rule.id: s for s in evaluate_clocks(
        RULES, inputs(triggers=discovered, affected=120), utc(2026, 10, 2), CAL)}
    under = small["hipaa_hhs_under_500"]
    assert under.due_at == datetime(2027, 3, 1, 23, 59, 59, tzinfo=LA)
    assert under.status is ClockStatus.RUNNING
    over = small["hipaa_hhs_500_plus"]
    assert over.status is ClockStatus.NOT_APPLICABLE and over.due_at is None
    assert over.explanation == "Applies only if 500 or more individuals are affected (entered: 120)"
    leap = due_time(BY_ID["hipaa_hhs_under_500"], utc(2027, 6, 1, 12), "UTC", CAL)
    assert leap == utc(2028, 2, 29, 23, 59, 59)


def test_hipaa_hhs_500_or_more_runs_with_the_individual_notice() -> None:
    discovered = {"discovery": utc(2026, 10, 1, 17)}
    states = {s.rule.id: s for s in evaluate_clocks(
        RULES, inputs(triggers=discovered, affected=500), utc(2026, 10, 2), CAL)}
    assert states["hipaa_hhs_500_plus"].due_at == states["hipaa_individuals"].due_at
    assert states["hipaa_hhs_500_plus"].status is ClockStatus.RUNNING
    assert states["hipaa_hhs_under_500"].status is ClockStatus.NOT_APPLICABLE


def test_hipaa_media_only_when_more_than_500_residents_of_one_state() -> None:
    discovered = {"discovery": utc(2026, 10, 1, 17)}
    now = utc(2026, 10, 2)
    met = clock("hipaa_media", inputs(triggers=discovered, state_residents=501), now)
    assert met.status is ClockStatus.RUNNING and met.due_at is not None
    unmet = clock("hipaa_media", inputs(triggers=discovered, state_residents=500), now)
    assert unmet.status is ClockStatus.NOT_APPLICABLE
    assert "(entered: 500)" in unmet.explanation
    unknown = clock("hipaa_media", inputs(triggers=discovered), now)
    assert unknown.status is ClockStatus.RUNNING and unknown.due_at == met.due_at
    assert unknown.explanation.startswith(
        "Applies if more than 500 residents of one state are affected; number not yet entered")


def test_an_unknown_count_shows_a_waiting_clock_with_its_condition() -> None:
    state = clock("hipaa_hhs_500_plus", inputs(), utc(2026, 10, 2))
    assert state.status is ClockStatus.WAITING_TRIGGER
    assert "number not yet entered" in state.explanation
    assert "discovery is recorded" in state.explanation


def test_months_clamp_to_the_end_of_the_month() -> None:
    monthly = dataclasses.replace(BY_ID["nis2_final"], zone="UTC")
    assert due_time(monthly, utc(2026, 1, 31, 10), "UTC", CAL) == utc(2026, 2, 28, 10)
    assert due_time(monthly, utc(2028, 1, 31, 10), "UTC", CAL) == utc(2028, 2, 29, 10)
    assert due_time(monthly, utc(2026, 12, 15, 10), "UTC", CAL) == utc(2027, 1, 15, 10)


def test_calendar_days_use_the_client_zone_date() -> None:
    # 1 Oct 02:00 UTC is still 30 Sep in Los Angeles: 30 days from 30 Sep
    due = due_time(BY_ID["us_wa_residents"], utc(2026, 10, 1, 2), "America/Los_Angeles", CAL)
    assert due == datetime(2026, 10, 30, 23, 59, 59, tzinfo=LA)


# --------------------------------------------------------------------- chains and caps

def test_nis2_final_report_runs_one_month_from_the_notification() -> None:
    aware = {"awareness": utc(2026, 3, 2, 9)}
    waiting = clock("nis2_final", inputs(triggers=aware, zone="Europe/Brussels"), utc(2026, 3, 3))
    assert waiting.status is ClockStatus.WAITING_TRIGGER
    assert waiting.explanation == "Starts when the NIS2 Art. 23 — incident notification is sent"
    sent = utc(2026, 3, 4, 11)  # 12:00 in Brussels (CET)
    final = clock("nis2_final", inputs(triggers=aware, zone="Europe/Brussels", satisfied={
        "nis2_notification": Satisfaction(sent, 4)}), utc(2026, 3, 5))
    assert final.started_at == sent
    # one month later at the same Brussels wall-clock time, now summer time (CEST)
    assert final.due_at == datetime(2026, 4, 4, 12, 0, tzinfo=ZoneInfo("Europe/Brussels"))
    assert final.status is ClockStatus.RUNNING


def test_dora_initial_is_capped_at_24_hours_from_awareness() -> None:
    classified = utc(2026, 5, 5, 10)
    now = utc(2026, 5, 5, 10, 5)
    tie = clock("dora_initial", inputs(triggers={
        "classification": classified, "awareness": classified - timedelta(hours=20)}), now)
    assert tie.due_at == classified - timedelta(hours=20) + timedelta(hours=24)
    late = clock("dora_initial", inputs(triggers={
        "classification": classified, "awareness": classified - timedelta(hours=22)}), now)
    assert late.due_at == classified + timedelta(hours=2)  # the cap wins
    assert late.started_at == classified - timedelta(hours=22)
    assert late.status is ClockStatus.DUE_SOON
    assert late.explanation == ("24 hours from awareness (recorded 4 May 12:00 UTC); the "
                                "earlier of 4 hours from classification and 24 hours from "
                                "awareness")
    prompt = clock("dora_initial", inputs(triggers={
        "classification": classified, "awareness": classified - timedelta(minutes=10)}), now)
    assert prompt.due_at == classified + timedelta(hours=4)
    assert prompt.explanation.startswith("4 hours from classification")
    aware_only = clock("dora_initial", inputs(triggers={"awareness": classified}), now)
    assert aware_only.due_at == classified + timedelta(hours=24)
    assert aware_only.status is ClockStatus.RUNNING
    neither = clock("dora_initial", inputs(), now)
    assert neither.status is ClockStatus.WAITING_TRIGGER
    assert neither.explanation == "Starts when classification or awareness is recorded"


def test_dora_intermediate_and_final_chain_on_the_reports_sent() -> None:
    initial_sent = utc(2026, 5, 5, 13)
    chain = {"dora_initial": Satisfaction(initial_sent, 1)}
    intermediate = clock("dora_intermediate", inputs(satisfied=chain, zone="Europe/Paris"),
                         utc(2026, 5, 5, 14))
    assert intermediate.due_at == initial_sent + timedelta(hours=72)
    final_waiting = clock("dora_final", inputs(satisfied=chain, zone="Europe/Paris"),
                          utc(2026, 5, 5, 14))
    assert final_waiting.status is ClockStatus.WAITING_TRIGGER
    chain["dora_intermediate"] = Satisfaction(utc(2026, 5, 7, 9), 2)
    final = clock("dora_final", inputs(satisfied=chain, zone="Europe/Paris"), utc(2026, 5, 8))
    assert final.due_at == utc(2026, 6, 7, 9)
    assert clock("dora_intermediate", inputs(satisfied=chain, zone="Europe/Paris"),
                 utc(2026, 5, 8)).status is ClockStatus.SATISFIED


# -------------------------------------------------------------- applicability and the SLA

def test_contract_sla_runs_from_detection_without_the_regulatory_flag() -> None:
    detected = utc(2026, 3, 2, 9)
    states = evaluate_clocks(RULES, inputs(detected_at=detected, sla_minutes=240, flag=False),
                             utc(2026, 3, 2, 10), CAL)
    assert [s.rule.id for s in states] == ["contract_sla"]
    sla = states[0]
    assert sla.rule.amount == 240 and sla.rule.recipient == "Customer (contract)"
    assert sla.started_at == detected and sla.due_at == utc(2026, 3, 2, 13)
    assert sla.status is ClockStatus.RUNNING
    assert sla.explanation == "240 minutes from detection (recorded 2 Mar 09:00 UTC)"


def test_applicable_rules_follow_regimes_flag_and_in_force() -> None:
    assert applicable_rules(RULES, ALL_REGIMES, None, False) == []
    assert [r.id for r in applicable_rules(RULES, ALL_REGIMES, 30, False)] == ["contract_sla"]
    gdpr = [r.id for r in applicable_rules(RULES, frozenset({"gdpr"}), None, True)]
    assert gdpr == ["gdpr_art33", "gdpr_art34"]
    proposed = [dataclasses.replace(BY_ID["gdpr_art33"], in_force=False), BY_ID["gdpr_art34"]]
    assert [r.id for r in applicable_rules(proposed, frozenset({"gdpr"}), None, True)] == \
        ["gdpr_art34"]
    everything = applicable_rules(RULES, ALL_REGIMES, 60, True)
    assert [r.id for r in everything] == [r.id for r in RULES]  # the table's order


def test_evaluation_with_a_calendar_reads_nothing_from_disk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*parts: str) -> None:
        raise AssertionError(f"read {parts} during evaluation")

    monkeypatch.setattr(regulatory, "resource", refuse)
    monkeypatch.setattr(HolidayCalendar, "load", classmethod(lambda cls: refuse("calendar")))
    states = evaluate_clocks(RULES, inputs(triggers={
        "materiality_determination": utc(2026, 11, 25, 15)}, sla_minutes=60),
        utc(2026, 11, 26), CAL)
    assert len(states) == len(RULES)
    assert all(isinstance(s.rule, RegulatoryRule) for s in states)
