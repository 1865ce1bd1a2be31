"""The message linter's channel checks (app/messages/lint/linter.py runs them): over-communication (too many
messages to one recipient), SMS length, encoding and links (GSM 03.38 counting in app/messages/segments.py),
and the email subject. Pure; no Qt.
"""

from __future__ import annotations

import re
import unicodedata

from app.messages.lint.text import Finding, LintContext, Part, quote, url_spans
from app.messages.segments import sms_info

SUBJECT_MAX = 120
SMS_MAX_SEGMENTS = 4

# --- over-communication ----------------------------------------------------------------------

def check_over_communication(text: str, subject: str | None, html: str | None,
                             ctx: LintContext) -> list[Finding]:
    """Too many messages to one recipient: recent_messages >= max_messages_per_window is a
    warning (information overload). A limit of 0 or less means no limit."""
    limit, n = ctx.max_messages_per_window, ctx.recent_messages
    if limit <= 0 or n < limit:
        return []
    noun = "message" if n == 1 else "messages"
    return [Finding("over_communication", "warning",
                    f"This recipient already got {n} {noun} in the last "
                    f"{ctx.recent_window_minutes} minutes; consider combining updates",
                    "text", 0, 0)]


# --- SMS -------------------------------------------------------------------------------------

_COST_WORDS = {2: "costs double", 3: "costs triple", 4: "costs four times as much"}
_PLAIN_FOR = {"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "—": "-", "–": "-",
              "…": "...", "\xa0": " ", "\t": " "}


def _show_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return ch
    return "[" + unicodedata.name(ch, f"U+{ord(ch):04X}").lower() + "]"


def check_sms(text: str, subject: str | None, html: str | None,
              ctx: LintContext) -> list[Finding]:
    """For channel sms: the encoding and segment count (info); 2-4 segments (warning, each one
    is billed); more than 4 (error); characters that force UCS-2 and cut an SMS to 70 (warning);
    links, which carriers filter (warning)."""
    if ctx.channel != "sms":
        return []
    info = sms_info(text)
    part = Part("text", text)
    found: list[Finding] = []
    if info.segments <= 1:
        summary = (f"{info.encoding}, 1 SMS: {info.units} of {info.per_segment} characters "
                   f"({info.remaining} left)") if info.segments else f"{info.encoding}, empty"
    else:
        summary = (f"{info.encoding}, {info.segments} segments of {info.per_segment} characters "
                   f"({info.remaining} left in the last)")
    found.append(part.finding("sms_info", "info", summary))
    if info.segments > SMS_MAX_SEGMENTS:
        found.append(part.finding(
            "sms_too_long", "error",
            f"{info.segments} segments: too long for an SMS (at most {SMS_MAX_SEGMENTS}); "
            "shorten it"))
    elif info.segments > 1:
        found.append(part.finding(
            "sms_multipart", "warning",
            f"{info.segments} segments, {_COST_WORDS[info.segments]}"))
    if info.non_gsm_chars:
        shown = [_show_char(c) for c in info.non_gsm_chars[:10]]
        if len(info.non_gsm_chars) > 10:
            shown.append("…")
        verb = "forces" if len(info.non_gsm_chars) == 1 else "force"
        swaps = [f"{c} → {_PLAIN_FOR[c]}" for c in info.non_gsm_chars if c in _PLAIN_FOR]
        hint = f" (replace {', '.join(swaps)})" if swaps else ""
        first = text.index(info.non_gsm_chars[0])
        found.append(part.finding(
            "sms_ucs2", "warning",
            f"{' '.join(shown)} {verb} UCS-2: 70 characters per SMS{hint}",
            first, first + 1))
    for start, end in url_spans(text):
        found.append(part.finding(
            "sms_url", "warning",
            f"A link in an SMS ({quote(text[start:end])}): carriers often filter messages "
            "with links; send the link by email or name the page instead", start, end))
    return found


# --- subject ---------------------------------------------------------------------------------

def check_subject(text: str, subject: str | None, html: str | None,
                  ctx: LintContext) -> list[Finding]:
    """For channel email: an empty subject (error), a line break in it (error: header
    injection), a subject over 120 characters (warning: it gets cut off)."""
    if ctx.channel != "email":
        return []
    if subject is None or not subject.strip():
        return [Finding("subject_empty", "error", "An email needs a subject", "subject", 0, 0)]
    found = [Finding("subject_newline", "error",
                     "A line break in the subject (it could inject mail headers): remove it",
                     "subject", m.start(), m.end())
             for m in re.finditer(r"[\r\n]+", subject)]
    if len(subject) > SUBJECT_MAX:
        found.append(Finding(
            "subject_too_long", "warning",
            f"The subject is {len(subject)} characters; keep it to {SUBJECT_MAX} so it is not "
            "cut off", "subject", SUBJECT_MAX, len(subject)))
    return found
