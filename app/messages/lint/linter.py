"""The message linter: the classic failure patterns of incident communication, caught while the
coordinator types (DESIGN.md "Don't make the classic mistakes"). Pure functions; no Qt.

Each check is a small function `check(text, subject, html, ctx) -> list[Finding]`; `lint()` runs
every one in CHECKS and sorts what they find by part and position. A finding's span is a range
of Python string indices (code points) in its part — the subject, the plain text or the HTML
string as given — so the editor can underline it; [0, 0) when it is about the whole message.
Qt counts UTF-16 units: convert with `utf16_offset()` when the text holds emoji.

Codes and severities:
  jargon                  warning (detail level impact, simple), info (operational),
                          nothing (technical)
  blame                   warning
  premature_resolution    error (phase not resolved/closed, not a resolution or summary template)
  cause_unknown           warning  a resolution notice or summary says the cause is unknown
                          while a root cause is recorded
  cause_stated            warning  … states a cause while none is recorded
  fact_time_mismatch      warning  a time that is neither the ETA nor the next update
  fact_eta_mismatch       warning  "within N minutes" that the ETA qualifier does not say
  zone_less_time          warning  a clock time with no zone while the coordinator's zone is
                          not the client's
  next_update_missing     warning  status update / acknowledgment that does not say when next
  next_update_unset       error    status update while the facts have no next update time
  over_communication      warning
  sms_info                info     encoding and segments (channel sms)
  sms_multipart           warning  2-4 segments
  sms_too_long            error    more than 4 segments
  sms_ucs2                warning  characters that force UCS-2
  sms_url                 warning  a link in an SMS
  subject_empty           error    (email)
  subject_newline         error    (email; header injection)
  subject_too_long        warning  (email; over 120 characters)

The wording checks (jargon, blame, premature resolution) and the time check read the subject, the
text and the HTML; the HTML is read with its tags blanked and its entities decoded, and spans are
mapped back onto the HTML string. Word lists live in resources/lint/ (see their headers).

This module is the linter's public API and runs the checks; they live beside it:
  app/messages/lint/text.py     Finding, LintContext, parts and HTML as text, spans, word lists
  app/messages/lint/wording.py  jargon, blame, premature resolution
  app/messages/lint/facts.py    times and the ETA qualifier, next update
  app/messages/lint/channel.py  over-communication, SMS, email subject
"""

from __future__ import annotations

from app.messages.lint.channel import (
    SMS_MAX_SEGMENTS, SUBJECT_MAX, check_over_communication, check_sms, check_subject,
)
from app.messages.lint.facts import (
    check_fact_mismatch, check_next_update, check_zone_less_time,
)
from app.messages.lint.text import (
    PARTS, SEVERITIES, Check, Finding, LintContext, WordList, load_word_list, utf16_offset,
)
from app.messages.lint.wording import (
    check_blame, check_cause, check_jargon, check_premature_resolution,
)

__all__ = [
    "SEVERITIES", "Finding", "LintContext", "lint", "CHECKS", "WordList", "load_word_list",
    "utf16_offset", "check_jargon", "check_blame", "check_premature_resolution", "check_cause",
    "check_fact_mismatch", "check_zone_less_time", "check_next_update", "check_over_communication", "check_sms",
    "check_subject", "Check", "PARTS", "SUBJECT_MAX", "SMS_MAX_SEGMENTS",
]


# --- all together ----------------------------------------------------------------------------

CHECKS: tuple[Check, ...] = (
    check_jargon,
    check_blame,
    check_premature_resolution,
    check_cause,
    check_fact_mismatch,
    check_zone_less_time,
    check_next_update,
    check_over_communication,
    check_sms,
    check_subject,
)

_PART_ORDER = {name: i for i, name in enumerate(PARTS)}
_SEVERITY_ORDER = {name: i for i, name in enumerate(SEVERITIES)}


def lint(text: str, ctx: LintContext, subject: str | None = None,
         html: str | None = None) -> list[Finding]:
    """Every finding of every check in CHECKS, sorted by part (subject, text, html), then
    position, then severity (errors first)."""
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(text, subject, html, ctx))
    return sorted(found, key=lambda f: (_PART_ORDER.get(f.part, len(PARTS)), f.start, f.end,
                                        _SEVERITY_ORDER.get(f.severity, 3), f.code))
