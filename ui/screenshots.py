"""Screens saved as PNGs (packaging/screenshot.sh runs this under Xvfb on the demo)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget


def _save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path), "PNG")


def take_screenshots(window, folder: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    target = folder / "incidents.png"
    _save(window, target)
    saved.append(target)
    dialog = window.new_incident()
    dialog.title_edit.setText("Email delivery delayed for all staff")
    target = folder / "new-incident.png"
    _save(dialog, target)
    saved.append(target)
    dialog.reject()
    for path in saved:
        print(f"saved {path}")
    return saved
