"""Backups of a large database (issue 20): the time and size of an online backup, and the time
of `PRAGMA quick_check` and `PRAGMA integrity_check`, on a database grown to about 200 MB with
timeline entries and deliveries the way a long breach grows it; then, with one timeline page
damaged, the salvage (table by table) and the whole restore of the backup over it.

Run: .venv/bin/python tests/benchmarks/bench_backup.py [MB]   (not collected by pytest)"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def grow(db: Path, megabytes: int) -> None:
    """The demo, then timeline entries (~1 kB of summary and data each) until the file has
    `megabytes`."""
    from app.clock import FrozenClock
    from app.demo.seed import ensure_demo

    ensure_demo(db, FrozenClock(datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc)))
    conn = sqlite3.connect(db)
    try:
        incident = conn.execute("SELECT min(id) FROM incidents").fetchone()[0]
        summary = ("Status update to the regulator: the breach affects patient portal accounts; "
                   "containment continues, next update in one hour. ") * 6
        data = '{"message_id": 1, "state": "sent", "delivery_ids": [' + ", ".join(
            str(i) for i in range(60)) + "]}"
        batch = [(incident, "2026-03-02 18:00:00.000000", "note", "bench", summary, data)] * 5000
        while db.stat().st_size < megabytes * 1_048_576:
            with conn:
                conn.executemany(
                    "INSERT INTO timeline_entries (incident_id, at, kind, actor, summary, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)", batch)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    from app.backups.copies import online_backup

    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "data" / "clarion.db"
        start = time.perf_counter()
        grow(db, megabytes)
        print(f"database: {db.stat().st_size / 1_048_576:.0f} MB "
              f"(grown in {time.perf_counter() - start:.1f} s)")
        target = Path(tmp) / "backups" / "clarion-20260302T180000Z.db"
        backup_s = timed(lambda: online_backup(db, target))
        print(f"online backup (copy, quick_check, fsync, rename): {backup_s:.2f} s median of 3, "
              f"{target.stat().st_size / 1_048_576:.0f} MB")

        def check(pragma: str) -> None:
            conn = sqlite3.connect(db)
            try:
                assert conn.execute(f"PRAGMA {pragma}").fetchone()[0] == "ok"
            finally:
                conn.close()

        print(f"PRAGMA quick_check:     {timed(lambda: check('quick_check')):.2f} s median of 3")
        print(f"PRAGMA integrity_check: {timed(lambda: check('integrity_check')):.2f} s "
              "median of 3")
        salvage_and_restore(db, target, Path(tmp))
    return 0


def salvage_and_restore(db: Path, backup: Path, tmp: Path) -> None:
    """One timeline leaf page in the middle overwritten; the salvage alone (table by table,
    into a side file), then restore() of the backup over the damaged file (which salvages
    too, then copies, migrates and holds), once each: a restore is not repeated."""
    import shutil

    from app.backups.restore import restore
    from app.backups.salvage import salvage
    from app.clock import SystemClock

    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    leaves = [r[0] for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'timeline_entries' AND pagetype = 'leaf'")]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((leaves[len(leaves) // 2] - 1) * size)
        fh.write(b"\xa5" * size)
    start = time.perf_counter()
    got = salvage(db, target_dir=tmp, shell=None)
    took = time.perf_counter() - start
    assert got is not None and got.path is not None
    print(f"salvage, table by table, one damaged page: {took:.2f} s, "
          f"{got.rows:,} rows ({got.path.stat().st_size / 1_048_576:.0f} MB)")
    got.path.unlink()
    shutil.copyfile(backup, tmp / "backup-copy.db")
    start = time.perf_counter()
    done = restore(db, tmp / "backup-copy.db", SystemClock(), backup_dir=tmp / "backups")
    print(f"restore over the damaged file (salvage, copy, migrate, hold): "
          f"{time.perf_counter() - start:.2f} s; salvaged: "
          f"{'yes' if done.salvaged is not None else 'no'}")


if __name__ == "__main__":
    sys.exit(main())
