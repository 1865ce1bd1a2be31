"""What an answer says (issue 25), in English as the templates are. Pure: no database.

- A **confirmation** is an answer whose first word (after the quote of our message is stripped,
  which app/mailbox/text.py does for email) is YES, OK, CONFIRM, CONFIRMED, ACK or RECEIVED, in
  any case, with any punctuation around it. What follows it is the rest: empty when it is only a
  courtesy ("thanks", "regards"), the sender's own name, or punctuation — otherwise the answer is
  also a reply for the coordinator to read ("Yes, but when is the portal back?").
- An SMS that is only an opt-out keyword (STOP and the others carriers and Twilio honour) stops
  texting that number; START or UNSTOP lifts it. As the provider does, the keyword must be the
  whole message (case, spaces and punctuation aside): "please stop calling my wife" is a reply.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

CONFIRMATION_WORDS = frozenset({"YES", "OK", "CONFIRM", "CONFIRMED", "ACK", "RECEIVED"})
# Twilio's default opt-out keywords (and the carriers'); START words are its opt-in ones
# without YES, which here confirms
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT",
                        "REVOKE"})
START_WORDS = frozenset({"START", "UNSTOP"})
STOP, START = "stop", "start"

# what may close an answer without it being more to read
COURTESIES = frozenset({
    "thanks", "thank you", "thankyou", "thx", "ty", "many thanks", "thanks a lot",
    "thank you very much", "thanks very much", "cheers", "regards", "best regards",
    "kind regards", "warm regards", "best", "all the best", "best wishes", "br", "kr", "rgds",
    "noted", "got it", "will do", "received", "confirmed", "understood", "great", "perfect",
    "much appreciated", "appreciated", "ok", "okay", "yes", "sure", "fine", "good",
})
_FIRST_WORD = re.compile(r"[^\w]*([^\W\d_]+)(.*)", re.DOTALL)
_NOT_WORDS = re.compile(r"[\W_]+")
_KEYWORD = re.compile(r"[\W_]*([A-Za-z]+)[\W_]*")
_LEADING = " \t\n,.;:!-\u2013\u2014"


@dataclass(frozen=True)
class Answer:
    confirms: bool
    word: str = ""      # the confirming word as written ("Yes")
    rest: str = ""      # what else it says worth reading; "" when nothing


def _plain(text: str) -> str:
    """Compatibility forms folded (full-width letters, ligatures) so "ＹＥＳ" reads as YES."""
    return unicodedata.normalize("NFKC", text or "")


def read_answer(text: str, names: Iterable[str] = ()) -> Answer:
    """Whether `text` (a reply's new text, or an SMS body) confirms, and what else it says.
    `names` are the sender's own names (a bare signature is not more to read)."""
    text = _plain(text).strip()
    found = _FIRST_WORD.match(text)
    if found is None or found.group(1).upper() not in CONFIRMATION_WORDS:
        return Answer(False, rest=text)
    word, rest = found.group(1), found.group(2)
    return Answer(True, word, rest.lstrip(_LEADING).strip() if _worth_reading(rest, names)
                  else "")


def _worth_reading(rest: str, names: Iterable[str]) -> bool:
    own = {n for name in names for n in _words(name)}
    for line in rest.splitlines():
        for piece in re.split(r"[.,;:!?\u2013\u2014]+", line):
            words = _words(piece)
            if not words or " ".join(words) in COURTESIES:
                continue
            if own and set(words) <= own:
                continue
            return True
    return False


def _words(text: str) -> list[str]:
    return [w for w in _NOT_WORDS.split(_plain(text).casefold()) if w]


def sms_keyword(body: str) -> str | None:
    """STOP or START when the whole message is one of their keywords, else None."""
    found = _KEYWORD.fullmatch(_plain(body).strip())
    if found is None:
        return None
    word = found.group(1).upper()
    if word in STOP_WORDS:
        return STOP
    if word in START_WORDS:
        return START
    return None
