"""The SMS channel's rules that need no server (the table at the top of
app/sending/channels/sms.py): how the provider's answer and a transport error become an outcome
— an SMS cannot be de-duplicated, so a request that may have arrived is never TRANSIENT — the
provider's words, Retry-After, the settings check and which URLs may carry a token."""

from __future__ import annotations

import ssl
from datetime import datetime, timezone

import httpx
import pytest

from app.errors import ClarionError
from app.sending.channels.base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN,
                                       AccountDTO, OutgoingMessage)
from app.sending.channels.sms import (SmsSender, is_loopback_url, parse_retry_after,
                                      positive_number, tls_verify, transport_outcome,
                                      url_problem)


def sender(**settings) -> SmsSender:
    base = {"base_url": "https://api.example.com", "account_sid": "AC123",
            "from_number": "+15550100999"}
    base.update(settings)
    return SmsSender(AccountDTO(id=2, kind="sms", name="SMS", settings=base), "token")


def answer(status: int, body=None, headers=None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://api.example.com/2010-04-01/Accounts/AC123/"
                                    "Messages.json")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize("status, body, result", [
    (201, {"sid": "SM1", "status": "queued"}, SENT),
    (200, {"sid": "SM1", "status": "queued"}, SENT),
    (299, {"sid": "SM1"}, SENT),
    (400, {"code": 21211, "message": "The 'To' number is not valid"}, PERMANENT),
    (400, {"code": 21610, "message": "Unsubscribed recipient"}, PERMANENT),
    (499, {"message": "odd"}, PERMANENT),
    (401, {"code": 20003, "message": "Authenticate"}, AUTH_FAILED),
    (401, {"message": "Unauthorized"}, AUTH_FAILED),
    (400, {"code": 20003, "message": "Authenticate"}, AUTH_FAILED),
    (403, {"message": "Forbidden"}, AUTH_FAILED),
    (404, {"message": "Not found"}, AUTH_FAILED),
    (400, {"code": 21212, "message": "Invalid From"}, AUTH_FAILED),
    (400, {"code": 21603, "message": "From required"}, AUTH_FAILED),
    (400, {"code": 21606, "message": "From not capable"}, AUTH_FAILED),
    (400, {"code": 21659, "message": "From not owned"}, AUTH_FAILED),
    (301, {"message": "Moved"}, AUTH_FAILED),
    (300, {"message": "Choices"}, AUTH_FAILED),
    (399, {"message": "Odd redirect"}, AUTH_FAILED),
    (429, {"code": 20429, "message": "Too Many Requests"}, TRANSIENT),
    (500, {"code": 20500, "message": "Internal Server Error"}, UNKNOWN),
    (503, {"message": "Unavailable"}, UNKNOWN),
    (599, {"message": "Odd"}, UNKNOWN),
    (199, {"message": "Informational"}, UNKNOWN),
    (600, {"message": "Out of range"}, UNKNOWN),
])
def test_each_provider_answer_has_its_outcome(status, body, result):
    outcome = sender().classify(17, answer(status, body))
    assert (outcome.delivery_id, outcome.result) == (17, result), outcome


def test_the_words_of_each_outcome_name_the_provider_and_what_to_do():
    s = sender()
    sent = s.classify(1, answer(201, {"sid": "SM9f", "status": "queued"}))
    assert (sent.detail, sent.provider_id) == ("201 queued", "SM9f")
    bare = s.classify(1, answer(202, {}))
    assert (bare.detail, bare.provider_id) == ("202", "")
    assert s.classify(1, answer(401, {"code": 20003, "message": "Authenticate"})).detail == \
        "api.example.com refused the credentials: 401 Authenticate (code 20003)"
    assert s.classify(1, answer(403, {"message": "Forbidden"})).detail == \
        "api.example.com refused this account's request: 403 Forbidden"
    assert s.classify(1, answer(302, {"message": "Found"})).detail == \
        "api.example.com redirected the request (302 Found); check the provider URL."
    assert s.classify(1, answer(502, {"message": "Bad gateway"})).detail == \
        "502 Bad gateway; the request reached the provider, so the SMS may have been sent."
    assert s.classify(1, answer(400, {"code": 21211, "message": "Bad To"})).detail == \
        "400 Bad To (code 21211)"
    assert s.classify(1, answer(600, {"message": "What"})).detail == \
        "Unexpected answer: 600 What"


def test_the_providers_own_words_are_found_where_it_puts_them():
    s = sender()
    assert s.classify(1, answer(400, {"detail": "Problem details"})).detail == \
        "400 Problem details"
    assert s.classify(1, answer(400, text="  plain words \n")).detail == "400 plain words"
    assert s.classify(1, answer(400, text="x" * 500)).detail == "400 " + "x" * 300
    assert s.classify(1, answer(400, text="")).detail == "400 Bad Request"
    assert s.classify(1, answer(400, [1, 2])).detail == "400 [1,2]"   # not an object
    assert s.classify(1, answer(400, {"code": "oops", "message": "m"})).detail == \
        "400 m (code oops)"
    assert s.classify(1, answer(400, {"code": "20003", "message": "m"})).result == AUTH_FAILED


def test_too_many_requests_carries_how_long_to_wait():
    s = sender()
    assert s.classify(1, answer(429, {}, {"Retry-After": "12"})).retry_after == 12.0
    assert s.classify(1, answer(429, {})).retry_after is None


def test_retry_after_seconds_dates_and_nonsense():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 02 Mar 2026 08:59:00 GMT", now) == 0.0      # past: at once
    assert parse_retry_after("Mon, 02 Mar 2026 09:01:00", now) == 60.0         # no zone: UTC
    assert parse_retry_after("Mon, 02 Mar 2026 10:00:30 +0100", now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None


def test_a_retry_after_date_is_measured_from_now_when_no_time_is_given():
    later = datetime.now(timezone.utc).replace(microsecond=0).timestamp() + 3600
    from email.utils import formatdate
    waited = parse_retry_after(formatdate(later, usegmt=True))
    assert waited is not None and 3500 < waited <= 3600


REQUEST = httpx.Request("POST", "https://api.example.com/x")


@pytest.mark.parametrize("exc, result, words", [
    (httpx.ConnectError("refused", request=REQUEST), TRANSIENT, "Cannot reach api:443: "
                                                                 "ConnectError: refused"),
    (httpx.ConnectTimeout("slow", request=REQUEST), TRANSIENT, "Cannot reach api:443: "
                                                               "ConnectTimeout: slow"),
    (httpx.PoolTimeout("busy", request=REQUEST), TRANSIENT, "Cannot reach api:443: "
                                                            "PoolTimeout: busy"),
    (httpx.WriteError("broken pipe", request=REQUEST), TRANSIENT,
     "The request to api:443 could not be written, so it was not received: WriteError: "
     "broken pipe"),
    (httpx.WriteTimeout("", request=REQUEST), TRANSIENT,
     "The request to api:443 could not be written, so it was not received: WriteTimeout"),
    (httpx.ReadTimeout("no answer", request=REQUEST), UNKNOWN,
     "The request reached api:443 but no answer came back (ReadTimeout: no answer); it may "
     "have been sent."),
    (httpx.RemoteProtocolError("closed", request=REQUEST), UNKNOWN,
     "The request reached api:443 but no answer came back (RemoteProtocolError: closed); it "
     "may have been sent."),
    (httpx.ReadError("reset", request=REQUEST), UNKNOWN,
     "The request reached api:443 but no answer came back (ReadError: reset); it may have "
     "been sent."),
])
def test_a_transport_error_is_transient_only_when_the_request_cannot_have_arrived(
        exc, result, words):
    outcome = transport_outcome(5, exc, "api:443")
    assert (outcome.delivery_id, outcome.result, outcome.detail) == (5, result, words)


def test_an_untrusted_certificate_is_an_account_problem():
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed")
    except ssl.SSLError as cause:
        wrapped = httpx.ConnectError("handshake failed", request=REQUEST)
        wrapped.__cause__ = cause
    outcome = transport_outcome(5, wrapped, "api:443")
    assert outcome.result == AUTH_FAILED
    assert outcome.detail == ("The certificate of api:443 is not trusted (ConnectError: "
                              "handshake failed); nothing was sent.")
    said = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed", request=REQUEST)
    assert transport_outcome(5, said, "api:443").result == AUTH_FAILED
    other = httpx.ReadError("[SSL: CERTIFICATE_VERIFY_FAILED] odd", request=REQUEST)
    assert transport_outcome(5, other, "api:443").result == UNKNOWN   # only at connect


@pytest.mark.parametrize("url, loopback", [
    ("http://localhost:8080/x", True), ("http://LOCALHOST/x", True),
    ("http://127.0.0.1:9/x", True), ("http://[::1]:9/x", True), ("http://127.9.9.9/", True),
    ("http://10.0.0.1/", False), ("http://example.com/", False), ("http:///nohost", False),
])
def test_loopback_urls(url, loopback):
    assert is_loopback_url(url) is loopback


def test_tokens_travel_only_over_https_or_to_this_computer():
    assert url_problem("https://api.example.com", "SMS provider URL", False) == ""
    assert url_problem("http://127.0.0.1:8080", "SMS provider URL", True) == ""
    assert url_problem("http://127.0.0.1:8080", "SMS provider URL", False) == \
        "The SMS provider URL must start with https:// (http://127.0.0.1:8080 does not)."
    assert url_problem("http://sms.example.com/x?token=abc", "webhook URL", True) == \
        "The webhook URL must start with https:// (http://sms.example.com/x does not)."
    assert url_problem("http://sms.example.com/secret", "webhook URL", True, show_url=False) \
        == "The webhook URL must start with https://."
    assert url_problem("https://", "SMS provider URL", True) == \
        "The SMS provider URL must start with https:// (https:// does not)."
    assert url_problem("", "SMS provider URL", True) == "No SMS provider URL is set."


def test_numbers_in_settings():
    problems: list[str] = []
    assert positive_number({}, "timeout", 30.0, problems) == 30.0
    assert positive_number({"timeout": ""}, "timeout", 30.0, problems) == 30.0
    assert positive_number({"timeout": "2.5"}, "timeout", 30.0, problems) == 2.5
    assert positive_number({"concurrency": "3"}, "concurrency", 4, problems, integer=True) == 3
    assert problems == []
    assert positive_number({"concurrency": "2.5"}, "concurrency", 4, problems,
                           integer=True) == 4
    assert positive_number({"timeout": "soon"}, "timeout", 30.0, problems) == 30.0
    assert positive_number({"timeout": 0}, "timeout", 30.0, problems) == 30.0
    assert positive_number({"timeout": [1]}, "timeout", 30.0, problems) == 30.0
    assert problems == ["The concurrency setting '2.5' is not a number.",
                        "The timeout setting 'soon' is not a number.",
                        "The timeout setting must be more than 0.",
                        "The timeout setting [1] is not a number."]


def test_the_settings_check_says_everything_that_is_wrong_at_once():
    assert sender().config_problem() == ""
    assert sender(from_number="", messaging_service_sid="MG1").config_problem() == ""
    assert sender(from_number="0555", messaging_service_sid="MG1").config_problem() == ""
    assert sender(from_number="", messaging_service_sid="").config_problem() == \
        "Set a from number or a messaging service SID."
    assert sender(from_number="").config_problem(for_sending=False) == ""
    assert sender(from_number="0555 0100").config_problem() == \
        "The from number 0555 0100 is not in E.164 form (+ and country code)."
    broken = SmsSender(AccountDTO(id=2, kind="sms", name="SMS", settings={
        "base_url": "http://sms.example.com", "account_sid": "", "concurrency": "x",
        "timeout": "soon", "from_number": "+15550100999"}), None)
    assert broken.config_problem() == (
        "The concurrency setting 'x' is not a number. "
        "The timeout setting 'soon' is not a number. "
        "The SMS provider URL must start with https:// (http://sms.example.com does not). "
        "No account SID is set. "
        "No auth token is stored for this account (it lives in the keyring).")


def test_settings_are_read_as_written_and_defaults_fill_the_rest():
    s = SmsSender(AccountDTO(id=2, kind="sms", name="SMS", settings={
        "base_url": " https://sms.example.com/apiX/ ", "account_sid": " AC1 ",
        "from_number": " +15550100999 ", "messaging_service_sid": " MG1 ",
        "ca_file": " /x.pem ", "concurrency": "6", "timeout": "12"}), "t")
    assert (s.base_url, s.account_sid, s.from_number, s.messaging_service_sid, s.ca_file) == \
        ("https://sms.example.com/apiX", "AC1", "+15550100999", "MG1", "/x.pem")
    assert (s.concurrency, s.timeout) == (6, 12.0)
    assert s._where == "sms.example.com"
    d = SmsSender(AccountDTO(id=2, kind="sms", name="SMS", settings={}), None)
    assert (d.base_url, d.concurrency, d.timeout) == ("https://api.twilio.com", 4, 30.0)
    assert "token" not in repr(s) and repr(s) == \
        "SmsSender(account=2, base_url='https://sms.example.com/apiX')"
    assert sender(account_sid="AC/1 2")._account_url == \
        "https://api.example.com/2010-04-01/Accounts/AC%2F1%202"


def test_an_unusable_ca_file_is_said_plainly(tmp_path):
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("nonsense")
    with pytest.raises(ClarionError, match=r"The CA certificate file .*not-a-ca.pem cannot be "
                                           r"used: "):
        tls_verify(str(bad))
    assert tls_verify("") is True


def test_the_http_client_uses_the_accounts_timeout_and_never_follows_redirects():
    import asyncio

    async def look() -> httpx.AsyncClient:
        pool = sender(timeout="12")._http()
        client = pool.client()
        await pool.aclose()
        return client

    client = asyncio.run(look())
    assert client.timeout == httpx.Timeout(12.0)
    assert client.follow_redirects is False
    assert client.headers["User-Agent"] == "Clarion"


def test_a_request_that_could_not_be_written_is_retried_later_and_the_batch_goes_on():
    """A WriteError (the request was not fully written, so never received) is that message's
    TRANSIENT outcome, not a provider that cannot be reached: the rest is still sent. No local
    server can cut a small request mid-write on demand, so httpx's own transport stands in."""
    import asyncio

    def answer_of(request: httpx.Request) -> httpx.Response:
        if b"To=%2B15550100001" in request.content:
            raise httpx.WriteError("connection reset while writing", request=request)
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    s = sender(concurrency="1")
    s._http().client_kwargs["transport"] = httpx.MockTransport(answer_of)
    outcomes = []

    async def run() -> None:
        messages = [OutgoingMessage(delivery_id=n, channel="sms", address=f"+1555010000{n}",
                                    recipient_name="", subject="", text="Portal down.",
                                    html="", email_message_id="", idempotency_key=f"k{n}")
                    for n in (1, 2, 3)]
        await s.send(messages, outcomes.append)
        await s.aclose()

    asyncio.run(run())
    assert [(o.delivery_id, o.result) for o in outcomes] == [(1, TRANSIENT), (2, SENT),
                                                             (3, SENT)]
    assert outcomes[0].detail.startswith("The request to api.example.com could not be written")
