"""Table models of the post-incident dialog: the remediation plan and stakeholder feedback."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from app.reports.model import FeedbackEntry, RemediationItem
from app.stakeholders.importing.feedback import FeedbackImportRow
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index


class RemediationModel(DtoTableModel[RemediationItem]):
    COLUMNS = ("Done", "Action", "Owner", "Due")
    DONE, TEXT, OWNER, DUE = range(4)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._rows[index.row()]
        col = index.column()
        if role == DTO_ROLE:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return ("✓" if item.done else "", item.text, item.owner or "—",
                    item.due_date.isoformat() if item.due_date else "—")[col]
        if role == SORT_ROLE:
            return (item.done, item.text, item.owner,
                    item.due_date.isoformat() if item.due_date else "9999")[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == self.TEXT:
            return item.text
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.DONE:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


class FeedbackModel(DtoTableModel[FeedbackEntry]):
    COLUMNS = ("Stakeholder", "Rating", "Comment", "Recorded")
    NAME, RATING, COMMENT, WHEN = range(4)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self._rows[index.row()]
        col = index.column()
        if role == DTO_ROLE:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            return (entry.stakeholder_name, "★" * entry.rating + "☆" * (5 - entry.rating),
                    entry.comment, format_local(entry.created_at) if entry.created_at else "")[col]
        if role == SORT_ROLE:
            return (entry.stakeholder_name, entry.rating, entry.comment,
                    entry.created_at.isoformat() if entry.created_at else "")[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == self.COMMENT:
            return entry.comment
        if role == Qt.ItemDataRole.AccessibleTextRole and col == self.RATING:
            return f"{entry.rating} of 5"
        return None


class ImportPreviewModel(DtoTableModel[FeedbackImportRow]):
    COLUMNS = ("Line", "Stakeholder", "Rating", "Comment", "Problem")

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(row.line), row.stakeholder_name or row.name or row.email,
                    str(row.rating) if row.rating else row.rating_text, row.comment,
                    row.problem or "ready")[index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 4 and row.problem:
            from PySide6.QtGui import QBrush, QColor

            return QBrush(QColor("#c62828"))
        return None
