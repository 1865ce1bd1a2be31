"""Desktop notifications for the incident clocks. Every half minute (and soon after an incident
changes) a worker thread runs the escalation rules over every open incident, evaluates every
clock, and records a reminder for whatever became overdue since the last look. What is new is
told in ONE notification (system tray when there is one, else the status bar) — never a burst:
after the laptop wakes from sleep, the next tick notices the jump of the wall clock,
re-evaluates, and sums up everything that fell due meanwhile in a single message."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from ui.services import Services
from ui.worker import Worker

log = logging.getLogger(__name__)
INTERVAL_MS = 30_000
CHANGE_DELAY_MS = 1_000


@dataclass(frozen=True)
class ClockNews:
    """What one look found: newly overdue items and new escalation proposals, per incident."""
    overdue: tuple[tuple[int, str, str], ...]     # (incident id, incident title, item title)
    proposals: tuple[tuple[int, str, str], ...]   # (incident id, incident title, rule name)
    woke: bool = False

    def empty(self) -> bool:
        return not self.overdue and not self.proposals

    def message(self) -> tuple[str, str]:
        incidents = {i for i, _t, _x in self.overdue + self.proposals}
        parts = []
        if self.overdue:
            n = len(self.overdue)
            parts.append(f"{n} {'item' if n == 1 else 'items'} overdue")
        if self.proposals:
            n = len(self.proposals)
            parts.append(f"{n} escalation{'' if n == 1 else 's'} proposed")
        title = " · ".join(parts)
        if self.woke:
            title += " while you were away"
        lines = [f"{inc}: {what}" for _i, inc, what in (self.proposals + self.overdue)[:4]]
        extra = len(self.overdue) + len(self.proposals) - 4
        if extra > 0:
            lines.append(f"… and {extra} more")
        if len(incidents) > 1:
            lines.insert(0, f"{len(incidents)} incidents need attention.")
        return title, "\n".join(lines)


def look(services: Services) -> ClockNews:
    """One look at every open incident (runs on a worker thread: plain values out). The clock
    service keeps each incident's evaluation until its change counter moves, so what became
    overdue since the last look is its kept due times compared with now."""
    clocks = services.clocks
    proposals = [(iid, p.rule.name) for iid, p in clocks.fire_escalations()]
    # the people asked to confirm who have not after their wait (issue 25)
    proposals += [(c.incident_id, c.rule_name) for c in clocks.fire_unconfirmed()]
    due = clocks.overdue_unreminded()
    overdue = []
    for incident_id, (incident_title, fresh) in due.items():
        for _key, _due, title in clocks.record_reminders(incident_id, fresh):
            overdue.append((incident_id, incident_title, title))
    titles = clocks.titles({iid for iid, _p in proposals}) if proposals else {}
    return ClockNews(overdue=tuple(overdue),
                     proposals=tuple((iid, titles.get(iid, f"Incident {iid}"), name)
                                     for iid, name in proposals))


class ClockNotifier(QObject):
    notified = Signal(str, str)   # title, text
    looked = Signal(object)       # ClockNews

    def __init__(self, services: Services, window: QWidget | None = None) -> None:
        super().__init__(window)
        self.services = services
        self.window = window
        self.worker = Worker(self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.check)
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(CHANGE_DELAY_MS)
        self.soon.timeout.connect(self.check)
        self._last_wall = time.time()
        self._woke = False
        self._again = False
        self.tray: QSystemTrayIcon | None = None

    def start(self) -> None:
        """Begin looking (the window calls this after its first paint)."""
        self.services.qt_events.incident_changed.connect(lambda _dto: self.soon.start())
        self.services.qt_events.clock_rules_changed.connect(self.soon.start)
        # a bounce read from the mailbox: told within a second, not at the next tick
        self.services.qt_events.mailbox_read.connect(lambda _recorded: self.soon.start())
        self.timer.start()
        self.check()

    def stop(self) -> None:
        self.timer.stop()
        self.soon.stop()

    def check(self) -> None:
        # A tick that arrives much later than its interval means the machine slept:
        # say so, and sum everything up in one message.
        wall = time.time()
        if wall - self._last_wall > 3 * INTERVAL_MS / 1000:
            self._woke = True
        self._last_wall = wall
        if self.worker.running:
            self._again = True
            return
        services = self.services
        self.worker.start(lambda: look(services))

    def _done(self, news: ClockNews) -> None:
        if self._woke:
            news = ClockNews(news.overdue, news.proposals, woke=True)
            self._woke = False
        self.looked.emit(news)
        if not news.empty():
            title, text = news.message()
            self.notify(title, text)
        if self._again:
            self._again = False
            self.check()

    def _failed(self, exc: object) -> None:
        log.error("clock check failed", exc_info=exc)  # type: ignore[arg-type]
        if self._again:
            self._again = False
            self.check()

    def notify(self, title: str, text: str) -> None:
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self.tray is None:
                icon = self.window.windowIcon() if self.window is not None else None
                self.tray = QSystemTrayIcon(icon, self) if icon is not None else \
                    QSystemTrayIcon(self)
                self.tray.setToolTip("Clarion")
                self.tray.show()
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 15_000)
        elif self.window is not None and hasattr(self.window, "statusBar"):
            self.window.statusBar().showMessage(f"{title} — {text.splitlines()[0]}", 60_000)
        self.notified.emit(title, text)
