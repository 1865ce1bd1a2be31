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
