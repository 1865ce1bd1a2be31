"""Table model of incidents (DTOs, never ORM objects) and its filtering proxy."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from app.domain.dto import IncidentDTO
from app.domain.enums import Phase, Severity
from app.timefmt import format_duration, format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index

INCIDENT_ROLE = DTO_ROLE

SEVERITY_COLOURS = {
    Severity.SEV1: "#b3261e", Severity.SEV2: "#d9480f", Severity.SEV3: "#b08900",
    Severity.SEV4: "#4a6fa5",
}


class IncidentTableModel(DtoTableModel):
    COLUMNS = ("Severity", "Title", "Phase", "Organisation", "Detected", "Age")
    SEVERITY, TITLE, PHASE, CLIENT, DETECTED, AGE = range(6)

    def __init__(self, now: Callable[[], Any], parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._rows: list[IncidentDTO]
        self._now = now

    # -- content

    def set_incidents(self, incidents: list[IncidentDTO]) -> None:
        self.beginResetModel()
        self._rows = list(incidents)
        self.endResetModel()

    def upsert(self, incident: IncidentDTO) -> None:
        for row, existing in enumerate(self._rows):
            if existing.id == incident.id:
                self._rows[row] = incident
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
                return
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(incident)
        self.endInsertRows()

    def row_of(self, incident_id: int) -> int:
        for row, existing in enumerate(self._rows):
            if existing.id == incident_id:
                return row
        return -1

    def incident_at(self, row: int) -> IncidentDTO:
        return self._rows[row]

    def refresh_ages(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, self.AGE), self.index(len(self._rows) - 1, self.AGE),
                                  [Qt.ItemDataRole.DisplayRole])

    # -- Qt interface

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        inc = self._rows[index.row()]
        col = index.column()
        if role == INCIDENT_ROLE:
            return inc
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.SEVERITY:
                return inc.severity.value
            if col == self.TITLE:
                return ("[DRILL] " if inc.is_drill else "") + inc.title
            if col == self.PHASE:
                return inc.phase.label
            if col == self.CLIENT:
                return inc.client_name
            if col == self.DETECTED:
                return format_local(inc.detected_at, now=self._now())
            if col == self.AGE:
                if inc.phase in (Phase.RESOLVED, Phase.CLOSED):
                    return "—"
                return format_duration(self._now() - inc.detected_at)
        if role == SORT_ROLE:
            if col == self.SEVERITY:
                return inc.severity.rank
            if col == self.TITLE:
                return inc.title.casefold()
            if col == self.PHASE:
                return inc.phase.order
            if col == self.CLIENT:
                return inc.client_name.casefold()
            if col in (self.DETECTED, self.AGE):
                return inc.detected_at.timestamp()
        if role == Qt.ItemDataRole.ForegroundRole and col == self.SEVERITY:
            return QColor(SEVERITY_COLOURS[inc.severity])
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{inc.title}\n{inc.severity.value} · {inc.phase.label} · {inc.client_name}"
                    f"\nDetected {format_local(inc.detected_at)}")
        return None


class IncidentFilterProxy(QSortFilterProxyModel):
    """Filter by phase, severity, organisation and a title search; sorts on raw values."""

    OPEN = "open"  # pseudo-phase: anything not closed

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self._phase: str | None = None
        self._severity: Severity | None = None
        self._client_id: int | None = None
        self._text = ""

    def set_phase(self, phase: str | None) -> None:
        self.beginFilterChange()
        self._phase = phase
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_severity(self, severity: Severity | None) -> None:
        self.beginFilterChange()
        self._severity = severity
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_client(self, client_id: int | None) -> None:
        self.beginFilterChange()
        self._client_id = client_id
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().casefold()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        inc: IncidentDTO = model.data(model.index(source_row, 0, source_parent), INCIDENT_ROLE)
        if self._phase == self.OPEN and inc.phase == Phase.CLOSED:
            return False
        if self._phase not in (None, self.OPEN) and inc.phase.value != self._phase:
            return False
        if self._severity is not None and inc.severity != self._severity:
            return False
        if self._client_id is not None and inc.client_id != self._client_id:
            return False
        if self._text and self._text not in inc.title.casefold():
            return False
        return True
