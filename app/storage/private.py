"""Owner-only files (issue 20): the data folder, the databases with their -wal/-shm/-journal, the
logs, the settings and the backups hold personal data, so Clarion creates them 0700 (folders)
and 0600 (files) on POSIX, and tightens at start-up what an older version, a copy or a user left
looser. Pure standard library; elsewhere than POSIX nothing here changes a mode.

No process umask is changed: the files a user exports go where and how the user chooses.
SQLite gives the -wal, -shm and -journal files it creates the database file's permissions
(measured with SQLite 3.40), so a database created 0600 keeps them 0600 as well.

The helpers themselves live in app.config (the core may import only the core); they are
re-exported here for storage and start-up."""

from __future__ import annotations

import fnmatch
import os
import stat
from pathlib import Path

from app.config import AppConfig, create_private_file, private_dir, private_file

# Clarion's own files in its folders; backups/ is Clarion's through and through.
OWN_FILES = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal", "clarion.log*", "settings.ini")


def _own_files(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The regular files (never through a symlink) directly in `folder` matching `patterns`."""
    found: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and \
                any(fnmatch.fnmatchcase(entry.name, p) for p in patterns):
            found.append(Path(entry.path))
    return sorted(found)


def _tighten_dir(folder: Path) -> str | None:
    """Like private_dir on an existing folder, without creating one that is missing; a folder
    reached through a symlink is one of Clarion's configured places, so its target counts."""
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            return None
    except FileNotFoundError:
        return None
    return private_dir(folder)


def tighten(config: AppConfig) -> list[str]:
    """Remove group and other permissions from Clarion's folders (the data, config and log
    folders, backups, the demo folder) and its own files in them. Returns one line per change
    ("<path> 0644 -> 0600", or why a path could not be changed), for one log message at
    start-up; a second call returns nothing. Creates nothing."""
    if os.name != "posix":
        return []
    places = (
        (config.data_dir, OWN_FILES),
        (config.config_dir, OWN_FILES),
        (config.log_dir, OWN_FILES),
        (config.backup_dir, ("*",)),
        (config.demo_db_path.parent, OWN_FILES),
    )
    lines: list[str] = []
    for folder, patterns in places:
        targets: list[tuple[Path, bool]] = [(folder, True)]
        targets += [(path, False) for path in _own_files(folder, patterns)]
        for path, is_folder in targets:
            try:
                line = _tighten_dir(path) if is_folder else private_file(path)
            except OSError as exc:
                line = f"{path}: could not tighten ({exc.strerror or exc})"
            if line:
                lines.append(line)
    return lines


__all__ = ["OWN_FILES", "create_private_file", "private_dir", "private_file", "tighten"]
