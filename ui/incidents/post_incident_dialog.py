"""Post-incident: resolution confirmation, impact summary, root cause, lessons learned, the
remediation plan, stakeholder feedback (typed or imported from CSV), and the report export per
audience — with the post-incident summary one click away in the composer."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QDate, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDateEdit, QDateTimeEdit, QDialog, QFileDialog, QFormLayout,
    QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
    QSpinBox, QTableView, QTabWidget, QVBoxLayout, QWidget,
)

from app.domain.dto import IncidentDTO
from app.errors import ClarionError, ValidationError
from app.reports.model import Audience, ExportFormat, PostIncident
from app.timefmt import format_local
from ui.incidents.post_incident_models import FeedbackModel, RemediationModel
from ui.qtime import edit_in_zone, incident_zone, zoned_value
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.widgets.forms import (
    ErrorLabel, NoticeLabel, configure_table, named, undo_footer, with_error,
)
from ui.worker import Worker

AUDIENCE_HINTS = {
    Audience.EXECUTIVE: "Executive — impact, root cause, remediation, communication record",
    Audience.CUSTOMER: "Customer — no internal notes, no names, no blame-free review",
    Audience.TECHNICAL: "Technical — everything, with the full timeline",
}
FORMAT_LABELS = {ExportFormat.PDF: "PDF", ExportFormat.HTML: "HTML (one file, chart inside)",
                 ExportFormat.MARKDOWN: "Markdown (+ chart PNG beside it)"}


def _text_edit(name: str, accessible: str, placeholder: str, height: int = 70) -> QPlainTextEdit:
    edit = named(QPlainTextEdit(), name, accessible)
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(height)
    return edit


class PostIncidentDialog(QDialog):
    compose_summary = Signal(int)  # incident id

    def __init__(self, services: Services, incident: IncidentDTO,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.incident = services, incident
        self.service = services.postincident
        self.current: PostIncident = self.service.get(incident.id)
        self.setObjectName("postIncidentDialog")
        self.setAccessibleName("Post-incident")
        self.setWindowTitle(f"Post-incident — {incident.title}")
        self.resize(980, 680)
        self.undo_stack = QUndoStack(self)
        self.notice = NoticeLabel("postIncidentNotice")
        self.tabs = named(QTabWidget(), "postIncidentTabs", "Post-incident sections")
        self.tabs.addTab(self._summary_tab(), "&Summary")
        self.tabs.addTab(self._remediation_tab(), "&Remediation plan")
        self.tabs.addTab(self._feedback_tab(), "Stakeholder &feedback")
        self.tabs.addTab(self._export_tab(), "&Export")

        self.undo_button, self.redo_button, bottom = undo_footer(self, self.undo_stack,
                                                                 "postIncident")
        for keys, slot in ((QKeySequence.StandardKey.Undo, self.undo_stack.undo),
                           (QKeySequence.StandardKey.Redo, self.undo_stack.redo)):
            QShortcut(QKeySequence(keys), self, activated=slot)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.notice)
        layout.addLayout(bottom)
        services.qt_events.post_incident_changed.connect(self._changed)
        self._show(self.current, fields=True)

    # ---------------------------------------------------------------- tabs

    def _summary_tab(self) -> QWidget:
        page = QWidget()
        self.confirmed_label = QLabel()
        self.confirmed_label.setObjectName("resolutionConfirmedLabel")
        self.confirmed_by = named(QLineEdit(self.services.desk.name), "confirmedByEdit",
                                  "Resolution confirmed by", "Who confirmed the resolution")
        self.zone = incident_zone(self.services, self.incident.client_id)
        self.confirmed_at = named(QDateTimeEdit(), "confirmedAtEdit",
                                  "Resolution confirmed at", "In the client's time zone")
        self.confirmed_at.setCalendarPopup(True)
        edit_in_zone(self.confirmed_at, self.zone, self.services.clock.now())
        self._confirmed_at_shown = self.confirmed_at.dateTime()  # untouched: "now" at the click
        self.confirm_button = named(QPushButton("Confirm resolution"), "confirmResolutionButton",
                                    "Confirm the resolution")
        self.confirm_button.clicked.connect(self.confirm_resolution)
        confirm_row = QHBoxLayout()
        confirm_row.addWidget(self.confirmed_by, 2)
        confirm_row.addWidget(self.confirmed_at, 1)
        confirm_row.addWidget(self.confirm_button)
        self.impact = _text_edit("impactSummaryEdit", "Impact summary",
                                 "Who was affected, how, for how long; business, customer and "
                                 "regulatory impact")
        self.root_cause = _text_edit("rootCauseEdit", "Root cause",
                                     "What happened and why — systems and processes, no names")
        self.investigating = named(QCheckBox("Root cause still under investigation"),
                                   "rootCauseInvestigatingCheck", "Root cause under investigation")
        self.lessons = _text_edit("lessonsEdit", "Lessons learned",
                                  "Blame-free: what worked, what did not, what changes. Never "
                                  "shown in the customer version.", 90)
        self.field_errors = {n: ErrorLabel(f"{n}Error") for n in (
            "confirmed_by", "confirmed_at", "impact_summary", "root_cause", "lessons_learned")}
        self.save_fields_button = named(QPushButton("Save"), "savePostIncidentButton",
                                        "Save the post-incident summary fields")
        self.revert_fields_button = named(QPushButton("Revert"), "revertPostIncidentButton",
                                          "Revert unsaved changes")
        self.save_fields_button.clicked.connect(self.save_fields)
        self.revert_fields_button.clicked.connect(lambda: self._show(self.current, fields=True))
        form = QFormLayout()
        form.addRow(self.confirmed_label)
        confirm_box = QWidget()
        box = QVBoxLayout(confirm_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(confirm_row)
        box.addWidget(self.field_errors["confirmed_by"])
        box.addWidget(self.field_errors["confirmed_at"])
        form.addRow("Resolution &confirmed by", confirm_box)
        form.addRow("&Impact summary", with_error(self.impact, self.field_errors["impact_summary"]))
        cause = QWidget()
        c = QVBoxLayout(cause)
        c.setContentsMargins(0, 0, 0, 0)
        c.addWidget(self.root_cause)
        c.addWidget(self.investigating)
        c.addWidget(self.field_errors["root_cause"])
        form.addRow("Root c&ause", cause)
        form.addRow("&Lessons learned", with_error(self.lessons, self.field_errors["lessons_learned"]))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_fields_button)
        buttons.addWidget(self.save_fields_button)
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        return page

    def _remediation_tab(self) -> QWidget:
        page = QWidget()
        self.remediation_model = RemediationModel(self)
        self.remediation_view = named(QTableView(), "remediationView", "Remediation plan")
        self.remediation_view.setModel(self.remediation_model)
        configure_table(self.remediation_view)
        header = self.remediation_view.horizontalHeader()
        header.setSectionResizeMode(RemediationModel.TEXT, QHeaderView.ResizeMode.Stretch)
        for col in (RemediationModel.DONE, RemediationModel.OWNER, RemediationModel.DUE):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.remediation_view.selectionModel().selectionChanged.connect(
            lambda *_a: self._item_selected())
        self.item_text = named(QLineEdit(), "remediationTextEdit", "Action")
        self.item_text.setPlaceholderText("e.g. Alert on certificate expiry 30 days ahead")
        self.item_owner = named(QLineEdit(), "remediationOwnerEdit", "Owner")
        self.item_due_set = named(QCheckBox("Due"), "remediationDueCheck", "Has a due date")
        self.item_due = named(QDateEdit(QDate.currentDate().addDays(14)), "remediationDueEdit",
                              "Due date")
        self.item_due.setCalendarPopup(True)
        self.item_due.setDisplayFormat("yyyy-MM-dd")
        self.item_due.setEnabled(False)
        self.item_due_set.toggled.connect(self.item_due.setEnabled)
        self.item_done = named(QCheckBox("Done"), "remediationDoneCheck", "Done")
        self.item_errors = {n: ErrorLabel(f"remediation_{n}Error") for n in
                            ("text", "owner", "due_date")}
        self.add_item_button = named(QPushButton("Add as new action"), "addRemediationButton",
                                     "Add as a new action")
        self.save_item_button = named(QPushButton("Save changes"), "saveRemediationButton",
                                      "Save changes to the selected action")
        self.delete_item_button = named(QPushButton("Delete"), "deleteRemediationButton",
                                        "Delete the selected action")
        self.add_item_button.clicked.connect(self.add_item)
        self.save_item_button.clicked.connect(self.save_item)
        self.delete_item_button.clicked.connect(self.delete_item)
        form = QFormLayout()
        form.addRow("&Action", with_error(self.item_text, self.item_errors["text"]))
        form.addRow("&Owner", with_error(self.item_owner, self.item_errors["owner"]))
        due = QWidget()
        d = QHBoxLayout(due)
        d.setContentsMargins(0, 0, 0, 0)
        d.addWidget(self.item_due_set)
        d.addWidget(self.item_due)
        d.addSpacing(16)
        d.addWidget(self.item_done)
        d.addStretch(1)
        form.addRow("", with_error(due, self.item_errors["due_date"]))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.delete_item_button, self.save_item_button, self.add_item_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("Each action with an owner and a due date. Owners are left out "
                                "of the customer version."))
        layout.addWidget(self.remediation_view, 1)
        layout.addLayout(form)
        layout.addLayout(buttons)
        return page

    def _feedback_tab(self) -> QWidget:
        page = QWidget()
        self.feedback_model = FeedbackModel(self)
        self.feedback_proxy = QSortFilterProxyModel(self)
        self.feedback_proxy.setSourceModel(self.feedback_model)
        self.feedback_view = named(QTableView(), "feedbackView", "Stakeholder feedback")
        self.feedback_view.setModel(self.feedback_proxy)
        configure_table(self.feedback_view)
        header = self.feedback_view.horizontalHeader()
        header.setSectionResizeMode(FeedbackModel.COMMENT, QHeaderView.ResizeMode.Stretch)
        for col in (FeedbackModel.NAME, FeedbackModel.RATING, FeedbackModel.WHEN):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.feedback_summary = QLabel()
        self.feedback_summary.setObjectName("feedbackSummaryLabel")
        self.feedback_who = named(QComboBox(), "feedbackStakeholderCombo", "Stakeholder")
        self.feedback_who.addItem("Someone not in the map…", None)
        for person in self.services.stakeholders.list(self.incident.client_id):
            self.feedback_who.addItem(person.name, person.id)
        self.feedback_name = named(QLineEdit(), "feedbackNameEdit", "Name")
        self.feedback_name.setPlaceholderText("Name, when not in the stakeholder map")
        self.feedback_who.currentIndexChanged.connect(
            lambda _i: self.feedback_name.setEnabled(self.feedback_who.currentData() is None))
        self.feedback_rating = named(QSpinBox(), "feedbackRatingSpin", "Rating from 1 to 5")
        self.feedback_rating.setRange(0, 5)
        self.feedback_rating.setSpecialValueText("—")
        self.feedback_comment = _text_edit("feedbackCommentEdit", "Comment",
                                           "What they said about the communication", 50)
        self.feedback_errors = {n: ErrorLabel(f"feedback_{n}Error") for n in
                                ("stakeholder_id", "stakeholder_name", "rating", "comment")}
        self.add_feedback_button = named(QPushButton("Add feedback"), "addFeedbackButton",
                                         "Add feedback")
        self.delete_feedback_button = named(QPushButton("Delete"), "deleteFeedbackButton",
                                            "Delete the selected feedback")
        self.import_feedback_button = named(QPushButton("Import CSV…"), "importFeedbackButton",
                                            "Import feedback from a CSV file")
        self.add_feedback_button.clicked.connect(self.add_feedback)
        self.delete_feedback_button.clicked.connect(self.delete_feedback)
        self.import_feedback_button.clicked.connect(self.choose_feedback_file)
        form = QFormLayout()
        who = QWidget()
        w = QHBoxLayout(who)
        w.setContentsMargins(0, 0, 0, 0)
        w.addWidget(self.feedback_who, 1)
        w.addWidget(self.feedback_name, 1)
        form.addRow("S&takeholder", with_error(who, self.feedback_errors["stakeholder_name"]))
        form.addRow("Ra&ting", with_error(self.feedback_rating, self.feedback_errors["rating"]))
        form.addRow("Co&mment", with_error(self.feedback_comment,
                                           self.feedback_errors["comment"]))
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_feedback_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_feedback_button)
        buttons.addWidget(self.add_feedback_button)
        layout = QVBoxLayout(page)
        layout.addWidget(self.feedback_summary)
        layout.addWidget(self.feedback_view, 1)
        layout.addLayout(form)
        layout.addLayout(buttons)
        return page

    def _export_tab(self) -> QWidget:
        page = QWidget()
        self.audience = named(QComboBox(), "exportAudienceCombo", "Report version")
        for audience, hint in AUDIENCE_HINTS.items():
            self.audience.addItem(hint, audience.value)
        self.format = named(QComboBox(), "exportFormatCombo", "File format")
        for fmt, label in FORMAT_LABELS.items():
            self.format.addItem(label, fmt.value)
        self.export_button = named(QPushButton("Export…"), "exportReportButton",
                                   "Export the post-incident report")
        self.export_button.clicked.connect(self.choose_export_file)
        self.export_progress = QProgressBar()
        self.export_progress.setObjectName("exportProgress")
        self.export_progress.setRange(0, 0)
        self.export_progress.hide()
        self.export_notice = NoticeLabel("exportNotice")
        self.export_notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.export_notice.setOpenExternalLinks(True)
        self.summary_button = named(QPushButton("Compose the post-incident summary…"),
                                    "composeSummaryButton",
                                    "Open the composer with the post-incident summary")
        self.summary_button.clicked.connect(lambda: self.compose_summary.emit(self.incident.id))
        self.export_worker = Worker(self)
        self.export_worker.finished.connect(self._exported)
        self.export_worker.failed.connect(self._export_failed)
        form = QFormLayout()
        form.addRow("&Version", self.audience)
        form.addRow("&Format", self.format)
        row = QHBoxLayout()
        row.addWidget(self.export_button)
        row.addWidget(self.export_progress, 1)
        row.addStretch(1)
        for combo in (self.audience, self.format):
            combo.setMaximumWidth(560)
        layout = QVBoxLayout(page)
        intro = QLabel("The report is computed from the timeline: time to first communication, "
                       "every message with its audience, cadence kept against due, "
                       "escalations and decisions, regulatory deadlines, failed deliveries, "
                       "and a chart of the incident.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.export_notice)
        layout.addSpacing(16)
        summary = QLabel("Sending the post-incident summary (its root cause, remediation and "
                         "lessons come from the Summary tab) meets the 24-hour summary clock.")
        summary.setWordWrap(True)
        layout.addWidget(summary)
        layout.addWidget(self.summary_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    # ---------------------------------------------------------------- showing

    def _changed(self, incident_id: object) -> None:
        if incident_id == self.incident.id:
            self._show(self.service.get(self.incident.id), fields=False)

    def _show(self, data: PostIncident, fields: bool) -> None:
        self.current = data
        if data.resolution_confirmed_at:
            self.confirmed_label.setText(
                f"Resolution confirmed by <b>{data.resolution_confirmed_by}</b> at "
                f"{format_local(data.resolution_confirmed_at, self.zone)}.")
        else:
            self.confirmed_label.setText("The resolution has not been confirmed yet.")
        if fields:
            self.impact.setPlainText(data.impact_summary)
            self.root_cause.setPlainText(data.root_cause)
            self.investigating.setChecked(data.root_cause_under_investigation)
            self.lessons.setPlainText(data.lessons_learned)
            for label in self.field_errors.values():
                label.clear_error()
        selected = self._selected_item()
        self.remediation_model.replace_rows(data.remediation)
        if selected is not None:
            for r in range(self.remediation_model.rowCount()):
                if self.remediation_model.row_at(r).id == selected.id:
                    self.remediation_view.selectRow(r)
        self.feedback_model.replace_rows(data.feedback)
        if data.feedback:
            average = sum(f.rating for f in data.feedback) / len(data.feedback)
            self.feedback_summary.setText(f"{len(data.feedback)} responses, average rating "
                                          f"{average:.1f} of 5.")
        else:
            self.feedback_summary.setText("No feedback recorded yet.")

    # ---------------------------------------------------------------- actions

    def _do(self, text: str, redo: Callable[[], Any], undo: Callable[[], Any]) -> None:
        self.undo_stack.push(ServiceCommand(text, redo, undo, self.notice.show_error))

    def _attempt(self, action: Callable[[], Any], errors: dict[str, ErrorLabel],
                 fallback: ErrorLabel | None = None) -> Any:
        for label in errors.values():
            label.clear_error()
        self.notice.clear_error()
        try:
            return action()
        except ValidationError as exc:
            for name, message in exc.errors.items():
                target = errors.get(name) or fallback
                if target is not None:
                    target.show_error(message)
                else:
                    self.notice.show_error(message)
        except ClarionError as exc:
            self.notice.show_error(str(exc))
        return None

    def confirm_resolution(self) -> None:
        """Confirm once: pressed again with nothing changed, it says who confirmed and when
        (a changed name or time is a correction, and is recorded)."""
        shown = self.confirmed_at.dateTime()
        when = None if shown == self._confirmed_at_shown else zoned_value(self.confirmed_at,
                                                                          self.zone)
        done_before = self.current.resolution_confirmed_at if self.current else None
        if done_before is not None and when is None and \
                " ".join(self.confirmed_by.text().split()) == \
                self.current.resolution_confirmed_by:
            self.notice.show_info(f"Already confirmed by {self.current.resolution_confirmed_by} "
                                  f"at {format_local(done_before, self.zone)}; nothing was "
                                  f"recorded again.")
            return
        done = self._attempt(lambda: self.service.confirm_resolution(
            self.incident.id, self.confirmed_by.text(), when), self.field_errors)
        if done is not None:
            self.notice.show_info("Resolution confirmed; recorded in the timeline.")

    def save_fields(self) -> None:
        old = self.current
        new = dict(impact_summary=self.impact.toPlainText(),
                   root_cause=self.root_cause.toPlainText(),
                   root_cause_under_investigation=self.investigating.isChecked(),
                   lessons_learned=self.lessons.toPlainText())
        saved = self._attempt(lambda: self.service.save_fields(self.incident.id, **new),
                              self.field_errors)
        if saved is None:
            return
        before = dict(impact_summary=old.impact_summary, root_cause=old.root_cause,
                      root_cause_under_investigation=old.root_cause_under_investigation,
                      lessons_learned=old.lessons_learned)
        incident_id = self.incident.id
        self._do("Edit the post-incident summary",
                 lambda: self._refill(self.service.save_fields(incident_id, **new)),
                 lambda: self._refill(self.service.save_fields(incident_id, **before)))
        self.notice.show_info("Saved.")

    def _refill(self, data: PostIncident) -> None:
        self._show(data, fields=True)

    def _selected_item(self):  # type: ignore[no-untyped-def]
        rows = self.remediation_view.selectionModel().selectedRows()
        return self.remediation_model.row_at(rows[0].row()) if rows else None

    def _item_selected(self) -> None:
        item = self._selected_item()
        if item is None:
            return
        self.item_text.setText(item.text)
        self.item_owner.setText(item.owner)
        self.item_due_set.setChecked(item.due_date is not None)
        self.item_due.setEnabled(item.due_date is not None)
        if item.due_date:
            self.item_due.setDate(QDate(item.due_date.year, item.due_date.month,
                                        item.due_date.day))
        self.item_done.setChecked(item.done)

    def _item_values(self) -> tuple[str, str, date | None]:
        due = self.item_due.date().toPython() if self.item_due_set.isChecked() else None
        return self.item_text.text(), self.item_owner.text(), due  # type: ignore[return-value]

    def add_item(self) -> None:
        text, owner, due = self._item_values()
        item = self._attempt(lambda: self.service.add_item(self.incident.id, text, owner, due),
                             self.item_errors)
        if item is None:
            return
        incident_id, state = self.incident.id, {"item": item, "position": 0}

        def undo() -> None:
            state["item"], state["position"] = self.service.delete_item(state["item"].id)

        def redo() -> None:
            state["item"] = self.service.restore_item(incident_id, state["item"],
                                                      state["position"])

        self._do(f"Add “{item.text}”", redo, undo)
        self.item_text.clear()

    def save_item(self) -> None:
        old = self._selected_item()
        if old is None:
            self.notice.show_error("Select the action to save, or use Add for a new one.")
            return
        text, owner, due = self._item_values()
        done = self.item_done.isChecked()
        new = self._attempt(lambda: self.service.update_item(old.id, text, owner, due, done),
                            self.item_errors)
        if new is None:
            return
        self._do(f"Edit “{old.text}”",
                 lambda: self.service.update_item(old.id, text, owner, due, done),
                 lambda: self.service.update_item(old.id, old.text, old.owner, old.due_date,
                                                  old.done))

    def delete_item(self) -> None:
        item = self._selected_item()
        if item is None:
            return
        result = self._attempt(lambda: self.service.delete_item(item.id), self.item_errors)
        if result is None:
            return
        removed, position = result
        incident_id = self.incident.id
        self._do(f"Delete “{removed.text}”", lambda: self.service.delete_item(removed.id),
                 lambda: self.service.restore_item(incident_id, removed, position))

    def add_feedback(self) -> None:
        who = self.feedback_who.currentData()
        name = self.feedback_who.currentText() if who is not None else self.feedback_name.text()
        entry = self._attempt(lambda: self.service.add_feedback(
            self.incident.id, who, name, self.feedback_rating.value(),
            self.feedback_comment.toPlainText()), self.feedback_errors,
            self.feedback_errors["stakeholder_name"])
        if entry is None:
            return
        incident_id = self.incident.id
        self._do(f"Add feedback from {entry.stakeholder_name}",
                 lambda: self.service.restore_feedback(incident_id, entry),
                 lambda: self.service.delete_feedback(entry.id))
        self.feedback_comment.clear()
        self.feedback_rating.setValue(0)

    def delete_feedback(self) -> None:
        rows = self.feedback_view.selectionModel().selectedRows()
        if not rows:
            return
        entry = self.feedback_model.row_at(self.feedback_proxy.mapToSource(rows[0]).row())
        removed = self._attempt(lambda: self.service.delete_feedback(entry.id),
                                self.feedback_errors)
        if removed is None:
            return
        incident_id = self.incident.id
        self._do(f"Delete feedback from {entry.stakeholder_name}",
                 lambda: self.service.delete_feedback(entry.id),
                 lambda: self.service.restore_feedback(incident_id, entry))

    def choose_feedback_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import feedback", "",
                                              "CSV files (*.csv *.txt);;All files (*)")
        if path:
            self.import_feedback(Path(path))

    def import_feedback(self, path: Path):  # type: ignore[no-untyped-def]
        """Plan the import and show the preview; returns the preview dialog (or None)."""
        from ui.incidents.feedback_import_dialog import FeedbackImportDialog

        try:
            data = path.read_bytes()
        except OSError as exc:
            self.notice.show_error(f"Could not read {path.name}: {exc.strerror or exc}")
            return None
        plan = self._attempt(lambda: self.service.plan_feedback_import(
            self.incident.id, data, path.name), {})
        if plan is None:
            return None
        dialog = FeedbackImportDialog(self.service, plan, self)
        dialog.imported.connect(lambda n: self.notice.show_info(
            f"Imported {n} feedback {'entry' if n == 1 else 'entries'} from {path.name}."))
        dialog.open()
        return dialog

    def choose_export_file(self) -> None:
        fmt = ExportFormat(self.format.currentData())
        audience = Audience(self.audience.currentData())
        stem = "".join(c if c.isalnum() else "-" for c in self.incident.title.lower())[:50]
        from ui.widgets.files import FILTERS, remember_folder, suggested_path

        suggested = suggested_path(self.services.settings, f"{stem}-{audience.value}.{fmt.value}")
        path, _ = QFileDialog.getSaveFileName(self, "Export the report", suggested,
                                              FILTERS[fmt.value])
        if path:
            remember_folder(self.services.settings, Path(path))
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Export on a worker thread; the button waits and the bar moves meanwhile."""
        if self.export_worker.running:
            return
        from ui.reports.export import export

        store, clock, incident_id = self.services.store, self.services.clock, self.incident.id
        audience = Audience(self.audience.currentData())
        fmt = ExportFormat(self.format.currentData())
        self.export_button.setEnabled(False)
        self.export_progress.show()
        self.export_notice.show_info(f"Exporting the {audience.value} version…")
        self.export_worker.start(lambda: export(store, clock, incident_id, audience, fmt, path))

    def _exported(self, result: Any) -> None:
        """`result`: ui.reports.export.Exported, the file and what it could not print."""
        import html

        self.export_button.setEnabled(True)
        self.export_progress.hide()
        target, warnings = Path(result.path), tuple(result.warnings)
        saved = (f"Saved <a href='{target.parent.as_uri()}'>{html.escape(target.name)}</a> "
                 f"in {html.escape(str(target.parent))}.")
        if warnings:   # what the PDF could not print as text
            self.export_notice.show_warning(
                saved + "".join(f"<br>{html.escape(w)}" for w in warnings))
        else:
            self.export_notice.show_info(saved)
        self.last_export = target

    def _export_failed(self, exc: object) -> None:
        self.export_button.setEnabled(True)
        self.export_progress.hide()
        if isinstance(exc, (ClarionError, OSError)):
            self.export_notice.show_error(f"Not exported: {exc}")
        else:
            import logging

            logging.getLogger(__name__).error("export failed", exc_info=exc)  # type: ignore[arg-type]
            self.export_notice.show_error(f"Not exported: unexpected error ({exc}); see the log.")
