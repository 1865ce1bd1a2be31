"""Where the backups go: the local folder (AppConfig.backup_dir) unless the coordinator chose
another one — a network share, a synced folder. The choice is kept OUTSIDE the database, in
`backups.json` beside the settings (owner-only, written atomically): a damaged database must
not hide where its backups are.

A chosen folder that cannot be used when a backup is due (the share is not mounted, the synced
folder was removed, it became read-only) is not created again: the backup goes to the local
folder and where_to_back_up() says so in a sentence. Every check here touches the chosen folder
— on a hung network mount that can block for as long as the operating system lets it (pure
Python cannot bound it), so callers in the window run them on a worker thread, never on the
GUI thread."""

from __future__ import annotations

import errno
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.backups.copies import Backup, _newness, list_backups
from app.config import AppConfig, private_dir
from app.errors import ClarionError
from app.storage.files import replacing

__all__ = ["SETTINGS_NAME", "Where", "all_backups", "choose_folder", "chosen_folder",
           "settings_path", "usable", "where_to_back_up"]

log = logging.getLogger(__name__)

SETTINGS_NAME = "backups.json"


@dataclass(frozen=True)
class Where:
    """Where the next backup goes, and (when the chosen folder cannot be used) why it goes
    to the local folder instead, in one sentence; None when all is as chosen."""
    folder: Path
    fallback: str | None = None


def settings_path(config: AppConfig) -> Path:
    return config.config_dir / SETTINGS_NAME


def chosen_folder(config: AppConfig) -> Path | None:
    """The folder chosen for backups; None for the local folder (`config.backup_dir`), also
    when the settings file is missing or unreadable (logged)."""
    path = settings_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read the backup folder setting %s (%s): using the local folder",
                    path, exc)
        return None
    folder = data.get("folder") if isinstance(data, dict) else None
    if not isinstance(folder, str) or not folder or not Path(folder).is_absolute():
        return None
    return Path(folder)


def _probe(folder: Path) -> None:
    """Write and delete a small file in `folder` (OSError if it cannot be done)."""
    probe = folder / f".clarion-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, b"clarion backup folder probe\n")
        os.fsync(fd)
    finally:
        os.close(fd)
        try:
            os.unlink(probe)
        except FileNotFoundError:
            pass


def usable(folder: Path, create: bool = False) -> str | None:
    """Why backups cannot be written in `folder` (the system's words, e.g. "No such file or
    directory"), or None when a file could be written and deleted there. `create` makes the
    folder (owner-only) if it is missing; an existing folder's permissions are left alone."""
    folder = Path(folder)
    try:
        if create:
            private_dir(folder, tighten_existing=False)
        elif not folder.is_dir():
            if folder.exists():
                return "it is not a folder"
            return os.strerror(errno.ENOENT)   # "No such file or directory"
        _probe(folder)
    except NotADirectoryError as exc:
        if exc.errno == errno.ENOTDIR:   # a part of the path is a file
            return "a part of that path is a file, not a folder"
        return "it is not a folder"
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def choose_folder(config: AppConfig, folder: Path | None) -> Path | None:
    """Keep backups in `folder` from now on (None: the local folder). The folder is created
    if need be and must take a file; else ClarionError in words and nothing is stored.
    Returns the folder now chosen (None: the local one)."""
    path = settings_path(config)
    if folder is not None:
        folder = Path(folder).expanduser()
        if not folder.is_absolute():
            raise ClarionError(f"Choose the backup folder by its full path ({folder} is "
                               "relative to wherever Clarion was started).")
        try:
            local = folder.resolve() == config.backup_dir.resolve()
        except OSError:
            local = False
        if local:
            folder = None
    if folder is not None:
        reason = usable(folder, create=True)
        if reason is not None:
            raise ClarionError(f"Backups cannot be kept in {folder}: {reason}. The backup "
                               "folder was not changed.")
    try:
        private_dir(config.config_dir, tighten_existing=False)
        if folder is None:
            path.unlink(missing_ok=True)
        else:
            with replacing(path) as tmp:   # 0600, synced, renamed into place
                tmp.write_text(json.dumps({"folder": str(folder)}) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ClarionError(f"Cannot save the backup folder in {path}: "
                           f"{exc.strerror or exc}.") from None
    return folder


def where_to_back_up(config: AppConfig) -> Where:
    """Where the next backup goes: the chosen folder when a file can be written there now,
    else the local folder with a sentence saying so (the chosen folder is not created again:
    a share that is not mounted must not fill its empty mount point). May block on a hung
    network mount: call it on a worker thread."""
    chosen = chosen_folder(config)
    if chosen is None:
        return Where(config.backup_dir)
    reason = usable(chosen)
    if reason is None:
        return Where(chosen)
    return Where(config.backup_dir,
                 f"The backup folder {chosen} is unreachable ({reason}); backups go to "
                 f"{config.backup_dir} until it is back.")


def all_backups(config: AppConfig, stem: str) -> list[Backup]:
    """The backups of database `stem` in the chosen folder and in the local folder (where they
    went while the chosen one was unreachable), each once, newest first. A folder that cannot
    be read contributes nothing. May block on a hung network mount: call it on a worker
    thread."""
    folders = [config.backup_dir]
    chosen = chosen_folder(config)
    if chosen is not None:
        folders.insert(0, chosen)
    seen: set[Path] = set()
    found: list[Backup] = []
    for folder in folders:
        for backup in list_backups(folder, stem):
            try:
                key = backup.path.resolve()
            except OSError:
                key = backup.path
            if key in seen:
                continue
            seen.add(key)
            found.append(backup)
    return sorted(found, key=_newness, reverse=True)
