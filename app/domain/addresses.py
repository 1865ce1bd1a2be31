"""Email addresses as Clarion takes them: the syntax is checked, never the DNS (Clarion works
offline), and company-internal names are real addresses — it@corp.local, ops@svc.internal,
desk@box.lan, root@mailhost — accepted with a quiet note rather than refused."""

from __future__ import annotations

# email-validator refuses special-use names (RFC 6761) by default; these are the ones companies
# use inside their own networks. Its SPECIAL_USE_DOMAIN_NAMES list is documented API to adjust.
INTERNAL_NAMES = ("local", "test", "internal", "lan", "home.arpa", "intranet", "corp", "private")


def _validator():  # type: ignore[no-untyped-def]
    import email_validator

    special = email_validator.SPECIAL_USE_DOMAIN_NAMES
    for name in INTERNAL_NAMES:
        if name in special:
            special.remove(name)
    return email_validator


def normalise_email(address: str) -> str:
    """The address in its normal form; ValueError with the reason when it is not one."""
    ev = _validator()
    try:
        return ev.validate_email(address.strip(), check_deliverability=False,
                                 globally_deliverable=False).normalized
    except ev.EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def internal_note(address: str) -> str:
    """A quiet word when the address is inside a company network ("" otherwise)."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return ""
    if "." not in domain or any(domain == n or domain.endswith("." + n) for n in INTERNAL_NAMES):
        return (f"{domain} is a name inside a company network: only a relay that knows it "
                f"can deliver there.")
    return ""


def address_note(address: str) -> str:
    """What a coordinator should know about an address that is valid but out of the ordinary
    ("" for an ordinary one): a name inside a company network, or accents before the @."""
    local, _at, _domain = address.strip().rpartition("@")
    if not _at:
        return ""
    notes = [internal_note(address.strip())]
    if not local.isascii():
        notes.append("Some mail servers refuse accents before the @ (SMTPUTF8); Clarion "
                     "sends it where the server takes it and says so where it does not.")
    return " ".join(n for n in notes if n)
