"""The clocks panel of the incident view: what is due, what is overdue, what the escalation rules
propose and what the law requires next — one row each, most urgent first — with the actions
that answer them (compose, record a trigger, mark a deadline met, dismiss a proposal).

Evaluation reads the store on a worker thread (one incident takes milliseconds, but the panel
never risks the GUI thread on it) and comes back as plain values."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget,
)

from app.clocks.board import (
    DONE, DUE_SOON, NOT_APPLICABLE, OVERDUE, PROPOSAL, WAITING, ClockRow, clock_rows,
    header_figures,
)
from app.clocks.wording import in_zone
from app.domain.dto import IncidentDTO
from app.domain.enums import Phase
from app.errors import ClarionError
from app.timefmt import format_local
from ui.models.base import DTO_ROLE, SORT_ROLE, DtoTableModel, Index
from ui.services import Services
from ui.widgets.forms import NoticeLabel, configure_table, named
from ui.worker import Worker

if TYPE_CHECKING:
    from app.clocks.evaluation import IncidentClocks

URGENCY_COLOURS = {OVERDUE: "#c62828", PROPOSAL: "#6a1b9a", DUE_SOON: "#ef6c00",
                   DONE: "#2e7d32", WAITING: "#607d8b", NOT_APPLICABLE: "#9e9e9e"}
REFRESH_MS = 30_000


class ClocksModel(DtoTableModel[ClockRow]):
    COLUMNS = ("Status", "What", "For", "Due", "Source")
    STATUS, WHAT, FOR, DUE, SOURCE = range(5)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.now = None
        self.zone: Any = None   # the incident's client's zone: due times are shown there

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
                    format_local(row.due_at, self.zone, now=self.now) if row.due_at else "—",
                    row.source)[col]
        if role == Qt.ItemDataRole.ToolTipRole:   # the whole row, whatever its cells cut
            tip = f"{row.title} — {row.audience}\n{self.said(row)}"
            if row.due_at:
                tip += f"\nDue {format_local(row.due_at, self.zone)}"
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


    def said(self, row: ClockRow) -> str:
        """Why the row is due, its times shown in the client's zone (written in UTC)."""
        return in_zone(row.detail, row.times,
                       lambda at: format_local(at, self.zone, now=self.now))


class _KindProxy(QSortFilterProxyModel):
    def __init__(self, kinds: tuple[str, ...], parent: Any = None) -> None:
        super().__init__(parent)
        self.kinds = kinds
        self.setSortRole(SORT_ROLE)

    def filterAcceptsRow(self, source_row: int, source_parent: Any) -> bool:
        row = self.sourceModel().index(source_row, 0, source_parent).data(DTO_ROLE)
        return row is not None and row.kind in self.kinds


class ClocksPanel(QWidget):
    """Lists the incident's clocks; asks the window to open the composer through
    compose_requested(incident id, template type, stakeholder ids, escalation key or "")."""

    compose_requested = Signal(int, str, object, str, object)
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

        # the incident header shows this line: time to first communication, since the last
        self.figures_label = QLabel()
        self.figures_label.setObjectName("communicationFiguresLabel")
        self.figures_label.setTextFormat(Qt.TextFormat.RichText)
        self.figures_label.setWordWrap(True)

        self.model = ClocksModel(self)
        # two views on one model: what to send (cadence, max silence, escalations) and what
        # the law requires (regulatory deadlines) — side by side, each most urgent first
        self.proxy = _KindProxy(("bounce", "cadence", "escalation"), self)
        self.law_proxy = _KindProxy(("regulatory",), self)
        for proxy in (self.proxy, self.law_proxy):
            proxy.setSourceModel(self.model)
        self.view = self._table(self.proxy, "clocksView",
                                "Due updates, max silence and escalation proposals")
        self.law_view = self._table(self.law_proxy, "regulatoryClocksView",
                                    "Regulatory deadlines")
        # the titles carry the source ("Max silence — …", "HIPAA §164.404 — …"): no room to spare
        self.view.setColumnHidden(ClocksModel.SOURCE, True)
        self.law_view.setColumnHidden(ClocksModel.FOR, True)
        self.law_view.setColumnHidden(ClocksModel.SOURCE, True)
        self._active = self.view
        updates_box = QWidget()
        u = QVBoxLayout(updates_box)
        u.setContentsMargins(0, 0, 0, 0)
        u.addWidget(QLabel("<b>Updates and escalations</b>"))
        u.addWidget(self.view, 1)
        law_box = QWidget()
        w = QVBoxLayout(law_box)
        w.setContentsMargins(0, 0, 0, 0)
        w.addWidget(QLabel("<b>Regulatory deadlines</b> — each from its own trigger"))
        w.addWidget(self.law_view, 1)
        self.tables = QSplitter(Qt.Orientation.Horizontal)
        self.tables.setObjectName("clocksTablesSplitter")
        self.tables.setChildrenCollapsible(False)
        self.tables.addWidget(updates_box)
        self.tables.addWidget(law_box)
        self.tables.setStretchFactor(0, 3)
        self.tables.setStretchFactor(1, 2)

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
        buttons = QHBoxLayout()
        for button in (self.compose_button, self.dismiss_button, self.satisfy_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Regulatory:"))
        buttons.addWidget(self.trigger_button)
        buttons.addWidget(self.figures_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tables, 1)
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
            self.model.replace_rows([])
            self.figures_label.setText("")
            self.detail.setText("Select a row to see why it is due.")
        self.notice.clear_error()
        if incident is None:
            self.ticker.stop()
        else:
            self.ticker.start()
            # after the window has painted: the clocks load on first use, off the start-up path
            self.debounce.start()
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
        self.model.replace_rows(clock_rows(snapshot, now))
        if selected is not None:
            self.select(selected.kind, selected.key)
        self._show_detail()   # the row may be gone (handled), or say something new
        figures = header_figures(snapshot, now, self.incident.detected_at)
        colour = {True: "#2e7d32", False: "#c62828"}.get(figures.first_ok, "#37474f")
        mark = {True: "✓ ", False: "✗ "}.get(figures.first_ok, "")
        text = f"<span style='color:{colour}'>{mark}{html.escape(figures.first)}</span>"
        if figures.last:
            text += " &nbsp;·&nbsp; " + html.escape(figures.last)
        self.figures_label.setText(text)
        self._update_buttons()
        self.evaluated.emit(snapshot)

    def _failed(self, exc: object) -> None:
        self.notice.show_error(f"The clocks could not be evaluated: {exc}")
        if self._dirty:
            self.refresh()

    def _table(self, proxy: QSortFilterProxyModel, name: str, accessible: str) -> QTableView:
        view = named(QTableView(), name, accessible)
        view.setModel(proxy)
        configure_table(view)
        view.setSortingEnabled(True)
        view.sortByColumn(ClocksModel.STATUS, Qt.SortOrder.AscendingOrder)
        view.setWordWrap(False)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
        header = view.horizontalHeader()
        for col in (ClocksModel.STATUS, ClocksModel.DUE, ClocksModel.SOURCE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ClocksModel.WHAT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ClocksModel.FOR, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ClocksModel.FOR, 170)
        view.doubleClicked.connect(lambda _i: self.primary_action())
        view.selectionModel().selectionChanged.connect(
            lambda _s, _d, v=view: self._selection_changed(v))
        return view

    def rows(self) -> list[ClockRow]:
        """Every row shown, updates first then regulatory deadlines (each in view order)."""
        return [p.data(p.index(r, 0), DTO_ROLE) for p in (self.proxy, self.law_proxy)
                for r in range(p.rowCount())]

    # -- selection

    def selected(self) -> ClockRow | None:
        indexes = self._active.selectionModel().selectedRows()
        return self._active.model().data(indexes[0], DTO_ROLE) if indexes else None

    def select(self, kind: str, key: str) -> bool:
        """Select the row of that kind and key in its table; False if it is not shown."""
        view = self.law_view if kind == "regulatory" else self.view
        proxy = view.model()
        for r in range(proxy.rowCount()):
            row: ClockRow = proxy.data(proxy.index(r, 0), DTO_ROLE)
            if row.kind == kind and row.key == key:
                view.selectRow(r)
                return True
        return False

    def _selection_changed(self, view: QTableView) -> None:
        if view.selectionModel().hasSelection():
            # one selection across both tables: the buttons act on it
            self._active = view
            other = self.law_view if view is self.view else self.view
            other.selectionModel().clearSelection()
        elif view is not self._active:
            return
        self._show_detail()
        self._update_buttons()

    def _show_detail(self) -> None:
        """Why the selected row is due — as of the last evaluation: a row handled since is
        gone, and so is its explanation."""
        row = self.selected()
        if row is None:
            self.detail.setText("Select a row to see why it is due.")
        else:
            text = f"<b>{html.escape(row.title)}</b> — {html.escape(self.model.said(row))}"
            if row.source_url:
                text += f" <a href='{html.escape(row.source_url)}'>Source</a>"
            self.detail.setText(text)

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
                                    tuple(row.stakeholder_ids), key, tuple(row.avoid))

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

        recorded = self.snapshot.triggers if self.snapshot is not None else {}
        dialog = TriggerDialog(self.services, self.incident, recorded, self)
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

