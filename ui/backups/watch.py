"""The database checked while the window runs: `PRAGMA quick_check` on a worker thread once the
window is up, the full `integrity_check` on the first start of each day (app/backups/
integrity.py). A damaged file is handed to the window (`damaged`), which stops sending and says
what to do; a check that cannot run (locked for half a minute, the file gone) is logged, never
shown as damage. With the daily full check, every incident's hash chain is verified from its
first entry (app/record/verify.py): a broken one is said (`chains_broken`), and its incident's
own check then shows it when it is opened."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from app.backups.integrity import Checked

log = logging.getLogger(__name__)


class DamageReports(QObject):
    """Where an error that says the database file is damaged goes, from any thread (worker
    jobs, the exception hook, the sending loop): the window listens and asks once."""

    seen = Signal(object)   # the exception


_reports: DamageReports | None = None


def damage_reports() -> DamageReports:
    global _reports
    if _reports is None:
        _reports = DamageReports()
    return _reports


def report_if_damage(exc: BaseException) -> bool:
    """Pass `exc` on to the window if it says the database file is damaged (SQLITE_CORRUPT,
    SQLITE_NOTADB, however wrapped). True if it did."""
    from app.backups.damage import damage_of

    if damage_of(exc) is None:
        return False
    damage_reports().seen.emit(exc)
    return True


def damage_found(services: Any, what: str) -> Any:
    """DamagedDatabase for the window's database, naming the newest backup in the chosen
    folder or the local one."""
    from app.backups.damage import DamagedDatabase
    from app.backups.folder import all_backups

    db_path = services.store.path
    newest = next(iter(all_backups(services.config, db_path.stem)), None)
    return DamagedDatabase(db_path, what, newest)


class IntegrityWatch(QObject):
    checked = Signal(object)   # Checked, whatever it found
    damaged = Signal(object)   # DamagedDatabase: what is damaged and the newest backup
    chains_broken = Signal(object)   # list[ChainReport]: the daily check found them broken

    def __init__(self, services: Any, today: Callable[[], date] = date.today,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        from ui.worker import Worker

        self.services = services
        self.today = today
        self.last: Checked | None = None
        self.worker = Worker(self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)

    def start(self) -> bool:
        """Check now, on the worker; False if a check is already running."""
        if self.worker.running:
            return False
        from app.backups.integrity import check_database, full_check_due, record_full_check

        db_path = self.services.store.path
        today = self.today()
        full = full_check_due(db_path, today)

        store, clock = self.services.store, self.services.clock

        def run() -> tuple[Checked, list[Any]]:
            result = check_database(db_path, full=full)
            broken: list[Any] = []
            if result.ok and full:
                broken = _verify_chains(store, clock)
                try:
                    record_full_check(db_path, today)
                except Exception as exc:  # noqa: BLE001 - only means checking fully again
                    log.warning("could not note the integrity check: %s", exc)
            return result, broken

        self.worker.start(run)
        return True

    def _done(self, outcome: object) -> None:
        result, broken = outcome  # type: ignore[misc]
        assert isinstance(result, Checked)
        self.last = result
        kind = "integrity_check" if result.full else "quick_check"
        if result.ok:
            log.info("%s of the database passed in %.2f s", kind, result.seconds)
        else:
            log.error("%s of the database found damage: %s", kind, "; ".join(result.problems))
        self.checked.emit(result)
        if not result.ok:
            self.damaged.emit(damage_found(self.services, result.what))
        elif broken:
            self.chains_broken.emit(broken)

    def _failed(self, exc: object) -> None:
        log.warning("the database check could not run: %s", exc)


def _verify_chains(store: Any, clock: Any) -> list[Any]:
    """Every incident's chain from its first entry; the broken ones (logged). A check that
    cannot run is logged, not said as a broken record."""
    from app.record.verify import verify_all

    try:
        reports = verify_all(store, clock.now())
    except Exception as exc:  # noqa: BLE001 - damage reaches the window by the file check
        log.warning("the timeline's hash chains could not be verified: %s", exc)
        return []
    broken = [r for r in reports if not r.holds]
    log.info("verified %d incidents' hash chains: %d broken", len(reports), len(broken))
    for r in broken:
        log.error("the record of incident %d (%s) was changed outside Clarion: %s",
                  r.incident_id, r.title, r.broken.reason)
    return broken
