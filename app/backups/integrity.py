"""Checking the database itself: `PRAGMA quick_check` at every start (0.26 s on a 200 MB
database, bench_backup.py: too slow to wait for before the window shows, so the window runs it on
a worker thread once it is up) and the full `PRAGMA integrity_check` (which also compares every
index with its table) on the first start of each local calendar day.

The day of the last full check is remembered beside the database in `<db>.checked` (a small
JSON file, owner-only), not in the database: a damaged database must not hide it."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from app.backups.damage import damage_of
from app.storage.files import replacing

__all__ = ["Checked", "check_database", "full_check_due", "record_full_check", "marker_of"]

MAX_PROBLEMS = 10   # what a check lists of a damaged file: enough to say what, not a report


@dataclass(frozen=True)
class Checked:
    full: bool              # integrity_check (True) or quick_check (False)
    problems: tuple[str, ...]   # empty when the file passed
    what: str               # "" when it passed, else the damage in words (for the dialog)
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


def check_database(db_path: Path, full: bool = False) -> Checked:
    """Check the database at `db_path` read-only (it may be in use: WAL readers do not block
    the writer). A file SQLite cannot read at all counts as damaged, with its error as the
    problem; a missing file raises FileNotFoundError (nothing to check is not damage)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(db_path)
    pragma = "integrity_check" if full else "quick_check"
    started = time.perf_counter()
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            conn.text_factory = lambda b: b.decode("utf-8", "replace")
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}({MAX_PROBLEMS})")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if damage_of(exc) is None:   # locked, cannot open…: not a verdict on the file
            raise
        rows = [str(exc)]
        what = damage_of(exc) or ""
    else:
        what = "" if rows == ["ok"] else _words(rows)
    elapsed = time.perf_counter() - started
    problems = () if rows == ["ok"] else tuple(rows)
    return Checked(full, problems, what, elapsed)


def _words(problems: list[str]) -> str:
    first = problems[0].lower()
    if "index" in first and ("missing from index" in first or "wrong # of entries" in first):
        return "an index of it is damaged (the rows themselves may be whole)"
    if "freelist" in first or "never used" in first:
        return "its free-space list is damaged"
    return "a page of it is damaged"


def marker_of(db_path: Path) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".checked")


def full_check_due(db_path: Path, today: date) -> bool:
    """True when no full check passed on `today` (the local date) — the first start of the
    day, or an earlier check today found damage. An unreadable marker counts as not checked."""
    try:
        last = json.loads(marker_of(db_path).read_text("utf-8")).get("full_check_passed", "")
    except (OSError, ValueError, AttributeError):
        return True
    return last != today.isoformat()


def record_full_check(db_path: Path, today: date) -> None:
    """Remember that a full check of the database passed on `today` (written atomically,
    owner-only). A ClarionError (a read-only folder) is the caller's to log: the next start
    only checks again."""
    with replacing(marker_of(db_path)) as tmp:
        Path(tmp).write_text(json.dumps({"full_check_passed": today.isoformat()}), "utf-8")
