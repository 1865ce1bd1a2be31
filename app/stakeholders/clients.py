"""Client organisations: the first-run default and look-ups."""

from __future__ import annotations

from sqlalchemy import func, select

from app.clock import Clock
from app.events import CLIENTS_CHANGED, EventBus
from app.domain.dto import ClientDTO, ClientSettings, ResponsibilityDTO
from app.domain.enums import Communicator, Regime, Scenario
from app.domain.models import Client, Responsibility
from app.errors import NotFound, ValidationError, too_long
from app.storage.engine import Store

DEFAULT_ORGANISATION = "My organisation"


def to_dto(client: Client) -> ClientDTO:
    return ClientDTO(id=client.id, name=client.name, is_msp=client.is_msp,
                     time_zone=client.time_zone, default_region=client.default_region,
                     notification_sla_minutes=client.notification_sla_minutes,
                     regimes=tuple(client.regimes or ()))


def ensure_default_organisation(store: Store, clock: Clock) -> ClientDTO | None:
    """A new database gets one organisation so an incident can be opened at once."""
    with store.session() as session, session.begin():
        if session.scalar(select(func.count(Client.id))):
            return None
        client = Client(name=DEFAULT_ORGANISATION, is_msp=False, time_zone="UTC",
                        default_region="US", created_at=clock.now(), regimes=[])
        session.add(client)
        session.flush()
        return to_dto(client)


def list_clients(store: Store) -> list[ClientDTO]:
    with store.session() as session:
        return [to_dto(c) for c in session.scalars(select(Client).order_by(Client.name))]


# ---------------------------------------------------------------- editing organisations

def validate_client_settings(settings: ClientSettings) -> ClientSettings:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import phonenumbers

    errors: dict[str, str] = {}
    name = " ".join((settings.name or "").split())
    if not name:
        errors["name"] = "Enter the organisation's name."
    elif len(name) > 200:
        errors["name"] = too_long("The name", 200, len(name))
    tz = (settings.time_zone or "").strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"“{tz}” is not a time zone (e.g. Europe/London, America/Chicago)."
    region = (settings.default_region or "").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        errors["default_region"] = (f"“{region}” is not a phone region; use a two-letter "
                                    "country code such as US, GB or DE.")
    sla = settings.notification_sla_minutes
    if sla is not None and not (isinstance(sla, int) and 1 <= sla <= 60 * 24 * 30):
        errors["notification_sla_minutes"] = "The SLA is a number of minutes (1 to 43200)."
    regimes: list[str] = []
    for regime in settings.regimes:
        try:
            regimes.append(Regime(regime).value)
        except ValueError:
            errors["regimes"] = f"Unknown regulatory regime “{regime}”."
    if errors:
        raise ValidationError(errors)
    return ClientSettings(name=name, is_msp=settings.is_msp, time_zone=tz, default_region=region,
                          notification_sla_minutes=sla,
                          regimes=tuple(r.value for r in Regime if r.value in regimes))


def save_client(store: Store, clock: Clock, settings: ClientSettings,
                client_id: int | None = None, events: EventBus | None = None) -> ClientDTO:
    """Create (client_id None) or update an organisation."""
    clean = validate_client_settings(settings)
    with store.session() as session, session.begin():
        clash = session.scalar(select(Client.id).where(Client.name == clean.name))
        if clash is not None and clash != client_id:
            raise ValidationError({"name": f"There is already an organisation called “{clean.name}”."})
        if client_id is None:
            client = Client(created_at=clock.now())
            session.add(client)
        else:
            client = session.get(Client, client_id)
            if client is None:
                raise NotFound(f"Organisation {client_id} does not exist.")
        client.name = clean.name
        client.is_msp = clean.is_msp
        client.time_zone = clean.time_zone
        client.default_region = clean.default_region
        client.notification_sla_minutes = clean.notification_sla_minutes
        client.regimes = list(clean.regimes)
        session.flush()
        dto = to_dto(client)
    if events is not None:
        events.publish(CLIENTS_CHANGED, dto)
    return dto


def settings_of(client: ClientDTO) -> ClientSettings:
    return ClientSettings(name=client.name, is_msp=client.is_msp, time_zone=client.time_zone,
                          default_region=client.default_region,
                          notification_sla_minutes=client.notification_sla_minutes,
                          regimes=client.regimes)


# ---------------------------------------------------------------- responsibility matrix

def get_matrix(store: Store, client_id: int) -> dict[str, ResponsibilityDTO]:
    """Every scenario, with what is stored or, if nothing is, the MSP communicating."""
    with store.session() as session:
        stored = {Scenario(r.scenario).value: r for r in session.scalars(
            select(Responsibility).where(Responsibility.client_id == client_id))}
    out: dict[str, ResponsibilityDTO] = {}
    for scenario in Scenario:
        row = stored.get(scenario.value)
        out[scenario.value] = ResponsibilityDTO(
            scenario=scenario.value,
            communicator=Communicator(row.communicator).value if row else DEFAULT_COMMUNICATOR[scenario],
            audience=row.audience if row else "")
    return out


DEFAULT_COMMUNICATOR = {
    Scenario.MSP_DETECTED: "msp", Scenario.CLIENT_DETECTED: "client",
    Scenario.EXTERNAL_COMMUNICATION: "client", Scenario.TECHNICAL_UPDATES: "msp",
    Scenario.BUSINESS_IMPACT: "client",
}


def set_matrix(store: Store, client_id: int, rows: list[ResponsibilityDTO]) -> dict[str, ResponsibilityDTO]:
    errors: dict[str, str] = {}
    clean: list[ResponsibilityDTO] = []
    for row in rows:
        try:
            scenario = Scenario(row.scenario).value
        except ValueError:
            errors[str(row.scenario)] = f"Unknown scenario “{row.scenario}”."
            continue
        try:
            communicator = Communicator(row.communicator).value
        except ValueError:
            errors[scenario] = "Choose MSP, client or both."
            continue
        if any(c.scenario == scenario for c in clean):
            errors[scenario] = f"“{Scenario(scenario).label}” is listed twice."
            continue
        audience = (row.audience or "").strip()
        if len(audience) > 1000:
            errors[scenario] = too_long("“To whom”", 1000, len(audience))
            continue
        clean.append(ResponsibilityDTO(scenario, communicator, audience))
    if errors:
        raise ValidationError(errors)
    with store.session() as session, session.begin():
        if session.get(Client, client_id) is None:
            raise NotFound(f"Organisation {client_id} does not exist.")
        existing = {Scenario(r.scenario).value: r for r in session.scalars(
            select(Responsibility).where(Responsibility.client_id == client_id))}
        for row in clean:
            target = existing.get(row.scenario)
            if target is None:
                target = Responsibility(client_id=client_id, scenario=Scenario(row.scenario))
                session.add(target)
            target.communicator = Communicator(row.communicator)
            target.audience = row.audience
    return get_matrix(store, client_id)


def delete_client(store: Store, client_id: int, events: EventBus | None = None) -> ClientDTO:
    """Remove an organisation with its map. Refused while it has incidents (their record
    must stay) or if it is the last organisation."""
    from app.domain.models import Incident

    with store.session() as session, session.begin():
        client = session.get(Client, client_id)
        if client is None:
            raise NotFound(f"Organisation {client_id} does not exist.")
        if session.scalar(select(func.count(Incident.id)).where(Incident.client_id == client_id)):
            raise ValidationError({"client": f"“{client.name}” has incidents; their record must "
                                             "stay, so the organisation cannot be removed."})
        if session.scalar(select(func.count(Client.id))) <= 1:
            raise ValidationError({"client": "Clarion needs at least one organisation."})
        dto = to_dto(client)
        session.delete(client)
    if events is not None:
        events.publish(CLIENTS_CHANGED, dto)
    return dto
