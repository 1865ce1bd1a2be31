"""Alembic environment. Clarion always passes the connection in (app/storage/migrate.py);
running `alembic` by hand is not supported: the foreign-key and backup steps live there."""

from alembic import context

from app.domain.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through app.storage.migrate.upgrade_to_head()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
