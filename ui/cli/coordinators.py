"""`clarion coordinators [list|add NAME …]`, and the desk a writing subcommand signs with
(`--as NAME`, else this computer's current coordinator)."""

from __future__ import annotations

import sys
from typing import Any

from ui.startup import open_store


def cli_desk(config: Any, store: Any, clock: Any, as_name: str | None, demo: bool):  # type: ignore[no-untyped-def]
    """(desk, "") or (None, the one line to print): `--as NAME` names an active coordinator;
    without it, the one this computer chose last (or the prefilled, unconfirmed desk)."""
    from PySide6.QtCore import QSettings

    from app.coordinators.service import CoordinatorService, Desk, desk_for
    from ui.services import UNNAMED, desk_key

    service = CoordinatorService(store, clock)
    if as_name is not None:
        found = service.find(as_name)
        if found is None or not found.active:
            known = ", ".join(c.name for c in service.list()) or "none yet"
            return None, (f"no active coordinator is called {as_name!r} (known: {known}; "
                          f"`clarion coordinators add NAME` adds one)")
        return Desk(found.name, found.id), ""
    settings = QSettings(str(config.settings_path), QSettings.Format.IniFormat)
    chosen = str(settings.value(desk_key(demo)) or "")
    return desk_for(service, int(chosen) if chosen.isdigit() else None, fallback=UNNAMED,
                    demo=demo), ""


def coordinators_command(action: str, name: str | None, email: str, phone: str, role: str,
                         demo: bool) -> int:
    try:
        config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - say it plainly on the command line
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    from app.coordinators.service import CoordinatorService
    from app.errors import ValidationError

    service = CoordinatorService(store, clock)
    try:
        if action == "add":
            if not name:
                print("clarion: say the coordinator's name: clarion coordinators add NAME",
                      file=sys.stderr)
                return 2
            try:
                person = service.add(name, email, phone, role)
            except ValidationError as exc:
                for field, message in exc.errors.items():
                    print(f"clarion: {field}: {message}", file=sys.stderr)
                return 2
            print(f"{person.id:>4}  {person.name}")
            return 0
        desk, _ = cli_desk(config, store, clock, None, demo)
        people = service.list(include_inactive=True)
        if not people:
            print("No coordinators yet: `clarion coordinators add NAME` adds one.")
        for c in people:
            details = " · ".join(x for x in (c.role_note, c.email, c.phone) if x)
            marks = ("" if c.active else " [inactive]") + \
                (" [at this desk]" if desk is not None and desk.coordinator_id == c.id else "")
            print(f"{c.id:>4}  {c.name}{marks}" + (f"  ({details})" if details else ""))
        return 0
    finally:
        store.dispose()
