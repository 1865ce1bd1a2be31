"""Acknowledgements, SMS replies and opt-outs (issue 25).

- `deliveries` gains whether the message asked this person to confirm (`ack_requested`, fixed
  at queue time like the bytes), and when, how (email, sms, manual) and with which words they
  confirmed. A partial index finds the asked and not yet confirmed (the chasing clock).
- `contact_points` gains an opt-out: when and why a number is never texted again (a STOP reply,
  the provider's own refusal) — a START reply or the coordinator lifts it.
- `inbound_sms` keeps each SMS read back from the provider (unique by its SID), what it was
  (ack, reply, stop, start) and the delivery and incident it answers (none for a STOP from a
  number Clarion did not text lately: the opt-out still holds); `sms_positions` is how far each
  SMS account's inbound list was read.
- `ack_policies` holds the coordinator's edits of the defaults in resources/acks/defaults.json:
  per stakeholder category, the template types that ask to confirm and the wait per severity.

Triggers bump the clocks' change counters (app/storage/triggers.py, frozen copies here): an
acknowledgement or a newly asked delivery moves its incident's counter, an inbound SMS row its
incident's, a contact point its client's, a policy every open incident's. ADD COLUMN and new
tables only: no table is rebuilt (deliveries keeps migration 0015's triggers).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_BUMP = "UPDATE incidents SET change_seq = change_seq + 1 WHERE "
_BUMP_CLIENT = "UPDATE clients SET change_seq = change_seq + 1 WHERE "
_OF_MESSAGE = "id = (SELECT incident_id FROM messages WHERE id = {})"
_OF_STAKEHOLDER = "id = (SELECT client_id FROM stakeholders WHERE id = {})"

# (name, event, table, body, when)
TRIGGERS = [
    ("clock_change_delivery_ack", "UPDATE OF ack_requested, acknowledged_at", "deliveries",
     _BUMP + _OF_MESSAGE.format("NEW.message_id"),
     "OLD.ack_requested IS NOT NEW.ack_requested "
     "OR OLD.acknowledged_at IS NOT NEW.acknowledged_at"),
    ("clock_change_inbound_sms_insert", "INSERT", "inbound_sms",
     _BUMP + "id = NEW.incident_id", ""),
    ("clock_change_inbound_sms_update", "UPDATE", "inbound_sms",
     _BUMP + "id = NEW.incident_id; " + _BUMP
     + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id", ""),
    ("clock_change_inbound_sms_delete", "DELETE", "inbound_sms",
     _BUMP + "id = OLD.incident_id", ""),
    ("clock_change_contact_insert", "INSERT", "contact_points",
     _BUMP_CLIENT + _OF_STAKEHOLDER.format("NEW.stakeholder_id"), ""),
    ("clock_change_contact_update", "UPDATE", "contact_points",
     _BUMP_CLIENT + _OF_STAKEHOLDER.format("NEW.stakeholder_id"), ""),
    ("clock_change_contact_delete", "DELETE", "contact_points",
     _BUMP_CLIENT + _OF_STAKEHOLDER.format("OLD.stakeholder_id"), ""),
    *((f"clock_change_ack_policy_{event.lower()}", event, "ack_policies",
       _BUMP + "phase <> 'closed'", "") for event in ("INSERT", "UPDATE", "DELETE")),
]


def trigger_sql(name: str, event: str, table: str, body: str, when: str) -> str:
    when = f" WHEN {when}" if when else ""
    return (f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table}{when} "
            f"BEGIN {body}; END")


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("ack_requested", sa.Boolean, nullable=False,
                                          server_default=sa.false()))
    op.add_column("deliveries", sa.Column("acknowledged_at", sa.DateTime, nullable=True))
    op.add_column("deliveries", sa.Column("ack_via", sa.String(16), nullable=False,
                                          server_default=""))
    op.add_column("deliveries", sa.Column("ack_text", sa.Text, nullable=False,
                                          server_default=""))
    op.create_index("ix_deliveries_unacknowledged", "deliveries", ["sent_at"],
                    sqlite_where=sa.text("ack_requested = 1 AND acknowledged_at IS NULL"))
    op.add_column("contact_points", sa.Column("opted_out_at", sa.DateTime, nullable=True))
    op.add_column("contact_points", sa.Column("opted_out_reason", sa.Text, nullable=False,
                                              server_default=""))
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer,
                  sa.ForeignKey("channel_accounts.id", ondelete="SET NULL"), nullable=True),
        sa.Column("provider_sid", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("delivery_id", sa.Integer,
                  sa.ForeignKey("deliveries.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("moved_by", sa.String(200), nullable=False, server_default=""),
        sa.Column("handled_at", sa.DateTime, nullable=True),
        sa.Column("handled_by", sa.String(200), nullable=False, server_default=""),
        sa.UniqueConstraint("provider_sid", name="uq_inbound_sms_sid"),
    )
    op.create_index("ix_inbound_sms_incident", "inbound_sms",
                    ["incident_id", "kind", "received_at"])
    op.create_index("ix_inbound_sms_delivery_id", "inbound_sms", ["delivery_id"])
    op.create_table(
        "sms_positions",
        sa.Column("account_id", sa.Integer,
                  sa.ForeignKey("channel_accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_sent_at", sa.DateTime, nullable=True),
        sa.Column("checked_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "ack_policies",
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("ask_types", sa.JSON, nullable=False),
        sa.Column("wait_sev1", sa.Integer, nullable=False),
        sa.Column("wait_sev2", sa.Integer, nullable=False),
        sa.Column("wait_sev3", sa.Integer, nullable=False),
        sa.Column("wait_sev4", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    for trigger in TRIGGERS:
        op.execute(trigger_sql(*trigger))


def downgrade() -> None:
    for name, *_rest in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("ack_policies")
    op.drop_table("sms_positions")
    op.drop_index("ix_inbound_sms_delivery_id", "inbound_sms")
    op.drop_index("ix_inbound_sms_incident", "inbound_sms")
    op.drop_table("inbound_sms")
    # SQLite's own DROP COLUMN (3.35+), not a batch rebuild: a rebuilt table would lose the
    # triggers on it
    for column in ("opted_out_reason", "opted_out_at"):
        op.drop_column("contact_points", column)
    op.drop_index("ix_deliveries_unacknowledged", "deliveries")
    for column in ("ack_text", "ack_via", "acknowledged_at", "ack_requested"):
        op.drop_column("deliveries", column)
