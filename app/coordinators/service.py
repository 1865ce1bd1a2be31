"""The coordinators of this database and who is working at a desk.

A coordinator is a row (name, email, phone, role note, active), so `app/`, the CLI and a later
team database read the same people. A **Desk** is who is working now: every service that writes
timeline entries for a person signs them with the desk's name and coordinator id at the moment
of writing (`sign`), so a shift change takes effect at once everywhere. A desk whose person is
not confirmed yet signs with the prefilled name and no id. The outbox and the clocks sign their
own entries with their component's name, as before."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.clock import Clock
from app.domain.models import Coordinator, RecordMeta, TimelineEntry
from app.errors import ClarionError, NotFound, ValidationError, too_long

NAME_MAX = 200
ROLE_MAX = 200
BEFORE_COORDINATORS = "written before coordinators were kept"


@dataclass(frozen=True)
class CoordinatorDTO:
    id: int
    name: str
    email: str = ""
    phone: str = ""
    role_note: str = ""
    active: bool = True


@dataclass
class Desk:
    """Who is working at this desk now. Mutable on purpose: every service holds the same one,
    and a switch changes the signature of everything written from then on."""
    name: str
    coordinator_id: int | None = None

    def __str__(self) -> str:
        return self.name

    def switch(self, coordinator: CoordinatorDTO) -> None:
        self.name, self.coordinator_id = coordinator.name, coordinator.id

    @property
    def confirmed(self) -> bool:
        return self.coordinator_id is not None


def sign(actor: Desk | str | None) -> tuple[str, int | None]:
    """(name, coordinator id) for a timeline entry: a desk's person, or a component's name."""
    if isinstance(actor, Desk):
        return actor.name, actor.coordinator_id
    return (actor or ""), None


def os_full_name() -> str:
    """The OS account's full name (the GECOS field on Unix), never the bare login: "" when
    the account has none."""
    try:
        import pwd

        gecos = pwd.getpwuid(os.getuid()).pw_gecos.split(",")[0].strip()
    except (ImportError, KeyError, OSError, AttributeError):
        return ""
    try:
        login = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name known: the full name still stands
        login = ""
    return "" if gecos.casefold() == login.casefold() else gecos


def is_component(actor: str) -> bool:
    """An entry Clarion wrote itself (the outbox, the clocks, the escalation rules)."""
    return actor == "outbox" or actor.startswith("Clarion (")


def signature(actor: str, entry_id: int, first_signed: int | None) -> str:
    """The actor of an entry as the record shows it: as written, and for a person's entry
    written before coordinators were kept, marked so (the entry itself never changes)."""
    if first_signed is not None and entry_id < first_signed and actor \
            and not is_component(actor):
        return f"{actor} ({BEFORE_COORDINATORS})"
    return actor


def _dto(row: Coordinator) -> CoordinatorDTO:
    return CoordinatorDTO(row.id, row.name, row.email, row.phone, row.role_note, row.active)


def validate(name: str, email: str = "", phone: str = "", role_note: str = "",
             region: str = "US") -> dict[str, str]:
    """Cleaned fields; ValidationError keyed by field with every problem at once."""
    from app.stakeholders.service import normalise_email, normalise_phone

    errors: dict[str, str] = {}
    clean = {"name": " ".join(str(name or "").split()), "email": str(email or "").strip(),
             "phone": str(phone or "").strip(), "role_note": " ".join(str(role_note or "").split())}
    if not clean["name"]:
        errors["name"] = "Enter the coordinator's name."
    elif len(clean["name"]) > NAME_MAX:
        errors["name"] = too_long("The name", NAME_MAX, len(clean["name"]))
    if len(clean["role_note"]) > ROLE_MAX:
        errors["role_note"] = too_long("The role note", ROLE_MAX, len(clean["role_note"]))
    for field, normalise in (("email", normalise_email),
                             ("phone", lambda v: normalise_phone(v, region))):
        if clean[field]:
            try:
                clean[field] = normalise(clean[field])
            except ValidationError as exc:
                errors[field] = next(iter(exc.errors.values()))
    if errors:
        raise ValidationError(errors)
    return clean


class CoordinatorService:
    def __init__(self, store: Any, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def list(self, include_inactive: bool = False) -> list[CoordinatorDTO]:
        stmt = select(Coordinator).order_by(func.lower(Coordinator.name), Coordinator.id)
        if not include_inactive:
            stmt = stmt.where(Coordinator.active.is_(True))
        with self.store.session() as s:
            return [_dto(c) for c in s.scalars(stmt)]

    def get(self, coordinator_id: int) -> CoordinatorDTO:
        with self.store.session() as s:
            row = s.get(Coordinator, coordinator_id)
            if row is None:
                raise NotFound(f"No coordinator {coordinator_id}.")
            return _dto(row)

    def find(self, name: str) -> CoordinatorDTO | None:
        """The active coordinator of that name (case and spacing ignored), else an inactive
        one, else None."""
        wanted = " ".join(name.split()).casefold()
        found = [c for c in self.list(include_inactive=True) if c.name.casefold() == wanted]
        return next((c for c in found if c.active), found[0] if found else None)

    def add(self, name: str, email: str = "", phone: str = "", role_note: str = "") -> CoordinatorDTO:
        clean = validate(name, email, phone, role_note)
        now = self.clock.now()
        with self.store.session() as s, s.begin():
            if self._taken(s, clean["name"]):
                raise ValidationError({"name": f"There is already a coordinator called "
                                               f"“{clean['name']}”."})
            row = Coordinator(**clean, active=True, created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            return _dto(row)

    def update(self, coordinator_id: int, name: str, email: str = "", phone: str = "",
               role_note: str = "", active: bool = True) -> CoordinatorDTO:
        """Change a coordinator. Entries already written keep the name they were signed with."""
        clean = validate(name, email, phone, role_note)
        with self.store.session() as s, s.begin():
            row = s.get(Coordinator, coordinator_id)
            if row is None:
                raise NotFound(f"No coordinator {coordinator_id}.")
            if self._taken(s, clean["name"], but=coordinator_id):
                raise ValidationError({"name": f"There is already a coordinator called "
                                               f"“{clean['name']}”."})
            for key, value in clean.items():
                setattr(row, key, value)
            row.active = bool(active)
            row.updated_at = self.clock.now()
            return _dto(row)

    def delete(self, coordinator_id: int) -> CoordinatorDTO:
        """Remove a coordinator who never wrote an entry; one who did can only be made
        inactive (the record keeps pointing at them)."""
        with self.store.session() as s, s.begin():
            row = s.get(Coordinator, coordinator_id)
            if row is None:
                raise NotFound(f"No coordinator {coordinator_id}.")
            wrote = s.scalar(select(func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.coordinator_id == coordinator_id))
            if wrote:
                raise ClarionError(f"{row.name} wrote {wrote} timeline entr"
                                   f"{'y' if wrote == 1 else 'ies'}: the record keeps them, so "
                                   f"they can be made inactive, not deleted.")
            dto = _dto(row)
            s.delete(row)
            return dto

    def first_entry_signed(self) -> int | None:
        """The id of the first timeline entry written since coordinators are kept (entries
        before it were written before this version)."""
        with self.store.session() as s:
            value = s.scalar(select(RecordMeta.value)
                             .where(RecordMeta.key == "coordinators_from_entry"))
        return int(value) if value else None

    @staticmethod
    def _taken(s: Any, name: str, but: int | None = None) -> bool:
        stmt = select(Coordinator.id).where(func.lower(Coordinator.name) == name.lower())
        if but is not None:
            stmt = stmt.where(Coordinator.id != but)
        return s.scalar(stmt) is not None


def desk_for(service: CoordinatorService, chosen_id: int | None,
             fallback: str = "", demo: bool = False) -> Desk:
    """The desk as this computer left it: its last chosen coordinator if still active; else
    (the demo) its first coordinator; else a desk to confirm, prefilled with the OS account's
    full name (or `fallback`)."""
    if chosen_id is not None:
        try:
            found = service.get(chosen_id)
        except NotFound:
            found = None
        if found is not None and found.active:
            return Desk(found.name, found.id)
    first = min(service.list(), key=lambda c: c.id, default=None) if demo else None
    if first is not None:   # the demo plays its own coordinators
        return Desk(first.name, first.id)
    return Desk(os_full_name() or fallback)
