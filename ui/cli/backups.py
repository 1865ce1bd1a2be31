"""`clarion backup [-o FILE] [--list]` and `clarion restore FILE`, headless (app/backups/).
Neither opens the database through the application first: a backup copies it as it is, and a
restore must work when the database is damaged."""

from __future__ import annotations

import sys
from pathlib import Path


def _say(message: str) -> None:
    print(f"clarion: {message}", file=sys.stderr)


def _where(demo: bool):  # type: ignore[no-untyped-def]
    from app.config import AppConfig
    from app.logs import configure_logging

    config = AppConfig.from_env()
    config.ensure_dirs()
    configure_logging(config.log_path)
    return config, (config.demo_db_path if demo else config.db_path)


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{max(1, round(n / 1024))} kB"


def backup_command(output: Path | None, list_only: bool, demo: bool) -> int:
    """Exit codes: 0 done, 1 the backup failed or did not pass its check, 3 there is no
    database to back up."""
    from datetime import datetime, timezone

    from app.backups.copies import BackupError, online_backup, rolling_backup

    from app.backups.folder import all_backups, where_to_back_up

    config, db_path = _where(demo)
    if list_only:   # the chosen folder (Settings › Backups) and the local one
        found = all_backups(config, db_path.stem)
        if not found:
            print(f"No backups of {db_path.name} in {where_to_back_up(config).folder} yet.")
        for b in found:
            kind = f"  ({b.tag.replace('-', ' ')})" if b.tag else ""
            print(f"{b.taken_at:%Y-%m-%d %H:%M:%S} UTC  {_size(b.size):>8}  {b.path}{kind}")
        return 0
    if not db_path.is_file():
        _say(f"there is no database at {db_path} to back up"
             + (" (`clarion demo` creates the demo)" if demo else ""))
        return 3
    try:
        if output is not None:
            backup, removed = online_backup(db_path, Path(output)), []
        else:
            where = where_to_back_up(config)
            if where.fallback:
                _say(where.fallback)
            backup, removed = rolling_backup(db_path, where.folder, datetime.now(timezone.utc))
    except BackupError as exc:
        _say(str(exc))
        return 1
    print(f"Backed up {db_path.name} to {backup.path} ({_size(backup.size)}, check: "
          f"{backup.check}).")
    if removed:
        print(f"Removed {len(removed)} older backup{'s' * (len(removed) != 1)} of the rolling "
              "set.")
    return 0


def restore_command(file: Path, demo: bool) -> int:
    """Exit codes: 0 restored, 1 refused or failed (nothing changed), 2 no such file."""
    from app.backups.restore import RestoreRefused, restore
    from app.clock import SystemClock
    from app.errors import ClarionError

    path = Path(file)
    if not path.is_file():
        _say(f"{path}: no such file")
        return 2
    config, db_path = _where(demo)
    try:
        done = restore(db_path, path, SystemClock(), backup_dir=config.backup_dir)
    except RestoreRefused as exc:
        _say(f"not restored: {exc}")
        return 1
    except ClarionError as exc:
        _say(str(exc))
        return 1
    print(f"Restored {db_path} from the backup of {done.backup.taken_at:%Y-%m-%d %H:%M} UTC "
          f"({path}).")
    if done.aside is not None:
        print(f"The database it replaced is kept at {done.aside}.")
    if done.salvaged is not None:
        print(f"The database it replaced was damaged. {done.salvaged.summary()}")
    if done.held:
        print(f"{done.held} deliver{'y was' if done.held == 1 else 'ies were'} not final in "
              "the backup and may have gone out since: they are held for review "
              "(`clarion outbox unknown`, then `clarion outbox resolve`).")
    return 0
