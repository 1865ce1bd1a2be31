"""What each channel puts on the wire for one message, built once and stored (issue 13).

The outbox freezes a delivery's content when it claims it for its first attempt, in the claim's
transaction: an email's complete MIME bytes (Date: the claim's time, the Message-ID fixed at
queue time), an SMS's request form (To, Body, From or MessagingServiceSid), a webhook's JSON
body. Every attempt, retry and resend then sends exactly these bytes, and the record can show
them. The real senders and the drill inbox build with the same functions, so a drill's record is
what a real send would have carried.

A message that cannot be built raises Unbuildable with the reason in the coordinator's words;
nothing is stored and the send reports it as a PERMANENT outcome."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .base import OutgoingMessage
from .mime import MimeError, build_email

E164 = re.compile(r"\+[1-9]\d{1,14}")
WEBHOOK_KINDS = ("slack", "teams", "webhook")
SMS_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"


class Unbuildable(Exception):
    """The message cannot be put on the wire; str() says why, to the coordinator."""


# Every character Python (and mail readers) take as the end of a line, in words: a subject or
# a header must be one line, and a break pasted from Word is a vertical tab, not CR/LF.
LINE_BREAKS = {
    "\n": "a line feed (LF)", "\r": "a carriage return (CR)",
    "\x0b": "a vertical tab (U+000B: how Word pastes a line break)",
    "\x0c": "a form feed (U+000C)", "\x1c": "a file separator (U+001C)",
    "\x1d": "a group separator (U+001D)", "\x1e": "a record separator (U+001E)",
    "\x85": "a next-line character (U+0085)", "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
}


def line_break_in(value: str) -> str:
    """The first line break in the value, in words ("" when there is none)."""
    for ch in value:
        if ch in LINE_BREAKS:
            return LINE_BREAKS[ch]
    return ""


def has_line_break(value: str) -> bool:
    return bool(line_break_in(value))


def refuse_line_breaks(*labelled: tuple[str, str]) -> None:
    for label, value in labelled:
        found = line_break_in(value)
        if found:
            raise Unbuildable(f"The {label} contains a line break — {found}: refused, "
                              f"nothing was sent.")


# a delivery's token: 32 lowercase hex digits (app/mailbox/inbound.py reads it back)
TOKEN_RE = re.compile(r"[0-9a-f]{32}")


def delivery_token(idempotency_key: str) -> str:
    """The token a delivery's email carries (its idempotency key: 32 hex digits, random, unique
    per delivery) — "" for a key of another form, which is then not put on the wire."""
    return idempotency_key if idempotency_key and TOKEN_RE.fullmatch(idempotency_key) else ""


def email_bytes(message: OutgoingMessage, *, from_name: str, from_address: str,
                reply_to: str, now: datetime) -> bytes:
    """The complete message as it goes after DATA (CRLF line ends, 7-bit)."""
    refuse_line_breaks(("subject", message.subject), ("recipient name", message.recipient_name),
                       ("address", message.address), ("Message-ID", message.email_message_id))
    try:
        return build_email(
            from_name=from_name, from_address=from_address, reply_to=reply_to,
            to_name=message.recipient_name, to_address=message.address,
            subject=message.subject, text=message.text, html=message.html, date=now,
            # The same Message-ID on every attempt lets receivers drop a duplicate.
            message_id=message.email_message_id or
            f"<{message.idempotency_key}@clarion.invalid>",
            token=delivery_token(message.idempotency_key))
    except MimeError as exc:
        raise Unbuildable(str(exc)) from None


def sms_problem(message: OutgoingMessage) -> str:
    """Why this SMS can never be sent ("" when it can)."""
    if not E164.fullmatch(message.address):
        return (f"{message.address!r} is not a phone number in E.164 form (+ and country "
                f"code); nothing was sent.")
    if not message.text:
        return "The SMS text is empty; nothing was sent."
    return ""


def sms_form(message: OutgoingMessage, *, from_number: str,
             messaging_service_sid: str) -> bytes:
    """The create-message request's body (Twilio's Messages.json form, UTF-8 percent-encoded)."""
    problem = sms_problem(message)
    if problem:
        raise Unbuildable(problem)
    form = {"To": message.address, "Body": message.text}
    if messaging_service_sid:
        form["MessagingServiceSid"] = messaging_service_sid
    else:
        form["From"] = from_number
    return urlencode(form).encode("ascii")


def read_sms_form(wire: bytes) -> dict[str, str]:
    """A stored SMS request body, read back (To, Body, From or MessagingServiceSid)."""
    return dict(parse_qsl(wire.decode("ascii"), keep_blank_values=True))


def webhook_payload(kind: str, message: OutgoingMessage) -> dict[str, Any]:
    subject, text = message.subject.strip(), message.text.strip()
    if kind == "slack":
        return {"text": f"*{subject}*\n\n{text}" if subject else text}
    if kind == "teams":
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                "summary": subject or text[:80], "title": subject, "text": text}
    body: dict[str, Any] = {"subject": subject, "text": text}
    if message.html:
        body["html"] = message.html
    return body


def webhook_body(kind: str, message: OutgoingMessage) -> bytes:
    """The JSON body posted to the hook (compact, UTF-8)."""
    try:
        return json.dumps(webhook_payload(kind, message), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    except UnicodeError as exc:
        raise Unbuildable(f"The message cannot be encoded: {exc}") from None
