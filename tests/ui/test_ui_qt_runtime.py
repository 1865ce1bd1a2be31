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
