"""The import dialog's column table: every column of the file, an example value, what it is
imported as (editable: a combo box per cell) and the label or the reason it is ignored. The
rules live in app/stakeholders/importing/columns.py; this only shows and edits them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QStyledItemDelegate, QWidget

from app.stakeholders.importing.columns import (
    IMPORT_FIELDS, ColumnUse, guess_columns, name_of, name_recipe, with_field,
)
from ui.models.base import DtoTableModel

Index = QModelIndex | QPersistentModelIndex

IGNORED = "— ignored —"
FIELD_COLUMN = 2


_PURPOSE = {
    "name": "the full name", "name_prefix": "part of the name", "first_name": "part of the name",
    "middle_name": "part of the name", "last_name": "part of the name",
    "name_suffix": "part of the name", "role": "the role", "category": "the category",
    "groups": "the category, when one of them names one",
    "organisation": "a “Company:” line in the notes",
    "department": "a “Department:” line in the notes", "notes": "the notes",
}


class ColumnUsesModel(DtoTableModel[int]):
    """One row per column of the file (the row is the column's index)."""

    COLUMNS = ("Column", "Example", "Imported as", "Label, or why it is ignored")
    uses_changed = Signal()

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.headers: tuple[str, ...] = ()
        self.examples: tuple[str, ...] = ()
        self.sample_rows: tuple[tuple[str, ...], ...] = ()
        self.uses: dict[int, ColumnUse] = {}

    def load(self, headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> None:
        """A new file: guess every column's use from its header."""
        self.headers, self.sample_rows = tuple(headers), tuple(rows)
        self.examples = tuple(next((r[i] for r in rows if i < len(r) and r[i].strip()), "")
                              for i in range(len(headers)))
        self.uses = guess_columns(headers)
        self.replace_rows(range(len(headers)))
        self.uses_changed.emit()

    def set_field(self, column: int, field: str | None) -> None:
        """The person's choice for one column (None: ignore it); others may change with it
        (a field that takes one column leaves the column that had it)."""
        self.uses = with_field(self.headers, self.uses, column, field)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(self.COLUMNS) - 1))
        self.uses_changed.emit()

    # -- what the dialog shows around the table

    def title(self, column: int) -> str:
        return self.headers[column] or f"column {column + 1}"

    def name_line(self) -> str:
        recipe = name_recipe(self.headers, self.uses)
        if not recipe:
            return "Names: no column is chosen for the name yet — choose the full name, or " \
                   "the first and last names, under “Imported as”."
        example = next((n for n in (name_of(r, self.uses) for r in self.sample_rows) if n), "")
        return f"Names: {recipe}" + (f" — for example “{example}”" if example else "")

    def counts(self) -> tuple[int, int]:
        """(columns used — imported, or the labels of others —, columns ignored)"""
        ignored = sum(1 for u in self.uses.values() if u.field is None)
        return len(self.uses) - ignored, ignored

    def has_name(self) -> bool:
        return bool(name_recipe(self.headers, self.uses))

    # -- the model

    def _why(self, column: int) -> str:
        use = self.uses[column]
        if use.field is None or use.field == "label":
            return use.reason
        if not use.reason and use.field in _PURPOSE:
            return _PURPOSE[use.field]
        if use.field in ("email", "phone", "mobile", "sms"):
            label = (f"label from “{self.title(use.label_column)}”"
                     if use.label_column is not None else
                     f"label “{use.label}”" if use.label else "no label")
            return f"{label} · {use.reason}" if use.reason else label
        return use.reason

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self._rows[index.row()]
        use = self.uses[column]
        if role == Qt.ItemDataRole.EditRole and index.column() == FIELD_COLUMN:
            return use.field
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if index.column() == 0:
                return self.title(column)
            if index.column() == 1:
                return self.examples[column]
            if index.column() == FIELD_COLUMN:
                return IMPORT_FIELDS[use.field] if use.field else IGNORED
            return self._why(column)
        if role == Qt.ItemDataRole.ForegroundRole and use.field is None:
            return QColor("#6b6b6b")
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == FIELD_COLUMN:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != FIELD_COLUMN or \
                not index.isValid() or (value is not None and value not in IMPORT_FIELDS):
            return False
        self.set_field(self._rows[index.row()], value)
        return True


class ColumnFilter(QSortFilterProxyModel):
    """All columns, only the used ones (imported, or labels of others), or the ignored ones."""

    SHOW = ("all", "used", "ignored")

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.show = "all"

    def set_show(self, show: str) -> None:
        self.beginFilterChange()
        self.show = show
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        if self.show == "all" or not isinstance(model, ColumnUsesModel):
            return True
        ignored = model.uses[model.row_at(source_row)].field is None
        return ignored if self.show == "ignored" else not ignored


class FieldDelegate(QStyledItemDelegate):
    """“Imported as” is edited with a combo box of the import fields."""

    def createEditor(self, parent: QWidget, option: Any, index: Index) -> QWidget:
        combo = QComboBox(parent)
        combo.setObjectName("importFieldEditor")
        combo.setAccessibleName("What this column is imported as")
        combo.addItem(IGNORED, None)
        for key, label in IMPORT_FIELDS.items():
            combo.addItem(label, key)
        combo.activated.connect(lambda _i, c=combo: (self.commitData.emit(c),
                                                     self.closeEditor.emit(c)))
        return combo

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        if isinstance(editor, QComboBox):
            found = editor.findData(index.data(Qt.ItemDataRole.EditRole))
            editor.setCurrentIndex(max(found, 0))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)
