"""Storage: the SQLite engine and its pragmas, sessions, Alembic migrations, backups."""

from app.storage.engine import Store, make_engine
from app.storage.space import StorageUnavailable, storage_problem

__all__ = ["StorageUnavailable", "Store", "make_engine", "storage_problem"]
