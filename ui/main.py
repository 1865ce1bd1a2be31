"""The one `clarion` entry point: with no subcommand it opens the window; subcommands run
headless and call app/ functions. Imports are lazy so start-up pays only for what it uses."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from app import runtime


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clarion",
        description="Clarion — incident communication for coordinators.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--demo", action="store_true",
                        help="open the demo database (seeded on first use)")
    parser.add_argument("--reset-demo", action="store_true",
                        help="rebuild the demo database from scratch, then open it")
    parser.add_argument("--exit-after-startup", action="store_true",
                        help="quit as soon as the window is shown and populated (benchmarks)")
    parser.add_argument("--screenshot", metavar="DIR", type=Path,
                        help="save a PNG of each screen into DIR, then quit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="open the window on the demo database")
    demo.add_argument("--reset-demo", action="store_true", dest="reset_demo_sub",
                      help="rebuild the demo database first")
    demo.add_argument("--exit-after-startup", action="store_true", dest="exit_sub",
                      help="quit once the window is shown and populated")
    demo.add_argument("--screenshot", metavar="DIR", type=Path, dest="screenshot_sub",
                      help="save a PNG of each screen into DIR, then quit")
    outbox = sub.add_parser("outbox", help="the outbox, headless")
    outbox.add_argument("action", choices=["flush", "status"],
                        help="flush: send what is due now; status: count deliveries per state")
    outbox.add_argument("--demo", action="store_true", dest="demo_sub",
                        help="use the demo database")
    listing = sub.add_parser("incidents", help="list incidents (headless)")
    listing.add_argument("--demo", action="store_true", dest="demo_sub",
                         help="list the demo database's incidents")
    listing.add_argument("--all", action="store_true", help="include archived incidents")
    report = sub.add_parser("export", help="export an incident's post-incident report (headless)")
    report.add_argument("incident", metavar="INCIDENT",
                        help="the incident's id or a unique beginning of its title")
    report.add_argument("--format", choices=["md", "html", "pdf"], dest="fmt",
                        help="the file format (default: from the output file's extension)")
    report.add_argument("--audience", choices=["technical", "executive", "customer"],
                        required=True, help="which version of the report")
    report.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                        help="the file to write (Markdown also writes FILE's name + .chart.png)")
    report.add_argument("--demo", action="store_true", dest="demo_sub",
                        help="use the demo database")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Start-up allocates many long-lived objects (modules, ORM mappings, widgets); collecting
    # while they are created only re-scans them. Collection resumes (runtime.settle_heap) once
    # the window is up, or before the headless outbox starts sending.
    runtime.pause_collection()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        import app

        print(f"clarion {app.__version__}")
        return 0
    if args.command == "demo":
        args.demo = True
        args.reset_demo = args.reset_demo or args.reset_demo_sub
        args.exit_after_startup = args.exit_after_startup or args.exit_sub
        args.screenshot = args.screenshot or args.screenshot_sub
    if args.reset_demo:
        args.demo = True
    if args.command == "outbox":
        return outbox_command(args.action, demo=args.demo or args.demo_sub)
    if args.command == "incidents":
        return list_incidents(demo=args.demo or args.demo_sub, include_archived=args.all)
    if args.command == "export":
        return export_command(args.incident, args.fmt, args.audience, args.output,
                              demo=args.demo or args.demo_sub)
    return run_window(demo=args.demo, reset_demo=args.reset_demo,
                      exit_after_startup=args.exit_after_startup, screenshot=args.screenshot)


def open_store(demo: bool, reset_demo: bool = False):  # type: ignore[no-untyped-def]
    """Open (seeding or migrating as needed) the database; returns (config, store, clock)."""
    from app.clock import SystemClock
    from app.config import AppConfig
    from app.logs import configure_logging
    from app.storage.engine import Store

    config = AppConfig.from_env()
    config.ensure_dirs()
    configure_logging(config.log_path)
    clock = SystemClock()
    if demo:
        db_path = config.demo_db_path
        if reset_demo or not db_path.exists():
            from app.demo.seed import ensure_demo

            ensure_demo(db_path, clock, reset=reset_demo)
    else:
        db_path = config.db_path
    store = Store.open(db_path, config.backup_dir)
    if not demo:
        from app.stakeholders.clients import ensure_default_organisation

        ensure_default_organisation(store, clock)
    return config, store, clock


def list_incidents(demo: bool, include_archived: bool) -> int:
    from app.incidents.lifecycle import IncidentService
    from app.timefmt import format_local

    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - say it plainly on the command line
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 2
    service = IncidentService(store, clock)
    for inc in service.list(include_archived=include_archived):
        drill = " [drill]" if inc.is_drill else ""
        print(f"{inc.id:>5}  {inc.severity.value}  {inc.phase.value:<13} "
              f"{format_local(inc.detected_at)}  {inc.client_name}: {inc.title}{drill}")
    store.dispose()
    return 0


def outbox_command(action: str, demo: bool) -> int:
    """`clarion outbox flush|status`: the outbox without a window (asyncio.run)."""
    from app.events import EventBus
    from app.sending.accounts import AccountService
    from app.sending.outbox import Outbox
    from app.sending.runner import flush_headless
    from app.sending.secrets import SecretStore

    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 2
    from ui.outbox.runner import SenderPool

    bus = EventBus()
    pool = SenderPool(AccountService(store, clock, SecretStore(), bus))
    outbox = Outbox(store, clock, bus, pool.resolve)
    if action == "flush":
        runtime.settle_heap()  # a long send must not run with the collector paused
        recovered = outbox.recover()
        report = flush_headless(outbox)
        if recovered:
            print(f"{recovered} deliveries were interrupted earlier; their outcome is unknown")
        print(f"claimed {report.claimed}: sent {report.sent}, waiting to retry "
              f"{report.retry_wait}, failed {report.failed}, unknown {report.unknown}")
        for name in report.paused_accounts:
            print(f"account paused: {name}", file=sys.stderr)
    for state, count in outbox.counts().items():
        if count:
            print(f"{state:<11} {count}")
    store.dispose()
    return 0


def export_command(incident: str, fmt: str | None, audience: str, output: Path,
                   demo: bool) -> int:
    """`clarion export INCIDENT --audience … -o FILE`: the post-incident report, headless.
    Errors are one line on stderr (the traceback goes to the log)."""
    import logging
    import os

    suffixes = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf"}
    fmt = fmt or suffixes.get(output.suffix.lower())
    if fmt is None:
        print(f"clarion: say --format md, html or pdf (cannot tell from {output.name!r})",
              file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported
    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 2
    from app.errors import ClarionError
    from app.incidents.lifecycle import IncidentService

    try:
        key = incident.strip()
        found = IncidentService(store, clock).list(include_archived=True)
        matches = [i for i in found if key.isdigit() and i.id == int(key)]
        matches = matches or [i for i in found if i.title.casefold() == key.casefold()]
        matches = matches or [i for i in found if key
                              and i.title.casefold().startswith(key.casefold())]
        if len(matches) != 1:
            which = "no incident matches" if not matches else f"{len(matches)} incidents match"
            print(f"clarion: {which} {incident!r} (see `clarion incidents --all`)",
                  file=sys.stderr)
            return 1
        from ui.reports.export import export

        written = export(store, clock, matches[0].id, audience, fmt, output)
    except ClarionError as exc:
        print(f"clarion: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line here, the traceback in the log
        logging.getLogger("clarion").exception("export failed")
        print(f"clarion: the export failed: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    print(written)
    return 0


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
        if exit_after_startup:
            print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        else:
            QMessageBox.critical(None, "Clarion cannot start",
                                 f"The database could not be opened:\n\n{exc}")
        return 2

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
        window.runner.start()
        window.start_clock_notifier()

    if not exit_after_startup and screenshot is None:
        QTimer.singleShot(0, start_sending)
    if screenshot is not None:
        from ui.screenshots import take_screenshots

        QTimer.singleShot(300, lambda: (take_screenshots(window, screenshot), window.close()))
    elif exit_after_startup:
        QTimer.singleShot(0, window.close)
    code = qt_app.exec()
    if window.runner is not None:
        window.runner.stop()
    if window.clock_notifier is not None:
        window.clock_notifier.stop()
    # background reads (clock evaluations) finish before the database closes under them
    from PySide6.QtCore import QThreadPool

    QThreadPool.globalInstance().waitForDone(5000)
    services.close()
    reporter.uninstall()
    return code


if __name__ == "__main__":
    sys.exit(main())
