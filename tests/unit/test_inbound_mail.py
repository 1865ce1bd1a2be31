"""Reading one message of the sending account's mailbox (app/mailbox/inbound.py): real
bounce formats (Postfix, Exchange Online, Gmail, qmail, Exim), a delay, auto-replies (Gmail,
Exchange) and human replies (Outlook, Gmail, iPhone, Thunderbird in German) from
tests/data/mail/ (see its README for where each comes from), the edge cases of malformed mail,
and a property test that no input makes it raise."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.mailbox.inbound import (
    MAX_BYTES,
    TOKEN_HEADER,
    TOKEN_RE,
    BouncedRecipient,
    Inbound,
    html_to_text,
    normalise_message_id,
    parse_inbound,
    reply_text,
)

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"
SAMPLES = sorted(p.name for p in MAIL.glob("*.eml"))
KINDS = {"bounce", "delay", "auto_reply", "reply", "other"}


def sample(name: str) -> Inbound:
    return parse_inbound((MAIL / name).read_bytes())


def message(*headers: str, body: str = "Hello", ctype: str = "text/plain; charset=utf-8") -> bytes:
    lines = list(headers) + [f"Content-Type: {ctype}", "", body]
    return "\r\n".join(lines).encode("utf-8")


# ---------------------------------------------------------------------------- bounces


def test_postfix_dsn_user_unknown() -> None:
    got = sample("postfix_dsn_user_unknown.eml")
    assert got.kind == "bounce"
    assert got.message_id == "<20260305220412.7628420C1A@mail.harborit.example.com>"
    assert got.from_address == "mailer-daemon@mail.harborit.example.com"
    assert got.from_name == "Mail Delivery System"
    assert got.date == datetime(2026, 3, 5, 22, 4, 12, tzinfo=UTC)
    assert got.refers_to == ("<dlv.7f3c2a.postfix@clarion.test>",)
    assert got.tokens == ("0a1b2c3d4e5f60718293a4b5c6d7e8f9",)
    assert got.recipients == (BouncedRecipient(
        address="tom.becker@northwindhealth.example.com", action="failed", status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <tom.becker@northwindhealth.example.com>: Recipient address"
                   " rejected: User unknown in virtual mailbox table"),)
    assert got.reason == ("550 5.1.1 Recipient address rejected: User unknown in virtual "
                          "mailbox table")
    assert (got.auto_reason, got.text) == ("", "")


def test_exchange_online_ndr_matches_by_token_when_the_message_id_was_rewritten() -> None:
    got = sample("exchange_online_ndr.eml")
    assert got.kind == "bounce"
    assert got.subject == ("Undeliverable: [Northwind Health] Patient portal outage: "
                           "status update 3")
    # Exchange gave the original its own Message-ID; Clarion's token is in the copied headers
    assert got.refers_to == (
        "<SA1PR11MB8426E1A0C7B5D9F2A3B4C5D6E7F8A9B0@SA1PR11MB8426.namprd11.prod.outlook.com>",)
    assert got.tokens == ("1b2c3d4e5f60718293a4b5c6d7e8f90a",)
    assert got.recipients == (BouncedRecipient(
        address="olivia.grant@northwindhealth.example.com", action="failed", status="5.1.1",
        diagnostic="smtp;550 5.1.1 <olivia.grant@northwindhealth.example.com>... User Unknown"),)
    assert got.reason == "550 5.1.1 User Unknown"
    # it says Auto-Submitted: auto-replied too: a bounce is never taken for an auto-reply
    assert got.auto_reason == ""


def test_exchange_ndr_without_the_attached_original_reads_the_headers_in_its_text() -> None:
    raw = (MAIL / "exchange_online_ndr.eml").read_bytes()
    boundary = b"--2fb4ff5c-630f-4679-9586-796f089a00fe"
    head = raw.rpartition(boundary + b"\nContent-Type: message/rfc822")[0]
    got = parse_inbound(head + boundary + b"--\n")
    assert got.kind == "bounce"
    assert got.tokens == ("1b2c3d4e5f60718293a4b5c6d7e8f90a",)
    assert got.refers_to[0] == (
        "<SA1PR11MB8426E1A0C7B5D9F2A3B4C5D6E7F8A9B0@SA1PR11MB8426.namprd11.prod.outlook.com>")


def test_gmail_dsn() -> None:
    got = sample("gmail_dsn.eml")
    assert got.kind == "bounce"
    assert got.from_address == "mailer-daemon@googlemail.com"
    assert got.date == datetime(2026, 3, 5, 22, 42, 10, tzinfo=UTC)
    assert got.refers_to == ("<dlv.9e8d7c.gmail@clarion.test>",)
    assert got.tokens == ("2c3d4e5f60718293a4b5c6d7e8f90a1b",)
    assert [(r.address, r.action, r.status) for r in got.recipients] == [
        ("marcus.bell@northwindhealth.example.com", "failed", "5.1.1")]
    assert got.reason == ("550 5.1.1 Recipient address rejected: User unknown in virtual "
                          "mailbox table")


def test_gmail_legacy_plain_text_dsn() -> None:
    got = sample("gmail_dsn_legacy.eml")
    assert got.kind == "bounce"
    assert got.recipients == (BouncedRecipient(
        address="sam.whitfield@northwindhealth.example.com", action="failed", status="",
        diagnostic=""),)
    assert got.reason == "Delivery to the following recipient failed permanently"
    assert (got.refers_to, got.tokens) == ((), ())          # "Message removed"


def test_old_exchange_ndr_needs_the_bounce_detectors() -> None:
    # Exchange 5.5/2000 "did not reach the following recipient(s)": no DSN, a subject and text
    # that only flufl.bounce's Microsoft detector knows
    got = sample("exchange_legacy_ndr.eml")
    assert got.kind == "bounce"
    assert got.refers_to == ("<dlv.d8e9f0.exchange-legacy@clarion.test>",)
    assert got.tokens == ("6a7b8c9d0e1f20314253647586970a1b",)
    assert got.recipients == (BouncedRecipient(
        address="karen.walsh@northwindhealth.example.com", action="failed", status="",
        diagnostic=""),)
    assert got.reason == "The recipient name is not recognized"


def test_qmail_bounce_with_the_original_quoted_in_the_text() -> None:
    got = sample("qmail_bounce.eml")
    assert got.kind == "bounce"
    assert got.message_id == ""                              # qmail gives its bounce none
    assert got.refers_to == ("<dlv.a4b5c6.qmail@clarion.test>",)
    assert got.tokens == ("3d4e5f60718293a4b5c6d7e8f90a1b2c",)
    [recipient] = got.recipients
    assert (recipient.address, recipient.action, recipient.status) == (
        "laura.chen@northwindhealth.example.com", "failed", "5.7.26")
    assert recipient.diagnostic.startswith("550-5.7.26 Unauthenticated email from "
                                           "harborit.example.com is not accepted")
    # the reply's code once, not on every continuation line
    assert got.reason == (
        "550 5.7.26 Unauthenticated email from harborit.example.com is not accepted due to "
        "domain's DMARC policy. Please contact the administrator of harborit.example.com domain "
        "if this was a legitimate mail. To learn about the DMARC initiative, go to "
        "https://support.google.com/mail/?p=DmarcRejection "
        "98e67ed59e1d1-2c819db36a9si6099002a91.116 - gsmtp")


def test_exim_plain_text_bounce() -> None:
    got = sample("exim_bounce.eml")
    assert got.kind == "bounce"
    assert got.refers_to == ("<dlv.b5c6d7.exim@clarion.test>",)     # a folded Message-ID
    assert got.tokens == ("4e5f60718293a4b5c6d7e8f90a1b2c3d",)
    assert got.recipients == (BouncedRecipient(
        address="priya.natarajan@northwindhealth.example.com", action="failed", status="5.7.1",
        diagnostic="554 5.7.1 <priya.natarajan@northwindhealth.example.com>: Recipient address "
                   "rejected: Access denied"),)
    assert got.reason == "554 5.7.1 Recipient address rejected: Access denied"


def test_postfix_delayed_dsn_is_a_delay_not_a_bounce() -> None:
    got = sample("postfix_dsn_delayed.eml")
    assert got.kind == "delay"
    assert got.refers_to == ("<dlv.c6d7e8.delayed@clarion.test>",)   # text/rfc822-headers
    assert got.tokens == ("5f60718293a4b5c6d7e8f90a1b2c3d4e",)
    assert got.recipients == (BouncedRecipient(
        address="karen.walsh@northwindhealth.example.com", action="delayed", status="4.4.1",
        diagnostic="X-Postfix; connect to mx1.northwindhealth.example.com[203.0.113.25]:25: "
                   "Connection timed out"),)
    assert got.reason == ("connect to mx1.northwindhealth.example.com[203.0.113.25]:25: "
                          "Connection timed out")


# ---------------------------------------------------------------------------- auto-replies


def test_gmail_vacation_auto_reply() -> None:
    got = sample("gmail_vacation.eml")
    assert got.kind == "auto_reply"
    assert got.auto_reason == "Auto-Submitted: auto-replied"
    assert got.refers_to == ("<dlv.d7e8f9.vacation@clarion.test>",)
    assert got.from_address == "maya.okafor@northwindhealth.example.com"
    assert got.text == ("I’m out of the office until Monday, March 9, with limited access to "
                        "email.\nFor anything urgent please call the Northwind IT on-call line "
                        "at (206) 555-0142.\n\nMaya")
    assert (got.recipients, got.reason) == ((), "")


def test_exchange_automatic_reply() -> None:
    got = sample("exchange_automatic_reply.eml")
    assert got.kind == "auto_reply"
    assert got.auto_reason == "Auto-Submitted: auto-generated"
    assert got.subject == ("Automatic reply: [Northwind Health] Patient portal outage: status "
                           "update 2")
    assert got.refers_to == ("<dlv.e8f90a.exchange-oof@clarion.test>",)
    assert got.text == (
        "I am out of the office until Monday, March 9, 2026, with no access to email.\n\n"
        "For anything urgent about Northwind Health IT, please call the service desk at "
        "(206) 555-0123 or write to it-oncall@northwindhealth.example.com.\n\n"
        "Sam Whitfield\nDirector of IT Operations, Northwind Health")


# ---------------------------------------------------------------------------- replies


def test_outlook_html_only_reply() -> None:
    got = sample("outlook_reply_html.eml")
    assert got.kind == "reply"
    assert got.refers_to == ("<dlv.0a1b2c.outlook@clarion.test>",)
    assert got.text == (
        "Hi team,\n\nThanks for the update. Our clinics are switching to the paper downtime "
        "procedure now; please keep the 30\u2011minute cadence until the portal is back.\n\n"
        "- Bellevue & Redmond: paper forms in use\n- Kirkland: see the status page\n\nOlivia")


def test_gmail_reply_with_a_wrapped_attribution() -> None:
    got = sample("gmail_reply.eml")
    assert got.kind == "reply"
    assert got.refers_to == ("<dlv.f90a1b.gmail-reply@clarion.test>",)
    assert got.text == (
        "Confirmed, we received the notice and have briefed the clinic managers.\n"
        "Can you add our compliance lead, priya.natarajan@northwindhealth.example.com, to\n"
        "the distribution list?\n\nThanks,\nTom")


def test_iphone_reply() -> None:
    got = sample("iphone_reply.eml")
    assert got.kind == "reply"
    assert got.refers_to == ("<dlv.1b2c3d.iphone@clarion.test>",)
    assert got.text == ("Thanks — the Bellevue clinic is still offline too. Please include it "
                        "in the next update.")


def test_german_thunderbird_reply_latin1_flowed() -> None:
    got = sample("german_reply.eml")
    assert got.kind == "reply"
    assert got.subject == "Re: [Northwind Health] Störung des Patientenportals"
    assert (got.from_name, got.from_address) == (
        "Jörg Müller", "joerg.mueller@evergreenbenefits.example.com")
    assert got.date == datetime(2026, 3, 6, 7, 15, 2, tzinfo=UTC)
    # In-Reply-To first, then References newest first, each once
    assert got.refers_to == ("<dlv.2c3d4e.german@clarion.test>",
                             "<dlv.a1b2c3.first@clarion.test>")
    assert got.text == (
        "Guten Morgen,\n\nvielen Dank für die Information. Wir haben unsere Außenstellen "
        "informiert und melden uns, sobald die Rückmeldungen vorliegen.\n\n"
        "Mit freundlichen Grüßen\nJörg Müller")


def test_newsletter_is_other() -> None:
    got = sample("newsletter.eml")
    assert got.kind == "other"
    assert (got.refers_to, got.tokens, got.recipients) == ((), (), ())
    assert (got.reason, got.auto_reason, got.text) == ("", "", "")


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_keeps_the_invariants(name: str) -> None:
    got = sample(name)
    assert got.kind in KINDS
    assert all(TOKEN_RE.fullmatch(t) for t in got.tokens)
    assert all(m.startswith("<") and m.endswith(">") for m in got.refers_to)
    assert len(got.reason) <= 500 and "\n" not in got.reason
    assert got.date is None or got.date.tzinfo is not None


# ---------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe garbage \x80\x81", b"\n\n\n",
                                 b"Subject", b": no name\r\n\r\n", "é".encode("utf-16")])
def test_garbage_is_other(raw: bytes) -> None:
    got = parse_inbound(raw)
    assert got.kind == "other"
    assert (got.refers_to, got.tokens, got.recipients, got.text) == ((), (), (), "")


def test_missing_message_id_and_date() -> None:
    got = parse_inbound(message("From: a@example.com", "Subject: hi",
                                "In-Reply-To: <x@clarion.test>"))
    assert (got.kind, got.message_id, got.date) == ("reply", "", None)


def test_encoded_word_subject_and_name() -> None:
    got = parse_inbound(message(
        "From: =?UTF-8?B?WsO8cmljaCBEZXNr?= <DESK@Example.COM>",
        "Subject: =?UTF-8?Q?R=C3=A9ponse_=E2=80=94_panne?= =?UTF-8?B?IHLDqXNvbHVl?=",
        "Date: Thu, 05 Mar 2026 14:04:00 -0800", "In-Reply-To: <a@clarion.test>"))
    assert got.subject == "Réponse — panne résolue"
    assert (got.from_name, got.from_address) == ("Zürich Desk", "desk@example.com")
    assert got.date == datetime(2026, 3, 5, 22, 4, tzinfo=UTC)


def test_latin1_body_and_raw_8bit_header() -> None:
    raw = ("From: a@example.com\r\nSubject: Grüße\r\nIn-Reply-To: <a@clarion.test>\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nÄnderung übernommen.\r\n")
    got = parse_inbound(raw.encode("latin-1"))
    assert got.subject == "Grüße"              # raw Latin-1 bytes in a header: not UTF-8
    assert got.text == "Änderung übernommen."


def test_unknown_charset_falls_back() -> None:
    got = parse_inbound(message("From: a@example.com", "In-Reply-To: <a@clarion.test>",
                                body="caf\u00e9", ctype="text/plain; charset=x-no-such"))
    assert got.text == "café"


def _report(action: str, status: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\r\nSubject: Delivery report\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nReport.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; Someone@Example.com\r\nAction: {action}\r\n"
        f"Status: {status}\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <orig@clarion.test>\r\n"
        "X-Clarion-Delivery: ABCDEF0123456789ABCDEF0123456789\r\n\r\n--B--\r\n").encode()


def test_original_recipient_is_the_address_clarion_sent_to() -> None:
    raw = _report("failed", "5.2.2").replace(
        b"Final-Recipient: rfc822; Someone@Example.com\r\n",
        b"Final-Recipient: rfc822; someone.alias@mbox.example.com\r\n"
        b"Original-Recipient: rfc822;Someone@Example.com\r\n")
    got = parse_inbound(raw)
    assert got.recipients == (BouncedRecipient("someone@example.com", "failed", "5.2.2", ""),)
    assert got.reason == "5.2.2 Mailbox full"


def test_multipart_report_with_only_delayed_actions_is_a_delay() -> None:
    got = parse_inbound(_report("delayed", "4.4.7"))
    assert got.kind == "delay"
    assert got.recipients == (BouncedRecipient("someone@example.com", "delayed", "4.4.7", ""),)
    assert got.reason == "4.4.7 Delivery time expired"
    assert got.refers_to == ("<orig@clarion.test>",)
    assert got.tokens == ("abcdef0123456789abcdef0123456789",)     # lowercased


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_success_reports_are_other(action: str) -> None:
    got = parse_inbound(_report(action, "2.0.0"))
    assert got.kind == "other"
    assert [r.action for r in got.recipients] == [action]


def test_failed_with_odd_action_word_is_a_bounce() -> None:
    got = parse_inbound(_report("failed (Bad destination mailbox address)", "5.1.1"))
    assert got.kind == "bounce"
    assert got.recipients[0].action == "failed"
    assert got.reason == "5.1.1 Bad destination mailbox address"


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    got = parse_inbound(message("From: a@example.com", "Subject: Re: outage",
                                "Auto-Submitted: no", "In-Reply-To: <x@clarion.test>",
                                body="Thanks, noted."))
    assert (got.kind, got.auto_reason, got.text) == ("reply", "", "Thanks, noted.")


def test_x_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    got = parse_inbound(message("From: a@example.com", "Subject: RE: outage",
                                "X-Auto-Response-Suppress: All",
                                "In-Reply-To: <x@clarion.test>", body="Call me."))
    assert got.kind == "reply"


@pytest.mark.parametrize(("header", "reason"), [
    ("X-Autoreply: yes", "X-Autoreply: yes"),
    ("X-Autorespond: Autoresponder", "X-Autorespond: Autoresponder"),
    ("Precedence: auto_reply", "Precedence: auto_reply"),
    ("X-Apple-Action: VACATION", "X-Apple-Action: VACATION"),
])
def test_vendor_auto_reply_headers(header: str, reason: str) -> None:
    got = parse_inbound(message("From: a@example.com", "Subject: Away", header,
                                "In-Reply-To: <x@clarion.test>", body="Back Monday."))
    assert (got.kind, got.auto_reason, got.text) == ("auto_reply", reason, "Back Monday.")


@pytest.mark.parametrize("subject", ["Automatic reply: Outage", "Abwesenheitsnotiz: Störung",
                                     "Réponse automatique : Panne", "Out of Office: Outage",
                                     "Auto: Outage"])
def test_auto_reply_subjects_answering_a_message(subject: str) -> None:
    got = parse_inbound(message("From: a@example.com", f"Subject: {subject}",
                                "In-Reply-To: <x@clarion.test>"))
    assert got.kind == "auto_reply"
    assert got.auto_reason == f"subject '{subject}'"


def test_auto_reply_subject_alone_answering_nothing_is_other() -> None:
    got = parse_inbound(message("From: a@example.com", "Subject: Out of Office: Outage"))
    assert got.kind == "other"


def test_auto_generated_without_an_answered_message_is_other() -> None:
    got = parse_inbound(message("From: alerts@example.com", "Subject: Nightly report",
                                "Auto-Submitted: auto-generated"))
    assert got.kind == "other"


def test_read_receipt_is_other() -> None:
    raw = (b"From: a@example.com\r\nSubject: Read: outage\r\nIn-Reply-To: <x@clarion.test>\r\n"
           b"Content-Type: multipart/report; report-type=disposition-notification; boundary=B"
           b"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
           b"--B\r\nContent-Type: message/disposition-notification\r\n\r\n"
           b"Final-Recipient: rfc822; a@example.com\r\nDisposition: manual-action/MDN-sent-"
           b"manually; displayed\r\n\r\n--B--\r\n")
    assert parse_inbound(raw).kind == "other"


def test_attached_original_with_broken_headers_still_gives_its_ids() -> None:
    # a line without a colon ends the parser's headers early (seen in copies of Exchange
    # headers): the Message-ID and token after it are read from the text
    raw = (b"From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
           b"X-Failed-Recipients: x@example.org\r\n"
           b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n"
           b"\r\nCould not be delivered to x@example.org: 550 5.1.1 unknown\r\n"
           b"--B\r\nContent-Type: message/rfc822\r\n\r\nDKIM-Signature: v=1;\r\ns=selector1;\r\n"
           b"Message-ID: <broken@clarion.test>\r\nX-Clarion-Delivery: "
           b"0123456789abcdef0123456789abcdef\r\n\r\nbody\r\n--B--\r\n")
    got = parse_inbound(raw)
    assert got.kind == "bounce"
    assert got.refers_to == ("<broken@clarion.test>",)
    assert got.tokens == ("0123456789abcdef0123456789abcdef",)
    assert got.recipients[0].address == "x@example.org"


def test_a_detector_failing_on_malformed_mail_logs_nothing(caplog) -> None:
    # flufl.bounce's Yale detector raises IndexError on an empty From: and logs the traceback
    raw = b"From: \r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nNo such user.\r\n"
    with caplog.at_level(logging.DEBUG):
        got = parse_inbound(raw)
    assert got.kind == "other"
    assert [r for r in caplog.records if r.name.startswith("flufl")] == []


def test_own_token_header_is_read() -> None:
    got = parse_inbound(message("From: a@example.com", "In-Reply-To: <x@clarion.test>",
                                f"{TOKEN_HEADER}: 00112233445566778899aabbccddeeff"))
    assert got.tokens == ("00112233445566778899aabbccddeeff",)


def test_comment_form_from_and_odd_dates() -> None:
    got = parse_inbound(message("From: desk@example.com (Service Desk)",
                                "Date: Thu, 5 Mar 2026 14:04:00 -0000"))
    assert (got.from_name, got.from_address) == ("Service Desk", "desk@example.com")
    assert got.date == datetime(2026, 3, 5, 14, 4, tzinfo=UTC)
    assert parse_inbound(message("Date: yesterday-ish")).date is None


@pytest.mark.timeout(120)    # bounded work: a parse that read it all would not end in time
def test_huge_input_is_capped() -> None:
    body = "A line of text that goes on.\r\n" * (3 * MAX_BYTES // 30)
    raw = message("From: a@example.com", "In-Reply-To: <x@clarion.test>", body=body)
    got = parse_inbound(raw)
    assert got.kind == "reply"
    assert len(got.text) < MAX_BYTES


@pytest.mark.timeout(120)    # html.parser takes hours on these; a linear scan, seconds
def test_hostile_html_is_read_without_a_quadratic_scan() -> None:
    for pattern in ("<a ", "<![", "<!--", "<a '", "</p ", "<?x"):
        hostile = pattern * 200_000
        assert len(html_to_text(hostile)) <= len(hostile)


def test_deep_nesting_keeps_the_headers() -> None:
    nested = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
                      for i in range(3000))
    got = parse_inbound(b"From: a@example.com\r\nSubject: deep\r\n"
                        b"In-Reply-To: <x@clarion.test>\r\n" + nested + b"\r\nhi")
    assert got.subject == "deep"
    assert got.refers_to == ("<x@clarion.test>",)


# ---------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize(("text", "expected"), [
    ("<abc@x>", "<abc@x>"),
    ("  < abc@x >  ", "<abc@x>"),
    ("(comment) <abc@x> (more (nested))", "<abc@x>"),
    ("abc@x", "<abc@x>"),
    ("\r\n <folded@x>", "<folded@x>"),
    ("<no-at-sign>", "<no-at-sign>"),
    ("", ""),
    ("(only a comment)", ""),
    ("junk", ""),
])
def test_normalise_message_id(text: str, expected: str) -> None:
    assert normalise_message_id(text) == expected


@pytest.mark.parametrize(("plain", "expected"), [
    (("Yes, go ahead.\r\n\r\nKaren\r\n\r\n________________________________\r\n"
      "From: Harbor IT <servicedesk@harborit.example.com>\r\nSent: Thursday, March 5, 2026\r\n"
      "To: Karen\r\nSubject: maintenance\r\n\r\nold"), "Yes, go ahead.\n\nKaren"),
    ("Fine by me.\n\n-----Original Message-----\nFrom: X\nSent: now\nSubject: y\n\nold",
     "Fine by me."),
    (("D'accord.\n\nLe jeu. 5 mars 2026 à 23:04, Harbor IT <s@harborit.example.com> a écrit :\n"
      "> Le portail est indisponible."), "D'accord."),
    (("Merci.\n\nDe : Harbor IT\nEnvoyé : jeudi 5 mars 2026 23:04\nÀ : Marie\nObjet : Panne\n\n"
      "ancien"), "Merci."),
    (("Danke.\n\nVon: Harbor IT\nGesendet: Donnerstag, 5. März 2026 23:04\nAn: Jörg\n"
      "Betreff: Störung\n\nalt"), "Danke."),
    (("Ok.\n\nFrom: Harbor IT\nDate: Thursday, 5 March 2026 at 23:04\nTo: Sam\n"
      "Subject: Outage\n\nold"), "Ok."),
    ("Noted!\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n", "Noted!"),
    ("> Can you confirm?\nConfirmed.\n> And when?\n14:00 UTC.\n", "Confirmed.\n14:00 UTC."),
    ("See below.\n\nHarbor IT Service Desk wrote:\n> hello\n", "See below."),
    ("On Monday we will restart the servers.\nPlan for it.",
     "On Monday we will restart the servers.\nPlan for it."),
    ("Thanks\n-- \nJane Doe\nPhone 555", "Thanks"),
    ("Ok\n\nSent from my Galaxy\n\n\n", "Ok"),
    ("Passt.\n\nVon meinem iPhone gesendet\n", "Passt."),
    ("\n\n  Indented first line\n\n\n\nlast\n\n", "  Indented first line\n\nlast"),
    ("", ""),
])
def test_reply_text(plain: str, expected: str) -> None:
    assert reply_text(plain) == expected


def test_html_to_text() -> None:
    html = ("<html><head><title>t</title><style>p {color: red}</style></head><body>"
            "<p>A&amp;B&nbsp;C &#8212; &eacute;</p><script>alert(1)</script>"
            "<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>"
            "<p>see <a href='https://x.example'>the page</a><br>next</p>"
            "<blockquote>quoted<br>two</blockquote><p>after</p>"
            "<table><tr><td>c1</td><td>c2</td></tr></table><pre>  keep\n  spaces</pre>"
            "<!-- a comment --></body></html>")
    assert html_to_text(html) == ("A&B C — é\n\n- one\n- two\n\n1. a\n2. b\n\n"
                                  "see the page\nnext\n\n> quoted\n> two\n\nafter\n\nc1 c2\n\n"
                                  "  keep\n  spaces")


# ---------------------------------------------------------------------------- properties


def _check(got: Inbound) -> None:
    assert isinstance(got, Inbound)
    assert got.kind in KINDS
    assert all(TOKEN_RE.fullmatch(t) for t in got.tokens)
    assert all(m.startswith("<") and m.endswith(">") for m in got.refers_to)
    assert len(got.reason) <= 500
    assert got.date is None or got.date.utcoffset() is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _check(parse_inbound(raw))


FRAGMENTS = [
    b"\r\n", b"\n", b"\r\n\r\n", b"--B\r\n", b"--B--\r\n", b"From: MAILER-DAEMON@x\r\n",
    b"Subject: =?utf-8?b?w6k=?=\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: text/html; charset=utf-7\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Action: failed\r\n", b"Status: 5.1.1\r\n", b"Final-Recipient: rfc822; a@b.c\r\n",
    b"Diagnostic-Code: smtp; 550 5.1.1 <a@b.c>: nope\r\n", b"Message-ID: <m@clarion.test>\r\n",
    b"X-Clarion-Delivery: 0123456789abcdef0123456789abcdef\r\n", b"In-Reply-To: (((<x@y>\r\n",
    b"Auto-Submitted: auto-replied\r\n", b"<blockquote><a <![ <!-- &#99999999; ", b"> quoted\r\n",
    b"On Mon, 1 Jan 2026, X wrote:\r\n", b"=?x?q?=ZZ?=", b"\xff\xfe\x00", b"(" * 50,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=20), max_size=60))
def test_never_raises_on_mail_like_fragments(pieces: list[bytes]) -> None:
    _check(parse_inbound(b"".join(pieces)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SAMPLES), data=st.data())
def test_never_raises_on_mutated_samples(name: str, data: st.DataObject) -> None:
    raw = bytearray((MAIL / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        where = data.draw(st.integers(0, len(raw)), label="where")
        edit = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]), label="edit")
        if edit == "flip" and where < len(raw):
            raw[where] ^= data.draw(st.integers(1, 255), label="bits")
        elif edit == "cut":
            del raw[where:where + data.draw(st.integers(1, 200), label="length")]
        elif edit == "insert":
            raw[where:where] = data.draw(st.sampled_from(FRAGMENTS) | st.binary(max_size=30),
                                         label="bytes")
        elif edit == "truncate":
            del raw[where:]
    _check(parse_inbound(bytes(raw)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_text_helpers_never_raise(text: str) -> None:
    new = reply_text(text)
    assert not any(line.startswith(">") for line in new.split("\n"))
    assert new == new.strip("\n")
    html_to_text(text)
    normalise_message_id(text)
