"""When a delivery's transmission started (issue 15): the outbox writes `started_at` — durably,
before the first byte of an attempt goes to the network — so that after a crash only the
deliveries that may have been on the wire become `unknown`; a claimed delivery never started
goes back to the queue. The claim of an attempt clears it.

Rows `sending` when this version is installed were interrupted by the old version, which
recorded no start: they are taken as started (the old rule: unknown).
ADD COLUMN only: deliveries is not rebuilt.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("started_at", sa.DateTime, nullable=True))
    op.execute("UPDATE deliveries SET started_at = updated_at WHERE state = 'sending'")
    # recover() looks for the few rows that have one; the rest are NULL and not indexed
    op.execute("CREATE INDEX ix_deliveries_started ON deliveries (started_at) "
               "WHERE started_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_deliveries_started")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("started_at")
