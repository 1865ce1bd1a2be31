"""Import stakeholders from a CSV file (what each column is imported as, with a preview) or a
vCard file. Every column is listed with its use or the reason it is ignored; names are combined
from their parts when there is no full-name column. Checking and importing run on a worker
thread; rows that fail validation are listed with the reason and not imported; duplicates are
merged (showing what a merge changes) or skipped; the import is one transaction and one undo
step."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDialog, QFileDialog, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QProgressBar, QPushButton, QRadioButton, QSplitter, QStackedWidget,
    QTableView, QTabWidget, QVBoxLayout, QWidget,
)

from app.stakeholders.clients import list_clients
from app.domain.enums import Category
from app.errors import ClarionError
from app.stakeholders.importing.apply import ImportResult, apply_import
from app.stakeholders.importing.plan import ImportPlan, plan_csv_import, plan_vcard_import
from app.stakeholders.importing.read import CsvPreview, read_csv_preview
from app.stakeholders.service import delete_many, restore_many
from ui.models.base import TextTableModel
from ui.services import Services
from ui.stakeholders.commands import ServiceCommand
from ui.stakeholders.import_columns import (
    FIELD_COLUMN, ColumnFilter, ColumnUsesModel, FieldDelegate,
)
from ui.widgets.forms import NoticeLabel, named


def _table(name: str, accessible: str) -> QTableView:
    view = named(QTableView(), name, accessible)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
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

        # page 1: what each column is imported as (CSV), and a preview
        mapping_box = QGroupBox("What each column is imported as")
        mapping_box.setObjectName("importMappingGroup")
        self.columns_model = ColumnUsesModel(self)
        self.columns_proxy = ColumnFilter(self)
        self.columns_proxy.setSourceModel(self.columns_model)
        self.columns_view = _table("importColumnsTable", "Columns of the file and their use")
        self.columns_view.setModel(self.columns_proxy)
        self.columns_view.setItemDelegateForColumn(FIELD_COLUMN, FieldDelegate(self.columns_view))
        self.columns_view.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.columns_view.horizontalHeader().resizeSection(0, 200)
        self.columns_view.horizontalHeader().resizeSection(1, 200)
        self.columns_view.horizontalHeader().resizeSection(FIELD_COLUMN, 230)
        self.name_line = QLabel()
        self.name_line.setObjectName("importNameLine")
        self.name_line.setWordWrap(True)
        self.column_counts = QLabel()
        self.column_counts.setObjectName("importColumnCounts")
        self.column_filter = named(QComboBox(), "importColumnFilter", "Which columns to list")
        for text, show in (("All columns", "all"), ("Used columns", "used"),
                           ("Ignored columns", "ignored")):
            self.column_filter.addItem(text, show)
        self.column_filter.currentIndexChanged.connect(
            lambda _i: self.columns_proxy.set_show(self.column_filter.currentData()))
        self.columns_model.uses_changed.connect(self._show_uses)
        box = QVBoxLayout(mapping_box)
        box.addWidget(self.name_line)
        counts = QHBoxLayout()
        counts.addWidget(self.column_counts, 1)
        counts.addWidget(QLabel("Show:"))
        counts.addWidget(self.column_filter)
        box.addLayout(counts)
        box.addWidget(self.columns_view, 1)
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
        preview_box = QWidget()
        pv = QVBoxLayout(preview_box)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(QLabel("Preview (first rows):"))
        pv.addWidget(self.preview_view, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("importSplitter")
        split.addWidget(mapping_box)
        split.addWidget(preview_box)
        split.setStretchFactor(0, 3 if kind == "csv" else 0)
        split.setStretchFactor(1, 2)
        p1.addWidget(split, 1)
        checking = QHBoxLayout()
        checking.addWidget(self.skip_unreachable)
        checking.addStretch(1)
        checking.addWidget(self.check_button)
        p1.addLayout(checking)

        # page 2: review
        self.summary = QLabel()
        self.summary.setObjectName("importSummary")
        self.summary.setWordWrap(True)
        self.people_model = TextTableModel(PEOPLE_COLUMNS)
        self.people_view = _table("importPeopleTable", "People to import")
        self.people_view.setModel(self.people_model)
        self.problems_model = TextTableModel(("Row", "Field", "Why it is not imported"))
        self.problems_view = _table("importProblemsTable", "Rows that will not be imported")
        self.problems_view.setModel(self.problems_model)
        self.warnings_model = TextTableModel(("Row", "Field", "Imported, but"))
        self.warnings_view = _table("importWarningsTable",
                                    "Rows imported with a contact point left out or none")
        self.warnings_view.setModel(self.warnings_model)
        self.duplicates_model = TextTableModel(DUPLICATE_COLUMNS)
        self.duplicates_view = _table("importDuplicatesTable", "Duplicates")
        self.duplicates_view.setModel(self.duplicates_model)
        self.merge_radio = named(QRadioButton("Merge duplicates: add what is new (contact points, "
                                              "a fuller name) to the existing stakeholder"),
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
        self.review_tabs = named(QTabWidget(), "importReviewTabs", "What the import will do")
        for view, hint in (
                (self.people_view, "The people this import adds, with every contact point:"),
                (self.warnings_view, "Imported, but not whole: a contact point left out, or "
                                     "no way to reach them:"),
                (self.problems_view, "Rows that are not imported, and why:"),
                (self.duplicates_view, "People already in the map or earlier in the file, "
                                       "and what a merge changes:")):
            tab = QWidget()
            box = QVBoxLayout(tab)
            box.addWidget(QLabel(hint))
            box.addWidget(view, 1)
            self.review_tabs.addTab(tab, "")
        p2.addWidget(self.review_tabs, 1)
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
                self.columns_model.load(preview.headers, preview.rows)
                self.file_label.setText(
                    f"<b>{path.name}</b> — {preview.total_rows} rows, {preview.encoding}, "
                    f"separated by “{_show_delimiter(preview.delimiter)}”")
            else:
                from app.stakeholders.importing.vcard import read_vcard_file

                cards = read_vcard_file(path)
                self.preview_model.set_rows(
                    ("Name", "Title", "Email", "Phones"),
                    [(c.fn, c.title, ", ".join(e for e, _, _ in c.emails),
                      ", ".join(f"{n} ({label or k})" for n, k, _, label in c.phones))
                     for c in cards[:50]])
                for column, width in enumerate((220, 180, 220)):
                    self.preview_view.horizontalHeader().resizeSection(column, width)
                self.file_label.setText(f"<b>{path.name}</b> — {len(cards)} contacts")
        except (ClarionError, OSError) as exc:
            self.notice.show_error(str(exc))
            self.check_button.setEnabled(False)
            return False
        self.path = path
        self.check_button.setEnabled(True)
        return True

    def _show_uses(self) -> None:
        self.name_line.setText(self.columns_model.name_line())
        used, ignored = self.columns_model.counts()
        self.column_counts.setText(
            f"<b>{used}</b> columns used, <b>{ignored}</b> ignored — each ignored column says "
            "why. To change what a column is imported as, click its “Imported as” cell.")

    # -- checking (worker thread)

    def check(self) -> None:
        if self.path is None or self.worker.running:
            return
        if self.kind == "csv" and not self.columns_model.has_name():
            self.notice.show_error("Choose the column that holds the name (or the first and "
                                   "last names) under “Imported as”.")
            return
        path, cid, region = self.path, self.client_id, self.client.default_region
        category = self.default_category.currentData()
        skip = self.skip_unreachable.isChecked()
        existing = self.services.stakeholders.list(cid)
        self._existing = existing
        if self.kind == "csv":
            uses = dict(self.columns_model.uses)
            job = lambda: plan_csv_import(path, uses, cid, region, existing,  # noqa: E731
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
            DUPLICATE_COLUMNS,
            [(str(d.row), d.data.name,
              d.existing_name if d.existing_id is not None else f"row {d.earlier_row}",
              d.matched_on, d.effect) for d in plan.duplicates])
        self.people_model.set_rows(PEOPLE_COLUMNS, [
            (str(row), d.name, Category(d.category).label, d.role, _contact_text(d))
            for row, d in plan.new])
        bad_rows = len({p.row for p in plan.problems})
        warned = len({p.row for p in plan.warnings})
        for n, text in enumerate((f"To import ({len(plan.new)})",
                                  f"Warnings ({len(plan.warnings)})",
                                  f"Not imported ({bad_rows})",
                                  f"Duplicates ({len(plan.duplicates)})")):
            self.review_tabs.setTabText(n, text)
        self.review_tabs.setCurrentIndex(2 if bad_rows else 0)
        for column, width in enumerate((50, 230, 120, 160)):
            self.people_view.horizontalHeader().resizeSection(column, width)
        for view in (self.problems_view, self.warnings_view, self.duplicates_view):
            view.horizontalHeader().resizeSection(0, 50)
            view.horizontalHeader().resizeSection(1, 180)
        self.summary.setText(
            f"<b>{len(plan.new)}</b> of {plan.source_rows} "
            f"{'rows' if self.kind == 'csv' else 'contacts'} are ready to import"
            + (f" (<b>{warned}</b> with a warning)" if warned else "") + "; "
            f"<b>{len(plan.duplicates)}</b> are duplicates; <b>{bad_rows}</b> have problems "
            "and will not be imported.")
        self.merge_radio.setEnabled(bool(plan.duplicates))
        self.skip_radio.setEnabled(bool(plan.duplicates))
        self.import_button.setEnabled(bool(plan.new) or bool(plan.duplicates))
        self.import_button.setText(f"Import {len(plan.new)} stakeholder"
                                   f"{'' if len(plan.new) == 1 else 's'}")
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


DUPLICATE_COLUMNS = ("Row", "Name in file", "Same as", "Matched on", "A merge")
PEOPLE_COLUMNS = ("Row", "Name", "Category", "Role", "Contact points")
_CHANNEL_WORDS = {"email": "email", "sms": "SMS", "phone": "phone"}


def _contact_text(data) -> str:  # type: ignore[no-untyped-def]
    """“email zoe@example.com (Work) · SMS +447911123456 (Mobile) · …”, or why there is none."""
    return " · ".join(
        f"{_CHANNEL_WORDS.get(c.channel, c.channel)} {c.address}"
        + (f" ({c.label})" if c.label else "") for c in data.contacts) or "none (unreachable)"


def _show_delimiter(delimiter: str) -> str:
    return {"\t": "tab", ",": ",", ";": ";", "|": "|"}.get(delimiter, delimiter)
