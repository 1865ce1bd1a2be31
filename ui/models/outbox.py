"""Deliveries grouped by message: a two-level tree model over DTOs (messages, then their
deliveries) and a proxy that filters deliveries by state and incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from app.messages.library import TYPE_LABELS
from app.messages.sent import ack_mark, confirmations_text
from app.timefmt import format_local

DTO_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex

STATE_LABELS = {"queued": "Queued", "sending": "Sending", "sent": "Sent",
                "retry_wait": "Waiting to retry", "failed": "Failed", "unknown": "Unknown",
                "cancelled": "Cancelled", "bounced": "Bounced"}
# bounced: sent, then returned by a server — failed's red family, but magenta so they differ
CONFIRMED_COLOUR, WAITING_COLOUR = "#2e7d32", "#8a6d00"   # a confirmation; asked, not yet
STATE_COLOURS = {"sent": "#2e7d32", "failed": "#b3261e", "unknown": "#b26a00",
                 "retry_wait": "#8a6d00", "cancelled": "#777777", "sending": "#1c4f6e",
                 "bounced": "#a3336b"}


@dataclass
class MessageGroup:
    message_id: int
    incident_id: int
    incident_title: str
    template_type: str
    created_at: Any
    is_drill: bool
    deliveries: list = field(default_factory=list)
    _counts: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def confirmations(self) -> str:
        """'2 of 3 asked confirmed' (issue 25), or ''."""
        return confirmations_text(sum(1 for d in self.deliveries if d.ack_requested),
                                  sum(1 for d in self.deliveries if d.acknowledged_at))

    def counts(self) -> dict[str, int]:
        """Deliveries per state (kept until a delivery changes: a message row is painted
        often, and a message may have 10,000 deliveries)."""
        if self._counts is None:
            out: dict[str, int] = {}
            for d in self.deliveries:
                out[d.state] = out.get(d.state, 0) + 1
            self._counts = out
        return self._counts


class OutboxModel(QAbstractItemModel):
    COLUMNS = ("Message / recipient", "Channel", "Address", "State", "Attempts", "Last error",
               "Sent", "Confirmed")
    CONFIRMED = 7

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._groups: list[MessageGroup] = []
        self._where: dict[int, tuple[int, int]] = {}   # delivery id -> (message row, row)

    def set_deliveries(self, deliveries: list) -> None:  # list[DeliveryDTO]
        groups: dict[int, MessageGroup] = {}
        for d in deliveries:
            g = groups.get(d.message_id)
            if g is None:
                g = groups[d.message_id] = MessageGroup(d.message_id, d.incident_id,
                                                        d.incident_title, d.template_type,
                                                        d.created_at, d.is_drill)
            g.deliveries.append(d)
        self.beginResetModel()
        self._groups = sorted(groups.values(), key=lambda g: g.message_id, reverse=True)
        for g in self._groups:
            g.deliveries.sort(key=lambda d: (d.recipient_name.casefold(), d.id))
        self._where = {d.id: (gi, di) for gi, g in enumerate(self._groups)
                       for di, d in enumerate(g.deliveries)}
        self.endResetModel()

    def update_deliveries(self, deliveries: list) -> bool:  # list[DeliveryDTO]
        """Put newer copies of deliveries already shown in their places: only their rows and
        their messages' rows change (no reset: the view keeps its layout, scroll position and
        selection). False, and nothing changed, if any of them is not shown: reload then."""
        places = [self._where.get(d.id) for d in deliveries]
        if any(p is None for p in places):
            return False
        touched: dict[int, list[int]] = {}
        for d, (gi, di) in zip(deliveries, places):  # type: ignore[misc]
            group = self._groups[gi]
            group.deliveries[di] = d
            group._counts = None
            touched.setdefault(gi, []).append(di)
        last = len(self.COLUMNS) - 1
        for gi, rows in touched.items():
            parent = self.index(gi, 0)
            self.dataChanged.emit(self.index(min(rows), 0, parent),
                                  self.index(max(rows), last, parent))
            self.dataChanged.emit(self.index(gi, 0), self.index(gi, last))
        return True

    def groups(self) -> list[MessageGroup]:
        return list(self._groups)

    def index_of(self, delivery_id: int) -> QModelIndex:
        """The delivery's row (column 0), or an invalid index if it is not shown."""
        place = self._where.get(delivery_id)
        if place is None:
            return QModelIndex()
        gi, di = place
        return self.index(di, 0, self.index(gi, 0))

    def delivery_count(self) -> int:
        return len(self._where)

    # -- tree structure: internalId 0 = a message row; n+1 = a delivery of message row n

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._groups[parent.row()].deliveries)
        return 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def item(self, index: Index) -> Any:
        if not index.isValid():
            return None
        if index.internalId() == 0:
            return self._groups[index.row()]
        return self._groups[index.internalId() - 1].deliveries[index.row()]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        item = self.item(index)
        if item is None:
            return None
        col = index.column()
        if role == DTO_ROLE:
            return item
        if isinstance(item, MessageGroup):
            if role == Qt.ItemDataRole.DisplayRole:
                if col == 0:
                    drill = " [drill]" if item.is_drill else ""
                    return (f"{TYPE_LABELS.get(item.template_type, item.template_type)} — "
                            f"{item.incident_title}{drill}")
                if col == 3:
                    counts = item.counts()
                    return ", ".join(f"{n:,} {STATE_LABELS.get(s, s).lower()}"
                                     for s, n in sorted(counts.items()))
                if col == 6:
                    return format_local(item.created_at)
                if col == self.CONFIRMED:
                    return item.confirmations()
            if role == Qt.ItemDataRole.FontRole and col == 0:
                from PySide6.QtGui import QFont

                font = QFont()
                font.setBold(True)
                return font
            return None
        d = item
        if role == Qt.ItemDataRole.DisplayRole:
            state = STATE_LABELS.get(d.state, d.state)
            if d.state == "sent" and d.provider_id.startswith("drill:"):
                state = "Delivered to the drill inbox"
            return (d.recipient_name, "SMS" if d.channel == "sms" else d.channel.capitalize(),
                    d.address, state, str(d.attempts),
                    d.last_error, format_local(d.sent_at) if d.sent_at else "",
                    ack_mark(d.ack_requested, d.acknowledged_at, d.ack_via, None))[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 3:
            colour = STATE_COLOURS.get(d.state)
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.ForegroundRole and col == self.CONFIRMED:
            return QColor(CONFIRMED_COLOUR if d.acknowledged_at else WAITING_COLOUR)
        if role == Qt.ItemDataRole.ToolTipRole:
            return d.last_error or d.subject
        return None


class OutboxFilterProxy(QSortFilterProxyModel):
    """Shows deliveries of the chosen state / incident, and the messages that have any."""

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.state: str | None = None
        self.incident_id: int | None = None
        self.setRecursiveFilteringEnabled(False)

    def set_filters(self, **changes: Any) -> None:
        self.beginFilterChange()
        for name, value in changes.items():
            setattr(self, name, value)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _delivery_ok(self, d: Any) -> bool:
        return self.state is None or d.state == self.state

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if self.state is None and (self.incident_id is None or source_parent.isValid()):
            return True   # nothing to filter on (asked once per row: 10,000 in a big send)
        model: OutboxModel = self.sourceModel()  # type: ignore[assignment]
        item = model.item(model.index(source_row, 0, source_parent))
        if isinstance(item, MessageGroup):
            if self.incident_id is not None and item.incident_id != self.incident_id:
                return False
            return any(self._delivery_ok(d) for d in item.deliveries)
        return self._delivery_ok(item)
