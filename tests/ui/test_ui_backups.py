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
    with qtbot.waitSignal(keeper.worker.failed, timeout=20000):
        keeper.look()
    qtbot.waitUntil(lambda: not keeper.worker.running)
    with qtbot.waitSignal(keeper.worker.failed, timeout=20000):
        assert keeper.look()
    qtbot.waitUntil(lambda: not keeper.worker.running)
    assert said == ["The automatic backup failed: Cannot write a backup in /mnt/share: No "
                    "space left on device."]
    assert "No space left" in window.statusBar().currentMessage()


def test_the_damaged_database_dialog_restores_the_newest_backup(qtbot, tmp_path):
    import sqlite3

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    from app.backups.copies import rolling_backup
    from app.backups.damage import damaged
    from app.storage import Store
    from ui.startup import offer_restore

    db = tmp_path / "data" / "clarion.db"
    Store.open(db).dispose()
    folder = tmp_path / "data" / "backups"
    backup, _ = rolling_backup(db, folder, datetime(2026, 12, 6, 14, 20, tzinfo=timezone.utc))
    db.write_bytes(b"not a database any more" * 100)
    found = damaged(db, sqlite3.DatabaseError("file is not a database"), folder)
    seen: dict[str, str] = {}

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, answer)
            return
        seen["title"], seen["text"] = box.windowTitle(), box.text()
        buttons = {b.objectName(): b.text() for b in box.findChildren(QPushButton)}
        seen["buttons"] = " | ".join(sorted(buttons.values()))
        box.findChild(QPushButton, "restoreNewestBackupButton").click()
        QTimer.singleShot(20, close_information)

    def close_information() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or box.windowTitle() != "Restored":
            QTimer.singleShot(20, close_information)
            return
        seen["after"] = box.text()
        box.accept()

    QTimer.singleShot(20, answer)
    assert offer_restore(found) is True
    assert seen["title"] == "The database is damaged"
    assert "is damaged: it is not a database file" in seen["text"]
    assert "Sending is stopped" in seen["text"] and "clarion restore" not in seen["text"]
    assert "The newest backup is from 06 Dec 2026" in seen["text"]
    assert "Restore the backup from 06 Dec" in seen["buttons"] and "Quit" in seen["buttons"]
    assert "changes after it are lost" in seen["buttons"]
    assert "The database it replaced is kept at" in seen["after"]
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert backup.path.exists()
