"""Storage: the SQLite engine and its pragmas, sessions, Alembic migrations, backups."""

from app.storage.engine import Store, make_engine

__all__ = ["Store", "make_engine"]
