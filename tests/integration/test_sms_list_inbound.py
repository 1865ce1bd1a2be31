"""The SMS account's inbound list as the provider pages it (issue 25): the day filter in UTC
whatever the machine's zone, a page cap said in the log, a message listed twice across pages
(an offset moved by a new text) kept once, and a provider that answers without its list or
points the next page elsewhere refused in words. Against the local SMS API server."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from sms_fixtures import SID, TOKEN, Provider, Reply, http_server

from app.errors import ClarionError
from app.sending.channels.base import AccountDTO
from app.sending.channels.sms import SmsSender, inbound_message

FROM = "+12065550100"
WHEN = datetime(2026, 12, 7, 23, 30, tzinfo=timezone.utc)


def sender_for(url: str) -> SmsSender:
    return SmsSender(AccountDTO(1, "sms", "Texts", {"base_url": url, "account_sid": SID,
                                                   "from_number": FROM}), TOKEN)


def read(sender: SmsSender, since, **kwargs):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        try:
            return await sender.list_inbound(since, **kwargs)
        finally:
            await sender.aclose()
    return asyncio.run(run())


@pytest.fixture
def far_east(monkeypatch):  # type: ignore[no-untyped-def]
    """The machine at UTC+14: its date is tomorrow's while UTC's is still today."""
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_day_asked_for_is_the_utc_day_whatever_the_machines_zone(far_east):
    provider = Provider(number=FROM)
    provider.receive("+12065550101", "YES", date_sent=WHEN)
    asked: list[dict[str, str]] = []
    original = provider.listing
    provider.listing = (  # type: ignore[method-assign]
        lambda query: asked.append(dict(query)) or original(query))
    with http_server(provider) as url:
        [found] = read(sender_for(url), WHEN)
    assert asked[0]["DateSent>"] == "2026-12-07" and asked[0]["To"] == FROM
    assert found.sent_at == WHEN


def test_a_date_without_a_zone_is_utc_not_the_machines(far_east):
    item = {"direction": "inbound", "sid": "SM1", "from": "+12065550101", "to": FROM,
            "body": "OK", "date_sent": "Mon, 07 Dec 2026 10:00:00 -0000"}
    assert inbound_message(item).sent_at == datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
    bare = {"direction": "inbound", "sid": "SM2", "body": "OK",
            "date_sent": "Mon, 07 Dec 2026 10:00:00 +0000"}
    assert (inbound_message(bare).from_number, inbound_message(bare).to_number) == ("", "")
    assert inbound_message(bare).sent_at.utcoffset() == timedelta(0)     # UTC, not +14


def test_a_page_cap_is_said_in_the_log_with_where_and_since(caplog):
    provider = Provider(number=FROM)
    for n in range(250):
        provider.receive("+12065550101", f"reply {n}", date_sent=WHEN - timedelta(minutes=n))
    with http_server(provider) as url, caplog.at_level(logging.WARNING):
        sender = sender_for(url)
        where = sender._where
        found = read(sender, WHEN - timedelta(days=1), max_pages=2)
    assert len(found) == 200 and found[0].body == "reply 0"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{where}: more than 2 pages of messages since 2026-12-06; the oldest were not read"]
    caplog.clear()
    with http_server(provider) as url, caplog.at_level(logging.WARNING):
        sender = sender_for(url)
        assert len(read(sender, None, max_pages=1)) == 100
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{sender._where}: more than 1 pages of messages since the start; the oldest were not "
        "read"]


def test_a_message_listed_twice_across_pages_is_kept_once():
    provider = Provider(number=FROM)
    for n in range(150):
        provider.receive("+12065550101", f"reply {n}", date_sent=WHEN - timedelta(minutes=n))
    original = provider.listing

    def shifted(query):  # type: ignore[no-untyped-def]
        # a text arrived between the pages: the second page starts with the first's last
        answer = original(query)
        if query.get("Page") == "1":
            first = original({**query, "Page": "0"}).body["messages"]
            answer.body["messages"] = [first[-1]] + answer.body["messages"]
        return answer

    provider.listing = shifted   # type: ignore[method-assign]
    with http_server(provider) as url:
        found = read(sender_for(url), None)
    assert len(found) == 150 and len({m.sid for m in found}) == 150


def test_an_answer_without_its_list_and_a_page_elsewhere_are_refused_in_words():
    provider = Provider(number=FROM)
    provider.listing = lambda _q: Reply(200, {"page": 0})   # type: ignore[method-assign]
    with http_server(provider) as url:
        sender = sender_for(url)
        where = sender._where
        with pytest.raises(ClarionError) as refused:
            read(sender, None)
    assert str(refused.value) == f"{where} answered the message list without its messages."
    odd = "javascript:" + "x" * 120
    with pytest.raises(ClarionError) as elsewhere:
        sender_for("http://127.0.0.1:9")._next_page(odd)
    assert str(elsewhere.value).endswith(f"({odd[:80]}); it was not followed.")


def test_21610_is_permanent_and_opts_out_and_nothing_else_does():
    import httpx

    from app.sending.channels.base import AUTH_FAILED, PERMANENT, UNKNOWN

    sender = sender_for("http://127.0.0.1:9")
    refused = sender.classify(7, httpx.Response(400, json={
        "code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}))
    assert (refused.delivery_id, refused.result, refused.opted_out) == (7, PERMANENT, True)
    assert "Attempt to send to unsubscribed recipient" in refused.detail
    bad = sender.classify(7, httpx.Response(400, json={
        "code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}))
    assert (bad.result, bad.opted_out) == (PERMANENT, False)
    odd = sender.classify(7, httpx.Response(500, json={"code": 21610, "message": "?"}))
    assert (odd.result, odd.opted_out) == (UNKNOWN, False)
    account = sender.classify(7, httpx.Response(403, json={"code": 20404, "message": "no"}))
    assert (account.delivery_id, account.result) == (7, AUTH_FAILED)
    assert account.detail.startswith(f"{sender._where} refused this account's request: ")
