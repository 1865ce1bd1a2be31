"""EmailSender against real aiosmtpd servers on 127.0.0.1 (DESIGN.md "Sending: the outbox"):
STARTTLS with a certificate made at test time, AUTH, fault injection per recipient."""

from __future__ import annotations

import asyncio
import base64
import select
from pathlib import Path
from typing import Sequence

import aiosmtplib
import pytest

from app.sending.channels.base import (AUTH_FAILED, PERMANENT, SENT, TRANSIENT, UNKNOWN,
                               OutgoingMessage, SendOutcome)
from app.sending.channels.email import EmailSender, queue_id
from app.sending.channels.factory import sender_for
from app.errors import ClarionError
from smtp_fixtures import (PASSWORD, USER, Cert, Recorder, email_account, free_port, make_cert,
                           outgoing, smtp_server)

DEADLINE = 15.0


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    return make_cert(tmp_path)


def send_all(sender: EmailSender, messages: Sequence[OutgoingMessage],
             close: bool = True) -> dict[int, SendOutcome]:
    """Run send() to the end on a fresh loop; every message must get exactly one outcome."""
    outcomes: list[SendOutcome] = []

    async def run() -> None:
        try:
            await asyncio.wait_for(sender.send(messages, outcomes.append), DEADLINE)
        finally:
            if close:
                await sender.aclose()

    asyncio.run(run())
    by_id = {o.delivery_id: o for o in outcomes}
    assert len(outcomes) == len(messages) == len(by_id), outcomes
    return by_id


def results(outcomes: dict[int, SendOutcome]) -> dict[int, str]:
    return {d: o.result for d, o in outcomes.items()}


def test_a_message_arrives_over_starttls_with_login_and_the_right_headers(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, reply_to="noc@example.com")
        message = OutgoingMessage(
            delivery_id=7, channel="email", address="ada@example.com",
            recipient_name="Ada Lovelace", subject="Portal outage: update 2",
            text="We are restoring the portal.", html="<p>We are <b>restoring</b> the portal.</p>",
            email_message_id="<fixed-7@clarion.test>", idempotency_key="k7")
        outcome = send_all(sender_for(account, PASSWORD), [message])[7]  # type: ignore[arg-type]

    assert outcome.result == SENT, outcome
    assert outcome.detail == "250 2.0.0 Ok: queued as Q00001"   # the server's own words
    assert outcome.provider_id == "Q00001"
    assert recorder.logins == [(USER, PASSWORD)]
    [got] = recorder.received
    assert got.mail_from == "alerts@example.com" and got.rcpt_tos == ["ada@example.com"]
    mail = got.parsed
    assert mail["From"] == "Harbor IT Alerts <alerts@example.com>"
    assert mail["To"] == "Ada Lovelace <ada@example.com>"
    assert mail["Subject"] == "Portal outage: update 2"
    assert mail["Message-ID"] == "<fixed-7@clarion.test>"
    assert mail["Reply-To"] == "noc@example.com"
    assert mail["Date"]
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == "We are restoring the portal."
    assert "<b>restoring</b>" in mail.get_body(("html",)).get_content()
    assert got.session.ssl is not None               # the session was encrypted


def test_text_only_when_there_is_no_html_and_non_ascii_is_encoded(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert)
        message = outgoing(1, subject="Störung behoben", text="Die Störung ist behoben — danke.")
        assert send_all(EmailSender(account, PASSWORD), [message])[1].result == SENT
    mail = recorder.received[0].parsed
    assert mail.get_content_type() == "text/plain"
    assert mail["Subject"] == "Störung behoben"
    assert mail.get_content().strip() == "Die Störung ist behoben — danke."
    assert recorder.received[0].raw.isascii()


def test_implicit_tls_relay_without_login(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert, implicit_tls=True, auth=False) as server:
        account = email_account(server.port, security="tls", ca_file=cert.cert, username=None)
        outcomes = send_all(EmailSender(account, None), [outgoing(1), outgoing(2)])
    assert results(outcomes) == {1: SENT, 2: SENT}
    assert recorder.logins == []
    assert sorted(r.rcpt_tos[0] for r in recorder.received) == ["user1@example.com",
                                                                 "user2@example.com"]


def test_wrong_password_is_auth_failed_with_the_servers_words_for_the_whole_batch(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, "wrong"), [outgoing(n) for n in range(1, 6)])
    assert set(results(outcomes).values()) == {AUTH_FAILED}
    assert "535" in outcomes[1].detail and "Authentication credentials invalid" in \
        outcomes[1].detail
    assert recorder.received == []
    # the account stops at the first refusal: no password guessing for every message
    assert {p for _, p in recorder.logins} == {"wrong"}
    assert len(recorder.logins) <= 2          # PLAIN, then LOGIN, once


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_that_does_not_offer_starttls_is_refused_before_any_credentials():
    recorder = Recorder()
    # no TLS at all, and a server that would happily take AUTH in clear
    with smtp_server(recorder, None, starttls=False) as server:
        account = email_account(server.port, security="starttls")
        sender = EmailSender(account, PASSWORD)
        outcomes = send_all(sender, [outgoing(1), outgoing(2)])
        with pytest.raises(ClarionError, match="does not offer STARTTLS"):
            asyncio.run(sender.test_connection())
    assert results(outcomes) == {1: AUTH_FAILED, 2: AUTH_FAILED}
    assert "does not offer STARTTLS" in outcomes[1].detail
    # what it offered instead, on one line
    offered = outcomes[1].detail.split("The server offered: ", 1)[1]
    assert offered.startswith("250 ") and "\n" not in offered and ", AUTH " in offered
    assert recorder.logins == [] and recorder.received == []


# ---- credentials travel only over TLS, and a login the server cannot do now is retried ----

def password_forms() -> list[bytes]:
    """The password as it would cross the wire: as is, and base64-encoded for AUTH PLAIN
    (\\0user\\0password) and AUTH LOGIN (the password alone)."""
    return [PASSWORD.encode(),
            base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()),
            base64.b64encode(PASSWORD.encode())]


def assert_no_credentials_heard(recorder: Recorder) -> None:
    heard = bytes(recorder.heard)
    assert b"AUTH" not in heard.upper(), heard
    for form in password_forms():
        assert form not in heard, form
    assert recorder.login_commands == [] and recorder.logins == []


def log_in_in_clear(port: int) -> str:
    """A plain client (not Clarion) logging in without TLS: what the server would accept."""
    async def run() -> str:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False,
                                 use_tls=False, timeout=5)
        await client.connect()
        try:
            reply = await client.login(USER, PASSWORD)
        finally:
            await client.quit()
        return f"{reply.code} {reply.message}"
    return asyncio.run(asyncio.wait_for(run(), DEADLINE))


class _SettingsCheckSkipped(EmailSender):
    """As if the settings check had a hole: the session itself must still refuse to log in
    over a connection without TLS."""

    def config_problem(self) -> str:
        return ""


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_security_none_with_a_username_never_logs_in_even_where_the_server_would_take_it():
    """A server on this computer offers AUTH without TLS and would accept the password;
    Clarion refuses the account (AUTH_FAILED, the coordinator fixes it) and no AUTH command
    and no form of the password ever reaches the server — also not from a connection test."""
    recorder = Recorder()
    with smtp_server(recorder, None, starttls=False, wiretap=True) as server:
        sender = EmailSender(email_account(server.port, security="none"), PASSWORD)
        outcomes = send_all(sender, [outgoing(1), outgoing(2)])
        assert_no_credentials_heard(recorder)
        with pytest.raises(ClarionError, match="never sends credentials without TLS"):
            asyncio.run(sender.test_connection())
        assert_no_credentials_heard(recorder)
        assert recorder.received == []
        # the control: the same server does take this login in clear from a client that
        # allows it, so only Clarion's refusal kept the password off the wire above
        assert log_in_in_clear(server.port).startswith("235")
    assert results(outcomes) == {1: AUTH_FAILED, 2: AUTH_FAILED}
    assert "never sends credentials without TLS" in outcomes[1].detail
    assert recorder.logins == [(USER, PASSWORD)]            # the control's, nobody else's
    assert [tls for _mech, tls in recorder.login_commands] == [False]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_session_refuses_to_log_in_without_tls_even_if_the_settings_check_let_it_through():
    """Belt and braces: with the settings check out of the way, the session connects, reads
    the EHLO (AUTH offered in clear) and still stops before AUTH: AUTH_FAILED, "Refusing to
    log in without TLS", nothing sent, no password on the wire."""
    recorder = Recorder()
    with smtp_server(recorder, None, starttls=False, wiretap=True) as server:
        sender = _SettingsCheckSkipped(email_account(server.port, security="none"), PASSWORD)
        outcomes = send_all(sender, [outgoing(1), outgoing(2)])
        assert_no_credentials_heard(recorder)
        with pytest.raises(ClarionError, match="Refusing to log in without TLS"):
            asyncio.run(sender.test_connection())
    assert results(outcomes) == {1: AUTH_FAILED, 2: AUTH_FAILED}
    assert outcomes[1].detail == "Refusing to log in without TLS."
    assert b"EHLO clarion.test" in bytes(recorder.heard)      # it did connect and greet
    assert_no_credentials_heard(recorder)
    assert recorder.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_starttls_required_but_refused_by_the_server_is_retried_later_and_never_logs_in(cert):
    """The relay advertises STARTTLS and would take AUTH in clear, but answers STARTTLS with
    454 (TLS not available now): no login in clear; the messages wait for a retry
    (TRANSIENT, with the server's words), they are not dropped or blamed on the account."""
    recorder = Recorder()
    with smtp_server(recorder, cert, auth_in_clear=True,
                     starttls_reply="454 4.7.0 TLS not available due to temporary reason") \
            as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcomes = send_all(sender, [outgoing(1), outgoing(2)])
        with pytest.raises(ClarionError, match="454 4.7.0 TLS not available"):
            asyncio.run(sender.test_connection())
    assert results(outcomes) == {1: TRANSIENT, 2: TRANSIENT}
    assert all("454 4.7.0 TLS not available" in o.detail for o in outcomes.values()), outcomes
    assert b"STARTTLS" in bytes(recorder.heard).upper()     # it asked for TLS, and stopped
    assert_no_credentials_heard(recorder)
    assert recorder.received == []


def test_a_454_answer_to_the_login_is_transient_not_a_refused_account(cert):
    """A 4xx at AUTH means "not now" (e.g. the relay's authentication backend is down):
    every message waits for a retry (TRANSIENT, with the server's words) and the account is
    not marked refused (AUTH_FAILED is for 535 & co, and pauses the account's queue)."""
    recorder = Recorder(login_reply="454 4.7.0 Temporary authentication failure")
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcomes = send_all(sender, [outgoing(n) for n in range(1, 4)])
        with pytest.raises(ClarionError, match="cannot log in now: 454 4.7.0 Temporary"):
            asyncio.run(sender.test_connection())
    assert results(outcomes) == {1: TRANSIENT, 2: TRANSIENT, 3: TRANSIENT}, outcomes
    assert all("cannot log in now: 454 4.7.0 Temporary authentication failure" in o.detail
               for o in outcomes.values()), outcomes
    assert recorder.logins and set(recorder.logins) == {(USER, PASSWORD)}
    assert all(tls for _mech, tls in recorder.login_commands)   # over TLS, as always
    assert recorder.received == []


@pytest.mark.parametrize("offered", ["PLAIN", "PLAIN LOGIN"])
def test_a_421_answer_to_the_login_is_transient_not_a_refused_account(cert, offered):
    """421 at AUTH ("closing connection, try later") is a retry, never AUTH_FAILED. With
    PLAIN only, the server's words are the outcome's; with LOGIN offered too, aiosmtplib has
    hung up after the 421 and tries LOGIN on the closed connection, so the words are lost
    ("Server not connected") — still a retry."""
    recorder = Recorder(login_reply="421 4.7.0 Try again later, closing connection")
    exclude = () if "LOGIN" in offered else ("LOGIN",)
    with smtp_server(recorder, cert, auth_exclude=exclude) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcomes = send_all(sender, [outgoing(n) for n in range(1, 4)])
    assert results(outcomes) == {1: TRANSIENT, 2: TRANSIENT, 3: TRANSIENT}, outcomes
    if offered == "PLAIN":
        assert all("cannot log in now: 421 4.7.0 Try again later" in o.detail
                   for o in outcomes.values()), outcomes
    assert recorder.logins and set(recorder.logins) == {(USER, PASSWORD)}
    assert recorder.received == []


def test_a_535_answer_to_the_login_is_auth_failed_with_the_servers_words(cert):
    """The counterpart of the 4xx case: a 535 from the same kind of server is the account's
    problem (AUTH_FAILED, the queue is paused), for every message of the batch."""
    recorder = Recorder(login_reply="535 5.7.8 Authentication credentials invalid")
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcomes = send_all(sender, [outgoing(n) for n in range(1, 4)])
    assert results(outcomes) == {1: AUTH_FAILED, 2: AUTH_FAILED, 3: AUTH_FAILED}, outcomes
    assert "refused the login: 535 5.7.8" in outcomes[1].detail
    assert recorder.received == []


def test_an_untrusted_certificate_is_refused_before_any_credentials(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port)            # no ca_file: the system's CAs only
        sender = EmailSender(account, PASSWORD)
        outcomes = send_all(sender, [outgoing(1)])
        with pytest.raises(ClarionError, match="not trusted"):
            asyncio.run(sender.test_connection())
    assert outcomes[1].result == AUTH_FAILED
    assert "not trusted" in outcomes[1].detail and "certificate" in outcomes[1].detail
    # OpenSSL's own reason, in the coordinator's sentence
    assert f"The certificate of 127.0.0.1:{server.port} is not trusted (self-signed " \
        f"certificate); nothing was sent" in outcomes[1].detail
    assert recorder.logins == [] and recorder.received == []


def test_a_certificate_for_another_name_is_refused(tmp_path):
    other = make_cert(tmp_path, "other", dns_names=("relay.internal",), ip=None)
    recorder = Recorder()
    with smtp_server(recorder, other) as server:
        # the CA is trusted, but the certificate does not name 127.0.0.1
        account = email_account(server.port, ca_file=other.cert)
        outcome = send_all(EmailSender(account, PASSWORD), [outgoing(1)])[1]
    assert outcome.result == AUTH_FAILED, outcome
    assert "not trusted" in outcome.detail and "127.0.0.1" in outcome.detail
    assert recorder.logins == []


def test_test_connection_reports_the_servers_answer(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        good = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        answer = asyncio.run(good.test_connection())
        bad = EmailSender(email_account(server.port, ca_file=cert.cert), "nope")
        with pytest.raises(ClarionError, match="535"):
            asyncio.run(bad.test_connection())
    lines = answer.split("\n")
    assert lines[0] == f"Connected to 127.0.0.1:{server.port} (STARTTLS)."
    assert lines[1].startswith("Greeting: 220")
    assert lines[2].startswith("TLS: ") and lines[2].endswith(
        "certificate verified for 127.0.0.1.")
    assert lines[3].startswith("EHLO: 250")
    assert lines[4].startswith("Login: 235")
    assert len(lines) == 5
    assert PASSWORD not in answer


def test_nothing_listening_is_transient_for_every_message():
    account = email_account(free_port(), security="none", username=None)
    outcomes = send_all(EmailSender(account, None), [outgoing(n) for n in range(1, 4)])
    assert set(results(outcomes).values()) == {TRANSIENT}
    assert "127.0.0.1" in outcomes[1].detail
    assert outcomes[1].detail.startswith("Cannot reach 127.0.0.1:")
    assert "Connect call failed" in outcomes[1].detail        # the system's words, kept


def test_a_hundred_messages_over_at_most_four_connections(cert):
    recorder = Recorder()
    messages = [outgoing(n) for n in range(1, 101)]
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=4)
        outcomes = send_all(EmailSender(account, PASSWORD), messages)
    assert set(results(outcomes).values()) == {SENT}
    assert len(recorder.received) == 100
    assert 1 <= len(recorder.sessions) <= 4
    assert len(recorder.logins) == len(recorder.sessions)   # one login per connection
    assert sorted(recorder.message_ids()) == sorted(m.email_message_id for m in messages)


@pytest.mark.parametrize("refuse_at", ["greeting", "MAIL"])
def test_a_relay_that_takes_fewer_connections_gets_everything_over_those_it_takes(cert,
                                                                                  refuse_at,
                                                                                  caplog):
    """The default limit (8) is more than some relays take: the extra connections are refused
    (421 instead of a greeting, or 432 to MAIL FROM as Exchange Online does), every message
    still goes out over the ones taken, later sends open no more than worked, and after a send
    with no refusal the sender tries one more."""
    recorder = Recorder()
    rounds = [[outgoing(n) for n in range(start, start + 60)] for start in (1, 61, 121)]
    with smtp_server(recorder, cert, max_sessions=3, refuse_at=refuse_at) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=8)
        sender = EmailSender(account, PASSWORD)
        outcomes: list[SendOutcome] = []
        refused: list[int] = []
        ceilings: list[int] = []

        async def run() -> None:   # one loop, as the sending thread has: sessions are kept
            for messages in rounds:
                await sender.send(messages, outcomes.append)
                refused.append(recorder.refused_sessions - sum(refused))
                ceilings.append(sender.ceiling)
            await sender.aclose()

        with caplog.at_level("INFO", logger="app.sending.channels.email"):
            asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert [o.result for o in outcomes] == [SENT] * 180, outcomes
    where = f"127.0.0.1:{server.port}"
    assert [r.getMessage() for r in caplog.records if "connection(s) at a time" in
            r.getMessage()] == [
        f"{where} took 3 connection(s) at a time, not 8: using 3 from now on",
        f"{where} took 3 connection(s) at a time, not 4: using 3 from now on"]
    assert refused[0] >= 1 and ceilings[0] == 3      # 8 tried, 3 taken: 3 from now on
    assert refused[1] == 0 and ceilings[1] == 4      # 3 worked without refusal: try a 4th
    assert refused[2] == 1 and ceilings[2] == 3      # the 4th was refused: back to 3
    assert recorder.peak_sessions == 3
    assert len(recorder.received) == 180
    assert sorted(recorder.message_ids()) == sorted(m.email_message_id
                                                    for messages in rounds for m in messages)


def test_the_only_connection_refused_at_mail_is_transient_for_its_messages(cert):
    """With no other session carrying mail, a 4xx to MAIL FROM is the messages' outcome (they
    wait and are retried), not a reason to drop them."""
    recorder = Recorder()
    with smtp_server(recorder, cert, max_sessions=0, refuse_at="MAIL") as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=2)
        sender = EmailSender(account, PASSWORD)
        outcomes = send_all(sender, [outgoing(1), outgoing(2)])
    assert set(results(outcomes).values()) == {TRANSIENT}
    assert all("432 4.3.2" in o.detail for o in outcomes.values()), outcomes
    assert recorder.received == []
    assert sender.ceiling == 2      # no session worked: nothing learnt, never down to none


def test_sessions_are_kept_between_sends_and_a_dropped_idle_one_is_replaced(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=1),
                             PASSWORD)
        outcomes: list[SendOutcome] = []

        async def run() -> None:
            await sender.send([outgoing(1), outgoing(2)], outcomes.append)
            await sender.send([outgoing(3)], outcomes.append)         # same session
            await asyncio.to_thread(recorder.close_idle_sessions, server)
            await sender.send([outgoing(4)], outcomes.append)         # a new one, silently
            await sender.aclose()

        asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert [o.result for o in outcomes] == [SENT] * 4
    assert len(recorder.sessions) == 2
    assert len(recorder.received) == 4


@pytest.mark.parametrize("hang_up", [True, False])
def test_idle_sessions_the_relay_timed_out_with_421_are_replaced_without_a_retry(cert,
                                                                                 hang_up):
    """Postfix ends an idle session with "421 … timeout exceeded": the next send opens new
    sessions and nothing waits for a retry, and the connection limit is not lowered — also
    when the 421 is read as the answer to MAIL FROM before the hang-up is noticed."""
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=3),
                             PASSWORD)
        outcomes: list[SendOutcome] = []

        async def run() -> None:
            await sender.send([outgoing(n) for n in range(1, 31)], outcomes.append)
            await asyncio.to_thread(recorder.close_idle_sessions, server,
                                    b"421 4.4.2 relay.example Error: timeout exceeded\r\n",
                                    hang_up)
            await sender.send([outgoing(n) for n in range(31, 61)], outcomes.append)
            await sender.aclose()

        asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert [o.result for o in outcomes] == [SENT] * 60, outcomes
    assert sender.ceiling == 3
    assert len(recorder.received) == 60


def test_refusals_per_recipient_while_the_others_are_sent(cert):
    recorder = Recorder(
        rcpt_faults={"busy@example.com": "450 4.2.1 Mailbox busy, try later",
                     "local@example.com": "451 4.3.0 Local error in processing",
                     "full@example.com": "452 4.2.2 Mailbox full",
                     "nobody@example.com": "550 5.1.1 No such user",
                     "bad@example.com": "553 5.1.3 Bad destination mailbox address",
                     "closing@example.com": "421 4.3.2 Service shutting down"},
        data_faults={"spam@example.com": "554 5.7.1 Message rejected as spam",
                     "later@example.com": "451 4.7.1 Greylisted, come back later"})
    faulty = ["busy", "local", "full", "nobody", "bad", "closing", "spam", "later"]
    messages = [outgoing(n, address=f"{name}@example.com") for n, name in enumerate(faulty, 1)]
    messages += [outgoing(n) for n in range(100, 110)]
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=2)
        outcomes = send_all(EmailSender(account, PASSWORD), messages)

    got = {m.address.split("@")[0]: outcomes[m.delivery_id] for m in messages}
    for name in ("busy", "local", "full", "closing", "later"):
        assert got[name].result == TRANSIENT, (name, got[name])
    for name in ("nobody", "bad", "spam"):
        assert got[name].result == PERMANENT, (name, got[name])
    assert got["nobody"].detail == "550 5.1.1 No such user"
    assert got["spam"].detail.startswith("554 5.7.1")
    assert got["busy"].detail.startswith("450")
    for n in range(100, 110):
        assert outcomes[n].result == SENT
    delivered = sorted(r.rcpt_tos[0] for r in recorder.received)
    assert delivered == sorted(f"user{n}@example.com" for n in range(100, 110))
    # a recipient's refusal is the message's, tried once; a 421 ("closing") is the session's:
    # while the other session carries mail, the message is tried on it before it counts
    for name in ("busy", "local", "full", "nobody", "bad", "spam", "later"):
        assert recorder.rcpt_seen.count(f"{name}@example.com") == 1, (name, recorder.rcpt_seen)
    assert recorder.rcpt_seen.count("closing@example.com") == 2


def test_connection_lost_after_data_is_unknown_and_the_rest_goes_on_a_new_connection(cert):
    recorder = Recorder(drop_after_data={"user2@example.com"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3, 4)])
    assert results(outcomes) == {1: SENT, 2: UNKNOWN, 3: SENT, 4: SENT}
    assert "after the message was sent" in outcomes[2].detail
    # aiosmtplib's own words for the hang-up end the sentence
    assert outcomes[2].detail.rpartition("before the server confirmed it: ")[2] in (
        "Unexpected EOF received", "Connection lost")
    # the server does have it: a retry with the same Message-ID lets it drop the duplicate
    assert "<msg-2@clarion.test>" in recorder.message_ids()
    assert len(recorder.sessions) == 2


def test_no_reply_before_data_is_transient_and_no_confirmation_after_it_is_unknown(cert):
    recorder = Recorder(hang_at={"user1@example.com": "RCPT", "user2@example.com": "DATA"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1, timeout=0.4)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert results(outcomes) == {1: TRANSIENT, 2: UNKNOWN, 3: SENT}
    assert "before the message was sent" in outcomes[1].detail
    assert "after the message was sent" in outcomes[2].detail


def test_auth_required_but_no_username_is_auth_failed(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, username=None)
        outcomes = send_all(EmailSender(account, None), [outgoing(1), outgoing(2)])
    assert results(outcomes) == {1: AUTH_FAILED, 2: AUTH_FAILED}
    assert "530" in outcomes[1].detail


def test_header_injection_is_refused_and_nothing_is_sent_for_it(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert)
        evil = outgoing(1, subject="Update\r\nBcc: everyone@example.com")
        outcomes = send_all(EmailSender(account, PASSWORD), [evil, outgoing(2)])
    assert outcomes[1].result == PERMANENT and "line break" in outcomes[1].detail
    assert outcomes[2].result == SENT
    assert [r.rcpt_tos for r in recorder.received] == [["user2@example.com"]]


def test_settings_that_cannot_work_stop_the_account_without_connecting():
    port = free_port()    # nothing listens: any attempt to connect would say TRANSIENT
    cases = {
        "only allowed for a relay on this computer": email_account(
            port, security="none", username=None, host="smtp.example.com"),
        "never sends credentials without TLS": email_account(port, security="none"),
        "No password is stored": None,
    }
    for expected, account in cases.items():
        sender = EmailSender(account, None) if account else \
            EmailSender(email_account(port), None)
        outcome = send_all(sender, [outgoing(1)])[1]
        assert outcome.result == AUTH_FAILED and expected in outcome.detail, outcome


def test_drill_messages_never_leave_even_through_a_real_account():
    account = email_account(free_port(), security="none", username=None)
    outcome = send_all(EmailSender(account, None), [outgoing(5, is_drill=True)])[5]
    assert (outcome.result, outcome.provider_id) == (SENT, "drill:5")


def test_queue_id_shapes():
    assert queue_id("2.0.0 Ok: queued as 4Bc9Xq1ZzPz3") == "4Bc9Xq1ZzPz3"
    assert queue_id("OK id=1vH2Xd-0004Zk-2C") == "1vH2Xd-0004Zk-2C"
    assert queue_id("Ok 0100018c2a7f4d2e-5b1b9a2e-aaaa-bbbb-cccc-1234567890ab-000000") == \
        "0100018c2a7f4d2e-5b1b9a2e-aaaa-bbbb-cccc-1234567890ab-000000"
    assert queue_id("OK") == ""


def test_a_connection_carries_at_most_messages_per_connection_messages(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1,
                                messages_per_connection=2)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in range(1, 6)])
    assert set(results(outcomes).values()) == {SENT}
    assert len(recorder.sessions) == 3            # 2 + 2 + 1
    assert len(recorder.logins) == 3


def test_a_refused_recipient_is_reset_and_the_session_carries_the_next_message(cert):
    recorder = Recorder(rcpt_faults={"nobody@example.com": "550 5.1.1 No such user"},
                        data_faults={"spam@example.com": "554 5.7.1 Rejected as spam"})
    messages = [outgoing(1), outgoing(2, address="nobody@example.com"), outgoing(3),
                outgoing(4, address="spam@example.com"), outgoing(5)]
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), messages)
    assert results(outcomes) == {1: SENT, 2: PERMANENT, 3: SENT, 4: PERMANENT, 5: SENT}
    assert len(recorder.sessions) == 1 and len(recorder.logins) == 1   # RSET, not a new login
    assert [r.rcpt_tos for r in recorder.received if r.rcpt_tos != ["spam@example.com"]] == \
        [["user1@example.com"], ["user3@example.com"], ["user5@example.com"]]


def test_an_internationalised_address_goes_out_with_smtputf8_where_the_relay_offers_it(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert, smtputf8=True) as server:
        account = email_account(server.port, ca_file=cert.cert)
        outcomes = send_all(EmailSender(account, PASSWORD),
                            [outgoing(1, address="zoë@example.com"), outgoing(2)])
        from_utf8 = email_account(server.port, ca_file=cert.cert,
                                  from_address="météo@example.com")
        outcomes.update(send_all(EmailSender(from_utf8, PASSWORD), [outgoing(3)]))
    assert results(outcomes) == {1: SENT, 2: SENT, 3: SENT}
    by_rcpt = {r.rcpt_tos[0]: r for r in recorder.received}
    assert by_rcpt["zoë@example.com"].parsed["To"] == "User 1 <zoë@example.com>"
    assert by_rcpt["zoë@example.com"].mail_options == ["SMTPUTF8"]
    assert by_rcpt["user2@example.com"].mail_options == []     # plain ASCII asks for nothing
    assert by_rcpt["user3@example.com"].mail_from == "météo@example.com"
    assert by_rcpt["user3@example.com"].mail_options == ["SMTPUTF8"]


def test_an_internationalised_address_is_refused_with_a_reason_where_the_relay_cannot(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD),
                            [outgoing(1, address="zoë@example.com"), outgoing(2)])
    assert results(outcomes) == {1: PERMANENT, 2: SENT}
    assert outcomes[1].detail == (f"The address zoë@example.com needs SMTPUTF8, which "
                                  f"127.0.0.1:{server.port} does not offer.")
    assert [r.rcpt_tos for r in recorder.received] == [["user2@example.com"]]


def test_a_connection_cut_at_the_data_command_is_transient_nothing_of_the_message_went(cert):
    recorder = Recorder(cut_at_data={"user2@example.com"})
    with smtp_server(recorder, cert, wiretap=True) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert results(outcomes) == {1: SENT, 2: TRANSIENT, 3: SENT}
    assert "before the message was sent" in outcomes[2].detail
    assert "<msg-2@clarion.test>" not in recorder.message_ids()


@pytest.mark.parametrize("reply", ["400 4.0.0 Too many sessions", "499 4.9.9 Try later"])
def test_any_4xx_to_mail_from_on_an_extra_connection_is_a_connection_limit(cert, reply):
    recorder = Recorder(over_limit_reply=reply)
    with smtp_server(recorder, cert, max_sessions=1, refuse_at="MAIL") as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=3)
        sender = EmailSender(account, PASSWORD)
        outcomes = send_all(sender, [outgoing(n) for n in range(1, 31)])
    assert set(results(outcomes).values()) == {SENT}
    assert recorder.refused_sessions >= 1 and sender.ceiling == 1


@pytest.mark.parametrize("reply", ["500 5.0.0 Sessions exhausted", "550 5.7.1 Not allowed"])
def test_a_5xx_to_mail_from_is_never_taken_for_a_connection_limit(cert, reply):
    """A relay refusing the sender with 5xx refuses every message: the account stops, even
    while another connection is carrying mail."""
    recorder = Recorder(over_limit_reply=reply)
    with smtp_server(recorder, cert, max_sessions=1, refuse_at="MAIL") as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=2)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in range(1, 41)])
    stopped = [o for o in outcomes.values() if o.result == AUTH_FAILED]
    assert stopped and all(reply in o.detail and "refused the sender" in o.detail
                           for o in stopped)


def test_a_connection_lost_at_rcpt_is_transient_and_not_tried_again_at_once(cert):
    recorder = Recorder(drop_at_rcpt={"user2@example.com"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert results(outcomes) == {1: SENT, 2: TRANSIENT, 3: SENT}
    assert "failed before the message was sent" in outcomes[2].detail
    assert recorder.rcpt_seen.count("user2@example.com") == 1
    assert len(recorder.logins) == 2      # the session that lost it, and one for message 3


def test_a_relay_that_hangs_up_at_every_mail_from_gets_one_try_per_message(cert):
    recorder = Recorder(drop_at_mail=True)
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(1), outgoing(2)])
    assert results(outcomes) == {1: TRANSIENT, 2: TRANSIENT}
    assert all("failed before the message was sent" in o.detail for o in outcomes.values())
    assert len(recorder.logins) == 2      # one fresh session per message, no retry loop


def test_an_idle_session_found_dead_at_mail_from_is_replaced_and_the_message_sent(cert):
    """The relay hung up an idle session and the client has not noticed yet: MAIL FROM finds
    it dead. Nothing was sent on it, so the same message goes at once over a new session."""
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=1),
                             PASSWORD)
        outcomes: list[SendOutcome] = []

        async def run() -> None:
            await sender.send([outgoing(1)], outcomes.append)
            [idle] = sender._idle
            raw = idle.client.transport.get_extra_info("socket")
            # cut it at the server and wait, without giving the loop a turn, until the
            # hang-up has reached this side's socket: the session still looks alive
            recorder.close_idle_sessions(server)
            assert select.select([raw], [], [], 5)[0]
            assert idle.alive
            await sender.send([outgoing(2)], outcomes.append)
            await sender.aclose()

        asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert [o.result for o in outcomes] == [SENT, SENT], outcomes
    assert len(recorder.sessions) == 2
    assert [r.rcpt_tos for r in recorder.received] == [["user1@example.com"],
                                                       ["user2@example.com"]]


def test_an_account_problem_stops_the_batch_with_its_reason_for_every_message(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, concurrency=1)    # the CA is not trusted
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert set(results(outcomes).values()) == {AUTH_FAILED}
    assert all("is not trusted (self-signed certificate)" in o.detail
               for o in outcomes.values()), outcomes


def test_an_internal_error_on_one_message_is_unknown_logged_and_the_rest_goes_on(
        cert, monkeypatch, caplog):
    recorder = Recorder()
    prepare = EmailSender._prepare

    def failing(self, message):  # a bug of ours, for message 2 only
        if message.delivery_id == 2:
            raise RuntimeError("a bug")
        return prepare(self, message)

    monkeypatch.setattr(EmailSender, "_prepare", failing)
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        with caplog.at_level("ERROR", logger="app.sending.channels.email"):
            outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert results(outcomes) == {1: SENT, 2: UNKNOWN, 3: SENT}
    assert outcomes[2].detail == "Internal error while sending: RuntimeError('a bug')"
    [record] = [r for r in caplog.records if r.name == "app.sending.channels.email"]
    assert record.getMessage() == "email delivery 2 failed unexpectedly"
    assert record.exc_info is not None
    assert len(recorder.sessions) == 2    # the session is not trusted after our own failure


def test_a_callback_that_raises_stops_send_with_its_error_and_no_worker_left(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=3),
                             PASSWORD)

        def on_outcome(outcome: SendOutcome) -> None:
            raise LookupError("the caller's own bug")

        async def run() -> list[str]:
            with pytest.raises(LookupError, match="the caller's own bug"):
                await sender.send([outgoing(n) for n in range(1, 10)], on_outcome)
            left = [t.get_coro().__qualname__ for t in asyncio.all_tasks() if not t.done()]
            await sender.aclose()
            return left

        left = asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert not [name for name in left if name == "EmailSender._worker"], left


def test_sessions_of_a_finished_loop_are_closed_and_never_reused(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=1),
                             PASSWORD)
        first = send_all(sender, [outgoing(1)], close=False)
        [old] = sender._idle

        async def second_loop() -> None:
            slots = sender._bind_loop()
            assert not old.alive and sender._idle == []
            assert slots is sender._bind_loop()          # the same loop keeps its slots
            await sender.send([outgoing(2)], lambda o: first.update({o.delivery_id: o}))
            await sender.aclose()

        asyncio.run(asyncio.wait_for(second_loop(), DEADLINE))
    assert results(first) == {1: SENT, 2: SENT}
    assert len(recorder.sessions) == 2


def test_a_421_after_the_body_is_the_messages_outcome_never_a_resend_on_another_session(cert):
    """The server had the whole message when it said 421: sending it again over the other
    session at once could deliver it twice, so it waits for the outbox's retry instead."""
    recorder = Recorder(data_faults={"user3@example.com": "421 4.3.0 Closing after DATA"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=2)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in range(1, 9)])
    assert outcomes[3].result == TRANSIENT and outcomes[3].detail.startswith("421 4.3.0")
    assert recorder.rcpt_seen.count("user3@example.com") == 1
    assert {n for n, r in results(outcomes).items() if r == SENT} == {1, 2, 4, 5, 6, 7, 8}


def test_an_unreadable_reply_after_the_body_is_unknown(cert):
    recorder = Recorder(data_faults={"user2@example.com": "what?"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3)])
    assert results(outcomes)[1] == SENT
    assert results(outcomes)[2] == UNKNOWN, outcomes[2]
    assert outcomes[2].detail.startswith("Unreadable reply after the message was sent: ")


def test_a_session_refused_once_while_alone_is_not_taken_for_refused_ever_after(cert):
    """A 451 to MAIL FROM on the only session is that message's outcome; the session carries
    on, and in a later send beside other sessions its messages are not handed back (which
    would send them twice)."""
    recorder = Recorder(mail_faults=["451 4.7.1 Slow down"])
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=2),
                             PASSWORD)
        outcomes: list[SendOutcome] = []

        async def run() -> None:
            await sender.send([outgoing(1)], outcomes.append)       # alone: refused at MAIL
            await sender.send([outgoing(n) for n in range(2, 12)], outcomes.append)
            await sender.aclose()

        asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert outcomes[0].result == TRANSIENT and outcomes[0].detail.startswith("451 4.7.1")
    assert sorted(o.delivery_id for o in outcomes[1:]) == list(range(2, 12))
    assert {o.result for o in outcomes[1:]} == {SENT}
    ids = recorder.message_ids()
    assert len(ids) == len(set(ids)) == 10     # each message once


def test_an_authentication_refusal_mid_session_stops_the_batch_with_its_words(cert):
    recorder = Recorder(rcpt_faults={"user1@example.com": "530 5.7.0 Authentication required"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        sender = EmailSender(account, PASSWORD)
        outcomes = send_all(sender, [outgoing(n) for n in (1, 2, 3)], close=False)
        kept = list(sender._idle)
        asyncio.run(sender.aclose())
    assert kept == []     # the session of a stopped account is not kept for the next send
    assert set(results(outcomes).values()) == {AUTH_FAILED}
    assert outcomes[2].detail == outcomes[3].detail == outcomes[1].detail
    assert outcomes[1].detail.endswith("refused to send without valid authentication: "
                                       "530 5.7.0 Authentication required")
    assert recorder.rcpt_seen == ["user1@example.com"] and recorder.received == []


def test_a_username_for_a_relay_that_offers_no_login_is_an_account_problem(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert, auth_exclude=("PLAIN", "LOGIN")) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcome = send_all(sender, [outgoing(1)], close=False)[1]
        idle = list(sender._idle)
        asyncio.run(sender.aclose())
    assert outcome.result == AUTH_FAILED
    assert outcome.detail == f"127.0.0.1:{server.port}: No suitable authentication method found."
    assert idle == []         # a session of a stopped account is never kept for later


@pytest.mark.parametrize("reply, result, words", [
    ("400 4.0.0 Not now", TRANSIENT, "cannot log in now: 400 4.0.0 Not now"),
    ("499 4.9.9 Not now", TRANSIENT, "cannot log in now: 499 4.9.9 Not now"),
    ("500 5.0.0 No", AUTH_FAILED, "refused the login: 500 5.0.0 No"),
])
def test_the_class_of_the_login_reply_decides_between_later_and_fix_the_account(cert, reply,
                                                                                result, words):
    recorder = Recorder(login_reply=reply)
    with smtp_server(recorder, cert, auth_exclude=("LOGIN",)) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcome = send_all(sender, [outgoing(1)])[1]
    assert outcome.result == result
    assert outcome.detail == f"127.0.0.1:{server.port} {words}"


@pytest.mark.parametrize("greeting, result, words", [
    ("400 4.0.0 Busy", TRANSIENT, "is not taking mail now: 400 4.0.0 Busy"),
    ("499 4.9.9 Busy", TRANSIENT, "is not taking mail now: 499 4.9.9 Busy"),
    ("500 5.0.0 Go away", AUTH_FAILED, "refused the session: 500 5.0.0 Go away"),
    ("554 5.7.1 Not from you", AUTH_FAILED, "refused the session: 554 5.7.1 Not from you"),
])
def test_the_class_of_the_greeting_decides_between_later_and_fix_the_account(cert, greeting,
                                                                             result, words):
    recorder = Recorder(over_limit_greeting=greeting)
    with smtp_server(recorder, cert, max_sessions=0) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert), PASSWORD)
        outcome = send_all(sender, [outgoing(1)])[1]
    assert outcome.result == result
    assert outcome.detail.endswith(f"127.0.0.1:{server.port} {words}")


def test_the_connection_test_tells_each_step_over_implicit_tls_and_without_tls(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert, implicit_tls=True, auth=False) as server:
        tls = asyncio.run(EmailSender(email_account(server.port, security="tls",
                                                    ca_file=cert.cert, username=None),
                                      None).test_connection())
    lines = tls.split("\n")
    assert lines[0] == f"Connected to 127.0.0.1:{server.port} (implicit TLS)."
    assert lines[2].startswith("TLS: TLSv1.") and lines[2].endswith(
        ", certificate verified for 127.0.0.1.")
    assert lines[-1] == "Login: none (no username set)."
    with smtp_server(Recorder(), None, starttls=False, auth=False) as server:
        plain = asyncio.run(EmailSender(email_account(server.port, security="none",
                                                      username=None),
                                        None).test_connection())
    lines = plain.split("\n")
    assert lines[0] == f"Connected to 127.0.0.1:{server.port} (no TLS)."
    assert not any(line.startswith("TLS: ") for line in lines)
    assert lines[2].startswith("EHLO: 250 ") and "\n" not in lines[2]
    offered = lines[2].split(", ")                # the extensions, on one line
    assert "8BITMIME" in offered and "HELP" in offered
    assert lines[-1] == "Login: none (no username set)."


def test_a_send_that_needs_fewer_connections_than_allowed_keeps_the_limit(cert):
    recorder = Recorder()
    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=2),
                             PASSWORD)
        assert results(send_all(sender, [outgoing(1)])) == {1: SENT}
    assert sender.ceiling == 2


def test_sessions_end_with_quit_on_close_and_are_dropped_from_another_loop(cert):
    """QUIT on the way out (Postfix otherwise logs a lost connection); a sender closed from
    another loop than its sessions' drops them without talking to them."""
    recorder = Recorder()
    with smtp_server(recorder, cert, wiretap=True) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=1),
                             PASSWORD)
        assert results(send_all(sender, [outgoing(1)])) == {1: SENT}
        assert bytes(recorder.heard).rstrip().endswith(b"QUIT")
        send_all(sender, [outgoing(2)], close=False)
        [idle] = sender._idle
        heard = len(recorder.heard)
        asyncio.run(asyncio.wait_for(sender.aclose(), DEADLINE))   # another loop
    assert sender._idle == [] and not idle.alive
    assert b"QUIT" not in bytes(recorder.heard)[heard:]


def test_an_address_the_smtp_client_refuses_is_permanent_and_the_session_goes_on(cert):
    """A quoted local part with a tab passes the header parser but no SMTP command may carry
    it: that recipient fails with the reason, after MAIL FROM was accepted (RSET, then the next
    message on the same session)."""
    recorder = Recorder()
    odd = '"us\ter"@example.com'
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD),
                            [outgoing(1, address=odd), outgoing(2)])
    assert results(outcomes) == {1: PERMANENT, 2: SENT}
    assert outcomes[1].detail.startswith(f"The address {odd!r} cannot be used: ")
    assert len(recorder.sessions) == 1


def test_an_ehlo_name_the_client_will_not_send_is_an_account_problem_in_its_words():
    port = free_port()     # nothing is asked of a server: the name is refused before
    account = email_account(port, security="none", username=None,
                            local_hostname="clarion desk")
    outcome = send_all(EmailSender(account, None), [outgoing(1)])[1]
    assert outcome.result == AUTH_FAILED
    assert outcome.detail.startswith(f"127.0.0.1:{port}: The local_hostname param contains ")


def test_subjects_and_names_in_any_language_arrive_exactly_as_composed(cert):
    from tests.unit.test_mime import corpus
    cases = [text for label, text in corpus() if label.endswith(("-47", "-120", "-200"))]
    recorder = Recorder()
    messages = [OutgoingMessage(delivery_id=n, channel="email", address=f"user{n}@example.com",
                                recipient_name=text, subject=text, text=text, html="",
                                email_message_id=f"<lang-{n}@clarion.test>",
                                idempotency_key=f"lang-{n}")
                for n, text in enumerate(cases, 1)]
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=2,
                                from_name=cases[-1])
        outcomes = send_all(EmailSender(account, PASSWORD), messages)
    assert set(results(outcomes).values()) == {SENT}
    by_id = {r.parsed["Message-ID"]: r for r in recorder.received}
    for n, text in enumerate(cases, 1):
        mail = by_id[f"<lang-{n}@clarion.test>"].parsed
        assert mail["Subject"] == text
        assert mail["To"].addresses[0].display_name == " ".join(text.split())
        assert mail["From"].addresses[0].display_name == " ".join(cases[-1].split())
        assert mail.get_content().splitlines() == [text]
        assert by_id[f"<lang-{n}@clarion.test>"].raw.count(b"MIME-Version:") == 1


def test_each_message_waits_for_its_start_mark_before_mail_from_and_a_refusal_stops_all(cert):
    """Sender protocol (issue 15): begin(id) is awaited before the message's MAIL FROM, when
    its connection is ready; when the outbox withholds a message (False), nothing of it goes
    out, nothing is reported for it or the rest, and the send ends (QUIT, no other message)."""
    recorder = Recorder()
    messages = [outgoing(n) for n in range(1, 7)]
    seen_at_begin: list[tuple[int, int]] = []
    outcomes: list[SendOutcome] = []

    async def begin(delivery_id: int) -> bool:
        seen_at_begin.append((delivery_id, len(recorder.rcpt_seen)))
        return delivery_id <= 3

    with smtp_server(recorder, cert) as server:
        sender = EmailSender(email_account(server.port, ca_file=cert.cert, concurrency=1),
                             PASSWORD)

        async def run() -> None:
            try:
                await asyncio.wait_for(sender.send(messages, outcomes.append, begin), DEADLINE)
            finally:
                await sender.aclose()

        asyncio.run(run())
    # one connection: each begin came before its own RCPT and after the one before it
    assert seen_at_begin == [(1, 0), (2, 1), (3, 2), (4, 3)]
    assert [(o.delivery_id, o.result) for o in outcomes] == [(1, SENT), (2, SENT), (3, SENT)]
    assert sorted(recorder.message_ids()) == sorted(m.email_message_id for m in messages[:3])
    assert recorder.rcpt_seen == [m.address for m in messages[:3]]


def test_a_relay_refusing_the_ehlo_name_at_rcpt_pauses_the_account_with_its_words(cert):
    """Issue 18: Postfix's reject_non_fqdn_helo_hostname answers at RCPT — about the session,
    not the recipient. Every message would fail one by one; the account is refused instead,
    with the relay's words and what to set."""
    words = "504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname"
    messages = [outgoing(n) for n in range(1, 4)]
    recorder = Recorder(rcpt_faults={messages[0].address: words})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1,
                                local_hostname="vm.example.com")
        outcomes = send_all(EmailSender(account, PASSWORD), messages)
    first = outcomes[messages[0].delivery_id]
    assert first.result == AUTH_FAILED
    assert words in first.detail and "EHLO name 'vm.example.com'" in first.detail
    assert {o.result for o in outcomes.values()} == {AUTH_FAILED}   # the rest wait, unsent
    assert recorder.received == []


def test_the_default_ehlo_name_is_fully_qualified(monkeypatch):
    import socket

    from app.sending.channels.email import default_helo_name

    monkeypatch.setattr(socket, "getfqdn", lambda: "desk1.harbor.example")
    assert default_helo_name("alerts@example.com") == "desk1.harbor.example"
    monkeypatch.setattr(socket, "getfqdn", lambda: "vm")          # a bare name: refused by
    assert default_helo_name("alerts@harbor.example") == "harbor.example"   # many relays
    monkeypatch.setattr(socket, "getfqdn", lambda: "vm.localdomain")
    assert default_helo_name("alerts@harbor.example") == "harbor.example"


@pytest.mark.parametrize("fqdn", ["vm.localdomain", "vm.local", "vm.lan", "vm.internal",
                                  "desk.LOCAL", "vm"])
def test_a_name_only_the_local_network_knows_gives_way_to_the_senders_domain(monkeypatch,
                                                                              fqdn):
    """mDNS (.local), home-router (.lan), cloud-internal and "localdomain" names mean nothing
    to a relay on the internet: the from address's domain (after its last @) is used."""
    import socket

    from app.sending.channels.email import default_helo_name

    monkeypatch.setattr(socket, "getfqdn", lambda: fqdn)
    assert default_helo_name('"ops@desk"@harbor.example ') == "harbor.example"


def test_with_no_usable_name_at_all_the_ehlo_name_is_the_host_name_else_localhost(monkeypatch):
    import socket

    from app.sending.channels.email import default_helo_name

    monkeypatch.setattr(socket, "getfqdn", lambda: "vm")
    assert default_helo_name("") == "vm"
    monkeypatch.setattr(socket, "getfqdn", lambda: "")
    assert default_helo_name("alerts@") == "localhost"
