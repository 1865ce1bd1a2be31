"""Post-incident fields of an incident (resolution confirmation, impact summary, root cause,
lessons learned), its remediation plan, and stakeholder feedback.

The incidents columns are added with ALTER TABLE ADD COLUMN only (batch mode takes that path
when nothing else is asked of the table): incidents is not rebuilt, so the rows that reference
it with ON DELETE RESTRICT and the timeline's append-only triggers are left alone.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("resolution_confirmed_by", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("resolution_confirmed_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("impact_summary", sa.Text, nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("root_cause", sa.Text, nullable=False, server_default=""))
        # a literal default, not sa.true(): batch mode rebuilds the table for an expression
        batch.add_column(sa.Column("root_cause_under_investigation", sa.Boolean,
                                   nullable=False, server_default="1"))
        batch.add_column(sa.Column("lessons_learned", sa.Text, nullable=False,
                                   server_default=""))

    # AUTOINCREMENT: an id is never reused, so undoing a delete can put the row back under
    # its old id even after newer rows were added.
    op.create_table(
        "remediation_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="RESTRICT",
                                name="fk_remediation_items_incident"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, server_default=""),
        sa.Column("due_date", sa.Date, nullable=True),
        sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_remediation_items_incident_id", "remediation_items", ["incident_id"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer,
                  sa.ForeignKey("incidents.id", ondelete="RESTRICT",
                                name="fk_feedback_incident"), nullable=False),
        sa.Column("stakeholder_id", sa.Integer,
                  sa.ForeignKey("stakeholders.id", ondelete="SET NULL",
                                name="fk_feedback_stakeholder"), nullable=True),
        # kept when the stakeholder is deleted: the feedback still says who gave it
        sa.Column("stakeholder_name", sa.String(200), nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_feedback_rating"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_feedback_incident_id", "feedback", ["incident_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("remediation_items")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("lessons_learned")
        batch.drop_column("root_cause_under_investigation")
        batch.drop_column("root_cause")
        batch.drop_column("impact_summary")
        batch.drop_column("resolution_confirmed_at")
        batch.drop_column("resolution_confirmed_by")
