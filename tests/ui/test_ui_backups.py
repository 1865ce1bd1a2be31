"""Backups by themselves in the window: after a change (the look every minute, on a worker
thread), and when the window closes; a failure said once in the status bar."""

from __future__ import annotations

from datetime import datetime, timezone

from app.backups.copies import list_backups


def _backups(services):  # type: ignore[no-untyped-def]
    return list_backups(services.config.backup_dir, services.store.path.stem)


def _change(services, title: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with services.store.engine.begin() as conn:
        conn.execute(text("UPDATE clients SET name = :n"), {"n": title})


def test_the_window_backs_up_after_changes_and_when_it_closes(qtbot, window, services):
    keeper = window.start_backups()
    assert keeper.timer.isActive() and keeper.timer.interval() == 60_000
    before = len(_backups(services))
    with qtbot.waitSignal(keeper.backed_up, timeout=20000) as caught:
        assert keeper.look()
    assert caught.args[0].check == "ok" and len(_backups(services)) == before + 1
    assert not keeper.look()            # nothing changed since
    _change(services, "Changed after the backup")
    assert not keeper.look()            # changed, but the last backup is not ten minutes old
    keeper.auto.last_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with qtbot.waitSignal(keeper.backed_up, timeout=20000):
        assert keeper.look()
    _change(services, "Changed once more")
    assert keeper.auto.due(datetime.now(timezone.utc), closing=True) is not None
    window.close()                      # a last backup, since the record moved
    assert not window.isVisible()
    newest = _backups(services)[0]
    import sqlite3

    name = sqlite3.connect(newest.path).execute("SELECT name FROM clients").fetchone()[0]
    assert name == "Changed once more"


def test_a_failing_backup_is_said_once(qtbot, window, services, monkeypatch):
    import app.backups.copies as copies

    keeper = window.start_backups()

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise copies.BackupError("Cannot write a backup in /mnt/share: No space left on device.")

    monkeypatch.setattr(copies, "rolling_backup", broken)
    said: list[str] = []
    keeper.said.connect(said.append)
    keeper.worker.failed.connect(lambda _e: None)
    with qtbot.waitSignal(keeper.worker.failed, timeout=20000):
        keeper.look()
    qtbot.waitUntil(lambda: not keeper.worker.running)
    with qtbot.waitSignal(keeper.worker.failed, timeout=20000):
        assert keeper.look()
    qtbot.waitUntil(lambda: not keeper.worker.running)
    assert said == ["The automatic backup failed: Cannot write a backup in /mnt/share: No "
                    "space left on device."]
    assert "No space left" in window.statusBar().currentMessage()
