"""Stakeholders as a table: DTO rows, a filtering proxy fast enough for 10,000 people, and the
contact points of the stakeholder being edited."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from app.domain.dto import ContactPointData, StakeholderDTO
from app.domain.enums import Category, Channel, DetailLevel, TimingNeed
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index

STAKEHOLDER_ROLE = DTO_ROLE

DETAIL_COLOURS = {  # Okabe–Ito based, distinguishable with colour-blindness
    DetailLevel.TECHNICAL.value: "#0072B2",
    DetailLevel.OPERATIONAL.value: "#009E73",
    DetailLevel.IMPACT.value: "#D55E00",
    DetailLevel.SIMPLE.value: "#CC79A7",
}


def _label(cls: type, value: str | None) -> str:
    if not value:
        return ""
    try:
        return cls(value).label
    except ValueError:
        return value


def contacts_summary(dto: StakeholderDTO) -> str:
    return ", ".join(f"{Channel(c.channel).label}: {c.address}" for c in dto.contacts)


class StakeholderTableModel(DtoTableModel[StakeholderDTO]):
    COLUMNS = ("Name", "Role", "Category", "Timing", "Detail", "Max silence", "Contact points",
               "Organisation")
    NAME, ROLE, CATEGORY, TIMING, DETAIL, SILENCE, CONTACTS, CLIENT = range(8)

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._search: dict[int, str] = {}   # id -> lower-cased text searched by the filter
        self._sort: tuple[int, Qt.SortOrder] = (self.NAME, Qt.SortOrder.AscendingOrder)

    # -- content

    def set_stakeholders(self, stakeholders: list[StakeholderDTO]) -> None:
        self.beginResetModel()
        self._rows = list(stakeholders)
        self._search = {s.id: _search_text(s) for s in self._rows}
        self._sort_rows()
        self.endResetModel()

    def upsert(self, dto: StakeholderDTO) -> None:
        self._search[dto.id] = _search_text(dto)
        row = self.row_of(dto.id)
        if row >= 0:
            self._rows[row] = dto
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
            return
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(dto)
        self.endInsertRows()

    def remove(self, stakeholder_id: int) -> None:
        row = self.row_of(stakeholder_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._search.pop(stakeholder_id, None)
        self.endRemoveRows()

    def row_of(self, stakeholder_id: int) -> int:
        for row, dto in enumerate(self._rows):
            if dto.id == stakeholder_id:
                return row
        return -1

    def stakeholder_at(self, row: int) -> StakeholderDTO:
        return self._rows[row]

    def stakeholders(self) -> list[StakeholderDTO]:
        return list(self._rows)

    def search_text(self, row: int) -> str:
        return self._search[self._rows[row].id]

    # -- sorting in Python (one key per row) instead of a comparison call per pair

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        keep = [(self._rows[i.row()].id, i.column()) for i in persistent]
        self._sort = (column, order)
        self._sort_rows()
        rows = {dto.id: n for n, dto in enumerate(self._rows)}
        self.changePersistentIndexList(persistent, [self.index(rows[sid], col) for sid, col in keep])
        self.layoutChanged.emit()

    def _sort_rows(self) -> None:
        column, order = self._sort
        self._rows.sort(key=lambda dto: (self._sort_key(dto, column), dto.name.casefold(), dto.id),
                        reverse=order == Qt.SortOrder.DescendingOrder)

    def _sort_key(self, dto: StakeholderDTO, column: int) -> Any:
        if column == self.CATEGORY:
            return list(Category).index(Category(dto.category))
        if column == self.TIMING:
            return list(TimingNeed).index(TimingNeed(dto.timing_need))
        if column == self.DETAIL:
            return list(DetailLevel).index(DetailLevel(dto.detail_level))
        if column == self.SILENCE:
            return dto.max_silence_minutes if dto.max_silence_minutes is not None else 10**9
        if column == self.CONTACTS:
            return len(dto.contacts)
        if column == self.ROLE:
            return dto.role.casefold()
        if column == self.CLIENT:
            return dto.client_name.casefold()
        return dto.name.casefold()

    # -- Qt interface

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        dto = self._rows[index.row()]
        col = index.column()
        if role == STAKEHOLDER_ROLE:
            return dto
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.NAME:
                return dto.name if dto.active else f"{dto.name} (inactive)"
            if col == self.ROLE:
                return dto.role
            if col == self.CATEGORY:
                return _label(Category, dto.category)
            if col == self.TIMING:
                return _label(TimingNeed, dto.timing_need)
            if col == self.DETAIL:
                return _label(DetailLevel, dto.detail_level)
            if col == self.SILENCE:
                return f"{dto.max_silence_minutes} min" if dto.max_silence_minutes else "—"
            if col == self.CONTACTS:
                return ", ".join(dict.fromkeys(Channel(c.channel).label for c in dto.contacts)) \
                    or "none"
            if col == self.CLIENT:
                return dto.client_name
        if role == SORT_ROLE:
            return self._sort_key(dto, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{dto.name} — {dto.role}\n{contacts_summary(dto) or 'No contact points'}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if not dto.active:
                return QColor("#888888")
            if col == self.DETAIL:
                return QColor(DETAIL_COLOURS.get(dto.detail_level, "#000000"))
            if col == self.CONTACTS and not dto.contacts:
                return QColor("#b3261e")
        return None


def _search_text(dto: StakeholderDTO) -> str:
    parts = [dto.name, dto.role, dto.notes, dto.information_need or "", dto.client_name,
             _label(Category, dto.category)]
    parts.extend(c.address for c in dto.contacts)
    return "\n".join(parts).casefold()


class StakeholderFilterProxy(QSortFilterProxyModel):
    """Filters by organisation, category, timing, detail level, active, and free text. The text
    match runs once per keystroke over cached lower-cased text; Qt then asks per row."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.client_id: int | None = None
        self.category: str | None = None
        self.timing: str | None = None
        self.detail: str | None = None
        self.show_inactive = True
        self.text = ""
        self._accepted: list[bool] = []

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        # The source sorts itself (one key per row); the proxy keeps its order.
        source = self.sourceModel()
        if source is not None and column >= 0:
            source.sort(column, order)

    def set_filters(self, **changes: Any) -> None:
        self.beginFilterChange()
        for name, value in changes.items():
            setattr(self, name, value)
        self._recompute()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def refresh(self) -> None:
        self.set_filters()

    def _recompute(self) -> None:
        model: StakeholderTableModel = self.sourceModel()  # type: ignore[assignment]
        needles = self.text.casefold().split()
        accepted = []
        for row, dto in enumerate(model._rows):  # noqa: SLF001 - the proxy is the model's partner
            ok = ((self.client_id is None or dto.client_id == self.client_id)
                  and (self.category is None or dto.category == self.category)
                  and (self.timing is None or dto.timing_need == self.timing)
                  and (self.detail is None or dto.detail_level == self.detail)
                  and (self.show_inactive or dto.active))
            if ok and needles:
                haystack = model.search_text(row)
                ok = all(n in haystack for n in needles)
            accepted.append(ok)
        self._accepted = accepted

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if len(self._accepted) != self.sourceModel().rowCount():
            self._recompute()
        return self._accepted[source_row]


class ContactsModel(DtoTableModel[ContactPointData]):
    """The contact points of the stakeholder in the form, in priority order."""

    COLUMNS = ("Priority", "Channel", "Address", "Label", "Texts")
    TEXTS = 4

    def set_contacts(self, contacts: tuple[ContactPointData, ...]) -> None:
        self.beginResetModel()
        self._rows = sorted(contacts, key=lambda c: c.priority)
        self.endResetModel()

    def contacts(self) -> tuple[ContactPointData, ...]:
        return tuple(ContactPointData(channel=c.channel, address=c.address, priority=n,
                                      label=c.label) for n, c in enumerate(self._rows, start=1))

    def add(self, contact: ContactPointData) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(contact)
        self.endInsertRows()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self._rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def move(self, row: int, delta: int) -> int:
        target = row + delta
        if not (0 <= row < len(self._rows) and 0 <= target < len(self._rows)):
            return row
        self.beginResetModel()
        self._rows[row], self._rows[target] = self._rows[target], self._rows[row]
        self.endResetModel()
        return target

    def contact_at(self, row: int) -> ContactPointData | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        c = self._rows[index.row()]
        stopped = c.channel == Channel.SMS.value and c.opted_out_at is not None
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == self.TEXTS and stopped:
            return QColor("#b3261e")
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if index.column() == self.TEXTS:
            if not stopped:
                return "" if role == Qt.ItemDataRole.DisplayRole or \
                    c.channel != Channel.SMS.value else "Texted"
            return "Opted out" if role == Qt.ItemDataRole.DisplayRole else \
                f"Never texted: {c.opted_out_reason or 'opted out'}"
        return (str(index.row() + 1), _label(Channel, c.channel), c.address, c.label)[index.column()]
