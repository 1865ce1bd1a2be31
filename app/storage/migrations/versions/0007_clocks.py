"""Incident clocks: per-client update cadence, the escalation rule table (seeded with the
defaults), the incident's regulatory figures (affected individuals, largest number of residents
of one state), and the one-state regime flags replacing the generic "US state laws".

Revision ID: 0007
Revises: 0006
"""
import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

US_STATES = ["us_co", "us_fl", "us_tx", "us_wa"]


def _default_rules() -> list[dict]:
    from app.paths import resources_dir

    path = Path(resources_dir()) / "escalation" / "defaults.json"
    return json.loads(path.read_text(encoding="utf-8"))["rules"]


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("affected_individuals", sa.Integer, nullable=True))
        batch.add_column(sa.Column("max_state_residents", sa.Integer, nullable=True))

    op.create_table(
        "cadence_policies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("acknowledge_minutes", sa.Integer, nullable=False),
        sa.Column("investigating_minutes", sa.Integer, nullable=False),
        sa.Column("responding_minutes", sa.Integer, nullable=False),
        sa.Column("resolution_minutes", sa.Integer, nullable=False),
        sa.Column("summary_hours", sa.Integer, nullable=False),
        sa.UniqueConstraint("client_id", "severity", name="uq_cadence_client_severity"),
    )
    rules = op.create_table(
        "escalation_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.UniqueConstraint("key", name="uq_escalation_rules_key"),
    )
    op.bulk_insert(rules, [{"key": d["key"], "position": n, "definition": d}
                           for n, d in enumerate(_default_rules())])

    # "US state laws" meant no state in particular: keep every state clock rather than drop one.
    conn = op.get_bind()
    for row in conn.execute(sa.text("SELECT id, regimes FROM clients")).fetchall():
        regimes = json.loads(row.regimes or "[]")
        if "us_state" in regimes:
            regimes = [r for r in regimes if r != "us_state"]
            regimes += [s for s in US_STATES if s not in regimes]
            conn.execute(sa.text("UPDATE clients SET regimes = :r WHERE id = :id"),
                         {"r": json.dumps(regimes), "id": row.id})


def downgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.text("SELECT id, regimes FROM clients")).fetchall():
        regimes = json.loads(row.regimes or "[]")
        if any(s in regimes for s in US_STATES):
            regimes = [r for r in regimes if r not in US_STATES] + ["us_state"]
        regimes = [r for r in regimes if r != "nydfs"]
        conn.execute(sa.text("UPDATE clients SET regimes = :r WHERE id = :id"),
                     {"r": json.dumps(regimes), "id": row.id})
    op.drop_table("escalation_rules")
    op.drop_table("cadence_policies")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("max_state_residents")
        batch.drop_column("affected_individuals")
