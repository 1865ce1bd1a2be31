"""Preview of a feedback CSV before it is imported: every row, matched to a stakeholder or with
the reason it will be left out; one click imports the ready rows in one transaction."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget,
)

from app.errors import ClarionError
from app.stakeholders.importing.feedback import FeedbackImportPlan
from ui.incidents.post_incident_models import ImportPreviewModel
from ui.widgets.forms import NoticeLabel, configure_table, named


class FeedbackImportDialog(QDialog):
    imported = Signal(int)

    def __init__(self, service, plan: FeedbackImportPlan,  # type: ignore[no-untyped-def]
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.plan = service, plan
        self.setObjectName("feedbackImportDialog")
        self.setAccessibleName("Import feedback")
        self.setWindowTitle(f"Import feedback — {plan.file_name}")
        self.resize(820, 460)
        ok, problems = len(plan.ok_rows), len(plan.problem_rows)
        summary = QLabel(f"{ok} {'row' if ok == 1 else 'rows'} ready to import"
                         + (f"; {problems} left out (the reason is on each row)" if problems
                            else "") + f". Read as {plan.encoding}, "
                         f"separated by “{plan.delimiter}”.")
        summary.setObjectName("feedbackImportSummary")
        summary.setWordWrap(True)
        self.model = ImportPreviewModel(self)
        self.model.replace_rows(plan.rows)
        view = named(QTableView(), "feedbackImportPreview", "Rows in the file")
        view.setModel(self.model)
        configure_table(view)
        view.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.notice = NoticeLabel("feedbackImportNotice")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText(f"Import {ok}")
        named(self.import_button, "feedbackImportOk", f"Import {ok} rows")
        named(buttons.button(QDialogButtonBox.StandardButton.Cancel), "feedbackImportCancel",
              "Cancel")
        self.import_button.setEnabled(ok > 0)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(view, 1)
        layout.addWidget(self.notice)
        layout.addWidget(buttons)

    def accept(self) -> None:
        try:
            count = self.service.apply_feedback_import(self.plan)
        except ClarionError as exc:
            self.notice.show_error(f"Nothing imported: {exc}")
            return
        self.imported.emit(count)
        super().accept()
