"""The clocks' change counter of each incident (DESIGN: "Clocks are derived, never stored as
truth"): database triggers (app/storage/triggers.py, migration 0015) bump it on every write a
clock reads, and ClockService keeps an evaluation until its incident's counter moves.

It is kept in two columns: `incidents.change_seq` (the incident itself, its timeline, messages
and deliveries; the escalation rules, for every incident not closed) and `clients.change_seq`
(the client's settings, stakeholders and cadence policies, read by all of its incidents). Both
only grow, so the pair — or its sum, the incident's counter — moves whenever either does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.domain.enums import Phase
from app.domain.models import Client, Incident

Counter = tuple[int, int]   # (incidents.change_seq, clients.change_seq)


_COUNTERS = (select(Incident.id, Incident.change_seq, Client.change_seq)
             .join(Client, Client.id == Incident.client_id).order_by(Incident.id))
_OPEN = _COUNTERS.where(Incident.phase != Phase.CLOSED.value, Incident.archived.is_(False))
_OF = _COUNTERS.where(Incident.id.in_(bindparam("ids", expanding=True)))


def change_counters(session: Session, incident_ids: Sequence[int] | None = None
                    ) -> dict[int, Counter]:
    """{incident id: its counter} of the given incidents (those that exist), else of every
    open one (not closed, not archived); in id order. (The statements are built once: the
    clocks panel asks for one incident on every refresh.)"""
    if incident_ids is None:
        rows: Iterable = session.execute(_OPEN)
        return {i: (a, b) for i, a, b in rows}
    out: dict[int, Counter] = {}
    ids = list(dict.fromkeys(incident_ids))
    for start in range(0, len(ids), 900):
        out.update((i, (a, b)) for i, a, b in session.execute(
            _OF, {"ids": ids[start:start + 900]}))
    return dict(sorted(out.items()))


def change_counter(session: Session, incident_id: int) -> int:
    """The incident's counter as one number (the sum of its two parts); -1 if there is none."""
    found = change_counters(session, [incident_id]).get(incident_id)
    return sum(found) if found is not None else -1
