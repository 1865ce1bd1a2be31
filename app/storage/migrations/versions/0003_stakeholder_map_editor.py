"""The stakeholder map editor: client SLA and regimes, preferred channel, responsibility
matrix, groups (distribution lists) and their members.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("notification_sla_minutes", sa.Integer, nullable=True))
        batch.add_column(sa.Column("regimes", sa.JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("stakeholders") as batch:
        batch.add_column(sa.Column("preferred_channel", sa.String(32), nullable=True))
    op.create_table(
        "responsibilities",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Integer,
                  sa.ForeignKey("clients.id", ondelete="CASCADE",
                                name="fk_responsibilities_client"), nullable=False),
        sa.Column("scenario", sa.String(32), nullable=False),
        sa.Column("communicator", sa.String(32), nullable=False),
        sa.Column("audience", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("client_id", "scenario", name="uq_responsibility_scenario"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Integer,
                  sa.ForeignKey("clients.id", ondelete="CASCADE", name="fk_groups_client"),
                  nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("client_id", "name", name="uq_groups_client_name"),
    )
    op.create_index("ix_groups_client_id", "groups", ["client_id"])
    op.create_table(
        "group_members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_id", sa.Integer,
                  sa.ForeignKey("groups.id", ondelete="CASCADE", name="fk_group_members_group"),
                  nullable=False),
        sa.Column("stakeholder_id", sa.Integer,
                  sa.ForeignKey("stakeholders.id", ondelete="CASCADE",
                                name="fk_group_members_stakeholder"), nullable=True),
        sa.Column("member_group_id", sa.Integer,
                  sa.ForeignKey("groups.id", ondelete="CASCADE",
                                name="fk_group_members_member_group"), nullable=True),
        sa.CheckConstraint("(stakeholder_id IS NULL) != (member_group_id IS NULL)",
                           name="ck_group_member_one_kind"),
        sa.UniqueConstraint("group_id", "stakeholder_id", name="uq_group_member_stakeholder"),
        sa.UniqueConstraint("group_id", "member_group_id", name="uq_group_member_group"),
    )
    op.create_index("ix_group_members_group_id", "group_members", ["group_id"])


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("responsibilities")
    with op.batch_alter_table("stakeholders") as batch:
        batch.drop_column("preferred_channel")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("regimes")
        batch.drop_column("notification_sla_minutes")
