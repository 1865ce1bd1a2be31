"""Database triggers that keep the timeline and its hash chain append-only, and those that bump
the clocks' change counters. Batch-mode migrations recreate tables and drop their triggers: every
such migration calls create_timeline_triggers() again (and, from 0014 on,
create_chain_triggers(); from 0015 on, create_change_triggers())."""

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


# The clocks' change counters (migration 0015, DESIGN "Clocks are derived"): every write a
# clock reads bumps a counter, and ClockService re-evaluates only the incidents whose counter
# moved. Two columns make one counter per incident: `incidents.change_seq` (the incident's own
# rows: itself, its timeline, messages and deliveries; and the escalation rules, which bump
# every incident not closed) plus `clients.change_seq` (what the incident reads of its client:
# its settings, its stakeholders, its cadence policies) — so importing 10,000 stakeholders
# bumps one client row, not each of its incidents 10,000 times. app/clocks/changes.py reads
# the sum. Kept in the database, not in the services, so no write path can forget it.
# A deliveries UPDATE bumps only when a column the clocks read changed: the outbox rewrites
# attempts, next_attempt_at, started_at and wire several times per send.
_BUMP = "UPDATE incidents SET change_seq = change_seq + 1 WHERE "
_BUMP_CLIENT = "UPDATE clients SET change_seq = change_seq + 1 WHERE "
_OF_MESSAGE = "id = (SELECT incident_id FROM messages WHERE id = {})"
_OF_STAKEHOLDER = "id = (SELECT client_id FROM stakeholders WHERE id = {})"
# `id = (scalar)`, never `id IN (list)`: SQLite plans the list as a temporary table, 15 times
# slower per row (an outbox flush bumps twice per delivery)
_DELIVERY_COLUMNS = ("message_id", "stakeholder_id", "state", "created_at", "sent_at")


def _trigger(name: str, event: str, table: str, body: str, when: str = "") -> tuple[str, str]:
    when = f" WHEN {when}" if when else ""
    return name, (f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table}{when} "
                  f"BEGIN {body}; END")


CHANGE_TRIGGERS: dict[str, str] = dict([
    _trigger("clock_change_incident", "UPDATE", "incidents", _BUMP + "id = NEW.id",
             "NEW.change_seq = OLD.change_seq"),
    _trigger("clock_change_timeline", "INSERT", "timeline_entries",
             _BUMP + "id = NEW.incident_id"),
    _trigger("clock_change_message_insert", "INSERT", "messages",
             _BUMP + "id = NEW.incident_id"),
    _trigger("clock_change_message_update", "UPDATE", "messages",
             _BUMP + "id = NEW.incident_id; " + _BUMP
             + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id"),
    _trigger("clock_change_message_delete", "DELETE", "messages",
             _BUMP + "id = OLD.incident_id"),
    _trigger("clock_change_delivery_insert", "INSERT", "deliveries",
             _BUMP + _OF_MESSAGE.format("NEW.message_id")),
    _trigger("clock_change_delivery_update", f"UPDATE OF {', '.join(_DELIVERY_COLUMNS)}",
             "deliveries", _BUMP + _OF_MESSAGE.format("NEW.message_id") + "; " + _BUMP
             + "OLD.message_id IS NOT NEW.message_id AND " + _OF_MESSAGE.format("OLD.message_id"),
             " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _DELIVERY_COLUMNS)),
    _trigger("clock_change_delivery_delete", "DELETE", "deliveries",
             _BUMP + _OF_MESSAGE.format("OLD.message_id")),
    _trigger("clock_change_client", "UPDATE", "clients", _BUMP_CLIENT + "id = NEW.id",
             "NEW.change_seq = OLD.change_seq"),
    _trigger("clock_change_stakeholder_insert", "INSERT", "stakeholders",
             _BUMP_CLIENT + "id = NEW.client_id"),
    _trigger("clock_change_stakeholder_update", "UPDATE", "stakeholders",
             _BUMP_CLIENT + "id = NEW.client_id; " + _BUMP_CLIENT
             + "OLD.client_id IS NOT NEW.client_id AND id = OLD.client_id"),
    _trigger("clock_change_stakeholder_delete", "DELETE", "stakeholders",
             _BUMP_CLIENT + "id = OLD.client_id"),
    _trigger("clock_change_cadence_insert", "INSERT", "cadence_policies",
             _BUMP_CLIENT + "id = NEW.client_id"),
    _trigger("clock_change_cadence_update", "UPDATE", "cadence_policies",
             _BUMP_CLIENT + "id = NEW.client_id; " + _BUMP_CLIENT
             + "OLD.client_id IS NOT NEW.client_id AND id = OLD.client_id"),
    _trigger("clock_change_cadence_delete", "DELETE", "cadence_policies",
             _BUMP_CLIENT + "id = OLD.client_id"),
    *(_trigger(f"clock_change_escalation_{event.lower()}", event, "escalation_rules",
               _BUMP + "phase <> 'closed'") for event in ("INSERT", "UPDATE", "DELETE")),
    # from migration 0016: a bounce read from the mailbox (or marked handled) changes what is
    # due next — a regulator's notice that bounced is to be sent again
    _trigger("clock_change_inbound_insert", "INSERT", "inbound_mail",
             _BUMP + "id = NEW.incident_id"),
    _trigger("clock_change_inbound_update", "UPDATE", "inbound_mail",
             _BUMP + "id = NEW.incident_id; " + _BUMP
             + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id"),
    _trigger("clock_change_inbound_delete", "DELETE", "inbound_mail",
             _BUMP + "id = OLD.incident_id"),
    # from migration 0017 (issue 25): an acknowledgement (or a delivery newly asked to confirm)
    # ends or starts the wait for it; an SMS read back is a reply or an acknowledgement; a
    # contact point's opt-out changes who can be reached next; the acknowledgement policy is
    # every open incident's wait
    _trigger("clock_change_delivery_ack", "UPDATE OF ack_requested, acknowledged_at",
             "deliveries", _BUMP + _OF_MESSAGE.format("NEW.message_id"),
             "OLD.ack_requested IS NOT NEW.ack_requested "
             "OR OLD.acknowledged_at IS NOT NEW.acknowledged_at"),
    _trigger("clock_change_inbound_sms_insert", "INSERT", "inbound_sms",
             _BUMP + "id = NEW.incident_id"),
    _trigger("clock_change_inbound_sms_update", "UPDATE", "inbound_sms",
             _BUMP + "id = NEW.incident_id; " + _BUMP
             + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id"),
    _trigger("clock_change_inbound_sms_delete", "DELETE", "inbound_sms",
             _BUMP + "id = OLD.incident_id"),
    _trigger("clock_change_contact_insert", "INSERT", "contact_points",
             _BUMP_CLIENT + _OF_STAKEHOLDER.format("NEW.stakeholder_id")),
    _trigger("clock_change_contact_update", "UPDATE", "contact_points",
             _BUMP_CLIENT + _OF_STAKEHOLDER.format("NEW.stakeholder_id")),
    _trigger("clock_change_contact_delete", "DELETE", "contact_points",
             _BUMP_CLIENT + _OF_STAKEHOLDER.format("OLD.stakeholder_id")),
    *(_trigger(f"clock_change_ack_policy_{event.lower()}", event, "ack_policies",
               _BUMP + "phase <> 'closed'") for event in ("INSERT", "UPDATE", "DELETE")),
])


def create_change_triggers(execute) -> None:  # type: ignore[no-untyped-def]
    """From migration 0017 on (0015, 0016 and 0017 create those of the tables they know); a later batch
    migration of any table named above calls it."""
    for sql in CHANGE_TRIGGERS.values():
        execute(sql)
