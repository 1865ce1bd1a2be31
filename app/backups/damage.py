"""A damaged database in words: which errors mean the file itself is broken (SQLite's
SQLITE_CORRUPT and SQLITE_NOTADB, however SQLAlchemy wraps them), and what to do about it —
the newest backup that can be restored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.backups.copies import Backup, list_backups
from app.errors import ClarionError

__all__ = ["DamagedDatabase", "damage_of", "damaged"]

# SQLite's words for SQLITE_CORRUPT and SQLITE_NOTADB (sqlite3 gives no error code before 3.11
# for every path; the words are stable)
_SIGNS = {
    "file is not a database": "it is not a database file (its first page is damaged or it "
                              "was overwritten)",
    "database disk image is malformed": "a page of it is damaged",
    "malformed database schema": "its list of tables is damaged",
    "database corruption": "a page of it is damaged",
    # text that is not UTF-8 in a database that only ever stored UTF-8: a damaged page
    "could not decode to utf-8": "some of its text is damaged",
}


class DamagedDatabase(ClarionError):
    """The database file is damaged: sending stops; restore a backup (`newest`)."""

    def __init__(self, db_path: Path, what: str, newest: Backup | None) -> None:
        self.db_path, self.what, self.newest = Path(db_path), what, newest
        advice = (f"The newest backup is from {newest.taken_at:%Y-%m-%d %H:%M} UTC "
                  f"(changes after it are lost): `clarion restore {newest.path}` puts it back."
                  if newest is not None else
                  "There is no backup of it: `clarion restore FILE` puts one back if you "
                  "have a copy elsewhere.")
        super().__init__(f"The database {self.db_path} is damaged: {what}. Nothing is sent "
                         f"from it. {advice}")


def damage_of(exc: BaseException) -> str | None:
    """What is damaged, in words, when `exc` (or what it wraps) says the file is broken;
    None for any other error (locked, read-only, missing…)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError) or \
                type(current).__name__ == "DatabaseError":
            text = str(current).lower()
            for sign, words in _SIGNS.items():
                if sign in text:
                    return words
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def damaged(db_path: Path, exc: BaseException, backup_dir: Path) -> DamagedDatabase | None:
    """DamagedDatabase for `exc` raised while using the database at `db_path`, naming the
    newest backup of it in `backup_dir`; None when `exc` is not about a damaged file."""
    what = damage_of(exc)
    if what is None:
        return None
    newest = next(iter(list_backups(backup_dir, Path(db_path).stem)), None)
    return DamagedDatabase(db_path, what, newest)
