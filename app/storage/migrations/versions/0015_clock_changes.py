"""The clocks' change counters (issue 22): `incidents.change_seq` and `clients.change_seq`,
bumped by triggers on every write a clock reads (app/storage/triggers.py CHANGE_TRIGGERS, here
in a frozen copy: a migration never imports code that may change later), so ClockService
re-evaluates only the incidents whose counter moved. Existing rows start at 0: a process
that evaluates after the upgrade has no cache yet. A covering index lets the evaluation read
the deliveries it counts (state, recipient, queued and sent times) without their bodies; another
serves the timeline's kind filter (a page of one kind among 100,000 entries without a scan).
ADD COLUMN only: no table is rebuilt, so no earlier trigger is lost.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BUMP = "UPDATE incidents SET change_seq = change_seq + 1 WHERE "
_BUMP_CLIENT = "UPDATE clients SET change_seq = change_seq + 1 WHERE "
_OF_MESSAGE = "id = (SELECT incident_id FROM messages WHERE id = {})"
_DELIVERY_COLUMNS = ("message_id", "stakeholder_id", "state", "created_at", "sent_at")

# (name, event, table, body, when)
TRIGGERS = [
    ("clock_change_incident", "UPDATE", "incidents", _BUMP + "id = NEW.id",
     "NEW.change_seq = OLD.change_seq"),
    ("clock_change_timeline", "INSERT", "timeline_entries", _BUMP + "id = NEW.incident_id", ""),
    ("clock_change_message_insert", "INSERT", "messages", _BUMP + "id = NEW.incident_id", ""),
    ("clock_change_message_update", "UPDATE", "messages",
     _BUMP + "id = NEW.incident_id; " + _BUMP
     + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id", ""),
    ("clock_change_message_delete", "DELETE", "messages", _BUMP + "id = OLD.incident_id", ""),
    ("clock_change_delivery_insert", "INSERT", "deliveries",
     _BUMP + _OF_MESSAGE.format("NEW.message_id"), ""),
    ("clock_change_delivery_update", f"UPDATE OF {', '.join(_DELIVERY_COLUMNS)}", "deliveries",
     _BUMP + _OF_MESSAGE.format("NEW.message_id") + "; " + _BUMP
     + "OLD.message_id IS NOT NEW.message_id AND " + _OF_MESSAGE.format("OLD.message_id"),
     " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _DELIVERY_COLUMNS)),
    ("clock_change_delivery_delete", "DELETE", "deliveries",
     _BUMP + _OF_MESSAGE.format("OLD.message_id"), ""),
    ("clock_change_client", "UPDATE", "clients", _BUMP_CLIENT + "id = NEW.id",
     "NEW.change_seq = OLD.change_seq"),
    ("clock_change_stakeholder_insert", "INSERT", "stakeholders",
     _BUMP_CLIENT + "id = NEW.client_id", ""),
    ("clock_change_stakeholder_update", "UPDATE", "stakeholders",
     _BUMP_CLIENT + "id = NEW.client_id; " + _BUMP_CLIENT
     + "OLD.client_id IS NOT NEW.client_id AND id = OLD.client_id", ""),
    ("clock_change_stakeholder_delete", "DELETE", "stakeholders",
     _BUMP_CLIENT + "id = OLD.client_id", ""),
    ("clock_change_cadence_insert", "INSERT", "cadence_policies",
     _BUMP_CLIENT + "id = NEW.client_id", ""),
    ("clock_change_cadence_update", "UPDATE", "cadence_policies",
     _BUMP_CLIENT + "id = NEW.client_id; " + _BUMP_CLIENT
     + "OLD.client_id IS NOT NEW.client_id AND id = OLD.client_id", ""),
    ("clock_change_cadence_delete", "DELETE", "cadence_policies",
     _BUMP_CLIENT + "id = OLD.client_id", ""),
] + [(f"clock_change_escalation_{event.lower()}", event, "escalation_rules",
      _BUMP + "phase <> 'closed'", "") for event in ("INSERT", "UPDATE", "DELETE")]


def upgrade() -> None:
    for table in ("incidents", "clients"):
        op.add_column(table, sa.Column("change_seq", sa.Integer, nullable=False,
                                       server_default="0"))
    op.create_index("ix_deliveries_clocks", "deliveries",
                    ["message_id", "state", "stakeholder_id", "created_at", "sent_at"])
    op.create_index("ix_timeline_incident_kind_at", "timeline_entries",
                    ["incident_id", "kind", "at"])
    for name, event, table, body, when in TRIGGERS:
        when = f" WHEN {when}" if when else ""
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table}{when} "
                   f"BEGIN {body}; END")


def downgrade() -> None:
    for name, *_rest in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_timeline_incident_kind_at", table_name="timeline_entries")
    op.drop_index("ix_deliveries_clocks", table_name="deliveries")
    for table in ("incidents", "clients"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("change_seq")
