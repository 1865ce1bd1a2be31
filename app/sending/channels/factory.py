"""The sender for an account: the one place that knows which class serves which kind."""

from __future__ import annotations

from app.errors import ClarionError

from .base import AccountDTO, Sender
from .drill import DrillSender
from .email import EmailSender
from .sms import SmsSender
from .webhook import KINDS as WEBHOOK_KINDS
from .webhook import WebhookSender


def sender_for(account: AccountDTO, secret: str | None) -> Sender:
    """`secret` is what the keyring holds for the account: the SMTP password, the SMS auth
    token or the webhook URL (None for the drill inbox, or an SMTP relay without login)."""
    if account.kind == "email":
        return EmailSender(account, secret)
    if account.kind == "sms":
        return SmsSender(account, secret)
    if account.kind in WEBHOOK_KINDS:
        return WebhookSender(account, secret)
    if account.kind == "drill":
        return DrillSender(account)
    raise ClarionError(f"No channel can send through an account of kind {account.kind!r}.")
