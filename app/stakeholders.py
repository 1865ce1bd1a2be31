"""The stakeholder map. This first part holds contact-point validation and creation as the demo
and the first-run path need them; the map editor (its issue) builds on these functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.domain.enums import CATEGORY_DEFAULTS, Category, Channel, DetailLevel, TimingNeed
from app.domain.models import ContactPoint, Stakeholder
from app.errors import ValidationError


def normalise_email(address: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        # Syntax only: never a DNS look-up (Clarion must work offline).
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError({"address": f"Not a valid email address: {exc}"}) from None


def normalise_phone(number: str, region: str) -> str:
    """Parse a phone number (national format read in `region`) and return it in E.164."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number.strip(), region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({"address": f"Not a phone number: {exc}"}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            {"address": f"{number.strip()} is not a valid phone number for region {region}."})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_address(channel: Channel, address: str, region: str) -> str:
    channel = Channel(channel)
    if not address or not address.strip():
        raise ValidationError({"address": "Enter an address for this contact point."})
    if channel == Channel.EMAIL:
        return normalise_email(address)
    if channel in (Channel.SMS, Channel.PHONE):
        return normalise_phone(address, region)
    if channel in (Channel.WEBHOOK, Channel.SLACK, Channel.TEAMS):
        from urllib.parse import urlsplit

        parts = urlsplit(address.strip())
        if parts.scheme != "https" or not parts.netloc:
            raise ValidationError({"address": "Webhooks must be https:// URLs."})
        return address.strip()
    raise ValidationError({"address": f"Unknown channel {channel}."})  # pragma: no cover


@dataclass(frozen=True)
class NewStakeholder:
    client_id: int
    name: str
    category: Category
    role: str = ""
    information_need: str | None = None
    timing_need: TimingNeed | None = None
    detail_level: DetailLevel | None = None
    max_silence_minutes: int | None = None
    notes: str = ""
    active: bool = True
    contacts: tuple[tuple[Channel, str], ...] = field(default_factory=tuple)


def add_stakeholder(session: Session, new: NewStakeholder, region: str) -> Stakeholder:
    """Add a stakeholder with the category's defaults for what is not given; contact points
    are validated and normalised (E.164 for phones). Raises ValidationError, storing nothing."""
    name = " ".join(new.name.split())
    if not name:
        raise ValidationError({"name": "Enter the stakeholder's name."})
    category = Category(new.category)
    need, timing, detail, silence = CATEGORY_DEFAULTS[category]
    contacts = [(Channel(ch), normalise_address(ch, addr, region)) for ch, addr in new.contacts]
    stakeholder = Stakeholder(
        client_id=new.client_id, name=name, role=new.role.strip(), category=category,
        information_need=new.information_need if new.information_need is not None else need,
        timing_need=new.timing_need or timing, detail_level=new.detail_level or detail,
        max_silence_minutes=(new.max_silence_minutes if new.max_silence_minutes is not None
                             else silence),
        notes=new.notes, active=new.active)
    for priority, (channel, address) in enumerate(contacts, start=1):
        stakeholder.contact_points.append(
            ContactPoint(channel=channel, address=address, priority=priority))
    session.add(stakeholder)
    return stakeholder
