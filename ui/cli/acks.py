"""`clarion confirm DELIVERY --note TEXT`: record that someone confirmed a message in a way
Clarion could not read (a phone call), as the message view's "Mark confirmed…" does."""

from __future__ import annotations

import sys

from ui.startup import open_store


def confirm_command(delivery: str, note: str, demo: bool, as_name: str | None = None) -> int:
    from app.acks.record import confirm_by_hand
    from app.errors import ClarionError, NotFound, ValidationError
    from app.events import EventBus
    from ui.cli.coordinators import cli_desk

    if not delivery.isdigit():
        print(f"clarion: {delivery!r} is not a delivery number (clarion messages INCIDENT "
              "lists them with --full, clarion replies INCIDENT --acks --json by number)",
              file=sys.stderr)
        return 2
    try:
        config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    try:
        desk, why = cli_desk(config, store, clock, as_name, demo)
        if desk is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        try:
            entry = confirm_by_hand(store, clock, EventBus(), int(delivery), note, desk)
        except (ValidationError, NotFound) as exc:
            words = " ".join(exc.errors.values()) if isinstance(exc, ValidationError) \
                else str(exc)
            print(f"clarion: {words}", file=sys.stderr)
            return 2
        except ClarionError as exc:
            print(f"clarion: not recorded: {exc}", file=sys.stderr)
            return 1
        print(f"{entry.summary} (signed {entry.actor})")
        return 0
    finally:
        store.dispose()
