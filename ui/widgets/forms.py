"""Small helpers shared by forms: naming widgets for tests and assistive technology, and a
field with its inline error message right below it."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

W = TypeVar("W", bound=QWidget)

ERROR_STYLE = "color: #b3261e; font-size: 90%;"


def named(widget: W, object_name: str, accessible_name: str,
          description: str | None = None) -> W:
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible_name)
    if description:
        widget.setAccessibleDescription(description)
        if not widget.toolTip():
            widget.setToolTip(description)
    return widget


class ErrorLabel(QLabel):
    """The message shown next to a field whose input was refused; hidden when empty."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setStyleSheet(ERROR_STYLE)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def show_error(self, message: str) -> None:
        self.setText(message)
        self.setAccessibleName(message)
        self.setVisible(bool(message))

    def clear_error(self) -> None:
        self.show_error("")


# what a field says when the coordinator changes it (whichever its kind has)
_EDITED = ("textChanged", "editTextChanged", "currentIndexChanged", "dateTimeChanged",
           "valueChanged", "toggled")


def with_error(field: QWidget, error: ErrorLabel) -> QWidget:
    """Stack a field and its error label so a form row holds both. The message goes as soon
    as the field is edited: it answered what was there before (the form checks again when
    it is submitted)."""
    for name in _EDITED:
        signal = getattr(field, name, None)
        if signal is not None and hasattr(signal, "connect"):
            signal.connect(lambda *_args, e=error: e.clear_error())
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field)
    layout.addWidget(error)
    return box


class NoticeLabel(ErrorLabel):
    """A message line that is either an error (red) or plain information."""

    def show_info(self, message: str) -> None:
        self.setStyleSheet("color: #1c4f6e; font-size: 90%;")
        super().show_error(message)

    def show_error(self, message: str) -> None:
        self.setStyleSheet(ERROR_STYLE)
        super().show_error(message)

    def show_warning(self, message: str) -> None:
        """Done, with something the coordinator should know (amber, not red)."""
        self.setStyleSheet("color: #7a4b00; font-size: 90%;")
        super().show_error(message)


def ask_unsaved(parent: QWidget, what: str) -> str:
    """Ask what to do with unsaved edits: "save", "discard" or "cancel"."""
    from PySide6.QtWidgets import QMessageBox

    answer = QMessageBox.question(
        parent, "Unsaved changes", f"{what} has unsaved changes. Save them first?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
        | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def configure_table(view, alternating: bool = True):  # type: ignore[no-untyped-def]
    """The house style of a read-only table of records: whole rows, one at a time, no row
    numbers. Returns the view."""
    from PySide6.QtWidgets import QAbstractItemView

    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.setAlternatingRowColors(alternating)
    return view


def undo_footer(dialog, stack, prefix: str):  # type: ignore[no-untyped-def]
    """The bottom row of an editing dialog: Undo and Redo for `stack` (enabled when they can,
    each saying in its tooltip what it would undo or redo), a stretch, and Close (reject).
    Returns (undo button, redo button, the row's layout); object names start with `prefix`."""
    from PySide6.QtWidgets import QHBoxLayout, QPushButton

    undo = named(QPushButton("Undo"), f"{prefix}UndoButton", "Undo")
    redo = named(QPushButton("Redo"), f"{prefix}RedoButton", "Redo")
    close = named(QPushButton("Close"), f"{prefix}CloseButton", "Close")
    undo.clicked.connect(stack.undo)
    redo.clicked.connect(stack.redo)
    close.clicked.connect(dialog.reject)

    def changed(*_args: object) -> None:
        try:
            states = ((undo, stack.canUndo(), stack.undoText(), "Ctrl+Z"),
                      (redo, stack.canRedo(), stack.redoText(), "Ctrl+Shift+Z"))
            for button, can, text, key in states:
                button.setEnabled(can)
                verb = button.text()
                button.setToolTip(f"{verb} {text} ({key})" if can
                                  else f"Nothing to {verb.lower()}")
        except RuntimeError:  # the dialog is being destroyed: its stack empties on the way
            return

    stack.indexChanged.connect(changed)
    changed()
    row = QHBoxLayout()
    row.addWidget(undo)
    row.addWidget(redo)
    row.addStretch(1)
    row.addWidget(close)
    return undo, redo, row
