"""The stakeholder map: who must hear about an incident, how soon, at what detail, and where.
Validation (email-validator, phonenumbers → E.164, https webhooks) and the service that stores
stakeholders with their contact points. Groups live in app/stakeholders/groups.py, recipient resolution in
app/stakeholders/recipients.py."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import events as ev
from app.clock import Clock
from app.domain import addresses
from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.domain.enums import (
    CATEGORY_DEFAULTS, Category, Channel, DetailLevel, TimingNeed, lenient_match,
)
from app.domain.models import Client, ContactPoint, GroupMember, Stakeholder
from app.errors import NotFound, ValidationError, too_long
from app.storage.engine import Store

NAME_MAX = 200
TEXT_MAX = 4000
LABEL_MAX = 100
MAX_SILENCE_LIMIT = 7 * 24 * 60  # a week, in minutes
from app.events import STAKEHOLDERS_CHANGED  # noqa: E402,F401 - the topic, named here too


# ---------------------------------------------------------------- addresses

# An import checks each address two or three times (a mobile number is an SMS and a phone
# contact point; repeats are found before validation): the answers are pure, so kept. An
# address refused raises again each time (exceptions are not cached).
@functools.lru_cache(maxsize=8192)
def normalise_email(address: str) -> str:
    """Syntax only (app.domain.addresses): internal names like corp.local are addresses."""
    try:
        return addresses.normalise_email(address)
    except ValueError as exc:
        raise ValidationError({"address": f"Not a valid email address: {exc}"}) from None


@functools.lru_cache(maxsize=8192)
def normalise_phone(number: str, region: str) -> str:
    """Parse a phone number (national format read in `region`) and return it in E.164."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number.strip(), (region or "US").upper())
    except phonenumbers.NumberParseException as exc:
        raise ValidationError({"address": f"Not a phone number: {exc}"}) from None
    if not phonenumbers.is_valid_number(parsed):
        written = number.strip()
        if written.startswith("+"):   # checked in its own country: say which
            country = phonenumbers.region_code_for_country_code(parsed.country_code)
            where = f"+{parsed.country_code}" + (f" ({country})" if country != "ZZ" else "")
            raise ValidationError({"address": f"{written} is not a valid phone number for "
                                              f"{where}."})
        raise ValidationError({"address": f"{written} is not a valid phone number for region "
                                          f"{region} (a number from elsewhere needs + and its "
                                          f"country code)."})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_address(channel: Channel | str, address: str, region: str) -> str:
    try:
        channel = Channel(channel)
    except ValueError:
        raise ValidationError({"channel": f"Unknown channel “{channel}”."}) from None
    if not address or not address.strip():
        raise ValidationError({"address": "Enter an address for this contact point."})
    if channel == Channel.EMAIL:
        return normalise_email(address)
    if channel in (Channel.SMS, Channel.PHONE):
        return normalise_phone(address, region)
    from urllib.parse import urlsplit

    parts = urlsplit(address.strip())
    if parts.scheme != "https" or not parts.netloc:
        raise ValidationError({"address": f"{channel.label} webhooks must be https:// URLs."})
    return address.strip()


# ---------------------------------------------------------------- validation (pure)

def _enum_value(cls: type, value: Any, field_name: str, what: str,
                errors: dict[str, str]) -> Any:
    if value is None or value == "":
        return None
    try:
        return cls(value).value
    except ValueError:
        pass
    member = lenient_match(cls, value)   # "IT staff / MSP", "it_staff", "execs", "complian"
    if member is not None:
        return member.value
    allowed = ", ".join(m.label for m in cls)
    errors[field_name] = f"Unknown {what} “{value}”. Use one of: {allowed}."
    return None


def validate_stakeholder(data: StakeholderData, region: str) -> StakeholderData:
    """Normalise a stakeholder's fields; defaults come from the category. Raises
    ValidationError keyed by field ("name", "category", "contacts.2.address", …)."""
    errors: dict[str, str] = {}
    name = " ".join((data.name or "").split())
    if not name:
        errors["name"] = "Enter the stakeholder's name."
    elif len(name) > NAME_MAX:
        errors["name"] = too_long("The name", NAME_MAX, len(name))
    role = " ".join((data.role or "").split())
    if len(role) > NAME_MAX:
        errors["role"] = too_long("The role", NAME_MAX, len(role))
    category = _enum_value(Category, data.category, "category", "category", errors)
    if category is None and "category" not in errors:
        errors["category"] = "Choose a category."
    timing = _enum_value(TimingNeed, data.timing_need, "timing_need", "timing need", errors)
    detail = _enum_value(DetailLevel, data.detail_level, "detail_level", "detail level", errors)
    preferred = _enum_value(Channel, data.preferred_channel, "preferred_channel", "channel",
                            errors)
    silence = data.max_silence_minutes
    if silence is not None:
        try:
            if isinstance(silence, float) and not silence.is_integer():
                raise ValueError("not a whole number")
            silence = int(silence)
        except (TypeError, ValueError):
            errors["max_silence_minutes"] = "Maximum silence is a whole number of minutes."
            silence = None
        else:
            if not 1 <= silence <= MAX_SILENCE_LIMIT:
                errors["max_silence_minutes"] = (
                    f"Maximum silence must be between 1 and {MAX_SILENCE_LIMIT} minutes.")
    need = data.information_need
    if need is not None and len(need) > TEXT_MAX:
        errors["information_need"] = too_long("The information need", TEXT_MAX, len(need))
    if len(data.notes or "") > TEXT_MAX:
        errors["notes"] = too_long("The notes", TEXT_MAX, len(data.notes or ""))

    contacts: list[ContactPointData] = []
    seen: set[tuple[str, str]] = set()
    for i, cp in enumerate(data.contacts):
        try:
            channel = Channel(cp.channel).value
        except ValueError:
            errors[f"contacts.{i}.channel"] = f"Unknown channel “{cp.channel}”."
            continue
        try:
            address = normalise_address(channel, cp.address, region)
        except ValidationError as exc:
            errors[f"contacts.{i}.address"] = exc.errors.get("address", str(exc))
            continue
        if (channel, address.casefold()) in seen:
            errors[f"contacts.{i}.address"] = f"{address} is listed twice."
            continue
        seen.add((channel, address.casefold()))
        label = (cp.label or "").strip()
        if len(label) > LABEL_MAX:
            errors[f"contacts.{i}.label"] = too_long("The label", LABEL_MAX, len(label))
        try:
            priority = int(cp.priority)
        except (TypeError, ValueError):
            priority = len(contacts) + 1
        # an opt-out travels with its number's data (an undo restores it); a form's save
        # brings none and keeps the stored one (_write)
        stopped = channel == Channel.SMS.value and cp.opted_out_at is not None
        contacts.append(ContactPointData(
            channel=channel, address=address, priority=max(1, priority), label=label,
            opted_out_at=cp.opted_out_at if stopped else None,
            opted_out_reason=cp.opted_out_reason if stopped else ""))
    if errors:
        raise ValidationError(errors)

    need_default, timing_default, detail_default, silence_default = \
        CATEGORY_DEFAULTS[Category(category)]
    return StakeholderData(
        client_id=data.client_id, name=name, category=category, role=role,
        information_need=(need if need is not None else need_default).strip(),
        timing_need=timing or timing_default.value,
        detail_level=detail or detail_default.value,
        max_silence_minutes=silence if data.max_silence_minutes is not None else silence_default,
        notes=(data.notes or "").strip(), active=bool(data.active),
        preferred_channel=preferred,
        contacts=tuple(sorted(contacts, key=lambda c: c.priority)))


# ---------------------------------------------------------------- conversions

def to_dto(s: Stakeholder, client_name: str = "", group_ids: Iterable[int] = ()) -> StakeholderDTO:
    return StakeholderDTO(
        id=s.id, client_id=s.client_id, client_name=client_name, name=s.name,
        category=Category(s.category).value, role=s.role, information_need=s.information_need,
        timing_need=TimingNeed(s.timing_need).value,
        detail_level=DetailLevel(s.detail_level).value,
        max_silence_minutes=s.max_silence_minutes, notes=s.notes, active=s.active,
        preferred_channel=Channel(s.preferred_channel).value if s.preferred_channel else None,
        contacts=tuple(ContactPointData(channel=Channel(c.channel).value, address=c.address,
                                        priority=c.priority, label=c.label,
                                        opted_out_at=c.opted_out_at,
                                        opted_out_reason=c.opted_out_reason or "", id=c.id)
                       for c in sorted(s.contact_points, key=lambda c: (c.priority, c.id or 0))),
        group_ids=tuple(sorted(group_ids)))


def _write(stakeholder: Stakeholder, data: StakeholderData) -> None:
    stakeholder.client_id = data.client_id
    stakeholder.name = data.name
    stakeholder.role = data.role
    stakeholder.category = Category(data.category)
    stakeholder.information_need = data.information_need or ""
    stakeholder.timing_need = TimingNeed(data.timing_need)
    stakeholder.detail_level = DetailLevel(data.detail_level)
    stakeholder.max_silence_minutes = data.max_silence_minutes
    stakeholder.notes = data.notes
    stakeholder.active = data.active
    stakeholder.preferred_channel = Channel(data.preferred_channel) if data.preferred_channel \
        else None
    # the contact points are written anew: an SMS number's opt-out stays with the number
    kept = {c.address: (c.opted_out_at, c.opted_out_reason or "")
            for c in stakeholder.contact_points
            if c.opted_out_at is not None and Channel(c.channel) == Channel.SMS}
    stakeholder.contact_points.clear()
    for cp in data.contacts:
        at, why = (cp.opted_out_at, cp.opted_out_reason) if cp.opted_out_at is not None else \
            kept.get(cp.address, (None, "")) if Channel(cp.channel) == Channel.SMS else (None, "")
        stakeholder.contact_points.append(ContactPoint(
            channel=Channel(cp.channel), address=cp.address, priority=cp.priority,
            label=cp.label, opted_out_at=at, opted_out_reason=why))


# ---------------------------------------------------------------- the service

@dataclass
class StakeholderService:
    """Stakeholders with their contact points. One Session per call; DTOs out; an event after
    every commit so views refresh themselves."""

    store: Store
    clock: Clock
    events: ev.EventBus = field(default_factory=ev.EventBus)
    actor: Any = None    # who signs a hand edit of an opt-out (a desk, or a name)

    # -- reading

    def list(self, client_id: int | None = None) -> list[StakeholderDTO]:
        with self.store.session() as session:
            stmt = (select(Stakeholder, Client.name).join(Client)
                    .options(selectinload(Stakeholder.contact_points))
                    .order_by(Stakeholder.name, Stakeholder.id))
            if client_id is not None:
                stmt = stmt.where(Stakeholder.client_id == client_id)
            rows = session.execute(stmt).all()
            memberships = _memberships(session, [s.id for s, _ in rows])
            return [to_dto(s, name, memberships.get(s.id, ())) for s, name in rows]

    def get(self, stakeholder_id: int) -> StakeholderDTO:
        with self.store.session() as session:
            s = self._load(session, stakeholder_id)
            return to_dto(s, s.client.name, _memberships(session, [s.id]).get(s.id, ()))

    # -- changing

    def create(self, data: StakeholderData, stakeholder_id: int | None = None) -> StakeholderDTO:
        """Add a stakeholder. `stakeholder_id` re-creates a deleted one under its old id
        (undo of a delete)."""
        with self.store.session() as session, session.begin():
            client = self._client(session, data.client_id)
            clean = validate_stakeholder(data, client.default_region)
            stakeholder = Stakeholder(id=stakeholder_id) if stakeholder_id else Stakeholder()
            _write(stakeholder, clean)
            session.add(stakeholder)
            session.flush()
            dto = to_dto(stakeholder, client.name)
        self.events.publish(STAKEHOLDERS_CHANGED, (dto.id,))
        return dto

    def update(self, stakeholder_id: int, data: StakeholderData) -> StakeholderDTO:
        with self.store.session() as session, session.begin():
            stakeholder = self._load(session, stakeholder_id)
            client = self._client(session, data.client_id)
            clean = validate_stakeholder(data, client.default_region)
            if stakeholder.client_id != clean.client_id:
                _leave_groups(session, stakeholder.id)  # groups belong to the old organisation
            _write(stakeholder, clean)
            session.flush()
            dto = to_dto(stakeholder, client.name,
                         _memberships(session, [stakeholder.id]).get(stakeholder.id, ()))
        self.events.publish(STAKEHOLDERS_CHANGED, (dto.id,))
        return dto

    def set_category(self, stakeholder_id: int, category: str) -> StakeholderDTO:
        """Move a stakeholder to another category (the map's drag), keeping its own settings."""
        current = self.get(stakeholder_id)
        return self.update(stakeholder_id, replace(current.data(), category=category))

    def delete(self, stakeholder_id: int) -> StakeholderDTO:
        """Delete; returns the stakeholder as it was (with its groups) so it can be restored."""
        with self.store.session() as session, session.begin():
            stakeholder = self._load(session, stakeholder_id)
            dto = to_dto(stakeholder, stakeholder.client.name,
                         _memberships(session, [stakeholder.id]).get(stakeholder.id, ()))
            session.delete(stakeholder)
        self.events.publish(STAKEHOLDERS_CHANGED, (stakeholder_id,))
        return dto

    def restore(self, snapshot: StakeholderDTO) -> StakeholderDTO:
        """Undo a delete: the same id, data and group memberships."""
        with self.store.session() as session, session.begin():
            client = self._client(session, snapshot.client_id)
            clean = validate_stakeholder(snapshot.data(), client.default_region)
            stakeholder = Stakeholder(id=snapshot.id)
            _write(stakeholder, clean)
            session.add(stakeholder)
            session.flush()
            from app.domain.models import Group

            for group_id in snapshot.group_ids:
                if session.get(Group, group_id) is not None:
                    session.add(GroupMember(group_id=group_id, stakeholder_id=stakeholder.id))
            session.flush()
            dto = to_dto(stakeholder, client.name,
                         _memberships(session, [stakeholder.id]).get(stakeholder.id, ()))
        self.events.publish(STAKEHOLDERS_CHANGED, (dto.id,))
        return dto

    def apply_batch(self, creates: list[StakeholderData],
                    updates: list[tuple[int, StakeholderData]]) -> tuple[list[int], list[int]]:
        """Create and update many stakeholders in ONE transaction (imports): all or nothing.
        Raises ValidationError keyed "<n>.<field>" (n: position in creates, then updates)."""
        created: list[int] = []
        updated: list[int] = []
        with self.store.session() as session, session.begin():
            regions = {c.id: c.default_region for c in session.scalars(select(Client))}
            errors: dict[str, str] = {}
            clean_creates = []
            for n, data in enumerate(creates):
                if data.client_id not in regions:
                    errors[f"{n}.client"] = "Unknown organisation."
                    continue
                try:
                    clean_creates.append(validate_stakeholder(data, regions[data.client_id]))
                except ValidationError as exc:
                    errors.update({f"{n}.{k}": v for k, v in exc.errors.items()})
            if errors:
                raise ValidationError(errors)
            # Load every update target BEFORE adding new rows: a target deleted meanwhile
            # must be refused, not confused with a new row that SQLite gave its old id.
            targets: list[tuple[Stakeholder, StakeholderData]] = []
            for offset, (stakeholder_id, data) in enumerate(updates, start=len(creates)):
                stakeholder = self._load(session, stakeholder_id)
                if data.client_id not in regions:
                    raise ValidationError({f"{offset}.client": "Unknown organisation."})
                try:
                    clean = validate_stakeholder(data, regions[data.client_id])
                except ValidationError as exc:
                    raise ValidationError(
                        {f"{offset}.{k}": v for k, v in exc.errors.items()}) from None
                targets.append((stakeholder, clean))
            objects = []
            for clean in clean_creates:
                stakeholder = Stakeholder()
                _write(stakeholder, clean)
                objects.append(stakeholder)
            session.add_all(objects)
            for stakeholder, clean in targets:
                if stakeholder.client_id != clean.client_id:
                    _leave_groups(session, stakeholder.id)
                _write(stakeholder, clean)
                updated.append(stakeholder.id)
            session.flush()
            created = [s.id for s in objects]
        self.events.publish(STAKEHOLDERS_CHANGED, None)
        return created, updated

    def set_sms_opt_out(self, contact_point_id: int, opted_out: bool, reason: str = "",
                        actor: Any = None) -> StakeholderDTO:
        """Set or lift by hand the SMS opt-out of a contact point's number (a phone call: "do
        not text me", or "text me again"). It holds for the number: every SMS contact point
        with it changes. Setting it says who did and when, and `reason` if given; lifting it
        clears it. Refused for a contact point that is not SMS."""
        from app.stakeholders.opt_out import REASON_MAX, opt_in, opt_out

        who = _signer(actor if actor is not None else self.actor)
        reason = " ".join((reason or "").split())
        if len(reason) > REASON_MAX - 100:
            raise ValidationError({"opted_out_reason": too_long("The reason", REASON_MAX - 100,
                                                                len(reason))})
        now = self.clock.now()
        with self.store.session() as session, session.begin():
            cp = session.get(ContactPoint, contact_point_id)
            if cp is None:
                raise NotFound(f"Contact point {contact_point_id} does not exist (deleted "
                               f"meanwhile?).")
            if Channel(cp.channel) != Channel.SMS:
                raise ValidationError({"opted_out": (
                    f"Only an SMS contact point opts out of texts; {cp.address} is "
                    f"{Channel(cp.channel).label.lower()}.")})
            owner = cp.stakeholder_id
            if opted_out:
                at = now.astimezone(timezone.utc)
                words = f"set by {who} on {at.day} {at:%b %Y %H:%M} UTC" + \
                    (f": {reason}" if reason else "")
                changed = opt_out(session, cp.address, now, words)
            else:
                changed = opt_in(session, cp.address)
        if changed:
            self.events.publish(STAKEHOLDERS_CHANGED, tuple(sorted(set(changed) | {owner})))
        return self.get(owner)

    # -- internals

    @staticmethod
    def _load(session: Session, stakeholder_id: int) -> Stakeholder:
        stakeholder = session.get(Stakeholder, stakeholder_id)
        if stakeholder is None:
            raise NotFound(f"Stakeholder {stakeholder_id} does not exist (deleted meanwhile?).")
        return stakeholder

    @staticmethod
    def _client(session: Session, client_id: int) -> Client:
        client = session.get(Client, client_id)
        if client is None:
            raise ValidationError({"client": "Choose the organisation this stakeholder belongs to."})
        return client


def _signer(actor: Any) -> str:
    """The name a hand edit is signed with: a desk's coordinator (app.coordinators' Desk has
    a name; this package does not import it), a component's name, or 'the coordinator'."""
    name = getattr(actor, "name", actor)
    return name.strip() if isinstance(name, str) and name.strip() else "the coordinator"


def _leave_groups(session: Session, stakeholder_id: int) -> None:
    from sqlalchemy import delete

    session.execute(delete(GroupMember).where(GroupMember.stakeholder_id == stakeholder_id))


def _memberships(session: Session, stakeholder_ids: list[int]) -> dict[int, list[int]]:
    if not stakeholder_ids:
        return {}
    out: dict[int, list[int]] = {}
    stmt = select(GroupMember.stakeholder_id, GroupMember.group_id).where(
        GroupMember.stakeholder_id.is_not(None))
    if len(stakeholder_ids) < 500:
        stmt = stmt.where(GroupMember.stakeholder_id.in_(stakeholder_ids))
    for sid, gid in session.execute(stmt):
        out.setdefault(sid, []).append(gid)
    return out


# ---------------------------------------------------------------- compatibility for seeding

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
    """Add a stakeholder inside an existing transaction (demo seeding)."""
    data = StakeholderData(
        client_id=new.client_id, name=new.name, category=Category(new.category).value,
        role=new.role, information_need=new.information_need,
        timing_need=new.timing_need.value if new.timing_need else None,
        detail_level=new.detail_level.value if new.detail_level else None,
        max_silence_minutes=new.max_silence_minutes, notes=new.notes, active=new.active,
        contacts=tuple(ContactPointData(channel=Channel(ch).value, address=addr, priority=i)
                       for i, (ch, addr) in enumerate(new.contacts, start=1)))
    stakeholder = Stakeholder()
    _write(stakeholder, validate_stakeholder(data, region))
    session.add(stakeholder)
    return stakeholder


def delete_many(service: StakeholderService, ids: list[int]) -> list[StakeholderDTO]:
    """Delete many stakeholders in one transaction (undo of an import); returns snapshots."""
    with service.store.session() as session, session.begin():
        rows = session.scalars(select(Stakeholder).where(Stakeholder.id.in_(ids))
                               .options(selectinload(Stakeholder.contact_points))).all()
        memberships = _memberships(session, [s.id for s in rows])
        snapshots = [to_dto(s, "", memberships.get(s.id, ())) for s in rows]
        for s in rows:
            session.delete(s)
    service.events.publish(STAKEHOLDERS_CHANGED, None)
    return snapshots


def restore_many(service: StakeholderService, snapshots: list[StakeholderDTO]) -> None:
    """Bring back deleted stakeholders under their ids, in one transaction (redo of an import)."""
    with service.store.session() as session, session.begin():
        regions = {c.id: c.default_region for c in session.scalars(select(Client))}
        for snap in snapshots:
            stakeholder = Stakeholder(id=snap.id)
            _write(stakeholder, validate_stakeholder(snap.data(), regions[snap.client_id]))
            session.add(stakeholder)
        session.flush()
        for snap in snapshots:
            session.add_all([GroupMember(group_id=g, stakeholder_id=snap.id)
                             for g in snap.group_ids])
    service.events.publish(STAKEHOLDERS_CHANGED, None)
