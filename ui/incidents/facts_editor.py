"""The incident's facts — the one source every audience's message renders from.
Edits are local until Save; Revert restores what is stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox, QDateTimeEdit, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
    QPushButton, QToolButton, QVBoxLayout, QWidget,
)

from app.domain.dto import Facts, IncidentDTO
from app.domain.enums import Phase
from app.timefmt import coordinator_zone
from app.errors import ClarionError, ValidationError
from ui.qtime import from_wall_qdatetime, to_wall_qdatetime
from ui.services import Services
from ui.widgets.forms import ErrorLabel, named, with_error


def _text_box(name: str, accessible: str, placeholder: str, height: int = 56) -> QPlainTextEdit:
    box = named(QPlainTextEdit(), name, accessible)
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    box.setFixedHeight(height)
    return box


class OptionalTime(QWidget):
    """A check box that says whether a time is set, the time itself, and quick offsets."""

    changed = Signal()

    def __init__(self, name: str, accessible: str, services: Services,
                 quick_minutes: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.services = services
        self.enabled = named(QCheckBox("Set"), f"{name}Check", f"{accessible} is set")
        self.edit = named(QDateTimeEdit(), f"{name}Edit", accessible,
                          f"{accessible}, in the client's time zone")
        self.edit.setCalendarPopup(True)
        self.edit.setTimeZone(QTimeZone.utc())   # wall-clock times of `zone`, never shifted
        self.zone: Any = None                    # the incident's client's (None: the machine's)
        self.set_zone(None)
        self.edit.setEnabled(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.enabled)
        layout.addWidget(self.edit, 1)
        self.quick: list[QToolButton] = []
        for minutes in quick_minutes:
            button = named(QToolButton(), f"{name}Plus{minutes}",
                           f"{accessible} in {minutes} minutes from now")
            button.setText(f"+{minutes}")
            button.clicked.connect(lambda _c=False, m=minutes: self.set_in(m))
            layout.addWidget(button)
            self.quick.append(button)
        self.enabled.toggled.connect(self.edit.setEnabled)
        self.enabled.toggled.connect(lambda _v: self.changed.emit())
        self.edit.dateTimeChanged.connect(lambda _v: self.changed.emit())

    def set_in(self, minutes: int) -> None:
        self.set_value(self.services.clock.now() + timedelta(minutes=minutes))

    def set_zone(self, zone: Any) -> None:
        """Edit in `zone` (the incident's client's), and say which it is."""
        zone = zone or coordinator_zone()
        if zone == self.zone:
            return
        shown = self.value() if self.zone is not None else None
        self.zone = zone
        name = self.services.clock.now().astimezone(zone).tzname() or ""
        blocked = self.edit.blockSignals(True)   # a new label is no edit of the coordinator's
        try:
            self.edit.setDisplayFormat(f"yyyy-MM-dd HH:mm '{name}'" if name
                                       else "yyyy-MM-dd HH:mm")
            if shown is not None:                # the same moment, shown in the new zone
                self.edit.setDateTime(to_wall_qdatetime(shown, zone))
        finally:
            self.edit.blockSignals(blocked)

    def set_value(self, value: datetime | None) -> None:
        self.enabled.setChecked(value is not None)
        self.edit.setDateTime(to_wall_qdatetime(value or self.services.clock.now(), self.zone))

    def value(self) -> datetime | None:
        return from_wall_qdatetime(self.edit.dateTime(), self.zone) \
            if self.enabled.isChecked() else None

    def set_read_only(self, read_only: bool) -> None:
        self.enabled.setEnabled(not read_only)
        self.edit.setEnabled(not read_only and self.enabled.isChecked())
        for button in self.quick:
            button.setEnabled(not read_only)


class FactsEditor(QWidget):
    saved = Signal(object)  # IncidentDTO

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.incident: IncidentDTO | None = None
        self._loading = False
        self.setObjectName("factsEditor")

        self.status = _text_box("factStatusEdit", "Current status",
                                "What is happening now, in plain words")
        self.impact = _text_box("factImpactEdit", "Impact", "Who is affected and how")
        self.services_edit = named(QLineEdit(), "factServicesEdit", "Affected services",
                                   "Affected services, separated by commas")
        self.services_edit.setPlaceholderText("Separate services with commas")
        self.eta = OptionalTime("factEta", "ETA", services)
        self.eta_qualifier = named(QLineEdit(), "factEtaQualifierEdit", "ETA qualifier",
                                   "How sure the ETA is, e.g. “within 30 minutes”")
        self.eta_qualifier.setPlaceholderText("e.g. within 30 minutes")
        self.workaround = _text_box("factWorkaroundEdit", "Workaround",
                                    "What people can do meanwhile", 52)
        self.next_update = OptionalTime("factNextUpdate", "Next update at", services, (15, 30, 60))

        self.errors = {name: ErrorLabel(f"{name}Error") for name in (
            "status", "impact", "affected_services", "eta_at", "eta_qualifier", "workaround",
            "next_update_at")}
        form = QFormLayout()
        form.addRow("Current &status", with_error(self.status, self.errors["status"]))
        form.addRow("&Impact", with_error(self.impact, self.errors["impact"]))
        form.addRow("Affected ser&vices",
                    with_error(self.services_edit, self.errors["affected_services"]))
        form.addRow("&ETA", with_error(self.eta, self.errors["eta_at"]))
        form.addRow("ETA &qualifier", with_error(self.eta_qualifier, self.errors["eta_qualifier"]))
        form.addRow("&Workaround", with_error(self.workaround, self.errors["workaround"]))
        form.addRow("&Next update", with_error(self.next_update, self.errors["next_update_at"]))

        self.save_button = named(QPushButton("Save facts"), "saveFactsButton", "Save facts")
        self.revert_button = named(QPushButton("Revert"), "revertFactsButton",
                                   "Revert facts to what is saved")
        self.state_label = QLabel()
        self.state_label.setObjectName("factsStateLabel")
        self.general_error = ErrorLabel("factsGeneralError")
        buttons = QHBoxLayout()
        buttons.addWidget(self.state_label, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.general_error)
        layout.addLayout(buttons)

        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self.revert)
        for box in (self.status, self.impact, self.workaround):
            box.textChanged.connect(self._edited)
        for line in (self.services_edit, self.eta_qualifier):
            line.textChanged.connect(self._edited)
        self.eta.changed.connect(self._edited)
        self.next_update.changed.connect(self._edited)
        self._update_buttons()

    # -- state

    def set_incident(self, incident: IncidentDTO | None, keep_edits: bool = False,
                     zone: Any = None) -> None:
        """`zone`: the incident's client's; its times are edited there."""
        same = incident is not None and self.incident is not None and incident.id == self.incident.id
        self.incident = incident
        for editor in (self.eta, self.next_update):
            editor.set_zone(zone)
        if keep_edits and same and self.is_dirty():
            self._apply_read_only()
            return
        self._load()

    def _load(self) -> None:
        self._loading = True
        facts = self.incident.facts if self.incident else Facts()
        self._baseline = facts   # what the fields were filled with: edits are measured from it
        self.status.setPlainText(facts.status)
        self.impact.setPlainText(facts.impact)
        self.services_edit.setText(", ".join(facts.affected_services))
        self.eta.set_value(facts.eta_at)
        self.eta_qualifier.setText(facts.eta_qualifier)
        self.workaround.setPlainText(facts.workaround)
        self.next_update.set_value(facts.next_update_at)
        self._loading = False
        for label in self.errors.values():
            label.clear_error()
        self.general_error.clear_error()
        self._apply_read_only()
        self._update_buttons()

    def _apply_read_only(self) -> None:
        closed = self.incident is None or self.incident.phase == Phase.CLOSED
        for box in (self.status, self.impact, self.workaround):
            box.setReadOnly(closed)
        for line in (self.services_edit, self.eta_qualifier):
            line.setReadOnly(closed)
        self.eta.set_read_only(closed)
        self.next_update.set_read_only(closed)
        self._update_buttons()

    def current_facts(self) -> Facts:
        services = tuple(s.strip() for s in self.services_edit.text().split(",") if s.strip())
        return Facts(status=self.status.toPlainText(), impact=self.impact.toPlainText(),
                     affected_services=services, eta_at=self.eta.value(),
                     eta_qualifier=self.eta_qualifier.text(),
                     workaround=self.workaround.toPlainText(),
                     next_update_at=self.next_update.value())

    def is_dirty(self) -> bool:
        """Whether the coordinator changed a field since it was filled (a change made
        elsewhere meanwhile — a final status at resolution — is no edit of theirs)."""
        if self.incident is None:
            return False
        stored = getattr(self, "_baseline", None) or self.incident.facts
        shown = self.current_facts()

        def minute(value: datetime | None) -> datetime | None:
            return value.replace(second=0, microsecond=0) if value else None

        return (stored.status.strip() != shown.status.strip()
                or stored.impact.strip() != shown.impact.strip()
                or tuple(stored.affected_services) != shown.affected_services
                or minute(stored.eta_at) != minute(shown.eta_at)
                or stored.eta_qualifier.strip() != shown.eta_qualifier.strip()
                or stored.workaround.strip() != shown.workaround.strip()
                or minute(stored.next_update_at) != minute(shown.next_update_at))

    def _edited(self) -> None:
        if not self._loading:
            self._update_buttons()

    def _update_buttons(self) -> None:
        closed = self.incident is None or self.incident.phase == Phase.CLOSED
        dirty = self.is_dirty()
        self.save_button.setEnabled(dirty and not closed)
        self.revert_button.setEnabled(dirty and not closed)
        if self.incident is not None and closed:
            self.state_label.setText("Closed: the facts are final.")
        else:
            self.state_label.setText("Unsaved changes" if dirty else "")

    # -- actions

    def save(self) -> None:
        if self.incident is None:
            return
        for label in self.errors.values():
            label.clear_error()
        self.general_error.clear_error()
        facts = self.current_facts()
        stored = self.incident.facts
        # Times are edited to the minute: keep the stored value when the minute is unchanged,
        # so an untouched time is not recorded as a change.
        for name in ("eta_at", "next_update_at"):
            shown, old = getattr(facts, name), getattr(stored, name)
            if shown and old and shown.replace(second=0, microsecond=0) == \
                    old.replace(second=0, microsecond=0):
                from dataclasses import replace

                facts = replace(facts, **{name: old})
        try:
            updated = self.services.incidents.update_facts(self.incident.id, facts)
        except ValidationError as exc:
            for field, message in exc.errors.items():
                self.errors.get(field, self.general_error).show_error(message)
            return
        except ClarionError as exc:
            self.general_error.show_error(str(exc))
            return
        self.incident = updated
        self._load()
        self.saved.emit(updated)

    def revert(self) -> None:
        self._load()
