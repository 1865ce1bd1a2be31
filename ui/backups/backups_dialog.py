"""Settings → Backups…: where the backups of this database are kept (the local folder, or one
chosen — a network share, a synced folder), every backup there and in the local folder with its
time, size, kind and the result of its check, "Back up now", and "Restore…", which asks first
and then hands the file to the window (it closes, the restore happens with the database closed,
and the window starts again: ui/startup.py).

Everything that touches a backup folder runs on a worker thread — a hung network share must
not freeze the window: listing, the folder check, a backup, and `PRAGMA quick_check` of each
listed backup (one at a time, the Check column filling as results arrive)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton,
    QStyledItemDelegate, QStyleOptionViewItem, QTableView, QVBoxLayout, QWidget,
)

from app.backups.copies import BUDGET_FACTOR, DAILY, HOURLY, Backup
from app.backups.schedule import INTERVAL_S
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index
from ui.widgets.forms import ErrorLabel, NoticeLabel, configure_table, named
from ui.worker import Worker

NOT_CHECKED = "not checked yet"
CHECKING = "checking…"
FOLDER_WIDTH = 200
OK_COLOUR, PROBLEM_COLOUR, PENDING_COLOUR = "#2e7d32", "#b3261e", "#6b6b6b"


def size_text(size: int) -> str:
    """'820 kB', '12.4 MB', '1.2 GB' (powers of 1024, as file managers mostly show them)."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024)):,} kB"
    if size < 1024 ** 3:
        return f"{size / 1024 ** 2:,.1f} MB"
    return f"{size / 1024 ** 3:,.1f} GB"


def kind_text(tag: str) -> str:
    """'automatic' for one of the rolling set; 'before upgrade from 0012' for a migration's."""
    return tag.replace("-", " ") if tag else "automatic"


def check_backup_file(path: Path) -> str:
    """'ok', or what is wrong with the backup at `path` in words. Never raises: a damaged
    backup must not be taken for damage of the window's own database (ui/worker.py reports
    failures that say "damaged")."""
    from app.backups.restore import check_backup

    try:
        check_backup(path)
    except Exception as exc:  # noqa: BLE001 - every problem is the answer, in words
        # the row names the file: "cannot be restored: it is damaged (…)"
        return " ".join(str(exc).split()).removeprefix(f"{Path(path).name} ")
    return "ok"


class BackupModel(DtoTableModel[Backup]):
    COLUMNS = ("Taken", "Size", "Kind", "Folder", "Check")
    TAKEN, SIZE, KIND, FOLDER, CHECK = range(5)

    def __init__(self, local_folder: Path, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.local_folder = local_folder
        self.checking: Path | None = None

    def check_text(self, b: Backup) -> str:
        if b.check:
            return b.check
        return CHECKING if b.path == self.checking else NOT_CHECKED

    def folder_text(self, b: Backup) -> str:
        return "local" if b.path.parent == self.local_folder else str(b.path.parent)

    def cells(self, b: Backup) -> tuple[str, ...]:
        return (format_local(b.taken_at), size_text(b.size), kind_text(b.tag),
                self.folder_text(b), self.check_text(b))

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        b, col = self._rows[index.row()], index.column()
        if role == DTO_ROLE:
            return b
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cells(b)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.FOLDER:
                return str(b.path)
            if col == self.SIZE:
                return f"{b.size:,} bytes"
            return self.cells(b)[col]
        if role == SORT_ROLE:
            return {self.TAKEN: b.taken_at.timestamp(), self.SIZE: b.size}.get(
                col, self.cells(b)[col])
        if role == Qt.ItemDataRole.ForegroundRole and col == self.CHECK:
            return QColor(OK_COLOUR if b.check == "ok" else PROBLEM_COLOUR if b.check
                          else PENDING_COLOUR)
        return None

    def row_of(self, path: Path) -> int:
        for n, b in enumerate(self._rows):
            if b.path == path:
                return n
        return -1

    def set_check(self, path: Path, check: str) -> None:
        n = self.row_of(path)
        if n < 0:
            return
        self._rows[n] = dataclasses.replace(self._rows[n], check=check)
        self.refresh_row(n)

    def refresh_row(self, n: int) -> None:
        if 0 <= n < len(self._rows):
            self.dataChanged.emit(self.index(n, 0), self.index(n, len(self.COLUMNS) - 1))


class _MiddleElided(QStyledItemDelegate):
    """A path too long for its column keeps both ends: '/mnt/sha…/clarion-backups'."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class BackupsDialog(QDialog):
    """The backups of the window's database. `window_restore(path)` is called with the backup
    to restore once the person confirmed (the main window closes and restores it);
    `sending_now()` says whether deliveries are being sent right now (then Restore waits)."""

    def __init__(self, services: Any, window_restore: Callable[[Path], None],
                 parent: QWidget | None = None,
                 sending_now: Callable[[], bool] | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.config = services.config
        self.db_path = Path(services.store.path)
        self.window_restore = window_restore
        self.sending_now = sending_now or self._deliveries_sending
        self.checks: dict[Path, str] = {}   # results so far, kept across reloads
        self._queue: list[Path] = []
        self._list_again = False                  # a reload was asked while one ran
        self._select_when_listed: Path | None = None   # the backup just taken
        self._action_done: Callable[[Any], None] | None = None
        self._action_failed: Callable[[Any], None] | None = None
        self.setObjectName("backupsDialog")
        self.setAccessibleName("Backups")
        self.setWindowTitle("Settings — backups")
        self.resize(1000, 560)

        # where
        self.folder_label = QLabel()
        self.folder_label.setObjectName("backupFolderLabel")
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change_button = named(QPushButton("Change folder…"), "changeBackupFolderButton",
                                   "Change the backup folder",
                                   "Keep the backups in another folder: a network share or a "
                                   "synced folder")
        self.local_button = named(QPushButton("Use the local folder"), "localBackupFolderButton",
                                  "Use the local backup folder",
                                  f"Keep the backups in {self.config.backup_dir}")
        self.change_button.clicked.connect(self.change_folder)
        self.local_button.clicked.connect(lambda: self.set_folder(None))
        self.folder_error = ErrorLabel("backupFolderError")
        hours = int(INTERVAL_S // 60)
        self.note = QLabel(
            f"Clarion backs up by itself at most every {hours} minutes after a change, and "
            "when the window closes. Of those it keeps the newest of each of the last "
            f"{HOURLY} hours and of each of the last {DAILY} days, within {BUDGET_FACTOR} "
            "times the database's size (the oldest go first). Backups taken before an upgrade "
            "are kept as they are.")
        self.note.setObjectName("backupRulesNote")
        self.note.setWordWrap(True)
        self.notice = NoticeLabel("backupsNotice")
        self.progress = QLabel()
        self.progress.setObjectName("backupCheckProgress")

        # the list
        self.model = BackupModel(self.config.backup_dir, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = configure_table(named(QTableView(), "backupsTable", "Backups",
                                           "Every backup of this database, newest first"))
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(BackupModel.TAKEN, Qt.SortOrder.DescendingOrder)
        self.table.setWordWrap(False)
        self.table.setItemDelegateForColumn(BackupModel.FOLDER, _MiddleElided(self.table))
        header = self.table.horizontalHeader()
        for column in range(len(BackupModel.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # a long share path must not push the check out of sight: elided in the middle, the
        # whole path in the tooltip (and in the label above for the chosen folder)
        header.setSectionResizeMode(BackupModel.FOLDER, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(BackupModel.FOLDER, FOLDER_WIDTH)
        header.setSectionResizeMode(BackupModel.CHECK, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.activated.connect(lambda _index: self.restore_selected())

        # buttons
        self.back_up_button = named(QPushButton("Back up now"), "backUpNowButton",
                                    "Back up now", "Take a checked backup of the database now")
        self.restore_button = named(QPushButton("Restore…"), "restoreBackupButton",
                                    "Restore the chosen backup")
        self.close_button = named(QPushButton("Close"), "backupsCloseButton", "Close")
        self.back_up_button.clicked.connect(self.back_up_now)
        self.restore_button.clicked.connect(self.restore_selected)
        self.close_button.clicked.connect(self.reject)
        self.restore_button.setEnabled(False)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.change_button)
        folder_row.addWidget(self.local_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.back_up_button)
        bottom.addWidget(self.restore_button)
        bottom.addStretch(1)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(folder_row)
        layout.addWidget(self.folder_error)
        layout.addWidget(self.note)
        layout.addWidget(self.notice)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        self.lister = Worker(self)        # lists the folders
        self.lister.finished.connect(self._listed)
        self.lister.failed.connect(self._list_failed)
        self.checker = Worker(self)       # checks one backup at a time
        self.checker.finished.connect(self._checked)
        self.checker.failed.connect(lambda exc: self._checked((self.model.checking, str(exc))))
        self.actions = Worker(self)       # a backup now, or a new folder
        self.actions.finished.connect(lambda result: self._finish(result, ok=True))
        self.actions.failed.connect(lambda exc: self._finish(exc, ok=False))
        self._show_folder()
        self.reload()

    # -- where

    def chosen(self) -> Path | None:
        from app.backups.folder import chosen_folder

        return chosen_folder(self.config)   # reads a small local file, never the folder

    def _show_folder(self) -> None:
        chosen = self.chosen()
        folder = chosen or self.config.backup_dir
        where = str(folder) if chosen else f"{folder} (the local folder)"
        self.folder_label.setText(f"Backups of {self.db_path.name} are kept in: {where}")
        self.folder_label.setAccessibleName(self.folder_label.text())
        self.local_button.setEnabled(chosen is not None)

    def change_folder(self) -> None:
        start = self.chosen() or self.config.backup_dir
        name = QFileDialog.getExistingDirectory(self, "Folder for the backups", str(start))
        if name:
            self.set_folder(Path(name))

    def set_folder(self, folder: Path | None) -> None:
        """Keep the backups in `folder` (None: the local folder), checked on the worker: it is
        created if need be and must take a file, else the error shows and nothing changes."""
        from app.backups.folder import choose_folder

        self.folder_error.clear_error()
        config = self.config
        self._run(lambda: choose_folder(config, folder), self._folder_set, self._folder_refused)

    def _folder_set(self, folder: object) -> None:
        self._show_folder()
        self.notice.show_info(f"Backups go to {folder} from now on." if folder is not None
                              else "Backups go to the local folder from now on.")
        self.reload()

    def _folder_refused(self, exc: object) -> None:
        self.folder_error.show_error(str(exc))

    # -- the list

    def reload(self) -> None:
        """List the backups again (on the worker), then check those not checked yet."""
        if self.lister.running:
            self._list_again = True
            return
        from app.backups.folder import all_backups, where_to_back_up

        config, stem = self.config, self.db_path.stem
        self.progress.setText("Looking for backups…")
        self.lister.start(lambda: (where_to_back_up(config), all_backups(config, stem)))

    def _listed(self, result: object) -> None:
        where, backups = result  # type: ignore[misc]
        selected = self._select_when_listed or getattr(self.selected(), "path", None)
        self._select_when_listed = None
        self.model.replace_rows(dataclasses.replace(b, check=self.checks.get(b.path, ""))
                                for b in backups)
        if selected is not None:
            self.select(selected)
        if where.fallback:
            self.notice.show_error(where.fallback)
        self._queue = [b.path for b in backups
                       if b.path not in self.checks and b.path != self.model.checking]
        self._check_next()
        self._selected()
        if self._list_again:
            self._list_again = False
            self.reload()

    def _list_failed(self, exc: object) -> None:
        self.progress.setText(f"The backups could not be listed: {exc}")

    def _check_next(self) -> None:
        total = self.model.rowCount()
        if self.checker.running:
            return
        while self._queue and self.model.row_of(self._queue[0]) < 0:
            self._queue.pop(0)
        if not self._queue:
            self.model.checking = None
            self.progress.setText(self._summary(total))
            return
        path = self._queue.pop(0)
        self.model.checking = path
        self.model.refresh_row(self.model.row_of(path))
        done = sum(1 for n in range(total) if self.model.row_at(n).check)
        self.progress.setText(f"Checking {done + 1} of {total}…")
        self.checker.start(lambda: (path, check_backup_file(path)))

    def _summary(self, total: int) -> str:
        if total == 0:
            return "There are no backups of this database yet."
        bad = sum(1 for n in range(total) if self.model.row_at(n).check not in ("ok", ""))
        noun = "backup" if total == 1 else "backups"
        if not bad:
            return f"{total} {noun}, all checked: ok."
        return (f"{total} {noun} checked: {bad} cannot be restored (see Check).")

    def _checked(self, result: object) -> None:
        path, check = result  # type: ignore[misc]
        if path is None:
            return
        self.checks[path] = check
        self.model.checking = None
        self.model.set_check(path, check)
        self._selected()
        self._check_next()

    # -- the chosen backup

    def selected(self) -> Backup | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(DTO_ROLE) if rows else None

    def select(self, path: Path) -> None:
        n = self.model.row_of(path)
        if n >= 0:
            self.table.selectRow(self.proxy.mapFromSource(self.model.index(n, 0)).row())

    def _selected(self, *_args: QItemSelection) -> None:
        b = self.selected()
        can = b is not None and b.check in ("ok", "")
        self.restore_button.setEnabled(can)
        if b is None:
            tip = "Choose a backup in the list first"
        elif can:
            tip = f"Put the backup from {format_local(b.taken_at)} back in place"
        else:
            tip = (f"This backup {b.check}" if b.check.startswith("cannot be restored")
                   else f"This backup cannot be restored: {b.check}")
        self.restore_button.setToolTip(tip)
        self.restore_button.setAccessibleDescription(tip)

    def confirmation(self, b: Backup) -> str:
        return (f"Restore the backup from {format_local(b.taken_at)}? Changes after it are "
                "lost. The current database is kept aside. Messages not yet sent will be held "
                "for your review. Clarion will restart.")

    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(
            self, "Restore this backup?", text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def restore_selected(self) -> bool:
        """Ask, then hand the chosen backup to the window. True if it was handed over."""
        b = self.selected()
        if b is None or b.check not in ("ok", ""):
            return False
        if self.sending_now():
            self.notice.show_error("Wait until the sending in progress ends: a restore now "
                                   "would pull the record from under it. Then restore.")
            return False
        if not self.confirm(self.confirmation(b)):
            return False
        self.accept()
        self.window_restore(b.path)
        return True

    def _deliveries_sending(self) -> bool:
        return self.services.outbox.counts().get("sending", 0) > 0

    # -- back up now

    def back_up_now(self) -> None:
        from app.backups.copies import rolling_backup
        from app.backups.folder import where_to_back_up

        config, db = self.config, self.db_path

        def back_up() -> object:
            where = where_to_back_up(config)
            backup, _removed = rolling_backup(db, where.folder, datetime.now(UTC))
            return where, backup

        self.notice.show_info("Backing up…")
        self._select_when_listed = None
        self._run(back_up, self._backed_up, self._backup_failed)

    def _backed_up(self, result: object) -> None:
        where, backup = result  # type: ignore[misc]
        self.checks[backup.path] = backup.check   # online_backup checked it ("ok")
        text = f"Backed up: {backup.path} ({size_text(backup.size)}, checked)."
        if where.fallback:
            self.notice.show_error(f"{where.fallback} {text}")
        else:
            self.notice.show_info(text)
        self._select_when_listed = backup.path
        self.reload()

    def _backup_failed(self, exc: object) -> None:
        self.notice.show_error(f"The backup was not taken: {exc}")

    # -- one action at a time on the worker

    def _run(self, fn: Callable[[], Any], done: Callable[[Any], None],
             failed: Callable[[Any], None]) -> None:
        if self.actions.running:
            return
        self._action_done, self._action_failed = done, failed
        for button in (self.back_up_button, self.change_button, self.local_button):
            button.setEnabled(False)
        self.actions.start(fn)

    def _finish(self, result: object, ok: bool) -> None:
        done, failed = self._action_done, self._action_failed
        self._action_done = self._action_failed = None
        self.back_up_button.setEnabled(True)
        self.change_button.setEnabled(True)
        self._show_folder()
        handler = done if ok else failed
        if handler is not None:
            handler(result)
