"""Table model of one incident's timeline, newest first, and a filter by kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFont

from app.domain.dto import FACT_LABELS, TimelineEntryDTO
from app.domain.enums import TimelineKind
from app.clocks.wording import describe_clock_entry
from app.sending.wording import describe_retry
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, DtoTableModel, Index

ENTRY_ROLE = DTO_ROLE
KIND_ROLE = Qt.ItemDataRole.UserRole + 3

KIND_COLOURS = {
    TimelineKind.CREATED.value: "#1c6e8c",
    TimelineKind.PHASE_CHANGED.value: "#1c6e8c",
    TimelineKind.SEVERITY_CHANGED.value: "#b3261e",
    TimelineKind.DECISION.value: "#6a3d9a",
    TimelineKind.FACTS_CHANGED.value: "#2f7d32",
}


def kind_label(kind: str) -> str:
    try:
        return TimelineKind(kind).label
    except ValueError:
        return kind.replace("_", " ").capitalize()


def describe(entry: TimelineEntryDTO, now: datetime | None = None,
             zone: Any = None) -> str:
    """The entry's text for display: times kept in its data (fact changes, retries) are shown
    in `zone` (the incident's client's) with the zone's abbreviation."""
    if entry.kind == TimelineKind.FACTS_CHANGED.value and entry.data.get("field") in (
            "eta_at", "next_update_at"):
        def show(value: Any) -> str:
            if not value:
                return "(none)"
            return format_local(datetime.fromisoformat(value), zone, now=now)
        label = FACT_LABELS.get(entry.data["field"], entry.data["field"])
        return f"{label}: {show(entry.data.get('old'))} → {show(entry.data.get('new'))}"
    if entry.kind == TimelineKind.DELIVERY_RETRY.value:
        return describe_retry(entry, lambda at: format_local(at, zone, now=now))
    return describe_clock_entry(entry, lambda at: format_local(at, zone, now=now))


class TimelineModel(DtoTableModel):
    COLUMNS = ("Time", "Kind", "What happened", "By")
    TIME, KIND, SUMMARY, ACTOR = range(4)

    def __init__(self, now: Callable[[], datetime], parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._now = now
        self._incident_id: int | None = None
        self.zone: Any = None          # the incident's client's zone (None: the machine's)
        self._rows: list[TimelineEntryDTO]  # newest first

    @property
    def incident_id(self) -> int | None:
        return self._incident_id

    def set_entries(self, incident_id: int | None, entries_oldest_first: list[TimelineEntryDTO],
                    zone: Any = None) -> None:
        """`zone`: the incident's client's; its times are shown there, with the abbreviation."""
        self.beginResetModel()
        self._incident_id = incident_id
        self.zone = zone
        self._rows = sorted(entries_oldest_first, key=lambda e: (e.at, e.id), reverse=True)
        self.endResetModel()

    def append(self, entry: TimelineEntryDTO) -> bool:
        """Add an entry of the shown incident in its place (normally the top). Idempotent."""
        if entry.incident_id != self._incident_id or any(e.id == entry.id for e in self._rows):
            return False
        key = (entry.at, entry.id)
        row = 0
        while row < len(self._rows) and (self._rows[row].at, self._rows[row].id) > key:
            row += 1
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, entry)
        self.endInsertRows()
        return True

    def entry_at(self, row: int) -> TimelineEntryDTO:
        return self._rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self._rows[index.row()]
        col = index.column()
        if role == ENTRY_ROLE:
            return entry
        if role == KIND_ROLE:
            return entry.kind
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.TIME:
                return format_local(entry.at, self.zone, now=self._now())
            if col == self.KIND:
                return kind_label(entry.kind)
            if col == self.SUMMARY:
                return describe(entry, self._now(), self.zone)
            if col == self.ACTOR:
                return entry.actor
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{format_local(entry.at, self.zone)} — {kind_label(entry.kind)}\n"
                    f"{describe(entry, zone=self.zone)}")
        if role == Qt.ItemDataRole.ForegroundRole and col == self.KIND:
            colour = KIND_COLOURS.get(entry.kind)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.FontRole and entry.kind == TimelineKind.DECISION.value:
            font = QFont()
            font.setBold(True)
            return font
        return None


class TimelineFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._kind: str | None = None

    def set_kind(self, kind: str | None) -> None:
        self.beginFilterChange()
        self._kind = kind
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self._kind is None:
            return True
        model = self.sourceModel()
        return model.data(model.index(source_row, 0, source_parent), KIND_ROLE) == self._kind
