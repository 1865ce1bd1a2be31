"""What every table model over a list of DTOs shares: rows, fixed columns, header labels."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

T = TypeVar("T")
Index = QModelIndex | QPersistentModelIndex

SORT_ROLE = Qt.ItemDataRole.UserRole + 1   # raw values for sorting
DTO_ROLE = Qt.ItemDataRole.UserRole + 2    # the row's DTO, through any proxy


class DtoTableModel(QAbstractTableModel, Generic[T]):
    COLUMNS: tuple[str, ...] = ()

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._rows: list[T] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def replace_rows(self, rows: Any) -> None:
        """Show these rows instead (a model reset)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> T:
        return self._rows[row]

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None


class TextTableModel(DtoTableModel[tuple[str, ...]]):
    """Rows of plain strings under given headers (previews, problem lists)."""

    def __init__(self, headers: tuple[str, ...] = (), parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.COLUMNS = tuple(headers)

    def set_rows(self, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        self.beginResetModel()
        self.COLUMNS = tuple(headers)
        self._rows = [tuple(r) for r in rows]
        self.endResetModel()

    def row_values(self, row: int) -> tuple[str, ...]:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (Qt.ItemDataRole.DisplayRole,
                                               Qt.ItemDataRole.ToolTipRole):
            return None
        values = self._rows[index.row()]
        return values[index.column()] if index.column() < len(values) else ""
