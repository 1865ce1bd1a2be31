"""Taking a backup and keeping a rolling set of them.

online_backup() copies a live database (WAL included) with SQLite's backup API into a temporary
file beside the target, switches the copy to a rollback journal (a backup is one
self-contained file), checks it with `PRAGMA quick_check`, syncs it, makes it owner-only and
renames it into place: a backup is whole and checked, or it does not exist. rolling_backup()
names it by its UTC time in the backups folder and prunes the set (kept()): the newest of each
of the last 24 hours and of each of the last 14 days, within a size budget of ten times the
database (or a configured cap), the oldest going first and the newest never."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.config import private_dir
from app.errors import ClarionError
from app.storage.files import replacing

__all__ = ["Backup", "BackupError", "online_backup", "backup_name", "list_backups", "kept",
           "rolling_backup", "tag_of", "taken_at_of", "HOURLY", "DAILY", "BUDGET_FACTOR"]

HOURLY = 24          # the newest backup of each of the last 24 hours
DAILY = 14           # the newest of each of the last 14 days (UTC)
BUDGET_FACTOR = 10   # the set stays under ten times the database's size (or a cap)
# clarion-20261206T142000Z.db, clarion-20261206T142000Z-2.db (a second in the same second),
# clarion-20261206T142000Z-before-upgrade-from-0012.db (a migration's, tagged)
_NAME = re.compile(r"^(?P<stem>.+?)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?"
                   r"(?:-(?P<tag>[A-Za-z][\w.-]*))?\.db$")


class BackupError(ClarionError):
    """A backup could not be taken or did not pass its check (nothing was left behind)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime       # UTC, from the name (else the file's time)
    size: int
    check: str = ""          # "ok", or what quick_check said; "" when not checked
    tag: str = ""            # "before-upgrade-from-0012" for a migration's backup

    @property
    def rolling(self) -> bool:
        """One of the rolling set (pruned by kept()); a migration's backup is kept as it is."""
        return not self.tag


def backup_name(stem: str, at: datetime) -> str:
    return f"{stem}-{at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.db"


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def online_backup(db_path: Path, target: Path, busy_timeout_s: float = 10.0) -> Backup:
    """Copy the database at `db_path` (live or not) to `target`, checked. Raises BackupError
    in words; on any failure nothing is left at `target` (an earlier file there is kept)."""
    db_path, target = Path(db_path), Path(target)
    if not db_path.is_file():
        raise BackupError(f"There is no database at {db_path} to back up.")
    folder = target.parent
    try:
        private_dir(folder, tighten_existing=False)
    except OSError as exc:
        raise BackupError(f"Cannot write a backup in {folder}: {exc.strerror or exc}.") from None
    try:
        with replacing(target) as tmp:   # a temporary file, synced, 0600, renamed at the end
            source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True,
                                     timeout=busy_timeout_s)
            try:
                copy = sqlite3.connect(tmp)
                try:
                    source.backup(copy)
                    copy.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
                    check = "; ".join(r[0] for r in copy.execute("PRAGMA quick_check(5)"))
                finally:
                    copy.close()
            finally:
                source.close()
            if check != "ok":
                raise BackupError(f"The backup of {db_path.name} did not pass its check "
                                  f"({check}); the database itself may be damaged.")
        _sync_folder(folder)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"Cannot back up {db_path.name}: {exc}.") from None
    except ClarionError as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupError(str(exc)) from None
    except OSError as exc:
        raise BackupError(f"Cannot write the backup {target}: {exc.strerror or exc}.") from None
    return Backup(target, taken_at_of(target), target.stat().st_size, check, tag_of(target))


def tag_of(path: Path) -> str:
    match = _NAME.match(path.name)
    return (match.group("tag") or "") if match else ""


def taken_at_of(path: Path) -> datetime:
    match = _NAME.match(path.name)
    if match:
        return datetime.strptime(match.group("stamp"), "%Y%m%dT%H%M%SZ").replace(
            tzinfo=timezone.utc)
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def _newness(b: Backup) -> tuple[datetime, int]:
    """Sort key: the time, then the count of a second backup in the same second ("-2")."""
    match = _NAME.match(b.path.name)
    return b.taken_at, int(match.group("n") or 1) if match else 0


def list_backups(folder: Path, stem: str = "clarion") -> list[Backup]:
    """The backups of database `stem` in `folder`, newest first (none if it does not exist)."""
    folder = Path(folder)
    found = []
    try:
        paths = list(folder.iterdir())
    except OSError:
        return []
    for path in paths:
        match = _NAME.match(path.name)
        if not match or match.group("stem") != stem or not path.is_file():
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue
        found.append(Backup(path, taken_at_of(path), size, "", tag_of(path)))
    return sorted(found, key=_newness, reverse=True)


def kept(backups: Sequence[Backup], now: datetime, db_size: int,
         cap_bytes: int | None = None) -> tuple[list[Backup], list[Backup]]:
    """Which of the rolling `backups` to keep and which to delete (pure): the newest always;
    the newest of each of the last HOURLY hours and of each of the last DAILY UTC days; then,
    while the kept ones are more than BUDGET_FACTOR × `db_size` (or `cap_bytes`, if smaller),
    the oldest go. Migration backups (not rolling) are neither counted nor deleted."""
    rolling = sorted((b for b in backups if b.rolling), key=_newness, reverse=True)
    if not rolling:
        return [], []
    keep: dict[Path, Backup] = {rolling[0].path: rolling[0]}
    hours: set[int] = set()
    days: set[object] = set()
    for b in rolling:
        age = now - b.taken_at
        hour = int(age // timedelta(hours=1))
        if 0 <= hour < HOURLY and hour not in hours:
            hours.add(hour)
            keep[b.path] = b
        day = b.taken_at.date()
        if 0 <= (now.date() - day).days < DAILY and age >= timedelta(0) and day not in days:
            days.add(day)
            keep[b.path] = b
    budget = BUDGET_FACTOR * max(db_size, 1)
    if cap_bytes is not None:
        budget = min(budget, cap_bytes)
    ordered = sorted(keep.values(), key=_newness)   # oldest first
    while len(ordered) > 1 and sum(b.size for b in ordered) > budget:
        ordered.pop(0)
    kept_paths = {b.path for b in ordered}
    return ([b for b in rolling if b.path in kept_paths],
            [b for b in rolling if b.path not in kept_paths])


def rolling_backup(db_path: Path, folder: Path, now: datetime,
                   cap_bytes: int | None = None) -> tuple[Backup, list[Path]]:
    """Take a backup into `folder` named by `now`, then prune the rolling set. Returns the
    backup and the paths deleted. A failed backup deletes nothing."""
    db_path = Path(db_path)
    name = backup_name(db_path.stem, now)
    same_second = [_newness(b)[1] for b in list_backups(folder, db_path.stem)
                   if b.rolling and b.path.name.startswith(name[:-3])]
    # a second backup in the same second sorts after every one of that second, pruned or not
    target = Path(folder) / (f"{name[:-3]}-{max(same_second) + 1}.db" if same_second else name)
    backup = online_backup(db_path, target)
    # the budget follows what the database holds: its main file may be small while its
    # write-ahead log is not yet checkpointed; the backup (one whole file) shows the real size
    size = max(db_path.stat().st_size, backup.size)
    _, drop = kept(list_backups(folder, db_path.stem), now, size, cap_bytes)
    removed = []
    for old in drop:
        if old.path == backup.path:
            continue
        try:
            old.path.unlink()
            removed.append(old.path)
        except OSError:
            pass   # tried again at the next backup
    return backup, removed
