"""What each channel puts on the wire (app/sending/channels/wire.py), pinned byte for byte: the
JSON a chat webhook gets, the form an SMS provider gets and how it reads back, and the reasons
a message cannot be built."""

from __future__ import annotations

import pytest

from app.sending.channels.base import OutgoingMessage
from app.sending.channels.wire import (
    Unbuildable, read_sms_form, sms_form, webhook_body, webhook_payload,
)


def message(**fields) -> OutgoingMessage:
    base = dict(delivery_id=1, channel="slack", address="#incidents", recipient_name="Ops",
                subject="Portal down", text="Restoring the portal in Zürich.", html="",
                email_message_id="", idempotency_key="k1")
    base.update(fields)
    return OutgoingMessage(**base)


def test_chat_bodies_are_compact_utf8_json_of_each_shape():
    assert webhook_body("slack", message()) == \
        '{"text":"*Portal down*\\n\\nRestoring the portal in Zürich."}'.encode()
    assert webhook_body("slack", message(subject="")) == \
        '{"text":"Restoring the portal in Zürich."}'.encode()
    assert webhook_body("teams", message()) == (
        '{"@type":"MessageCard","@context":"https://schema.org/extensions",'
        '"summary":"Portal down","title":"Portal down",'
        '"text":"Restoring the portal in Zürich."}').encode()
    long = "x" * 81
    assert webhook_payload("teams", message(subject="", text=long))["summary"] == "x" * 80
    assert webhook_body("webhook", message(html="<p>Zürich</p>")) == (
        '{"subject":"Portal down","text":"Restoring the portal in Zürich.",'
        '"html":"<p>Zürich</p>"}').encode()
    assert "html" not in webhook_payload("webhook", message())


def test_what_cannot_be_built_says_why():
    with pytest.raises(Unbuildable) as bad:
        webhook_body("webhook", message(text="Portal \ud800 down"))
    assert str(bad.value).startswith("The message cannot be encoded: ")
    with pytest.raises(Unbuildable) as number:
        sms_form(message(channel="sms", address="2065550101"), from_number="+14155550100",
                 messaging_service_sid="")
    assert str(number.value) == ("'2065550101' is not a phone number in E.164 form (+ and "
                                 "country code); nothing was sent.")


def test_an_sms_form_reads_back_field_by_field_blank_ones_too():
    form = sms_form(message(channel="sms", address="+12065550101", text="Zürich: restored & OK"),
                    from_number="+14155550100", messaging_service_sid="")
    assert form == b"To=%2B12065550101&Body=Z%C3%BCrich%3A+restored+%26+OK&From=%2B14155550100"
    assert read_sms_form(form) == {"To": "+12065550101", "Body": "Zürich: restored & OK",
                                   "From": "+14155550100"}
    assert read_sms_form(b"To=%2B1&Body=&From=%2B2") == {"To": "+1", "Body": "", "From": "+2"}
    service = sms_form(message(channel="sms", address="+12065550101"), from_number="",
                       messaging_service_sid="MG123")
    assert read_sms_form(service)["MessagingServiceSid"] == "MG123" and b"From" not in service
