"""When the window (or a sending command) backs up by itself: after changes, at most every
INTERVAL_S, and when it closes. A change is seen in the database file and its -wal (their
size and time), so a backup is never taken of a record that has not moved since the last."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from app.backups.copies import list_backups

__all__ = ["INTERVAL_S", "signature", "AutoBackup"]

INTERVAL_S = 600.0   # at most one automatic backup every ten minutes


def signature(db_path: Path) -> tuple[int, ...]:
    """What changes whenever the database does: size and modification time of the file and
    of its -wal (0s for one that does not exist)."""
    out: list[int] = []
    for path in (Path(db_path), Path(f"{db_path}-wal")):
        try:
            st = path.stat()
        except OSError:
            out += [0, 0]
            continue
        # an empty -wal is (re)created by any connection, a backup's reader included: only
        # one with frames in it says something was written
        out += [st.st_size, st.st_mtime_ns if st.st_size else 0]
    return tuple(out)


@dataclass
class AutoBackup:
    """The automatic backups of one database into `folder`. due() on the caller's thread
    (cheap: two stat calls), the backup itself elsewhere, then taken()."""
    db_path: Path
    folder: Path
    interval_s: float = INTERVAL_S
    last_at: datetime | None = None
    last_signature: tuple[int, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        newest = next(iter(list_backups(self.folder, Path(self.db_path).stem)), None)
        if newest is None:
            return
        self.last_at = newest.taken_at
        try:   # nothing written since that backup: the record as it is now is backed up
            backed_up_ns = newest.path.stat().st_mtime_ns
        except OSError:
            return
        now_signature = signature(self.db_path)
        if max(now_signature[1], now_signature[3]) <= backed_up_ns:
            self.last_signature = now_signature

    def due(self, now: datetime, closing: bool = False) -> tuple[int, ...] | None:
        """The signature to back up now, or None: nothing changed since the last backup, or
        (unless `closing`) the last one is less than interval_s old."""
        if not Path(self.db_path).is_file():
            return None
        current = signature(self.db_path)
        if current == self.last_signature:
            return None
        if not closing and self.last_at is not None and \
                now - self.last_at < timedelta(seconds=self.interval_s):
            return None
        return current

    def taken(self, backed_up: tuple[int, ...], at: datetime) -> None:
        """A backup of the database as it was at `backed_up` (due()'s answer) was taken."""
        self.last_signature, self.last_at = backed_up, at
