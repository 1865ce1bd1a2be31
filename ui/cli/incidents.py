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
        return 3   # DESIGN's CLI conventions: damaged or cannot be opened
    service = IncidentService(store, clock)
    for inc in service.list(include_archived=include_archived):
        drill = " [drill]" if inc.is_drill else ""
        print(f"{inc.id:>5}  {inc.severity.value}  {inc.phase.value:<13} "
              f"{format_local(inc.detected_at)}  {inc.client_name}: {inc.title}{drill}")
    store.dispose()
    return 0


def find_incident(store, clock, key: str):  # type: ignore[no-untyped-def]
    """The one incident named by its id or by its title or a unique beginning of it
    (archived ones too); (incident, "") or (None, the reason to print)."""
    from app.incidents.lifecycle import IncidentService

    wanted = key.strip()
    found = IncidentService(store, clock).list(include_archived=True)
    matches = [i for i in found if wanted.isdigit() and i.id == int(wanted)]
    matches = matches or [i for i in found if i.title.casefold() == wanted.casefold()]
    matches = matches or [i for i in found if wanted
                          and i.title.casefold().startswith(wanted.casefold())]
    if len(matches) == 1:
        return matches[0], ""
    which = "no incident matches" if not matches else f"{len(matches)} incidents match"
    return None, f"{which} {key!r} (see `clarion incidents --all`)"
