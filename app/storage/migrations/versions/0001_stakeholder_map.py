"""Clients, stakeholders and their contact points.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_msp", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", name="uq_clients_name"),
    )
    op.create_table(
        "stakeholders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Integer,
                  sa.ForeignKey("clients.id", ondelete="CASCADE", name="fk_stakeholders_client"),
                  nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(200), nullable=False, server_default=""),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("information_need", sa.Text, nullable=False, server_default=""),
        sa.Column("timing_need", sa.String(32), nullable=False),
        sa.Column("detail_level", sa.String(32), nullable=False),
        sa.Column("max_silence_minutes", sa.Integer, nullable=True),
        sa.Column("notes", sa.Text, nullable=False, server_default=""),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_index("ix_stakeholders_client_id", "stakeholders", ["client_id"])
    op.create_table(
        "contact_points",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("stakeholder_id", sa.Integer,
                  sa.ForeignKey("stakeholders.id", ondelete="CASCADE",
                                name="fk_contact_points_stakeholder"),
                  nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="1"),
        sa.Column("label", sa.String(100), nullable=False, server_default=""),
    )
    op.create_index("ix_contact_points_stakeholder_id", "contact_points", ["stakeholder_id"])


def downgrade() -> None:
    op.drop_table("contact_points")
    op.drop_table("stakeholders")
    op.drop_table("clients")
