"""Small dialogs of the clocks panel: record a clock trigger (a timestamped decision, possibly
backdated), mark a regulatory deadline met by linking its notification, enter the affected
counts the thresholds need, and give the reason for dismissing an escalation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from PySide6.QtWidgets import (
    QComboBox, QDateTimeEdit, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
    QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

from app.domain.dto import IncidentDTO
from app.domain.enums import ClockTrigger
from app.errors import ClarionError, ValidationError
from app.timefmt import format_local
from ui.qtime import edit_in_zone, incident_zone, zoned_value
from ui.services import Services
from ui.widgets.forms import ErrorLabel, named, with_error

TRIGGER_HINTS = {
    ClockTrigger.AWARENESS: "Awareness — reasonable certainty that a breach occurred "
                            "(GDPR, UK GDPR, NIS2, DORA cap)",
    ClockTrigger.DISCOVERY: "Discovery — the breach is known, or would be with reasonable "
                            "diligence (HIPAA, Washington)",
    ClockTrigger.DETERMINATION: "Determination — that a breach or cybersecurity incident "
                                "occurred (NYDFS, Colorado, Florida, Texas)",
    ClockTrigger.MATERIALITY: "Materiality determination (SEC Form 8-K Item 1.05)",
    ClockTrigger.CLASSIFICATION: "Classification as a major ICT incident (DORA)",
    ClockTrigger.HIGH_RISK: "High risk to individuals established (GDPR Art. 34)",
}


def _buttons(dialog: QDialog, ok_text: str, ok_name: str) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                           | QDialogButtonBox.StandardButton.Cancel)
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    ok.setText(ok_text)
    named(ok, ok_name, ok_text)
    named(box.button(QDialogButtonBox.StandardButton.Cancel), f"{ok_name}Cancel", "Cancel")
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


class TriggerDialog(QDialog):
    """Record that a clock trigger happened, and when (the client's time; may be past)."""

    def __init__(self, services: Services, incident: IncidentDTO,
                 recorded: Mapping[str, datetime], parent: QWidget | None = None) -> None:
        """`recorded`: the triggers recorded so far (the panel's last evaluation has them)."""
        super().__init__(parent)
        self.services, self.incident = services, incident
        self.setObjectName("triggerDialog")
        self.setAccessibleName("Record a clock trigger")
        self.setWindowTitle("Record a clock trigger")
        self.setMinimumWidth(560)
        self.trigger = named(QComboBox(), "triggerCombo", "What was established")
        for trigger, hint in TRIGGER_HINTS.items():
            self.trigger.addItem(hint, trigger.value)
        self.zone = incident_zone(services, incident.client_id)
        self.when = named(QDateTimeEdit(), "triggerAtEdit", "When it was established",
                          "In the client's time zone. Backdate it if it was established "
                          "earlier: the legal clock runs from then.")
        self.when.setCalendarPopup(True)
        edit_in_zone(self.when, self.zone, services.clock.now())
        now_button = named(QPushButton("Now"), "triggerNowButton", "Set the time to now")
        now_button.clicked.connect(
            lambda: edit_in_zone(self.when, self.zone, self.services.clock.now()))
        when_row = QWidget()
        row = QHBoxLayout(when_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.when, 1)
        row.addWidget(now_button)
        self.note = named(QPlainTextEdit(), "triggerNoteEdit", "Basis of the decision")
        self.note.setPlaceholderText("Optional — what established it, who decided")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(60)
        recorded = ", ".join(f"{ClockTrigger(k).label.lower()} {format_local(v, self.zone)}"
                             for k, v in recorded.items())
        self.recorded = QLabel(("Recorded so far: " + recorded) if recorded
                               else "No trigger recorded yet for this incident.")
        self.recorded.setObjectName("recordedTriggersLabel")
        self.recorded.setWordWrap(True)
        self.errors = {name: ErrorLabel(f"{name}Error") for name in
                       ("trigger", "effective_at", "note", "form")}
        form = QFormLayout()
        form.addRow("&What", with_error(self.trigger, self.errors["trigger"]))
        form.addRow("W&hen", with_error(when_row, self.errors["effective_at"]))
        form.addRow("&Basis", with_error(self.note, self.errors["note"]))
        explain = QLabel("Each regulatory clock starts at its own trigger. This is recorded as "
                         "a decision in the timeline; recording the same trigger again "
                         "corrects it and keeps the earlier entry in the record.")
        explain.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(explain)
        layout.addWidget(self.recorded)
        layout.addLayout(form)
        layout.addWidget(self.errors["form"])
        layout.addWidget(_buttons(self, "Record", "recordTriggerOk"))

    def accept(self) -> None:
        for label in self.errors.values():
            label.clear_error()
        try:
            self.services.clocks.record_trigger(
                self.incident.id, self.trigger.currentData(),
                zoned_value(self.when, self.zone), self.note.toPlainText())
        except ValidationError as exc:
            for name, message in exc.errors.items():
                self.errors.get(name, self.errors["form"]).show_error(message)
            return
        except ClarionError as exc:
            self.errors["form"].show_error(str(exc))
            return
        super().accept()


class MarkMetDialog(QDialog):
    """Link the message that met a regulatory deadline (the regulatory notification)."""

    def __init__(self, services: Services, incident_id: int, rule_id: str, title: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.incident_id, self.rule_id = services, incident_id, rule_id
        self.setObjectName("markMetDialog")
        self.setAccessibleName("Mark a deadline met")
        self.setWindowTitle("Mark a deadline met")
        self.setMinimumWidth(560)
        self.message = named(QComboBox(), "metMessageCombo", "Message that met the deadline")
        messages = services.clocks.regulatory_messages(incident_id)
        # oldest first: the deadline is met by the first message that reached the recipient
        messages.sort(key=lambda m: (m[1], m[0]))
        zone = incident_zone(services, services.incidents.get(incident_id).client_id)
        for message_id, queued_at, template_type, subject in messages:
            label = template_type.replace("_", " ").capitalize()
            self.message.addItem(f"{format_local(queued_at, zone)} · {label} · {subject[:60]}",
                                 message_id)
        # proposed: the earliest message after the trigger that reached the rule's audience
        self.proposed = services.clocks.proposed_met_message(incident_id, rule_id)
        if self.proposed is not None:
            self.message.setCurrentIndex(max(0, self.message.findData(self.proposed)))
        self.error = ErrorLabel("metError")
        intro = QLabel(f"<b>{title}</b><br>The deadline counts as met when the chosen message "
                       "was first sent (or queued, if it has not been sent yet).")
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        if not messages:
            empty = QLabel("This incident has no message yet: compose and queue the "
                           "notification first.")
            empty.setObjectName("noMessagesLabel")
            empty.setWordWrap(True)
            layout.addWidget(empty)
        form = QFormLayout()
        form.addRow("&Message", with_error(self.message, self.error))
        layout.addLayout(form)
        buttons = _buttons(self, "Mark met", "markMetOk")
        buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(messages))
        layout.addWidget(buttons)

    def accept(self) -> None:
        self.error.clear_error()
        try:
            self.services.clocks.mark_satisfied(self.incident_id, self.rule_id,
                                                self.message.currentData())
        except ValidationError as exc:
            self.error.show_error(next(iter(exc.errors.values())))
            return
        except ClarionError as exc:
            self.error.show_error(str(exc))
            return
        super().accept()


class FiguresDialog(QDialog):
    """The counts the regulatory thresholds need; empty means not known yet."""

    def __init__(self, services: Services, incident: IncidentDTO,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services, self.incident = services, incident
        self.setObjectName("figuresDialog")
        self.setAccessibleName("Affected counts")
        self.setWindowTitle("Affected counts")
        self.setMinimumWidth(460)
        self.affected = named(QLineEdit(_text(incident.affected_individuals)),
                              "affectedIndividualsEdit", "Individuals affected",
                              "HIPAA: 500 or more notifies HHS with the individuals")
        self.residents = named(QLineEdit(_text(incident.max_state_residents)),
                               "maxStateResidentsEdit", "Most residents of one state",
                               "HIPAA: more than 500 residents of one state notifies the media")
        for edit in (self.affected, self.residents):
            edit.setPlaceholderText("not known yet")
        self.errors = {"affected_individuals": ErrorLabel("affectedIndividualsError"),
                       "max_state_residents": ErrorLabel("maxStateResidentsError")}
        form = QFormLayout()
        form.addRow("&Individuals affected",
                    with_error(self.affected, self.errors["affected_individuals"]))
        form.addRow("Most residents of &one state",
                    with_error(self.residents, self.errors["max_state_residents"]))
        explain = QLabel("Thresholds decide some deadlines. While a count is unknown, the "
                         "deadline that might apply stays on the panel.")
        explain.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(explain)
        layout.addLayout(form)
        layout.addWidget(_buttons(self, "Save", "figuresOk"))

    def accept(self) -> None:
        for label in self.errors.values():
            label.clear_error()
        values = {}
        for name, edit in (("affected_individuals", self.affected),
                           ("max_state_residents", self.residents)):
            text = edit.text().strip().replace(",", "").replace("_", "")
            if not text:
                values[name] = None
            elif text.isdigit():
                values[name] = int(text)
            else:
                self.errors[name].show_error("Enter a whole number, or leave it empty.")
                return
        try:
            self.services.incidents.set_regulatory_figures(self.incident.id, **values)
        except ValidationError as exc:
            for name, message in exc.errors.items():
                self.errors.get(name, self.errors["affected_individuals"]).show_error(message)
            return
        except ClarionError as exc:
            self.errors["affected_individuals"].show_error(str(exc))
            return
        super().accept()


class ReasonDialog(QDialog):
    def __init__(self, parent: QWidget | None, title: str, prompt: str) -> None:
        super().__init__(parent)
        self.setObjectName("reasonDialog")
        self.setAccessibleName(title)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        label = QLabel(prompt)
        label.setWordWrap(True)
        self.edit = named(QPlainTextEdit(), "reasonEdit", "Reason")
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(70)
        self.error = ErrorLabel("reasonError")
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(with_error(self.edit, self.error))
        layout.addWidget(_buttons(self, "Dismiss escalation", "reasonOk"))

    def accept(self) -> None:
        if not self.edit.toPlainText().strip():
            self.error.show_error("Give the reason; it goes to the timeline.")
            return
        super().accept()

    def reason(self) -> str:
        return self.edit.toPlainText().strip()


def _text(value: int | None) -> str:
    return "" if value is None else str(value)
