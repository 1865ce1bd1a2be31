"""`clarion outbox flush|status` as a user runs it: a real process on a real migrated database
with no accounts configured, so the embedded drill channel delivers."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
import sys
from pathlib import Path

from sqlalchemy import select

from app.clock import SystemClock
from app.config import AppConfig
from app.domain.enums import DeliveryState, Severity
from app.domain.models import Delivery
from app.incidents.lifecycle import IncidentService
from app.stakeholders.clients import ensure_default_organisation
from app.storage import Store
from tests.outbox_support import add_message, people

ROOT = Path(__file__).resolve().parents[2]

# The flush reports whether the cyclic collector runs while it sends: start-up pauses it, and a
# long headless send must not run with it paused (nor scan the whole start-up heap each time).
CHILD = """
import gc, sys
import app.sending.runner as outbox
real = outbox.flush_headless
def probe(o, *rest, **kw):
    print(f"collector enabled={gc.isenabled()} frozen={gc.get_freeze_count()}", flush=True)
    return real(o, *rest, **kw)
outbox.flush_headless = probe
from ui.main import main
sys.exit(main(["outbox", *sys.argv[1:]]))
"""


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@contextmanager
def open_incident(data_dir: Path):  # type: ignore[no-untyped-def]
    """(store, clock, incident id) of a new incident in the data folder's database."""
    config = AppConfig.from_env({"CLARION_DATA_DIR": str(data_dir)})
    config.ensure_dirs()
    store = Store.open(config.db_path)
    clock = SystemClock()
    try:
        client = ensure_default_organisation(store, clock)
        incident = IncidentService(store, clock, actor="test").open(
            client_id=client.id, title="Mail relay down", severity=Severity.SEV2,
            detected_at=clock.now())
        yield store, clock, incident.id
    finally:
        store.dispose()


def queue_three(data_dir: Path) -> list[int]:
    with open_incident(data_dir) as (store, clock, incident_id):
        return add_message(store, clock, incident_id, people(3))


def test_flush_sends_what_is_queued_with_the_collector_running(tmp_path):
    ids = queue_three(tmp_path)
    status = run_cli(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "queued      3" in status.stdout

    result = run_cli(tmp_path, "flush")
    assert result.returncode == 0, result.stderr
    probe = next(line for line in result.stdout.splitlines() if line.startswith("collector"))
    enabled, frozen = probe.split()[1:]
    assert enabled == "enabled=True"
    assert int(frozen.split("=")[1]) > 0  # start-up objects are out of later collections
    assert "claimed 3: sent 3, waiting to retry 0, failed 0, unknown 0" in result.stdout
    assert "sent        3" in result.stdout
    # what the flush wrote is backed up (the first backup of this database: at once)
    from app.backups.copies import list_backups

    [backup] = list_backups(tmp_path / "backups")
    assert f"backed up to {backup.path}" in result.stdout
    again = run_cli(tmp_path, "flush")   # within ten minutes of that one: no second backup
    assert again.returncode == 0 and "backed up" not in again.stdout
    assert len(list_backups(tmp_path / "backups")) == 1

    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)}).db_path)
    try:
        with store.session() as s:
            got = dict(s.execute(select(Delivery.id, Delivery.state)
                                 .where(Delivery.id.in_(ids))).all())
    finally:
        store.dispose()
    assert got == {i: DeliveryState.SENT for i in ids}


def unknown_ones(data_dir: Path) -> dict[str, int]:
    """Two emails and an SMS whose outcome is unknown (a send was cut off)."""
    from sqlalchemy import update

    with open_incident(data_dir) as (store, clock, incident_id):
        a, b = add_message(store, clock, incident_id, people(2))
        (c,) = add_message(store, clock, incident_id, [("Una User", "+12065550101")],
                           channel="sms")
        with store.session() as s, s.begin():
            s.execute(update(Delivery).where(Delivery.id.in_([a, b, c])).values(
                state=DeliveryState.UNKNOWN, attempts=1,
                last_error="The connection was lost after the message was sent"))
        return {"a": a, "b": b, "sms": c}


def states_of(data_dir: Path) -> dict[int, str]:
    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(data_dir)}).db_path)
    try:
        with store.session() as s:
            return {i: st.value for i, st in s.execute(select(Delivery.id, Delivery.state))}
    finally:
        store.dispose()


def test_unknown_deliveries_are_listed_and_decided_from_the_command_line(tmp_path):
    ids = unknown_ones(tmp_path)
    listed = run_cli(tmp_path, "unknown")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("3 deliveries whose outcome is unknown")
    assert any(line.strip().startswith(f"{ids['sms']}  Mail relay down · Una User "
                                       f"<+12065550101> by sms · 1 attempt, last ")
               for line in lines)
    assert lines.count("        The connection was lost after the message was sent") == 3

    refused = run_cli(tmp_path, "resolve", str(ids["a"]), str(ids["sms"]), "--resend")
    assert refused.returncode == 1 and "Add --yes" in refused.stderr
    assert set(states_of(tmp_path).values()) == {"unknown"}         # nothing decided
    resent = run_cli(tmp_path, "resolve", str(ids["a"]), str(ids["sms"]), "--resend", "--yes")
    assert resent.returncode == 0, resent.stderr
    assert resent.stdout.splitlines()[0] == "2 deliveries queued to be sent again."
    marked = run_cli(tmp_path, "resolve", str(ids["b"]), "--mark-sent")
    assert marked.stdout.splitlines() == ["1 delivery marked as sent."]
    assert states_of(tmp_path) == {ids["a"]: "queued", ids["sms"]: "queued", ids["b"]: "sent"}
    again = run_cli(tmp_path, "resolve", str(ids["b"]), "--cancel")
    assert again.returncode == 4 and again.stdout.startswith("Nothing to decide")
    nothing = run_cli(tmp_path, "resolve", "999", "--cancel")
    assert nothing.returncode == 2 and nothing.stderr.strip() == "clarion: no delivery 999"
    assert run_cli(tmp_path, "resolve", str(ids["b"])).returncode == 2   # no decision
    assert run_cli(tmp_path, "unknown").stdout.strip() == "No delivery's outcome is unknown."


def test_flush_does_not_send_while_another_process_holds_the_lease(tmp_path):
    from app.sending.lease import take

    ids = queue_three(tmp_path)
    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)}).db_path)
    try:
        take(store, SystemClock(), "the Clarion window (process 1 on desk)")
    finally:
        store.dispose()
    result = run_cli(tmp_path, "flush")
    assert result.returncode == 1
    assert result.stderr.strip() == ("clarion: not sending: the Clarion window (process 1 on "
                                     "desk) is sending from this database; this one will not "
                                     "send while it does.")
    assert set(states_of(tmp_path).values()) == {"queued"} and len(ids) == 3


def test_flush_after_a_crash_leaves_unknown_only_what_had_started(tmp_path):
    """A process died mid-send: of its claimed deliveries, the one whose transmission had
    started becomes unknown; the two that never left go back to the queue and are sent now."""
    from datetime import datetime, timezone

    from sqlalchemy import update

    ids = queue_three(tmp_path)
    store = Store.open(AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path)}).db_path)
    try:
        with store.session() as s, s.begin():
            s.execute(update(Delivery).where(Delivery.id.in_(ids))
                      .values(state=DeliveryState.SENDING, attempts=1))
            s.execute(update(Delivery).where(Delivery.id == ids[0])
                      .values(started_at=datetime.now(timezone.utc)))
    finally:
        store.dispose()
    result = run_cli(tmp_path, "flush")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "1 delivery was interrupted earlier while on the wire; whether it went out is " \
           "unknown (see clarion outbox unknown)" in lines
    assert "2 deliveries claimed earlier had not started; back in the queue" in lines
    assert "claimed 2: sent 2, waiting to retry 0, failed 0, unknown 0" in lines
    assert states_of(tmp_path) == {ids[0]: "unknown", ids[1]: "sent", ids[2]: "sent"}
