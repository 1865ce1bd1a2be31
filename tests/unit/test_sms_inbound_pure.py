"""The pure parts of reading SMS replies and honouring opt-outs (issue 25): the provider's list
items and dates, the numbers compared, the words of an opt-out, which contact points may be
texted, where a check starts reading, and how a 21610 answer is classified."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from app.errors import ClarionError
from app.mailbox.sms import POSITION_MARGIN, keyword_of, since_for
from app.sending.channels.base import PERMANENT, AccountDTO
from app.sending.channels.sms import InboundSmsData, SmsSender, inbound_message, rfc2822_utc
from app.stakeholders.opt_out import (
    not_sent_reason, number_key, stop_reason, unreachable_reason,
)
from app.stakeholders.recipients import choose_contact, usable_contacts, why_unreachable

UTC = timezone.utc
AT = datetime(2026, 12, 7, 10, 4, tzinfo=UTC)


def item(**changes):  # type: ignore[no-untyped-def]
    base = {"sid": "SM1", "direction": "inbound", "from": "+12065550101", "to": "+14155550100",
            "body": "YES", "date_sent": "Mon, 07 Dec 2026 10:04:00 +0000",
            "date_created": "Mon, 07 Dec 2026 10:03:59 +0000"}
    base.update(changes)
    return base


def test_an_inbound_list_item_becomes_a_message_and_others_do_not():
    assert inbound_message(item()) == InboundSmsData("SM1", "+12065550101", "+14155550100",
                                                     "YES", AT)
    for direction in ("outbound-api", "outbound-reply", "outbound-call", "", None):
        assert inbound_message(item(direction=direction)) is None
    assert inbound_message(item(sid="")) is None
    assert inbound_message("not a dict") is None
    # no date sent: when the provider created it; no date at all: not taken
    assert inbound_message(item(date_sent=None)).sent_at == AT - timedelta(seconds=1)
    assert inbound_message(item(date_sent="soon", date_created=None)) is None
    assert inbound_message(item(body=None, **{"from": None})).body == ""


def test_the_providers_dates_are_read_as_aware_utc():
    assert rfc2822_utc("Mon, 07 Dec 2026 10:04:00 +0000") == AT
    assert rfc2822_utc("Mon, 07 Dec 2026 05:04:00 -0500") == AT
    assert rfc2822_utc("Mon, 07 Dec 2026 10:04:00 -0000").tzinfo == UTC
    for bad in ("", "  ", "tomorrow", None, 12):
        assert rfc2822_utc(bad) is None


def test_numbers_are_compared_in_e164():
    assert number_key("+1 (206) 555-0101") == "+12065550101"
    assert number_key(" +12065550101 ") == "+12065550101"
    assert number_key("HarborIT") == "" and number_key("") == ""


def test_the_words_of_an_opt_out():
    assert stop_reason(AT) == "replied STOP on 7 Dec 2026 10:04 UTC"
    # a time in another zone is said in UTC; the keyword as the person wrote it
    eastern = AT.astimezone(timezone(timedelta(hours=-5)))
    assert stop_reason(eastern, "unsubscribe") == "replied UNSUBSCRIBE on 7 Dec 2026 10:04 UTC"
    assert unreachable_reason("replied STOP on 7 Dec 2026 10:04 UTC") == \
        "opted out of SMS — replied STOP on 7 Dec 2026 10:04 UTC"
    assert unreachable_reason("") == "opted out of SMS"
    assert not_sent_reason("+12065550101", "replied STOP on 7 Dec 2026 10:04 UTC") == (
        "Not sent: +12065550101 opted out of SMS since it was queued (replied STOP on 7 Dec "
        "2026 10:04 UTC)")
    assert keyword_of(" Stop. ") == "STOP" and keyword_of("un-subscribe!") == "UNSUBSCRIBE"


def test_an_opted_out_sms_number_is_never_chosen_the_next_contact_point_is():
    contacts = [("sms", "+12065550101", 1, True, "replied STOP on 7 Dec 2026 10:04 UTC"),
                ("email", "ada@example.com", 2, False, ""),
                ("phone", "+12065550101", 3, True, "")]   # only SMS opts out
    usable, stopped = usable_contacts(contacts)
    assert usable == [("email", "ada@example.com", 2), ("phone", "+12065550101", 3)]
    assert stopped == ["replied STOP on 7 Dec 2026 10:04 UTC"]
    assert choose_contact(usable, {"sms", "email"}, "sms") == ("email", "ada@example.com")
    assert choose_contact(usable, {"sms"}, "sms") is None
    assert why_unreachable({"sms"}, stopped) == \
        "opted out of SMS — replied STOP on 7 Dec 2026 10:04 UTC"
    assert why_unreachable(None, stopped) == why_unreachable({"sms"}, stopped)
    # asked for email only: the opt-out is not why
    assert why_unreachable({"email"}, stopped) == "no contact point on email"
    assert why_unreachable({"sms", "email"}, []) == "no contact point on email, sms"
    assert why_unreachable(None, []) == "no contact point on any channel"


def test_a_check_reads_from_its_position_less_a_margin_or_the_last_week():
    now = AT
    assert since_for(None, now) == now - timedelta(days=7)
    assert since_for(None, now, lookback_days=2) == now - timedelta(days=2)
    assert since_for(AT - timedelta(hours=1), now) == AT - timedelta(hours=1) - POSITION_MARGIN
    assert POSITION_MARGIN == timedelta(minutes=5)


def sender(base_url: str = "https://api.twilio.com") -> SmsSender:
    return SmsSender(AccountDTO(1, "sms", "Twilio", {
        "base_url": base_url, "account_sid": "AC1", "from_number": "+14155550100"}), "t")


def test_21610_is_permanent_and_says_the_number_opted_out():
    refused = httpx.Response(400, json={
        "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400,
        "more_info": "https://www.twilio.com/docs/errors/21610"})
    outcome = sender().classify(7, refused)
    assert (outcome.result, outcome.opted_out, outcome.detail) == (
        PERMANENT, True, "400 Attempt to send to unsubscribed recipient (code 21610)")
    bad_number = httpx.Response(400, json={"code": 21211, "message": "Invalid 'To' Phone Number"})
    assert sender().classify(7, bad_number).opted_out is False
    assert sender().classify(7, httpx.Response(201, json={"sid": "SM1"})).opted_out is False


def test_the_next_page_is_followed_only_on_the_same_server():
    s = sender()
    assert s._next_page("/2010-04-01/Accounts/AC1/Messages.json?Page=1&PageToken=PA1") == \
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?Page=1&PageToken=PA1"
    same = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?Page=2"
    assert s._next_page(same) == same
    for elsewhere in ("https://evil.example/steal", "//evil.example/steal",
                      "http://api.twilio.com/2010-04-01/x"):
        with pytest.raises(ClarionError, match="not followed"):
            s._next_page(elsewhere)
