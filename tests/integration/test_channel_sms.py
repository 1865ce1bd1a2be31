"""SmsSender against a local HTTP server speaking Twilio's Messages API shape; the drill inbox;
chat webhooks over a local https server with a certificate made at test time."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import httpx
import pytest

from app.sending.channels.base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN, AccountDTO,
                               OutgoingMessage, SendOutcome)
from app.sending.channels.drill import DrillSender
from app.sending.channels.factory import sender_for
from app.sending.channels.sms import HttpPool, SmsSender, parse_retry_after, tls_verify
from app.sending.channels.webhook import WebhookSender
from app.errors import ClarionError
from sms_fixtures import HANG, SID, TOKEN, Provider, Reply, http_server
from smtp_fixtures import free_port, make_cert

DEADLINE = 15.0


def sms_account(base_url: str, **extra: Any) -> AccountDTO:
    settings = {"base_url": base_url, "account_sid": SID, "from_number": "+15550100999",
                "concurrency": 4, "timeout": 5}
    settings.update(extra)
    return AccountDTO(id=2, kind="sms", name="Twilio", settings=settings)


def sms(n: int, to: str | None = None, text: str = "Portal down. Next update 16:30.",
        is_drill: bool = False) -> OutgoingMessage:
    return OutgoingMessage(delivery_id=n, channel="sms", address=to or f"+1555010{n:04d}",
                           recipient_name=f"User {n}", subject="", text=text, html="",
                           email_message_id="", idempotency_key=f"k{n}", is_drill=is_drill)


def send_all(sender: Any, messages: Sequence[OutgoingMessage]) -> dict[int, SendOutcome]:
    outcomes: list[SendOutcome] = []

    async def run() -> None:
        try:
            await asyncio.wait_for(sender.send(messages, outcomes.append), DEADLINE)
        finally:
            await sender.aclose()

    asyncio.run(run())
    by_id = {o.delivery_id: o for o in outcomes}
    assert len(outcomes) == len(messages) == len(by_id), outcomes
    return by_id


# ---- SMS ------------------------------------------------------------------------------------

def test_sms_is_sent_with_the_provider_sid_and_its_status_can_be_polled():
    provider = Provider()
    with http_server(provider) as url:
        sender = SmsSender(sms_account(url), TOKEN)
        outcome = send_all(sender, [sms(1, text="Portal down.")])[1]

        async def poll() -> str:
            try:
                return await sender.poll_status(outcome.provider_id)
            finally:
                await sender.aclose()
        status = asyncio.run(poll())
    assert outcome.result == SENT and outcome.provider_id.startswith("SM")
    assert status == "delivered"
    request, poll_request = provider.requests
    assert poll_request["method"] == "GET"
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["form"] == {"To": "+15550100001", "From": "+15550100999",
                               "Body": "Portal down."}


def test_a_messaging_service_replaces_the_from_number():
    provider = Provider()
    with http_server(provider) as url:
        account = sms_account(url, from_number="", messaging_service_sid="MG123")
        assert send_all(SmsSender(account, TOKEN), [sms(1)])[1].result == SENT
    assert provider.requests[0]["form"]["MessagingServiceSid"] == "MG123"
    assert "From" not in provider.requests[0]["form"]


def test_provider_answers_are_classified_per_message():
    provider = Provider(by_to={
        "+15550100002": Reply(400, {"code": 21211, "status": 400, "message":
                                    "The 'To' number +15550100002 is not a valid phone "
                                    "number."}),
        "+15550100003": Reply(400, {"code": 21610, "status": 400, "message":
                                    "Attempt to send to unsubscribed recipient"}),
        "+15550100004": Reply(429, {"code": 20429, "status": 429, "message": "Too Many "
                                    "Requests"}, {"Retry-After": "7"}),
        "+15550100005": Reply(500, {"code": 20500, "status": 500, "message": "Internal "
                                    "Server Error"}),
        "+15550100006": Reply(503, "upstream unavailable"),
    })
    messages = [sms(n) for n in range(1, 8)]
    with http_server(provider) as url:
        outcomes = send_all(SmsSender(sms_account(url), TOKEN), messages)
    assert outcomes[1].result == SENT and outcomes[7].result == SENT
    assert outcomes[2].result == PERMANENT and "21211" in outcomes[2].detail
    assert "not a valid phone number" in outcomes[2].detail
    assert outcomes[3].result == PERMANENT and "unsubscribed" in outcomes[3].detail
    assert outcomes[4].result == TRANSIENT and outcomes[4].retry_after == 7.0
    assert outcomes[5].result == UNKNOWN and "may have been sent" in outcomes[5].detail
    assert outcomes[6].result == UNKNOWN and "upstream unavailable" in outcomes[6].detail


def test_refused_credentials_stop_the_whole_batch():
    provider = Provider()
    with http_server(provider) as url:
        account = sms_account(url, concurrency=1)
        outcomes = send_all(SmsSender(account, "wrong-token"), [sms(n) for n in range(1, 6)])
        with pytest.raises(ClarionError, match="401 Authenticate"):
            asyncio.run(SmsSender(account, "wrong-token").test_connection())
    assert {o.result for o in outcomes.values()} == {AUTH_FAILED}
    assert "20003" in outcomes[1].detail
    assert len(provider.requests) == 2      # one message, then test_connection: no hammering


def test_no_answer_after_the_request_was_sent_is_unknown_never_transient():
    provider = Provider(by_to={"+15550100002": HANG})
    with http_server(provider) as url:
        account = sms_account(url, timeout=0.5)
        outcomes = send_all(SmsSender(account, TOKEN), [sms(1), sms(2), sms(3)])
    assert outcomes[2].result == UNKNOWN, outcomes[2]
    assert "ReadTimeout" in outcomes[2].detail     # the account's timeout, not the server's
    assert outcomes[1].result == SENT and outcomes[3].result == SENT


def test_nothing_listening_is_transient_and_the_rest_is_not_attempted():
    port = free_port()
    account = sms_account(f"http://127.0.0.1:{port}", concurrency=2)
    outcomes = send_all(SmsSender(account, TOKEN), [sms(n) for n in range(1, 11)])
    assert {o.result for o in outcomes.values()} == {TRANSIENT}
    tried = [o for o in outcomes.values() if o.detail.startswith("Cannot reach ")]
    skipped = [o for o in outcomes.values() if o.detail.startswith("Not attempted: ")]
    assert 1 <= len(tried) <= 2 and len(tried) + len(skipped) == 10
    assert all(o.detail.startswith(f"Cannot reach 127.0.0.1:{port}: ConnectError")
               for o in tried)
    assert all(o.detail == f"Not attempted: {tried[0].detail}" or
               o.detail == f"Not attempted: {tried[-1].detail}" for o in skipped)


def test_concurrency_is_bounded():
    provider = Provider(gate=3, expected=12)
    with http_server(provider) as url:
        outcomes = send_all(SmsSender(sms_account(url, concurrency=3), TOKEN),
                            [sms(n) for n in range(1, 13)])
    assert {o.result for o in outcomes.values()} == {SENT}
    assert provider.max_in_flight == 3
    assert len({o.provider_id for o in outcomes.values()}) == 12


def test_bad_numbers_and_settings_never_reach_the_provider():
    provider = Provider()
    with http_server(provider) as url:
        outcome = send_all(SmsSender(sms_account(url), TOKEN), [sms(1, to="0555 0100")])[1]
        insecure = send_all(SmsSender(sms_account("http://sms.example.com"), TOKEN), [sms(2)])
        no_token = send_all(SmsSender(sms_account(url), None), [sms(3)])
    assert outcome.result == PERMANENT and "E.164" in outcome.detail
    assert insecure[2].result == AUTH_FAILED and "https://" in insecure[2].detail
    assert no_token[3].result == AUTH_FAILED and "auth token" in no_token[3].detail
    assert provider.requests == []


def test_sms_test_connection_describes_the_account():
    with http_server(Provider()) as url:
        answer = asyncio.run(SmsSender(sms_account(url), TOKEN).test_connection())
        # a test needs no from number: it sends nothing
        bare = asyncio.run(SmsSender(sms_account(url, from_number=""), TOKEN).test_connection())
    where = url.removeprefix("http://")
    assert answer == f"{where}: account Harbor IT ({SID}), status active, type Full."
    assert bare == answer and TOKEN not in answer
    # what the provider says it is, where it says less
    provider = Provider(account_answer={"sid": "ACsub1"})
    with http_server(provider) as url:
        short = asyncio.run(SmsSender(sms_account(url), TOKEN).test_connection())
    assert short == f"{url.removeprefix('http://')}: account {SID} (ACsub1)."


def test_sms_test_connection_says_what_is_wrong_without_asking_when_it_cannot_work():
    provider = Provider()
    with http_server(provider) as url:
        with pytest.raises(ClarionError, match="^No auth token is stored for this account"):
            asyncio.run(SmsSender(sms_account(url), None).test_connection())
    assert provider.requests == []
    port = free_port()
    with pytest.raises(ClarionError, match=rf"^Cannot reach 127.0.0.1:{port}: ConnectError: "):
        asyncio.run(SmsSender(sms_account(f"http://127.0.0.1:{port}"), TOKEN)
                    .test_connection())


def test_polling_a_status_quotes_the_sid_and_refuses_an_answer_without_status():
    provider = Provider()
    provider.statuses["SM1"] = ""
    with http_server(provider) as url:
        sender = SmsSender(sms_account(url), TOKEN)

        async def poll(sid: str) -> str:
            try:
                return await sender.poll_status(sid)
            finally:
                await sender.aclose()

        with pytest.raises(ClarionError, match=r"reported no status for message SM1\.$"):
            asyncio.run(poll("SM1"))
        with pytest.raises(ClarionError, match="404"):
            asyncio.run(poll("SM/../x"))
    assert provider.requests[-1]["path"] == f"/2010-04-01/Accounts/{SID}/Messages/SM%2F..%2Fx.json"


def test_an_empty_text_is_never_sent():
    provider = Provider()
    with http_server(provider) as url:
        outcomes = send_all(SmsSender(sms_account(url), TOKEN), [sms(1, text=""), sms(2)])
    assert (outcomes[1].result, outcomes[1].detail) == (
        PERMANENT, "The SMS text is empty; nothing was sent.")
    assert outcomes[2].result == SENT
    assert [r["form"]["To"] for r in provider.requests] == ["+15550100002"]


def test_sms_over_https_trusts_the_accounts_ca_file_and_nothing_else(https):
    cert, context = https
    provider = Provider()
    with http_server(provider, tls=context) as url:
        trusted = send_all(SmsSender(sms_account(url, ca_file=str(cert.cert)), TOKEN), [sms(1)])
        untrusted = send_all(SmsSender(sms_account(url), TOKEN), [sms(2), sms(3)])
    assert trusted[1].result == SENT
    assert {o.result for o in untrusted.values()} == {AUTH_FAILED}
    assert "is not trusted" in untrusted[2].detail
    assert [r["form"]["To"] for r in provider.requests] == ["+15550100001"]


def test_retry_after_as_seconds_or_a_date():
    from datetime import datetime, timezone
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# ---- drill ----------------------------------------------------------------------------------

def test_the_drill_inbox_takes_everything_at_once():
    account = AccountDTO(id=9, kind="drill", name="Drill inbox")
    sender = sender_for(account, None)
    assert isinstance(sender, DrillSender)
    outcomes = send_all(sender, [sms(n) for n in range(1, 2501)])
    assert {o.result for o in outcomes.values()} == {SENT}
    assert outcomes[42].provider_id == "drill:42"
    assert outcomes[42].detail == "delivered to the drill inbox"


def test_drill_messages_through_a_real_sms_account_go_nowhere():
    account = sms_account(f"http://127.0.0.1:{free_port()}")
    outcome = send_all(SmsSender(account, TOKEN), [sms(1, is_drill=True)])[1]
    assert (outcome.result, outcome.provider_id) == (SENT, "drill:1")


# ---- chat webhooks --------------------------------------------------------------------------

@pytest.fixture
def https(tmp_path: Path):
    cert = make_cert(tmp_path)
    context = cert.server_context()
    return cert, context


def chat(n: int) -> OutgoingMessage:
    return OutgoingMessage(delivery_id=n, channel="slack", address="#incidents",
                           recipient_name="Incidents", subject="Portal outage",
                           text="We are restoring the portal.", html="",
                           email_message_id="", idempotency_key=f"w{n}")


def hook(kind: str, cert_file: Path | None, **settings: Any) -> AccountDTO:
    if cert_file is not None:
        settings["ca_file"] = str(cert_file)
    return AccountDTO(id=3, kind=kind, name=kind, settings={"timeout": 2, **settings})


def test_slack_teams_and_generic_webhooks_post_their_shapes(https):
    cert, context = https
    provider = Provider()
    with http_server(provider, kind="webhook", tls=context) as url:
        for kind in ("slack", "teams", "webhook"):
            sender = sender_for(hook(kind, cert.cert), f"{url}/hooks/{kind}")
            assert isinstance(sender, WebhookSender)
            assert send_all(sender, [chat(1)])[1].result == SENT
    slack, teams, generic = (r["json"] for r in provider.requests)
    assert slack == {"text": "*Portal outage*\n\nWe are restoring the portal."}
    assert teams["@type"] == "MessageCard" and teams["title"] == "Portal outage"
    assert teams["text"] == "We are restoring the portal."
    assert generic == {"subject": "Portal outage", "text": "We are restoring the portal."}
    assert provider.requests[2]["headers"]["Idempotency-Key"] == "w1"
    assert {kind for kind, _ in provider.bodies} == {"application/json"}


def test_a_webhook_posts_the_body_stored_at_its_first_claim_as_it_is(https):
    """The stored body goes out byte for byte, even when the texts it came from read
    differently now (they never change after queuing; the point is that it is not rebuilt)."""
    cert, context = https
    provider = Provider()
    sender = WebhookSender(hook("webhook", cert.cert), "")
    stored = sender.freeze(chat(1), datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert json.loads(stored) == {"subject": "Portal outage",
                                  "text": "We are restoring the portal."}
    with http_server(provider, kind="webhook", tls=context) as url:
        sender = WebhookSender(hook("webhook", cert.cert), f"{url}/hooks/x")
        marked = replace(chat(1), subject="rebuilt would differ", wire=stored)
        assert send_all(sender, [marked])[1].result == SENT
    assert provider.bodies == [("application/json", stored)]
    assert provider.requests[0]["headers"]["Idempotency-Key"] == "w1"


def test_webhook_answers_are_classified(https):
    cert, context = https
    provider = Provider(by_to={
        "/busy": Reply(429, "rate_limited", {"Retry-After": "3"}),
        "/bad": Reply(400, "invalid_payload"),
        "/gone": Reply(404, "no_service"),
        "/broken": Reply(500, "internal error"),
        "/slow": HANG,
    })
    expected = {"/ok": SENT, "/busy": TRANSIENT, "/bad": PERMANENT, "/gone": AUTH_FAILED,
                "/broken": UNKNOWN, "/slow": UNKNOWN}
    got = {}
    with http_server(provider, kind="webhook", tls=context) as url:
        for path in expected:
            sender = WebhookSender(hook("slack", cert.cert, timeout=0.5), url + path)
            got[path] = send_all(sender, [chat(1)])[1]
    assert {p: o.result for p, o in got.items()} == expected
    assert got["/busy"].retry_after == 3.0
    assert "no_service" in got["/gone"].detail


def test_webhooks_are_https_only_and_the_certificate_is_verified(https):
    cert, context = https
    provider = Provider()
    with http_server(provider, kind="webhook", tls=context) as url:
        untrusted = send_all(WebhookSender(hook("slack", None), url + "/x"), [chat(1)])[1]
        plain = send_all(WebhookSender(hook("slack", cert.cert),
                                       url.replace("https", "http") + "/secret-path"),
                         [chat(2)])[2]
        answer = asyncio.run(WebhookSender(hook("teams", cert.cert), url + "/x")
                             .test_connection())
    assert untrusted.result == AUTH_FAILED and "not trusted" in untrusted.detail
    assert plain.result == AUTH_FAILED and "https://" in plain.detail
    assert "secret-path" not in plain.detail
    assert "certificate verified" in answer
    assert [r["method"] for r in provider.requests] == ["GET"]  # test_connection posts nothing


def test_a_pool_given_no_verify_setting_still_verifies_the_certificate(https):
    """Certificate verification is never off by default: an HttpPool made without `verify`
    refuses a certificate it does not trust, and trusts one once given its CA."""
    cert, context = https
    provider = Provider()

    async def post(pool: HttpPool, url: str) -> httpx.Response:
        try:
            return await pool.post(httpx.URL(f"{url}/x"), b"{}",
                                   {"Content-Type": "application/json"})
        finally:
            await pool.aclose()

    with http_server(provider, kind="webhook", tls=context) as url:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(post(HttpPool(1, 5.0), url))
        trusted = asyncio.run(post(HttpPool(1, 5.0, verify=tls_verify(str(cert.cert))), url))
    assert trusted.status_code == 200
    assert [r["path"] for r in provider.requests] == ["/x"]     # the refused one never arrived


def test_one_connection_carries_the_requests_and_is_closed_at_the_end():
    provider = Provider()
    with http_server(provider) as url:
        sender = SmsSender(sms_account(url, concurrency=1), TOKEN)

        async def run() -> tuple[list[SendOutcome], bool]:
            outcomes: list[SendOutcome] = []
            await sender.send([sms(1), sms(2), sms(3)], outcomes.append)
            client = sender._http().client()
            await sender.aclose()
            closed = client.is_closed
            await sender.send([sms(4)], outcomes.append)   # the same loop, after aclose
            await sender.aclose()
            return outcomes, closed

        outcomes, closed = asyncio.run(asyncio.wait_for(run(), DEADLINE))
        # and on another loop, as when the sending thread is restarted
        outcomes += list(send_all(sender, [sms(5)]).values())
    assert [o.result for o in outcomes] == [SENT] * 5, outcomes
    assert closed
    peers = provider.peers
    assert len(set(peers[:3])) == 1            # kept alive between requests
    assert len(set(peers)) == 3                # a new client after aclose, and on a new loop


def test_an_internal_error_on_one_sms_is_unknown_and_logged(monkeypatch, caplog):
    provider = Provider()
    send_one = SmsSender._send_one

    async def failing(self, message, batch):  # a bug of ours, for message 2 only
        if message.delivery_id == 2:
            raise RuntimeError("a bug")
        return await send_one(self, message, batch)

    monkeypatch.setattr(SmsSender, "_send_one", failing)
    with http_server(provider) as url:
        with caplog.at_level("ERROR", logger="app.sending.channels.sms"):
            outcomes = send_all(SmsSender(sms_account(url, concurrency=1), TOKEN),
                                [sms(1), sms(2), sms(3)])
    assert {n: o.result for n, o in outcomes.items()} == {1: SENT, 2: UNKNOWN, 3: SENT}
    assert outcomes[2].detail == "Internal error while sending: RuntimeError('a bug')"
    [record] = [r for r in caplog.records if r.name == "app.sending.channels.sms"]
    assert record.getMessage() == "SMS delivery 2 failed unexpectedly"
    assert record.exc_info is not None


def test_an_unusable_ca_file_stops_the_sms_account_with_its_reason(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    provider = Provider()
    with http_server(provider) as url:
        outcomes = send_all(SmsSender(sms_account(url, ca_file=str(bad)), TOKEN),
                            [sms(1), sms(2)])
    assert {o.result for o in outcomes.values()} == {AUTH_FAILED}
    assert outcomes[1].detail.startswith(f"The CA certificate file {bad} cannot be used: ")
    assert provider.requests == []


def test_a_redirect_is_never_followed_and_every_request_says_who_sends_it():
    """A provider URL that answers with a redirect is a wrong URL: following it would send the
    credentials and the text somewhere else."""
    provider = Provider(by_to={"+15550100002": Reply(302, {"message": "Found"},
                                                     {"Location": "/elsewhere"})})
    with http_server(provider) as url:
        sender = SmsSender(sms_account(url, concurrency=1), TOKEN)
        outcomes = send_all(sender, [sms(1), sms(2), sms(3)])
        asyncio.run(SmsSender(sms_account(url), TOKEN).test_connection())
    assert outcomes[1].result == SENT
    assert outcomes[2].result == AUTH_FAILED and "redirected the request" in outcomes[2].detail
    assert [r["path"].rsplit("/", 1)[-1] for r in provider.requests] == [
        "Messages.json", "Messages.json", f"{SID}.json"]     # nothing went to /elsewhere
    assert set(provider.agents) == {"Clarion"}


def test_each_text_waits_for_its_start_mark_and_a_refusal_stops_the_batch():
    """Sender protocol (issue 15): begin(id) comes before the request is made; a withheld
    message is not requested, nothing is reported for it or the rest, no request follows."""
    provider = Provider()
    seen: list[tuple[int, int]] = []
    outcomes: list[SendOutcome] = []

    async def begin(delivery_id: int) -> bool:
        seen.append((delivery_id, len(provider.requests)))
        return delivery_id != 4

    with http_server(provider) as url:
        sender = SmsSender(sms_account(url, concurrency=1), TOKEN)

        async def run() -> None:
            try:
                await asyncio.wait_for(sender.send([sms(n) for n in range(1, 7)],
                                                   outcomes.append, begin), DEADLINE)
            finally:
                await sender.aclose()

        asyncio.run(run())
    assert seen == [(1, 0), (2, 1), (3, 2), (4, 3)]
    assert [(o.delivery_id, o.result) for o in outcomes] == [(1, SENT), (2, SENT), (3, SENT)]
    assert [r["form"]["To"] for r in provider.requests] == [sms(n).address for n in (1, 2, 3)]
