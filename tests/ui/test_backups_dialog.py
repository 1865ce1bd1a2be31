"""Settings → Backups…: the list of backups with time, size, kind, folder and the result of a
check run on a worker; Back up now; a backup folder chosen (and one refused); Restore… asks and
hands the backup to the window. And the automatic backups: into the chosen folder, to the local
one while it is unreachable — said once, and once when it is back."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.backups.copies import backup_name, list_backups, online_backup, rolling_backup
from app.backups.folder import choose_folder, chosen_folder, settings_path
from app.timefmt import format_local
from ui.backups import backups_dialog as module
from ui.backups.backups_dialog import BackupModel, BackupsDialog, size_text

CHECKS_TIMEOUT = 20000


def _checkpoint(services) -> None:  # type: ignore[no-untyped-def]
    """The rolling set stays within ten times the database file's size: a fresh database is
    nearly all in its -wal until a checkpoint, and its set would be one backup."""
    conn = sqlite3.connect(services.store.path)
    try:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    finally:
        conn.close()
    assert services.store.path.stat().st_size > 100_000


def _take(services, count: int, folder: Path | None = None) -> list:  # type: ignore[no-untyped-def]
    """`count` backups of the window's database, an hour apart, the newest an hour and five
    minutes ago (a backup taken now does not replace it: one per hour is kept)."""
    _checkpoint(services)
    folder = folder or services.config.backup_dir
    now = datetime.now(UTC).replace(microsecond=0)
    return [rolling_backup(services.store.path, folder, now - timedelta(hours=n + 1, minutes=5))[0]
            for n in reversed(range(count))]


def _cells(dialog: BackupsDialog) -> list[tuple[str, ...]]:
    """The table as shown (through the sorting proxy), row by row."""
    proxy = dialog.proxy
    return [tuple(proxy.index(r, c).data() for c in range(proxy.columnCount()))
            for r in range(proxy.rowCount())]


def _all_checked(dialog: BackupsDialog) -> bool:
    rows = _cells(dialog)
    return bool(rows) and not dialog.checker.running and all(
        r[BackupModel.CHECK] not in (module.NOT_CHECKED, module.CHECKING) for r in rows)


def _open(qtbot, services, window, restore=None, sending_now=None):  # type: ignore[no-untyped-def]
    calls: list[Path] = []
    dialog = BackupsDialog(services, restore or calls.append, window, sending_now=sending_now)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: _all_checked(dialog), timeout=CHECKS_TIMEOUT)
    return dialog, calls


def _select(qtbot, dialog: BackupsDialog, path: Path) -> None:
    dialog.select(path)
    qtbot.waitUntil(lambda: dialog.selected() is not None and dialog.selected().path == path)


def _corrupt(path: Path) -> None:
    """Overwrite the middle third of the file, as a failing disk or a bad sync might."""
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third:2 * third] = b"Z" * third
    path.write_bytes(bytes(data))


def test_the_menu_opens_the_list_of_backups_checked_on_a_worker(qtbot, window, services,
                                                                monkeypatch):
    taken = _take(services, 3)
    release = threading.Event()
    real_check = module.check_backup_file
    threads: list[bool] = []

    def slow_check(path: Path) -> str:   # holds the first check until the test looked
        threads.append(threading.current_thread() is threading.main_thread())
        release.wait(CHECKS_TIMEOUT / 1000)
        return real_check(path)

    monkeypatch.setattr(module, "check_backup_file", slow_check)
    action = next(a for a in window.findChildren(type(window.new_action))
                  if a.objectName() == "backupsAction")
    assert action.text() == "&Backups…"
    action.trigger()
    dialog = window.backups_dialog
    assert isinstance(dialog, BackupsDialog) and dialog.isVisible()
    assert dialog.objectName() == "backupsDialog"
    assert dialog.testAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    qtbot.waitUntil(lambda: dialog.progress.text() == "Checking 1 of 3…", timeout=10000)
    rows = _cells(dialog)
    assert [r[BackupModel.CHECK] for r in rows].count(module.CHECKING) == 1
    assert [r[BackupModel.CHECK] for r in rows].count(module.NOT_CHECKED) == 2
    release.set()
    qtbot.waitUntil(lambda: _all_checked(dialog), timeout=CHECKS_TIMEOUT)
    assert threads == [False, False, False]          # every check ran off the GUI thread
    assert dialog.progress.text() == "3 backups, all checked: ok."
    newest_first = list(reversed(taken))
    assert _cells(dialog) == [(format_local(b.taken_at), size_text(b.size), "automatic",
                               "local", "ok") for b in newest_first]
    assert all(size_text(b.size).endswith(" kB") for b in taken)
    assert dialog.folder_label.text() == (
        f"Backups of {services.store.path.name} are kept in: {services.config.backup_dir} "
        "(the local folder)")
    assert "every 10 minutes" in dialog.note.text() and "24 hours" in dialog.note.text()
    assert "14 days" in dialog.note.text() and "10 times the database's size" in \
        dialog.note.text()
    assert not dialog.local_button.isEnabled()       # the local folder is the one in use
    dialog.table.sortByColumn(BackupModel.TAKEN, Qt.SortOrder.AscendingOrder)
    assert [r[0] for r in _cells(dialog)] == [format_local(b.taken_at) for b in taken]
    for widget in (dialog.table, dialog.change_button, dialog.local_button,
                   dialog.back_up_button, dialog.restore_button, dialog.close_button):
        assert widget.objectName() and widget.accessibleName()


def test_a_damaged_backup_shows_its_problem_and_cannot_be_restored(qtbot, window, services):
    good, damaged = _take(services, 2)
    _corrupt(damaged.path)
    renamed = services.config.backup_dir / backup_name(
        services.store.path.stem, datetime.now(UTC) - timedelta(days=3)).replace(
        ".db", "-before-upgrade-from-0012.db")
    online_backup(services.store.path, renamed)
    dialog, calls = _open(qtbot, services, window)
    by_path = {dialog.proxy.index(r, 0).data(module.DTO_ROLE).path: row
               for r, row in enumerate(_cells(dialog))}
    assert by_path[good.path][BackupModel.CHECK] == "ok"
    problem = by_path[damaged.path][BackupModel.CHECK]
    assert problem.startswith("cannot be restored: it is not a readable database (database "
                              "disk image is malformed")
    assert by_path[renamed][BackupModel.KIND] == "before upgrade from 0012"
    assert dialog.progress.text() == "3 backups checked: 1 cannot be restored (see Check)."
    _select(qtbot, dialog, damaged.path)
    assert not dialog.restore_button.isEnabled()
    assert dialog.restore_button.toolTip() == f"This backup {problem}"
    assert dialog.restore_selected() is False and calls == []
    _select(qtbot, dialog, good.path)
    assert dialog.restore_button.isEnabled()


def test_back_up_now_adds_a_checked_backup(qtbot, window, services):
    (first,) = _take(services, 1)
    dialog, _calls = _open(qtbot, services, window)
    assert len(_cells(dialog)) == 1
    qtbot.mouseClick(dialog.back_up_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(_cells(dialog)) == 2 and _all_checked(dialog),
                    timeout=CHECKS_TIMEOUT)
    on_disk = list_backups(services.config.backup_dir, services.store.path.stem)
    assert len(on_disk) == 2
    new = next(b for b in on_disk if b.path != first.path)
    assert dialog.selected() is not None and dialog.selected().path == new.path
    assert _cells(dialog)[0][BackupModel.CHECK] == "ok"
    assert dialog.notice.text() == f"Backed up: {new.path} ({size_text(new.size)}, checked)."
    assert dialog.back_up_button.isEnabled()


def test_a_folder_that_cannot_be_used_is_refused_and_a_good_one_is_kept(
        qtbot, window, services, tmp_path, monkeypatch):
    _take(services, 1)
    dialog, _calls = _open(qtbot, services, window)
    label = dialog.folder_label.text()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    answer = {"folder": str(blocker / "backups")}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_a, **_k: answer["folder"]))
    qtbot.mouseClick(dialog.change_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.folder_error.isVisible(), timeout=10000)
    assert dialog.folder_error.text() == (
        f"Backups cannot be kept in {blocker / 'backups'}: a part of that path is a file, not a "
        "folder. The backup folder was not changed.")
    assert not settings_path(services.config).exists() and chosen_folder(services.config) is None
    assert dialog.folder_label.text() == label

    share = tmp_path / "share" / "clarion"
    answer["folder"] = str(share)
    (on_share,) = _take(services, 1, folder=share)   # backups already there are listed too
    qtbot.mouseClick(dialog.change_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(_cells(dialog)) == 2 and _all_checked(dialog),
                    timeout=CHECKS_TIMEOUT)
    assert not dialog.folder_error.isVisible()
    assert json.loads(settings_path(services.config).read_text()) == {"folder": str(share)}
    assert dialog.folder_label.text() == (
        f"Backups of {services.store.path.name} are kept in: {share}")
    assert sorted(r[BackupModel.FOLDER] for r in _cells(dialog)) == sorted(["local",
                                                                           str(share)])
    assert dialog.notice.text() == f"Backups go to {share} from now on."
    assert dialog.local_button.isEnabled()
    qtbot.mouseClick(dialog.back_up_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(_cells(dialog)) == 3, timeout=CHECKS_TIMEOUT)
    assert len(list_backups(share, services.store.path.stem)) == 2 and on_share.path.exists()

    qtbot.mouseClick(dialog.local_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "(the local folder)" in dialog.folder_label.text(), timeout=10000)
    assert not settings_path(services.config).exists()


def _answer_box(seen: dict, button: QMessageBox.StandardButton) -> None:
    box = QApplication.activeModalWidget()
    if not isinstance(box, QMessageBox):
        QTimer.singleShot(20, lambda: _answer_box(seen, button))
        return
    seen["title"], seen["text"] = box.windowTitle(), box.text()
    box.button(button).click()


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.No,
                                    QMessageBox.StandardButton.Yes])
def test_restore_asks_then_hands_the_backup_to_the_window(qtbot, window, services, answer):
    older, _newer = _take(services, 2)
    dialog, calls = _open(qtbot, services, window)
    _select(qtbot, dialog, older.path)
    assert dialog.restore_button.isEnabled()
    seen: dict = {}
    QTimer.singleShot(20, lambda: _answer_box(seen, answer))
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert seen["text"] == (
        f"Restore the backup from {format_local(older.taken_at)}? Changes after it are lost. "
        "The current database is kept aside. Messages not yet sent will be held for your "
        "review. Clarion will restart.")
    if answer == QMessageBox.StandardButton.Yes:
        assert calls == [older.path] and not dialog.isVisible()
    else:
        assert calls == [] and dialog.isVisible()


def test_restore_waits_while_a_sending_is_in_progress(qtbot, window, services, monkeypatch):
    _take(services, 1)
    dialog, calls = _open(qtbot, services, window, sending_now=lambda: True)
    _select(qtbot, dialog, dialog.proxy.index(0, 0).data(module.DTO_ROLE).path)
    monkeypatch.setattr(dialog, "confirm", lambda _text: pytest.fail("asked while sending"))
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert calls == []
    assert dialog.notice.text().startswith("Wait until the sending in progress ends")


def test_the_dialog_asks_the_outbox_whether_a_sending_is_in_progress(qtbot, window, services,
                                                                     monkeypatch):
    dialog = BackupsDialog(services, lambda _p: None, window)
    qtbot.addWidget(dialog)
    counts = {"sending": 0, "queued": 4}
    monkeypatch.setattr(services.outbox, "counts", lambda: dict(counts))
    assert dialog.sending_now() is False
    counts["sending"] = 1
    assert dialog.sending_now() is True


def test_the_window_closes_to_restore_and_remembers_the_backup(qtbot, window, services,
                                                              monkeypatch):
    (backup,) = _take(services, 1)
    assert window.pending_restore is None
    dialog = window.open_backups()
    qtbot.waitUntil(lambda: _all_checked(dialog), timeout=CHECKS_TIMEOUT)
    _select(qtbot, dialog, backup.path)
    monkeypatch.setattr(dialog, "confirm", lambda _text: True)
    assert dialog.restore_selected() is True
    assert window.pending_restore == backup.path and not window.isVisible()


def _change(services, name: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with services.store.engine.begin() as conn:
        conn.execute(text("UPDATE clients SET name = :n"), {"n": name})


def test_automatic_backups_fall_back_to_the_local_folder_and_say_so_once(
        qtbot, window, services, tmp_path):
    share = tmp_path / "mnt" / "share"
    choose_folder(services.config, share)
    _checkpoint(services)
    keeper = window.start_backups()
    said: list[str] = []
    keeper.said.connect(said.append)
    with qtbot.waitSignal(keeper.backed_up, timeout=CHECKS_TIMEOUT) as caught:
        assert keeper.look()
    assert caught.args[0].path.parent == share and said == []

    for p in share.iterdir():
        p.unlink()
    share.rmdir()                                     # the share is gone
    local = services.config.backup_dir
    for n in range(2):                                # two backups, one sentence
        _change(services, f"While the share is away {n}")
        keeper.auto.last_at = datetime(2026, 1, 1, tzinfo=UTC)
        with qtbot.waitSignal(keeper.backed_up, timeout=CHECKS_TIMEOUT) as caught:
            assert keeper.look()
        assert caught.args[0].path.parent == local
    fallback = (f"The backup folder {share} is unreachable (No such file or directory); "
                f"backups go to {local} until it is back.")
    assert said == [fallback]
    assert window.statusBar().currentMessage() == fallback
    assert not share.exists()                         # not made again on its mount point

    share.mkdir()                                     # back
    _change(services, "The share is back")
    keeper.auto.last_at = datetime(2026, 1, 1, tzinfo=UTC)
    with qtbot.waitSignal(keeper.backed_up, timeout=CHECKS_TIMEOUT) as caught:
        assert keeper.look()
    assert caught.args[0].path.parent == share
    assert said == [fallback, f"Backups go to {share} again."]

    _change(services, "At closing")
    window.close()                                    # the closing backup: the same choice
    newest = list_backups(share, services.store.path.stem)[0]
    conn = sqlite3.connect(newest.path)
    try:
        assert conn.execute("SELECT name FROM clients").fetchone()[0] == "At closing"
    finally:
        conn.close()
