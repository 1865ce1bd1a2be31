"""The incident view says whether the shown incident's record holds (ui/incidents/record_check.py):
checked on a worker thread when the incident is opened and after entries are appended, from the
last verified link; a changed entry is named; a check that cannot run is said in words."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.domain.enums import Severity
from app.record import verify

WAIT = 15000    # ms: the checks run beside a busy machine


def _open(services, title: str, notes: int = 0):
    inc = services.incidents.open(client_id=_client(services), title=title,
                                  severity=Severity.SEV2, detected_at=services.clock.now())
    for n in range(notes):
        services.incidents.add_note(inc.id, f"Update {n + 1} on {title}")
    return inc


def _client(services) -> int:
    from app.stakeholders.clients import list_clients

    return list_clients(services.store)[0].id


def _window(request):
    """The main window, opened after the test has written its incidents (opening one selects
    it and checks it at once)."""
    return request.getfixturevalue("window")


def _show(qtbot, window, inc, state: str = "verified"):
    """Select `inc` in the Incidents workspace; wait until its record check says `state`."""
    ws = window.incidents
    ws.reload()
    assert ws.select_incident(inc.id)
    label = ws.view.record_check
    qtbot.waitUntil(lambda: ws.view.incident is not None and ws.view.incident.id == inc.id)
    qtbot.waitUntil(lambda: label.state == state and label.report is not None
                    and label.report.incident_id == inc.id if state != "not_checked"
                    else label.state == state, timeout=WAIT)
    return label


def _tamper(services, entry_id: int, summary: str, forget: bool = False) -> None:
    """Change an entry's summary behind Clarion's back (as a sqlite3 shell would)."""
    with services.store.engine.connect() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS timeline_entries_no_update")
        conn.exec_driver_sql("UPDATE timeline_entries SET summary = ? WHERE id = ?",
                             (summary, entry_id))
        if forget:
            conn.exec_driver_sql("DELETE FROM timeline_checked")
        conn.commit()


def test_opening_an_incident_verifies_its_record_off_the_gui_thread(
        qtbot, request, services, monkeypatch):
    threads = []
    original = verify.verify_incident

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(verify, "verify_incident", recorded)
    inc = _open(services, "Payroll system unreachable", notes=3)
    window = _window(request)
    label = _show(qtbot, window, inc)

    assert window.findChild(QLabel, "recordCheckLabel") is label
    assert label.isVisible()
    assert "Record verified" in label.text()
    tip = label.toolTip()
    assert "The timeline's 4 entries match their hash chain" in tip
    assert f"head: number 4, {label.report.head_hash}" in tip
    assert "Checked " in tip and "whole chain was checked" in tip
    assert label.accessibleName() == "Record check: ✓ Record verified"
    said = label.accessibleDescription()      # the same words, without the markup
    assert "The timeline's 4 entries match their hash chain" in said and "<p>" not in said
    # the check ran on a worker, never on the GUI thread
    assert threads and all(t is not threading.main_thread() for t in threads)
    # and remembered its head: the next check starts after it
    assert label.report.holds and label.report.hashed == 4 and not label.report.incremental


def test_a_changed_entry_is_named_and_what_to_do_is_said(qtbot, request, services):
    inc = _open(services, "Patient portal unavailable", notes=2)
    other = _open(services, "Printers offline")
    window = _window(request)
    label = _show(qtbot, window, inc)
    note = next(e for e in services.incidents.timeline(inc.id) if e.summary.startswith("Update 1"))
    # remembered up to its head: the change must be found by a cold check of that part
    _tamper(services, note.id, "Nothing happened", forget=True)
    _show(qtbot, window, other)
    _show(qtbot, window, inc, state="broken")

    assert "Record changed outside Clarion" in label.text()
    assert "Record verified" not in label.text()
    tip = label.toolTip()
    assert f"entry {note.id}" in tip and "Nothing happened" in tip
    assert "does not match its hash" in tip
    assert "keep the database as it is" in tip and "clarion verify" in tip
    assert "compare it with a backup" in tip
    said = label.accessibleDescription()
    assert f"Entry {note.id} (number 2, written " in said and "“Nothing happened”" in said
    assert "clarion verify" in said
    assert label.focusPolicy() == Qt.FocusPolicy.StrongFocus    # Details… by keyboard too
    box = label.show_details()
    assert box is not None and box.isVisible()
    assert f"entry {note.id}" in box.informativeText()
    assert "clarion verify" in box.informativeText()
    box.close()


def test_an_entry_changed_after_the_verified_link_is_found_incrementally(
        qtbot, request, services):
    inc = _open(services, "VPN down", notes=1)
    other = _open(services, "Badge readers down")
    window = _window(request)
    _show(qtbot, window, inc)
    _show(qtbot, window, other)
    added = services.incidents.add_note(inc.id, "Vendor is on site")   # not shown: not checked
    _tamper(services, added.id, "Vendor never came")
    label = _show(qtbot, window, inc, state="broken")
    assert label.report.incremental and label.report.from_seq == 2
    assert f"entry {added.id}" in label.toolTip()


def test_an_appended_note_is_checked_from_the_last_verified_link(qtbot, request, services):
    inc = _open(services, "Email down for all staff", notes=5)
    window = _window(request)
    label = _show(qtbot, window, inc)
    assert label.report.hashed == 6
    view = window.incidents.view
    view.note_edit.setPlainText("Mail flows again for the first office.")
    with qtbot.waitSignal(label.checked, timeout=WAIT) as blocker:
        qtbot.mouseClick(view.note_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert report.incident_id == inc.id and report.holds
    assert report.incremental and report.from_seq == 6
    assert 1 <= report.hashed <= 2 and report.entries == 7
    assert "Record verified" in label.text()
    assert "Entries up to number 6 were verified before" in label.toolTip()
    assert "hashed the 1 entry after it" in label.toolTip()


def test_a_burst_of_entries_is_checked_once_after_it(qtbot, request, services, monkeypatch):
    inc = _open(services, "Storage array degraded")
    window = _window(request)
    label = _show(qtbot, window, inc)
    calls = []
    original = verify.verify_incident
    monkeypatch.setattr(verify, "verify_incident",
                        lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    with qtbot.waitSignal(label.checked, timeout=WAIT) as blocker:
        for n in range(5):
            services.incidents.add_note(inc.id, f"Rebuild at {n * 20} %")
    assert calls == [inc.id]
    assert blocker.args[0].hashed == 5 and blocker.args[0].holds


def test_a_check_that_cannot_run_says_not_checked(qtbot, request, services, monkeypatch):
    def locked(*_args, **_kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(verify, "verify_incident", locked)
    inc = _open(services, "Phones dead at HQ")
    label = _show(qtbot, _window(request), inc, state="not_checked")
    assert "Record not checked" in label.text()
    assert "Record verified" not in label.text()
    assert "database is locked" in label.toolTip()
    assert "Traceback" not in label.toolTip()
    assert label.show_details() is None


def test_a_result_for_an_incident_no_longer_shown_is_ignored(qtbot, services, monkeypatch):
    """One check at a time per view; the one asked for meanwhile runs after; a late answer
    about the incident left behind changes nothing; no incident: nothing shown."""
    from ui.incidents.incident_view import IncidentView

    first = _open(services, "Wi-Fi down")
    second = _open(services, "Intranet slow")
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()
    original = verify.verify_incident

    def slow(store, incident_id, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            if incident_id == first.id:
                release.wait(10)
            return original(store, incident_id, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(verify, "verify_incident", slow)
    view = IncidentView(services)
    qtbot.addWidget(view)
    view.show()
    label = view.record_check
    seen = []
    label.checked.connect(seen.append)
    view.set_incident(first)
    assert label.state == "checking" and "Checking the record" in label.text()
    qtbot.waitUntil(lambda: label.worker.running, timeout=WAIT)   # once painted
    view.set_incident(second)            # the first check is still running
    assert label.worker.running and label.state == "checking"
    release.set()
    qtbot.waitUntil(lambda: label.report is not None, timeout=WAIT)
    assert [r.incident_id for r in seen] == [second.id]
    assert label.report.incident_id == second.id and label.state == "verified"
    assert most[0] == 1
    view.set_incident(None)
    assert label.text() == "" and not label.isVisible()

