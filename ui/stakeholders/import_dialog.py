"""Import stakeholders from a CSV file (column mapping with a preview) or a vCard file.
Checking and importing run on a worker thread; rows that fail validation are listed with
the reason and not imported; duplicates are merged or skipped; the import is one transaction
and one undo step."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QProgressBar, QPushButton, QRadioButton, QStackedWidget, QTableView,
    QVBoxLayout, QWidget,
)

from app.stakeholders.clients import list_clients
from app.domain.enums import Category
from app.errors import ClarionError
from app.stakeholders.importing.apply import ImportResult, apply_import
from app.stakeholders.importing.plan import (
    IMPORT_FIELDS, ImportPlan, guess_mapping, plan_csv_import, plan_vcard_import,
)
from app.stakeholders.importing.read import CsvPreview, read_csv_preview
from app.stakeholders.service import delete_many, restore_many
from ui.models.base import TextTableModel
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.widgets.forms import NoticeLabel, named


def _table(name: str, accessible: str) -> QTableView:
    view = named(QTableView(), name, accessible)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    return view


class ImportDialog(QDialog):
    def __init__(self, services: Services, client_id: int, kind: str, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ui.worker import Worker

        self.services, self.client_id, self.kind, self.undo_stack = \
            services, client_id, kind, undo_stack
        notice = getattr(parent, "message", None)
        self._report = notice.show_error if notice is not None else (lambda _m: None)
        self._report_info = notice.show_info if notice is not None else (lambda _m: None)
        self.client = next(c for c in list_clients(services.store) if c.id == client_id)
        self.path: Path | None = None
        self.preview: CsvPreview | None = None
        self.plan: ImportPlan | None = None
        self.result: ImportResult | None = None
        self.worker = Worker(self)
        self.worker.finished.connect(self._job_done)
        self.worker.failed.connect(self._job_failed)
        self._job = ""

        self.setObjectName("importDialog")
        self.setAccessibleName("Import stakeholders")
        what = "CSV" if kind == "csv" else "vCard"
        self.setWindowTitle(f"Import stakeholders from {what} into {self.client.name}")
        self.resize(980, 640)

        self.file_label = QLabel("Choose a file…")
        self.file_label.setObjectName("importFileLabel")
        self.file_label.setWordWrap(True)
        self.choose_button = named(QPushButton("Choose file…"), "chooseImportFileButton",
                                   "Choose the file to import")
        self.default_category = named(QComboBox(), "importDefaultCategory",
                                      "Category for rows without one")
        for c in Category:
            self.default_category.addItem(c.label, c.value)
        top = QHBoxLayout()
        top.addWidget(self.file_label, 1)
        top.addWidget(QLabel("Category when the file has none:"))
        top.addWidget(self.default_category)
        top.addWidget(self.choose_button)
        self.skip_unreachable = named(QCheckBox("Skip people with no way to reach them"),
                                      "skipUnreachableCheck",
                                      "Skip rows with no valid email address or phone number")
        self.skip_unreachable.setToolTip("Otherwise they are imported, shown as unreachable, "
                                         "with a warning")

        # page 1: mapping (CSV) and preview
        self.mapping: dict[str, QComboBox] = {}
        mapping_box = QGroupBox("Which column holds what")
        mapping_box.setObjectName("importMappingGroup")
        grid = QGridLayout(mapping_box)
        for n, (key, label) in enumerate(IMPORT_FIELDS.items()):
            combo = named(QComboBox(), f"map_{key}", f"Column for {label}")
            self.mapping[key] = combo
            grid.addWidget(QLabel(label), n // 4, (n % 4) * 2)
            grid.addWidget(combo, n // 4, (n % 4) * 2 + 1)
        mapping_box.setVisible(kind == "csv")
        self.mapping_box = mapping_box
        self.preview_model = TextTableModel()
        self.preview_view = _table("importPreviewTable", "Preview of the file")
        self.preview_view.setModel(self.preview_model)
        self.check_button = named(QPushButton("Check rows"), "checkImportButton",
                                  "Check the rows before importing")
        page1 = QWidget()
        p1 = QVBoxLayout(page1)
        p1.setContentsMargins(0, 0, 0, 0)
        p1.addWidget(mapping_box)
        p1.addWidget(QLabel("Preview (first rows):"))
        p1.addWidget(self.preview_view, 1)
        checking = QHBoxLayout()
        checking.addWidget(self.skip_unreachable)
        checking.addStretch(1)
        checking.addWidget(self.check_button)
        p1.addLayout(checking)

        # page 2: review
        self.summary = QLabel()
        self.summary.setObjectName("importSummary")
        self.summary.setWordWrap(True)
        self.problems_model = TextTableModel(("Row", "Field", "Why it is not imported"))
        self.problems_view = _table("importProblemsTable", "Rows that will not be imported")
        self.problems_view.setModel(self.problems_model)
        self.warnings_model = TextTableModel(("Row", "Field", "Imported, but"))
        self.warnings_view = _table("importWarningsTable",
                                    "Rows imported with a contact point left out or none")
        self.warnings_view.setModel(self.warnings_model)
        self.duplicates_model = TextTableModel(("Row", "Name in file", "Same as", "Matched on"))
        self.duplicates_view = _table("importDuplicatesTable", "Duplicates")
        self.duplicates_view.setModel(self.duplicates_model)
        self.merge_radio = named(QRadioButton("Merge duplicates: add their new contact points to "
                                              "the existing stakeholder"),
                                 "mergeDuplicatesRadio", "Merge duplicates")
        self.skip_radio = named(QRadioButton("Skip duplicates"), "skipDuplicatesRadio",
                                "Skip duplicates")
        self.merge_radio.setChecked(True)
        self.back_button = named(QPushButton("Back"), "importBackButton", "Back to the mapping")
        self.import_button = named(QPushButton("Import"), "runImportButton", "Import")
        page2 = QWidget()
        p2 = QVBoxLayout(page2)
        p2.setContentsMargins(0, 0, 0, 0)
        p2.addWidget(self.summary)
        p2.addWidget(QLabel("Rows with problems (not imported):"))
        p2.addWidget(self.problems_view, 2)
        p2.addWidget(QLabel("Imported with a warning (a contact point left out, or no way to "
                            "reach them):"))
        p2.addWidget(self.warnings_view, 1)
        p2.addWidget(QLabel("Duplicates of people already in the map or earlier in the file:"))
        p2.addWidget(self.duplicates_view, 1)
        p2.addWidget(self.merge_radio)
        p2.addWidget(self.skip_radio)
        row = QHBoxLayout()
        row.addWidget(self.back_button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        p2.addLayout(row)

        self.pages = QStackedWidget()
        self.pages.addWidget(page1)
        self.pages.addWidget(page2)
        self.progress = named(QProgressBar(), "importProgress", "Working")
        self.progress.setRange(0, 0)  # busy: the work has no meaningful steps to count
        self.progress.hide()
        self.notice = NoticeLabel("importNotice")
        self.close_button = named(QPushButton("Close"), "importCloseButton", "Close")
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.notice)
        layout.addLayout(bottom)

        self.choose_button.clicked.connect(self.choose_file)
        self.check_button.clicked.connect(self.check)
        self.back_button.clicked.connect(lambda: self.pages.setCurrentIndex(0))
        self.import_button.clicked.connect(self.run_import)
        self.close_button.clicked.connect(self.reject)
        self.check_button.setEnabled(False)

    # -- choosing and previewing

    def choose_file(self) -> None:
        pattern = "CSV files (*.csv *.txt)" if self.kind == "csv" else "vCard files (*.vcf *.vcard)"
        path, _ = QFileDialog.getOpenFileName(self, "Choose the file to import", "", pattern)
        if path:
            self.load(Path(path))

    def load(self, path: Path) -> bool:
        self.notice.clear_error()
        self.pages.setCurrentIndex(0)
        self.plan = None
        try:
            if self.kind == "csv":
                preview = read_csv_preview(path)
                self.preview = preview
                self.preview_model.set_rows(preview.headers, list(preview.rows))
                self._fill_mapping(preview.headers)
                self.file_label.setText(
                    f"<b>{path.name}</b> — {preview.total_rows} rows, {preview.encoding}, "
                    f"separated by “{_show_delimiter(preview.delimiter)}”")
            else:
                from app.stakeholders.importing.vcard import read_vcard_file

                cards = read_vcard_file(path)
                self.preview_model.set_rows(
                    ("Name", "Title", "Email", "Phones"),
                    [(c.fn, c.title, ", ".join(e for e, _ in c.emails),
                      ", ".join(f"{n} ({k})" for n, k, _ in c.phones)) for c in cards[:50]])
                self.file_label.setText(f"<b>{path.name}</b> — {len(cards)} contacts")
        except (ClarionError, OSError) as exc:
            self.notice.show_error(str(exc))
            self.check_button.setEnabled(False)
            return False
        self.path = path
        self.check_button.setEnabled(True)
        return True

    def _fill_mapping(self, headers: tuple[str, ...]) -> None:
        guessed = guess_mapping(headers)
        for key, combo in self.mapping.items():
            combo.clear()
            combo.addItem("— not in the file —", None)
            for n, header in enumerate(headers):
                combo.addItem(header or f"(column {n + 1})", n)
            index = combo.findData(guessed.get(key))
            combo.setCurrentIndex(index if index >= 0 else 0)

    def current_mapping(self) -> dict[str, int]:
        return {key: combo.currentData() for key, combo in self.mapping.items()
                if combo.currentData() is not None}

    # -- checking (worker thread)

    def check(self) -> None:
        if self.path is None or self.worker.running:
            return
        if self.kind == "csv" and "name" not in self.current_mapping():
            self.notice.show_error("Choose the column that holds the name.")
            return
        path, cid, region = self.path, self.client_id, self.client.default_region
        category = self.default_category.currentData()
        skip = self.skip_unreachable.isChecked()
        existing = self.services.stakeholders.list(cid)
        self._existing = existing
        if self.kind == "csv":
            mapping = self.current_mapping()
            job = lambda: plan_csv_import(path, mapping, cid, region, existing,  # noqa: E731
                                          category, skip)
        else:
            job = lambda: plan_vcard_import(path, cid, region, existing,  # noqa: E731
                                            category, skip)
        self._start("check", job, "Checking every row…")

    def _show_plan(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.problems_model.set_rows(("Row", "Field", "Why it is not imported"),
                                     [(str(p.row), p.field, p.message) for p in plan.problems])
        self.warnings_model.set_rows(("Row", "Field", "Imported, but"),
                                     [(str(p.row), p.field, p.message) for p in plan.warnings])
        self.duplicates_model.set_rows(
            ("Row", "Name in file", "Same as", "Matched on"),
            [(str(d.row), d.data.name,
              d.existing_name if d.existing_id is not None else f"row {d.earlier_row}",
              d.matched_on) for d in plan.duplicates])
        bad_rows = len({p.row for p in plan.problems})
        warned = len({p.row for p in plan.warnings})
        self.summary.setText(
            f"<b>{len(plan.new)}</b> of {plan.source_rows} rows are ready to import"
            + (f" (<b>{warned}</b> with a warning)" if warned else "") + "; "
            f"<b>{len(plan.duplicates)}</b> are duplicates; <b>{bad_rows}</b> have problems "
            "and will not be imported.")
        self.merge_radio.setEnabled(bool(plan.duplicates))
        self.skip_radio.setEnabled(bool(plan.duplicates))
        self.import_button.setEnabled(bool(plan.new) or bool(plan.duplicates))
        self.import_button.setText(f"Import {len(plan.new)} stakeholders")
        self.pages.setCurrentIndex(1)

    # -- importing (worker thread; one transaction; one undo step)

    def run_import(self) -> None:
        if self.plan is None or self.worker.running:
            return
        plan, merge, existing = self.plan, self.merge_radio.isChecked(), self._existing
        svc = self.services.stakeholders
        self._start("import", lambda: apply_import(svc, plan, merge, existing),
                    f"Importing {len(plan.new)} stakeholders…")

    def _imported(self, result: ImportResult) -> None:
        self.result = result
        svc = self.services.stakeholders
        created = list(result.created_ids)
        befores = {s.id: s for s in self._existing if s.id in result.merged_ids}
        afters = {sid: svc.get(sid) for sid in result.merged_ids}
        snapshots: list = []

        def undo() -> None:
            snapshots[:] = delete_many(svc, created)
            if befores:
                svc.apply_batch([], [(sid, b.data()) for sid, b in befores.items()])

        def redo() -> None:
            restore_many(svc, snapshots)
            if afters:
                svc.apply_batch([], [(sid, a.data()) for sid, a in afters.items()])

        self.undo_stack.push(ServiceCommand(
            f"Import {len(created)} stakeholders from {self.path.name if self.path else 'file'}",
            redo, undo, self._report))
        message = (f"Imported {len(created)} stakeholders, merged {len(result.merged_ids)}, "
                   f"skipped {len(result.skipped_rows)}; {len({p.row for p in result.problems})} "
                   "rows had problems. Undo (Ctrl+Z) removes the whole import.")
        self._report_info(message)
        self.accept()

    # -- the worker

    def _start(self, job: str, fn, text: str) -> None:  # type: ignore[no-untyped-def]
        self._job = job
        self.progress.setFormat(text)
        self.progress.show()
        self.notice.show_info(text)
        for w in (self.check_button, self.import_button, self.back_button, self.choose_button):
            w.setEnabled(False)
        self.worker.start(fn)

    def _finish(self) -> None:
        self.progress.hide()
        self.notice.clear_error()
        for w in (self.check_button, self.import_button, self.back_button, self.choose_button):
            w.setEnabled(True)

    def _job_done(self, result: object) -> None:
        self._finish()
        if self._job == "check":
            self._show_plan(result)  # type: ignore[arg-type]
        else:
            self._imported(result)  # type: ignore[arg-type]

    def _job_failed(self, exc: object) -> None:
        self._finish()
        if isinstance(exc, ClarionError):
            self.notice.show_error(f"Nothing was imported: {exc}")
        else:
            import logging

            logging.getLogger(__name__).error("import failed", exc_info=exc)  # type: ignore[arg-type]
            self.notice.show_error(f"Nothing was imported: unexpected error ({exc}). "
                                   "The details are in the log.")

    def reject(self) -> None:
        if self.worker.running:
            self.notice.show_error("Please wait: the file is still being processed.")
            return
        super().reject()


def _show_delimiter(delimiter: str) -> str:
    return {"\t": "tab", ",": ",", ";": ";", "|": "|"}.get(delimiter, delimiter)
