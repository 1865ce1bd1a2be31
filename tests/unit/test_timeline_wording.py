"""How a retry reads (app/sending/wording.py): the entry says "later" and keeps the time in UTC
in its data; the window and the reports show the time in their own zone, with the reason."""

from __future__ import annotations

from datetime import datetime, timezone

from app.domain.dto import TimelineEntryDTO
from app.sending.wording import describe_retry

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def entry(summary, data, kind="delivery_retry"):
    return TimelineEntryDTO(1, 1, AT, kind, "outbox", summary, data)


def hhmm(at):
    return at.astimezone(timezone.utc).strftime("%H:%M")


def test_one_retry_reads_with_its_time_and_reason():
    e = entry("Not yet delivered to Cy by SMS; will retry later: 429 slow down",
              {"next_attempt_at": "2026-03-02T09:02:00+00:00"})
    assert describe_retry(e, hhmm) == "Not yet delivered to Cy by SMS; will retry at 09:02 " \
                                      "(429 slow down)"
    drill = entry("Not yet delivered to Cy by SMS; will retry later: 429 slow down (drill)",
                  {"next_attempt_at": "2026-03-02T09:02:00"})   # a naive UTC time too
    assert describe_retry(drill, hhmm) == ("Not yet delivered to Cy by SMS; will retry at "
                                           "09:02 (429 slow down) (drill)")
    bare = entry("Not yet delivered to Cy by SMS; will retry later",
                 {"next_attempt_at": "2026-03-02T09:02:00+00:00"})
    assert describe_retry(bare, hhmm) == "Not yet delivered to Cy by SMS; will retry at 09:02"


def test_a_summary_of_many_retries_says_from_when():
    e = entry("Not yet delivered to 25 recipients by email; will retry later: 451 busy",
              {"deliveries": [{"id": 1, "next_attempt_at": "2026-03-02T09:05:00+00:00"},
                              {"id": 2, "next_attempt_at": "2026-03-02T09:03:00+00:00"}]})
    assert describe_retry(e, hhmm) == ("Not yet delivered to 25 recipients by email; will "
                                       "retry from 09:03 (451 busy)")


def test_other_entries_and_old_ones_read_as_written():
    sent = entry("Sent to Ana by email", {}, kind="delivery_sent")
    assert describe_retry(sent, hhmm) == "Sent to Ana by email"
    old = entry("Not yet delivered to Cy by SMS; will retry in 2 min: 429",
                {"next_attempt_at": "2026-03-02T09:02:00+00:00"}, kind="delivery_failed")
    assert describe_retry(old, hhmm) == old.summary       # written before this wording
    no_time = entry("Not yet delivered to Cy by SMS; will retry later: 429", {})
    assert describe_retry(no_time, hhmm) == no_time.summary


def test_a_clock_entry_is_written_in_utc_and_read_in_the_readers_zone():
    from app.clocks.wording import describe_clock_entry, utc_text

    at = datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc)
    assert utc_text(at) == "2026-03-02 09:05 UTC"
    started = entry(f"Decision: awareness established at {utc_text(at)} — by phone",
                    {"effective_at": at.isoformat()}, kind="clock_started")
    from zoneinfo import ZoneInfo

    def pacific(t):
        return t.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%H:%M %Z")

    assert describe_clock_entry(started, pacific) == ("Decision: awareness established at "
                                                      "01:05 PST — by phone")
    met = entry(f"Clock satisfied: GDPR — message 3, {utc_text(at)}",
                {"satisfied_at": at.isoformat()}, kind="clock_satisfied")
    assert describe_clock_entry(met, pacific) == "Clock satisfied: GDPR — message 3, 01:05 PST"
    old = entry("Decision: awareness established at Mon 2 Mar 2026 10:05",
                {"effective_at": at.isoformat()}, kind="clock_started")
    assert describe_clock_entry(old, pacific) == old.summary      # as written before


def test_times_inside_a_sentence_are_written_in_utc_and_read_in_the_readers_zone():
    """Clocks' sentences ("Detected at 09:05 UTC: …", "… (recorded 2 Mar 09:05 UTC)") keep
    their times beside the text; a reader shows each in its zone, whatever their order."""
    from zoneinfo import ZoneInfo

    from app.clocks.wording import day_hm_utc, hm_utc, in_zone

    detected = datetime(2026, 3, 2, 7, 5, tzinfo=timezone.utc)
    fact = datetime(2026, 3, 2, 9, 40, tzinfo=timezone.utc)
    la = ZoneInfo("America/Los_Angeles")

    def pacific(at):
        return at.astimezone(la).strftime("%H:%M %Z")

    text = f"A fact changed at {hm_utc(fact)}, after the last update at {hm_utc(detected)}"
    assert text == "A fact changed at 09:40 UTC, after the last update at 07:05 UTC"
    assert in_zone(text, [detected, fact], pacific) == (
        "A fact changed at 01:40 PST, after the last update at 23:05 PST")
    # with its day: the day is the reader's too (23:05 PST is still 1 March there)
    day = f"72 h from awareness (recorded {day_hm_utc(detected)})"
    assert day == "72 h from awareness (recorded 2 Mar 07:05 UTC)"
    # another zone's time is written in UTC, with the UTC day and month
    assert day_hm_utc(datetime(2026, 12, 31, 18, 59, tzinfo=ZoneInfo("America/New_York"))) \
        == "31 Dec 23:59 UTC"
    assert day_hm_utc(datetime(2027, 1, 1, 0, 5, tzinfo=timezone.utc)) == "1 Jan 00:05 UTC"

    def dated(at):
        return at.astimezone(la).strftime("%-d %b %H:%M %Z")

    assert in_zone(day, [detected], dated) == "72 h from awareness (recorded 1 Mar 23:05 PST)"
    assert in_zone("Nothing to show", [detected], pacific) == "Nothing to show"


def test_an_escalation_entry_keeps_its_times_and_reads_in_the_readers_zone():
    from app.clocks.wording import describe_clock_entry

    at = datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc)
    proposed = entry("Escalation proposed: Severity raised — SEV2 → SEV1 at 09:05 UTC",
                     {"times": [at.isoformat()]}, kind="escalation_proposed")
    assert describe_clock_entry(proposed, lambda t: "10:05 CET") == (
        "Escalation proposed: Severity raised — SEV2 → SEV1 at 10:05 CET")
    old = entry("Escalation proposed: Severity raised — SEV2 → SEV1 at 09:05", {},
                kind="escalation_proposed")                   # written before: as written
    assert describe_clock_entry(old, lambda t: "10:05 CET") == old.summary


def test_a_reminder_keeps_its_due_times_in_utc_and_reads_them_in_the_readers_zone():
    from app.clocks.wording import describe_clock_entry

    due = datetime(2026, 3, 2, 9, 5, tzinfo=timezone.utc)
    items = [{"key": "status_update", "due_at": due.isoformat(), "title": "Status update"},
             {"key": "resolution_notice", "due_at": "2026-03-02T10:00:00+00:00",
              "title": "Resolution notice"}]
    reminder = entry("Overdue: Status update, Resolution notice", {"items": items},
                     kind="reminder")
    assert describe_clock_entry(reminder, hhmm) == (
        "Overdue: Status update (due 09:05), Resolution notice (due 10:00)")
    assert describe_clock_entry(entry("Overdue: x", {}, kind="reminder"), hhmm) == "Overdue: x"
