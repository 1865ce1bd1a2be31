"""One time rule, in the window: with the machine in Berlin and the client in Los Angeles, the
incident's header, timeline and clocks show the client's zone with its abbreviation; the
incident list (across clients) shows the machine's."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from app.domain.enums import Phase, Severity
from app.stakeholders.clients import list_clients, save_client, settings_of
from app.timefmt import zone_named


@pytest.fixture
def berlin_desk(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def pacific_client(services):  # type: ignore[no-untyped-def]
    """The first client, moved to Los Angeles (the machine is in Berlin: berlin_desk)."""
    client = list_clients(services.store)[0]
    save_client(services.store, services.clock,
                replace(settings_of(client), time_zone="America/Los_Angeles"), client.id)
    return client


def test_an_incidents_times_are_the_clients_and_the_list_the_desks(qtbot, berlin_desk, window,
                                                                    services):
    client = pacific_client(services)
    now = services.clock.now()
    pacific = now.astimezone(zone_named("America/Los_Angeles")).tzname()   # PST or PDT
    berlin = now.astimezone().tzname()                                       # CET or CEST
    assert pacific != berlin
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2, detected_at=now)
    services.incidents.add_note(inc.id, "Checking the certificates")
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == inc.id)
    assert f" {pacific} ·" in view.age_label.text()                 # "Detected 01:05 PST · …"
    shown = view.timeline_model.data(view.timeline_model.index(0, 0))
    assert shown.endswith(f" {pacific}")
    assert shown.split()[-2] == now.astimezone(zone_named("America/Los_Angeles")).strftime(
        "%H:%M")
    # the list of incidents spans clients: the desk's zone
    table = window.incidents.model
    row = table.row_of(inc.id)
    cells = [table.data(table.index(row, c)) for c in range(table.columnCount())]
    assert any(isinstance(c, str) and c.endswith(f" {berlin}") for c in cells), cells
    # an entry's detail too
    view.timeline_view.selectRow(0)
    assert f" {pacific} · " in view.entry_detail.text()


def test_the_facts_times_are_edited_in_the_clients_zone(qtbot, berlin_desk, window, services):
    from datetime import timedelta

    from app.domain.dto import Facts

    client = pacific_client(services)
    now = services.clock.now().replace(second=0, microsecond=0)
    eta = now + timedelta(hours=2)
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2, detected_at=now)
    services.incidents.update_facts(inc.id, Facts(status="Restoring", eta_at=eta))
    assert services.incidents.get(inc.id).facts.eta_at == eta, services.incidents.get(inc.id).facts
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == inc.id)
    view.set_incident(None)          # (the facts were changed behind the editor's back)
    view.set_incident(services.incidents.get(inc.id))
    pacific = eta.astimezone(zone_named("America/Los_Angeles"))
    shown = view.facts.eta.edit.text()
    assert shown == f"{pacific:%Y-%m-%d %H:%M} {pacific.tzname()}"   # the client's clock
    assert view.facts.eta.value() == eta                              # read back unchanged
    view.facts.eta.set_value(eta + timedelta(minutes=30))
    assert view.facts.eta.value() == eta + timedelta(minutes=30)


def test_a_trigger_is_recorded_at_the_clients_clock_time(qtbot, berlin_desk, window, services):
    from datetime import datetime, timedelta

    from PySide6.QtCore import QDate, QDateTime, QTime, QTimeZone

    from ui.incidents.clock_dialogs import TriggerDialog

    client = pacific_client(services)
    now = services.clock.now()
    inc = services.incidents.open(client_id=client.id, title="Breach",
                                  severity=Severity.SEV1, detected_at=now - timedelta(hours=3))
    dialog = TriggerDialog(services, inc, {}, window)
    qtbot.addWidget(dialog)
    pacific_now = now.astimezone(zone_named("America/Los_Angeles"))
    assert dialog.when.text().endswith(f" {pacific_now.tzname()}")
    earlier = (now - timedelta(hours=1)).astimezone(zone_named("America/Los_Angeles"))
    dialog.when.setDateTime(QDateTime(QDate(earlier.year, earlier.month, earlier.day),
                                      QTime(earlier.hour, earlier.minute), QTimeZone.utc()))
    dialog.accept()
    started = [e for e in services.incidents.timeline(inc.id) if e.kind == "clock_started"]
    assert len(started) == 1
    recorded = datetime.fromisoformat(started[0].data["effective_at"])
    assert recorded == earlier.replace(second=0, microsecond=0)


def test_due_next_says_why_in_the_clients_zone(qtbot, berlin_desk, window, services):
    """Due next's reasons are written in UTC ("investigating since 09:05 UTC") and shown in the
    client's zone, in the row's tooltip and in the detail below the table."""
    from datetime import timedelta

    from PySide6.QtCore import Qt

    client = pacific_client(services)
    now = services.clock.now()
    since = now - timedelta(minutes=7)
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2, detected_at=since)
    services.incidents.move_phase(inc.id, Phase.INVESTIGATING)
    since = services.incidents.get(inc.id).updated_at          # investigating since then
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    clocks = window.incidents.view.clocks
    qtbot.waitUntil(lambda: any(r.key == "status_update" for r in clocks.rows()), timeout=5000)
    pacific = since.astimezone(zone_named("America/Los_Angeles"))
    utc_words = since.astimezone(zone_named("UTC")).strftime("%H:%M UTC")
    row = next(r for r in clocks.rows() if r.key == "status_update")
    assert utc_words in row.detail                                   # as written
    assert clocks.select("cadence", "status_update")
    shown = clocks.detail.text()
    assert f"since {pacific:%H:%M} {pacific.tzname()}" in shown and "UTC" not in shown
    index = next(clocks.model.index(r, 0) for r in range(clocks.model.rowCount())
                 if clocks.model.row_at(r).key == "status_update")
    tip = clocks.model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert f"since {pacific:%H:%M} {pacific.tzname()}" in tip and "UTC" not in tip


@pytest.fixture
def desk_zone_reset():
    from app.timefmt import set_desk_zone

    yield
    set_desk_zone(None)


def test_the_coordinator_chooses_a_zone_for_times_across_clients(qtbot, berlin_desk, window,
                                                                 services, desk_zone_reset):
    """Settings → Time zone: the incident list and the Outbox move to the chosen zone; the
    incident's own times stay in its client's; a name that is no zone is refused by the field
    and nothing changes; the choice is kept on this computer."""
    from PySide6.QtWidgets import QDialogButtonBox

    from app.timefmt import desk_zone
    from tests.outbox_support import add_message, people
    from ui.services import DISPLAY_ZONE_KEY

    client = pacific_client(services)
    now = services.clock.now()
    tokyo = now.astimezone(zone_named("Asia/Tokyo")).tzname()               # JST
    pacific = now.astimezone(zone_named("America/Los_Angeles")).tzname()
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2, detected_at=now)
    add_message(services.store, services.clock, inc.id, people(1))
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    window.outbox.reload()                               # open, in the desk's zone (CET)
    outbox = window.outbox.model
    before = [outbox.data(outbox.index(0, c)) for c in range(outbox.columnCount())]
    assert any(isinstance(c, str) and c.endswith(f" {now.astimezone().tzname()}")
               for c in before), before

    dialog = window.choose_time_zone()
    dialog.combo.setEditText("Mars/Olympus_Mons")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.isVisible() and "Not a time zone" in dialog.error.text()
    assert desk_zone() is None and not services.settings.value(DISPLAY_ZONE_KEY)
    dialog.combo.setEditText("asia/tokyo")              # any case: the list's entry
    assert dialog.preview.text().endswith(f" {tokyo}")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dialog.isVisible()
    assert services.settings.value(DISPLAY_ZONE_KEY) == "Asia/Tokyo"

    table = window.incidents.model
    row = table.row_of(inc.id)
    cells = [table.data(table.index(row, c)) for c in range(table.columnCount())]
    assert any(isinstance(c, str) and c.endswith(f" {tokyo}") for c in cells), cells
    shown = [outbox.data(outbox.index(0, c)) for c in range(outbox.columnCount())]
    assert any(isinstance(c, str) and c.endswith(f" {tokyo}") for c in shown), shown
    view = window.incidents.view
    assert f" {pacific} ·" in view.age_label.text()      # the incident's own: its client's


def test_a_new_reminder_stores_utc_and_reads_in_the_clients_zone(qtbot, berlin_desk, window,
                                                                  services):
    from datetime import timedelta

    from PySide6.QtCore import Qt

    client = pacific_client(services)
    now = services.clock.now()
    inc = services.incidents.open(client_id=client.id, title="Portal down",
                                  severity=Severity.SEV2, detected_at=now - timedelta(hours=1))
    due = now - timedelta(minutes=10)
    services.clocks.record_reminders(inc.id, [("status_update", due, "Status update")])
    [reminder] = [e for e in services.incidents.timeline(inc.id) if e.kind == "reminder"]
    assert reminder.data["items"][0]["due_at"] == due.isoformat()     # UTC, +00:00
    assert due.isoformat().endswith("+00:00")
    window.incidents.reload()
    assert window.incidents.select_incident(inc.id)
    view = window.incidents.view
    qtbot.waitUntil(lambda: view.incident is not None and view.incident.id == inc.id)
    model = view.timeline_model
    texts = [model.data(model.index(r, model.SUMMARY), Qt.ItemDataRole.DisplayRole)
             for r in range(model.rowCount())]
    pacific = due.astimezone(zone_named("America/Los_Angeles"))
    # the day is named too when the due time falls on another day than today, out there
    # (just after midnight Pacific time: 08:00–08:30 UTC)
    assert any(t.startswith("Overdue: Status update (due ")
               and t.endswith(f"{pacific:%H:%M} {pacific.tzname()})") for t in texts), texts


def test_the_composer_writes_the_clients_times_with_their_abbreviation(qtbot, berlin_desk,
                                                                        window, services):
    """The machine is in Berlin, the client in Los Angeles: the next update time every
    audience is told is the client's, with its abbreviation; no Berlin time appears."""
    from datetime import timedelta

    from app.domain.dto import Facts
    from app.domain.dto import ContactPointData, StakeholderData

    client = pacific_client(services)
    services.stakeholders.create(StakeholderData(
        client_id=client.id, name="Ana", category="affected_users",
        contacts=(ContactPointData("email", "ana@example.com", 1),)))
    now = services.clock.now()
    inc = services.incidents.open(client_id=client.id, title="Payroll delayed",
                                  severity=Severity.SEV3, detected_at=now)
    later = now + timedelta(minutes=45)
    services.incidents.update_facts(inc.id, Facts(status="Payroll export is delayed",
                                                  next_update_at=later))
    window.compose(inc.id)
    composer = window.composer
    composer.type_combo.setCurrentIndex(composer.type_combo.findData("status_update"))
    with qtbot.waitSignal(composer.rendered, timeout=10000):   # rendered on a worker thread
        composer.refresh()
    pacific = later.astimezone(zone_named("America/Los_Angeles"))
    berlin = later.astimezone()
    told = f"{pacific:%H:%M} {pacific.tzname()}"
    texts = [p.rendered_email.text for p in composer.panels.values() if p.rendered_email]
    assert texts and all(told in t for t in texts), texts
    assert not any(f"{berlin:%H:%M} {berlin.tzname()}" in t for t in texts)
