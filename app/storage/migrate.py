"""Apply Alembic migrations safely on SQLite (DESIGN.md "Alembic + SQLite"):

1. back the database up first with SQLite's backup API (never a file copy of a live WAL file);
2. turn foreign keys OFF on the raw DBAPI connection before any transaction begins — with them on,
   a batch alter of a parent table silently deletes child rows through ON DELETE CASCADE;
3. run the whole upgrade in one transaction on that connection and commit it ourselves (Alembic
   does not commit a transaction it did not start);
4. check `PRAGMA foreign_key_check` and the timeline triggers, then turn foreign keys back on.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, text

from app.errors import ClarionError
from app.storage.private import create_private_file, private_dir
from app.storage.triggers import CHAIN_TRIGGERS, CHANGE_TRIGGERS, TIMELINE_TRIGGERS

# The newest revision in app/storage/migrations/versions. A unit test checks it against
# Alembic's script directory; knowing it lets start-up skip importing Alembic when up to date.
HEAD_REVISION = "0017"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class MigrationError(ClarionError):
    pass


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        has_table = conn.execute(text(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        )).first()
        if not has_table:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def alembic_config(connection=None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def backup_database(db_path: Path, backup_dir: Path, tag: str) -> Path:
    """Copy a (possibly live, WAL) database consistently with sqlite3's backup API, into a new
    0600 file (created before SQLite opens it) in an owner-only folder."""
    private_dir(backup_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = backup_dir / f"{db_path.stem}-{stamp}-{tag}.db"
    n = 1
    while not create_private_file(target):
        n += 1
        target = backup_dir / f"{db_path.stem}-{stamp}-{tag}-{n}.db"
    try:
        src = sqlite3.connect(db_path)
        try:
            dst = sqlite3.connect(target)
            try:
                with dst:
                    src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except BaseException:
        target.unlink(missing_ok=True)   # no empty or partial file posing as a backup
        raise
    return target


def upgrade_to_head(engine: Engine, db_path: Path, backup_dir: Path,
                    target: str = "head") -> Path | None:
    """Migrate to `target`. Returns the backup's path if one was taken."""
    revision = current_revision(engine)
    if target == "head" and revision == HEAD_REVISION:
        return None
    backup: Path | None = None
    if revision is not None and revision not in known_revisions():
        raise MigrationError(
            f"This database ({db_path}) was written by a newer version of Clarion "
            f"(schema revision {revision}); it was left untouched. Update Clarion to open it.")
    if revision is not None:
        backup = backup_database(db_path, backup_dir, f"before-upgrade-from-{revision}")

    from alembic import command

    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        # Must precede BEGIN: inside a transaction SQLite ignores this pragma.
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            command.upgrade(alembic_config(conn), target)
            conn.commit()
            problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            conn.rollback()
            if problems:
                raise MigrationError(
                    f"the migrated database has {len(problems)} broken references "
                    f"(first: {problems[0]}); the backup is at {backup}")
            if target == "head":
                missing = missing_triggers(conn)
                conn.rollback()
                if missing:
                    raise MigrationError(f"triggers missing after migration: {missing}")
        except Exception:
            conn.rollback()
            raise
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
    return backup


def missing_triggers(conn) -> list[str]:  # type: ignore[no-untyped-def]
    present = {row[0] for row in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()}
    return sorted((set(TIMELINE_TRIGGERS) | set(CHAIN_TRIGGERS) | set(CHANGE_TRIGGERS))
                  - present)
