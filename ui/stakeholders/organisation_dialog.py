"""An organisation's settings — name, time zone, phone region, customer-notification SLA,
regulatory regimes — and its responsibility matrix (who communicates in each scenario)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout, QGroupBox,
    QHBoxLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget,
)

from app.stakeholders.clients import (
    delete_client, get_matrix, list_clients, save_client, set_matrix, settings_of,
)
from app.domain.dto import ClientSettings, ResponsibilityDTO
from app.domain.enums import Communicator, Regime, Scenario
from app.errors import ValidationError
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.widgets.forms import ErrorLabel, named, with_error


class OrganisationDialog(QDialog):
    saved = Signal(int)  # client id

    def __init__(self, services: Services, client_id: int | None, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.client_id, self.undo_stack = services, client_id, undo_stack
        # Undo may run long after this dialog is gone: report through the workspace's line.
        notice = getattr(parent, "message", None)
        self._report = notice.show_error if notice is not None else (lambda _m: None)
        self.setObjectName("organisationDialog")
        self.setAccessibleName("Organisation settings")
        self.setWindowTitle("New organisation" if client_id is None else "Organisation settings")
        self.setMinimumWidth(820)
        client = next((c for c in list_clients(services.store) if c.id == client_id), None)
        self.before = settings_of(client) if client else None
        self.before_matrix = get_matrix(services.store, client_id) if client_id else None

        self.name = named(QLineEdit(), "orgNameEdit", "Organisation name")
        self.is_msp = named(QCheckBox("This is the managed-service provider (MSP) itself"),
                            "orgMspCheck", "Organisation is the MSP")
        self.time_zone = named(QComboBox(), "orgTimeZoneCombo", "Time zone")
        self.time_zone.setEditable(True)
        from zoneinfo import available_timezones

        self.time_zone.addItems(sorted(available_timezones()))
        self.region = named(QLineEdit(), "orgRegionEdit", "Default phone region",
                            "Two-letter country code used to read local phone numbers")
        self.region.setMaxLength(2)
        self.region.setMaximumWidth(60)
        self.sla = named(QSpinBox(), "orgSlaSpin", "Customer notification SLA in minutes")
        self.sla.setRange(0, 43200)
        self.sla.setSpecialValueText("No contractual SLA")
        self.sla.setSuffix(" min")
        self.sla.setSingleStep(15)
        self.regimes = {r.value: named(QCheckBox(r.label), f"regime_{r.value}", f"{r.label} applies")
                        for r in Regime}
        self.errors = {k: ErrorLabel(f"org_{k}_error") for k in (
            "name", "time_zone", "default_region", "notification_sla_minutes", "regimes",
            "matrix", "client")}

        form = QFormLayout()
        form.addRow("&Name", with_error(self.name, self.errors["name"]))
        form.addRow("", self.is_msp)
        form.addRow("&Time zone", with_error(self.time_zone, self.errors["time_zone"]))
        form.addRow("Phone &region", with_error(self.region, self.errors["default_region"]))
        form.addRow("Customer &SLA", with_error(self.sla, self.errors["notification_sla_minutes"]))
        regime_box = QWidget()
        regime_layout = QGridLayout(regime_box)
        regime_layout.setContentsMargins(0, 0, 0, 0)
        for n, box in enumerate(self.regimes.values()):
            regime_layout.addWidget(box, n // 4, n % 4)
        form.addRow("Regulatory regimes", with_error(regime_box, self.errors["regimes"]))

        matrix_box = QGroupBox("Responsibility matrix — who communicates, and to whom")
        matrix_box.setObjectName("responsibilityMatrixGroup")
        grid = QGridLayout(matrix_box)
        grid.addWidget(QLabel("<b>Scenario</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Who communicates</b>"), 0, 1)
        grid.addWidget(QLabel("<b>To whom</b>"), 0, 2)
        self.matrix: dict[str, tuple[QComboBox, QLineEdit]] = {}
        for row, scenario in enumerate(Scenario, start=1):
            who = named(QComboBox(), f"matrixWho_{scenario.value}",
                        f"Who communicates: {scenario.label}")
            for c in Communicator:
                who.addItem(c.label, c.value)
            whom = named(QLineEdit(), f"matrixWhom_{scenario.value}",
                         f"To whom: {scenario.label}")
            whom.setPlaceholderText("e.g. end users and the client's IT lead")
            grid.addWidget(QLabel(scenario.label), row, 0)
            grid.addWidget(who, row, 1)
            grid.addWidget(whom, row, 2)
            self.matrix[scenario.value] = (who, whom)
        grid.addWidget(self.errors["matrix"], len(Scenario) + 1, 0, 1, 3)
        grid.setColumnStretch(2, 1)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        named(self.buttons.button(QDialogButtonBox.StandardButton.Save), "orgSaveButton", "Save")
        named(self.buttons.button(QDialogButtonBox.StandardButton.Cancel), "orgCancelButton",
              "Cancel")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(matrix_box)
        layout.addWidget(self.errors["client"])
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout.addLayout(bottom)
        self._load()

    def _load(self) -> None:
        s = self.before or ClientSettings(name="", time_zone="UTC", default_region="US")
        self.name.setText(s.name)
        self.is_msp.setChecked(s.is_msp)
        self.time_zone.setCurrentText(s.time_zone)
        self.region.setText(s.default_region)
        self.sla.setValue(s.notification_sla_minutes or 0)
        for value, box in self.regimes.items():
            box.setChecked(value in s.regimes)
        matrix = self.before_matrix or {}
        for scenario, (who, whom) in self.matrix.items():
            row = matrix.get(scenario)
            if row is not None:
                who.setCurrentIndex(who.findData(row.communicator))
                whom.setText(row.audience)
                whom.setCursorPosition(0)
                whom.setToolTip(row.audience)

    def current_settings(self) -> ClientSettings:
        return ClientSettings(
            name=self.name.text(), is_msp=self.is_msp.isChecked(),
            time_zone=self.time_zone.currentText().strip(),
            default_region=self.region.text().strip().upper(),
            notification_sla_minutes=self.sla.value() or None,
            regimes=tuple(v for v, box in self.regimes.items() if box.isChecked()))

    def current_matrix(self) -> list[ResponsibilityDTO]:
        return [ResponsibilityDTO(scenario, who.currentData(), whom.text())
                for scenario, (who, whom) in self.matrix.items()]

    def submit(self) -> None:
        for label in self.errors.values():
            label.clear_error()
        store, clock, bus = self.services.store, self.services.clock, self.services.events
        settings, matrix = self.current_settings(), self.current_matrix()
        try:
            dto = save_client(store, clock, settings, self.client_id, events=bus)
        except ValidationError as exc:
            for key, message in exc.errors.items():
                self.errors.get(key, self.errors["client"]).show_error(message)
            return
        try:
            set_matrix(store, dto.id, matrix)
        except ValidationError as exc:
            self.errors["matrix"].show_error("; ".join(exc.errors.values()))
            if self.before is not None:
                save_client(store, clock, self.before, dto.id, events=bus)
            else:
                delete_client(store, dto.id, events=bus)
            return
        client_id = dto.id
        on_error = self._report
        if self.before is None:
            created = [dto]

            def redo() -> None:
                created[0] = save_client(store, clock, settings, None, events=bus)
                set_matrix(store, created[0].id, matrix)

            def undo() -> None:
                delete_client(store, created[0].id, events=bus)

            text = f"Add organisation {dto.name}"
        else:
            before, before_matrix = self.before, list((self.before_matrix or {}).values())

            def redo() -> None:
                save_client(store, clock, settings, client_id, events=bus)
                set_matrix(store, client_id, matrix)

            def undo() -> None:
                save_client(store, clock, before, client_id, events=bus)
                set_matrix(store, client_id, before_matrix)

            text = f"Edit organisation {dto.name}"
        self.undo_stack.push(ServiceCommand(text, redo, undo, on_error))
        self.saved.emit(client_id)
        self.accept()

