"""EmailSender against real aiosmtpd servers on 127.0.0.1 (DESIGN.md "Sending: the outbox"):
STARTTLS with a certificate made at test time, AUTH, fault injection per recipient."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Sequence

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
    assert outcome.provider_id == "Q00001"          # "250 2.0.0 Ok: queued as Q00001"
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
    assert recorder.logins == [] and recorder.received == []


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
    assert "Greeting: 220" in answer
    assert "certificate verified" in answer
    assert "Login: 235" in answer
    assert PASSWORD not in answer


def test_nothing_listening_is_transient_for_every_message():
    account = email_account(free_port(), security="none", username=None)
    outcomes = send_all(EmailSender(account, None), [outgoing(n) for n in range(1, 4)])
    assert set(results(outcomes).values()) == {TRANSIENT}
    assert "127.0.0.1" in outcomes[1].detail


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
                                                                                  refuse_at):
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

        asyncio.run(asyncio.wait_for(run(), DEADLINE))
    assert [o.result for o in outcomes] == [SENT] * 180, outcomes
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
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(1), outgoing(2)])
    assert set(results(outcomes).values()) == {TRANSIENT}
    assert all("432 4.3.2" in o.detail for o in outcomes.values()), outcomes
    assert recorder.received == []


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


def test_connection_lost_after_data_is_unknown_and_the_rest_goes_on_a_new_connection(cert):
    recorder = Recorder(drop_after_data={"user2@example.com"})
    with smtp_server(recorder, cert) as server:
        account = email_account(server.port, ca_file=cert.cert, concurrency=1)
        outcomes = send_all(EmailSender(account, PASSWORD), [outgoing(n) for n in (1, 2, 3, 4)])
    assert results(outcomes) == {1: SENT, 2: UNKNOWN, 3: SENT, 4: SENT}
    assert "after the message was sent" in outcomes[2].detail
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
