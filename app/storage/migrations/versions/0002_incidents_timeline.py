"""Incidents and their append-only timeline; clients gain a time zone and a phone region.

The clients change needs a CHECK constraint, which SQLite cannot add in place: batch mode
recreates the table. That is exactly the case where foreign keys must be off (migrate.py),
or every stakeholder row would be deleted through ON DELETE CASCADE.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from app.storage.triggers import create_timeline_triggers

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", recreate="always") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=False,
                                   server_default="UTC"))
        batch.add_column(sa.Column("default_region", sa.String(2), nullable=False,
                                   server_default="US"))
        batch.create_check_constraint("ck_clients_region", "length(default_region) = 2")

    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Integer,
                  sa.ForeignKey("clients.id", ondelete="RESTRICT", name="fk_incidents_client"),
                  nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("severity", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("detected_at", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("is_drill", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("impact_business", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("impact_external", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("impact_regulatory", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status_text", sa.Text, nullable=False, server_default=""),
        sa.Column("impact_text", sa.Text, nullable=False, server_default=""),
        sa.Column("affected_services", sa.JSON, nullable=False),
        sa.Column("eta_at", sa.DateTime, nullable=True),
        sa.Column("eta_qualifier", sa.String(200), nullable=False, server_default=""),
        sa.Column("workaround", sa.Text, nullable=False, server_default=""),
        sa.Column("next_update_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_incidents_client_id", "incidents", ["client_id"])
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="RESTRICT",
                                name="fk_timeline_entries_incident"),
                  nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_timeline_incident_at", "timeline_entries", ["incident_id", "at"])
    create_timeline_triggers(op.execute)


def downgrade() -> None:
    op.drop_table("timeline_entries")
    op.drop_table("incidents")
    with op.batch_alter_table("clients", recreate="always") as batch:
        batch.drop_constraint("ck_clients_region", type_="check")
        batch.drop_column("default_region")
        batch.drop_column("time_zone")
