"""Run a plain function on a worker thread and get its result back on the GUI thread.
The function must return DTOs (never ORM objects) and open its own Session — app/ services
already do both."""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)  # the exception


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.fn, self.signals = fn, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the GUI
            log.debug("background task failed: %s", "".join(traceback.format_exception(exc)))
            from ui.backups.watch import report_if_damage

            report_if_damage(exc)   # a damaged file: the window stops sending and asks once
            self._emit(self.signals.failed, exc)
        else:
            self._emit(self.signals.done, result)

    @staticmethod
    def _emit(signal: Any, value: object) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the application quit while the job ran: nobody is listening
            log.debug("background result dropped: its receiver is gone")


class Worker(QObject):
    """One background job at a time for its owner; `running` says whether one is going."""

    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running = False
        self._signals: _Signals | None = None

    def start(self, fn: Callable[[], Any]) -> None:
        if self.running:
            raise RuntimeError("a background job is already running")
        self.running = True
        signals = _Signals()  # lives on the GUI thread: its signals arrive queued here
        signals.done.connect(self._done)
        signals.failed.connect(self._failed)
        self._signals = signals
        QThreadPool.globalInstance().start(_Task(fn, signals))

    def _done(self, result: object) -> None:
        self.running = False
        self.finished.emit(result)

    def _failed(self, exc: object) -> None:
        self.running = False
        self.failed.emit(exc)
