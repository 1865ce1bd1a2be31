"""What in an answer confirms, stops or restarts (app/acks/words.py, issue 25)."""

from __future__ import annotations

import pytest

from app.acks.words import START, STOP, read_answer, sms_keyword


@pytest.mark.parametrize("text,word", [
    ("YES", "YES"), ("yes", "yes"), ("Yes.", "Yes"), ("OK", "OK"), ("ok!", "ok"),
    ("Confirm", "Confirm"), ("CONFIRMED", "CONFIRMED"), ("ack", "ack"),
    ("Received", "Received"), ("  \n  Yes  \n", "Yes"), ("\u201cYes\u201d", "Yes"),
    ("Yes, thanks", "Yes"), ("Yes - thank you!", "Yes"), ("OK 👍", "OK"),
    ("Received, thanks.\n\nJane", "Received"), ("ＹＥＳ", "YES"),
    ("Yes\n\nKind regards,\nJane Doe", "Yes"),
])
def test_a_confirmation_alone_confirms_and_says_nothing_more(text, word):
    answer = read_answer(text, names=("Jane Doe",))
    assert answer.confirms and answer.word == word and answer.rest == ""


@pytest.mark.parametrize("text,rest", [
    ("Yes, but when is the portal back?", "but when is the portal back?"),
    ("OK. Can you call me at 5?", "Can you call me at 5?"),
    ("Received — our clinic in Tacoma still cannot sign in.",
     "our clinic in Tacoma still cannot sign in."),
])
def test_a_confirmation_that_says_more_is_also_a_reply(text, rest):
    answer = read_answer(text)
    assert answer.confirms and answer.rest == rest


@pytest.mark.parametrize("text", [
    "No", "Not received", "Yesterday the portal was slow", "Okay", "I confirm", "",
    "Please call me", "Y", "OKAY then", "Acknowledged", "12 yes",
])
def test_anything_else_does_not_confirm(text):
    answer = read_answer(text)
    assert not answer.confirms and answer.word == "" and answer.rest == text.strip()


@pytest.mark.parametrize("body,keyword", [
    ("STOP", STOP), ("stop", STOP), (" Stop. ", STOP), ("UNSUBSCRIBE", STOP), ("Cancel", STOP),
    ("END", STOP), ("QUIT", STOP), ("STOPALL", STOP), ("optout", STOP), ("REVOKE", STOP),
    ("START", START), ("unstop", START), ("Start!", START),
    ("YES", None), ("please stop texting me", None), ("STOP IT", None), ("", None),
    ("stopping by later", None), ("restart", None),
])
def test_sms_keywords_are_the_whole_message(body, keyword):
    assert sms_keyword(body) == keyword
