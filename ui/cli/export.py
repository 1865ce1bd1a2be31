"""`clarion export`: an incident's post-incident report as Markdown, HTML or PDF, headless."""

from __future__ import annotations

import sys
from pathlib import Path

from ui.startup import open_store


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
    from ui.cli.incidents import find_incident

    try:
        found, why = find_incident(store, clock, incident)
        if found is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        from ui.reports.export import export

        written = export(store, clock, found.id, audience, fmt, output)
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
