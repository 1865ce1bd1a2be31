"""New Incident: the few things needed to start the clock, validated next to each field."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.stakeholders.clients import list_clients
from app.domain.dto import Facts, IncidentDTO
from app.domain.enums import Severity
from app.errors import ConfirmationRequired, ValidationError
from ui.qtime import edit_in_zone, incident_zone, zoned_value
from ui.services import Services
from ui.widgets.forms import ErrorLabel, named, with_error

SEVERITY_HINTS = {
    Severity.SEV1: "SEV1 — critical: core service down or data breach",
    Severity.SEV2: "SEV2 — major: important service unavailable for many",
    Severity.SEV3: "SEV3 — minor: degraded service, workaround exists",
    Severity.SEV4: "SEV4 — low: little or no user impact",
}


class NewIncidentDialog(QDialog):
    def __init__(self, services: Services, parent: QWidget | None = None,
                 client_id: int | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.created: IncidentDTO | None = None
        self.setObjectName("newIncidentDialog")
        self.setAccessibleName("New incident")
        self.setWindowTitle("New incident")
        self.setMinimumWidth(560)

        self.client = named(QComboBox(), "clientCombo", "Organisation",
                            "The organisation this incident affects")
        clients = list_clients(services.store)
        for c in clients:
            self.client.addItem(c.name + (" (MSP)" if c.is_msp else ""), c.id)
        # Default: the organisation of the incident in view, else the first one that is not
        # the MSP itself (an MSP's incidents are usually its clients').
        preferred = client_id if client_id is not None else next(
            (c.id for c in clients if not c.is_msp), None)
        if preferred is not None and self.client.findData(preferred) >= 0:
            self.client.setCurrentIndex(self.client.findData(preferred))
        self.title_edit = named(QLineEdit(), "titleEdit", "Title",
                                "What is affected, in a few words")
        self.title_edit.setPlaceholderText("e.g. Email unavailable for all staff")
        # no cut in the field (a paste arrives whole): the one limit, TITLE_MAX, is the
        # check's, which says it with the same number
        self.title_edit.setMaxLength(1_000_000)
        self.severity = named(QComboBox(), "severityCombo", "Severity")
        for sev in Severity:
            self.severity.addItem(SEVERITY_HINTS[sev], sev.value)
        self.severity.setCurrentIndex(1)
        self.detected = named(QDateTimeEdit(), "detectedAtEdit", "Detected at",
                              "When the incident was detected, in the organisation's time zone")
        self.detected.setCalendarPopup(True)
        self.zone = self._client_zone()
        edit_in_zone(self.detected, self.zone, services.clock.now())
        self.now_button = named(QPushButton("Now"), "detectedNowButton", "Set detection time to now")
        self.now_button.clicked.connect(lambda: self.set_detected(self.services.clock.now()))
        detected_row = QWidget()
        row = QHBoxLayout(detected_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.detected, 1)
        row.addWidget(self.now_button)
        self.confirm_old = named(QCheckBox("Yes, detection really was more than 7 days ago"),
                                 "confirmOldCheck", "Confirm old detection time")
        self.confirm_old.hide()
        self.status_edit = named(QPlainTextEdit(), "initialStatusEdit", "Initial status",
                                 "Optional: what is known so far")
        self.status_edit.setPlaceholderText("Optional — what is known so far")
        self.status_edit.setTabChangesFocus(True)
        self.status_edit.setFixedHeight(70)
        self.business = named(QCheckBox("Business impact"), "businessImpactCheck", "Business impact")
        self.external = named(QCheckBox("External impact (customers, public)"),
                              "externalImpactCheck", "External impact")
        self.regulatory = named(QCheckBox("Possible regulatory impact (personal data)"),
                                "regulatoryImpactCheck", "Regulatory impact")
        self.drill = named(QCheckBox("Drill — a practice incident; nothing is delivered"),
                           "drillCheck", "Drill incident")

        self.errors = {
            "client": ErrorLabel("clientError"), "title": ErrorLabel("titleError"),
            "severity": ErrorLabel("severityError"), "detected_at": ErrorLabel("detectedAtError"),
            "status": ErrorLabel("statusError"),
        }
        form = QFormLayout()
        form.addRow("&Organisation", with_error(self.client, self.errors["client"]))
        form.addRow("&Title", with_error(self.title_edit, self.errors["title"]))
        form.addRow("&Severity", with_error(self.severity, self.errors["severity"]))
        detected_box = with_error(detected_row, self.errors["detected_at"])
        detected_box.layout().addWidget(self.confirm_old)
        form.addRow("&Detected at", detected_box)
        form.addRow("Initial st&atus", with_error(self.status_edit, self.errors["status"]))
        flags = QWidget()
        flags_layout = QVBoxLayout(flags)
        flags_layout.setContentsMargins(0, 0, 0, 0)
        for box in (self.business, self.external, self.regulatory):
            flags_layout.addWidget(box)
        form.addRow("Impact", flags)
        form.addRow("", self.drill)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = named(self.buttons.addButton("Open incident",
                                                        QDialogButtonBox.ButtonRole.AcceptRole),
                                 "openIncidentButton", "Open incident")
        named(self.buttons.button(QDialogButtonBox.StandardButton.Cancel), "cancelButton", "Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.general_error = ErrorLabel("generalError")

        layout = QVBoxLayout(self)
        intro = QLabel("Open the incident now — you can refine the facts as you learn more.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)

        self.title_edit.textEdited.connect(lambda _t: self.errors["title"].clear_error())
        self.detected.dateTimeChanged.connect(self._detected_changed)
        self.client.currentIndexChanged.connect(lambda _i: self._client_changed())
        if self.client.count() == 0:
            self.errors["client"].show_error("There is no organisation yet.")
        # Only now is the button inside the dialog, so Enter anywhere in it opens the incident.
        self.open_button.setDefault(True)
        self.title_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _detected_changed(self) -> None:
        self.errors["detected_at"].clear_error()
        self.confirm_old.setChecked(False)
        self.confirm_old.hide()

    def set_detected(self, value) -> None:  # type: ignore[no-untyped-def]
        edit_in_zone(self.detected, self.zone, value)

    def _client_zone(self):  # type: ignore[no-untyped-def]
        client_id = self.client.currentData()
        return incident_zone(self.services, client_id) if client_id is not None else \
            incident_zone(self.services, -1)

    def _client_changed(self) -> None:
        """The detection time is the organisation's clock: the same moment, its zone."""
        moment = zoned_value(self.detected, self.zone)
        self.zone = self._client_zone()
        blocked = self.detected.blockSignals(True)
        try:
            edit_in_zone(self.detected, self.zone, moment)
        finally:
            self.detected.blockSignals(blocked)

    def submit(self) -> None:
        for label in self.errors.values():
            label.clear_error()
        self.general_error.clear_error()
        client_id = self.client.currentData()
        if client_id is None:
            self.errors["client"].show_error("Choose the organisation this incident affects.")
            return
        try:
            self.created = self.services.incidents.open(
                client_id=client_id,
                title=self.title_edit.text(),
                severity=Severity(self.severity.currentData()),
                detected_at=zoned_value(self.detected, self.zone),
                is_drill=self.drill.isChecked(),
                impact_business=self.business.isChecked(),
                impact_external=self.external.isChecked(),
                impact_regulatory=self.regulatory.isChecked(),
                facts=Facts(status=self.status_edit.toPlainText()),
                confirm_old=self.confirm_old.isVisible() and self.confirm_old.isChecked(),
            )
        except ValidationError as exc:
            for field, message in exc.errors.items():
                label = self.errors.get(field, self.general_error)
                label.show_error(message)
            first = {"title": self.title_edit, "detected_at": self.detected,
                     "client": self.client}.get(next(iter(exc.errors)))
            if first is not None:
                first.setFocus()
            return
        except ConfirmationRequired as exc:
            self.errors["detected_at"].show_error(exc.message)
            self.confirm_old.show()
            self.confirm_old.setFocus()
            return
        self.accept()

