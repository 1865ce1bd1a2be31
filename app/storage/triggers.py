"""Database triggers that keep the timeline and its hash chain append-only. Batch-mode migrations
recreate tables and drop their triggers: every such migration calls create_timeline_triggers()
again (and, from 0014 on, create_chain_triggers())."""

from __future__ import annotations

TIMELINE_TRIGGERS: dict[str, str] = {
    "timeline_entries_no_update": (
        "CREATE TRIGGER IF NOT EXISTS timeline_entries_no_update "
        "BEFORE UPDATE ON timeline_entries "
        "BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END"
    ),
    "timeline_entries_no_delete": (
        "CREATE TRIGGER IF NOT EXISTS timeline_entries_no_delete "
        "BEFORE DELETE ON timeline_entries "
        "BEGIN SELECT RAISE(ABORT, 'timeline entries are append-only'); END"
    ),
}


def create_timeline_triggers(execute) -> None:  # type: ignore[no-untyped-def]
    """`execute` is alembic's op.execute or a connection's exec_driver_sql."""
    for sql in TIMELINE_TRIGGERS.values():
        execute(sql)


# timeline_hashes exists from migration 0014: earlier migrations create only the timeline's.
CHAIN_TRIGGERS: dict[str, str] = {
    "timeline_hashes_no_update": (
        "CREATE TRIGGER IF NOT EXISTS timeline_hashes_no_update "
        "BEFORE UPDATE ON timeline_hashes "
        "BEGIN SELECT RAISE(ABORT, 'timeline hashes are append-only'); END"
    ),
    "timeline_hashes_no_delete": (
        "CREATE TRIGGER IF NOT EXISTS timeline_hashes_no_delete "
        "BEFORE DELETE ON timeline_hashes "
        "BEGIN SELECT RAISE(ABORT, 'timeline hashes are append-only'); END"
    ),
}


def create_chain_triggers(execute) -> None:  # type: ignore[no-untyped-def]
    for sql in CHAIN_TRIGGERS.values():
        execute(sql)
