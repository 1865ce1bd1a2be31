"""How long after a fact changes the update is due (issue 17): a per-client, per-severity cadence
setting, `fact_update_minutes` (default 10). Before, "Update after a fact change" fell due the
moment a fact was saved, so it showed overdue one second later. Customised policies get the
default; the built-in ones come from resources/cadence/defaults.json.
ADD COLUMN only: cadence_policies is not rebuilt.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cadence_policies", sa.Column("fact_update_minutes", sa.Integer,
                                                nullable=False, server_default="10"))


def downgrade() -> None:
    with op.batch_alter_table("cadence_policies") as batch:
        batch.drop_column("fact_update_minutes")
