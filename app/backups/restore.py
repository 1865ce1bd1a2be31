"""Restoring a backup: refused while a sender holds this database's lease; the backup checked
first; the file it replaces kept aside (with its -wal and -shm), never overwritten; the backup
copied in with SQLite's backup API and migrated to this version; and every delivery that was
not final in the backup (queued, waiting to retry, sending, unknown) held as `unknown` for the
coordinator to decide — some may have gone out after the backup was taken, and sending a
regulator's notice twice is worse than asking — with a `restored` timeline entry on each
incident that had one held or is still open, saying from which backup and what was held.
A replaced database that is damaged (quick_check) first has what can be read of it salvaged
into a side file beside it (salvage.py); a salvage that fails never stops the restore."""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app.backups.copies import Backup, BackupError, online_backup, tag_of, taken_at_of
from app.backups.integrity import check_database
from app.backups.salvage import Salvaged, salvage
from app.clock import Clock
from app.errors import ClarionError

__all__ = ["Restored", "RestoreRefused", "check_backup", "restore"]

log = logging.getLogger(__name__)

HELD = ("queued", "retry_wait", "sending", "unknown")
ACTOR = "restore"


class RestoreRefused(ClarionError):
    """The restore was not done (nothing changed): a sender is live, or the backup is not
    a sound Clarion database."""


@dataclass(frozen=True)
class Restored:
    backup: Backup
    aside: Path | None           # where the replaced database was kept (None: there was none)
    held: int                    # deliveries put up for review
    incidents: tuple[int, ...]   # incidents that got a `restored` entry
    salvaged: Salvaged | None = None   # what was read from the replaced file, if it was damaged


def check_backup(path: Path) -> Backup:
    """The backup at `path` if it is a whole Clarion database (quick_check passes, it has the
    migration table); else RestoreRefused in words."""
    path = Path(path)
    if not path.is_file():
        raise RestoreRefused(f"There is no backup at {path}.")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            check = "; ".join(r[0] for r in conn.execute("PRAGMA quick_check(5)"))
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreRefused(f"{path.name} cannot be restored: it is not a readable database "
                             f"({exc}).") from None
    if check != "ok":
        raise RestoreRefused(f"{path.name} cannot be restored: it is damaged ({check}).")
    if not {"alembic_version", "incidents", "deliveries"} <= tables:
        raise RestoreRefused(f"{path.name} cannot be restored: it is not a Clarion database.")
    return Backup(path, taken_at_of(path), path.stat().st_size, check, tag_of(path))


def _live_sender(db_path: Path, clock: Clock) -> str | None:
    """Who sends from the database at `db_path` now, if anyone; None also when the file is
    missing or too damaged to tell (then nothing can be sending from it either)."""
    if not db_path.is_file():
        return None
    from app.sending.lease import who_holds
    from app.storage import Store

    store = Store(db_path)
    try:
        return who_holds(store, clock)
    except Exception:  # noqa: BLE001 - a damaged or foreign file: no sender can be using it
        return None
    finally:
        store.dispose()


def _aside_name(db_path: Path, now: datetime) -> Path:
    stamp = f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"
    aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{n}")
    return aside


def restore(db_path: Path, backup_path: Path, clock: Clock, actor: Any = ACTOR,
            backup_dir: Path | None = None) -> Restored:
    """Put the backup at `backup_path` in place of the database at `db_path` (see the module
    docstring). Raises RestoreRefused (nothing changed) or ClarionError in words."""
    db_path = Path(db_path)
    backup = check_backup(backup_path)
    holder = _live_sender(db_path, clock)
    if holder:
        raise RestoreRefused(f"{holder} is sending from this database: the restore would "
                             "pull the record from under it. Stop it (close that window or "
                             "let its flush end), then restore.")
    now = clock.now()
    db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    incoming = db_path.with_name(f".{db_path.name}.restoring")
    try:
        online_backup(backup.path, incoming)   # a checked copy; the backup itself untouched
    except BackupError as exc:
        raise RestoreRefused(f"{backup.path.name} cannot be restored: {exc}") from None
    # a damaged file: what can be read of it, into a side file beside it, before it moves
    salvaged = _salvage_if_damaged(db_path, now)
    aside: Path | None = None
    try:
        if db_path.exists():
            aside = _aside_name(db_path, now)
            os.replace(db_path, aside)
            for suffix in ("-wal", "-shm", "-journal"):
                extra = db_path.with_name(db_path.name + suffix)
                if extra.exists():
                    os.replace(extra, aside.with_name(aside.name + suffix))
        os.replace(incoming, db_path)
    except OSError as exc:
        incoming.unlink(missing_ok=True)
        if aside is not None and not db_path.exists() and aside.exists():
            os.replace(aside, db_path)   # put it back as it was
        raise ClarionError(f"Cannot restore into {db_path}: {exc.strerror or exc}. The "
                           "database was left as it was.") from None
    held, incidents = _hold(db_path, backup, clock, actor, backup_dir)
    return Restored(backup, aside, held, incidents, salvaged)


def _salvage_if_damaged(db_path: Path, now: datetime) -> Salvaged | None:
    """What could be read from the database about to be replaced, into a side file beside it,
    when quick_check finds it damaged; None when it is sound, missing or cannot be judged (a
    lock, say). Never raises: a salvage that fails does not stop the restore."""
    if not db_path.is_file():
        return None
    try:
        if check_database(db_path).ok:
            return None
    except Exception:  # noqa: BLE001 - no verdict on the file: nothing to salvage
        return None
    try:
        return salvage(db_path, now=now)
    except Exception:   # the restore matters more than the salvage
        log.warning("Could not salvage the damaged %s before the restore", db_path,
                    exc_info=True)
        return None


def _hold(db_path: Path, backup: Backup, clock: Clock, actor: Any,
          backup_dir: Path | None) -> tuple[int, tuple[int, ...]]:
    """Migrate the restored file; every non-final delivery → unknown, with the reason; a
    `restored` entry per incident that had one held or is not closed. One transaction."""
    from sqlalchemy import select, update

    from app.domain.enums import DeliveryState as S, Phase, TimelineKind
    from app.domain.models import Delivery, Incident, Message
    from app.sending.timeline import entry_row, insert_entries
    from app.storage import Store

    store = Store.open(db_path, backup_dir)
    when = f"{backup.taken_at:%Y-%m-%d %H:%M} UTC"
    reason = (f"held after the restore of the backup of {when}: it may have gone out after "
              "the backup was taken; decide whether to send it again")
    now = clock.now()
    try:
        with store.session() as s, s.begin():
            rows = s.execute(select(Delivery.id, Message.incident_id)
                             .join(Message, Message.id == Delivery.message_id)
                             .where(Delivery.state.in_([S(v) for v in HELD]))).all()
            if rows:
                s.execute(update(Delivery), [
                    {"id": r.id, "state": S.UNKNOWN, "last_error": reason, "updated_at": now,
                     "started_at": None} for r in rows])
            per_incident: dict[int, int] = {}
            for r in rows:
                per_incident[r.incident_id] = per_incident.get(r.incident_id, 0) + 1
            open_ids = s.scalars(select(Incident.id).where(Incident.phase != Phase.CLOSED)).all()
            told = sorted(set(per_incident) | set(open_ids))
            insert_entries(s, [entry_row(
                incident_id, now, TimelineKind.RESTORED.value, actor,
                f"The database was restored from the backup of {when}"
                + (f"; {per_incident[incident_id]} "
                   f"{'delivery' if per_incident[incident_id] == 1 else 'deliveries'} not "
                   "final then are held for review (Outbox › Unknown)"
                   if per_incident.get(incident_id) else "; nothing was waiting to be sent"),
                {"backup": backup.path.name, "backup_taken_at": backup.taken_at.isoformat(),
                 "held": per_incident.get(incident_id, 0)}) for incident_id in told])
    finally:
        store.dispose()
    return len(rows), tuple(told)
