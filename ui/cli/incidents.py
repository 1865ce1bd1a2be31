"""`clarion incidents`: the incidents of a database, one line each."""

from __future__ import annotations

import sys

from ui.startup import open_store


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
