"""The email channel's rules that need no server: how a reply code at each stage becomes an
outcome (the table at the top of app/sending/channels/email.py), the queue id in a 250 reply,
which hosts count as this computer, the words for a TLS failure, and how the sender tells
whether the message body was handed to the connection."""

from __future__ import annotations

import email
import email.policy
import ssl
from types import SimpleNamespace

import pytest

from app.sending.channels.base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN,
                                       AccountDTO, OutgoingMessage, SendOutcome)
from app.sending.channels.email import (EmailSender, _AccountProblem,
                                        _BodyTracker, _tls_problem, _Unreachable, is_loopback,
                                        queue_id)
from app.sending.channels.wire import Unbuildable

def sender() -> EmailSender:
    return EmailSender(AccountDTO(id=3, kind="email", name="Relay", settings={
        "host": "relay.example.com", "port": 587, "from_address": "alerts@example.com"}),
        None)


MESSAGE = OutgoingMessage(delivery_id=41, channel="email", address="ada@example.com",
                          recipient_name="Ada", subject="s", text="t", html="",
                          email_message_id="<m@x>", idempotency_key="k")


@pytest.mark.parametrize("stage, code, body_sent, result", [
    # 4xx anywhere: try again later (400 and 499 are the edges)
    ("MAIL", 400, False, TRANSIENT), ("RCPT", 450, False, TRANSIENT),
    ("DATA", 499, True, TRANSIENT), ("RCPT", 421, False, TRANSIENT),
    # 5xx at RCPT / DATA: this recipient never works (500 and 599 are the edges)
    ("RCPT", 500, False, PERMANENT), ("RCPT", 550, False, PERMANENT),
    ("DATA", 554, True, PERMANENT), ("DATA", 599, True, PERMANENT),
    # 5xx at MAIL: the sender is refused, so every message would fail: the account stops
    ("MAIL", 500, False, AUTH_FAILED), ("MAIL", 553, False, AUTH_FAILED),
    ("MAIL", 599, False, AUTH_FAILED),
    # authentication wanted, anywhere
    ("MAIL", 530, False, AUTH_FAILED), ("RCPT", 535, False, AUTH_FAILED),
    ("DATA", 534, True, AUTH_FAILED), ("RCPT", 538, False, AUTH_FAILED),
    # a reply that is no SMTP reply (aiosmtplib says -1 for garbage, 600 is out of range)
    ("DATA", -1, True, UNKNOWN), ("DATA", 600, True, UNKNOWN), ("DATA", 399, True, UNKNOWN),
    ("DATA", -1, False, TRANSIENT), ("RCPT", -1, True, TRANSIENT),
    ("MAIL", 600, False, TRANSIENT), ("RCPT", 399, False, TRANSIENT),
])
def test_each_reply_code_at_each_stage_has_its_outcome(stage, code, body_sent, result):
    outcome = sender()._classify_reply(MESSAGE, stage, code, f"{code} the server's words",
                                       body_sent)
    assert (outcome.delivery_id, outcome.result) == (41, result)
    assert f"{code} the server's words" in outcome.detail


def test_the_words_of_each_outcome_say_what_happened():
    s = sender()
    refused = s._classify_reply(MESSAGE, "MAIL", 553, "553 5.7.1 Sender not allowed", False)
    assert refused.detail == ("relay.example.com:587 refused the sender alerts@example.com: "
                              "553 5.7.1 Sender not allowed")
    auth = s._classify_reply(MESSAGE, "RCPT", 530, "530 5.7.0 Authentication required", False)
    assert auth.detail == ("relay.example.com:587 refused to send without valid "
                           "authentication: 530 5.7.0 Authentication required")
    after = s._classify_reply(MESSAGE, "DATA", -1, "-1 garbage", True)
    assert after.detail == "Unreadable reply after the message was sent: -1 garbage"
    before = s._classify_reply(MESSAGE, "RCPT", -1, "-1 garbage", False)
    assert before.detail == "Unreadable reply: -1 garbage"
    for code in (400, 452, 499):   # a 4xx is a reply like any other: only its own words
        assert s._classify_reply(MESSAGE, "MAIL", code, f"{code} 4.2.2 Try later",
                                 False).detail == f"{code} 4.2.2 Try later"


@pytest.mark.parametrize("reply, expected", [
    ("2.0.0 Ok: queued as 4Bx1Yz0QZ3z9", "4Bx1Yz0QZ3z9"),
    ("2.0.0 Ok: queued as 4Bx1YzX.", "4Bx1YzX"),          # the sentence's full stop is not in it
    ("OK id=1qA2bC-0003Xx-9X", "1qA2bC-0003Xx-9X"),       # Exim
    ("Ok 0100018c1d2e3f4a-5b6c7d8e-aaaa-bbbb-cccc-123456789abc-000000",
     "0100018c1d2e3f4a-5b6c7d8e-aaaa-bbbb-cccc-123456789abc-000000"),  # Amazon SES
    ("2.0.0 OK  1700000000 x12-20020a170902", ""),          # Gmail: no queue id to keep
])
def test_the_queue_id_is_taken_from_the_servers_reply(reply, expected):
    assert queue_id(reply) == expected


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("LocalHost", True), ("127.0.0.1", True), ("127.3.4.5", True),
    ("::1", True), ("[::1]", True), ("[127.0.0.1]", True),
    ("smtp.example.com", False), ("10.0.0.1", False), ("localhost.example.com", False),
    ("127.0.0.1X", False), ("X127.0.0.1", False), ("", False),
])
def test_only_this_computer_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def raised(error: BaseException) -> BaseException:
    """`error` as aiosmtplib hands it over: wrapped in its connect error."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise ConnectionError("could not connect") from inner
    except ConnectionError as outer:
        return outer


def test_a_cut_tls_connection_is_unreachable_and_a_failed_handshake_an_account_problem():
    cut = _tls_problem(raised(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
                       "relay:465")
    assert isinstance(cut, _Unreachable)
    assert str(cut) == ("The TLS connection to relay:465 was cut: EOF occurred in violation "
                        "of protocol")
    failed = _tls_problem(raised(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")),
                          "relay:587")
    assert isinstance(failed, _AccountProblem)
    assert str(failed).startswith("The TLS handshake with relay:587 failed: ")
    assert "WRONG_VERSION_NUMBER" in str(failed)
    assert str(failed).endswith("Check the port and the security setting (implicit TLS or "
                                "STARTTLS).")
    assert _tls_problem(ConnectionRefusedError(111, "refused"), "relay:25") is None


class Protocol:
    """Stands for aiosmtplib's protocol object: `write` is a method of its class."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)


def test_the_body_counts_as_sent_at_the_second_write_of_data_and_the_tracker_cleans_up():
    protocol = Protocol()
    with _BodyTracker(SimpleNamespace(protocol=protocol)) as tracker:  # type: ignore[arg-type]
        assert not tracker.body_sent
        protocol.write(b"DATA\r\n")            # the command: nothing of the message yet
        assert tracker.writes == 1 and not tracker.body_sent
        protocol.write(b"From: ...\r\n.\r\n")  # the body, in one piece
        assert tracker.body_sent
    assert protocol.sent == [b"DATA\r\n", b"From: ...\r\n.\r\n"]
    # the connection's own write is back: nothing of ours stays wrapped around it
    assert "write" not in vars(protocol)
    protocol.write(b"QUIT\r\n")
    assert tracker.writes == 2
    with _BodyTracker(SimpleNamespace(protocol=None)) as idle:  # type: ignore[arg-type]
        assert not idle.body_sent                # a closed connection: nothing to count


def outgoing(**fields) -> OutgoingMessage:
    base = dict(delivery_id=8, channel="email", address="ada@example.com",
                recipient_name="Ada Lovelace", subject="Portal outage", text="Restoring.",
                html="", email_message_id="<m-8@clarion.test>", idempotency_key="k8")
    base.update(fields)
    return OutgoingMessage(**base)


def prepared_sender(**settings) -> EmailSender:
    base = {"host": "relay.example.com", "from_address": "alerts@example.com",
            "from_name": "Harbor IT", "reply_to": "noc@example.com"}
    base.update(settings)
    return EmailSender(AccountDTO(id=3, kind="email", name="Relay", settings=base), None)


def test_the_message_carries_its_headers_by_their_usual_names_and_a_utc_date():
    raw = prepared_sender()._prepare(outgoing()).body
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line[0].isspace()]
    assert names[:6] == ["From", "To", "Reply-To", "Subject", "Date", "Message-ID"]
    assert "\r\nDate: " in head and head.split("\r\nDate: ")[1].split("\r\n")[0].endswith(
        " +0000")
    assert "\r\nMessage-ID: <m-8@clarion.test>\r\n" in head


def test_without_a_message_id_one_is_made_from_the_idempotency_key():
    raw = prepared_sender()._prepare(outgoing(email_message_id="")).body
    assert b"\r\nMessage-ID: <k8@clarion.invalid>\r\n" in raw


def test_an_empty_text_stays_empty_beside_the_html():
    raw = prepared_sender()._prepare(outgoing(text="", html="<p>Restoring.</p>")).body
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail.get_body(("plain",)).get_content().strip() == ""
    assert mail.get_body(("html",)).get_content_type() == "text/html"
    assert b"Content-Type: text/html" in raw


def test_an_internationalised_address_is_written_as_utf8_never_as_encoded_words():
    prepared = prepared_sender()._prepare(outgoing(address="zoë@example.com"))
    assert prepared.utf8
    assert "To: Ada Lovelace <zoë@example.com>\r\n".encode() in prepared.body
    ascii_only = prepared_sender()._prepare(outgoing())
    assert not ascii_only.utf8 and ascii_only.body.isascii()
    from_utf8 = prepared_sender(from_address="météo@example.com")._prepare(outgoing())
    assert from_utf8.utf8


@pytest.mark.parametrize("field, label", [
    ("subject", "subject"), ("recipient_name", "recipient name"), ("address", "address"),
    ("email_message_id", "Message-ID")])
def test_a_line_break_in_any_header_value_refuses_the_message_by_name(field, label):
    with pytest.raises(Unbuildable) as refused:
        prepared_sender()._prepare(outgoing(**{field: "x\r\nBcc: all@example.com"}))
    assert str(refused.value) == (f"The {label} contains a line break — a carriage return "
                                  f"(CR): refused, nothing was sent.")


@pytest.mark.parametrize("char, words", [
    ("\x0b", "a vertical tab (U+000B: how Word pastes a line break)"),
    ("\u2028", "a line separator (U+2028)"), ("\u2029", "a paragraph separator (U+2029)"),
    ("\x85", "a next-line character (U+0085)"), ("\x0c", "a form feed (U+000C)"),
    ("\n", "a line feed (LF)")])
def test_every_kind_of_line_break_in_a_subject_is_refused_by_name(char, words):
    with pytest.raises(Unbuildable) as refused:
        prepared_sender()._prepare(outgoing(subject=f"Portal down{char}update 2"))
    assert str(refused.value) == (f"The subject contains a line break — {words}: refused, "
                                  f"nothing was sent.")


def test_an_unusable_address_is_refused_with_its_reason():
    with pytest.raises(Unbuildable) as refused:
        prepared_sender()._prepare(outgoing(address="u ser@example.com"))
    assert str(refused.value).startswith("Not a usable address (u ser@example.com): ")


def test_an_unusable_ca_file_is_an_account_problem_in_plain_words(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(_AccountProblem) as problem:
        prepared_sender(ca_file=str(bad))._tls_context()
    assert str(problem.value).startswith(f"The CA certificate file {bad} cannot be used: ")


def test_the_settings_check_says_everything_that_is_wrong_at_once():
    assert prepared_sender().config_problem() == ""
    broken = EmailSender(AccountDTO(id=3, kind="email", name="Relay", settings={
        "host": "", "security": "none", "username": "ops", "ca_file": "/ca.pem",
        "from_name": "IT\nBcc: x", "port": "smtp", "timeout": "-1"}), None)
    assert broken.config_problem() == (
        "The port setting 'smtp' is not a whole number. "
        "The timeout setting must be more than 0 seconds. "
        "No SMTP host is set. "
        "A username is set but security is 'none': Clarion never sends credentials "
        "without TLS. "
        "No password is stored for this account (it lives in the keyring). "
        "No from-address is set. "
        "The display name contains a line break. "
        "A CA certificate file is set but security is 'none'.")
    assert prepared_sender(host="relay\r\n.example.com").config_problem() == \
        "The SMTP host contains a line break."
    assert prepared_sender(from_address="a\n@example.com", reply_to="r\r@example.com",
                           username="o\nps", security="tls").config_problem() == (
        "No password is stored for this account (it lives in the keyring). "
        "The from-address contains a line break. The reply-to contains a line break. "
        "The username contains a line break.")
    assert prepared_sender(host="relay.example.com", security="none").config_problem() == (
        "Security 'none' is only allowed for a relay on this computer (127.0.0.1), not "
        "relay.example.com.")


@pytest.mark.parametrize("field", ["subject", "text", "html"])
def test_a_text_no_encoding_can_carry_is_refused_not_an_internal_error(field):
    with pytest.raises(Unbuildable) as refused:
        prepared_sender()._prepare(outgoing(**{field: "Portal \ud800 down"}))
    assert str(refused.value).startswith("The message cannot be encoded: ")
    assert "surrogates not allowed" in str(refused.value)


def settings_of(**settings) -> EmailSender:
    return EmailSender(AccountDTO(id=3, kind="email", name="Relay", settings=settings), None)


def test_settings_are_read_with_their_defaults_and_bounds(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "desk-7")
    account = AccountDTO(id=3, kind="email", name="Relay", settings={})
    d = EmailSender(account, None)
    assert d.account is account
    assert (d.security, d.port, d.concurrency, d.per_connection, d.timeout) == \
        ("starttls", 587, 8, 100, 30.0)
    assert (d.from_name, d.reply_to, d.local_hostname) == ("", "", "desk-7")
    assert settings_of(security="TLS").port == 465
    assert settings_of(security=" none ").port == 25
    assert settings_of(security="smtps").port == 587
    assert settings_of(security="smtps").config_problem().startswith(
        "Unknown security setting 'smtps' (use tls, starttls or none). ")
    assert settings_of(port="", timeout="", concurrency="").port == 587
    assert settings_of(port="", timeout="").timeout == 30.0
    assert settings_of(host="h", from_address="a@example.com", port="", timeout="",
                       concurrency="").config_problem() == ""   # empty means the default
    # the bounds are inclusive, and a value outside them is named
    edges = settings_of(port="65535", concurrency="100", messages_per_connection="100000",
                        timeout="0.001")
    assert (edges.port, edges.concurrency, edges.per_connection, edges.timeout) == \
        (65535, 100, 100000, 0.001)
    low = settings_of(port="1", concurrency="1", messages_per_connection="1")
    assert (low.port, low.concurrency, low.per_connection) == (1, 1, 1)
    over = settings_of(host="h", from_address="a@example.com", port="65536",
                       concurrency="101", messages_per_connection="100001", timeout="0")
    assert (over.port, over.concurrency, over.per_connection, over.timeout) == \
        (587, 8, 100, 30.0)
    assert over.config_problem() == (
        "The port setting must be between 1 and 65535. "
        "The concurrency setting must be between 1 and 100. "
        "The messages_per_connection setting must be between 1 and 100000. "
        "The timeout setting must be more than 0 seconds.")
    assert settings_of(timeout="soon").config_problem().startswith(
        "The timeout setting 'soon' is not a number. ")


def test_the_ehlo_name_falls_back_to_localhost_when_the_machine_has_no_name(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "")
    assert settings_of().local_hostname == "localhost"
    assert settings_of(local_hostname=" mail.example.com ").local_hostname == \
        "mail.example.com"


def test_run_workers_stops_the_others_and_raises_the_first_error():
    import asyncio

    from app.sending.channels.email import run_workers

    stopped = []

    async def failing():
        await asyncio.sleep(0)
        raise ValueError("a callback failed")

    async def waiting():
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(True)

    with pytest.raises(ValueError, match="a callback failed"):
        asyncio.run(run_workers([waiting(), failing(), waiting()]))
    assert stopped == [True, True]


def test_stored_bytes_are_sent_as_they_are_but_the_envelope_address_is_still_checked():
    sender = prepared_sender()
    assert sender._prepare(outgoing(wire=b"stored bytes")).body == b"stored bytes"
    with pytest.raises(Unbuildable) as refused:
        sender._prepare(outgoing(address="ada@example.com\r\nRCPT TO:<x@y>", wire=b"stored"))
    assert str(refused.value) == ("The address contains a line break — a carriage return "
                                  "(CR): refused, nothing was sent.")


def test_a_message_that_cannot_be_built_fails_with_its_reason_not_unknown(monkeypatch):
    """Issue 18: whatever stops the bytes being built happens before the network — the
    delivery failed, with the reason; nothing went out, so it is never "unknown"."""
    import asyncio
    from collections import deque

    from app.sending.channels.base import go_ahead
    from app.sending.channels.email import _Batch

    sender = prepared_sender()

    def broken(message):  # e.g. a header the standard library refuses
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    monkeypatch.setattr(sender, "_prepare", broken)
    outcome, session = asyncio.run(sender._deliver(outgoing(), None, _Batch(deque()), go_ahead))
    assert session is None                      # no connection was opened for it
    assert (outcome.delivery_id, outcome.result, outcome.detail) == (8, 
        PERMANENT, "The message cannot be built: Header values may not contain linefeed or "
                   "carriage return characters; nothing was sent.")


def test_an_outcome_that_lands_after_another_session_was_withheld_is_still_reported(
        monkeypatch):
    """A message on the wire when the outbox withholds another (Begin said no) went out (or
    not) all the same: its outcome is reported, the withheld message and the rest are not."""
    import asyncio

    sender = prepared_sender(concurrency=2, security="none", host="127.0.0.1")
    withheld = asyncio.Event()

    async def deliver(message, session, batch, begin):
        if message.delivery_id == 1:        # on the wire while the other is withheld
            await withheld.wait()
            return SendOutcome(1, SENT, "250 queued"), None
        batch.withheld = True
        withheld.set()
        return None, None

    monkeypatch.setattr(sender, "_deliver", deliver)
    outcomes: list[SendOutcome] = []
    asyncio.run(sender.send([outgoing(delivery_id=n) for n in (1, 2, 3)], outcomes.append))
    assert [(o.delivery_id, o.result, o.detail) for o in outcomes] == [(1, SENT, "250 queued")]
