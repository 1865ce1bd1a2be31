"""The clocks panel of the incident view: what is due, what is overdue, what the escalation rules
propose and what the law requires next — one row each, most urgent first — with the actions
that answer them (compose, record a trigger, mark a deadline met, dismiss a proposal).

Evaluation reads the store on a worker thread (one incident takes milliseconds, but the panel
never risks the GUI thread on it) and comes back as plain values."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget,
)

from app.clock_board import (
    DONE, DUE_SOON, NOT_APPLICABLE, OVERDUE, PROPOSAL, WAITING, ClockRow, clock_rows,
    header_figures,
)
from app.clocks import IncidentClocks
from app.domain.dto import IncidentDTO
from app.domain.enums import Phase
from app.errors import ClarionError
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index
from ui.services import Services
from ui.widgets.forms import NoticeLabel, configure_table, named
from ui.worker import Worker

URGENCY_COLOURS = {OVERDUE: "#c62828", PROPOSAL: "#6a1b9a", DUE_SOON: "#ef6c00",
                   DONE: "#2e7d32", WAITING: "#607d8b", NOT_APPLICABLE: "#9e9e9e"}
REFRESH_MS = 30_000


class ClocksModel(DtoTableModel[ClockRow]):
    COLUMNS = ("Status", "What", "For", "Due", "Source")
    STATUS, WHAT, FOR, DUE, SOURCE = range(5)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.now = None

    def set_rows(self, rows: list[ClockRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[ClockRow]:
        return list(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == DTO_ROLE:
            return row
        if role == SORT_ROLE:
            return (row.urgency, row.due_at.timestamp() if row.due_at else 1e18, row.title) \
                if col in (self.STATUS, self.DUE) else self.data(index)
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.status, row.title, row.audience,
                    format_local(row.due_at, now=self.now) if row.due_at else "—",
                    row.source)[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = row.detail
            if row.due_at:
                tip += f"\nDue {format_local(row.due_at)}"
            if row.source_url:
                tip += f"\nSource: {row.source_url}"
            return tip
        if role == Qt.ItemDataRole.ForegroundRole and col == self.STATUS:
            colour = URGENCY_COLOURS.get(row.urgency)
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.FontRole and col == self.STATUS and row.urgency in (
                OVERDUE, PROPOSAL):
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        return None


class ClocksPanel(QWidget):
    """Lists the incident's clocks; asks the window to open the composer through
    compose_requested(incident id, template type, stakeholder ids, escalation key or "")."""

    compose_requested = Signal(int, str, object, str)
    evaluated = Signal(object)  # IncidentClocks

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("clocksPanel")
        self.incident: IncidentDTO | None = None
        self.snapshot: IncidentClocks | None = None
        self._dirty = False
        self.worker = Worker(self)
        self.worker.finished.connect(self._evaluated)
        self.worker.failed.connect(self._failed)

        self.first_label = QLabel()
        self.first_label.setObjectName("firstCommunicationLabel")
        self.first_label.setTextFormat(Qt.TextFormat.RichText)
        self.last_label = QLabel()
        self.last_label.setObjectName("lastCommunicationLabel")
        for label in (self.first_label, self.last_label):
            label.setWordWrap(True)

        self.model = ClocksModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.view = named(QTableView(), "clocksView", "Due updates, escalations and deadlines")
        self.view.setModel(self.proxy)
        configure_table(self.view)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(ClocksModel.STATUS, Qt.SortOrder.AscendingOrder)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        for col in (ClocksModel.STATUS, ClocksModel.DUE, ClocksModel.SOURCE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClocksModel.WHAT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ClocksModel.FOR, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ClocksModel.FOR, 220)
        self.view.doubleClicked.connect(lambda _i: self.primary_action())
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)

        self.detail = QLabel("Select a row to see why it is due.")
        self.detail.setObjectName("clockDetailLabel")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.detail.setOpenExternalLinks(True)
        self.compose_button = named(QPushButton("Compose…"), "clockComposeButton",
                                    "Compose the message this row asks for")
        self.trigger_button = named(QPushButton("Record trigger…"), "recordTriggerButton",
                                    "Record when awareness, discovery or another clock trigger "
                                    "happened")
        self.satisfy_button = named(QPushButton("Mark met…"), "markClockMetButton",
                                    "Link the notification that met this deadline")
        self.dismiss_button = named(QPushButton("Dismiss…"), "dismissEscalationButton",
                                    "Dismiss this escalation proposal, with a reason")
        self.figures_button = named(QPushButton("Affected counts…"), "regulatoryFiguresButton",
                                    "Enter how many individuals are affected")
        self.notice = NoticeLabel("clocksNotice")
        # two short rows: the panel shares its width with the facts editor
        buttons = QVBoxLayout()
        row_actions, row_regulatory = QHBoxLayout(), QHBoxLayout()
        for button in (self.compose_button, self.dismiss_button, self.satisfy_button):
            row_actions.addWidget(button)
        row_actions.addStretch(1)
        row_regulatory.addWidget(QLabel("Regulatory:"))
        row_regulatory.addWidget(self.trigger_button)
        row_regulatory.addWidget(self.figures_button)
        row_regulatory.addStretch(1)
        buttons.addLayout(row_actions)
        buttons.addLayout(row_regulatory)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)

        self.compose_button.clicked.connect(self.compose_selected)
        self.dismiss_button.clicked.connect(self.dismiss_selected)
        self.satisfy_button.clicked.connect(self.mark_selected_met)
        self.trigger_button.clicked.connect(self.record_trigger)
        self.figures_button.clicked.connect(self.edit_figures)

        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(150)
        self.debounce.timeout.connect(self.refresh)
        self.ticker = QTimer(self)
        self.ticker.setInterval(REFRESH_MS)
        self.ticker.timeout.connect(self.refresh)
        qt = services.qt_events
        qt.timeline_appended.connect(self._timeline_appended)
        qt.outbox_changed.connect(lambda _ids: self._schedule())
        qt.messages_changed.connect(lambda _id: self._schedule())
        qt.stakeholders_changed.connect(lambda _ids: self._schedule())
        qt.clock_rules_changed.connect(self._schedule)
        qt.clients_changed.connect(self._schedule)
        self._update_buttons()

    # -- data

    def set_incident(self, incident: IncidentDTO | None) -> None:
        changed = incident is None or self.incident is None or incident.id != self.incident.id
        self.incident = incident
        if changed:
            self.snapshot = None
            self.model.set_rows([])
            self.first_label.setText("")
            self.last_label.setText("")
            self.detail.setText("Select a row to see why it is due.")
        self.notice.clear_error()
        if incident is None:
            self.ticker.stop()
        else:
            self.ticker.start()
            self.refresh()
        self._update_buttons()

    def _schedule(self, *_args: object) -> None:
        if self.incident is not None:
            self.debounce.start()

    def _timeline_appended(self, entry: Any) -> None:
        if self.incident is not None and entry.incident_id == self.incident.id:
            self._schedule()

    def refresh(self) -> None:
        """Re-evaluate in the background; a refresh asked for meanwhile runs right after."""
        if self.incident is None:
            return
        if self.worker.running:
            self._dirty = True
            return
        self._dirty = False
        clocks, incident_id = self.services.clocks, self.incident.id
        self.worker.start(lambda: clocks.evaluate(incident_id))

    def _evaluated(self, snapshot: IncidentClocks) -> None:
        if self._dirty:
            self.refresh()
        if self.incident is None or snapshot.incident_id != self.incident.id:
            return
        self.snapshot = snapshot
        now = snapshot.evaluated_at
        selected = self.selected()
        self.model.now = now
        self.model.set_rows(clock_rows(snapshot, now))
        if selected is not None:
            self._select(selected.kind, selected.key)
        figures = header_figures(snapshot, now, self.incident.detected_at)
        colour = {True: "#2e7d32", False: "#c62828"}.get(figures.first_ok, "#37474f")
        mark = {True: "✓ ", False: "✗ "}.get(figures.first_ok, "")
        self.first_label.setText(f"<span style='color:{colour}'>{mark}{figures.first}</span>")
        self.last_label.setText(figures.last)
        self._update_buttons()
        self.evaluated.emit(snapshot)

    def _failed(self, exc: object) -> None:
        self.notice.show_error(f"The clocks could not be evaluated: {exc}")
        if self._dirty:
            self.refresh()

    def rows(self) -> list[ClockRow]:
        return [self.proxy.data(self.proxy.index(r, 0), DTO_ROLE)
                for r in range(self.proxy.rowCount())]

    # -- selection

    def selected(self) -> ClockRow | None:
        indexes = self.view.selectionModel().selectedRows()
        return self.proxy.data(indexes[0], DTO_ROLE) if indexes else None

    def _select(self, kind: str, key: str) -> bool:
        for r in range(self.proxy.rowCount()):
            row: ClockRow = self.proxy.data(self.proxy.index(r, 0), DTO_ROLE)
            if row.kind == kind and row.key == key:
                self.view.selectRow(r)
                return True
        return False

    def select(self, kind: str, key: str) -> bool:
        return self._select(kind, key)

    def _selection_changed(self, _s: QItemSelection, _d: QItemSelection) -> None:
        row = self.selected()
        if row is None:
            self.detail.setText("Select a row to see why it is due.")
        else:
            text = f"<b>{row.title}</b> — {row.detail}"
            if row.source_url:
                text += f" <a href='{row.source_url}'>Source</a>"
            self.detail.setText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        row = self.selected()
        open_ = self.incident is not None and self.incident.phase != Phase.CLOSED
        self.compose_button.setEnabled(open_ and row is not None
                                       and (row.kind != "regulatory" or row.actionable))
        self.dismiss_button.setEnabled(open_ and row is not None and row.kind == "escalation")
        self.satisfy_button.setEnabled(open_ and row is not None and row.kind == "regulatory"
                                       and row.urgency not in (WAITING, NOT_APPLICABLE))
        self.trigger_button.setEnabled(open_)
        self.figures_button.setEnabled(open_)

    # -- actions

    def primary_action(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.kind == "regulatory" and row.urgency == WAITING:
            self.record_trigger()
        elif row.kind == "regulatory" and row.urgency == DONE:
            return
        else:
            self.compose_selected()

    def compose_selected(self) -> None:
        row = self.selected()
        if row is None or self.incident is None:
            return
        key = row.key if row.kind == "escalation" else ""
        self.compose_requested.emit(self.incident.id, row.template_type or "status_update",
                                    tuple(row.stakeholder_ids), key)

    def dismiss_selected(self) -> None:
        row = self.selected()
        if row is None or row.kind != "escalation" or self.incident is None:
            return
        from ui.incidents.clock_dialogs import ReasonDialog

        dialog = ReasonDialog(self, "Dismiss escalation",
                              f"Why is “{row.title}” not needed? The reason goes to the timeline.")
        incident_id = self.incident.id
        dialog.accepted.connect(lambda: self._run(lambda: self.services.clocks.decide_escalation(
            incident_id, row.key, confirmed=False, reason=dialog.reason())))
        dialog.open()

    def mark_selected_met(self) -> None:
        row = self.selected()
        if row is None or row.kind != "regulatory" or self.incident is None:
            return
        from ui.incidents.clock_dialogs import MarkMetDialog

        dialog = MarkMetDialog(self.services, self.incident.id, row.key, row.title, self)
        dialog.open()

    def record_trigger(self) -> None:
        if self.incident is None:
            return
        from ui.incidents.clock_dialogs import TriggerDialog

        dialog = TriggerDialog(self.services, self.incident, self)
        dialog.open()

    def edit_figures(self) -> None:
        if self.incident is None:
            return
        from ui.incidents.clock_dialogs import FiguresDialog

        dialog = FiguresDialog(self.services, self.incident, self)
        dialog.open()

    def _run(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.notice.clear_error()
        try:
            action()
        except ClarionError as exc:
            errors = getattr(exc, "errors", None)
            self.notice.show_error(next(iter(errors.values())) if errors else str(exc))
            return False
        return True

