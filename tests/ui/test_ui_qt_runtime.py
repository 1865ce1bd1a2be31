"""Guards on the Qt binding itself, for bugs that would crash a long-running window."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")
def test_void_qt_calls_do_not_leak_references_to_none(qapp):
    """PySide6 6.12.0 on Python < 3.12 drops a reference to None on every void call
    (PYSIDE-3474) until the interpreter aborts; pyproject.toml pins below it there."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setObjectName("probe")
    assert before - sys.getrefcount(None) < 50


def test_an_error_label_goes_when_its_field_is_edited(qtbot):
    """Issue 17: a message next to a field answered what was there; once the coordinator
    edits the field it goes (the form checks again on submit) — for every kind of field."""
    from PySide6.QtCore import QDateTime
    from PySide6.QtWidgets import (
        QCheckBox, QComboBox, QDateTimeEdit, QLineEdit, QPlainTextEdit, QSpinBox,
    )

    from ui.widgets.forms import ErrorLabel, with_error

    combo = QComboBox()
    combo.addItems(["a", "b"])
    edits = {
        QLineEdit(): lambda f: f.setText("x"),
        QPlainTextEdit(): lambda f: f.setPlainText("x"),
        combo: lambda f: f.setCurrentIndex(1),
        QDateTimeEdit(): lambda f: f.setDateTime(QDateTime.currentDateTime().addDays(3)),
        QSpinBox(): lambda f: f.setValue(5),
        QCheckBox(): lambda f: f.setChecked(True),
    }
    for field, edit in edits.items():
        error = ErrorLabel("e")
        box = with_error(field, error)
        qtbot.addWidget(box)
        box.show()
        error.show_error("Not like that")
        assert error.isVisible()
        edit(field)
        assert not error.isVisible() and error.text() == "", type(field).__name__
