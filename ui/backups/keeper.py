"""Backups that happen by themselves while the window is open: a look every minute, a backup
(on a worker thread) when the record changed and the last one is ten minutes old, and one when
the window closes. A failure is said once in the status bar and logged; it never interrupts.

They go to the folder chosen in Settings → Backups (app.backups.folder), decided on the worker
thread (a hung network share must not freeze the window); while it cannot be used they go to
the local folder, and the status bar says so once, and once again when it is back."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.backups.schedule import AutoBackup

log = logging.getLogger(__name__)

LOOK_EVERY_MS = 60_000


class BackupKeeper(QObject):
    said = Signal(str)       # one line for the status bar
    backed_up = Signal(object)   # the Backup

    def __init__(self, services: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from ui.worker import Worker

        self.services = services
        self.auto = AutoBackup(services.store.path, services.config.backup_dir)
        self.worker = Worker(self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self._pending: tuple[tuple[int, ...], datetime] | None = None
        self._where: dict[str, Any] = {}   # where the running backup went (set on the worker)
        self._failing = False
        self._falling_back = False   # the chosen folder could not be used the last time
        self.timer = QTimer(self)
        self.timer.setObjectName("backupTimer")
        self.timer.setInterval(LOOK_EVERY_MS)
        self.timer.timeout.connect(self.look)
        self.timer.start()

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def look(self) -> bool:
        """Start a backup if one is due; True if one was started."""
        if self.worker.running:
            return False
        now = self._now()
        due = self.auto.due(now)
        if due is None:
            return False
        from app.backups.copies import rolling_backup
        from app.backups.folder import where_to_back_up

        db, config = self.auto.db_path, self.services.config
        self._pending = (due, now)
        where: dict[str, Any] = {}
        self._where = where

        def back_up() -> object:   # on the worker thread: the folder check may block
            where["where"] = where_to_back_up(config)
            return rolling_backup(db, where["where"].folder, now)

        self.worker.start(back_up)
        return True

    def _tell_where(self) -> None:
        """Say once that backups go to the local folder, and once that they go to the chosen
        folder again."""
        where = self._where.get("where")
        self._where = {}
        if where is None:
            return
        if where.fallback is not None:
            if not self._falling_back:
                log.warning("%s", where.fallback)
                self.said.emit(where.fallback)
            self._falling_back = True
        elif self._falling_back:
            self._falling_back = False
            if where.folder != self.services.config.backup_dir:
                self.said.emit(f"Backups go to {where.folder} again.")

    def _done(self, result: object) -> None:
        backup, _removed = result  # type: ignore[misc]
        self._tell_where()
        if self._pending is not None:
            self.auto.taken(*self._pending)
        self._pending = None
        if self._failing:
            self.said.emit("Backups work again.")
        self._failing = False
        self.backed_up.emit(backup)

    def _failed(self, exc: object) -> None:
        self._pending = None
        self._tell_where()
        log.error("automatic backup failed: %s", exc)
        if not self._failing:   # said once, not every ten minutes
            self.said.emit(f"The automatic backup failed: {exc}")
        self._failing = True

    def close(self) -> None:
        """The window closes: a last backup if the record changed since the last one (here,
        on this thread: the process is about to end)."""
        self.timer.stop()
        from app.backups.copies import BackupError, rolling_backup
        from app.backups.folder import where_to_back_up

        now = self._now()
        due = self.auto.due(now, closing=True)
        if due is None:
            return
        where = where_to_back_up(self.services.config)
        if where.fallback is not None:
            log.warning("at closing: %s", where.fallback)
        try:
            rolling_backup(self.auto.db_path, where.folder, now)
        except BackupError as exc:
            log.error("the backup at closing failed: %s", exc)
            return
        self.auto.taken(due, now)
