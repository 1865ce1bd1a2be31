"""Whether the shown incident's record holds: its timeline checked against its hash chain on a
worker thread (app/record/verify.py, from the last verified link), when the incident is opened
(the first time once the label is painted: not on start-up's path) and a second after entries
are appended. Says "Record verified", "Record changed outside
Clarion" (with what changed and what to do), or "Record not checked" (the check could not run)."""

from __future__ import annotations

import html
import logging
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMessageBox, QSizePolicy, QWidget

from app.timefmt import format_local
from ui.widgets.forms import named
from ui.worker import Worker

log = logging.getLogger(__name__)

DEBOUNCE_MS = 1000       # a burst of appended entries: one check after it
MUTED, GOOD, BAD, UNSURE = "#5f6368", "#1b7f3b", "#b3261e", "#8a5a00"

ADVICE = ("What to do: keep the database as it is (do not edit, restore or delete anything "
          "yet), compare it with a backup (Settings › Backups), and run “clarion verify” in a "
          "terminal on this computer: it checks every entry from the first.")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class RecordCheckLabel(QLabel):
    """The record's state for the incident given to set_incident(); appended() asks for a
    check a second later. One check at a time: one asked for meanwhile runs after it."""

    checked = Signal(object)       # ChainReport, for the shown incident
    not_checked = Signal(object)   # the exception of a check that could not run

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "recordCheckLabel", "Record check")
        self.services = services
        self.incident_id: int | None = None
        self.zone: Any = None
        self.state = ""            # "", checking, verified, broken, not_checked
        self.report: Any = None    # the last ChainReport shown
        self.details_box: QMessageBox | None = None
        self._again = False        # a check was asked for while one ran
        self._started: datetime | None = None
        self._running_for: int | None = None   # the incident the running check is about
        # the first check waits for the label's first paint: not on start-up's path
        self._painted = False
        self._pending = False
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.linkActivated.connect(lambda _link: self.show_details())
        self.worker = Worker(self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.debounce = QTimer(self)
        self.debounce.setObjectName("recordCheckDebounce")
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(self.check)
        self._show("", "", [])

    # -- asking

    def set_incident(self, incident_id: int | None, zone: Any = None) -> None:
        """Show `incident_id`'s record (checked now), or nothing for None."""
        self.zone = zone
        if incident_id == self.incident_id:
            return          # the same incident changed: appended() asks for its check
        self.debounce.stop()
        self.incident_id = incident_id
        self.report = None
        if incident_id is None:
            self._show("", "", [])
            return
        self._show("checking", "Checking the record…",
                   "Checking that the timeline matches its hash chain…", colour=MUTED)
        if self._painted:
            self.check()
        else:
            self._pending = True

    def appended(self, incident_id: int) -> None:
        """An entry was appended to `incident_id`: check the shown one's record a second
        later (however many more follow meanwhile)."""
        if incident_id == self.incident_id and not self.debounce.isActive():
            self.debounce.start()

    def check(self) -> None:
        """Check the shown incident's record now, from its last verified link."""
        if self.incident_id is None:
            return
        if self.worker.running:
            self._again = True
            return
        self._again = False
        from app.record import verify

        store, incident_id = self.services.store, self.incident_id
        now = self._started = self.services.clock.now()
        self._running_for = incident_id
        self.worker.start(lambda: verify.verify_incident(store, incident_id, incremental=True,
                                                         now=now))

    # -- answers

    def _done(self, report: Any) -> None:
        started = self._started
        self._rerun()
        if report.incident_id != self.incident_id:
            return          # the coordinator has moved on to another incident
        self.report = report
        if report.holds:
            self._show("verified", "✓ Record verified", self._verified_words(report, started),
                       colour=GOOD)
        else:
            self._show("broken", "⚠ Record changed outside Clarion", self.broken_words(report),
                       colour=BAD, link="Details…")
            log.error("incident %s: the record does not hold: %s", report.incident_id,
                      report.broken.reason)
        self.checked.emit(report)

    def _failed(self, exc: object) -> None:
        about = self._running_for
        self._rerun()
        if self.incident_id is None or about != self.incident_id:
            return
        log.warning("the record of incident %s could not be checked: %s", self.incident_id, exc)
        self.report = None
        self._show("not_checked", "Record not checked", [
            f"The record could not be checked: {exc}.",
            "It is checked again when the incident is opened or an entry is added; "
            "“clarion verify”, in a terminal, checks it too."], colour=UNSURE)
        self.not_checked.emit(exc)

    def _rerun(self) -> None:
        if self._again:
            self.check()

    # -- words

    def _when(self, at: datetime | None) -> str:
        return format_local(at, self.zone, now=self.services.clock.now()) if at else ""

    def _verified_words(self, report: Any, started: datetime | None) -> list[str]:
        entries = _plural(report.entries, "entry", "entries")
        match = "matches its" if report.entries == 1 else "match their"
        checked = f" Checked {self._when(started)}." if started is not None else ""
        words = [f"The timeline's {entries} {match} hash chain (head: number "
                 f"{report.head_seq}, {report.head_hash}).{checked}"]
        if not report.incremental:
            words.append("The whole chain was checked, from the first entry.")
        elif report.hashed:
            words.append(f"Entries up to number {report.from_seq} were verified before: this "
                         f"check confirmed that link and hashed the "
                         f"{_plural(report.hashed, 'entry', 'entries')} after it. "
                         f"“clarion verify”, in a terminal, checks the whole chain.")
        else:
            words.append(f"The chain was verified up to number {report.from_seq} before and "
                         f"nothing was added since: this check confirmed that link. "
                         f"“clarion verify”, in a terminal, checks the whole chain.")
        return words

    def which_entry(self, report: Any) -> str:
        """The entry that breaks the chain: its id, number, time (the client's zone) and
        summary; '' when the break names none."""
        b = report.broken
        inner = [f"number {b.seq}"] if b.seq and b.entry_id is not None else []
        if b.at is not None:
            inner.append(f"written {self._when(b.at)}")
        if b.entry_id is not None:
            text = f"Entry {b.entry_id}"
        elif b.seq:
            text = f"Entry number {b.seq}"
        else:
            return ""
        if inner:
            text += f" ({', '.join(inner)})"
        if b.summary:
            cut = b.summary[:160] + ("…" if len(b.summary) > 160 else "")
            text += f": “{cut}”"
        return text + "."

    def broken_words(self, report: Any) -> list[str]:
        """What the record check found and what to do, paragraph by paragraph."""
        which = self.which_entry(report)
        return ["This incident's timeline no longer matches its hash chain: it was changed "
                "outside Clarion.",
                *([which] if which else []),
                f"Why: {report.broken.reason}.",
                ADVICE]

    # -- showing

    def _show(self, state: str, text: str, words: list[str] | str, colour: str = MUTED,
              link: str = "") -> None:
        self.state = state
        paragraphs = [words] if isinstance(words, str) else words
        shown = (f"<span style='color:{colour}; font-weight:600;'>{html.escape(text)}</span>"
                 if text else "")
        if link:
            shown += f" &nbsp;<a href='details'>{html.escape(link)}</a>"
        self.setText(shown)
        # rich text: the tooltip wraps instead of running across the screen
        self.setToolTip("".join(f"<p>{html.escape(p, quote=False)}</p>"
                                for p in paragraphs if p))
        self.setAccessibleName(f"Record check: {text}" if text else "Record check")
        self.setAccessibleDescription(" ".join(p for p in paragraphs if p))
        interactive = state == "broken"
        # a changed record is not a footnote: the words on a pale red ground
        self.setStyleSheet("QLabel#recordCheckLabel { background: #fdecea; border: 1px solid "
                           "#f1b8b3; border-radius: 3px; padding: 1px 6px; }"
                           if interactive else "")
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard if interactive
            else Qt.TextInteractionFlag.NoTextInteraction)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus if interactive
                            else Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor if interactive
                       else Qt.CursorShape.ArrowCursor)
        self.setVisible(bool(text))

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        self._painted = True
        if self._pending:
            self._pending = False
            QTimer.singleShot(0, self.check)     # after the paint has finished

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().mouseReleaseEvent(event)
        if self.state == "broken" and event.button() == Qt.MouseButton.LeftButton:
            self.show_details()

    def show_details(self) -> QMessageBox | None:
        """What broke the chain and what to do, in a box (not blocking); returns it."""
        if self.state != "broken" or self.report is None:
            return None
        if self.details_box is not None and self.details_box.isVisible():
            self.details_box.raise_()
            return self.details_box
        box = QMessageBox(QMessageBox.Icon.Warning, "Record changed outside Clarion",
                          f"The timeline of “{self.report.title}” no longer matches its hash "
                          f"chain: it was changed outside Clarion.",
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("recordBrokenDialog")
        box.setAccessibleName("Record changed outside Clarion")
        box.setInformativeText("\n\n".join(self.broken_words(self.report)[1:]))
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        named(box.button(QMessageBox.StandardButton.Ok), "recordBrokenOkButton", "Close")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "details_box", None))
        self.details_box = box
        box.open()
        return box
