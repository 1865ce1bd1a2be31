"""The window's daily full check also verifies every incident's hash chain from its first entry:
a timeline changed outside Clarion is said once, without blocking, naming the incident; a
chain that holds says nothing; the quick check of a later start does not re-hash."""

from __future__ import annotations

from app.domain.enums import Severity
from app.incidents.lifecycle import IncidentService


def _incident_with_notes(services, title: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    incidents = IncidentService(services.store, services.clock, services.events,
                                actor="UI Tester")
    opened = incidents.open(client_id=1, title=title, severity=Severity.SEV2,
                            detected_at=services.clock.now())
    note = incidents.add_note(opened.id, "Decided to notify the regulator at 10:00")
    incidents.add_note(opened.id, "later")
    return opened.id, note.id


def _rewrite(services, entry_id: int) -> None:  # type: ignore[no-untyped-def]
    raw = services.store.engine.raw_connection()
    try:
        raw.execute("DROP TRIGGER timeline_entries_no_update")
        raw.execute(f"UPDATE timeline_entries SET summary = 'Decided to wait' "
                    f"WHERE id = {entry_id}")
        raw.commit()
    finally:
        raw.close()


def test_the_daily_check_says_once_which_incident_was_changed_outside_clarion(
        qtbot, window, services):
    kept, _ = _incident_with_notes(services, "Portal down")
    changed, entry_id = _incident_with_notes(services, "Lab results misdirected")
    _rewrite(services, entry_id)
    watch = window.check_database()
    with qtbot.waitSignal(watch.chains_broken, timeout=20000) as seen:
        pass
    assert [r.incident_id for r in seen.args[0]] == [changed]
    box = window.records_box
    qtbot.waitUntil(box.isVisible)
    assert not box.isModal() and box.objectName() == "recordsChangedBox"
    assert f"#{changed} Lab results misdirected: entry {entry_id}" in box.text()
    assert f"#{kept} " not in box.text()
    assert "clarion verify" in box.informativeText()
    box.close()


def test_a_chain_that_holds_says_nothing_and_a_later_start_does_not_rehash(
        qtbot, window, services, monkeypatch):
    _incident_with_notes(services, "Portal down")
    said = []
    watch = window.check_database()
    watch.chains_broken.connect(said.append)
    with qtbot.waitSignal(watch.checked, timeout=20000) as first:
        pass
    assert first.args[0].ok and first.args[0].full
    assert said == [] and window.records_box is None
    import app.record.verify as verify

    called = []
    monkeypatch.setattr(verify, "verify_all", lambda *a, **k: called.append(1) or [])
    with qtbot.waitSignal(watch.checked, timeout=20000) as second:
        watch.start()           # the same day: the quick check, no chains re-hashed
    assert not second.args[0].full and called == []
