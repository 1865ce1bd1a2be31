"""Opening the database for the window and the headless commands alike (seeding the demo, the
first-run organisation), and starting the window. Qt is imported only when the window starts."""

from __future__ import annotations

import sys
from pathlib import Path

from app import runtime


def open_store(demo: bool, reset_demo: bool = False):  # type: ignore[no-untyped-def]
    """Open (seeding or migrating as needed) the database; returns (config, store, clock)."""
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.logs import configure_logging
    from app.storage.engine import Store
    from app.storage.private import create_private_file, tighten

    config = AppConfig.from_env()
    tightened = tighten(config)   # before the lines below quietly tighten (issue 20)
    config.ensure_dirs()
    configure_logging(config.log_path)
    create_private_file(config.settings_path)   # else Qt creates it 0644; it keeps this mode
    if tightened:
        import logging

        logging.getLogger("clarion").warning("tightened permissions: %s", "; ".join(tightened))
    clock = SystemClock()
    if demo:
        db_path = config.demo_db_path
        if reset_demo or not db_path.exists():
            from app.demo.seed import ensure_demo

            ensure_demo(db_path, clock, reset=reset_demo)
    else:
        db_path = config.db_path
    store = None
    try:
        store = Store.open(db_path, config.backup_dir)
        if not demo:
            from app.stakeholders.clients import ensure_default_organisation

            ensure_default_organisation(store, clock)
    except Exception as exc:
        if store is not None:
            store.dispose()
        from app.backups.damage import DamagedDatabase, damage_of

        what = damage_of(exc)
        if what is not None:   # the file itself is broken: say so, and which backup to take
            from app.backups.folder import all_backups

            newest = next(iter(all_backups(config, db_path.stem)), None)
            raise DamagedDatabase(db_path, what, newest) from exc
        raise
    return config, store, clock


def offer_restore(found, parent=None) -> bool:  # type: ignore[no-untyped-def]
    """The damaged-database dialog (ui/backups/damage_dialog.py): restore the newest backup,
    another file, or quit. True when a file was restored (the caller starts again)."""
    from ui.backups.damage_dialog import DamageDialog, backup_to_restore

    box = DamageDialog(found, parent)
    box.exec()
    backup_dir = found.newest.path.parent if found.newest is not None else found.db_path.parent
    path = backup_to_restore(found, box.choice(), parent, backup_dir)
    if path is None:
        return False
    return restore_and_say(found.db_path, path, parent)


def restore_and_say(db_path: Path, backup_path: Path,
                    parent=None) -> bool:  # type: ignore[no-untyped-def]
    """Restore `backup_path` over the (closed) database at `db_path` and say what happened:
    what was kept aside, what was salvaged from a damaged file, what is held for review. A
    refusal is said in words; nothing changed then. True when restored."""
    from PySide6.QtWidgets import QMessageBox

    from app.backups.restore import restore
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.errors import ClarionError

    backup_dir = AppConfig.from_env().backup_dir
    try:
        done = with_progress(
            lambda: restore(db_path, backup_path, SystemClock(), backup_dir=backup_dir),
            "Restoring the backup… (what can still be read from a damaged file is salvaged "
            "first)", parent)
    except ClarionError as exc:
        box = QMessageBox(QMessageBox.Icon.Critical, "Clarion cannot restore", str(exc),
                          QMessageBox.StandardButton.Ok, parent)
        box.setObjectName("restoreRefusedDialog")
        box.exec()
        return False
    local = done.backup.taken_at.astimezone()
    lines = [f"The backup from {local:%d %b %Y %H:%M} is in place ({done.backup.path.name})."]
    if done.aside is not None:
        lines.append(f"The database it replaced is kept at {done.aside}.")
    salvaged = getattr(done, "salvaged", None)
    if salvaged is not None:
        lines.append(salvaged.summary())
    if done.held:
        lines.append(f"{done.held} deliver{'y' if done.held == 1 else 'ies'} that were not "
                     "final in the backup may have gone out since: they are held for your "
                     "review in the Outbox (Unknown).")
    box = QMessageBox(QMessageBox.Icon.Information, "Restored", "\n\n".join(lines),
                      QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("restoredDialog")
    box.exec()
    return True


def with_progress(fn, text: str, parent=None):  # type: ignore[no-untyped-def]
    """Run `fn` on a worker thread while a busy progress dialog says `text` (a restore of a
    large or damaged database takes seconds: salvage, copy, migrate); its result, or its
    exception raised here."""
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtWidgets import QProgressDialog

    from ui.worker import Worker

    loop = QEventLoop()
    outcome: dict[str, object] = {}
    worker = Worker()
    worker.finished.connect(lambda value: (outcome.setdefault("value", value), loop.quit()))
    worker.failed.connect(lambda exc: (outcome.setdefault("error", exc), loop.quit()))
    progress = QProgressDialog(text, "", 0, 0, parent)
    progress.setObjectName("restoreProgress")
    progress.setAccessibleName("Restoring")
    progress.setWindowTitle("Clarion")
    progress.setCancelButton(None)   # a restore half-cancelled would be worse than waiting
    progress.setWindowModality(Qt.WindowModality.ApplicationModal)
    progress.setMinimumDuration(300)
    worker.start(fn)
    if worker.running:
        loop.exec()
    progress.close()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def run_window(demo: bool, reset_demo: bool, exit_after_startup: bool,
               screenshot: Path | None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    import app as app_pkg

    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    qt_app.setApplicationName(app_pkg.APP_NAME)
    qt_app.setOrganizationName(app_pkg.APP_NAME)
    qt_app.setDesktopFileName(app_pkg.APP_ID)
    qt_app.setApplicationVersion(app_pkg.__version__)
    try:
        config, store, clock = open_store(demo, reset_demo)
    except Exception as exc:  # noqa: BLE001 - the user gets a sentence, the log the traceback
        import logging

        logging.getLogger("clarion").exception("start-up failed")
        from app.backups.damage import DamagedDatabase

        if exit_after_startup:
            print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        elif isinstance(exc, DamagedDatabase):
            if offer_restore(exc):
                return run_window(demo, False, exit_after_startup, screenshot)
        else:
            QMessageBox.critical(None, "Clarion cannot start",
                                 f"The database could not be opened:\n\n{exc}")
        return 3 if isinstance(exc, DamagedDatabase) else 2

    from ui.excepthook import ExceptionReporter
    from ui.mainwindow import MainWindow
    from ui.services import Services

    reporter = ExceptionReporter(str(config.log_path))
    reporter.install()
    services = Services.build(config, store, clock, is_demo=demo)
    window = MainWindow(services)
    window.incidents.reload()
    window.show()
    runtime.settle_heap()

    def start_sending() -> None:  # after the first paint: sending starts in the background
        from ui.bridge import AsyncBridge
        from ui.outbox.runner import OutboxRunner

        window.runner = OutboxRunner(services.outbox, services.senders.pool, AsyncBridge())
        window.runner.blocked.connect(lambda _words: window.update_outbox_status())
        window.runner.start()
        window.start_clock_notifier()
        window.start_mailbox_readers()
        window.start_backups()
        window.check_database()   # quick_check (integrity_check once a day) on a worker
        window.offer_guide()   # once on this computer, beside the window

    if not exit_after_startup and screenshot is None:
        after_first_paint(window, start_sending)
    if screenshot is not None:
        from ui.screenshots import take_screenshots

        QTimer.singleShot(300, lambda: (take_screenshots(window, screenshot), window.close()))
    elif exit_after_startup:
        after_first_paint(window, window.close)
    code = qt_app.exec()
    if window.runner is not None:
        window.runner.stop()
    if window.clock_notifier is not None:
        window.clock_notifier.stop()
    if window.mailbox_readers is not None:
        window.mailbox_readers.stop()
    # background reads (clock evaluations) finish before the database closes under them
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(5000)
    services.close()
    reporter.uninstall()
    restore_from = getattr(window, "pending_restore", None)
    if restore_from is not None:   # asked for in the window: done with the database closed
        restore_and_say(store.path, restore_from)
        return run_window(demo, False, exit_after_startup, screenshot)
    return code


def after_first_paint(window, callback, fallback_ms: int = 2000) -> None:  # type: ignore[no-untyped-def]
    """Call `callback` once, as soon as the window has been painted for the first time — a
    zero timer set after show() fires before the window system asks for that paint — or after
    `fallback_ms` if no paint comes (a window started minimised is never painted)."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class _FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__(window)
            self.done = False

        def eventFilter(self, obj, event):  # type: ignore[no-untyped-def]
            if event.type() == QEvent.Type.Paint:
                self.fire()
            return False

        def fire(self) -> None:
            if self.done:
                return
            self.done = True
            window.removeEventFilter(self)
            QTimer.singleShot(0, callback)  # after the paint has finished

    watcher = _FirstPaint()
    window.installEventFilter(watcher)
    QTimer.singleShot(fallback_ms, watcher, watcher.fire)  # dropped with the window
