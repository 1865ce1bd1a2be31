"""Item models of the incident clock rules dialog: the cadence per severity, the escalation rule
table (its Enabled column is a tick box) and the checkable list of stakeholder categories."""

from __future__ import annotations

from typing import Any, Iterable

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal

from app.clocks.cadence import POLICY_BOUNDS, CadencePolicy
from app.clocks.escalation import EscalationRule, EscalationTrigger
from app.domain.enums import Category
from app.messages.library import TYPE_LABELS
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index

# (field, column header, what it means) — the header names the phase and the unit.
CADENCE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("acknowledge_minutes", "Acknowledge\nwithin (min)",
     "Detected: the first acknowledgment is due this many minutes after detection"),
    ("investigating_minutes", "Investigating:\nupdate every (min)",
     "Investigating: a status update is due every this many minutes"),
    ("responding_minutes", "Responding: at\nleast every (min)",
     "Responding: update on each significant change, and at least every this many minutes"),
    ("fact_update_minutes", "Update after a\nfact change (min)",
     "Investigating or responding: an update is due this many minutes after a fact changed "
     "(0: at once)"),
    ("resolution_minutes", "Resolution notice\nwithin (min)",
     "Resolved: the completion notice is due this many minutes after resolution"),
    ("summary_hours", "Summary\nwithin (h)",
     "After resolution: the post-incident summary is due within this many hours"),
)


def bounds_text(field: str) -> str:
    low, high, unit = POLICY_BOUNDS[field]
    return f"{low}–{high} {unit}"


class CadenceTableModel(DtoTableModel[tuple[CadencePolicy, bool]]):
    """One row per severity: the policy in force and whether it is the built-in default."""

    COLUMNS = ("Severity", *(header for _f, header, _d in CADENCE_FIELDS), "Source")

    def set_policies(self, rows: list[tuple[CadencePolicy, bool]]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def policy(self, row: int) -> tuple[CadencePolicy, bool]:
        return self._rows[row]

    def row_of(self, severity: str) -> int:
        return next((n for n, (p, _c) in enumerate(self._rows) if p.severity.value == severity),
                    -1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        policy, customised = self._rows[index.row()]
        column = index.column()
        if role == DTO_ROLE:
            return policy
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == 0:
                return policy.severity.value
            if column <= len(CADENCE_FIELDS):
                return getattr(policy, CADENCE_FIELDS[column - 1][0])
            return "Customised" if customised else "Default"
        if role == Qt.ItemDataRole.ToolTipRole:
            if 1 <= column <= len(CADENCE_FIELDS):
                return CADENCE_FIELDS[column - 1][2]
            if column == len(CADENCE_FIELDS) + 1:
                return ("Changed for this organisation; “Back to default” restores the built-in "
                        "values" if customised else "The built-in values (from the seed)")
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= column <= len(CADENCE_FIELDS):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and customised and column == len(CADENCE_FIELDS) + 1:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole \
                and 1 <= section <= len(CADENCE_FIELDS):
            return CADENCE_FIELDS[section - 1][2]
        return super().headerData(section, orientation, role)


def severity_text(rule: EscalationRule) -> str:
    return f"{rule.severity.value} or worse" if rule.severity is not None else "—"


def categories_text(categories: Iterable[Category]) -> str:
    return ", ".join(Category(c).label for c in categories)


class RuleTableModel(DtoTableModel[EscalationRule]):
    """The escalation rules in their stored order; ticking Enabled asks for the change through
    `enabled_toggled` (the dialog stores it, undoably, and the model reloads from the store)."""

    COLUMNS = ("Enabled", "Name", "Trigger", "Severity", "Minutes", "Notifies", "Template")
    enabled_toggled = Signal(str, bool)  # rule key, wanted state

    def set_rules(self, rules: list[EscalationRule]) -> None:
        self.beginResetModel()
        self._rows = list(rules)
        self.endResetModel()

    def rules(self) -> list[EscalationRule]:
        return list(self._rows)

    def row_of(self, key: str) -> int:
        return next((n for n, r in enumerate(self._rows) if r.key == key), -1)

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and index.column() == 0:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        rule = self._rows[index.row()]
        column = index.column()
        if role == DTO_ROLE:
            return rule
        if role == Qt.ItemDataRole.CheckStateRole and column == 0:
            return Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.AccessibleTextRole and column == 0:
            return "Enabled" if rule.enabled else "Disabled"
        if role == SORT_ROLE:
            return (rule.enabled, rule.name.lower(), rule.trigger.label,
                    rule.severity.rank if rule.severity else 9, rule.minutes or 0,
                    categories_text(rule.categories),
                    TYPE_LABELS.get(rule.template_type, ""))[column]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            if column == 0:
                return None if role == Qt.ItemDataRole.DisplayRole else (
                    "Untick to pause this rule without deleting it")
            if column == 1:
                return rule.name
            if column == 2:
                return rule.trigger.label
            if column == 3:
                return severity_text(rule)
            if column == 4:
                return f"{rule.minutes} min" if rule.minutes is not None else "—"
            if column == 5:
                return categories_text(rule.categories)
            return TYPE_LABELS.get(rule.template_type, rule.template_type)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != 0 \
                or role != Qt.ItemDataRole.CheckStateRole:
            return False
        wanted = Qt.CheckState(value) == Qt.CheckState.Checked
        rule = self._rows[index.row()]
        if wanted != rule.enabled:
            self.enabled_toggled.emit(rule.key, wanted)
        return True


TRIGGER_HINTS: dict[EscalationTrigger, str] = {
    EscalationTrigger.SEVERITY_INCREASE:
        "Fires when the severity is raised to this level or worse — once per new level.",
    EscalationTrigger.TIME_THRESHOLD:
        "Fires once when an incident at this severity or worse is unresolved this long after "
        "detection.",
    EscalationTrigger.BUSINESS_IMPACT: "Fires once, when business impact is flagged.",
    EscalationTrigger.EXTERNAL_IMPACT: "Fires once, when external impact is flagged.",
    EscalationTrigger.REGULATORY_THRESHOLD:
        "Fires once, when the regulatory threshold is flagged.",
}


class CategoryListModel(QAbstractListModel):
    """The stakeholder categories, each a tick box: whom the rule proposes to notify."""

    changed = Signal()

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._categories = list(Category)
        self._checked: set[Category] = set()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._categories)

    def flags(self, index: Index) -> Qt.ItemFlag:
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsUserCheckable)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        category = self._categories[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return category.label
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if category in self._checked else \
                Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.UserRole:
            return category.value
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.CheckStateRole:
            return False
        category = self._categories[index.row()]
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self._checked.add(category)
        else:
            self._checked.discard(category)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.changed.emit()
        return True

    def set_checked(self, categories: Iterable[Category | str]) -> None:
        self._checked = {Category(c) for c in categories}
        if self._categories:
            self.dataChanged.emit(self.index(0), self.index(len(self._categories) - 1),
                                  [Qt.ItemDataRole.CheckStateRole])

    def checked(self) -> list[str]:
        """The ticked categories' values, in the vocabulary's order."""
        return [c.value for c in self._categories if c in self._checked]

    def set_row_checked(self, category: Category | str, checked: bool) -> None:
        row = self._categories.index(Category(category))
        self.setData(self.index(row), Qt.CheckState.Checked if checked
                     else Qt.CheckState.Unchecked, Qt.ItemDataRole.CheckStateRole)
