"""`clarion export`: an incident's post-incident report as Markdown, HTML or PDF, or everything
it sent as an mbox and a CSV of every delivery (legal hold), headless."""

from __future__ import annotations

import sys
from pathlib import Path

from ui.startup import open_store


def export_command(incident: str, fmt: str | None, audience: str | None, output: Path,
                   demo: bool, per_variant: bool = False) -> int:
    """`clarion export INCIDENT --audience … -o FILE`: the post-incident report, headless.
    Errors are one line on stderr (the traceback goes to the log)."""
    import logging
    import os

    suffixes = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf",
                ".mbox": "mbox"}
    fmt = fmt or suffixes.get(output.suffix.lower())
    if fmt is None:
        print(f"clarion: say --format md, html, pdf or mbox (cannot tell from {output.name!r})",
              file=sys.stderr)
        return 2
    if fmt != "mbox" and audience is None:
        print("clarion: say --audience technical, executive or customer", file=sys.stderr)
        return 2
    if per_variant and fmt != "mbox":
        print("clarion: --per-variant is for --format mbox", file=sys.stderr)
        return 2
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported
    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3   # DESIGN's CLI conventions: damaged or cannot be opened
    from app.errors import ClarionError
    from ui.cli.incidents import find_incident

    try:
        found, why = find_incident(store, clock, incident)
        if found is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        if fmt == "mbox":
            from app.reports.legal_hold import export_legal_hold

            hold = export_legal_hold(store, found.id, output, per_variant=per_variant)
            print(f"{hold.mbox}: {hold.in_mbox} email{'s' * (hold.in_mbox != 1)} as sent"
                  + (f" ({hold.emails_without_source} without their source: see the CSV)"
                     if hold.emails_without_source else ""))
            print(f"{hold.csv}: {hold.deliveries} deliver"
                  f"{'ies' if hold.deliveries != 1 else 'y'}")
            return 0
        from ui.reports.export import export

        written = export(store, clock, found.id, audience, fmt, output)
    except ClarionError as exc:
        print(f"clarion: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line here, the traceback in the log
        from app.backups.damage import damage_of

        if damage_of(exc) is not None:
            raise   # a damaged file: ui/main.py says it once, with the backup (exit code 3)
        logging.getLogger("clarion").exception("export failed")
        print(f"clarion: the export failed: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    print(written.path)
    for warning in written.warnings:   # the file is written; what it could not print as text
        print(f"clarion: warning: {warning}", file=sys.stderr)
    return 0
