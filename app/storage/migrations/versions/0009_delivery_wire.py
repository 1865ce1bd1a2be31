"""What went on the wire: each delivery's complete outgoing content (an email's MIME bytes, an
SMS's request form, a webhook's JSON payload), built and stored when the delivery is claimed for
its first attempt; retries and resends send exactly these bytes.

NULL: not built yet (never attempted). An empty value marks a delivery attempted before this
version: its texts are kept, its bytes never were ("not kept (sent before this version)").
ADD COLUMN only: deliveries is not rebuilt.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("wire", sa.LargeBinary, nullable=True))
    op.execute("UPDATE deliveries SET wire = X'' WHERE attempts > 0 "
               "OR state IN ('sending', 'sent', 'failed', 'unknown')")


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("wire")
