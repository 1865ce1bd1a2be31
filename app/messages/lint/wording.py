"""The message linter's wording checks (app/messages/lint/linter.py runs them): technical jargon for the audience's
detail level, blame language (both from the word lists in resources/lint/) and premature
resolution claims. Each reads the subject, the text and the HTML (as text). Pure; no Qt.
"""

from __future__ import annotations

import re
from typing import Iterator

from app.messages.lint.text import (
    SENTENCE_END, Finding, LintContext, Part, WordEntry, WordList, clause_words, inside,
    masked_spans, parts, past_resolution, quote, word_list,
)

# --- word-list checks: jargon and blame ------------------------------------------------------

_JARGON_SEVERITY = {"technical": None, "operational": "info", "impact": "warning",
                    "simple": "warning"}


def _word_hits(words: WordList, text: str, subject: str | None,
               html: str | None) -> Iterator[tuple[Part, int, int, WordEntry]]:
    """Every entry of `words` in every part, outside links and email addresses."""
    for part in parts(text, subject, html):
        masked = masked_spans(part.text)
        for start, end, entry in words.finditer(part.text):
            if not inside(masked, start, end):
                yield part, start, end, entry


def check_jargon(text: str, subject: str | None, html: str | None,
                 ctx: LintContext) -> list[Finding]:
    """Technical terms (resources/lint/jargon.txt) in a message to a non-technical audience:
    a warning for detail levels impact and simple, info for operational, nothing for technical.
    Links and email addresses are not read."""
    severity = _JARGON_SEVERITY.get(ctx.detail_level, "warning")
    if severity is None:
        return []
    found: list[Finding] = []
    for part, start, end, entry in _word_hits(word_list("jargon.txt"), text, subject, html):
        advice = (f"say {quote(entry.suggestion)} or what it means for them"
                  if entry.suggestion else "say what it means for them")
        found.append(part.finding(
            "jargon", severity,
            f"{quote(part.text[start:end])} is technical jargon for this audience "
            f"(detail level: {ctx.detail_level}); {advice}", start, end))
    return found


def check_blame(text: str, subject: str | None, html: str | None,
                ctx: LintContext) -> list[Finding]:
    """Language naming a person, team or vendor as at fault (resources/lint/blame.txt):
    a warning at every detail level."""
    found: list[Finding] = []
    for part, start, end, entry in _word_hits(word_list("blame.txt"), text, subject, html):
        advice = f" (e.g. {quote(entry.suggestion)})" if entry.suggestion else ""
        found.append(part.finding(
            "blame", "warning",
            f"{quote(part.text[start:end])} assigns blame: say what happened and what is "
            f"being done, not who is at fault{advice}", start, end))
    return found


# --- the cause, against the record ---------------------------------------------------------

_CLOSING = frozenset({"resolution_notice", "post_incident_summary"})


def check_cause(text: str, subject: str | None, html: str | None,
                ctx: LintContext) -> list[Finding]:
    """A resolution notice or post-incident summary must agree with the recorded root cause:
    "the cause is still unknown" while one is recorded, or a stated cause while none is
    (resources/lint/cause_unknown.txt, cause_stated.txt): a warning each."""
    if ctx.template_type not in _CLOSING or ctx.root_cause is None:
        return []
    found: list[Finding] = []
    recorded = bool(ctx.root_cause.strip())
    name, code = ("cause_unknown.txt", "cause_unknown") if recorded else \
        ("cause_stated.txt", "cause_stated")
    for part, start, end, _entry in _word_hits(word_list(name), text, subject, html):
        said = quote(part.text[start:end])
        message = (f"{said} says the cause is not known, but a root cause is recorded "
                   f"(post-incident): say it, or change the record") if recorded else \
            (f"{said} states a cause, but none is recorded in the post-incident Root cause: "
             f"record it there first, so the report and the message agree")
        found.append(part.finding(code, "warning", message, start, end))
    return found


# --- premature resolution --------------------------------------------------------------------

_RESOLUTION = re.compile(
    r"(?<![\w\-])(?:resolved|fixed|all[\s\-]+clear|back\s+to\s+normal|fully\s+restored"
    r"|(?:issue|problem|outage|incident|disruption)\s+is\s+(?:now\s+)?over)(?![\w\-])", re.I)
# Words that, a few words before the claim in the same clause, make it a negation, a condition,
# a future or an intention rather than a claim: "not yet resolved", "until it is fixed",
# "once resolved", "will be resolved", "expect to have it fixed".
_HEDGES = frozenset("""
    not no never nor cannot yet until till unless once when whenever if before after whether
    will shall would should could might may be being get getting soon pending awaiting
    expect expects expected expecting expectation hope hopes hoped hopefully hoping
    aim aims aiming plan plans planned planning intend intends intended estimate estimated
    anticipate anticipated anticipating partially partly almost nearly working trying
""".split())


def _hedged(s: str, start: int, end: int) -> bool:
    words = clause_words(s, start, 6)
    for w in words:
        if w in _HEDGES or w.endswith(("n't", "n’t", "'ll", "’ll")):
            return True
    if words and words[-1] in ("a", "an") and s[start:end].lower() == "fixed":
        return True                          # "a fixed schedule"
    m = SENTENCE_END.search(s, end)
    return bool(m and m.group() == "?")      # "Is it fixed?"


def check_premature_resolution(text: str, subject: str | None, html: str | None,
                               ctx: LintContext) -> list[Finding]:
    """"resolved", "fixed", "all clear", "back to normal", "fully restored", "the issue is over"
    while the incident is not resolved or closed, outside a resolution notice or post-incident
    summary: an error (a claim that has to be taken back costs credibility). Negations,
    conditions and futures ("not yet resolved", "once resolved", "will be fixed") are not
    claims."""
    if past_resolution(ctx):
        return []
    found: list[Finding] = []
    for part in parts(text, subject, html):
        s = part.text
        for m in _RESOLUTION.finditer(s):
            if _hedged(s, m.start(), m.end()):
                continue
            found.append(part.finding(
                "premature_resolution", "error",
                f"{quote(m.group())} claims resolution while the incident is still "
                f"{ctx.phase}: if the issue returns, credibility suffers. Say what works again "
                "and that you are watching it.", m.start(), m.end()))
    return found
