"""What the sending account's mailbox says after "sent" (issue 24): a delivery can become
`bounced` (no schema change: states are plain text) with when and why, and records an automatic
answer (out of office); `inbound_mail` keeps each bounce, automatic answer and reply read from
the mailbox with the delivery and incident it answers, unique by (account, folder, UIDVALIDITY,
UID) so nothing is recorded twice; `mailbox_positions` is how far each folder was read. The
rows of inbound_mail bump the incident's change counter (a bounced regulator notice is due
again), by triggers here in a frozen copy (app/storage/triggers.py CHANGE_TRIGGERS: the
clock_change_inbound_* ones). ADD COLUMN and new tables only: no table is rebuilt.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BUMP = "UPDATE incidents SET change_seq = change_seq + 1 WHERE "

# (name, event, body)
TRIGGERS = [
    ("clock_change_inbound_insert", "INSERT", _BUMP + "id = NEW.incident_id"),
    ("clock_change_inbound_update", "UPDATE",
     _BUMP + "id = NEW.incident_id; " + _BUMP
     + "OLD.incident_id IS NOT NEW.incident_id AND id = OLD.incident_id"),
    ("clock_change_inbound_delete", "DELETE", _BUMP + "id = OLD.incident_id"),
]


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("bounced_at", sa.DateTime, nullable=True))
    op.add_column("deliveries", sa.Column("bounce_reason", sa.Text, nullable=False,
                                          server_default=""))
    op.add_column("deliveries", sa.Column("auto_reply_at", sa.DateTime, nullable=True))
    op.add_column("deliveries", sa.Column("auto_reply_text", sa.Text, nullable=False,
                                          server_default=""))
    op.create_index("ix_deliveries_email_message_id", "deliveries", ["email_message_id"])
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer,
                  sa.ForeignKey("channel_accounts.id", ondelete="SET NULL"), nullable=True),
        sa.Column("folder", sa.String(200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("delivery_id", sa.Integer,
                  sa.ForeignKey("deliveries.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("header_message_id", sa.String(250), nullable=False, server_default=""),
        sa.Column("from_address", sa.String(320), nullable=False, server_default=""),
        sa.Column("from_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("handled_at", sa.DateTime, nullable=True),
        sa.Column("handled_by", sa.String(200), nullable=False, server_default=""),
        sa.UniqueConstraint("account_id", "folder", "uidvalidity", "uid",
                            name="uq_inbound_mail_position"),
    )
    op.create_index("ix_inbound_mail_incident", "inbound_mail",
                    ["incident_id", "kind", "received_at"])
    op.create_index("ix_inbound_mail_delivery_id", "inbound_mail", ["delivery_id"])
    op.create_table(
        "mailbox_positions",
        sa.Column("account_id", sa.Integer,
                  sa.ForeignKey("channel_accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("folder", sa.String(200), primary_key=True),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_uid", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("checked_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    for name, event, body in TRIGGERS:
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON inbound_mail "
                   f"BEGIN {body}; END")


def downgrade() -> None:
    for name, _event, _body in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("mailbox_positions")
    op.drop_index("ix_inbound_mail_delivery_id", "inbound_mail")
    op.drop_index("ix_inbound_mail_incident", "inbound_mail")
    op.drop_table("inbound_mail")
    op.drop_index("ix_deliveries_email_message_id", "deliveries")
    # SQLite's own DROP COLUMN (3.35+), not a batch rebuild: a rebuilt deliveries table would
    # lose migration 0015's triggers on it
    for column in ("auto_reply_text", "auto_reply_at", "bounce_reason", "bounced_at"):
        op.drop_column("deliveries", column)
