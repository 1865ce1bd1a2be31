"""The Incidents workspace: a filterable list of incidents beside the selected incident."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
    QSplitter, QStackedWidget, QTableView, QVBoxLayout, QWidget,
)

from app.stakeholders.clients import list_clients
from app.domain.dto import IncidentDTO
from app.domain.enums import Phase, Severity
from ui.incidents.incident_view import IncidentView
from ui.models.incidents import INCIDENT_ROLE, IncidentFilterProxy, IncidentTableModel
from ui.services import Services
from ui.widgets.forms import ask_unsaved, configure_table, named


class IncidentsWorkspace(QWidget):
    current_incident_changed = Signal(object)  # IncidentDTO | None
    compose_requested = Signal(int)            # incident id

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.setObjectName("incidentsWorkspace")

        self.model = IncidentTableModel(services.clock.now, self)
        self.proxy = IncidentFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = named(QLineEdit(), "incidentSearch", "Search incidents by title")
        self.search.setPlaceholderText("Search titles (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.new_button = named(QPushButton("New incident…"), "newIncidentButton",
                                "New incident", "Open a new incident (Ctrl+N)")
        self.phase_filter = named(QComboBox(), "phaseFilter", "Filter by phase")
        self.phase_filter.addItem("All phases", None)
        self.phase_filter.addItem("Open (not closed)", IncidentFilterProxy.OPEN)
        for phase in Phase:
            self.phase_filter.addItem(phase.label, phase.value)
        self.severity_filter = named(QComboBox(), "severityFilter", "Filter by severity")
        self.severity_filter.addItem("All severities", None)
        for sev in Severity:
            self.severity_filter.addItem(sev.value, sev.value)
        self.client_filter = named(QComboBox(), "clientFilter", "Filter by organisation")

        self.table = named(QTableView(), "incidentTable", "Incidents")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(IncidentTableModel.DETECTED, Qt.SortOrder.DescendingOrder)
        configure_table(self.table)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(IncidentTableModel.TITLE, QHeaderView.ResizeMode.Stretch)
        # The detection time is in the tooltip and the incident header; age says more here.
        self.table.setColumnHidden(IncidentTableModel.DETECTED, True)
        self.count_label = QLabel()
        self.count_label.setObjectName("incidentCountLabel")

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.new_button)
        filters = QHBoxLayout()
        filters.addWidget(self.phase_filter)
        filters.addWidget(self.severity_filter)
        filters.addWidget(self.client_filter, 1)
        list_panel = QWidget()
        list_layout = QVBoxLayout(list_panel)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addLayout(top)
        list_layout.addLayout(filters)
        list_layout.addWidget(self.table, 1)
        list_layout.addWidget(self.count_label)

        self.view = IncidentView(services)
        self.view.compose_button.clicked.connect(
            lambda: self.view.incident and self.compose_requested.emit(self.view.incident.id))
        self.empty = QWidget()
        self.empty.setObjectName("noIncidentPanel")
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        self.empty_label = QLabel()
        self.empty_label.setObjectName("noIncidentLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        empty_layout.addWidget(self.empty_label)
        self.empty_new_button = named(QPushButton("Open a new incident…"), "emptyNewIncidentButton",
                                      "Open a new incident")
        empty_layout.addWidget(self.empty_new_button, 0, Qt.AlignmentFlag.AlignCenter)
        empty_layout.addStretch(2)
        self.detail = QStackedWidget()
        self.detail.addWidget(self.empty)
        self.detail.addWidget(self.view)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("incidentsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(list_panel)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([380, 1060])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.splitter)

        # wiring
        self.search.textChanged.connect(self.proxy.set_text)
        self.phase_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_phase(self.phase_filter.currentData()))
        self.severity_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_severity(
                Severity(self.severity_filter.currentData())
                if self.severity_filter.currentData() else None))
        self.client_filter.currentIndexChanged.connect(
            lambda _i: self.proxy.set_client(self.client_filter.currentData()))
        self.new_button.clicked.connect(self.new_incident)
        self.empty_new_button.clicked.connect(self.new_incident)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._after_filter)
        services.qt_events.incident_changed.connect(self._incident_changed)

        self.age_timer = QTimer(self)
        self.age_timer.setInterval(30_000)
        self.age_timer.timeout.connect(self._tick)
        self.age_timer.start()

    # -- data

    def reload(self) -> None:
        self._reload_clients()
        selected = self.current_incident()
        self.model.set_incidents(self.services.incidents.list())
        self._update_columns()
        if selected is not None:
            self.select_incident(selected.id)
        elif self.proxy.rowCount() > 0:
            self.table.setCurrentIndex(self.proxy.index(0, 0))
        self._after_filter()

    def _reload_clients(self) -> None:
        current = self.client_filter.currentData()
        self.client_filter.blockSignals(True)
        self.client_filter.clear()
        self.client_filter.addItem("All organisations", None)
        for client in list_clients(self.services.store):
            self.client_filter.addItem(client.name, client.id)
        index = self.client_filter.findData(current)
        self.client_filter.setCurrentIndex(max(index, 0))
        self.client_filter.blockSignals(False)

    def current_incident(self) -> IncidentDTO | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self.proxy.data(index, INCIDENT_ROLE)

    def select_incident(self, incident_id: int) -> bool:
        row = self.model.row_of(incident_id)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():  # filtered out: show everything so the user sees it
            self.search.clear()
            self.phase_filter.setCurrentIndex(self.phase_filter.findData(None))
            self.severity_filter.setCurrentIndex(0)
            self.client_filter.setCurrentIndex(0)
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)
        return True

    # -- reactions

    def _row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        incident = self.proxy.data(current, INCIDENT_ROLE) if current.isValid() else None
        shown = self.view.incident
        if shown is not None and (incident is None or incident.id != shown.id) \
                and not self.leave_facts():
            selection = self.table.selectionModel()
            selection.blockSignals(True)
            selection.setCurrentIndex(previous, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                      | QItemSelectionModel.SelectionFlag.Rows)
            selection.blockSignals(False)
            return
        self._show(incident)

    def leave_facts(self) -> bool:
        facts = self.view.facts
        if not facts.is_dirty():
            return True
        choice = ask_unsaved(self, f"The facts of “{self.view.incident.title}”")
        if choice == "save":
            facts.save()
            return not facts.is_dirty()
        if choice == "discard":
            facts.revert()
            return True
        return False

    def _show(self, incident: IncidentDTO | None) -> None:
        if incident is None:
            self.detail.setCurrentWidget(self.empty)
            if self.model.rowCount() == 0:
                self.empty_label.setText("No incidents yet. When something breaks, open one "
                                         "here — it starts the clock for every stakeholder.")
            else:
                self.empty_label.setText("Select an incident in the list to see its facts and "
                                         "timeline.")
        else:
            self.detail.setCurrentWidget(self.view)
        if incident is None or self.view.incident is None or self.view.incident.id != incident.id:
            self.view.set_incident(incident)
        self.current_incident_changed.emit(incident)

    def _after_filter(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(_plural(total, "incident") if shown == total
                                 else f"Showing {shown} of {total} incidents")
        if not self.table.currentIndex().isValid():
            if shown:
                self.table.setCurrentIndex(self.proxy.index(0, 0))
            else:
                self._show(None)

    def _update_columns(self) -> None:
        # The organisation column earns its width only when incidents span organisations.
        clients = {self.model.incident_at(r).client_id for r in range(self.model.rowCount())}
        self.table.setColumnHidden(IncidentTableModel.CLIENT, len(clients) <= 1)

    def _incident_changed(self, incident: IncidentDTO) -> None:
        self.model.upsert(incident)
        self._update_columns()
        current = self.current_incident()
        if current is not None and current.id == incident.id:
            self.current_incident_changed.emit(incident)

    def _tick(self) -> None:
        self.model.refresh_ages()
        self.view.refresh_age()

    # -- actions

    def new_incident(self):  # type: ignore[no-untyped-def]
        """Open the New Incident dialog (window-modal, non-blocking); returns it."""
        from ui.incidents.new_incident_dialog import NewIncidentDialog  # not needed at start-up

        current = self.current_incident()
        dialog = NewIncidentDialog(self.services, self,
                                   client_id=current.client_id if current else None)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._created(dialog.created))
        self.new_dialog = dialog
        dialog.open()
        return dialog

    def _created(self, incident: IncidentDTO | None) -> None:
        if incident is None:
            return
        self.select_incident(incident.id)
        self.view.facts.status.setFocus()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"
