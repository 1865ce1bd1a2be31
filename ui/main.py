"""The one `clarion` entry point: it parses the arguments and dispatches, nothing more. With no
subcommand the window opens (ui/startup.py); subcommands run headless (ui/cli/, one module per
command group). Imports are lazy so start-up pays only for what it uses."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from typing import Mapping

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
                        help="quit as soon as the window is shown, populated and painted (benchmarks)")
    parser.add_argument("--screenshot", metavar="DIR", type=Path,
                        help="save a PNG of each screen into DIR, then quit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="open the window on the demo database")
    demo.add_argument("--reset-demo", action="store_true", dest="reset_demo_sub",
                      help="rebuild the demo database first")
    demo.add_argument("--exit-after-startup", action="store_true", dest="exit_sub",
                      help="quit once the window is shown, populated and painted")
    demo.add_argument("--screenshot", metavar="DIR", type=Path, dest="screenshot_sub",
                      help="save a PNG of each screen into DIR, then quit")
    outbox = sub.add_parser("outbox", help="the outbox, headless")
    outbox.add_argument("action", choices=["flush", "status", "unknown", "resolve"],
                        help="flush: send what is due now; status: count deliveries per state; "
                             "unknown: list deliveries whose outcome is unknown; resolve ID…: "
                             "decide them")
    outbox.add_argument("ids", nargs="*", metavar="ID", help="resolve: the deliveries")
    decide = outbox.add_mutually_exclusive_group()
    for flag, value, words in (("--resend", "resend", "send them again"),
                               ("--mark-sent", "mark-sent", "you checked: they arrived"),
                               ("--cancel", "cancel", "do not send them")):
        decide.add_argument(flag, dest="decision", action="store_const", const=value,
                            help=f"resolve: {words}")
    outbox.add_argument("--yes", action="store_true",
                        help="resolve --resend: resend SMS too (they may arrive twice)")
    outbox.add_argument("--demo", action="store_true", dest="demo_sub",
                        help="use the demo database")
    outbox.add_argument("--as", dest="as_name", metavar="NAME",
                        help="the coordinator who signs what this writes (default: this "
                             "computer's current one)")
    people = sub.add_parser("coordinators", help="the people who work at the desk (headless)")
    people.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    people.add_argument("name", nargs="?", metavar="NAME", help="add: the person's full name")
    people.add_argument("--email", default="", help="add: their email address")
    people.add_argument("--phone", default="", help="add: their phone number")
    people.add_argument("--role", default="", help="add: a role note (e.g. night shift)")
    people.add_argument("--demo", action="store_true", dest="demo_sub",
                        help="use the demo database")
    listing = sub.add_parser("incidents", help="list incidents (headless)")
    listing.add_argument("--demo", action="store_true", dest="demo_sub",
                         help="list the demo database's incidents")
    listing.add_argument("--all", action="store_true", help="include archived incidents")
    sent = sub.add_parser("messages", help="what was said to whom and when (headless)")
    sent.add_argument("incident", metavar="INCIDENT",
                      help="the incident's id or a unique beginning of its title")
    sent.add_argument("--full", action="store_true",
                      help="also print each variant's subject and text")
    sent.add_argument("--demo", action="store_true", dest="demo_sub",
                      help="use the demo database")
    mailbox = sub.add_parser("mailbox", help="read the email accounts' mailboxes once: "
                             "bounces, automatic replies, replies (headless)")
    mailbox.add_argument("action", choices=["check"])
    mailbox.add_argument("--account", default=None, metavar="NAME", help="only this account")
    mailbox.add_argument("--json", action="store_true", help="print JSON")
    mailbox.add_argument("--demo", action="store_true", dest="demo_sub",
                         help="use the demo database")
    replies = sub.add_parser("replies", help="the replies an incident received (headless)")
    replies.add_argument("incident", metavar="INCIDENT",
                         help="the incident's id or a unique beginning of its title")
    replies.add_argument("--all", action="store_true", help="include handled ones")
    replies.add_argument("--bounces", action="store_true",
                         help="also list bounces and automatic replies")
    replies.add_argument("--acks", action="store_true",
                         help="only who was asked to confirm and who did (with --json, as a "
                              "list)")
    replies.add_argument("--json", action="store_true", help="print JSON")
    replies.add_argument("--demo", action="store_true", dest="demo_sub",
                         help="use the demo database")
    confirm = sub.add_parser("confirm", help="record that someone confirmed a message in a "
                                             "way Clarion could not read (headless)")
    confirm.add_argument("delivery", metavar="DELIVERY", help="the delivery's number")
    confirm.add_argument("--note", required=True, help="how they confirmed (to the timeline)")
    confirm.add_argument("--as", dest="as_name", metavar="NAME",
                         help="the coordinator who signs it (default: this computer's current)")
    confirm.add_argument("--demo", action="store_true", dest="demo_sub",
                         help="use the demo database")
    report = sub.add_parser("export", help="export an incident's post-incident report, or "
                                           "everything it sent (--format mbox), headless")
    report.add_argument("incident", metavar="INCIDENT",
                        help="the incident's id or a unique beginning of its title")
    report.add_argument("--format", choices=["md", "html", "pdf", "mbox"], dest="fmt",
                        help="the file format (default: from the output file's extension); "
                             "mbox: every email as sent, and FILE's name + .deliveries.csv "
                             "with every delivery of every channel (legal hold)")
    report.add_argument("--audience", choices=["technical", "executive", "customer"],
                        help="which version of the report (not for mbox)")
    report.add_argument("--per-variant", action="store_true",
                        help="mbox: one example of each variant instead of every delivery")
    report.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                        help="the file to write (Markdown also writes FILE's name + .chart.png)")
    report.add_argument("--demo", action="store_true", dest="demo_sub",
                        help="use the demo database")
    bring = sub.add_parser("import", help="import stakeholders from a contacts CSV or vCard "
                                          "into a client's map (headless)")
    bring.add_argument("file", metavar="FILE", type=Path,
                       help="a CSV (Google, Outlook, Thunderbird, a sheet) or a .vcf vCard file")
    bring.add_argument("--client", required=True, metavar="NAME",
                       help="the client to import into: its name or a unique beginning of it")
    bring.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD",
                       dest="maps",
                       help="CSV: import COLUMN (its header or number from 1) as FIELD (name, "
                            "first_name, last_name, email, mobile, phone, role, … or ignore); "
                            "repeatable, on top of the columns as guessed")
    bring.add_argument("--dry-run", action="store_true",
                       help="print what would be imported and write nothing")
    twice = bring.add_mutually_exclusive_group()
    twice.add_argument("--merge", dest="merge", action="store_true", default=True,
                       help="merge duplicates into the stakeholder they repeat (the default)")
    twice.add_argument("--skip", dest="merge", action="store_false",
                       help="skip duplicates")
    bring.add_argument("--skip-unreachable", action="store_true",
                       help="refuse people with no valid email address or phone number "
                            "instead of importing them as unreachable")
    bring.add_argument("--category", metavar="CATEGORY",
                       help="the category of people the file does not give one (default: "
                            "affected users)")
    bring.add_argument("--demo", action="store_true", dest="demo_sub",
                       help="use the demo database")
    keep = sub.add_parser("backup", help="back the database up now (headless): into the "
                                         "rolling set, or into FILE")
    keep.add_argument("-o", "--output", metavar="FILE", type=Path,
                      help="write the backup to FILE instead of the backups folder")
    keep.add_argument("--list", action="store_true", dest="list_only",
                      help="list the backups instead of taking one")
    keep.add_argument("--demo", action="store_true", dest="demo_sub",
                      help="the demo database")
    back = sub.add_parser("restore", help="put a backup in place of the database (headless); "
                                          "the replaced file is kept aside")
    back.add_argument("file", metavar="FILE", type=Path, help="the backup to restore")
    back.add_argument("--demo", action="store_true", dest="demo_sub",
                      help="restore into the demo database")
    check = sub.add_parser("verify", help="check that the timeline's hash chains hold: the record "
                                          "was not changed outside Clarion (headless)")
    check.add_argument("incident", nargs="?", metavar="INCIDENT",
                       help="one incident (its id or a unique beginning of its title); "
                            "default: every incident")
    check.add_argument("--head", nargs=2, metavar=("INCIDENT", "HASH"),
                       help="match the chain head a report printed against the database")
    check.add_argument("--demo", action="store_true", dest="demo_sub",
                       help="the demo database")
    return parser


NO_DISPLAY = 69   # exit status without a display (sysexits' EX_UNAVAILABLE): `make run` knows it


def no_display(env: Mapping[str, str], platform: str) -> str | None:
    """Why the window cannot open here, in one line with what to do; None when it can. On
    Linux and the BSDs the window needs an X11 or Wayland display unless Qt is told to draw
    elsewhere (QT_QPA_PLATFORM=offscreen, vnc, eglfs…)."""
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    x11, wayland = env.get("DISPLAY", "").strip(), env.get("WAYLAND_DISPLAY", "").strip()
    if (qpa in ("", "xcb") and not x11 and not (qpa == "" and wayland)) or \
            (qpa.startswith("wayland") and not wayland):
        return ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not "
                "set): run it from a desktop session — the headless commands work anywhere "
                "(clarion --help).")
    return None


def main(argv: list[str] | None = None) -> int:
    # Start-up allocates many long-lived objects (modules, ORM mappings, widgets); collecting
    # while they are created only re-scans them. Collection resumes (runtime.settle_heap) once
    # the window is up, or before the headless outbox starts sending.
    runtime.pause_collection()
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away (`clarion messages … | head`): not an error of ours; keep
        # Python from complaining again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from ui.cli.failures import said_about

        found = said_about(exc, argv)   # a damaged file, a full disk…: one sentence, a code
        if found is None:
            raise
        message, code = found
        print(f"clarion: {message}", file=sys.stderr)
        return code
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
        from ui.cli.outbox import outbox_command

        return outbox_command(args.action, demo=args.demo or args.demo_sub,
                              as_name=args.as_name, ids=args.ids, decision=args.decision,
                              yes=args.yes)
    if args.command == "verify":
        from ui.cli.verify import verify_command

        return verify_command(args.incident, args.head, demo=args.demo or args.demo_sub)
    if args.command == "coordinators":
        from ui.cli.coordinators import coordinators_command

        return coordinators_command(args.action, args.name, args.email, args.phone, args.role,
                                    demo=args.demo or args.demo_sub)
    if args.command == "incidents":
        from ui.cli.incidents import list_incidents

        return list_incidents(demo=args.demo or args.demo_sub, include_archived=args.all)
    if args.command == "messages":
        from ui.cli.messages import messages_command

        return messages_command(args.incident, args.full, demo=args.demo or args.demo_sub)
    if args.command in ("mailbox", "replies"):
        from ui.cli.mailbox import mailbox_check_command, replies_command

        if args.command == "mailbox":
            return mailbox_check_command(args.demo or args.demo_sub, args.account, args.json)
        kinds = ("reply", "bounce", "auto_reply") if args.bounces else ("reply",)
        return replies_command(args.incident, args.demo or args.demo_sub, args.all, kinds,
                               args.json, args.acks)
    if args.command == "confirm":
        from ui.cli.acks import confirm_command

        return confirm_command(args.delivery, args.note, args.demo or args.demo_sub,
                               args.as_name)
    if args.command == "export":
        from ui.cli.export import export_command

        return export_command(args.incident, args.fmt, args.audience, args.output,
                              demo=args.demo or args.demo_sub, per_variant=args.per_variant)
    if args.command == "import":
        from ui.cli.importing import import_command

        return import_command(args.file, args.client, args.maps, dry_run=args.dry_run,
                              merge=args.merge, skip_unreachable=args.skip_unreachable,
                              category=args.category, demo=args.demo or args.demo_sub)
    if args.command == "backup":
        from ui.cli.backups import backup_command

        return backup_command(args.output, args.list_only, demo=args.demo or args.demo_sub)
    if args.command == "restore":
        from ui.cli.backups import restore_command

        return restore_command(args.file, demo=args.demo or args.demo_sub)
    missing = no_display(os.environ, sys.platform)
    if missing:   # before Qt, whose own abort names a library, not the cause
        print(f"clarion: {missing}", file=sys.stderr)
        return NO_DISPLAY
    from ui.startup import run_window

    return run_window(demo=args.demo, reset_demo=args.reset_demo,
                      exit_after_startup=args.exit_after_startup, screenshot=args.screenshot)


if __name__ == "__main__":
    sys.exit(main())
