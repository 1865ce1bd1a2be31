"""`clarion verify [INCIDENT]` checks the timeline's hash chains from their first entry and names
the first entry that breaks; `clarion verify --head INCIDENT HASH` matches the chain head a
report printed against the database (app/record/verify.py). It only reads."""

from __future__ import annotations

import sys

from ui.startup import open_store

HOLDS, BROKEN, BAD_ARGUMENT, DATABASE = 0, 1, 2, 3


def _say(message: str) -> None:
    print(f"clarion: {message}", file=sys.stderr)


def _entry_words(report) -> str:  # type: ignore[no-untyped-def]
    from app.timefmt import format_local

    b = report.broken
    named = []
    if b.entry_id is not None:
        named.append(f"entry {b.entry_id}")
    if b.seq:
        named.append(f"number {b.seq}")
    if b.at is not None:
        named.append(format_local(b.at))
    where = ", ".join(named)
    summary = f' "{b.summary[:80]}"' if b.summary else ""
    return (f"BROKEN at {where}{summary}: {b.reason}" if where or summary
            else f"BROKEN: {b.reason}")


def verify_command(incident: str | None, head: list[str] | None, demo: bool) -> int:
    from app.record.verify import incident_ids, match_head, verify_incident
    from ui.cli.incidents import find_incident

    try:
        _config, store, clock = open_store(demo)
    except Exception as exc:  # noqa: BLE001 - said plainly on the command line
        _say(f"cannot open the database: {exc}")
        return DATABASE
    try:
        key = head[0] if head else incident
        if key is not None:
            found, why = find_incident(store, clock, key)
            if found is None:
                _say(why)
                return BAD_ARGUMENT
            ids = [found.id]
        else:
            ids = incident_ids(store)
        if head:
            return _head(match_head(store, ids[0], head[1]), head[1], key)
        if not ids:
            print("No incidents: nothing to verify.")
            return HOLDS
        broken = 0
        for incident_id in ids:
            report = verify_incident(store, incident_id)
            line = f"#{report.incident_id} {report.title}: {report.entries} entries, "
            if report.holds:
                print(f"{line}chain holds (head: number {report.head_seq}, "
                      f"{report.head_hash})")
            else:
                broken += 1
                print(f"{line}{_entry_words(report)}")
        if broken:
            print(f"{broken} of {len(ids)} chains broken: the record was changed outside "
                  f"Clarion. Keep this database as it is and compare it with a backup.")
            return BROKEN
        print("Every chain holds." if len(ids) > 1 else "The chain holds.")
        return HOLDS
    finally:
        store.dispose()


def _head(match, digest: str, key: str) -> int:  # type: ignore[no-untyped-def]
    if len(digest.strip()) < 12:
        _say("give at least the first 12 characters of the printed hash")
        return BAD_ARGUMENT
    if match.is_head:
        print(f"The printed head matches: it is the chain's last link (number "
              f"{match.head_seq}). Run `clarion verify {key}` to check the chain up to it.")
        return HOLDS
    if match.found_seq is not None:
        print(f"The printed head is link number {match.found_seq}; the chain has grown since to "
              f"number {match.head_seq} ({match.head_hash}). Entries appended after the "
              f"report was printed are not in it.")
        return HOLDS
    print(f"The printed head is not in this incident's chain (its head is number "
          f"{match.head_seq}, {match.head_hash}): the record differs from the printed report.")
    return BROKEN
