"""A confirmation Clarion could not read (issue 25): the coordinator says how (a phone call),
signed, and the wait for that person ends. Refused — in words, nothing stored — for a message
not sent yet, a person who confirmed already, a closed incident, or without saying how; and
`clarion confirm` does the same as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from app.acks.record import confirm_by_hand
from app.domain.enums import DeliveryState, Phase, TimelineKind
from app.domain.models import Delivery, Incident
from app.errors import ClarionError, ValidationError
from tests.integration.test_clocks_service import (  # noqa: F401 - fixtures
    MIN, T0, clocks, flush, open_incident, people, queue, timeline_kinds,
)
from tests.integration.test_mailbox_recorder import deliveries_of

ROOT = Path(__file__).resolve().parents[2]


def test_marked_by_hand_signed_and_the_chase_ends(store, frozen_clock, incidents, client_id,
                                                  people, clocks):  # noqa: F811
    incident_id = open_incident(incidents, client_id, severity="SEV2")
    asked = [people["Eve Exec"], people["Rex Regulator"]]
    frozen_clock.set(T0 + 10 * MIN)
    letter = queue(store, frozen_clock, incident_id, "status_update", asked, ask=asked)
    eve = deliveries_of(store, letter)["Eve Exec"].id
    with pytest.raises(ClarionError, match="has not gone out"):
        confirm_by_hand(store, frozen_clock, None, eve, "Phoned", "Tess Coordinator")
    frozen_clock.set(T0 + 12 * MIN)
    assert flush(store, frozen_clock).sent == 2
    with pytest.raises(ValidationError) as refused:
        confirm_by_hand(store, frozen_clock, None, eve, "   ", "Tess Coordinator")
    assert "Say how they confirmed" in refused.value.errors["note"]
    with pytest.raises(ValidationError):
        confirm_by_hand(store, frozen_clock, None, eve, "x" * 201, "Tess Coordinator")
    assert deliveries_of(store, letter)["Eve Exec"].acknowledged_at is None

    with store.reading() as session:
        before = session.get(Incident, incident_id).change_seq
    frozen_clock.set(T0 + 30 * MIN)
    entry = confirm_by_hand(store, frozen_clock, None, eve, "Phoned  at 10:40;\nshe has it",
                            "Tess Coordinator")
    assert entry.summary == ("Confirmed received: Eve Exec noted by the coordinator — Phoned "
                             "at 10:40; she has it")
    assert entry.actor == "Tess Coordinator"
    row = deliveries_of(store, letter)["Eve Exec"]
    assert (row.acknowledged_at, row.ack_via, row.ack_text) == \
        (T0 + 30 * MIN, "manual", "Phoned at 10:40; she has it")
    with store.reading() as session:
        assert session.get(Incident, incident_id).change_seq > before
    with pytest.raises(ClarionError, match="confirmed already"):
        confirm_by_hand(store, frozen_clock, None, eve, "again", "Tess Coordinator")
    # only the silent regulator is chased
    assert [c.names for c in clocks.fire_unconfirmed(now=T0 + 50 * MIN)] == \
        [("Rex Regulator",)]
    # a closed incident's record is final
    with store.session() as session, session.begin():
        session.execute(update(Incident).where(Incident.id == incident_id)
                        .values(phase=Phase.CLOSED.value))
    rex = deliveries_of(store, letter)["Rex Regulator"].id
    with pytest.raises(ClarionError, match="closed"):
        confirm_by_hand(store, frozen_clock, None, rex, "Phoned", "Tess Coordinator")
    assert len(timeline_kinds(store, incident_id, TimelineKind.DELIVERY_ACKNOWLEDGED)) == 1


def test_clarion_confirm_as_a_process(tmp_path):
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.coordinators.service import CoordinatorService
    from app.incidents.lifecycle import IncidentService
    from app.stakeholders.clients import ensure_default_organisation
    from app.storage import Store
    from tests.integration.test_clocks_service import add_person

    config = AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)})
    config.ensure_dirs()
    store = Store.open(config.db_path)
    clock = SystemClock()
    try:
        client = ensure_default_organisation(store, clock)
        eve = add_person(store, clock, client.id, "Eve Exec", "executives")
        CoordinatorService(store, clock).add("Tess Coordinator")
        incident_id = open_incident(IncidentService(store, clock, actor="Tess"), client.id)
        letter = queue(store, clock, incident_id, "status_update", [eve], ask=[eve])
        flush(store, clock)
        delivery = deliveries_of(store, letter)["Eve Exec"].id
        with store.session() as session, session.begin():
            session.execute(update(Delivery).values(state=DeliveryState.SENT))
    finally:
        store.dispose()

    def clarion(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ui.main", *args], cwd=ROOT,
                              env={**__import__("os").environ,
                                   "CLARION_DATA_DIR": str(tmp_path),
                                   "QT_QPA_PLATFORM": "offscreen"},
                              capture_output=True, text=True, timeout=120)

    nobody = clarion("confirm", str(delivery), "--note", "Phoned", "--as", "Nobody")
    assert nobody.returncode == 2 and "no active coordinator is called 'Nobody'" in nobody.stderr
    empty = clarion("confirm", str(delivery), "--note", " ", "--as", "Tess Coordinator")
    assert empty.returncode == 2 and "Say how they confirmed" in empty.stderr
    done = clarion("confirm", str(delivery), "--note", "Phoned at 10:40", "--as",
                   "Tess Coordinator")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("Confirmed received: Eve Exec noted by the coordinator — "
                                   "Phoned at 10:40 (signed Tess Coordinator)")
    again = clarion("confirm", str(delivery), "--note", "Phoned", "--as", "Tess Coordinator")
    assert again.returncode == 1 and "confirmed already" in again.stderr
    missing = clarion("confirm", "99999", "--note", "Phoned", "--as", "Tess Coordinator")
    assert missing.returncode == 2 and "no delivery 99999" in missing.stderr
    listed = clarion("replies", str(incident_id), "--acks", "--json")
    assert '"via": "manual"' in listed.stdout
