"""Groups (distribution lists) of one organisation: create, rename, delete, and choose their
members — stakeholders and other groups. A cycle is refused with the path that closes it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
    QListView, QPushButton, QSplitter, QVBoxLayout, QWidget,
)

from app.domain.dto import GroupDTO
from app.domain.enums import Category
from app.errors import ClarionError, ValidationError
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.widgets.forms import NoticeLabel, named

ID_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_ROLE = Qt.ItemDataRole.UserRole + 2


class GroupsDialog(QDialog):
    def __init__(self, services: Services, client_id: int, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.client_id, self.undo_stack = services, client_id, undo_stack
        self._filling = False
        notice = getattr(parent, "message", None)
        self._report = notice.show_error if notice is not None else (lambda _m: None)
        self.setObjectName("groupsDialog")
        self.setAccessibleName("Groups")
        self.setWindowTitle("Groups — distribution lists")
        self.resize(820, 560)

        self.groups_model = QStandardItemModel(self)
        self.group_list = named(QListView(), "groupList", "Groups")
        self.group_list.setModel(self.groups_model)
        self.group_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.new_button = named(QPushButton("New group…"), "newGroupButton", "New group")
        self.rename_button = named(QPushButton("Rename…"), "renameGroupButton", "Rename group")
        self.delete_button = named(QPushButton("Delete"), "deleteGroupButton", "Delete group")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Groups"))
        left_layout.addWidget(self.group_list, 1)
        row = QHBoxLayout()
        row.addWidget(self.new_button)
        row.addWidget(self.rename_button)
        row.addWidget(self.delete_button)
        left_layout.addLayout(row)

        self.members_model = QStandardItemModel(self)
        self.members_proxy = QSortFilterProxyModel(self)
        self.members_proxy.setSourceModel(self.members_model)
        self.members_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.member_filter = named(QLineEdit(), "memberFilter", "Filter members")
        self.member_filter.setPlaceholderText("Filter…")
        self.member_filter.textChanged.connect(self.members_proxy.setFilterFixedString)
        self.member_list = named(QListView(), "memberList", "Members: tick who belongs")
        self.member_list.setModel(self.members_proxy)
        self.members_label = QLabel()
        self.members_label.setObjectName("membersLabel")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.members_label)
        right_layout.addWidget(self.member_filter)
        right_layout.addWidget(self.member_list, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        self.notice = NoticeLabel("groupsNotice")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        named(buttons.button(QDialogButtonBox.StandardButton.Close), "groupsCloseButton", "Close")
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notice)
        layout.addWidget(buttons)

        self.group_list.selectionModel().currentChanged.connect(self._group_changed)
        self.new_button.clicked.connect(self.new_group)
        self.rename_button.clicked.connect(self.rename_group)
        self.delete_button.clicked.connect(self.delete_group)
        # Ticking a box is the edit: stored at once, one undo step each.
        self.members_model.itemChanged.connect(self._member_toggled)
        # Queued: a change made from inside a tick box's signal must not rebuild the list
        # (deleting that box) while the box is still emitting.
        services.qt_events.groups_changed.connect(self._groups_changed,
                                                  Qt.ConnectionType.QueuedConnection)
        self.reload()

    # -- data

    def groups(self) -> list[GroupDTO]:
        return self.services.groups.list(self.client_id)

    def reload(self, select_id: int | None = None) -> None:
        current = select_id if select_id is not None else self.current_group_id()
        self.groups_model.clear()
        for g in self.groups():
            size = len(g.stakeholder_ids) + len(g.group_ids)
            item = QStandardItem(f"{g.name}  ({size})")
            item.setData(g.id, ID_ROLE)
            self.groups_model.appendRow(item)
        row = next((r for r in range(self.groups_model.rowCount())
                    if self.groups_model.item(r).data(ID_ROLE) == current), 0)
        if self.groups_model.rowCount():
            self.group_list.setCurrentIndex(self.groups_model.index(row, 0))
        self._load_members()

    def _groups_changed(self, client_id: object) -> None:
        if client_id == self.client_id:
            self.reload()

    def current_group_id(self) -> int | None:
        index = self.group_list.currentIndex()
        return index.data(ID_ROLE) if index.isValid() else None

    def _group_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._load_members()

    def _load_members(self) -> None:
        gid = self.current_group_id()
        group = next((g for g in self.groups() if g.id == gid), None)
        self._filling = True
        self.members_model.clear()
        for widget in (self.rename_button, self.delete_button,
                       self.member_list, self.member_filter):
            widget.setEnabled(group is not None)
        if group is None:
            self.members_label.setText("Create a group to choose its members.")
            self._filling = False
            return
        self.members_label.setText(f"Members of “{group.name}” — tick who belongs:")
        for other in self.groups():
            if other.id == group.id:
                continue
            item = QStandardItem(f"Group: {other.name}")
            item.setCheckable(True)
            item.setCheckState(Qt.CheckState.Checked if other.id in group.group_ids
                               else Qt.CheckState.Unchecked)
            item.setData(other.id, ID_ROLE)
            item.setData("group", KIND_ROLE)
            self.members_model.appendRow(item)
        for s in self.services.stakeholders.list(self.client_id):
            label = f"{s.name} — {Category(s.category).label}"
            if not s.active:
                label += " (inactive)"
            item = QStandardItem(label)
            item.setCheckable(True)
            item.setCheckState(Qt.CheckState.Checked if s.id in group.stakeholder_ids
                               else Qt.CheckState.Unchecked)
            item.setData(s.id, ID_ROLE)
            item.setData("stakeholder", KIND_ROLE)
            self.members_model.appendRow(item)
        self._filling = False

    def _member_toggled(self, _item: QStandardItem) -> None:
        if not self._filling:
            self.apply_members()

    def checked(self) -> tuple[set[int], set[int]]:
        people, groups = set(), set()
        for row in range(self.members_model.rowCount()):
            item = self.members_model.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                (groups if item.data(KIND_ROLE) == "group" else people).add(item.data(ID_ROLE))
        return people, groups

    # -- edits (undoable)

    def _push(self, text: str, redo, undo) -> None:  # type: ignore[no-untyped-def]
        self.undo_stack.push(ServiceCommand(text, redo, undo, self._report))

    def new_group(self, name: str | None = None) -> None:
        if name is None:
            name, ok = QInputDialog.getText(self, "New group", "Name of the group:")
            if not ok:
                return
        svc = self.services.groups
        try:
            created = [svc.create(self.client_id, name)]
        except ValidationError as exc:
            self.notice.show_error("; ".join(exc.errors.values()))
            return

        def redo() -> None:
            created[0] = svc.restore(created[0])

        def undo() -> None:
            created[0] = svc.delete(created[0].id)

        self._push(f"Add group {created[0].name}", redo, undo)
        self.notice.clear_error()
        self.reload(created[0].id)

    def rename_group(self, name: str | None = None) -> None:
        gid = self.current_group_id()
        if gid is None:
            return
        svc = self.services.groups
        before = svc.get(gid)
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename group", "New name:", text=before.name)
            if not ok:
                return
        try:
            after = svc.rename(gid, name)
        except ValidationError as exc:
            self.notice.show_error("; ".join(exc.errors.values()))
            return
        self._push(f"Rename group {before.name}", lambda: svc.rename(gid, after.name),
                   lambda: svc.rename(gid, before.name))
        self.notice.clear_error()

    def delete_group(self) -> None:
        gid = self.current_group_id()
        if gid is None:
            return
        svc = self.services.groups
        parents = svc.parents_of(gid)
        try:
            snapshot = [svc.delete(gid)]
        except ClarionError as exc:
            self.notice.show_error(str(exc))
            return

        def undo() -> None:
            svc.restore(snapshot[0], parents)

        def redo() -> None:
            snapshot[0] = svc.delete(gid)

        self._push(f"Delete group {snapshot[0].name}", redo, undo)
        self.notice.show_info(f"Deleted “{snapshot[0].name}”. Undo brings it back.")

    def apply_members(self) -> None:
        gid = self.current_group_id()
        if gid is None:
            return
        svc = self.services.groups
        before = svc.get(gid)
        people, groups = self.checked()
        try:
            after = svc.set_members(gid, people, groups)
        except ValidationError as exc:
            self.notice.show_error("; ".join(exc.errors.values()))
            # The boxes show what is stored again — after this signal, not inside it: the
            # item that emitted it must outlive its own emission.
            QTimer.singleShot(0, self._load_members)
            return
        added = (set(after.stakeholder_ids) - set(before.stakeholder_ids)) | \
            (set(after.group_ids) - set(before.group_ids))
        verb = "Add to" if added else "Remove from"
        self._push(f"{verb} {after.name}",
                   lambda: svc.set_members(gid, after.stakeholder_ids, after.group_ids),
                   lambda: svc.set_members(gid, before.stakeholder_ids, before.group_ids))
        self.notice.show_info(f"“{after.name}” now has {len(people)} people and "
                              f"{len(groups)} groups.")
