"""A damaged database found while the window runs — by the check after start-up, by a worker's
query, by an error on the GUI thread — stops sending and asks once what to do: restore the
newest backup (the window closes; ui/startup.py restores and starts again), another file, quit."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest
from app.backups.copies import rolling_backup


def _damage_clients_page(services) -> None:  # type: ignore[no-untyped-def]
    """One page of the live file overwritten, after everything was checkpointed into it."""
    db = services.store.path
    probe = sqlite3.connect(db)
    assert probe.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    size = probe.execute("PRAGMA page_size").fetchone()[0]
    [page] = [r[0] for r in probe.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'clients'")]
    probe.close()
    with open(db, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(b"\xa5" * size)


@pytest.fixture
def backup(services):  # type: ignore[no-untyped-def]
    taken, _ = rolling_backup(services.store.path, services.config.backup_dir,
                              datetime(2026, 12, 6, 14, 20, tzinfo=timezone.utc))
    return taken


class Sender:
    """Stands in for the window's OutboxRunner where the test only needs to see it stopped."""

    held_by = None

    def __init__(self) -> None:
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


def test_the_check_after_start_up_finds_damage_stops_sending_and_asks_once(
        qtbot, window, services, backup):
    window.runner = sender = Sender()
    keeper = window.start_backups()
    _damage_clients_page(services)
    watch = window.check_database()
    qtbot.waitUntil(lambda: window.damage is not None, timeout=20000)
    assert not watch.last.ok and watch.last.full   # the first start of the day: the full check
    assert sender.stopped == 1 and not keeper.timer.isActive() and window.backups is None
    assert window.outbox_label.text() == "Sending stopped: the database is damaged"
    box = window.damage_dialog
    qtbot.waitUntil(box.isVisible)
    assert box.objectName() == "damagedDatabaseDialog"
    assert f"The database {services.store.path} is damaged: a page of it is damaged" \
        in box.text()
    assert "Sending is stopped" in box.text()
    assert "The newest backup is from 06 Dec 2026" in box.text()
    assert box.newest_button.text().startswith("Restore the backup from 06 Dec")
    # a second error while the dialog is up changes nothing: asked once
    window.database_error(sqlite3.DatabaseError("database disk image is malformed"))
    assert window.damage_dialog is box and sender.stopped == 1
    box.newest_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert window.pending_restore == backup.path


def test_a_worker_query_on_a_damaged_file_brings_the_same_dialog(qtbot, window, backup):
    from ui.worker import Worker

    window.check_database()
    qtbot.waitUntil(lambda: window.integrity.last is not None, timeout=20000)
    assert window.integrity.last.ok and window.damage is None   # sound until now

    def query() -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    worker = Worker(window)
    with qtbot.waitSignal(worker.failed, timeout=5000):
        worker.start(query)
    qtbot.waitUntil(lambda: window.damage is not None, timeout=5000)
    assert window.damage.what == "a page of it is damaged"
    assert window.damage.newest.path == backup.path
    window.damage_dialog.quit_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert getattr(window, "pending_restore", None) is None   # quit restores nothing


def test_an_unexpected_damage_error_gets_the_damage_dialog_not_a_traceback(qtbot, window,
                                                                          backup):
    from sqlalchemy.exc import DatabaseError

    from ui.excepthook import ExceptionReporter

    window.check_database()
    reporter = ExceptionReporter()
    wrapped = DatabaseError("SELECT 1", {}, sqlite3.DatabaseError("file is not a database"))
    reporter.handle(DatabaseError, wrapped, None)
    qtbot.waitUntil(lambda: window.damage is not None, timeout=5000)
    assert reporter.dialog is None   # no "unexpected error" box with a traceback
    assert window.damage.what.startswith("it is not a database file")
    other = RuntimeError("something else")
    reporter.handle(RuntimeError, other, None)
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    reporter.dialog.close()
    window.damage_dialog.quit_button.click()


def _accept_when_shown(name: str, seen: list[str]) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    box = QApplication.activeModalWidget()
    if box is None or box.objectName() != name:
        QTimer.singleShot(20, lambda: _accept_when_shown(name, seen))
        return
    seen.append(box.text())
    box.accept()


def test_a_restore_asked_for_in_the_window_is_done_closed_and_the_window_starts_again(
        qtbot, monkeypatch, clarion_data_dir):
    from PySide6.QtCore import QTimer

    import ui.startup as startup

    config, store, _clock = startup.open_store(False)
    with store.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE clients SET name = 'As in the backup'"))
    taken, _ = rolling_backup(store.path, config.backup_dir,
                              datetime(2026, 12, 6, 14, 20, tzinfo=timezone.utc))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE clients SET name = 'Changed after the backup'"))
    store.dispose()
    windows: list = []

    def first_paint(window, callback, fallback_ms=2000):  # type: ignore[no-untyped-def]
        windows.append(window)
        if len(windows) == 1:   # the coordinator restores from Settings › Backups
            QTimer.singleShot(0, lambda: window.request_restore(taken.path))
        else:
            QTimer.singleShot(0, window.close)

    monkeypatch.setattr(startup, "after_first_paint", first_paint)
    said: list[str] = []
    QTimer.singleShot(0, lambda: _accept_when_shown("restoredDialog", said))
    assert startup.run_window(False, False, True, None) == 0
    assert len(windows) == 2          # closed, restored, started again
    assert said and said[0].startswith("The backup from 06 Dec 2026")
    assert "The database it replaced is kept at" in said[0]
    db = config.db_path
    name = sqlite3.connect(db).execute("SELECT name FROM clients").fetchone()[0]
    assert name == "As in the backup"
    [aside] = [p for p in db.parent.glob("clarion.db.before-restore-*")
               if not p.name.endswith(("-wal", "-shm"))]
    kept = sqlite3.connect(aside).execute("SELECT name FROM clients").fetchone()[0]
    assert kept == "Changed after the backup"


def test_restore_another_file_asks_for_it_and_asks_again_when_cancelled(
        qtbot, window, services, monkeypatch, tmp_path):
    import ui.backups.damage_dialog as dialogs

    picked: list = [None, tmp_path / "copy-from-the-share.db"]
    monkeypatch.setattr(dialogs, "choose_file", lambda _parent, _start: picked.pop(0))
    window.check_database()
    window.database_error(sqlite3.DatabaseError("database disk image is malformed"))
    box = window.damage_dialog
    qtbot.waitUntil(box.isVisible)
    assert box.newest_button is None   # no backup yet: only another file or quit
    assert "There is no backup of it in the backup folder" in box.text()
    box.other_button.click()           # cancelled: the question is still open
    qtbot.waitUntil(box.isVisible)
    assert window.isVisible() and getattr(window, "pending_restore", None) is None
    box.other_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert window.pending_restore == tmp_path / "copy-from-the-share.db" and not picked


def test_a_restore_that_is_refused_says_why_and_changes_nothing(qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    from app.storage import Store
    from ui.startup import restore_and_say

    db = tmp_path / "data" / "clarion.db"
    Store.open(db).dispose()
    before = db.read_bytes()
    junk = tmp_path / "not-a-backup.db"
    junk.write_bytes(b"name,email\nAnn,ann@example.com\n" * 200)
    said: list[str] = []
    QTimer.singleShot(0, lambda: _accept_when_shown("restoreRefusedDialog", said))
    assert restore_and_say(db, junk) is False
    assert said and said[0].startswith("not-a-backup.db cannot be restored: it is not a "
                                       "readable database")
    assert db.read_bytes() == before and not list(db.parent.glob("*.before-restore-*"))
