"""Client organisations: the first-run default and look-ups."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import Clock
from app.domain.dto import ClientDTO
from app.domain.models import Client
from app.storage.engine import Store

DEFAULT_ORGANISATION = "My organisation"


def to_dto(client: Client) -> ClientDTO:
    return ClientDTO(id=client.id, name=client.name, is_msp=client.is_msp,
                     time_zone=client.time_zone, default_region=client.default_region)


def ensure_default_organisation(store: Store, clock: Clock) -> ClientDTO | None:
    """A new database gets one organisation so an incident can be opened at once."""
    with store.session() as session, session.begin():
        if session.scalar(select(func.count(Client.id))):
            return None
        client = Client(name=DEFAULT_ORGANISATION, is_msp=False, time_zone="UTC",
                        default_region="US", created_at=clock.now())
        session.add(client)
        session.flush()
        return to_dto(client)


def list_clients(store: Store) -> list[ClientDTO]:
    with store.session() as session:
        return [to_dto(c) for c in session.scalars(select(Client).order_by(Client.name))]


def get_client(session: Session, client_id: int) -> Client | None:
    return session.get(Client, client_id)
