"""A tamper-evident timeline (issue 21): each entry's SHA-256 over a canonical encoding of its
content and the previous entry's hash, per incident in sequence order, in `timeline_hashes`
(append-only by trigger); `timeline_checked` remembers how far each chain was verified.

Existing entries are chained in id order (the order a single desk appended them), hashed with a
frozen copy of encoding version 1 below: a migration never imports code that may change later.
The result must equal app/domain/chain.py's version 1 (tests/unit/test_chain.py checks it).
New tables only: timeline_entries and its triggers are untouched.

Revision ID: 0014
Revises: 0013
"""
import hashlib
import json
import math
from datetime import timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 2000


def _number(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        value = float(value)
    if not math.isfinite(value):
        return repr(value)
    if value == int(value):
        return int(Decimal(repr(value)))   # the integer its shortest form names (JSONB's)
    return value


def _normal(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return _number(value)
    if isinstance(value, dict):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    return value


def _canonical(value):
    stored = json.loads(json.dumps(_normal(value), default=str))
    return json.dumps(_normal(stored), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=True)


def _utc(at):
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hash_v1(incident_id, entry_id, seq, at, kind, actor, coordinator_id, summary, data,
            previous):
    fields = ["clarion-timeline", 1, incident_id, entry_id, seq, _utc(at), kind, actor or "",
              coordinator_id, summary or "",
              json.loads(_canonical(data if data is not None else {})), previous]
    return hashlib.sha256(_canonical(fields).encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    op.create_table(
        "timeline_hashes",
        sa.Column("entry_id", sa.Integer,
                  sa.ForeignKey("timeline_entries.id", ondelete="RESTRICT"), primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("incident_id", "seq", name="uq_timeline_hashes_seq"),
    )
    op.create_table(
        "timeline_checked",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("checked_at", sa.DateTime, nullable=False),
    )
    bind = op.get_bind()
    entries = sa.table("timeline_entries", sa.column("id", sa.Integer),
                       sa.column("incident_id", sa.Integer), sa.column("at", sa.DateTime),
                       sa.column("kind", sa.String), sa.column("actor", sa.String),
                       sa.column("coordinator_id", sa.Integer), sa.column("summary", sa.Text),
                       sa.column("data", sa.JSON))
    hashes = sa.table("timeline_hashes", sa.column("entry_id", sa.Integer),
                      sa.column("incident_id", sa.Integer), sa.column("seq", sa.Integer),
                      sa.column("hash", sa.String), sa.column("version", sa.Integer))
    heads: dict[int, tuple[int, str]] = {}
    last = 0
    while True:     # in pages by id: a long record is never read whole into memory
        page = bind.execute(sa.select(entries).where(entries.c.id > last)
                            .order_by(entries.c.id).limit(BATCH)).fetchall()
        if not page:
            break
        rows = []
        for e in page:
            seq, previous = heads.get(e.incident_id, (0, GENESIS))
            seq += 1
            digest = hash_v1(e.incident_id, e.id, seq, e.at, e.kind, e.actor, e.coordinator_id,
                             e.summary, e.data, previous)
            heads[e.incident_id] = (seq, digest)
            rows.append({"entry_id": e.id, "incident_id": e.incident_id, "seq": seq,
                         "hash": digest, "version": 1})
        bind.execute(hashes.insert(), rows)
        last = page[-1].id
    for name, event in (("timeline_hashes_no_update", "UPDATE"),
                        ("timeline_hashes_no_delete", "DELETE")):
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON timeline_hashes "
                   "BEGIN SELECT RAISE(ABORT, 'timeline hashes are append-only'); END")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS timeline_hashes_no_update")
    op.execute("DROP TRIGGER IF EXISTS timeline_hashes_no_delete")
    op.drop_table("timeline_checked")
    op.drop_table("timeline_hashes")
