"""Unexpected errors reach a dialog and the log, never a silent exit: the window survives."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("clarion.errors")


class ExceptionReporter(QObject):
    """Installed as sys.excepthook and threading.excepthook. Errors from any thread are logged
    at once and shown on the GUI thread (through a queued signal)."""

    reported = Signal(str, str)  # short message, full traceback
    said = Signal(str)           # a ClarionError nobody caught: its words, without a traceback

    def __init__(self, log_path: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.dialog: QMessageBox | None = None
        self._previous = sys.excepthook
        self._previous_threading = threading.excepthook
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.said.connect(self._say, Qt.ConnectionType.QueuedConnection)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_threading

    def handle(self, exc_type: type[BaseException], exc: BaseException,
               tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("Unexpected error", exc_info=(exc_type, exc, tb))
        from ui.backups.watch import report_if_damage

        if report_if_damage(exc):   # the damaged-database dialog says it, not a traceback
            return
        from app.errors import ClarionError

        if isinstance(exc, ClarionError):   # already in words (a full disk, read-only…)
            self.said.emit(str(exc))
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self.reported.emit(f"{exc_type.__name__}: {exc}", details)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    def _show(self, message: str, details: str) -> None:
        parent = QApplication.activeWindow()
        box = QMessageBox(parent)
        box.setObjectName("exceptionDialog")
        box.setAccessibleName("Unexpected error")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Clarion — unexpected error")
        box.setText("Something went wrong, but nothing you saved was lost.\n\n" + message)
        where = f"\n\nThe details were written to the log: {self.log_path}" if self.log_path else ""
        box.setInformativeText("You can keep working. If this happens again, please report it "
                               "with the details below." + where)
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = box
        box.open()

    def _say(self, message: str) -> None:
        box = QMessageBox(QApplication.activeWindow())
        box.setObjectName("notDoneDialog")
        box.setAccessibleName("Not done")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Clarion — not done")
        box.setText(message)
        box.setInformativeText("Nothing was half-saved: what you were doing was not recorded. "
                               "You can keep working and try again.")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = box
        box.open()
