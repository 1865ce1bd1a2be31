"""The demo's mailbox (issue 24): what a recipient's mail client or a receiving server would have
sent back about a message the demo delivered to its drill inbox — a reply quoting it, an
out-of-office, a delivery status notification (RFC 3464, as Postfix writes one) — built from the
delivery's own bytes and read in through app/mailbox/recorder.py as a real mailbox read
would be, so the demo shows the Replies pane, a bounced delivery and the Due next item it
raises. The demo has no IMAP server: these are its only "received" messages."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

DEMO_FOLDER = "Demo mailbox"
DEMO_UIDVALIDITY = 1


def _headers(wire: bytes) -> str:
    return wire.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace") + "\r\n"


def reply_to(wire: bytes, *, name: str, address: str, text: str, at: datetime,
             number: int, automatic: bool = False) -> bytes:
    """A reply (or an automatic one) to the delivered message, quoting its text."""
    from email import message_from_bytes
    from email.policy import default

    original = message_from_bytes(wire, policy=default)
    body = original.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in (body.get_content() if body else "").splitlines())
    reply = EmailMessage()
    reply["From"] = f"{name} <{address}>"
    reply["To"] = str(original["From"])
    subject = str(original["Subject"] or "")
    reply["Subject"] = ("Automatic reply: " if automatic else "Re: ") + subject
    reply["Date"] = format_datetime(at)
    reply["Message-ID"] = f"<demo-reply-{number}@{address.split('@')[-1]}>"
    message_id = str(original["Message-ID"] or "")
    if message_id:
        reply["In-Reply-To"] = message_id
        reply["References"] = message_id
    if automatic:
        reply["Auto-Submitted"] = "auto-replied"
        reply.set_content(text)
    else:
        when = format_datetime(at)
        reply.set_content(f"{text}\n\nOn {when}, {original['From']} wrote:\n{quoted}\n")
    return reply.as_bytes(policy=SMTP)


def bounce_of(wire: bytes, *, address: str, diagnostic: str, status: str, at: datetime,
              number: int) -> bytes:
    """The delivery status notification a relay sends back when the recipient's server
    refused the message for good."""
    boundary = f"demo-bounce-{number}"
    lines = [
        "From: MAILER-DAEMON@relay.northwind-health.example (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {format_datetime(at)}",
        f"Message-ID: <demo-bounce-{number}@relay.northwind-health.example>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "", f"--{boundary}", "Content-Type: text/plain; charset=us-ascii", "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients.", "",
        f"<{address}>: host mx.example said: {diagnostic}", "",
        f"--{boundary}", "Content-Type: message/delivery-status", "",
        "Reporting-MTA: dns; relay.northwind-health.example", "",
        f"Final-Recipient: rfc822; {address}", "Action: failed", f"Status: {status}",
        f"Diagnostic-Code: smtp; {diagnostic}", "",
        f"--{boundary}", "Content-Type: text/rfc822-headers", "",
        _headers(wire).rstrip("\r\n"), "", f"--{boundary}--", ""]
    return "\r\n".join(lines).encode("ascii", "replace")
