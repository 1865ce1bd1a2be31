"""Undo/redo for the stakeholder map: every edit is a QUndoCommand around app/ service calls.

The edit is performed (and validated) BEFORE the command is pushed, so a refused edit never
reaches the stack; the command's first redo() — which QUndoStack.push() calls — is a no-op."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtGui import QUndoCommand

from app.errors import ClarionError


class ServiceCommand(QUndoCommand):
    def __init__(self, text: str, redo: Callable[[], Any], undo: Callable[[], Any],
                 on_error: Callable[[str], None]) -> None:
        super().__init__(text)
        self._redo, self._undo, self._on_error = redo, undo, on_error
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._run(self._redo, "redo")

    def undo(self) -> None:
        self._run(self._undo, "undo")

    def _run(self, action: Callable[[], Any], verb: str) -> None:
        try:
            action()
        except ClarionError as exc:
            # Something changed underneath (e.g. deleted meanwhile): say so, drop the command.
            self._on_error(f"Could not {verb} “{self.text()}”: {exc}")
            self.setObsolete(True)
