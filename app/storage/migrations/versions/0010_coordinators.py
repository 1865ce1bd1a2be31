"""Coordinators: the people who work at a desk, as rows (name, email, phone, role note,
active), and the coordinator who wrote each new timeline entry.

timeline_entries gets a nullable coordinator_id by ADD COLUMN only: the append-only table is
not rebuilt and none of its rows change. Entries written before this version have none; so
that the record can say so (rather than guess), record_meta keeps the first entry id written
under this version: "coordinators_from_entry".

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

from app.storage.triggers import create_timeline_triggers

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # AUTOINCREMENT: an id is never reused, so an entry never points at someone else
    op.create_table(
        "coordinators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, server_default=""),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("role_note", sa.String(200), nullable=False, server_default=""),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_coordinators_name", "coordinators", ["name"])
    # Alembic would ALTER the constraint separately, which SQLite cannot: one ADD COLUMN
    op.execute("ALTER TABLE timeline_entries ADD COLUMN coordinator_id INTEGER "
               "REFERENCES coordinators (id) ON DELETE RESTRICT")
    op.create_table(
        "record_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.execute("INSERT INTO record_meta (key, value) SELECT 'coordinators_from_entry', "
               "CAST(COALESCE(MAX(id), 0) + 1 AS TEXT) FROM timeline_entries")


def downgrade() -> None:
    op.drop_table("record_meta")
    with op.batch_alter_table("timeline_entries") as batch:
        batch.drop_column("coordinator_id")
    create_timeline_triggers(op.execute)   # the rebuilt table lost them
    op.drop_index("ix_coordinators_name", "coordinators")
    op.drop_table("coordinators")
