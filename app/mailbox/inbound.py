"""One message read from the sending account's mailbox, classified: a bounce, a delay, an
auto-reply, a human reply or anything else — with the Message-IDs and Clarion delivery tokens it
names, so the caller can find the deliveries it is about. Pure: bytes in, a frozen value out.

* **Bounces and delays.** An RFC 3464 delivery status notification (``message/delivery-status``,
  however it is wrapped: Postfix, Exchange Online, Gmail, Exim's DSN form, …) is read here: one
  :class:`BouncedRecipient` per recipient block. A report whose actions are all ``delayed`` is a
  delay, one with only ``delivered``/``relayed``/``expanded`` is "other". The reports of servers
  that do not send DSNs (qmail, Exim's plain text, old Exchange, Yahoo, …) are left to
  `flufl.bounce` (Mailman's detectors), tried only on a message that looks like a server's report;
  the status and the diagnostic are then read from the report's text. A server's report in
  words no detector knows (a mailer-daemon or postmaster sender, or the null return path, and a
  bounce subject) is still a bounce, for the addresses its text names. The original message —
  attached as ``message/rfc822`` or ``text/rfc822-headers``, or quoted in the text — gives the
  Message-IDs and the ``X-Clarion-Delivery`` tokens (a server may rewrite the Message-ID, as
  Exchange Online does for some senders; the token survives).
* **Auto-replies.** ``Auto-Submitted`` other than ``no`` (RFC 3834; ``auto-generated`` only on a
  message that answers one: Exchange's out-of-office replies say so, newsletters say so too),
  ``X-Autoreply``, ``X-Autorespond``, ``Precedence: auto_reply``, Apple's ``X-Apple-Action:
  VACATION``, or an auto-reply subject ("Automatic reply:", "Out of Office", "Abwesenheitsnotiz",
  "Réponse automatique", …) on a message that answers one. ``X-Auto-Response-Suppress`` is not a
  sign: Exchange puts it on ordinary mail.
* **Replies.** A message naming Message-IDs (In-Reply-To, References); its new text is the text
  part (or the HTML part as text) without the quoted original and the signature.

Never raises on malformed mail, and its work is bounded: only the first `MAX_BYTES` are read and
at most `MAX_PARTS` MIME parts looked at. The structure is parsed with ``policy.compat32`` (the
default policy parses every part's Content-Type through its header registry while parsing: 15 s
for a 2 MB message of 60,000 parts); headers are read through ``policy.default``'s parser and,
where it fails on garbage, raw with their encoded words decoded; HTML is read by a small linear
tokenizer (``html.parser`` of Python 3.11 is quadratic on unclosed tags and raises on some
declarations). Whatever still fails leaves a best-effort "other" with the headers' facts."""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from itertools import islice

from app.mailbox.text import (  # noqa: F401 - html_to_text, reply_text: part of the API
    INVISIBLE, WHITESPACE, MAX_HTML, MAX_TEXT, html_to_text, reply_text,
)
from app.sending.channels.mime import TOKEN_HEADER   # what the sender writes
from app.sending.channels.wire import TOKEN_RE

MAX_BYTES = 2 * 1024 * 1024       # of a message read; the rest (attachments, mostly) is ignored
MAX_PARTS = 200                   # MIME parts looked at
MAX_DEPTH = 8                     # nesting of multiparts and attached messages looked into
MAX_REASON = 500
MAX_HEADER = 1000                 # characters kept of a subject or a name
MAX_RECIPIENTS = 100
MAX_HEADERS = 2000                # header fields of one message or part read

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ORIGINAL_TYPES = frozenset({"message/rfc822", "message/global", "text/rfc822-headers",
                             "message/rfc822-headers", "text/global-headers",
                             "message/global-headers"})
_ATTACHED_TYPES = frozenset({"message/rfc822", "message/global"})
_NOT_BOUNCE_REPORTS = frozenset({"disposition-notification", "feedback-report"})
# Codecs that are no text encodings for mail, or slow on large input.
_BAD_CODECS = frozenset({"punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined"})

_ANGLE_IDS = re.compile(r"<\s*([^<>\s]{1,998}?)\s*>")
_COMMENT = re.compile(r"\([^()]*\)")
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# An SMTP reply: its basic code, and the enhanced status code after it where there is one.
_REPLY_CODE = re.compile(r"\b([245]\d\d)(?:[ -]#?([245]\.\d{1,3}\.\d{1,3})\b|[ -]|\s+:)")
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_QUOTED_MSGID = re.compile(
    r"(?im)^[ \t>]*Message-ID[ \t]*:[ \t]*(?:\r?\n[ \t>]*)?(<[^<>\s]{1,998}>)")
_QUOTED_TOKEN = re.compile(
    r"(?im)^[ \t>]*X-Clarion-Delivery[ \t]*:[ \t]*(?:\r?\n[ \t>]*)?([0-9a-f]{32})\b")
_SURROGATES = re.compile("[\udc80-\udcff]")

_DAEMON_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster",
                            "post_master", "postoffice", "mail.delivery.system",
                            "mail-delivery-system", "mail-delivery-subsystem", "mdaemon"})
_DAEMON_NAME = re.compile(r"mail delivery|mailer[- ]daemon|postmaster|delivery subsystem|"
                          r"mail administrator|system administrator|microsoft outlook",
                          re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery notification|"
    r"delivery failure|failure notice|mail delivery failed|returned mail|returned to sender|"
    r"delivery has failed|could not be delivered|non[- ]?delivery|nondeliverable|not delivered|"
    r"delivery report|delayed mail|delivery delayed|message delayed|warning: message .* delayed|"
    r"warning: could not send|mail system error|unzustellbar|nicht zustellbar|non remis|"
    r"non distribuable|no se puede entregar|impossibile recapitare|onbestelbaar|"
    r"mail failure|delivery error|error sending|could not send|couldn't be delivered|"
    r"delivery failed|failed delivery|delivery warning|rejected mail|mail error", re.IGNORECASE)
# What a server's report says in its first lines when it reports a failure.
_FAILURE_TEXT = re.compile(
    r"could not be delivered|couldn't be delivered|wasn't delivered|was not delivered|"
    r"not able to deliver|wasn't able to deliver|unable to deliver|delivery (?:has )?failed|"
    r"failed permanently|permanent (?:error|failure)|undeliverable|invalid (?:user|recipient)|"
    r"no such user|user unknown|mailbox (?:is )?(?:full|unavailable)|trouble delivering|"
    r"error delivering|returned permanent errors", re.IGNORECASE)
# Where a report's own words end and its copy of the original begins.
_COPY_START = re.compile(
    r"(?im)^.{0,20}(?:copy of (?:the|your) message|below this line|message headers follow|"
    r"original message|undelivered message|returned message|original mail|message details)")
_DELAY_WORDS = re.compile(r"\bdelay|\bwarning\b|still being retried|will be retried|"
                          r"verzögert|retardé|retrasad", re.IGNORECASE)
# A line of the original's headers quoted in a report ("Subject: Backup failed" is no reason).
_HEADER_LINE = re.compile(r"^\s*(?:to|cc|from|subject|sent|date|reply-to|message-id)\s*:",
                          re.IGNORECASE)
# A report of success: "Delivery Status Notification (Success)", Outlook's "Delivered: …"
_SUCCESS_WORDS = re.compile(r"\((?:success|relay(?:ed)?|delivered)\)|"
                            r"^\s*(?:delivered|relayed|zugestellt|remis)\s*:", re.IGNORECASE)
# A warning that delivery goes on: a delay, whatever a detector made of the addresses.
_DELAY_TEXT = re.compile(r"this is a warning|will be retried|still being retried|"
                         r"has not yet been delivered|no action is required", re.IGNORECASE)
_FAILURE_LINE = re.compile(r"fail|reject|unknown|not exist|n't exist|denied|quota|invalid|"
                           r"could not|couldn't|wasn't|unable|not found|permanent|undeliver|"
                           r"not recognized",
                           re.IGNORECASE)

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[ -]?re(?:ply|sponse)|auto|autoreply|autosvar|"
    r"out of (?:the )?office(?: autoreply| reply| alert)?|abwesenheitsnotiz|"
    r"automatische antwort|réponse automatique|risposta automatica|respuesta automática|"
    r"automatisch antwoord|automaattinen vastaus|odpowiedź automatyczna|resposta automática)"
    r"\s*:", re.IGNORECASE)
_AUTO_SUBJECT_ANYWHERE = re.compile(r"\bis out of (?:the )?office\b|^\s*out of (?:the )?office\s*$",
                                    re.IGNORECASE)


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient of a delivery status report: whom, what happened, and the server's words."""

    address: str          # final/original recipient, lowercased, no "rfc822;" prefix
    action: str           # failed | delayed | delivered | relayed | expanded
    status: str           # e.g. "5.1.1" ("" if unknown)
    diagnostic: str       # the server's diagnostic on one line ("" if none)


@dataclass(frozen=True)
class Inbound:
    """One message of the mailbox as Clarion understands it (see the module's docstring)."""

    kind: str                       # "bounce" | "delay" | "auto_reply" | "reply" | "other"
    message_id: str                 # this message's own Message-ID, "<...>" ("" if none)
    subject: str
    from_address: str               # lowercased
    from_name: str
    date: datetime | None           # UTC-aware, from Date: (None if absent or invalid)
    # Message-IDs named, each once. A bounce or delay: the original's (attached, then quoted
    # in the text), the report's X-Original-Message-ID, then its own In-Reply-To/References;
    # anything else: In-Reply-To, then References newest first.
    refers_to: tuple[str, ...]
    tokens: tuple[str, ...]         # X-Clarion-Delivery tokens found, lowercase hex
    recipients: tuple[BouncedRecipient, ...]    # bounces and delays
    reason: str                     # one line for the coordinator (bounces and delays)
    auto_reason: str                # why it is an auto-reply, "" otherwise
    text: str                       # replies and auto-replies: the new text only


# ---------------------------------------------------------------------------- small helpers


def _safely(call, default):
    """`call()`, or `default` where malformed mail makes it fail: the email package's header
    parsers, payload decoders and codecs raise a wide range of errors on garbage (ValueError,
    LookupError, IndexError, RecursionError, …), and one unreadable field must not lose the
    rest of the message."""
    try:
        return call()
    except Exception:  # noqa: BLE001 - malformed mail raises anything; the caller falls back
        return default


def _dedupe(items) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item and item not in seen:
            seen[item] = None
    return tuple(seen)


def _one_line(text: str, limit: int = MAX_HEADER) -> str:
    text = WHITESPACE.sub(" ", INVISIBLE.sub("", text)).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _fix_surrogates(text: str) -> str:
    """Raw 8-bit bytes that the email package kept as surrogates, decoded as UTF-8 or,
    failing that, Windows-1252."""
    if not _SURROGATES.search(text):
        return text
    return _decode_bytes(text.encode("utf-8", "surrogateescape"), "")


def _decode_words(value: str) -> str:
    """A raw header value with its RFC 2047 encoded words decoded (unknown charsets kept raw)."""
    value = _fix_surrogates(value)
    return _safely(lambda: str(make_header(decode_header(value))), value)


def _raw_values(msg: Message, name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in _raw_items(msg) if k.lower() == lname]


def _parsed(name: str, raw: str):
    """A raw header value parsed by ``policy.default``'s header registry (encoded words decoded,
    addresses split), or None where that parser fails on it."""
    value = _fix_surrogates(raw[:100_000])      # raw 8-bit: UTF-8, else Windows-1252
    return _safely(lambda: email_policy.default.header_fetch_parse(name, value), None)


def _header(msg: Message, name: str) -> str:
    """The first `name` header as text: parsed by ``policy.default``, else decoded raw."""
    raw = _raw_values(msg, name)
    if not raw:
        return ""
    parsed = _parsed(name, raw[0])
    text = _safely(lambda: str(parsed), None) if parsed is not None else None
    if text is not None:
        return _one_line(_fix_surrogates(text))
    return _one_line(_decode_words(raw[0]))


def _headers(msg: Message, name: str) -> list[str]:
    """Every `name` header as raw text (unfolded, encoded words left as they are)."""
    return [_one_line(_fix_surrogates(v), 100_000) for v in _raw_values(msg, name)]


def _content_type(part: Message) -> str:
    ctype = _safely(part.get_content_type, None)
    if isinstance(ctype, str) and "/" in ctype:
        return ctype.lower()
    raw = _raw_values(part, "Content-Type")
    value = raw[0].split(";", 1)[0].strip().lower() if raw else ""
    return value if re.fullmatch(r"[\w.+-]+/[\w.+-]+", value) else "text/plain"


def _param(part: Message, name: str) -> str:
    value = _safely(lambda: part.get_param(name), None)
    if isinstance(value, tuple) and len(value) == 3:  # RFC 2231 (charset, language, value)
        value = value[2]
    if isinstance(value, str):
        return value.strip().strip('"').lower()
    raw = _raw_values(part, "Content-Type")
    if raw:
        match = re.search(rf'(?i)\b{re.escape(name)}\s*=\s*"?([^";\s]+)', raw[0])
        if match:
            return match.group(1).lower()
    return ""


def _is_attachment(part: Message) -> bool:
    raw = _raw_values(part, "Content-Disposition")
    return bool(raw) and raw[0].strip().lower().startswith("attachment")


def _decode_bytes(data: bytes, charset: str) -> str:
    charset = (charset or "").strip().strip('"').lower()
    codec = ""
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except (LookupError, ValueError):
            codec = ""
    if codec and codec not in _BAD_CODECS:
        text = _safely(lambda: data.decode(codec, "replace"), None)
        if isinstance(text, str):
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _part_text(part: Message, limit: int = MAX_TEXT) -> str:
    """The decoded text of a leaf part (transfer encoding and charset), at most `limit` chars."""
    data = _safely(lambda: part.get_payload(decode=True), None)
    if data is None:
        payload = _safely(part.get_payload, None)
        if not isinstance(payload, str):
            return ""
        data = payload.encode("utf-8", "surrogateescape")
    if not isinstance(data, bytes):
        return ""
    text = _decode_bytes(data[:limit * 4], _param(part, "charset"))
    return text[:limit].replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------- Message-IDs


def _strip_comments(text: str) -> str:
    for _ in range(10):                      # nested comments, innermost first
        stripped = _COMMENT.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    return text


def normalise_message_id(text: str) -> str:
    """A Message-ID in its "<left@right>" form: whitespace and comments dropped, a bare
    "left@right" bracketed; "" where the text holds none."""
    if not text or not isinstance(text, str):
        return ""
    text = _strip_comments(text[:4000])
    match = _ANGLE_IDS.search(text)
    if match:
        return f"<{match.group(1)}>"
    for word in text.split():
        word = word.strip("<>,;\"'")
        if "@" in word and 2 < len(word) <= 998:
            return f"<{word}>"
    return ""


def _message_ids(text: str) -> list[str]:
    """Every Message-ID of a header such as References, in the order written."""
    if not text:
        return []
    text = _strip_comments(text[:100_000])
    found = [f"<{m.group(1)}>" for m in _ANGLE_IDS.finditer(text)]
    if found:
        return found
    return [f"<{w.strip(',;')}>" for w in text.split() if "@" in w and len(w) <= 998]


# ---------------------------------------------------------------------------- MIME walk


@dataclass
class _Node:
    part: Message
    ctype: str
    path: tuple[int, ...]
    attached: bool               # inside an attached message (or one itself)


def _walk(msg: Message) -> list[_Node]:
    """The parts of a message in document order, depth first, bounded in number and depth.
    A delivery-status part's field blocks are not parts; an attached message is walked."""
    nodes: list[_Node] = []
    stack: list[tuple[Message, tuple[int, ...], bool]] = [(msg, (), False)]
    while stack and len(nodes) < MAX_PARTS:
        part, path, attached = stack.pop()
        ctype = _content_type(part)
        nodes.append(_Node(part, ctype, path, attached))
        if len(path) >= MAX_DEPTH or ctype in _DSN_TYPES \
                or ctype == "message/disposition-notification":
            continue
        payload = _safely(lambda p=part: p.get_payload() if p.is_multipart() else None, None)
        if not isinstance(payload, list):
            continue
        children = [c for c in payload[:MAX_PARTS] if isinstance(c, Message)]
        inside = attached or ctype in _ATTACHED_TYPES
        for index in range(len(children) - 1, -1, -1):
            stack.append((children[index], path + (index,), inside))
    return nodes


def _is_inside(path: tuple[int, ...], ancestor: tuple[int, ...]) -> bool:
    return len(path) >= len(ancestor) and path[:len(ancestor)] == ancestor


# ---------------------------------------------------------------------------- delivery status


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part, names lowercased, values unfolded."""
    blocks: list[dict[str, str]] = []
    payload = _safely(part.get_payload, None)
    if isinstance(payload, list):
        for sub in payload[:MAX_RECIPIENTS + 1]:
            if not isinstance(sub, Message):
                continue
            fields: dict[str, str] = {}
            for name, value in _raw_items(sub):
                fields.setdefault(name.lower(), _one_line(_fix_surrogates(value), 2000))
            blocks.append(fields)
        # A body the email package could not split (an encoded part, a missing blank line):
        if any(_is_recipient_block(b) for b in blocks):
            return blocks
    text = _part_text(part)
    if not text and isinstance(payload, list):
        text = "\n\n".join("\n".join(f"{k}: {v}" for k, v in _raw_items(sub))
                           for sub in payload if isinstance(sub, Message))
    blocks = []
    for chunk in re.split(r"\n[ \t]*\n", text)[:MAX_RECIPIENTS + 1]:
        fields = {}
        for line in re.sub(r"\n[ \t]+", " ", chunk).split("\n"):
            name, sep, value = line.partition(":")
            if sep and re.fullmatch(r"[A-Za-z0-9-]{1,60}", name.strip()):
                fields.setdefault(name.strip().lower(), _one_line(value, 2000))
        if fields:
            blocks.append(fields)
    return blocks


def _raw_items(msg: Message) -> list[tuple[str, str]]:
    """The header fields as written (the first MAX_HEADERS of them)."""
    return _safely(lambda: [(str(k), str(v))
                            for k, v in islice(msg.raw_items(), MAX_HEADERS)], [])


def _is_recipient_block(fields: dict[str, str]) -> bool:
    return any(k in fields for k in ("action", "final-recipient", "original-recipient"))


def _dsn_address(value: str) -> str:
    """"rfc822; User@Example.COM" → "user@example.com"; "" for a non-address."""
    kind, sep, address = value.partition(";")
    if not sep:
        address, kind = value, "rfc822"
    if kind.strip().lower() not in ("rfc822", "utf-8", ""):
        return ""
    address = address.strip().strip("<>").strip().lower()
    return address if "@" in address and " " not in address and len(address) <= 320 else ""


def _action(value: str, status: str) -> str:
    word = re.split(r"[\s(;,]", value.strip().lower(), maxsplit=1)[0] if value else ""
    if word in ("failed", "failure", "error", "fail", "failed.", "undeliverable"):
        return "failed"
    if word in ("delayed", "delay"):
        return "delayed"
    if word in ("delivered", "relayed", "expanded"):
        return word
    return {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "failed")


def _status(value: str) -> str:
    match = _ENHANCED.search(value or "")
    return ".".join(match.groups()) if match else ""


def _dsn_recipients(blocks: list[dict[str, str]]) -> list[BouncedRecipient]:
    recipients: list[BouncedRecipient] = []
    for fields in blocks:
        if not _is_recipient_block(fields):
            continue
        address = _dsn_address(fields.get("original-recipient", "")) \
            or _dsn_address(fields.get("final-recipient", ""))
        if not address:
            continue
        status = _status(fields.get("status", ""))
        if not status:
            status = _status(fields.get("diagnostic-code", ""))
        recipients.append(BouncedRecipient(
            address=address, action=_action(fields.get("action", ""), status), status=status,
            diagnostic=_one_line(fields.get("diagnostic-code", ""), 1000)))
    return recipients[:MAX_RECIPIENTS]


# ---------------------------------------------------------------------------- reasons

_STATUS_TEXT = {
    "5.1.1": "Bad destination mailbox address", "5.1.2": "Bad destination system address",
    "5.1.10": "Recipient not found", "5.2.1": "Mailbox disabled, not accepting messages",
    "5.2.2": "Mailbox full", "4.2.2": "Mailbox full", "5.3.4": "Message too big",
    "5.4.1": "No answer from host", "4.4.1": "No answer from host",
    "5.4.4": "Unable to route", "4.4.7": "Delivery time expired", "5.4.7": "Delivery time expired",
    "5.7.1": "Delivery not authorized, message refused",
    "5.7.26": "Multiple authentication checks failed (DMARC)",
}


def _clean_reason(diagnostic: str) -> str:
    """A server's diagnostic for a person: no "smtp;" type, no echo of the address, the reply
    code once ("550-5.1.1 … 550-5.1.1 … 550 5.1.1 …" is one reply on several lines)."""
    text = _one_line(diagnostic, 4000)
    text = re.sub(r"^[\w.-]{1,20}\s*;\s*", "", text)
    text = re.sub(r"(?i)^remote server returned\s*", "", text).strip("'\" ")
    text = re.sub(r"<[^<>\s]{1,320}@[^<>\s]{1,320}>\s*(?:\.\.\.|:)?\s*", "", text)
    text = re.sub(r"\b([245]\d\d)\s+:\s*", r"\1 ", text)            # "550 : User unknown"
    match = _REPLY_CODE.search(text)
    if match:
        basic, enhanced = match.group(1), match.group(2)
        again = re.escape(basic) + r"[ -]" + (re.escape(enhanced) + r"\b" if enhanced else "")
        rest = re.sub(rf"\b{again}\s*", "", text[match.end():])
        code = f"{basic} {enhanced}" if enhanced else basic
        text = f"{text[:match.start()]}{code} {rest.lstrip(' -')}"
    return _one_line(text, MAX_REASON).rstrip(" '")


def _reason(recipient: BouncedRecipient | None, texts: list[str]) -> str:
    if recipient is not None and recipient.diagnostic:
        return _clean_reason(recipient.diagnostic)
    for text in texts:                       # an SMTP reply quoted in the report's text
        for line in text.split("\n"):
            if _ENHANCED.search(line) and _REPLY_CODE.search(line):
                return _clean_reason(line)
    if recipient is not None and recipient.status in _STATUS_TEXT:
        return f"{recipient.status} {_STATUS_TEXT[recipient.status]}"
    for text in texts:
        for line in text.split("\n"):
            if _FAILURE_LINE.search(line) and len(line.strip()) > 8 \
                    and not _HEADER_LINE.match(line):
                return _one_line(line.strip().rstrip(":"), MAX_REASON)
    return recipient.status if recipient is not None else ""


def _text_diagnostic(text: str, address: str) -> str:
    """The SMTP reply a plain-text report gives for `address`: the paragraph naming it, from
    its first reply code on ("" if none)."""
    lines = text.split("\n")
    lowered = [line.lower() for line in lines]
    for start, line in enumerate(lowered):
        if address not in line:
            continue
        chunk = [lines[start][line.index(address) + len(address):]]
        for later, original in zip(lowered[start + 1:start + 14], lines[start + 1:start + 14]):
            if not later.strip():
                break
            others = [a.lower() for a in _ADDRESS.findall(later)]
            if any(a != address for a in others) and not later.lstrip().startswith(
                    ("smtp", "host", "remote", "550", "554", "553", "552", "551", "450", "451",
                     "452", "421")):
                break
            chunk.append(original)
        joined = _one_line(" ".join(chunk), 4000)
        match = _REPLY_CODE.search(joined)
        if match:
            return _one_line(joined[match.start():], 1000)
    return ""


# ---------------------------------------------------------------------------- the message


@dataclass
class _Parts:
    nodes: list[_Node]
    dsn: _Node | None
    report_type: str
    originals: list[_Node]          # attached or header-only copies of an original message
    texts: list[_Node]              # text leaves outside the originals


def _survey(msg: Message) -> _Parts:
    nodes = _walk(msg)
    dsn = next((n for n in nodes if n.ctype in _DSN_TYPES), None)
    report_type = ""
    for node in nodes:
        if node.ctype == "multipart/report" and not node.attached:
            report_type = _param(node.part, "report-type")
            break
    originals = [n for n in nodes if n.ctype in _ORIGINAL_TYPES and n.path
                 and not (dsn is not None and _is_inside(dsn.path, n.path))]
    top_originals = [o for o in originals
                     if not any(o is not p and _is_inside(o.path, p.path) for p in originals)]
    texts = [n for n in nodes if n.ctype in ("text/plain", "text/html") and n is not dsn
             and not any(_is_inside(n.path, o.path) for o in top_originals)]
    return _Parts(nodes, dsn, report_type, top_originals, texts)


def _original_ids(parts: _Parts) -> tuple[list[str], list[str]]:
    """Message-IDs and tokens of the original message(s) a report carries."""
    ids: list[str] = []
    tokens: list[str] = []
    for node in parts.originals:
        if node.ctype in _ATTACHED_TYPES:
            payload = _safely(node.part.get_payload, None)
            inner = payload[0] if isinstance(payload, list) and payload \
                and isinstance(payload[0], Message) else None
            found_ids: list[str] = []
            if inner is not None:
                found_ids = [normalise_message_id(v) for v in _headers(inner, "Message-ID")]
                tokens += [t for v in _headers(inner, TOKEN_HEADER) for t in _tokens_in(v)]
                # Headers the parser gave up on (a line without a colon ends them early)
                # are left in the body: read them as text.
                body_payload = _safely(inner.get_payload, None)
                body = body_payload[:65536] if isinstance(body_payload, str) else ""
                if body:
                    head = body.split("\n\n", 1)[0] if not found_ids else ""
                    found_ids += [normalise_message_id(m) for m in _QUOTED_MSGID.findall(head)]
                    tokens += [t.lower() for t in _QUOTED_TOKEN.findall(body[:65536])]
            elif isinstance(payload, str):
                text = payload[:65536]
                found_ids = [normalise_message_id(m) for m in _QUOTED_MSGID.findall(text)]
                tokens += [t.lower() for t in _QUOTED_TOKEN.findall(text)]
            ids += found_ids
        else:
            text = _part_text(node.part, 65536)
            head = re.split(r"\n[ \t]*\n", text, maxsplit=1)[0] if text else ""
            ids += [normalise_message_id(m) for m in _QUOTED_MSGID.findall(head)]
            tokens += [t.lower() for t in _QUOTED_TOKEN.findall(head)]
    return ids, tokens


def _tokens_in(value: str) -> list[str]:
    match = re.search(r"\b[0-9a-fA-F]{32}\b", value or "")
    token = match.group(0).lower() if match else ""
    return [token] if TOKEN_RE.fullmatch(token) else []


def _texts(parts: _Parts) -> list[str]:
    """The decoded text of the report's own text parts (HTML as text), plain parts first."""
    plain = [_part_text(n.part) for n in parts.texts if n.ctype == "text/plain"]
    html = [html_to_text(_part_text(n.part, MAX_HTML))
            for n in parts.texts if n.ctype == "text/html"]
    return [t for t in plain + html if t.strip()]


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed made plain: a line ending in a space goes on in the next line of
    the same quote depth (the signature separator "-- " excepted); a stuffed space is dropped."""
    out: list[str] = []
    pending: tuple[int, str, str] | None = None            # depth, prefix, text so far
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        body = body.removeprefix(" ")
        prefix = ">" * depth + (" " if depth else "")
        if pending is not None:
            if pending[0] == depth:
                body = pending[2] + body
            else:
                out.append(pending[1] + pending[2])
            pending = None
        if body.endswith(" ") and body != "-- ":
            pending = (depth, prefix, body[:-1] if delsp else body)
            continue
        out.append(prefix + body)
    if pending is not None:
        out.append(pending[1] + pending[2])
    return "\n".join(out)


def _body_text(parts: _Parts) -> str:
    """The text a person wrote: the first text/plain that says something, else the first
    text/html as text (attachments and attached messages aside)."""
    plain = html = None
    for node in parts.texts:
        if node.attached or _is_attachment(node.part):
            continue
        if node.ctype == "text/plain" and plain is None:
            candidate = _part_text(node.part)
            if candidate.strip():
                plain = candidate
                if _param(node.part, "format") == "flowed":
                    plain = _unflow(plain, _param(node.part, "delsp") == "yes")
        elif node.ctype == "text/html" and html is None:
            html = node
    if plain is not None:
        return plain
    return html_to_text(_part_text(html.part, MAX_HTML)) if html is not None else ""


def _split_address(value: str) -> tuple[str, str]:
    """(name, address) of a decoded From value, by the old parser (it takes the comment form,
    "addr (Name)", too), else by a pattern: both parsers recurse on nested comments."""
    found = _safely(lambda: parseaddr(_strip_comments(value[:2000]) if value.count("(") > 20
                                      else value[:2000]), None)
    if found and found[1]:
        return found
    match = _ADDRESS.search(value)
    return ("", match.group(0)) if match else ("", "")


def _from(msg: Message) -> tuple[str, str]:
    raw = _raw_values(msg, "From")
    if not raw:
        return "", ""

    def parsed() -> tuple[str, str] | None:
        addresses = getattr(_parsed("From", raw[0]), "addresses", None)
        if not addresses or not addresses[0].display_name:
            return None                      # "addr (Name)" has its name in a comment
        first = addresses[0]
        address = f"{first.username}@{first.domain}" if first.domain else first.username
        return (_one_line(_fix_surrogates(address), 320).lower(),
                _one_line(_fix_surrogates(first.display_name)))
    found = _safely(parsed, None)
    if found is not None:
        return found
    name, address = _split_address(_decode_words(raw[0]))
    return _one_line(address, 320).lower(), _one_line(name)


def _date(msg: Message) -> datetime | None:
    raw = _raw_values(msg, "Date")
    if not raw:
        return None

    def parsed() -> datetime:
        value = parsedate_to_datetime(_one_line(raw[0], 200))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return _safely(parsed, None)


def _refs(msg: Message) -> list[str]:
    """In-Reply-To, then References newest first (Exchange's parent id last)."""
    found: list[str] = []
    for value in _headers(msg, "In-Reply-To"):
        found += _message_ids(value)
    for value in _headers(msg, "References"):
        found += list(reversed(_message_ids(value)))
    for value in _headers(msg, "X-MS-Exchange-Parent-Message-Id"):
        found += _message_ids(value)
    return found


def _from_daemon(address: str, name: str) -> bool:
    """Sent by a mail server itself: a daemon's address or name."""
    return address.partition("@")[0] in _DAEMON_LOCALS or bool(_DAEMON_NAME.search(name))


def _null_sender(msg: Message) -> bool:
    """The null return path: bounces, and auto-replies too (RFC 3834 3.3)."""
    return any(v.strip() in ("<>", "") for v in _raw_values(msg, "Return-Path"))


def _looks_like_report(msg: Message, daemon: bool, subject: str, report_type: str) -> bool:
    """Worth running the bounce detectors on (they look for patterns in any text)."""
    return (daemon or bool(_BOUNCE_SUBJECT.search(subject))
            or bool(_raw_values(msg, "X-Failed-Recipients")) or report_type == "delivery-status")


def _report_addresses(texts: list[str], exclude: set[str]) -> list[str]:
    """The addresses a report names in its own words (before its copy of the original),
    other than the account's and the servers' own."""
    found: list[str] = []
    for text in texts[:2]:
        head = _COPY_START.split(text[:20_000], maxsplit=1)[0]
        for address in _ADDRESS.findall(head):
            address = address.lower().rstrip(".")
            if address not in exclude and address.partition("@")[0] not in _DAEMON_LOCALS:
                found.append(address)
    return list(_dedupe(found))[:MAX_RECIPIENTS]


def _flufl_failures(msg: Message) -> tuple[list[str], list[str]]:
    """Mailman's detectors on the message: (temporary, permanent) failed addresses."""
    from flufl.bounce import all_failures  # imported only for a message like a report

    # It logs "Running detector" for each of its detectors and, before re-raising, a traceback
    # at ERROR for any detector that fails on malformed mail (routine here: we fall back).
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    found = _safely(lambda: all_failures(msg), None)
    if found is None:
        return [], []
    temporary, permanent = found

    def clean(found) -> list[str]:
        out = []
        for item in found:
            text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
            text = text.strip().strip("<>").lower()
            if "@" in text and " " not in text and len(text) <= 320:
                out.append(text)
        return out
    return clean(temporary), clean(permanent)


def _in_text_order(addresses: list[str], texts: list[str]) -> list[str]:
    """The addresses in the order the report's text first names them (the rest after)."""
    order: dict[str, int] = {}
    for match in _ADDRESS.finditer("\n".join(texts).lower()):
        order.setdefault(match.group(0), len(order))
    return sorted(set(addresses), key=lambda a: (order.get(a, len(order)), a))


def _text_recipients(addresses: list[str], action: str, texts: list[str]) -> list[BouncedRecipient]:
    recipients = []
    for address in _in_text_order(addresses, texts)[:MAX_RECIPIENTS]:
        diagnostic = next((d for d in (_text_diagnostic(t, address) for t in texts) if d), "")
        recipients.append(BouncedRecipient(address=address, action=action,
                                           status=_status(diagnostic), diagnostic=diagnostic))
    return recipients


def _auto_reason(msg: Message, subject: str, refers: bool) -> str:
    auto_submitted = _header(msg, "Auto-Submitted")
    value = re.split(r"[\s;(]", auto_submitted.strip().lower(), maxsplit=1)[0] \
        if auto_submitted else ""
    if value and value != "no" and (value == "auto-replied" or refers
                                    or _AUTO_SUBJECT.search(subject)):
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        found = _header(msg, name)
        if found and found.lower() not in ("no", "false", "0"):
            return f"{name}: {found}"
    for name in ("Precedence", "X-Precedence"):
        found = _header(msg, name)
        if found.lower() == "auto_reply":
            return f"{name}: {found}"
    found = _header(msg, "X-Apple-Action")
    if found.upper() == "VACATION":
        return f"X-Apple-Action: {found}"
    subject_sign = _AUTO_SUBJECT.search(subject) or _AUTO_SUBJECT_ANYWHERE.search(subject)
    if subject_sign and (refers or _raw_values(msg, "X-MS-Exchange-Inbox-Rules-Loop")):
        return f"subject '{_one_line(subject, 80)}'"
    return ""


def _parse(raw: bytes) -> Inbound:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raw = str(raw).encode("utf-8", "replace")
    raw = bytes(raw[:MAX_BYTES])
    # The structure by compat32: policy.default parses every part's Content-Type through its
    # header registry while parsing (15 s for 60,000 parts); headers are read with it below.
    msg = BytesParser(policy=email_policy.compat32).parsebytes(raw)
    subject = _header(msg, "Subject")
    from_address, from_name = _from(msg)
    message_id = normalise_message_id(_header(msg, "Message-ID")) \
        or next((normalise_message_id(v) for v in _headers(msg, "Message-ID")), "")
    own_tokens = [t for v in _headers(msg, TOKEN_HEADER) for t in _tokens_in(v)]
    own_refs = _refs(msg)
    parts = _survey(msg)
    base = {"message_id": message_id, "subject": subject, "from_address": from_address,
            "from_name": from_name, "date": _date(msg)}

    # Bounces and delays: a delivery status report, else a server's report in its own words.
    recipients: list[BouncedRecipient] = []
    per_message: dict[str, str] = {}
    texts: list[str] | None = None
    if parts.dsn is not None and parts.report_type not in _NOT_BOUNCE_REPORTS:
        blocks = _dsn_blocks(parts.dsn.part)
        per_message = next((b for b in blocks if not _is_recipient_block(b)), {})
        recipients = _dsn_recipients(blocks)
    kind = ""
    if recipients:
        actions = {r.action for r in recipients}
        kind = "bounce" if "failed" in actions else "delay" if "delayed" in actions else "other"
    daemon = _from_daemon(from_address, from_name)
    if not kind and parts.report_type not in _NOT_BOUNCE_REPORTS and _looks_like_report(
            msg, daemon, subject, parts.report_type):
        texts = _texts(parts)
        temporary, permanent = _flufl_failures(msg)
        failed_header = [a.lower() for v in _headers(msg, "X-Failed-Recipients")
                         for a in _ADDRESS.findall(v)]
        if permanent and (re.search(r"\bdelay", subject, re.IGNORECASE)
                          or any(_DELAY_TEXT.search(t[:3000]) for t in texts[:2])):
            temporary, permanent = permanent, []       # a warning, say the words around them
        if permanent or (failed_header and not temporary):
            kind = "bounce"
            recipients = _text_recipients(permanent or failed_header, "failed", texts)
        elif temporary:
            kind = "delay"
            recipients = _text_recipients(temporary, "delayed", texts)
        elif not _SUCCESS_WORDS.search(subject) and (
                ((daemon or _null_sender(msg)) and _BOUNCE_SUBJECT.search(subject))
                or (daemon and any(_FAILURE_TEXT.search(t[:3000]) for t in texts[:2]))):
            # A server's report in words no detector knows: the addresses it names.
            kind = "delay" if _DELAY_WORDS.search(subject) else "bounce"
            own = {from_address} | {a.lower() for v in _headers(msg, "To")
                                    for a in _ADDRESS.findall(v)}
            recipients = _text_recipients(_report_addresses(texts, own),
                                          "delayed" if kind == "delay" else "failed", texts)

    if kind in ("bounce", "delay") or (kind == "other" and recipients):
        if texts is None:
            texts = _texts(parts)
        original_ids, original_tokens = _original_ids(parts)
        quoted_ids = [normalise_message_id(m) for t in texts for m in _QUOTED_MSGID.findall(t)]
        quoted_tokens = [t.lower() for text in texts for t in _QUOTED_TOKEN.findall(text)]
        dsn_ids = _message_ids(per_message.get("x-original-message-id", ""))
        wanted = "failed" if kind == "bounce" else "delayed"
        first = next((r for r in recipients if r.action == wanted),
                     recipients[0] if recipients else None)
        return Inbound(
            kind=kind, **base,
            refers_to=_dedupe(original_ids + quoted_ids + dsn_ids + own_refs),
            tokens=_dedupe(original_tokens + quoted_tokens + own_tokens),
            recipients=tuple(recipients), reason=_reason(first, texts) if kind != "other" else "",
            auto_reason="", text="")

    original_ids, original_tokens = _original_ids(parts)
    body = _body_text(parts)
    quoted_tokens = [t.lower() for t in _QUOTED_TOKEN.findall(body)]
    refers_to = _dedupe(own_refs)
    tokens = _dedupe(original_tokens + quoted_tokens + own_tokens)
    machine = parts.report_type in _NOT_BOUNCE_REPORTS or (
        daemon and _looks_like_report(msg, daemon, subject, parts.report_type))
    auto_reason = "" if machine else _auto_reason(msg, subject, bool(refers_to))
    if auto_reason:
        kind = "auto_reply"
    elif refers_to and not machine:
        kind = "reply"
    else:
        kind = "other"
    return Inbound(kind=kind, **base, refers_to=refers_to, tokens=tokens, recipients=(),
                   reason="", auto_reason=auto_reason,
                   text=reply_text(body) if kind in ("reply", "auto_reply") else "")


def _fallback(raw) -> Inbound:
    """What a message that broke the parse (multiparts nested thousands deep, say) still
    tells: its own headers, the body left unread."""
    msg = BytesHeaderParser(policy=email_policy.compat32).parsebytes(bytes(raw[:MAX_BYTES]))
    from_address, from_name = _from(msg)
    return Inbound(kind="other",
                   message_id=next((normalise_message_id(v)
                                    for v in _headers(msg, "Message-ID")), ""),
                   subject=_header(msg, "Subject"), from_address=from_address,
                   from_name=from_name, date=_date(msg), refers_to=_dedupe(_refs(msg)),
                   tokens=_dedupe(t for v in _headers(msg, TOKEN_HEADER) for t in _tokens_in(v)),
                   recipients=(), reason="", auto_reason="", text="")


def parse_inbound(raw: bytes) -> Inbound:
    """The message `raw` (as read from the mailbox) classified; never raises on malformed
    mail (a message that cannot be read is "other", with what its headers still tell)."""
    found = _safely(lambda: _parse(raw), None) or _safely(lambda: _fallback(raw), None)
    return found if found is not None else Inbound(
        kind="other", message_id="", subject="", from_address="", from_name="", date=None,
        refers_to=(), tokens=(), recipients=(), reason="", auto_reason="", text="")
