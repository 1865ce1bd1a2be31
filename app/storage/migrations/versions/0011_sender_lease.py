"""The sender lease: one sender at a time per database (the window's runner or `clarion outbox
flush`), with its holder, process, heartbeat and an epoch that grows at every taking. Claims and
outcome writes check the epoch, so a sender that lost its lease never records over its
successor (app/sending/lease.py).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sender_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("host", sa.String(200), nullable=False, server_default=""),
        sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("taken_at", sa.DateTime, nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sender_lease")
