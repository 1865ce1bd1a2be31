"""What a command says when the database fails under it, whatever the command: a damaged
file (exit 3, naming the newest backup) or one that cannot be written or opened (a full disk,
read-only: exit 1, or 3 when it cannot be opened) — DESIGN's CLI conventions. One sentence on
stderr, never a traceback; ui/main.py asks here about any error a command let through."""

from __future__ import annotations

import sys


def said_about(exc: BaseException, argv: list[str] | None) -> tuple[str, int] | None:
    """(the sentence, the exit code) for `exc`, or None when it is not about the database."""
    from app.backups.damage import DamagedDatabase, damage_of
    from app.storage.space import CANNOT_OPEN, StorageUnavailable

    if isinstance(exc, DamagedDatabase):
        return str(exc), 3
    what = damage_of(exc)
    if what is not None:
        return str(_damaged(what, sys.argv[1:] if argv is None else argv)), 3
    if isinstance(exc, StorageUnavailable):
        return str(exc), 3 if exc.kind == CANNOT_OPEN else 1
    return None


def _damaged(what: str, args: list[str]):  # type: ignore[no-untyped-def]
    """DamagedDatabase for the database the command was using (the demo's with --demo),
    naming the newest backup in the chosen folder or the local one."""
    from app.backups.damage import DamagedDatabase
    from app.backups.folder import all_backups
    from app.config import AppConfig

    config = AppConfig.from_env()
    db_path = config.demo_db_path if "--demo" in args or "demo" in args[:1] else config.db_path
    newest = next(iter(all_backups(config, db_path.stem)), None)
    return DamagedDatabase(db_path, what, newest)
