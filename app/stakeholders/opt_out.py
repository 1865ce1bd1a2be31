"""SMS opt-outs (issue 25): a number whose owner replied STOP — or that the SMS provider refuses
to text (Twilio 21610) — is never texted again until a START reply or the coordinator lifts it.
An opt-out belongs to the number: every SMS contact point with it is marked, whoever it is
listed under. The readers of inbound SMS (app/mailbox/sms.py), the outbox (app/sending/flush.py)
and recipient resolution share these, each inside its own transaction.

Numbers are compared in E.164 (contact points store it so: app/stakeholders/service.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from app.domain.enums import Channel
from app.domain.models import ContactPoint

PROVIDER_REFUSES = ("the SMS provider refuses to text it: the number replied STOP "
                    "(Twilio 21610)")
REASON_MAX = 500
_NOT_DIGITS = re.compile(r"\D")


def number_key(number: str) -> str:
    """A number in E.164 as compared: '+' and its digits ('+1 (206) 555-0101' →
    '+12065550101'); '' when it has no digits (an alphanumeric sender). Pure."""
    digits = _NOT_DIGITS.sub("", number or "")
    return f"+{digits}" if digits else ""


def stop_reason(at: datetime, keyword: str = "STOP") -> str:
    """'replied STOP on 7 Dec 2026 10:04 UTC'. Pure."""
    at = at.astimezone(timezone.utc)
    return f"replied {keyword.upper()} on {at.day} {at:%b %Y %H:%M} UTC"


def unreachable_reason(reason: str) -> str:
    """Why someone is not texted: 'opted out of SMS — replied STOP on 7 Dec 2026 10:04 UTC'."""
    return "opted out of SMS" + (f" — {reason}" if reason else "")


def not_sent_reason(number: str, reason: str) -> str:
    """A queued SMS withheld: what its delivery's last error says."""
    return f"Not sent: {number} opted out of SMS since it was queued" + \
        (f" ({reason})" if reason else "")


def _sms() -> Any:
    return ContactPoint.channel == Channel.SMS


def opt_out(session: Any, number: str, at: datetime, reason: str) -> tuple[int, ...]:
    """Mark every SMS contact point with this number opted out (those already opted out keep
    their first reason); the stakeholders newly opted out."""
    key = number_key(number)
    if not key:
        return ()
    rows = session.execute(
        update(ContactPoint)
        .where(_sms(), ContactPoint.address == key, ContactPoint.opted_out_at.is_(None))
        .values(opted_out_at=at, opted_out_reason=reason[:REASON_MAX])
        .returning(ContactPoint.stakeholder_id)).all()
    return tuple(sorted({r[0] for r in rows}))


def opt_in(session: Any, number: str) -> tuple[int, ...]:
    """Lift the opt-out of every SMS contact point with this number; the stakeholders whose
    opt-out was lifted."""
    key = number_key(number)
    if not key:
        return ()
    rows = session.execute(
        update(ContactPoint)
        .where(_sms(), ContactPoint.address == key, ContactPoint.opted_out_at.is_not(None))
        .values(opted_out_at=None, opted_out_reason="")
        .returning(ContactPoint.stakeholder_id)).all()
    return tuple(sorted({r[0] for r in rows}))


def opted_out(session: Any, numbers: Iterable[str] | None = None) -> dict[str, str]:
    """The opted-out numbers (of `numbers`, or all) with their reasons. Few rows: read whole."""
    query = select(ContactPoint.address, ContactPoint.opted_out_reason).where(
        _sms(), ContactPoint.opted_out_at.is_not(None))
    wanted = None if numbers is None else {number_key(n) for n in numbers}
    out: dict[str, str] = {}
    for address, reason in session.execute(query):
        key = number_key(address)
        if wanted is None or key in wanted:
            out.setdefault(key, reason or "")
    return out
