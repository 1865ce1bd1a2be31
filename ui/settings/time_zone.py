"""Settings → Time zone…: the zone of the coordinator's own times — the incident list, the Outbox,
notifications, the status bar, and times typed without a zone. An incident's own times stay in its
client's zone. Kept in this computer's settings (ui.services.DISPLAY_ZONE_KEY, applied at start);
the machine's zone unless one is chosen. Only calls app.timefmt."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QCompleter, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout,
)

from app.timefmt import desk_zone, format_local, set_desk_zone, zone_named
from ui.services import DISPLAY_ZONE_KEY
from ui.widgets.forms import ErrorLabel, named, with_error

_ZONES: list[str] = []


def _zones() -> list[str]:
    if not _ZONES:
        _ZONES.extend(sorted(z for z in available_timezones()
                             if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/",
                                                               "right/"))) + ["UTC"])
    return _ZONES


class TimeZoneDialog(QDialog):
    """Choose the coordinator's zone: this computer's, or any IANA zone (type to search)."""

    def __init__(self, services: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("timeZoneDialog")
        self.setWindowTitle("Time zone")
        self.setAccessibleName("Time zone")
        machine = datetime.now().astimezone()
        self.combo = named(QComboBox(), "timeZoneCombo", "Your time zone",
                           "Times across clients (the incident list, the Outbox, "
                           "notifications) are shown in this zone")
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.addItem(f"This computer's zone ({machine.tzname()})", "")
        for zone in _zones():
            self.combo.addItem(zone, zone)
        completer = QCompleter([self.combo.itemText(i) for i in range(self.combo.count())], self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.combo.setCompleter(completer)
        chosen = str(services.settings.value(DISPLAY_ZONE_KEY) or "")
        found = self.combo.findData(chosen) if chosen and desk_zone() is not None else 0
        self.combo.setCurrentIndex(max(found, 0))
        self.combo.currentIndexChanged.connect(self._preview)
        self.combo.editTextChanged.connect(self._typed)
        self.error = ErrorLabel("timeZoneError")
        self.preview = named(QLabel(), "timeZonePreview", "Now in that zone")
        intro = QLabel("Times about one incident are always shown in its client's zone. "
                       "Times across clients — the incident list, the Outbox, notifications — "
                       "and times you type without a zone are in yours:")
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("&Your zone", with_error(self.combo, self.error))
        form.addRow("Now", self.preview)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        named(buttons.button(QDialogButtonBox.StandardButton.Ok), "timeZoneOk",
              "Use this time zone")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "timeZoneCancel",
              "Keep the time zone as it was")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
        self._preview()

    def chosen(self) -> str | None:
        """The IANA name chosen ('' for this computer's); None when the text names no zone."""
        text = self.combo.currentText().strip()
        index = self.combo.findText(text, Qt.MatchFlag.MatchFixedString)
        if index < 0:
            return None
        return str(self.combo.itemData(index) or "")

    def _typed(self, _text: str) -> None:
        self.error.clear_error()
        self._preview()

    def _preview(self, *_args: object) -> None:
        name = self.chosen()
        if name is None:
            self.preview.setText("")
            return
        zone = zone_named(name) if name else datetime.now().astimezone().tzinfo
        self.preview.setText(format_local(self.services.clock.now(), zone, with_date=False))

    def accept(self) -> None:
        name = self.chosen()
        if name is None:
            self.error.show_error("Not a time zone: choose one from the list "
                                  "(e.g. Europe/Berlin, America/New_York).")
            return
        self.services.settings.setValue(DISPLAY_ZONE_KEY, name)
        self.services.settings.sync()
        set_desk_zone(name or None)
        super().accept()
