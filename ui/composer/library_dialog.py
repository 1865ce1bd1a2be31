"""The template library: every built-in template, the coordinator's own versions of them,
an editor that checks the format and the Jinja2 syntax on save (with the line), and a way back
to the built-in. Every save is a new version; nothing is overwritten."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QComboBox, QDialog, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
    QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget,
)

from app.messages.sandbox import TemplateRenderError
from app.messages.library import (
    TYPE_LABELS, TYPES, TemplateFormatError, TemplateSource, effective_templates, history,
    parse_template, revert_to_builtin, save_custom,
)
from app.messages.composer import check_renders
from app.timefmt import format_local
from ui.models.base import TextTableModel
from ui.services import Services
from ui.widgets.forms import NoticeLabel, configure_table, named


class TemplateLibraryDialog(QDialog):
    changed = Signal()  # a version was saved or reverted

    def __init__(self, services: Services, template_type: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.templates: dict[str, TemplateSource] = {}
        self.current_key: str | None = None
        self.setObjectName("templateLibraryDialog")
        self.setAccessibleName("Template library")
        self.setWindowTitle("Template library")
        self.resize(1100, 700)

        self.type_filter = named(QComboBox(), "libraryTypeFilter", "Show templates of type")
        self.type_filter.addItem("All types", None)
        for t in TYPES:
            self.type_filter.addItem(TYPE_LABELS[t], t)
        self.model = TextTableModel(("Type", "Level", "Channel", "Source", "Key"))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(4)
        self.table = named(QTableView(), "libraryTable", "Templates")
        self.table.setModel(self.proxy)
        configure_table(self.table, alternating=False)
        self.table.setColumnHidden(4, True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.type_filter)
        left_layout.addWidget(self.table, 1)

        self.title = QLabel()
        self.title.setObjectName("libraryTemplateTitle")
        self.title.setWordWrap(True)
        self.editor = named(QPlainTextEdit(), "libraryEditor", "Template text")
        self.editor.setFont(QFont("monospace"))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.error = NoticeLabel("libraryError")
        self.history_label = QLabel()
        self.history_label.setObjectName("libraryHistory")
        self.history_label.setWordWrap(True)
        self.save_button = named(QPushButton("Save as my version"), "librarySaveButton",
                                 "Save as my version", "Ctrl+S")
        self.save_button.setShortcut("Ctrl+S")
        self.discard_button = named(QPushButton("Discard edits"), "libraryDiscardButton",
                                    "Discard unsaved edits")
        self.revert_button = named(QPushButton("Back to the built-in"), "libraryRevertButton",
                                   "Use the built-in template again")
        self.close_button = named(QPushButton("Close"), "libraryCloseButton", "Close")
        buttons = QHBoxLayout()
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        buttons.addWidget(self.discard_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.editor, 1)
        right_layout.addWidget(self.error)
        right_layout.addWidget(self.history_label)
        right_layout.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([400, 700])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.type_filter.currentIndexChanged.connect(self._filter)
        self.table.selectionModel().currentRowChanged.connect(self._selected)
        self.save_button.clicked.connect(self.save)
        self.discard_button.clicked.connect(lambda: self.show_template(self.current_key))
        self.revert_button.clicked.connect(self.revert)
        self.close_button.clicked.connect(self.reject)
        self.editor.textChanged.connect(self._edited)
        self.reload()
        if template_type:
            self.type_filter.setCurrentIndex(self.type_filter.findData(template_type))

    # -- listing

    def reload(self, select_key: str | None = None) -> None:
        self.templates = effective_templates(self.services.store)
        rows = []
        for key in sorted(self.templates, key=lambda k: (TYPES.index(k.split("/")[0]), k)):
            t = self.templates[key]
            source = "built-in" if t.builtin else f"yours, version {t.version}"
            rows.append((TYPE_LABELS[t.type], t.level.capitalize(),
                         "SMS" if t.channel == "sms" else "Email", source, key))
        self.model.set_rows(self.model.COLUMNS, rows)
        target = select_key or self.current_key
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 4).data() == target:
                self.table.setCurrentIndex(self.proxy.index(row, 0))
                return
        if self.proxy.rowCount():
            self.table.setCurrentIndex(self.proxy.index(0, 0))

    def _filter(self, _index: int) -> None:
        value = self.type_filter.currentData()
        self.proxy.setFilterFixedString(f"{value}/" if value else "")
        if self.proxy.rowCount():
            self.table.setCurrentIndex(self.proxy.index(0, 0))

    def _selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.show_template(self.proxy.index(current.row(), 4).data())

    def select_key(self, key: str) -> None:
        self.type_filter.setCurrentIndex(0)
        self.reload(key)

    def show_template(self, key: str | None) -> None:
        self.current_key = key
        self.error.clear_error()
        if key is None:
            return
        t = self.templates[key]
        self._loading = True
        self.editor.setPlainText(t.text)
        self._loading = False
        self.title.setText(f"<b>{t.title}</b><br>{t.description}")
        versions = history(self.services.store, key)
        if versions:
            shown = ", ".join(f"v{v} ({format_local(at)}{', retired' if retired else ''})"
                              for v, at, retired in versions[:6])
            self.history_label.setText(f"Your versions: {shown}")
        else:
            self.history_label.setText("You have not changed this template.")
        self.revert_button.setEnabled(not t.builtin)
        if not t.builtin:   # saved before the check existed: still used; said, not hidden
            try:
                check_renders(t, self.services.clock.now())
            except TemplateRenderError as exc:
                self.error.show_error(f"Your version cannot render the sample incident — "
                                      f"{exc}. The composer still uses it: fix it or go back "
                                      f"to the built-in.")
        self._edited()

    def _edited(self) -> None:
        if getattr(self, "_loading", False) or self.current_key is None:
            return
        dirty = self.editor.toPlainText() != self.templates[self.current_key].text
        self.save_button.setEnabled(dirty)
        self.discard_button.setEnabled(dirty)

    # -- saving

    def save(self) -> bool:
        if self.current_key is None:
            return False
        try:
            text = self.editor.toPlainText()
            # rendered against the sample incident first: one that fails is not activated
            check_renders(parse_template(text, builtin=False), self.services.clock.now())
            saved = save_custom(self.services.store, self.services.clock, text,
                                key=self.current_key)
        except (TemplateFormatError, TemplateRenderError) as exc:
            line = exc.line
            self.error.show_error(f"Not saved — {exc}")
            if line:
                block = self.editor.document().findBlockByLineNumber(line - 1)
                cursor = QTextCursor(block)
                cursor.select(QTextCursor.SelectionType.LineUnderCursor)
                self.editor.setTextCursor(cursor)
                self.editor.setFocus()
            return False
        self.reload(self.current_key)
        self.error.show_info(f"Saved as your version {saved.version}. The composer uses it "
                             "from now on.")
        self.changed.emit()
        return True

    def revert(self) -> None:
        if self.current_key is None:
            return
        count = revert_to_builtin(self.services.store, self.current_key)
        self.reload(self.current_key)
        self.error.show_info(f"Back to the built-in template ({count} version"
                             f"{'s' if count != 1 else ''} kept in the history).")
        self.changed.emit()
