"""Who is working at this desk: the first-run bar (non-modal: Clarion works meanwhile, signing
with the prefilled name), the shift-change dialog (File → Switch coordinator…) and the list of
coordinators (Settings → Coordinators…, undoable). All only call app/coordinators; the choice is
kept in this computer's settings by coordinator id."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QFrame, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QTableView, QVBoxLayout, QWidget,
)

from app.coordinators.service import CoordinatorDTO
from app.errors import ClarionError, ValidationError
from ui.models.base import DTO_ROLE, DtoTableModel, Index
from ui.services import UNNAMED, desk_key
from ui.widgets.forms import (
    ErrorLabel, NoticeLabel, configure_table, named, undo_footer, with_error,
)


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


class CoordinatorModel(DtoTableModel[CoordinatorDTO]):
    COLUMNS = ("Name", "Role note", "Email", "Phone", "Status")

    def __init__(self, desk: Any, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.desk = desk

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        c = self._rows[index.row()]
        if role == DTO_ROLE:
            return c
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            status = "At this desk" if c.id == self.desk.coordinator_id else \
                ("Active" if c.active else "Inactive")
            return (c.name, c.role_note, c.email, c.phone, status)[index.column()]
        return None

    def row_of(self, coordinator_id: int) -> int:
        return next((n for n, c in enumerate(self._rows) if c.id == coordinator_id), -1)


class CoordinatorsDialog(QDialog):
    """Settings → Coordinators: the people of this database. Every change can be undone; one
    who wrote timeline entries can be made inactive, not deleted."""

    FIELDS = ("name", "email", "phone", "role_note")

    def __init__(self, services: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("coordinatorsDialog")
        self.setAccessibleName("Coordinators")
        self.setWindowTitle("Coordinators")
        self.resize(860, 440)
        self.undo_stack = QUndoStack(self)
        self.model = CoordinatorModel(services.desk, self)
        self.table = configure_table(named(QTableView(), "coordinatorsTable", "Coordinators"))
        self.table.setModel(self.model)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.edits = {
            "name": named(QLineEdit(), "coordinatorNameEdit", "Name"),
            "email": named(QLineEdit(), "coordinatorEmailEdit", "Email"),
            "phone": named(QLineEdit(), "coordinatorPhoneEdit", "Phone"),
            "role_note": named(QLineEdit(), "coordinatorRoleEdit", "Role note"),
        }
        self.errors = {k: ErrorLabel(f"coordinator{k.title().replace('_', '')}Error")
                       for k in self.FIELDS}
        self.active_box = named(QCheckBox("Active (can be chosen at the desk)"),
                                "coordinatorActiveBox", "Active")
        form = QFormLayout()
        for label, key in (("&Name", "name"), ("&Email", "email"), ("&Phone", "phone"),
                           ("&Role note", "role_note")):
            form.addRow(label, with_error(self.edits[key], self.errors[key]))
        form.addRow("", self.active_box)
        self.save_button = named(QPushButton("Save"), "coordinatorSaveButton",
                                 "Save the chosen coordinator")
        self.new_button = named(QPushButton("New"), "coordinatorNewButton",
                                "Clear the form to add a new coordinator (then Save)")
        self.delete_button = named(QPushButton("Delete"), "coordinatorDeleteButton",
                                   "Delete a coordinator who never wrote an entry")
        self.notice = NoticeLabel("coordinatorsNotice")
        buttons = QHBoxLayout()
        for b in (self.save_button, self.new_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addLayout(buttons)
        right.addWidget(self.notice)
        right.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.table, 3)
        body.addLayout(right, 2)
        _undo, _redo, footer = undo_footer(self, self.undo_stack, "coordinators")
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(footer)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._fill())
        self.save_button.clicked.connect(self.save)
        self.new_button.clicked.connect(self.start_new)
        self.delete_button.clicked.connect(self.delete)
        self.reload()

    # -- reading

    def reload(self, select: int | None = None) -> None:
        current = select if select is not None else getattr(self.current(), "id", None)
        self.model.replace_rows(self.services.coordinators.list(include_inactive=True))
        row = self.model.row_of(current) if current is not None else -1
        if self.model.rowCount():
            self.table.selectRow(max(row, 0))
        self._fill()

    def current(self) -> CoordinatorDTO | None:
        index = self.table.currentIndex()
        return index.data(DTO_ROLE) if index.isValid() else None

    def _fill(self) -> None:
        c = self.current()
        for key in self.FIELDS:
            self.edits[key].setText(getattr(c, key) if c else "")
            self.errors[key].clear_error()
        self.active_box.setChecked(c.active if c else True)
        self.delete_button.setEnabled(c is not None)

    def _values(self) -> dict[str, str]:
        return {key: self.edits[key].text() for key in self.FIELDS}

    def _show_errors(self, exc: ValidationError) -> None:
        for key, message in exc.errors.items():
            if key in self.errors:
                self.errors[key].show_error(message)

    # -- editing (each change goes through the service first: a refused one is never pushed)

    def _push(self, text: str, redo: Any, undo: Any) -> None:
        from ui.stakeholders.commands import ServiceCommand

        def again(action: Any) -> Any:
            def run() -> None:
                action()
                self.reload()
            return run

        self.undo_stack.push(ServiceCommand(text, again(redo), again(undo),
                                            self.notice.show_error))

    def start_new(self) -> None:
        self.table.clearSelection()
        self.table.setCurrentIndex(self.model.index(-1, 0))
        self._fill()
        self.edits["name"].setFocus()

    def save(self) -> CoordinatorDTO | None:
        """Save the chosen coordinator's changes, or add one when none is chosen (New)."""
        c = self.current()
        if c is None:
            return self.add()
        service, values = self.services.coordinators, self._values()
        active = self.active_box.isChecked()
        if not active and c.id == self.services.desk.coordinator_id:
            self.notice.show_error(f"{c.name} is working at this desk: switch coordinator "
                                   f"first (File → Switch coordinator…).")
            return None
        try:
            saved = service.update(c.id, active=active, **values)
        except ValidationError as exc:
            self._show_errors(exc)
            return None
        before = {key: getattr(c, key) for key in self.FIELDS}
        self._push(f"edit {saved.name}",
                   lambda: service.update(c.id, active=active, **values),
                   lambda: service.update(c.id, active=c.active, **before))
        if self.services.desk.coordinator_id == c.id:
            self.services.desk.name = saved.name   # what is written from now on
        self.notice.show_info(f"Saved {saved.name}. Entries already written keep the name "
                              f"they were signed with.")
        self.reload(saved.id)
        return saved

    def add(self) -> CoordinatorDTO | None:
        service, values = self.services.coordinators, self._values()
        try:
            person = service.add(**values)
        except ValidationError as exc:
            self._show_errors(exc)
            return None
        holder = {"id": person.id}

        def again() -> None:
            holder["id"] = service.add(**values).id

        self._push(f"add {person.name}", again, lambda: service.delete(holder["id"]))
        self.notice.show_info(f"Added {person.name}.")
        self.reload(person.id)
        return person

    def delete(self) -> CoordinatorDTO | None:
        c = self.current()
        if c is None:
            return None
        service = self.services.coordinators
        if c.id == self.services.desk.coordinator_id:
            self.notice.show_error(f"{c.name} is working at this desk: switch coordinator "
                                   f"first (File → Switch coordinator…).")
            return None
        try:
            gone = service.delete(c.id)
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return None
        holder = {"id": gone.id}
        fields = {key: getattr(gone, key) for key in self.FIELDS}

        def restore() -> None:
            holder["id"] = service.add(**fields).id

        self._push(f"delete {gone.name}", lambda: service.delete(holder["id"]), restore)
        self.notice.show_info(f"Deleted {gone.name}.")
        self.reload()
        return gone
