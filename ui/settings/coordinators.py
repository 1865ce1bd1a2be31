"""Who is working at this desk: the first-run bar (non-modal: Clarion works meanwhile, signing
with the prefilled name) and the shift-change dialog (File → Switch coordinator…). Both only
call app/coordinators; the choice is kept in this computer's settings by coordinator id."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QVBoxLayout, QWidget,
)

from app.coordinators.service import CoordinatorDTO
from app.errors import ValidationError
from ui.services import UNNAMED, desk_key
from ui.widgets.forms import ErrorLabel, named, with_error


def take_the_desk(services: Any, person: CoordinatorDTO, announce: bool) -> None:
    """Make `person` the one who signs from now on, remember it on this computer, and (at a
    shift change) say so in every open incident's timeline."""
    previous = services.desk.name
    services.desk.switch(person)
    services.settings.setValue(desk_key(services.is_demo), person.id)
    services.settings.sync()
    if announce:
        services.incidents.hand_over(previous)


class DeskBar(QFrame):
    """"Who is working on this desk?" — shown until someone confirms; never modal."""

    confirmed = Signal(object)   # CoordinatorDTO

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("deskBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#deskBar { background: #fff8e1; }")
        label = QLabel("<b>Who is working on this desk?</b> Everything you write is signed "
                       "with this name.")
        label.setObjectName("deskBarLabel")
        self.name_edit = named(QLineEdit(services.desk.name if services.desk.name !=
                                         UNNAMED else ""),
                               "deskNameEdit", "Your name, as the record should show it")
        self.name_edit.setPlaceholderText("Your full name")
        self.name_edit.setMinimumWidth(260)
        self.error = ErrorLabel("deskNameError")
        self.confirm_button = named(QPushButton("That's me"), "deskConfirmButton",
                                    "Sign the record with this name")
        self.confirm_button.setDefault(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(label)
        layout.addWidget(with_error(self.name_edit, self.error))
        layout.addWidget(self.confirm_button)
        layout.addStretch(1)
        self.confirm_button.clicked.connect(self.confirm)
        self.name_edit.returnPressed.connect(self.confirm)

    def confirm(self) -> CoordinatorDTO | None:
        service = self.services.coordinators
        name = self.name_edit.text()
        try:
            person = service.find(name) if name.strip() else None
            if person is None or not person.active:
                person = service.add(name)
        except ValidationError as exc:
            self.error.show_error(exc.errors.get("name") or str(exc))
            return None
        self.error.clear_error()
        take_the_desk(self.services, person, announce=False)
        self.hide()
        self.confirmed.emit(person)
        return person


class SwitchCoordinatorDialog(QDialog):
    """A shift change: pick someone from the list, or add a person."""

    NEW = -1

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("switchCoordinatorDialog")
        self.setWindowTitle("Switch coordinator")
        self.setAccessibleName("Switch coordinator")
        self.chosen: CoordinatorDTO | None = None
        now = QLabel(f"Signing now: <b>{services.desk.name}</b>")
        now.setObjectName("switchCurrentLabel")
        self.person_combo = named(QComboBox(), "switchPersonCombo", "Who takes over")
        for c in services.coordinators.list():
            note = f" — {c.role_note}" if c.role_note else ""
            self.person_combo.addItem(f"{c.name}{note}", c.id)
        self.person_combo.addItem("Someone new…", self.NEW)
        current = self.person_combo.findData(services.desk.coordinator_id)
        others = [i for i in range(self.person_combo.count() - 1) if i != current]
        self.person_combo.setCurrentIndex(others[0] if others else self.person_combo.count() - 1)
        self.name_edit = named(QLineEdit(), "switchNameEdit", "The new coordinator's name")
        self.email_edit = named(QLineEdit(), "switchEmailEdit", "The new coordinator's email")
        self.phone_edit = named(QLineEdit(), "switchPhoneEdit", "The new coordinator's phone")
        self.errors = {k: ErrorLabel(f"switch{k.title()}Error") for k in ("name", "email", "phone")}
        self.new_box = QWidget()
        form = QFormLayout(self.new_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Name", with_error(self.name_edit, self.errors["name"]))
        form.addRow("&Email", with_error(self.email_edit, self.errors["email"]))
        form.addRow("&Phone", with_error(self.phone_edit, self.errors["phone"]))
        note = QLabel("Every open incident's timeline will say who took over, and everything "
                      "written from now on is signed with their name.")
        note.setWordWrap(True)
        note.setObjectName("switchNote")
        buttons = QDialogButtonBox()
        self.ok_button = named(buttons.addButton("Take over", QDialogButtonBox.ButtonRole.AcceptRole),
                               "switchTakeOverButton", "Make this person the coordinator")
        cancel = named(buttons.addButton(QDialogButtonBox.StandardButton.Cancel),
                       "switchCancelButton", "Keep the current coordinator")
        cancel.clicked.connect(self.reject)
        self.ok_button.clicked.connect(self.take_over)
        layout = QVBoxLayout(self)
        layout.addWidget(now)
        top = QFormLayout()
        top.addRow("&Who takes over", self.person_combo)
        layout.addLayout(top)
        layout.addWidget(self.new_box)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.person_combo.currentIndexChanged.connect(lambda _i: self._update())
        self._update()

    def _update(self) -> None:
        self.new_box.setVisible(self.person_combo.currentData() == self.NEW)
        self.adjustSize()

    def take_over(self) -> CoordinatorDTO | None:
        for error in self.errors.values():
            error.clear_error()
        chosen = self.person_combo.currentData()
        service = self.services.coordinators
        try:
            if chosen == self.NEW:
                person = service.add(self.name_edit.text(), self.email_edit.text(),
                                     self.phone_edit.text())
            else:
                person = service.get(chosen)
        except ValidationError as exc:
            for field, message in exc.errors.items():
                if field in self.errors:
                    self.errors[field].show_error(message)
            return None
        if person.id != self.services.desk.coordinator_id:
            take_the_desk(self.services, person, announce=True)
        self.chosen = person
        self.accept()
        return person
