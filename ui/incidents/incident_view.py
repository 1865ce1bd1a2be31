"""One incident: header (severity, phase, age), phase and severity controls, impact flags,
the facts editor, note and decision entry, and the live timeline beside the replies read
from the mailbox."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QEvent, QItemSelection, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFrame, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QPlainTextEdit, QPushButton, QScrollArea, QSplitter, QTableView,
    QTabWidget, QVBoxLayout, QWidget,
)

from app.domain.dto import IncidentDTO, TimelineEntryDTO
from app.domain.enums import ImpactFlag, Phase, Severity, TimelineKind
from app.errors import ClarionError, ValidationError
from app.incidents.lifecycle import allowed_targets
from app.incidents.timeline_pages import PAGE
from app.timefmt import format_duration, format_local
from ui.incidents.clocks_panel import ClocksPanel
from ui.incidents.facts_editor import FactsEditor
from ui.incidents.record_check import RecordCheckLabel
from ui.models.incidents import SEVERITY_COLOURS
from ui.models.timeline import (
    ENTRY_ROLE, TimelineModel, column_widths, describe, kind_label,
)
from ui.services import Services
from ui.widgets.forms import ErrorLabel, configure_table, named

PHASE_VERBS = {
    Phase.INVESTIGATING: "Start investigating",
    Phase.RESPONDING: "Move to responding",
    Phase.RESOLVED: "Mark resolved",
    Phase.CLOSED: "Close incident",
}


def _badge(text: str, colour: str) -> str:
    return (f"<span style='background:{colour}; color:white; padding:2px 6px; "
            f"border-radius:3px;'>&nbsp;{text}&nbsp;</span>")


class IncidentView(QWidget):
    """Shows the incident given to set_incident(); refreshes itself from Qt events."""

    incident_shown = Signal(object)  # IncidentDTO | None
    compose_summary_requested = Signal(int)  # incident id: the post-incident summary

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.incident: IncidentDTO | None = None
        self.setObjectName("incidentView")

        # -- header
        self.title_label = QLabel()
        self.title_label.setObjectName("incidentTitleLabel")
        self.title_label.setWordWrap(True)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        self.title_label.setFont(font)
        self.badges_label = QLabel()
        self.badges_label.setObjectName("incidentBadgesLabel")
        self.badges_label.setTextFormat(Qt.TextFormat.RichText)
        self.age_label = QLabel()
        self.age_label.setObjectName("incidentAgeLabel")
        # whether the timeline still matches its hash chain (checked on a worker thread)
        self.record_check = RecordCheckLabel(services)

        # -- controls
        self.phase_combo = named(QComboBox(), "phaseCombo", "Move phase to")
        self.phase_button = named(QPushButton("Move"), "movePhaseButton", "Move phase")
        self.severity_combo = named(QComboBox(), "severityChangeCombo", "Change severity to")
        for sev in Severity:
            self.severity_combo.addItem(sev.value, sev.value)
        self.severity_button = named(QPushButton("Change"), "changeSeverityButton",
                                     "Change severity")
        self.flag_checks = {
            ImpactFlag.BUSINESS: named(QCheckBox("Business"), "flagBusinessCheck",
                                       "Business impact"),
            ImpactFlag.EXTERNAL: named(QCheckBox("External"), "flagExternalCheck",
                                       "External impact"),
            ImpactFlag.REGULATORY: named(QCheckBox("Regulatory"), "flagRegulatoryCheck",
                                         "Regulatory impact"),
        }
        self.post_button = named(QPushButton("Post-incident…"), "postIncidentButton",
                                 "Post-incident summary, remediation, feedback and report")
        self.post_dialog = None
        self.control_error = ErrorLabel("controlError")
        self.compose_button = named(QPushButton("Compose message…"), "composeButton",
                                    "Compose a message for this incident", "Ctrl+M")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Phase:"))
        controls.addWidget(self.phase_combo)
        controls.addWidget(self.phase_button)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Severity:"))
        controls.addWidget(self.severity_combo)
        controls.addWidget(self.severity_button)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Impact:"))
        for box in self.flag_checks.values():
            controls.addWidget(box)
        controls.addStretch(1)

        # -- facts + notes (left)
        self.facts = FactsEditor(services)
        facts_box = QGroupBox("Facts — every message renders from these")
        facts_box.setObjectName("factsGroup")
        QVBoxLayout(facts_box).addWidget(self.facts)

        self.note_edit = named(QPlainTextEdit(), "noteEdit", "Note or decision text")
        self.note_edit.setPlaceholderText("What happened, what was decided and why…")
        self.note_edit.setTabChangesFocus(True)
        self.note_edit.setFixedHeight(self.note_edit.fontMetrics().lineSpacing() * 3 + 12)
        self.note_button = named(QPushButton("Add note"), "addNoteButton", "Add note")
        self.decision_button = named(QPushButton("Record decision"), "addDecisionButton",
                                     "Record decision")
        self.note_error = ErrorLabel("noteError")
        # under the timeline it adds to: the text beside its two buttons, always in view
        notes_box = QWidget()
        notes_box.setObjectName("notesGroup")
        notes_layout = QVBoxLayout(notes_box)
        notes_layout.setContentsMargins(0, 0, 0, 0)
        notes_row = QHBoxLayout()
        notes_row.addWidget(self.note_edit, 1)
        note_buttons = QVBoxLayout()
        note_buttons.addWidget(self.note_button)
        note_buttons.addWidget(self.decision_button)
        note_buttons.addStretch(1)
        notes_row.addLayout(note_buttons)
        notes_layout.addLayout(notes_row)
        notes_layout.addWidget(self.note_error)

        left_content = QWidget()
        left_layout = QVBoxLayout(left_content)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(facts_box)
        left_layout.addStretch(1)
        # scrolls on a short screen (a 768-pixel laptop) instead of pushing the window taller
        left = QScrollArea()
        left.setObjectName("factsScrollArea")
        left.setWidgetResizable(True)
        left.setFrameShape(QFrame.Shape.NoFrame)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setWidget(left_content)
        left.setMinimumWidth(left_content.minimumSizeHint().width()
                             + left.verticalScrollBar().sizeHint().width())

        # -- timeline (right): read a page at a time, filtered by kind in SQL
        self.timeline_model = TimelineModel(services.clock.now, services.store, self)
        self.kind_filter = named(QComboBox(), "timelineKindFilter", "Filter timeline by kind")
        self.kind_filter.addItem("All entries", None)
        for kind in TimelineKind:
            self.kind_filter.addItem(kind.label, kind.value)
        self.kind_filter.currentIndexChanged.connect(
            lambda _i: self.timeline_model.set_kind(self.kind_filter.currentData()))
        self.timeline_view = named(QTableView(), "timelineView", "Incident timeline")
        self.timeline_view.setModel(self.timeline_model)
        configure_table(self.timeline_view)
        self.timeline_view.setWordWrap(False)
        # one line of text a row, every row as high (never measured: a long incident has
        # 100,000): more of the record in view on a short screen
        rows = self.timeline_view.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.timeline_view.fontMetrics().height() + 8)
        header = self.timeline_view.horizontalHeader()
        # widths from the font and the rows of a page (_fit_columns), never every row
        header.setSectionResizeMode(TimelineModel.TIME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(TimelineModel.KIND, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(TimelineModel.SUMMARY, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(48)
        # Who did it is in the entry's detail below and its tooltip; the text needs the width.
        self.timeline_view.setColumnHidden(TimelineModel.ACTOR, True)
        self.timeline_count = QLabel()
        self.timeline_count.setObjectName("timelineCountLabel")
        self.entry_detail = QLabel("Select an entry to read it in full.")
        self.entry_detail.setObjectName("timelineEntryDetail")
        self.entry_detail.setWordWrap(True)
        self.entry_detail.setFrameShape(QFrame.Shape.StyledPanel)
        self.entry_detail.setMinimumHeight(self.entry_detail.fontMetrics().lineSpacing() * 2 + 10)
        self.entry_detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.entry_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.timeline_view.selectionModel().selectionChanged.connect(self._entry_selected)
        self._first_signed: int | None = None   # entries before it: written before coordinators
        self.zone: Any = None    # the shown incident's client's zone (set_incident)
        # double-click or Enter on an entry about a message opens the message as it was sent
        self.timeline_view.activated.connect(self.open_entry)

        timeline_box = QWidget()
        timeline_box.setObjectName("timelineGroup")
        right_layout = QVBoxLayout(timeline_box)
        filter_row = QHBoxLayout()
        filter_row.addWidget(QLabel("Show:"))
        filter_row.addWidget(self.kind_filter)
        filter_row.addStretch(1)
        filter_row.addWidget(self.timeline_count)
        right_layout.addLayout(filter_row)
        right_layout.addWidget(self.timeline_view, 1)
        right_layout.addWidget(self.entry_detail)
        right_layout.addWidget(notes_box)

        # -- the timeline and what came back to the mailbox, a tab each. The Replies pane is
        # built when its tab is first chosen (or asked for); until then the tab only counts the
        # open replies, from the first paint of the tab bar on: not on start-up's path
        self._replies: Any = None
        self._counting = False
        self.replies_holder = QWidget()
        self.replies_holder.setObjectName("repliesHolder")
        QVBoxLayout(self.replies_holder).setContentsMargins(0, 0, 0, 0)
        right = self.tabs = named(QTabWidget(), "incidentTabs", "Timeline and replies")
        right.addTab(timeline_box, "Timeline")
        right.setTabToolTip(0, "Everything that happened, newest first")
        right.addTab(self.replies_holder, "Replies")
        right.setTabToolTip(1, "Replies, bounces and automatic replies read from the mailbox")
        right.currentChanged.connect(lambda i: self.replies if i == 1 else None)
        right.tabBar().installEventFilter(self)      # its first paint starts the counting
        services.qt_events.mailbox_read.connect(lambda _recorded: self._count_replies())

        # -- clocks (full width, above facts and timeline): due, overdue, proposed, required
        self.clocks = ClocksPanel(services)
        clocks_box = QGroupBox("Due next — updates, escalations, deadlines")
        clocks_box.setObjectName("clocksGroup")
        QVBoxLayout(clocks_box).addWidget(self.clocks)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("incidentSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 6)
        self.splitter.setSizes([480, 620])

        layout = QVBoxLayout(self)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title_label, 1)
        title_row.addWidget(self.record_check, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(title_row)
        header_row = QHBoxLayout()
        header_row.addWidget(self.badges_label)
        header_row.addStretch(1)
        header_row.addWidget(self.age_label)
        header_row.addWidget(self.post_button)
        header_row.addWidget(self.compose_button)
        layout.addLayout(header_row)
        layout.addWidget(self.clocks.figures_label)
        layout.addLayout(controls)
        layout.addWidget(self.control_error)
        self.body_splitter = QSplitter(Qt.Orientation.Vertical)
        self.body_splitter.setObjectName("clocksBodySplitter")
        self.body_splitter.setChildrenCollapsible(False)
        self.body_splitter.addWidget(clocks_box)
        self.body_splitter.addWidget(self.splitter)
        self.body_splitter.setStretchFactor(0, 2)
        self.body_splitter.setStretchFactor(1, 5)
        self.body_splitter.setSizes([300, 510])
        # fitted to the height (_fit_body) until the coordinator drags it or a saved place
        # is restored (both set "user_sized")
        self.body_splitter.splitterMoved.connect(
            lambda *_a: self.body_splitter.setProperty("user_sized", True))
        self.clocks_box = clocks_box
        layout.addWidget(self.body_splitter, 1)

        # -- wiring
        self.phase_button.clicked.connect(self.move_phase)
        self.post_button.clicked.connect(self.open_post_incident)
        self.severity_button.clicked.connect(self.change_severity)
        for flag, box in self.flag_checks.items():
            box.clicked.connect(lambda checked, f=flag: self.set_flag(f, checked))
        self.note_button.clicked.connect(lambda: self.add_text(decision=False))
        self.decision_button.clicked.connect(lambda: self.add_text(decision=True))
        self.note_edit.textChanged.connect(self.note_error.clear_error)
        services.qt_events.incident_changed.connect(self._incident_changed)
        services.qt_events.timeline_appended.connect(self._timeline_appended)
        self.timeline_model.counts_changed.connect(self._update_count)
        self.timeline_model.modelReset.connect(
            lambda: self._fit_columns(0, PAGE - 1, widen_only=False))
        self.timeline_model.rowsInserted.connect(lambda _p, first, last: self._fit_columns(
            first, last))
        self.set_incident(None)

    @property
    def replies(self) -> Any:
        """The Replies pane (ui/incidents/replies_pane.py), built on first use."""
        if self._replies is None:
            from ui.incidents.replies_pane import RepliesPane

            pane = self._replies = RepliesPane(self.services)
            self.replies_holder.layout().addWidget(pane)
            pane.show()        # added to a holder already shown: Qt leaves it hidden otherwise
            pane.open_count_changed.connect(lambda n: self.tabs.setTabText(
                1, f"Replies ({n})" if n else "Replies"))
            pane.set_incident(self.incident, self.zone)
        return self._replies

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint and watched is self.tabs.tabBar():
            watched.removeEventFilter(self)
            self._counting = True
            QTimer.singleShot(0, self._count_replies)     # once the paint is done
        return False

    def _count_replies(self) -> None:
        """The Replies tab's count while its pane is not built (the pane keeps it after)."""
        if not self._counting or self._replies is not None:
            return
        n = 0
        if self.incident is not None:
            from app.mailbox.replies import RepliesService

            s = self.services
            n = RepliesService(s.store, s.clock).open_count(self.incident.id)
        self.tabs.setTabText(1, f"Replies ({n})" if n else "Replies")

    # -- fitting

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_body()

    def _fit_body(self) -> None:
        """Due next takes 30 % of the height (no more than 320 px, no less than it needs);
        the facts and the timeline the rest — on a 768-pixel laptop the timeline keeps 8
        rows and the note buttons in view."""
        if self.body_splitter.property("user_sized"):
            return
        total = sum(self.body_splitter.sizes())
        if total <= 0:
            return
        clocks = max(self.clocks_box.minimumSizeHint().height(), min(320, int(total * 0.3)))
        self.body_splitter.setSizes([clocks, max(0, total - clocks)])

    # -- showing

    def set_incident(self, incident: IncidentDTO | None) -> None:
        changed = incident is None or self.incident is None or incident.id != self.incident.id
        self.incident = incident
        self.control_error.clear_error()
        self.setEnabled(incident is not None)
        self.zone = self.client_zone(incident)
        self.clocks.model.zone = self.zone
        if changed:
            self.note_edit.clear()
            self.timeline_model.load(incident.id if incident else None, self.zone,
                                     self.kind_filter.currentData())
            self.entry_detail.setText("Select an entry to read it in full.")
        self.facts.set_incident(incident, keep_edits=not changed, zone=self.zone)
        self.clocks.set_incident(incident)
        if self._replies is not None:
            self._replies.set_incident(incident, self.zone)
        else:
            self._count_replies()
        self.record_check.set_incident(incident.id if incident else None, self.zone)
        self._refresh_header()
        self.incident_shown.emit(incident)

    def _refresh_header(self) -> None:
        inc = self.incident
        if inc is None:
            self.title_label.setText("No incident selected")
            self.badges_label.setText("")
            self.age_label.setText("")
            self.phase_combo.clear()
            return
        self.title_label.setText(inc.title)
        badges = [_badge(inc.severity.value, SEVERITY_COLOURS[inc.severity]),
                  _badge(inc.phase.label, "#455a64")]
        if inc.is_drill:
            badges.append(_badge("DRILL", "#8e24aa"))
        flags = [name for name, on in (("business", inc.impact_business),
                                       ("external", inc.impact_external),
                                       ("regulatory", inc.impact_regulatory)) if on]
        text = " ".join(badges) + f" &nbsp; {inc.client_name}"
        if flags:
            text += " · impact: " + ", ".join(flags)
        self.badges_label.setText(text)
        self.refresh_age()
        # controls
        self.phase_combo.clear()
        targets = allowed_targets(inc.phase)
        for phase in targets:
            verb = ("Reopen — " + phase.label.lower()) if inc.phase == Phase.RESOLVED and \
                phase.order < inc.phase.order else PHASE_VERBS.get(phase, phase.label)
            self.phase_combo.addItem(verb, phase.value)
        closed = inc.phase == Phase.CLOSED
        self.phase_combo.setEnabled(bool(targets))
        self.phase_button.setEnabled(bool(targets))
        self.phase_combo.setToolTip("A closed incident is final." if closed else
                                    "Phases move forward; a resolved incident can be reopened.")
        self.severity_combo.setCurrentIndex(self.severity_combo.findData(inc.severity.value))
        self.severity_combo.setEnabled(not closed)
        self.compose_button.setEnabled(not closed)
        self.severity_button.setEnabled(not closed)
        for flag, box in self.flag_checks.items():
            box.setChecked(getattr(inc, f"impact_{flag.value}"))
            box.setEnabled(not closed)
        self.note_button.setEnabled(True)
        self.decision_button.setEnabled(True)
        self.post_button.setToolTip(
            "Post-incident summary, remediation, feedback and the report"
            if inc.phase in (Phase.RESOLVED, Phase.CLOSED) else
            "Post-incident: you can draft it now; the resolution is confirmed once resolved")

    def refresh_age(self) -> None:
        inc = self.incident
        if inc is None:
            return
        detected = format_local(inc.detected_at, self.zone, now=self.services.clock.now())
        if inc.phase in (Phase.RESOLVED, Phase.CLOSED):
            self.age_label.setText(f"Detected {detected} · {inc.phase.label.lower()}")
        else:
            age = format_duration(self.services.clock.now() - inc.detected_at)
            self.age_label.setText(f"Detected {detected} · open for {age}")

    def _update_count(self, *_args: object) -> None:
        """From the counts in SQL (most entries of a long incident are not loaded)."""
        shown, total = self.timeline_model.matching, self.timeline_model.total
        self.timeline_count.setText(_plural(total, "entry", "entries") if shown == total
                                    else f"{shown} of {total} entries")

    def _fit_columns(self, first: int, last: int, widen_only: bool = True) -> None:
        """Time and Kind as wide as rows first..last need (the page loaded, fetched or the
        row appended: never every row); rows fetched or appended widen them, never narrow."""
        header = self.timeline_view.horizontalHeader()
        widths = column_widths(self.timeline_view, self.timeline_model, first, last)
        for column, width in zip((TimelineModel.TIME, TimelineModel.KIND), widths):
            if not widen_only or width > header.sectionSize(column):
                header.resizeSection(column, width)

    def _entry_selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        entry: TimelineEntryDTO = self.timeline_model.data(indexes[0], ENTRY_ROLE)
        from app.coordinators.service import signature

        if self._first_signed is None and self.services.coordinators is not None:
            self._first_signed = self.services.coordinators.first_entry_signed()
        who = signature(entry.actor, entry.id, self._first_signed)
        text = (f"<b>{format_local(entry.at, self.zone)} · {kind_label(entry.kind)}</b> · "
                f"{html.escape(who)}<br>" + html.escape(describe(entry, zone=self.zone)))
        if entry.kind == TimelineKind.MESSAGE_QUEUED.value and entry.data.get("message_id"):
            from app.messages.composer import message_deliveries

            rows = message_deliveries(self.services.store, entry.data["message_id"])
            shown = "".join(f"<br>• {html.escape(r.recipient_name)} — {r.channel} "
                            f"{html.escape(r.address)}: <i>{r.state}</i>" for r in rows[:8])
            more = f"<br>… and {len(rows) - 8} more" if len(rows) > 8 else ""
            text += shown + more
        if entry.data.get("message_id"):
            text += "<br><i>Double-click or press Enter to read the message as it was sent.</i>"
        self.entry_detail.setText(text)

    def open_entry(self, index: QModelIndex) -> Any:
        """The message an entry is about (queued, sent, failed…), opened in its own window,
        on the entry's recipient when there is one."""
        entry: TimelineEntryDTO | None = self.timeline_model.data(index, ENTRY_ROLE)
        message_id = entry.data.get("message_id") if entry is not None else None
        if not message_id:
            return None
        from ui.composer.message_view import open_message

        return open_message(self, self.services, int(message_id), entry.data.get("delivery_id"))

    # -- events

    def _incident_changed(self, incident: IncidentDTO) -> None:
        if self.incident is not None and incident.id == self.incident.id:
            self.set_incident(incident)

    def _timeline_appended(self, entry: TimelineEntryDTO) -> None:
        self.timeline_model.append(entry)
        self.record_check.appended(entry.incident_id)   # checked again a second later

    # -- actions

    def move_phase(self) -> None:
        if self.incident is None or self.phase_combo.currentData() is None:
            return
        target = Phase(self.phase_combo.currentData())
        final = None
        if target == Phase.RESOLVED:   # what is true now: the notice and the report say it
            final = ask_final_status(self, self.final_status_proposal())
            if final is None:
                return
        self._run(lambda: self.services.incidents.move_phase(
            self.incident.id, target, final_status=final))

    def client_zone(self, incident: IncidentDTO | None) -> Any:
        """The incident's client's zone: every time about the incident is shown in it."""
        from ui.qtime import incident_zone

        return incident_zone(self.services, incident.client_id) if incident else None

    def final_status_proposal(self) -> str:
        """"Resolved at 15:22 PST: " and the current status, in the client's zone."""
        now = self.services.clock.now().astimezone(self.client_zone(self.incident))
        status = (self.incident.facts.status or "").strip()
        return f"Resolved at {now:%H:%M} {now.tzname()}: " + (status or "service is restored.")

    def change_severity(self) -> None:
        if self.incident is None:
            return
        self._run(lambda: self.services.incidents.change_severity(
            self.incident.id, Severity(self.severity_combo.currentData())))

    def set_flag(self, flag: ImpactFlag, value: bool) -> None:
        if self.incident is None:
            return
        if not self._run(lambda: self.services.incidents.set_impact_flag(
                self.incident.id, flag, value)):
            self.flag_checks[flag].setChecked(not value)

    def add_text(self, decision: bool) -> None:
        if self.incident is None:
            return
        text = self.note_edit.toPlainText()
        try:
            if decision:
                self.services.incidents.add_decision(self.incident.id, text)
            else:
                self.services.incidents.add_note(self.incident.id, text)
        except ValidationError as exc:
            self.note_error.show_error(next(iter(exc.errors.values())))
            return
        self.note_edit.clear()

    def open_post_incident(self):  # type: ignore[no-untyped-def]
        """The post-incident section of this incident (non-modal); returns the dialog."""
        if self.incident is None:
            return None
        from ui.incidents.post_incident_dialog import PostIncidentDialog

        if self.post_dialog is not None and self.post_dialog.incident.id == self.incident.id \
                and self.post_dialog.isVisible():
            self.post_dialog.raise_()
            return self.post_dialog
        self.post_dialog = PostIncidentDialog(self.services, self.incident, self)
        self.post_dialog.compose_summary.connect(self.compose_summary_requested)
        self.post_dialog.show()
        return self.post_dialog

    def _run(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.control_error.clear_error()
        try:
            action()
        except ClarionError as exc:
            self.control_error.show_error(str(exc))
            return False
        return True


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


class FinalStatusDialog(QDialog):
    """Asked when the incident moves to resolved: what is true now (pre-filled "Resolved at
    15:22 PST: …"); it becomes the current status the notice and the report's Summary say."""

    def __init__(self, parent: QWidget | None, proposal: str) -> None:
        super().__init__(parent)
        self.setObjectName("finalStatusDialog")
        self.setWindowTitle("Resolve the incident")
        self.setAccessibleName("Final status")
        label = QLabel("What is true now? The resolution notice and the report's Summary will "
                       "say this (it becomes the current status).")
        label.setWordWrap(True)
        self.edit = named(QPlainTextEdit(proposal), "finalStatusEdit", "Final status")
        self.edit.setMinimumSize(480, 100)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        named(buttons.button(QDialogButtonBox.StandardButton.Ok), "finalStatusOkButton",
              "Resolve with this status").setText("Resolve")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "finalStatusCancelButton",
              "Do not resolve now")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.edit)
        layout.addWidget(buttons)


def ask_final_status(parent: QWidget, proposal: str) -> str | None:
    """The final status, asked when the incident moves to resolved (None: not now)."""
    dialog = FinalStatusDialog(parent, proposal)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.edit.toPlainText().strip() or None
