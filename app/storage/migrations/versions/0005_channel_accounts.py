"""Sending: channel accounts (their secrets live in the keyring), and per delivery the account
that carried it and when it was sent.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paused_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", name="uq_channel_accounts_name"),
    )
    # deliveries is a child of messages only; adding nullable columns needs no table rebuild
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime, nullable=True))
        batch.create_foreign_key("fk_deliveries_account", "channel_accounts", ["account_id"],
                                 ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("fk_deliveries_account", type_="foreignkey")
        batch.drop_column("sent_at")
        batch.drop_column("account_id")
    op.drop_table("channel_accounts")
