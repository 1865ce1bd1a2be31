"""The Stakeholders workspace: the map of who must hear what, per organisation — a filterable
table with an editing form, a map of cards by category, groups, the responsibility matrix,
import and export. Every edit goes through the undo stack."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
    QMenu, QMessageBox, QPushButton, QScrollArea, QSplitter, QTableView, QTabWidget, QToolButton,
    QVBoxLayout, QWidget,
)

from app.stakeholders.clients import list_clients
from app.domain.dto import StakeholderDTO
from app.domain.enums import Category, DetailLevel, TimingNeed
from app.errors import ClarionError, ValidationError
from ui.models.stakeholders import STAKEHOLDER_ROLE, StakeholderFilterProxy, StakeholderTableModel
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.stakeholders.form import StakeholderForm
from ui.widgets.forms import NoticeLabel, ask_unsaved, configure_table, named


def _filter_combo(name: str, accessible: str, everything: str, enum: type) -> QComboBox:
    box = named(QComboBox(), name, accessible)
    box.addItem(everything, None)
    for member in enum:
        box.addItem(member.label, member.value)
    return box


class StakeholdersWorkspace(QWidget):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("stakeholdersWorkspace")
        self._loaded = False
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setObjectName("stakeholderUndoStack")

        # -- top bar
        self.client_combo = named(QComboBox(), "stakeholderClientCombo", "Organisation",
                                  "The organisation whose map is shown")
        self.client_combo.setMinimumWidth(180)
        self.settings_button = named(QPushButton("Organisation…"), "organisationSettingsButton",
                                     "Organisation settings and responsibility matrix")
        self.new_client_button = named(QToolButton(), "newOrganisationButton",
                                       "New organisation", "Add an organisation (a client)")
        self.new_client_button.setText("+")
        self.groups_button = named(QPushButton("Groups…"), "groupsButton", "Edit groups")
        self.import_button = named(QToolButton(), "importButton", "Import stakeholders")
        self.import_button.setText("Import")
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        import_menu = QMenu(self.import_button)
        self.import_csv_action = import_menu.addAction("From CSV file…")
        self.import_csv_action.setObjectName("importCsvAction")
        self.import_vcard_action = import_menu.addAction("From vCard file (.vcf)…")
        self.import_vcard_action.setObjectName("importVcardAction")
        self.import_button.setMenu(import_menu)
        self.export_button = named(QPushButton("Export CSV…"), "exportCsvButton",
                                   "Export the map to CSV")
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setObjectName("stakeholderUndoAction")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setObjectName("stakeholderRedoAction")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(action)
        self.undo_button = named(QToolButton(), "undoButton", "Undo")
        self.undo_button.setDefaultAction(self.undo_action)
        self.redo_button = named(QToolButton(), "redoButton", "Redo")
        self.redo_button.setDefaultAction(self.redo_action)
        self.new_button = named(QPushButton("New stakeholder"), "newStakeholderButton",
                                "New stakeholder")
        top = QHBoxLayout()
        top.addWidget(QLabel("Organisation:"))
        top.addWidget(self.client_combo)
        top.addWidget(self.new_client_button)
        top.addWidget(self.settings_button)
        top.addWidget(self.groups_button)
        top.addSpacing(12)
        top.addWidget(self.import_button)
        top.addWidget(self.export_button)
        top.addStretch(1)
        top.addWidget(self.undo_button)
        top.addWidget(self.redo_button)
        top.addWidget(self.new_button)
        self.message = NoticeLabel("stakeholderWorkspaceMessage")

        # -- table page
        self.model = StakeholderTableModel(self)
        self.proxy = StakeholderFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.search = named(QLineEdit(), "stakeholderSearch", "Search stakeholders",
                            "Search names, roles, notes and addresses")
        self.search.setPlaceholderText("Search name, role, notes, address…")
        self.search.setClearButtonEnabled(True)
        self.category_filter = _filter_combo("categoryFilter", "Filter by category",
                                             "All categories", Category)
        self.timing_filter = _filter_combo("timingFilter", "Filter by timing need",
                                           "Any timing", TimingNeed)
        self.detail_filter = _filter_combo("detailFilter", "Filter by detail level",
                                           "Any detail level", DetailLevel)
        self.inactive_check = named(QCheckBox("Show inactive"), "showInactiveCheck",
                                    "Show inactive stakeholders")
        self.inactive_check.setChecked(True)
        self.table = named(QTableView(), "stakeholderTable", "Stakeholders")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(StakeholderTableModel.NAME, Qt.SortOrder.AscendingOrder)
        configure_table(self.table)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((0, 170), (1, 165), (2, 120), (3, 110), (4, 85), (5, 85), (6, 100)):
            header.resizeSection(column, width)
        # The organisation is chosen above; its column would only repeat it.
        self.table.setColumnHidden(StakeholderTableModel.CLIENT, True)
        self.count_label = QLabel()
        self.count_label.setObjectName("stakeholderCountLabel")
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        filters.addWidget(self.category_filter)
        filters.addWidget(self.timing_filter)
        filters.addWidget(self.detail_filter)
        filters.addWidget(self.inactive_check)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.count_label)
        self.form = StakeholderForm()
        form_scroll = QScrollArea()
        form_scroll.setObjectName("stakeholderFormScroll")
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        form_scroll.setMinimumWidth(self.form.minimumSizeHint().width()
                                    + form_scroll.verticalScrollBar().sizeHint().width() + 8)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("stakeholdersSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left)
        self.splitter.addWidget(form_scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([860, 500])

        # -- pages
        self.tabs = named(QTabWidget(), "stakeholderTabs", "Stakeholder views")
        self.tabs.addTab(self.splitter, "Table")
        self.map = self._make_map()
        if self.map is not None:
            self.tabs.addTab(self.map, "Map")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)

        # -- wiring
        self.client_combo.currentIndexChanged.connect(self._client_changed)
        self.search.textChanged.connect(lambda text: self.proxy.set_filters(text=text))
        self.category_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filters(category=self.category_filter.currentData()))
        self.timing_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filters(timing=self.timing_filter.currentData()))
        self.detail_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_filters(detail=self.detail_filter.currentData()))
        self.inactive_check.toggled.connect(
            lambda on: self.proxy.set_filters(show_inactive=on))
        for signal in (self.proxy.modelReset, self.proxy.layoutChanged, self.proxy.rowsInserted,
                       self.proxy.rowsRemoved):
            signal.connect(self._update_count)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.new_button.clicked.connect(self.new_stakeholder)
        self.form.save_requested.connect(self.save)
        self.form.opt_out_requested.connect(self.set_sms_opt_out)
        self.form.revert_requested.connect(self.revert)
        self.form.delete_requested.connect(self.delete)
        self.settings_button.clicked.connect(self.edit_organisation)
        self.new_client_button.clicked.connect(lambda: self.edit_organisation(new=True))
        self.groups_button.clicked.connect(self.edit_groups)
        self.import_csv_action.triggered.connect(lambda: self.import_file("csv"))
        self.import_vcard_action.triggered.connect(lambda: self.import_file("vcard"))
        self.export_button.clicked.connect(self.export_csv)
        services.qt_events.stakeholders_changed.connect(self._stakeholders_changed)
        services.qt_events.clients_changed.connect(self.reload_clients)

    # -- the map page (its own module; absent until it exists)

    def _make_map(self):  # type: ignore[no-untyped-def]
        try:
            from ui.stakeholders.map_view import StakeholderMapView
        except ImportError:
            return None
        view = StakeholderMapView()
        view.category_change_requested.connect(self.move_to_category)
        view.stakeholder_selected.connect(lambda sid: self.select(sid, switch_to_table=False))
        view.stakeholder_activated.connect(lambda sid: self.select(sid, switch_to_table=True))
        return view

    # -- loading

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        # Loaded when first shown, not at start-up: the Incidents workspace comes first.
        if not self._loaded:
            self._loaded = True
            self.reload()
        super().showEvent(event)

    def reload(self) -> None:
        self.reload_clients()
        self._load_stakeholders()

    def reload_clients(self, *_args: object) -> None:
        current = self.client_id()
        clients = list_clients(self.services.store)
        self.client_combo.blockSignals(True)
        self.client_combo.clear()
        for c in clients:
            self.client_combo.addItem(c.name + (" (MSP)" if c.is_msp else ""), c.id)
        index = self.client_combo.findData(current)
        if index < 0:  # first time: the first organisation that is not the MSP itself
            index = next((i for i, c in enumerate(clients) if not c.is_msp), 0)
        self.client_combo.setCurrentIndex(index)
        self.client_combo.blockSignals(False)
        self.proxy.set_filters(client_id=self.client_id())

    def client_id(self) -> int | None:
        return self.client_combo.currentData()

    def _load_stakeholders(self) -> None:
        selected = self.current()
        self.model.set_stakeholders(self.services.stakeholders.list())
        self.proxy.refresh()
        self._refresh_map()
        if selected is not None and self.select(selected.id, switch_to_table=False):
            return
        if self.proxy.rowCount():
            self.table.setCurrentIndex(self.proxy.index(0, 0))
        else:
            self.form.set_stakeholder(None, self.client_id())

    def _refresh_map(self) -> None:
        if self.map is not None:
            cid = self.client_id()
            self.map.set_stakeholders([s for s in self.model.stakeholders()
                                       if s.client_id == cid])

    def _client_changed(self, _index: int) -> None:
        self.proxy.set_filters(client_id=self.client_id())
        self._refresh_map()
        if self.proxy.rowCount():
            self.table.setCurrentIndex(self.proxy.index(0, 0))
        else:
            self.form.set_stakeholder(None, self.client_id())

    def _stakeholders_changed(self, ids: tuple[int, ...] | None) -> None:
        if ids is None:
            self._load_stakeholders()
            return
        from app.errors import NotFound

        for sid in ids:
            try:
                self.model.upsert(self.services.stakeholders.get(sid))
            except NotFound:
                self.model.remove(sid)
        self.proxy.refresh()
        self._refresh_map()
        current = self.current()
        if current is not None and current.id in ids and not self.form.is_dirty():
            self.form.set_stakeholder(current, current.client_id)

    def _update_count(self, *_args: object) -> None:
        shown = self.proxy.rowCount()
        total = sum(1 for s in self.model.stakeholders() if s.client_id == self.client_id())
        self.count_label.setText(f"{total} stakeholders" if shown == total
                                 else f"Showing {shown} of {total} stakeholders")

    # -- selection

    def current(self) -> StakeholderDTO | None:
        index = self.table.currentIndex()
        return self.proxy.data(index, STAKEHOLDER_ROLE) if index.isValid() else None

    def select(self, stakeholder_id: int, switch_to_table: bool = True) -> bool:
        row = self.model.row_of(stakeholder_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.search.clear()
            for box in (self.category_filter, self.timing_filter, self.detail_filter):
                box.setCurrentIndex(0)
            self.inactive_check.setChecked(True)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)
        if self.map is not None:
            self.map.select(stakeholder_id)
        if switch_to_table:
            self.tabs.setCurrentIndex(0)
            self.form.name.setFocus()
        return True

    def _row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        dto = self.proxy.data(current, STAKEHOLDER_ROLE) if current.isValid() else None
        if self.form.stakeholder is not None and dto is not None and \
                self.form.stakeholder.id == dto.id:
            return
        if not self.leave_form():
            # Stay on the stakeholder being edited.
            selection = self.table.selectionModel()
            selection.blockSignals(True)
            selection.setCurrentIndex(previous, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)
            selection.blockSignals(False)
            return
        self.form.set_stakeholder(dto, self.client_id())

    def leave_form(self) -> bool:
        """Before the form shows something else: unsaved edits are saved, discarded or kept
        (then False: stay)."""
        if not self.form.is_dirty():
            return True
        choice = ask_unsaved(self, f"“{self.form.name.text().strip() or 'The new stakeholder'}”")
        if choice == "save":
            self.save()
            return not self.form.is_dirty()
        return choice == "discard"

    # -- edits (each one undoable)

    def _push(self, text: str, redo, undo) -> None:  # type: ignore[no-untyped-def]
        self.undo_stack.push(ServiceCommand(text, redo, undo, self.message.show_error))

    def new_stakeholder(self) -> None:
        if not self.leave_form():
            return
        self.table.clearSelection()
        self.table.setCurrentIndex(QModelIndex())
        self.form.set_stakeholder(None, self.client_id())
        self.tabs.setCurrentIndex(0)
        self.form.name.setFocus()

    def save(self) -> None:
        self.message.clear_error()
        data = self.form.current_data()
        svc = self.services.stakeholders
        try:
            if self.form.stakeholder is None:
                created = svc.create(data)
                holder = [created]

                def redo() -> None:
                    holder[0] = svc.restore(holder[0])

                def undo() -> None:
                    holder[0] = svc.delete(holder[0].id)

                self._push(f"Add {created.name}", redo, undo)
                self.form.set_stakeholder(svc.get(created.id), created.client_id)
                self.select(created.id, switch_to_table=False)
            else:
                sid, before = self.form.stakeholder.id, self.form.stakeholder.data()
                updated = svc.update(sid, data)
                after = updated.data()
                self._push(f"Edit {updated.name}", lambda: svc.update(sid, after),
                           lambda: svc.update(sid, before))
                self.form.set_stakeholder(updated, updated.client_id)
        except ValidationError as exc:
            self.form.show_errors(exc.errors)
        except ClarionError as exc:
            self.message.show_error(str(exc))

    def set_sms_opt_out(self, contact_point_id: int, opted_out: bool) -> bool:
        """Opt a number out of SMS by hand, or text it again (stored at once, undoable). A
        number that replied STOP is lifted only once the coordinator confirms it."""
        if self.form.is_dirty():
            self.message.show_error("Save or revert your edits to this stakeholder first: the "
                                    "SMS opt-out is stored at once.")
            return False
        contact = next((c for c in (self.form.stakeholder.contacts if self.form.stakeholder
                                    else ()) if c.id == contact_point_id), None)
        if contact is None:
            return False
        if not opted_out and not confirm_text_again(self, contact.address,
                                                    contact.opted_out_reason):
            return False
        svc, actor = self.services.stakeholders, self.services.incidents.actor
        reason = contact.opted_out_reason
        try:
            updated = svc.set_sms_opt_out(contact_point_id, opted_out, actor=actor)
        except ClarionError as exc:
            self.message.show_error(str(exc))
            return False
        address = contact.address

        def again(wanted: bool) -> None:   # the contact point's id may change with an undo
            dto = svc.get(updated.id)
            found = next((c for c in dto.contacts if c.address == address), None)
            if found is None or found.id is None:
                raise ClarionError(f"{address} is no longer a contact point of {dto.name}.")
            svc.set_sms_opt_out(found.id, wanted, reason if wanted and reason else "",
                                actor=actor)

        self._push(f"{'Opt out' if opted_out else 'Text again'} {address}",
                   lambda: again(opted_out), lambda: again(not opted_out))
        self.form.set_stakeholder(updated, updated.client_id)
        self.message.show_info(f"{address} is never texted now." if opted_out else
                               f"{address} may be texted again.")
        return True

    def revert(self) -> None:
        self.form.set_stakeholder(self.form.stakeholder, self.client_id())

    def delete(self) -> None:
        dto = self.form.stakeholder
        if dto is None:
            return
        svc = self.services.stakeholders
        try:
            snapshot = [svc.delete(dto.id)]
        except ClarionError as exc:
            self.message.show_error(str(exc))
            return

        def redo() -> None:
            snapshot[0] = svc.delete(snapshot[0].id)

        def undo() -> None:
            svc.restore(snapshot[0])

        self._push(f"Delete {dto.name}", redo, undo)
        self.message.show_info(f"Deleted {dto.name}. Undo (Ctrl+Z) brings them back.")

    def move_to_category(self, stakeholder_id: int, category: str) -> None:
        """The map's drag (or its keyboard equivalent): change the category, undoably."""
        svc = self.services.stakeholders
        try:
            before = svc.get(stakeholder_id)
            after = svc.set_category(stakeholder_id, category)
        except ClarionError as exc:
            self.message.show_error(str(exc))
            return
        old, new = before.data(), after.data()
        self._push(f"Move {after.name} to {Category(category).label}",
                   lambda: svc.update(stakeholder_id, new),
                   lambda: svc.update(stakeholder_id, old))

    # -- dialogs

    def edit_organisation(self, new: bool = False) -> None:
        from ui.stakeholders.organisation_dialog import OrganisationDialog

        dialog = OrganisationDialog(self.services, None if new else self.client_id(),
                                    self.undo_stack, self)
        dialog.saved.connect(self._organisation_saved)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.organisation_dialog = dialog
        dialog.open()

    def _organisation_saved(self, client_id: int) -> None:
        self.reload_clients()
        index = self.client_combo.findData(client_id)
        if index >= 0:
            self.client_combo.setCurrentIndex(index)

    def edit_groups(self) -> None:
        from ui.stakeholders.groups_dialog import GroupsDialog

        if self.client_id() is None:
            return
        dialog = GroupsDialog(self.services, self.client_id(), self.undo_stack, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.groups_dialog = dialog
        dialog.open()

    def import_file(self, kind: str) -> None:
        from ui.stakeholders.import_dialog import ImportDialog

        if self.client_id() is None:
            return
        dialog = ImportDialog(self.services, self.client_id(), kind, self.undo_stack, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.import_dialog = dialog
        dialog.open()
        dialog.choose_file()

    def export_csv(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from pathlib import Path

        from ui.widgets.files import FILTERS, remember_folder, suggested_path

        name = self.client_combo.currentText().replace(" (MSP)", "")
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the stakeholder map",
            suggested_path(self.services.settings, f"{name} stakeholders.csv"), FILTERS["csv"])
        if not path:
            return
        remember_folder(self.services.settings, Path(path))
        self.export_to(path)

    def export_to(self, path: str) -> int:
        from pathlib import Path

        from app.stakeholders.export import export_csv

        rows = [s for s in self.model.stakeholders() if s.client_id == self.client_id()]
        try:
            count = export_csv(rows, Path(path))
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}:\n{exc}")
            return 0
        self.message.show_info(f"Exported {count} stakeholders to {path}.")
        return count


def confirm_text_again(parent: QWidget, address: str, reason: str) -> bool:
    """Lifting an opt-out: the person asked not to be texted. The coordinator confirms; the
    default is not to."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, "Text this number again?",
        f"{address} is never texted: {reason or 'it opted out'}.\n\nLift the opt-out only if "
        "the person asked to be texted again. The SMS provider keeps its own list: until the "
        "person texts START, it may still refuse.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText("Text it again")
    return box.exec() == QMessageBox.StandardButton.Yes
