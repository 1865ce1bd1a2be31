"""`clarion messages INCIDENT`: what was said to whom and when, headless (app/messages/sent.py)."""

from __future__ import annotations

import sys

from ui.startup import open_store


def messages_command(incident: str, full: bool, demo: bool) -> int:
    """Every message of the incident, oldest first: its variants with recipients counted by
    state and those not sent named with the reason; `full` adds each variant's texts."""
    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - say it plainly on the command line
        print(f"clarion: cannot open the database: {exc}", file=sys.stderr)
        return 3
    from app.messages.sent import describe, list_messages, load_message
    from ui.cli.incidents import find_incident

    try:
        found, why = find_incident(store, clock, incident)
        if found is None:
            print(f"clarion: {why}", file=sys.stderr)
            return 2
        summaries = list_messages(store, found.id)
        drill = " (drill)" if found.is_drill else ""
        print(f"{found.title}{drill}: {len(summaries)} message"
              f"{'s' * (len(summaries) != 1)}")
        for summary in summaries:
            print()
            print(describe(load_message(store, summary.id), full=full))
    finally:
        store.dispose()
    return 0
