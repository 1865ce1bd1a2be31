"""Where a file the coordinator saves goes first: the folder they saved into last (kept in this
computer's settings), else their Documents folder, never the program's own folder; and the file
filter of the chosen format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths

LAST_FOLDER_KEY = "files/last_export_folder"

FILTERS = {"md": "Markdown (*.md)", "html": "Web page (*.html *.htm)", "pdf": "PDF (*.pdf)",
           "csv": "CSV files (*.csv)", "mbox": "Mailbox (*.mbox)"}


def save_folder(settings: Any) -> Path:
    """The last folder saved into, if it still exists; else Documents; else home."""
    last = str(settings.value(LAST_FOLDER_KEY) or "") if settings is not None else ""
    if last and Path(last).is_dir():
        return Path(last)
    documents = QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.DocumentsLocation)
    if documents and Path(documents).is_dir():
        return Path(documents)
    return Path.home()


def remember_folder(settings: Any, path: Path) -> None:
    if settings is not None:
        settings.setValue(LAST_FOLDER_KEY, str(path.parent))


def suggested_path(settings: Any, file_name: str) -> str:
    return str(save_folder(settings) / file_name)
