"""The stakeholder editing form beside the table: every field with its message right below."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QTableView, QVBoxLayout, QWidget,
)

from app.domain.addresses import address_note
from app.domain.dto import ContactPointData, StakeholderData, StakeholderDTO
from app.domain.enums import CATEGORY_DEFAULTS, Category, Channel, DetailLevel, TimingNeed
from app.stakeholders.service import MAX_SILENCE_LIMIT
from ui.models.stakeholders import ContactsModel
from ui.widgets.forms import ErrorLabel, NoticeLabel, named, with_error

FIELDS = ("name", "role", "category", "information_need", "timing_need", "detail_level",
          "max_silence_minutes", "preferred_channel", "notes", "contacts", "client")


def _combo(name: str, accessible: str, enum: type, none_label: str | None = None) -> QComboBox:
    box = named(QComboBox(), name, accessible)
    if none_label is not None:
        box.addItem(none_label, None)
    for member in enum:
        box.addItem(member.label, member.value)
    return box


class StakeholderForm(QWidget):
    save_requested = Signal()
    # an SMS contact point's opt-out set (True) or lifted (False) by hand: (contact point id, …)
    opt_out_requested = Signal(int, bool)
    revert_requested = Signal()
    delete_requested = Signal()
    new_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stakeholderForm")
        self.stakeholder: StakeholderDTO | None = None
        self.client_id: int | None = None
        self._loading = False
        self._loaded: StakeholderData | None = None
        self._last_category = Category.AFFECTED_USERS.value

        self.heading = QLabel()
        self.heading.setObjectName("stakeholderFormHeading")
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.heading.setFont(font)
        self.name = named(QLineEdit(), "stakeholderNameEdit", "Name")
        self.role = named(QLineEdit(), "stakeholderRoleEdit", "Role or title")
        self.category = _combo("stakeholderCategoryCombo", "Category", Category)
        self.information_need = named(QPlainTextEdit(), "stakeholderNeedEdit", "Information need")
        self.information_need.setTabChangesFocus(True)
        self.information_need.setFixedHeight(48)
        self.timing = _combo("stakeholderTimingCombo", "Timing need", TimingNeed)
        self.detail = _combo("stakeholderDetailCombo", "Detail level", DetailLevel)
        self.silence = named(QSpinBox(), "stakeholderSilenceSpin", "Maximum silence in minutes",
                             "Longest silence this person should experience during an incident")
        self.silence.setRange(0, MAX_SILENCE_LIMIT)
        self.silence.setSpecialValueText("No limit")
        self.silence.setSuffix(" min")
        self.silence.setSingleStep(15)
        self.preferred = _combo("stakeholderPreferredChannelCombo", "Preferred channel", Channel,
                                "No preference")
        self.active = named(QCheckBox("Active (receives messages)"), "stakeholderActiveCheck",
                            "Active")
        self.notes = named(QPlainTextEdit(), "stakeholderNotesEdit", "Notes")
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(48)

        # contact points
        self.contacts = ContactsModel(self)
        self.contacts_view = named(QTableView(), "contactsTable", "Contact points")
        self.contacts_view.setModel(self.contacts)
        self.contacts_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.contacts_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.contacts_view.verticalHeader().hide()
        self.contacts_view.setFixedHeight(110)
        header = self.contacts_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.new_channel = _combo("newContactChannelCombo", "New contact point channel", Channel)
        self.new_address = named(QLineEdit(), "newContactAddressEdit", "New contact point address")
        self.new_address.setPlaceholderText("address, number or https:// URL")
        self.new_label = named(QLineEdit(), "newContactLabelEdit", "New contact point label")
        self.new_label.setPlaceholderText("label (optional)")
        self.new_label.setMaximumWidth(130)
        self.add_contact = named(QPushButton("Add"), "addContactButton", "Add contact point")
        self.remove_contact = named(QPushButton("Remove"), "removeContactButton",
                                    "Remove selected contact point")
        self.up_contact = named(QPushButton("↑"), "contactUpButton", "Raise contact priority")
        self.down_contact = named(QPushButton("↓"), "contactDownButton", "Lower contact priority")
        for b in (self.up_contact, self.down_contact):
            b.setMaximumWidth(32)
        self.opt_out_button = named(
            QPushButton("Opt out of SMS"), "smsOptOutButton",
            "Opt the selected number out of SMS, or lift its opt-out",
            "A number that replied STOP is never texted; lift it only when the person asks to "
            "be texted again")
        self.opt_out_button.setEnabled(False)
        self.opt_out_note = QLabel()
        self.opt_out_note.setObjectName("smsOptOutNote")
        self.opt_out_note.setWordWrap(True)
        self.opt_out_note.hide()

        self.errors = {f: ErrorLabel(f"{f}Error") for f in FIELDS}
        form = QFormLayout()
        form.addRow("&Name", with_error(self.name, self.errors["name"]))
        form.addRow("&Role", with_error(self.role, self.errors["role"]))
        form.addRow("&Category", with_error(self.category, self.errors["category"]))
        form.addRow("Information &need",
                    with_error(self.information_need, self.errors["information_need"]))
        form.addRow("&Timing need", with_error(self.timing, self.errors["timing_need"]))
        form.addRow("&Detail level", with_error(self.detail, self.errors["detail_level"]))
        form.addRow("Max &silence", with_error(self.silence, self.errors["max_silence_minutes"]))
        form.addRow("&Preferred channel",
                    with_error(self.preferred, self.errors["preferred_channel"]))
        form.addRow("", self.active)
        form.addRow("N&otes", with_error(self.notes, self.errors["notes"]))

        contacts_box = QGroupBox("Contact points — in priority order")
        contacts_box.setObjectName("contactsGroup")
        contacts_layout = QVBoxLayout(contacts_box)
        contacts_layout.addWidget(self.contacts_view)
        order = QHBoxLayout()
        order.addWidget(self.up_contact)
        order.addWidget(self.down_contact)
        order.addStretch(1)
        order.addWidget(self.opt_out_button)
        order.addWidget(self.remove_contact)
        contacts_layout.addLayout(order)
        contacts_layout.addWidget(self.opt_out_note)
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_channel)
        add_row.addWidget(self.new_address, 1)
        add_row.addWidget(self.new_label)
        add_row.addWidget(self.add_contact)
        contacts_layout.addLayout(add_row)
        # a quiet word on an address that is valid but out of the ordinary (corp.local, zoë@)
        self.address_note = NoticeLabel("contactAddressNote")
        contacts_layout.addWidget(self.address_note)
        self.new_address.textChanged.connect(self._note_address)
        self.new_channel.currentIndexChanged.connect(self._note_address)
        contacts_layout.addWidget(self.errors["contacts"])

        self.save_button = named(QPushButton("Save"), "saveStakeholderButton", "Save stakeholder",
                                 "Save (Ctrl+S)")
        self.save_button.setShortcut("Ctrl+S")
        self.revert_button = named(QPushButton("Revert"), "revertStakeholderButton",
                                   "Revert unsaved changes")
        self.delete_button = named(QPushButton("Delete"), "deleteStakeholderButton",
                                   "Delete stakeholder")
        self.state = QLabel()
        self.state.setObjectName("stakeholderFormState")
        buttons = QHBoxLayout()
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.state, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(form)
        layout.addWidget(contacts_box)
        layout.addWidget(self.errors["client"])
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.save_button.clicked.connect(self.save_requested)
        self.revert_button.clicked.connect(self.revert_requested)
        self.delete_button.clicked.connect(self.delete_requested)
        self.add_contact.clicked.connect(self._add_contact)
        self.new_address.returnPressed.connect(self._add_contact)
        self.remove_contact.clicked.connect(self._remove_contact)
        self.up_contact.clicked.connect(lambda: self._move_contact(-1))
        self.down_contact.clicked.connect(lambda: self._move_contact(+1))
        self.contacts_view.selectionModel().currentRowChanged.connect(
            lambda _current, _previous: self._show_opt_out())
        self.contacts.modelReset.connect(self._show_opt_out)
        self.opt_out_button.clicked.connect(self._opt_out_clicked)
        self.category.currentIndexChanged.connect(self._category_changed)
        for line in (self.name, self.role):
            line.textChanged.connect(self._edited)
        for text in (self.information_need, self.notes):
            text.textChanged.connect(self._edited)
        for box in (self.timing, self.detail, self.preferred):
            box.currentIndexChanged.connect(self._edited)
        self.silence.valueChanged.connect(self._edited)
        self.active.toggled.connect(self._edited)
        for model_signal in (self.contacts.rowsInserted, self.contacts.rowsRemoved,
                             self.contacts.modelReset):
            model_signal.connect(self._edited)
        self.name.textEdited.connect(lambda _t: self.errors["name"].clear_error())
        self.new_address.textEdited.connect(lambda _t: self.errors["contacts"].clear_error())
        self.set_stakeholder(None, None)

    # -- loading

    def set_stakeholder(self, dto: StakeholderDTO | None, client_id: int | None) -> None:
        """Show `dto`, or an empty form for a new stakeholder of `client_id`."""
        self.stakeholder = dto
        self.client_id = dto.client_id if dto else client_id
        self._loading = True
        data = dto.data() if dto else self._new_data()
        self.name.setText(data.name)
        self.role.setText(data.role)
        self._select(self.category, data.category)
        self.information_need.setPlainText(data.information_need or "")
        self._select(self.timing, data.timing_need)
        self._select(self.detail, data.detail_level)
        self.silence.setValue(data.max_silence_minutes or 0)
        self._select(self.preferred, data.preferred_channel)
        self.active.setChecked(data.active)
        self.notes.setPlainText(data.notes)
        self.contacts.set_contacts(data.contacts)
        self.new_address.clear()
        self.new_label.clear()
        self._loading = False
        self._loaded = self.current_data()
        self._last_category = data.category
        self.clear_errors()
        self.heading.setText(dto.name if dto else "New stakeholder")
        self.delete_button.setEnabled(dto is not None)
        self.setEnabled(self.client_id is not None)
        self._edited()

    def _new_data(self) -> StakeholderData:
        category = Category.AFFECTED_USERS
        need, timing, detail, silence = CATEGORY_DEFAULTS[category]
        return StakeholderData(client_id=self.client_id or 0, category=category.value,
                               information_need=need, timing_need=timing.value,
                               detail_level=detail.value, max_silence_minutes=silence)

    @staticmethod
    def _select(box: QComboBox, value: str | None) -> None:
        index = box.findData(value)
        box.setCurrentIndex(index if index >= 0 else 0)

    # -- reading

    def current_data(self) -> StakeholderData:
        return StakeholderData(
            client_id=self.client_id or 0, name=self.name.text(), role=self.role.text(),
            category=self.category.currentData(),
            information_need=self.information_need.toPlainText(),
            timing_need=self.timing.currentData(), detail_level=self.detail.currentData(),
            max_silence_minutes=self.silence.value() or None,
            notes=self.notes.toPlainText(), active=self.active.isChecked(),
            preferred_channel=self.preferred.currentData(),
            contacts=self.contacts.contacts())

    def is_dirty(self) -> bool:
        return self._loaded is not None and self.current_data() != self._loaded

    # -- errors

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.clear_error()

    def show_errors(self, errors: dict[str, str]) -> None:
        self.clear_errors()
        contact_lines = []
        for key, message in errors.items():
            if key.startswith("contacts."):
                _, index, _field = (key.split(".") + ["", ""])[:3]
                contact_lines.append(f"Contact point {int(index) + 1}: {message}")
            else:
                self.errors.get(key, self.errors["client"]).show_error(message)
        if contact_lines:
            self.errors["contacts"].show_error("\n".join(contact_lines))
        first = next(iter(errors), "")
        widget = {"name": self.name, "role": self.role, "category": self.category,
                  "max_silence_minutes": self.silence}.get(first)
        if widget is not None:
            widget.setFocus()

    # -- reactions

    def _edited(self, *_args: object) -> None:
        if self._loading:
            return
        dirty = self.is_dirty() or self.stakeholder is None
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(self.is_dirty())
        self.state.setText("Unsaved changes" if self.is_dirty() else "")

    def _category_changed(self, _index: int) -> None:
        """A new category brings its defaults for the fields still at the old defaults."""
        if self._loading or self._loaded is None:
            self._edited()
            return
        previous = self._last_category
        self._last_category = self.category.currentData()
        old = CATEGORY_DEFAULTS[Category(previous)]
        new = CATEGORY_DEFAULTS[Category(self.category.currentData())]
        if self.information_need.toPlainText().strip() in ("", old[0]):
            self.information_need.setPlainText(new[0])
        if self.timing.currentData() == old[1].value:
            self._select(self.timing, new[1].value)
        if self.detail.currentData() == old[2].value:
            self._select(self.detail, new[2].value)
        if (self.silence.value() or None) == old[3]:
            self.silence.setValue(new[3] or 0)
        self._edited()

    def _note_address(self, *_args: object) -> None:
        is_email = self.new_channel.currentData() == Channel.EMAIL.value
        note = address_note(self.new_address.text()) if is_email else ""
        if note:
            self.address_note.show_info(note)
        else:
            self.address_note.clear_error()

    def selected_contact(self) -> ContactPointData | None:
        index = self.contacts_view.currentIndex()
        return self.contacts.contact_at(index.row()) if index.isValid() else None

    def _show_opt_out(self) -> None:
        """The opt-out of the selected SMS number: what it is, and the button to change it."""
        c = self.selected_contact()
        sms = c is not None and c.channel == Channel.SMS.value and c.id is not None
        stopped = sms and c.opted_out_at is not None   # type: ignore[union-attr]
        self.opt_out_button.setEnabled(sms)
        self.opt_out_button.setText("Text this number again…" if stopped else "Opt out of SMS")
        self.opt_out_note.setVisible(bool(stopped))
        if stopped:
            self.opt_out_note.setText(f"{c.address} is never texted: "   # type: ignore[union-attr]
                                      f"{c.opted_out_reason or 'opted out'}.")  # type: ignore[union-attr]

    def _opt_out_clicked(self) -> None:
        c = self.selected_contact()
        if c is not None and c.id is not None:
            self.opt_out_requested.emit(c.id, c.opted_out_at is None)

    def _add_contact(self) -> None:
        address = self.new_address.text().strip()
        if not address:
            self.errors["contacts"].show_error("Type an address, then Add.")
            return
        self.contacts.add(ContactPointData(channel=self.new_channel.currentData(),
                                           address=address, priority=self.contacts.rowCount() + 1,
                                           label=self.new_label.text().strip()))
        self.new_address.clear()
        self.new_label.clear()
        self.errors["contacts"].clear_error()
        self.new_address.setFocus(Qt.FocusReason.OtherFocusReason)

    def _remove_contact(self) -> None:
        index = self.contacts_view.currentIndex()
        if index.isValid():
            self.contacts.remove(index.row())

    def _move_contact(self, delta: int) -> None:
        index = self.contacts_view.currentIndex()
        if index.isValid():
            row = self.contacts.move(index.row(), delta)
            self.contacts_view.selectRow(row)
            self._edited()
