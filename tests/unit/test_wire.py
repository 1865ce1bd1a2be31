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


def test_an_email_carries_its_delivery_token_beside_the_message_id():
    """Bounces and replies are matched by it where a service rewrote the Message-ID."""
    from datetime import datetime, timezone

    from app.sending.channels.wire import delivery_token, email_bytes

    key = "0123456789abcdef0123456789abcdef"
    assert delivery_token(key) == key
    for odd in ("k1", key.upper(), key + "0", key[:-1], "", "0123456789abcdef0123456789abcdeg"):
        assert delivery_token(odd) == ""
    when = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    built = email_bytes(message(channel="email", address="ada@example.com",
                                email_message_id="<m1@clarion.test>", idempotency_key=key),
                        from_name="Desk", from_address="desk@example.com", reply_to="",
                        now=when)
    head = built.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[head.index(b"Message-ID: <m1@clarion.test>") + 1] == \
        b"X-Clarion-Delivery: " + key.encode()
    plain = email_bytes(message(channel="email", address="ada@example.com",
                                email_message_id="<m1@clarion.test>", idempotency_key="k1"),
                        from_name="Desk", from_address="desk@example.com", reply_to="",
                        now=when)
    assert b"X-Clarion-Delivery" not in plain
