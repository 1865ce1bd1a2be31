"""Table model of one incident's timeline, newest first, paged, filtered by kind in SQL."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from typing import Any, Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics

from app.domain.dto import FACT_LABELS, TimelineEntryDTO
from app.domain.enums import TimelineKind
from app.clocks.wording import describe_clock_entry
from app.incidents.timeline_pages import PAGE, first_page, key_of, page
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


def column_widths(view: Any, model: "TimelineModel", first: int, last: int) -> tuple[int, int]:
    """The Time and Kind columns' widths for rows first..last (a page at most, or one
    appended row; never every row of a long incident): the times of the first and the last
    row (the newest and the oldest), the labels of the kinds among them (decisions in bold)."""
    metrics = view.fontMetrics()
    bold = QFont(view.font())
    bold.setBold(True)
    bold_metrics = QFontMetrics(bold)
    rows = range(max(first, 0), min(last, model.rowCount() - 1) + 1)
    times = [model.data(model.index(r, model.TIME)) for r in {rows[0], rows[-1]}] if rows \
        else [format_local(model.now(), model.zone, now=model.now())]
    kinds = {model.entry_at(r).kind for r in rows} or {TimelineKind.NOTE.value}
    return (max(metrics.horizontalAdvance(t) for t in times) + 20,
            max((bold_metrics if k == TimelineKind.DECISION.value else metrics)
                .horizontalAdvance(kind_label(k)) for k in kinds) + 20)


class TimelineModel(DtoTableModel):
    """One incident's timeline, newest first, read a page at a time (app/incidents/
    timeline_pages.py): the newest page on load, older pages as the view scrolls towards them
    (canFetchMore/fetchMore), the kind filter as a WHERE on every page. `matching` and `total`
    are counted in SQL, never from the loaded rows."""

    COLUMNS = ("Time", "Kind", "What happened", "By")
    TIME, KIND, SUMMARY, ACTOR = range(4)

    counts_changed = Signal()

    def __init__(self, now: Callable[[], datetime], store: Any = None,
                 parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._now = now
        self.store = store
        self._incident_id: int | None = None
        self.zone: Any = None          # the incident's client's zone (None: the machine's)
        self.kind: str | None = None   # the kind shown (None: every kind)
        # kept oldest first, so a live entry (the newest) is appended at the end in constant
        # time; row r of the view is self._rows[-1 - r] (the view shows newest first)
        self._rows: list[TimelineEntryDTO]
        self._ids: set[int] = set()
        self._more = False             # older entries of the kind not loaded yet
        self._last_id = 0              # entries above this id were appended after the load
        self._new_ids: set[int] = set()
        self.matching = 0              # entries of the kind shown (every entry without one)
        self.total = 0                 # every entry of the incident

    @property
    def incident_id(self) -> int | None:
        return self._incident_id

    def now(self) -> datetime:
        return self._now()

    def load(self, incident_id: int | None, zone: Any = None, kind: str | None = None,
             page_size: int = PAGE) -> None:
        """Show the newest page of `incident_id`'s entries (of `kind` when given). `zone`: the
        incident's client's; its times are shown there, with the abbreviation."""
        first = first_page(self.store, incident_id, kind=kind, limit=page_size) \
            if incident_id is not None else None
        self.beginResetModel()
        self._incident_id, self.zone, self.kind = incident_id, zone, kind
        self._rows = first.entries[::-1] if first else []
        self._ids = {e.id for e in self._rows}
        self._more = first is not None and not first.complete
        self._last_id = first.last_id if first else 0
        self._new_ids = set()
        self.matching = first.matching if first else 0
        self.total = first.total if first else 0
        self.endResetModel()
        self.counts_changed.emit()

    def set_kind(self, kind: str | None) -> None:
        """Show only entries of `kind` (None: all), from the newest page again."""
        self.load(self._incident_id, self.zone, kind)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: N802 - Qt's name
        return not parent.isValid() and self._more

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: N802 - Qt's name
        if parent.isValid() or not self._more or self._incident_id is None:
            return
        before = key_of(self._rows[0]) if self._rows else None   # the oldest loaded
        entries = page(self.store, self._incident_id, kind=self.kind, before=before)
        self._more = len(entries) == PAGE
        entries = [e for e in entries if e.id not in self._ids]
        if not entries:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._rows[:0] = entries[::-1]
        self._ids.update(e.id for e in entries)
        self.endInsertRows()

    def append(self, entry: TimelineEntryDTO) -> bool:
        """An entry of the shown incident, written now: in its place (normally the top), or
        left for fetchMore when it is older than every loaded row. Idempotent by id."""
        if entry.incident_id != self._incident_id or entry.id in self._ids:
            return False
        if entry.id > self._last_id and entry.id not in self._new_ids:   # not counted yet
            self._new_ids.add(entry.id)
            self.total += 1
            self.matching += int(self.kind is None or entry.kind == self.kind)
            self.counts_changed.emit()
        if self.kind is not None and entry.kind != self.kind:
            return False
        at = bisect_left(self._rows, key_of(entry), key=key_of)   # its place, oldest first
        if at == 0 and self._more:
            return False                 # older than every loaded row: fetchMore reads it
        row = len(self._rows) - at       # the view's row (newest first): 0 for the newest
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(at, entry)
        self._ids.add(entry.id)
        self.endInsertRows()
        return True

    def entry_at(self, row: int) -> TimelineEntryDTO:
        return self._rows[-1 - row]

    def row_at(self, row: int) -> TimelineEntryDTO:
        return self._rows[-1 - row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self._rows[-1 - index.row()]
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
