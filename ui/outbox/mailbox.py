"""The window's mailbox readers (issue 24): one background thread per email account that has an
IMAP server, each running app.mailbox.reader.MailboxWatcher (IMAP IDLE, or a poll every
60 s). Started after the first paint, rebuilt when the accounts change, stopped when the window
closes. What they record reaches the window through the app's events (timeline entries, the
outbox, `mailbox_read`): a bounced regulator or customer notice wakes the clock notifier, whose
next look (a second later) tells it in a notification and puts it first in Due next."""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from ui.services import Services

log = logging.getLogger(__name__)
JOIN_SECONDS = 3.0        # a watcher sees its stop within about a second (IDLE wakes each one)
REBUILD_DELAY_MS = 500


class MailboxReaders(QObject):
    reported = Signal(object)   # CheckReport, from a reader thread (delivered queued)

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self._watchers: list[tuple[Any, threading.Thread]] = []
        self.last: dict[int, Any] = {}        # account id -> its latest CheckReport
        self.reported.connect(self._keep)
        self._rebuild = QTimer(self)
        self._rebuild.setSingleShot(True)
        self._rebuild.setInterval(REBUILD_DELAY_MS)
        self._rebuild.timeout.connect(self.restart)

    def start(self) -> None:
        """Begin reading (after the first paint); again whenever an account changes."""
        self.services.qt_events.accounts_changed.connect(lambda _ids: self._rebuild.start())
        self.restart()

    @property
    def watching(self) -> list[str]:
        return [w.account.name for w, thread in self._watchers if thread.is_alive()]

    def restart(self) -> None:
        from app.mailbox.reader import ImapSettings, MailboxWatcher

        self.stop(wait=False)    # an old reader may finish its read: recording is idempotent
        accounts = self.services.accounts
        for account in accounts.list("email"):
            if ImapSettings.of(account) is None:
                continue
            watcher = MailboxWatcher(
                self.services.store, self.services.clock, account,
                password=lambda a=account.id: accounts.mailbox_secret_of(a),
                events=self.services.events, on_report=self.reported.emit)
            thread = threading.Thread(target=self._run, args=(watcher,), daemon=True,
                                      name=f"mailbox-{account.id}")
            self._watchers.append((watcher, thread))
            thread.start()

    @staticmethod
    def _run(watcher: Any) -> None:
        try:
            watcher.run()
        except Exception:  # noqa: BLE001 - a reader must never take the window down
            log.exception("the mailbox reader of account %s stopped", watcher.account.id)

    def _keep(self, report: Any) -> None:
        self.last[report.account_id] = report
        if report.error:
            log.warning("mailbox of account %s: %s", report.account_id, report.error)

    def stop(self, wait: bool = True) -> None:
        """Tell every reader to stop; with `wait` (the window closing, before the database
        does) give them a moment to finish what they are writing."""
        watchers, self._watchers = self._watchers, []
        for watcher, _thread in watchers:
            watcher.stop()
        if wait:
            for _watcher, thread in watchers:
                thread.join(JOIN_SECONDS)
