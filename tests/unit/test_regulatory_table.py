"""The regulatory rule table as it is parsed (every field, every refusal in its words) and the
wording and edge cases of the clocks (app/clocks/regulatory.py) that the scenario tests in
test_regulatory.py do not pin down: found by mutation testing (issue 26).

The table is parsed afresh in each test here: test_regulatory.py's RULES is parsed once at
import, so a change to the parser would not reach it."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.clocks import regulatory
from app.clocks.regulatory import (
    ClockStatus, ClockUnit, HolidayCalendar, RegulatoryRule, Satisfaction, due_time,
    evaluate_clocks, parse_rules,
)
from app.paths import resource
from tests.unit.test_regulatory import CAL, inputs, utc


def rows() -> list[dict[str, Any]]:
    return json.loads(resource("regulatory", "rules.json").read_text(encoding="utf-8"))["rules"]


def fresh() -> dict[str, RegulatoryRule]:
    return {rule.id: rule for rule in parse_rules(rows())}


# ------------------------------------------------------------------------------ parsing

def test_every_field_of_every_row_is_parsed_as_written() -> None:
    parsed = parse_rules(rows())
    assert [rule.id for rule in parsed] == [row["id"] for row in rows()]
    for rule, row in zip(parsed, rows()):
        cap = row["cap"]
        assert rule == RegulatoryRule(
            id=row["id"], regime=row["regime"], title=row["title"], recipient=row["recipient"],
            audience=tuple(row["audience"]), trigger=row["trigger"], amount=row["amount"],
            unit=ClockUnit(row["unit"]),
            cap=None if cap is None else (cap["trigger"], cap["amount"], ClockUnit(cap["unit"])),
            condition=row["condition"], zone=row["zone"], in_force=row["in_force"],
            source_url=row["source_url"], last_reviewed=date.fromisoformat(row["last_reviewed"]),
            notes=row["notes"]), row["id"]
        assert rule.cap is None or isinstance(rule.cap[2], ClockUnit)
    dora = fresh()["dora_initial"]
    assert dora.cap == ("awareness", 24, ClockUnit.HOURS)


def refused(change: dict[str, Any], rule_id: str = "nis2_final") -> str:
    """The error for the table with `change` made to one row."""
    table = rows()
    row = next(r for r in table if r["id"] == rule_id)
    row.update(change)
    with pytest.raises(ValueError) as error:
        parse_rules(table)
    return str(error.value)


@pytest.mark.parametrize("change, words", [
    ({"regime": "mars"},
     "regime 'mars' is not a Regime (null only for contract_sla)"),
    ({"trigger": "rule:dora_final"},
     "trigger 'rule:dora_final' must name a rule earlier in the table"),
    ({"amount": 0}, "amount must be a positive integer, not 0"),
    ({"amount": "1"}, "amount must be a positive integer, not '1'"),
    ({"amount": 3, "unit": "none"},
     "amount must be null with unit none (and for the contract SLA)"),
    ({"condition": {"min_visitors": 3}},
     "condition min_visitors=3: keys are ('min_affected', 'max_affected', "
     "'min_state_residents'), bounds integers >= 0"),
    ({"condition": {"min_affected": -1}},
     "condition min_affected=-1: keys are ('min_affected', 'max_affected', "
     "'min_state_residents'), bounds integers >= 0"),
    ({"source_url": "ftp://example.org/law"}, "source_url must be an http(s) URL"),
    ({"title": "  "}, "title and recipient must be non-empty strings"),
    ({"recipient": 7}, "title and recipient must be non-empty strings"),
    ({"audience": ["martians"]},
     "audience must list stakeholder categories (['affected_users', 'business_unit', "
     "'compliance_legal', 'customers', 'executives', 'it_staff_msp', 'management', 'media', "
     "'regulators'])"),
    ({"in_force": "yes"}, "in_force must be a boolean and notes a string"),
    ({"notes": None}, "in_force must be a boolean and notes a string"),
    ({"cap": {"trigger": "awareness", "amount": 24, "unit": "year_end_days"}},
     "a cap needs a fixed clock and a cap unit other than none/year_end_days"),
    ({"cap": {"trigger": "awareness", "amount": 24, "unit": "none"}},
     "a cap needs a fixed clock and a cap unit other than none/year_end_days"),
    ({"cap": {"trigger": "awareness", "amount": 0, "unit": "hours"}},
     "cap amount must be a positive integer, not 0"),
])
def test_a_malformed_row_is_refused_with_the_rule_and_the_reason(change: dict[str, Any],
                                                                  words: str) -> None:
    assert refused(change) == f"Regulatory rule nis2_final: {words}"


def test_a_cap_on_a_clock_without_a_fixed_deadline_is_refused() -> None:
    cap = {"trigger": "awareness", "amount": 24, "unit": "hours"}
    assert refused({"cap": cap}, "gdpr_art34") == (
        "Regulatory rule gdpr_art34: a cap needs a fixed clock and a cap unit other than "
        "none/year_end_days")


def test_missing_and_unknown_fields_are_named() -> None:
    table = rows()
    del table[1]["notes"]
    table[1]["comment"] = "?"
    with pytest.raises(ValueError) as error:
        parse_rules(table)
    assert str(error.value) == "Regulatory rule gdpr_art34: missing ['notes'], unknown ['comment']"


@pytest.mark.parametrize("rule_id, name", [("", "#2"), (7, "7"), ("gdpr_art33", "gdpr_art33")])
def test_an_id_must_be_a_unique_non_empty_string(rule_id: object, name: str) -> None:
    """An empty id cannot name its rule: the row's place does (#2 is the second row)."""
    table = rows()
    table[1]["id"] = rule_id
    with pytest.raises(ValueError) as error:
        parse_rules(table)
    assert str(error.value) == f"Regulatory rule {name}: id must be a unique non-empty string"


def test_a_row_that_is_not_an_object_is_named_by_its_place() -> None:
    table: list[Any] = rows()[:2] + [["not", "a", "rule"]]
    with pytest.raises(ValueError) as error:
        parse_rules(table)
    assert str(error.value).startswith("Regulatory rule #3: missing [")


def test_only_the_contract_sla_has_no_regime() -> None:
    assert refused({"regime": "gdpr"}, "contract_sla") == (
        "Regulatory rule contract_sla: regime 'gdpr' is not a Regime (null only for "
        "contract_sla)")


def test_the_smallest_values_a_rule_may_hold_are_accepted() -> None:
    """One unit, a bound of zero, a plain http source: all valid."""
    table = rows()
    row = next(r for r in table if r["id"] == "nis2_final")
    row.update(amount=1, condition={"min_affected": 0}, source_url="http://example.org/law")
    rule = {r.id: r for r in parse_rules(table)}["nis2_final"]
    assert (rule.amount, rule.condition, rule.source_url) == (
        1, {"min_affected": 0}, "http://example.org/law")


def test_a_calendar_whose_years_are_reversed_is_refused() -> None:
    with pytest.raises(ValueError) as error:
        HolidayCalendar({}, 2027, 2026)
    assert str(error.value) == "first_year 2027 > last_year 2026"


# ---------------------------------------------------------------------------- due times

def test_due_times_are_in_utc_itself_for_every_unit() -> None:
    start = utc(2026, 3, 2, 9)
    base = fresh()["gdpr_art33"]
    for unit in (ClockUnit.MINUTES, ClockUnit.HOURS, ClockUnit.CALENDAR_DAYS,
                 ClockUnit.BUSINESS_DAYS, ClockUnit.MONTHS, ClockUnit.YEAR_END_DAYS):
        due = due_time(dataclasses.replace(base, amount=2, unit=unit), start,
                       "America/New_York", CAL)
        assert due is not None and due.tzinfo is UTC, unit


def test_a_month_ending_in_the_repeated_hour_of_the_autumn_change_takes_the_first() -> None:
    """1 Oct 01:30 New York + one month = 1 Nov 01:30, which happens twice (EDT, then EST):
    the earlier of the two (05:30 UTC) — a deadline never moves later by the clock change."""
    rule = dataclasses.replace(fresh()["nis2_final"], zone="America/New_York")
    start = datetime(2026, 10, 1, 5, 30, tzinfo=UTC)     # 01:30 EDT
    assert due_time(rule, start, "UTC", CAL) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_the_contract_sla_has_no_due_time_until_its_minutes_are_filled_in() -> None:
    sla = fresh()["contract_sla"]
    assert sla.amount is None
    assert due_time(sla, utc(2026, 3, 2, 9), "UTC", CAL) is None
    assert due_time(dataclasses.replace(sla, amount=30), utc(2026, 3, 2, 9), "UTC",
                    CAL) == utc(2026, 3, 2, 9, 30)


def test_a_due_time_with_a_calendar_reads_nothing_from_disk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_disk() -> HolidayCalendar:
        raise AssertionError("the calendar was loaded from disk")

    monkeypatch.setattr(HolidayCalendar, "load", classmethod(lambda cls: no_disk()))
    sec = fresh()["sec_8k_105"]
    assert due_time(sec, utc(2026, 3, 2, 15), "UTC", CAL) == datetime(
        2026, 3, 7, 4, 59, 59, tzinfo=UTC)    # Friday 23:59:59 in New York


# ------------------------------------------------------------------------------ wording

@pytest.mark.parametrize("amount, unit, words", [
    (1, ClockUnit.CALENDAR_DAYS, "1 calendar day from awareness"),
    (2, ClockUnit.CALENDAR_DAYS, "2 calendar days from awareness"),
    (1, ClockUnit.BUSINESS_DAYS, "1 business day from awareness"),
    (1, ClockUnit.HOURS, "1 hour from awareness"),
    (2, ClockUnit.MONTHS, "2 months from awareness"),
])
def test_the_span_is_worded_in_the_singular_for_one(amount: int, unit: ClockUnit,
                                                    words: str) -> None:
    rule = dataclasses.replace(fresh()["gdpr_art33"], amount=amount, unit=unit)
    aware = utc(2026, 3, 2, 9)
    [state] = evaluate_clocks([rule], inputs(triggers={"awareness": aware}, regimes=frozenset(
        {"gdpr"})), aware + timedelta(minutes=5), CAL)
    assert state.explanation == f"{words} (recorded 2 Mar 09:00 UTC)"


def test_a_clock_chained_on_a_report_says_when_that_report_was_sent() -> None:
    table = fresh()
    sent = utc(2026, 5, 5, 13)
    [initial, intermediate, final] = evaluate_clocks(
        [table["dora_initial"], table["dora_intermediate"], table["dora_final"]],
        inputs(satisfied={"dora_initial": Satisfaction(sent, 1)}), utc(2026, 5, 5, 14), CAL)
    assert intermediate.explanation == (
        f"72 hours from the {table['dora_initial'].title} (sent 5 May 13:00 UTC)")
    assert final.explanation == f"Starts when the {table['dora_intermediate'].title} is sent"


def test_a_chained_rule_whose_parent_is_not_evaluated_is_named_by_its_id() -> None:
    [state] = evaluate_clocks([fresh()["dora_final"]], inputs(), utc(2026, 5, 5, 14), CAL)
    assert state.explanation == "Starts when the dora_intermediate is sent"


def test_every_unmet_and_every_unknown_condition_is_listed() -> None:
    rule = dataclasses.replace(fresh()["hipaa_media"],
                               condition={"min_affected": 500, "min_state_residents": 501})
    found = utc(2026, 3, 2, 9)
    [unmet] = evaluate_clocks([rule], inputs(triggers={"discovery": found}, affected=10,
                                             state_residents=20), found, CAL)
    assert unmet.status is ClockStatus.NOT_APPLICABLE
    assert unmet.explanation == (
        "Applies only if 500 or more individuals are affected (entered: 10) and more than 500 "
        "residents of one state are affected (entered: 20)")
    [unknown] = evaluate_clocks([rule], inputs(triggers={"discovery": found}), found, CAL)
    assert unknown.explanation.startswith(
        "Applies if 500 or more individuals are affected and more than 500 residents of one "
        "state are affected; number not yet entered: 60 calendar days from discovery")


def test_an_unknown_count_before_a_clock_without_deadline_keeps_the_sentence_readable() -> None:
    rule = dataclasses.replace(fresh()["gdpr_art34"], condition={"min_affected": 500})
    risk = utc(2026, 3, 2, 9)
    [state] = evaluate_clocks([rule], inputs(triggers={"high_risk": risk},
                                             regimes=frozenset({"gdpr"})), risk, CAL)
    assert state.explanation == ("Applies if 500 or more individuals are affected; number not "
                                 "yet entered: without undue delay: no fixed deadline")


# ------------------------------------------------------------------------------- states

def test_a_notice_sent_is_kept_whatever_the_clock_now_says() -> None:
    """Sent before the count ruled the rule out, or before its trigger was recorded: the
    notice is still on the clock's record."""
    table = fresh()
    sent = Satisfaction(utc(2026, 3, 3, 9), 12)
    [out_of_scope] = evaluate_clocks([table["hipaa_hhs_500_plus"]], inputs(
        triggers={"discovery": utc(2026, 3, 2, 9)}, affected=10,
        satisfied={"hipaa_hhs_500_plus": sent}), utc(2026, 3, 4), CAL)
    assert out_of_scope.status is ClockStatus.NOT_APPLICABLE
    assert out_of_scope.satisfied == sent
    [early] = evaluate_clocks([table["gdpr_art34"]], inputs(
        satisfied={"gdpr_art34": sent}), utc(2026, 3, 4), CAL)
    assert (early.status, early.satisfied) == (ClockStatus.SATISFIED, sent)


def test_a_met_deadline_keeps_its_start_and_says_when_the_notice_went() -> None:
    aware = utc(2026, 3, 2, 9)
    rule = fresh()["gdpr_art33"]
    on_time, late = (
        evaluate_clocks([rule], inputs(triggers={"awareness": aware}, satisfied={
            "gdpr_art33": Satisfaction(at, 3)}), utc(2026, 3, 9), CAL)[0]
        for at in (utc(2026, 3, 4, 9), utc(2026, 3, 5, 10, 30)))
    assert (on_time.status, on_time.started_at) == (ClockStatus.SATISFIED, aware)
    assert on_time.explanation == ("72 hours from awareness (recorded 2 Mar 09:00 UTC); sent "
                                   "4 Mar 09:00 UTC")
    assert (late.status, late.started_at) == (ClockStatus.SATISFIED_LATE, aware)
    assert late.explanation == ("72 hours from awareness (recorded 2 Mar 09:00 UTC); sent "
                                "5 Mar 10:30 UTC, 1 h 30 min late")


def test_a_clock_without_deadline_shows_its_start_and_the_time_since() -> None:
    risk = utc(2026, 3, 2, 9)
    [state] = evaluate_clocks([fresh()["gdpr_art34"]], inputs(triggers={"high_risk": risk}),
                              utc(2026, 3, 2, 12), CAL)
    assert (state.status, state.started_at, state.elapsed) == (
        ClockStatus.ELAPSED, risk, timedelta(hours=3))


def test_when_the_cap_and_the_clock_fall_due_together_the_clock_itself_is_shown() -> None:
    classified = utc(2026, 5, 5, 10)
    [state] = evaluate_clocks([fresh()["dora_initial"]], inputs(triggers={
        "classification": classified, "awareness": classified - timedelta(hours=20)}),
        classified, CAL)
    assert state.due_at == classified + timedelta(hours=4)
    assert state.started_at == classified
    assert state.explanation.startswith("4 hours from classification (recorded 5 May 10:00 UTC)")


def test_the_module_copy_of_the_table_is_not_changed_by_parsing() -> None:
    table = rows()
    before = copy.deepcopy(table)
    parse_rules(table)
    assert table == before
    assert regulatory.CONTRACT_SLA_ID == "contract_sla"


def test_a_state_restated_at_another_moment_equals_a_fresh_evaluation() -> None:
    """state_at (the kept evaluations of issue 22): every status, at moments before, at and
    after the due times — a running clock moves on, a met or waiting one stays as it was."""
    from app.clocks.regulatory import state_at

    table = fresh()
    aware = utc(2026, 3, 2, 9)
    cases = [
        (table["gdpr_art33"], inputs(triggers={"awareness": aware})),               # running
        (table["gdpr_art34"], inputs(triggers={"high_risk": aware})),               # elapsed
        (table["gdpr_art33"], inputs(triggers={"awareness": aware}, satisfied={
            "gdpr_art33": Satisfaction(utc(2026, 3, 6, 9), 4)})),                    # late
        (table["gdpr_art34"], inputs()),                                            # waiting
        (table["hipaa_hhs_500_plus"], inputs(triggers={"discovery": aware}, affected=3)),
    ]
    moments = [aware + timedelta(hours=h) for h in (0, 1, 53, 54, 71, 72, 73, 200)]
    for rule, clock_inputs in cases:
        for then in moments:
            [kept] = evaluate_clocks([rule], clock_inputs, then, CAL)
            for now in moments:
                [again] = evaluate_clocks([rule], clock_inputs, now, CAL)
                assert state_at(kept, now) == again, (rule.id, then, now)
