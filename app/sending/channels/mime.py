"""The bytes of one email, with headers that come back exactly as they were written.

The standard library's folding of long non-ASCII headers (Python 3.11, policy.SMTP) mixes
plain words and encoded words; readers drop the spaces between encoded words, so a subject such
as "Portail indisponible — accès refusé (Zürich)" is read back as "—accèsrefusé(Zürich)", and a
long display name gains a space inside a word. Here every header Clarion writes is built and
folded by hand, by two rules that survive any relay and any standards-following reader:

* text that is plain printable ASCII (single spaces, no "=?", no word too long to fold) is
  folded only at its own spaces, which unfolding gives back;
* any other text becomes base64 encoded words (RFC 2047) from its first character to its last,
  each of whole characters and at most 75 long, one per line: the white space between encoded
  words is dropped by readers, so every space of the text is inside a word.

Display names differ in one point: Python's address parser (unlike RFC 2047 readers) keeps the
space between two encoded words of a phrase, so no two encoded words are ever adjacent there:
plain ASCII words stay as they are, and each run of the other words (with the spaces between
them) is one encoded word, longer than 75 characters where the run is long — readers take long
encoded words, and a line stays far below the 998-character limit for any name Clarion accepts.

Addresses with a non-ASCII local part (zoë@…) are written as UTF-8 and need SMTPUTF8 from the
relay (the caller checks). Bodies go quoted-printable or base64, so a message is 7-bit unless an
address is not. Only the top level says MIME-Version."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from email import errors as email_errors
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

LINE = 78                 # the recommended line length (RFC 5322 2.1.1)
WORD = 75                 # the longest encoded word (RFC 2047 2)
_PREFIX, _SUFFIX = "=?utf-8?b?", "?="
_PLAIN = re.compile(r"[\x21-\x7e]+( [\x21-\x7e]+)*")     # printable ASCII, single spaces
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*")


class MimeError(ValueError):
    """The message cannot be written as an email (an unusable address, or a text no encoding
    can carry); the words say which."""


def _encoded_word_length(n_bytes: int) -> int:
    return len(_PREFIX) + 4 * ((n_bytes + 2) // 3) + len(_SUFFIX)


def encoded_words(text: str, first_room: int, room: int = WORD) -> list[str]:
    """`text` as base64 encoded words of whole characters: the first at most `first_room`
    long, the others at most `room` (a word too long for its room if one character is).
    Never an empty word (an empty text gives none)."""
    words: list[str] = []
    chunk = b""
    limit = first_room
    for char in text:
        encoded = char.encode("utf-8")   # a lone surrogate cannot be: UnicodeEncodeError
        if chunk and _encoded_word_length(len(chunk) + len(encoded)) > limit:
            words.append(_PREFIX + base64.b64encode(chunk).decode("ascii") + _SUFFIX)
            chunk, limit = b"", room
        chunk += encoded
    if chunk:
        words.append(_PREFIX + base64.b64encode(chunk).decode("ascii") + _SUFFIX)
    return words


def _fold(lead: int, tokens: list[str]) -> str:
    """Tokens joined by single spaces, a line break put before a space wherever the line
    (which starts `lead` characters in) would pass LINE; a token is never split."""
    out, length = "", lead
    for n, token in enumerate(tokens):
        if n == 0:
            out, length = token, lead + len(token)
        elif length + 1 + len(token) > LINE:
            out += "\r\n " + token
            length = 1 + len(token)
        else:
            out += " " + token
            length += 1 + len(token)
    return out


def _plain(text: str, lead: int) -> bool:
    """Written as it is: printable ASCII, single spaces, nothing a reader would decode, and
    every word short enough to fit a folded line."""
    return (bool(_PLAIN.fullmatch(text)) and "=?" not in text
            and all(len(w) <= LINE - lead for w in text.split(" ")))


def unstructured(name: str, text: str) -> str:
    """The folded value of an unstructured header (Subject) for `text`, exactly."""
    lead = len(name) + 2
    if not text:
        return ""
    if _plain(text, lead):
        return _fold(lead, text.split(" "))
    return _fold(lead, encoded_words(text, min(LINE - lead, WORD)))


_RUN = 900   # the longest encoded word of a display name (a line may hold 998 characters)


def _phrase(display_name: str) -> list[str]:
    """A display name (single spaces between its words: see mailbox) as tokens (see the
    top): plain words, or a quoted string, and one encoded word per run of other words."""
    if _PLAIN.fullmatch(display_name) and "=?" not in display_name:
        if _ATOM.fullmatch(display_name):
            return display_name.split(" ")
        return ['"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    tokens: list[str] = []
    run: list[str] = []
    for word in display_name.split(" "):
        if _ATOM.fullmatch(word) and "=?" not in word:
            if run:
                tokens += encoded_words(" ".join(run), _RUN, _RUN)
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += encoded_words(" ".join(run), _RUN, _RUN)
    return tokens


def address(address: str) -> Address:
    """A checked address. The standard library refuses a non-ASCII local part (zoë@…) given
    as one addr-spec, although SMTPUTF8 (RFC 6531) allows it: such an address is built from its
    two halves instead."""
    try:
        return Address(addr_spec=address)
    except email_errors.NonASCIILocalPartDefect:
        local, _, domain = address.rpartition("@")   # a quoted local part may hold an @
        if len(local) >= 2 and local[0] == local[-1] == '"':
            local = re.sub(r"\\(.)", r"\1", local[1:-1])  # Address quotes it again
        return Address(username=local, domain=domain)


def mailbox(name: str, display_name: str, addr: str) -> str:
    """The folded value of an address header: `Display Name <addr>`, or `addr` alone."""
    try:
        spec = address(addr).addr_spec
    except (ValueError, IndexError, TypeError, email_errors.MessageError) as exc:
        raise MimeError(f"Not a usable address ({addr}): {exc}") from None
    # Readers make one space of any run of white space in a display name: so is it written.
    words = display_name.split()
    if not words:
        return spec
    return _fold(len(name) + 2, _phrase(" ".join(words)) + [f"<{spec}>"])


def _boundary(message_id: str, date: datetime, content: str) -> str:
    """The same for the same message and time (built twice, the bytes are equal), never in the
    content: "=_" cannot occur in quoted-printable or base64, and a 7-bit text that holds it
    gets a longer one."""
    seed = hashlib.sha256(f"{message_id}|{date.isoformat()}".encode("utf-8", "replace"))
    boundary = "=_clarion_" + seed.hexdigest()[:32]
    while boundary in content:
        boundary += "_"
    return boundary


# app/mailbox/inbound.py reads it back from a bounce's copy of the original headers
TOKEN_HEADER = "X-Clarion-Delivery"


def build_email(*, from_name: str, from_address: str, reply_to: str, to_name: str,
                to_address: str, subject: str, text: str, html: str, message_id: str,
                date: datetime, token: str) -> bytes:
    """The whole message as it goes on the wire (CRLF line ends). Raises MimeError. `token`
    (the delivery's own, ASCII; "" for none) goes in TOKEN_HEADER: bounces and replies read
    back from the mailbox are matched by it where a submission service rewrote the
    Message-ID."""
    utf8 = not (to_address.isascii() and from_address.isascii())
    base = email_policy.SMTPUTF8 if utf8 else email_policy.SMTP
    # 7bit: non-ASCII bodies go quoted-printable or base64; "none": our folding is kept
    policy = base.clone(cte_type="7bit", refold_source="none")
    email = EmailMessage(policy=policy)
    try:
        email.set_raw("From", mailbox("From", from_name, from_address))
        email.set_raw("To", mailbox("To", to_name, to_address))
        if reply_to:
            email.set_raw("Reply-To", mailbox("Reply-To", "", reply_to))
        email.set_raw("Subject", unstructured("Subject", subject))
        email.set_raw("Date", format_datetime(date))
        email.set_raw("Message-ID", message_id)
        if token:
            email.set_raw(TOKEN_HEADER, token)
        email.set_content(text or "")
        if html:
            email.add_alternative(html, subtype="html")
            for part in email.iter_parts():   # the standard library repeats it in parts
                del part["MIME-Version"]
            email.set_boundary(_boundary(message_id, date, text + html))
        return email.as_bytes(policy=policy)
    except MimeError:
        raise
    except (ValueError, UnicodeError) as exc:  # e.g. a lone surrogate in a text
        raise MimeError(f"The message cannot be encoded: {exc}") from None
