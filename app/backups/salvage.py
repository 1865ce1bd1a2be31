"""Salvaging what can still be read from a damaged database into a side file before a restore
replaces it: `<db>.salvaged-<UTC time>.db` beside it (`-2`, `-3` when taken), owner-only,
written whole or not at all.

Two ways, the first that works: the sqlite3 shell's `.recover` where the shell is installed
and its `.recover` works (it reads every page it can, even of a table whose b-tree is broken,
and puts rows it cannot place in `lost_and_found`); its SQL is loaded statement by statement,
skipping one that fails. A shell that exits non-zero (Debian 12's has no `sqlite_dbpage`, so
its `.recover` always fails after a little output) or that outlasts SHELL_TIMEOUT_S gives way
to the second: table by table, each table created from its own CREATE statement and its rows
copied in rowid order; where a damaged page stops the read, the copy steps past the rowids
that page held (found by bisecting which `rowid > ?` reads start) and goes on, so rows before
and after it are kept; a row whose own content is unreadable is skipped. Text that is not
UTF-8 is kept with U+FFFD in its place. The table-by-table copy creates the indexes after the
rows and no triggers or views: the side file is evidence to read, nothing writes to it.
`.recover`'s output is loaded as it comes (its triggers included).

The damaged file is only ever read: opened `mode=ro`, and `immutable=1` when no WAL with
content lies beside it, so neither this module nor the shell writes to it or leaves a -wal or
-shm beside it (a WAL with content is read too; SQLite may then add the -shm it needs). Damage
is never raised: salvage() returns what it managed."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from app.config import create_private_file, private_dir
from app.errors import ClarionError
from app.storage.files import replacing

__all__ = ["RECOVER", "SHELL_TIMEOUT_S", "TABLE_BY_TABLE", "Salvaged", "read_only_uri",
           "salvage", "salvage_name"]

log = logging.getLogger(__name__)

RECOVER = "sqlite3 .recover"
TABLE_BY_TABLE = "table by table"
SHELL_TIMEOUT_S = 300.0          # the shell's .recover, start to end
_MIN_ROWID, _MAX_ROWID = -(2 ** 63), 2 ** 63 - 1
_NAMED = 3                       # the biggest tables the summary names


@dataclass(frozen=True)
class Salvaged:
    path: Path | None            # the side file; None when nothing could be read (none written)
    method: str                  # RECOVER or TABLE_BY_TABLE (the last one tried when nothing)
    tables: dict[str, int]       # rows per table, counted in the side file
    failed: tuple[str, ...] = ()     # tables that could not be read at all
    partial: tuple[str, ...] = ()    # tables read in part: rows were lost to the damage
    source: Path | None = None       # the damaged database
    note: str = ""                   # why the shell was not used, or why nothing was read

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def summary(self) -> str:
        """One sentence: how many rows of which tables went where, and what could not be read."""
        if self.path is None:
            what = f" from {self.source}" if self.source is not None else ""
            return f"Nothing could be salvaged{what}: {self.note or 'it cannot be read'}."
        biggest = sorted((n for n in self.tables.items() if n[1]), key=lambda n: (-n[1], n[0]))
        named = ", ".join(f"{name}: {rows:,}" for name, rows in biggest[:_NAMED])
        if len(biggest) > _NAMED:
            named += f", {len(biggest) - _NAMED} more"
        how = "with sqlite3 .recover" if self.method == RECOVER else "table by table"
        line = (f"Salvaged {self.rows:,} row{'s' * (self.rows != 1)} of {len(self.tables)} "
                f"table{'s' * (len(self.tables) != 1)}{f' ({named})' if named else ''} into "
                f"{self.path} ({how})")
        if self.partial:
            line += f"; rows of {_names(self.partial)} were lost to the damage"
        if self.failed:
            n = len(self.failed)
            line += f"; {n} table{'s' * (n != 1)} could not be read: {_names(self.failed)}"
        return line + "."


def _names(names: Iterable[str], most: int = 5) -> str:
    names = list(names)
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def read_only_uri(db_path: Path) -> str:
    """The URI that reads `db_path` without writing anything: `mode=ro`, and `immutable=1`
    (no locks, no -wal or -shm created) unless a WAL with content is beside it, whose
    committed changes are then read too."""
    db_path = Path(db_path).resolve()
    wal = db_path.with_name(db_path.name + "-wal")
    try:
        wal_has_content = wal.stat().st_size > 0
    except OSError:
        wal_has_content = False
    return f"{db_path.as_uri()}?mode=ro" + ("" if wal_has_content else "&immutable=1")


def salvage_name(db_path: Path, now: datetime) -> str:
    return f"{Path(db_path).name}.salvaged-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"


def _reserve(folder: Path, db_path: Path, now: datetime) -> Path:
    """Create the side file's name empty and 0600 (`-2`, `-3`… when taken) and return it."""
    base = salvage_name(db_path, now)[:-3]
    n = 1
    while True:
        path = folder / (f"{base}-{n}.db" if n > 1 else f"{base}.db")
        if create_private_file(path):
            return path
        n += 1


def salvage(damaged: Path, target_dir: Path | None = None, now: datetime | None = None,
            shell: str | None = "auto") -> Salvaged | None:
    """Salvage what can be read from the database at `damaged` into a side file in
    `target_dir` (default: its own folder), named by `now` (default: the present). `shell`:
    "auto" uses the sqlite3 shell found on PATH, None never uses a shell, anything else is the
    shell's path. Returns None only when there is no file at `damaged`; a Salvaged with `path`
    None when nothing could be read (its `note` says why; no side file is left). Never raises
    for damage, and never writes to `damaged`."""
    damaged = Path(damaged)
    if not damaged.is_file():
        return None
    folder = Path(target_dir) if target_dir is not None else damaged.parent
    now = now or datetime.now(UTC)
    if shell == "auto":
        shell = shutil.which("sqlite3")
    uri = read_only_uri(damaged)
    try:
        private_dir(folder, tighten_existing=False)
        target = _reserve(folder, damaged, now)
    except OSError as exc:
        return Salvaged(None, TABLE_BY_TABLE, {}, source=damaged,
                        note=f"cannot write in {folder}: {exc.strerror or exc}")
    notes: list[str] = []
    attempts = ([(RECOVER, shell)] if shell else []) + [(TABLE_BY_TABLE, None)]
    result: Salvaged | None = None
    for method, program in attempts:
        try:
            result = _attempt(method, program, uri, damaged, target, notes)
        except (sqlite3.Error, OSError, ClarionError, subprocess.SubprocessError) as exc:
            notes.append(f"{method} failed ({exc})")
            result = None
        if result is not None:
            break
    if result is None:
        target.unlink(missing_ok=True)
        return Salvaged(None, attempts[-1][0], {}, source=damaged,
                        note="; ".join(notes) or "it cannot be read")
    return result


def _attempt(method: str, program: str | None, uri: str, damaged: Path, target: Path,
             notes: list[str]) -> Salvaged | None:
    """One method into a temporary file, renamed over `target` if it gave at least one table;
    else None, with a line in `notes` saying why (and `target` left as reserved)."""
    outcome: tuple[dict[str, int], tuple[str, ...], tuple[str, ...]] | None = None
    try:
        with replacing(target) as tmp:
            out = _open_target(tmp)
            try:
                failed: tuple[str, ...] = ()
                partial: tuple[str, ...] = ()
                if method == RECOVER:
                    ok = _by_shell(str(program), uri, out, target.parent, notes)
                else:
                    ok, failed, partial = _table_by_table(uri, out, notes)
                if ok:
                    tables = _count(out)
                    check = out.execute("PRAGMA quick_check(1)").fetchone()[0]
                    if not tables:
                        notes.append(f"{method} found no table")
                    elif check != "ok":
                        notes.append(f"{method} gave a file that fails its check ({check})")
                    else:
                        outcome = (tables, failed, partial)
            finally:
                out.close()
            if outcome is None:
                raise _Discard()
    except _Discard:
        return None
    tables, failed, partial = outcome
    return Salvaged(target, method, tables, failed, partial, damaged, "; ".join(notes))


class _Discard(Exception):
    """This method gave nothing: its temporary file goes."""


def _open_target(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=MEMORY")   # no -journal beside it; rollback still works
    conn.execute("PRAGMA synchronous=OFF")       # replacing() syncs the whole file at the end
    conn.set_authorizer(_no_attach)
    return conn


def _no_attach(action: int, *_args: object) -> int:
    """SQL read from a damaged file never reaches another file."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _count(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\' ORDER BY name")]
    return {name: conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
            for name in names}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---------------------------------------------------------------- the shell's .recover

def _by_shell(program: str, uri: str, out: sqlite3.Connection, folder: Path,
              notes: list[str]) -> bool:
    """Run `program URI .recover` into an unnamed temporary file (nothing else reads its
    output), then load it; False (a line in `notes`) when the shell failed or timed out."""
    with tempfile.TemporaryFile(dir=folder) as sql, tempfile.TemporaryFile(dir=folder) as err:
        try:
            done = subprocess.run([program, "-init", os.devnull, uri, ".recover"],
                                  stdin=subprocess.DEVNULL, stdout=sql, stderr=err,
                                  timeout=SHELL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            notes.append(f"sqlite3 .recover did not finish within {SHELL_TIMEOUT_S:.0f} s")
            return False
        except OSError as exc:
            notes.append(f"sqlite3 could not be run ({exc.strerror or exc})")
            return False
        if done.returncode != 0:
            err.seek(max(0, err.seek(0, os.SEEK_END) - 2000))   # its last words
            said = err.read().decode("utf-8", "replace").strip().splitlines()
            notes.append(f"sqlite3 .recover failed (exit {done.returncode}"
                         + (f": {said[-1].strip()}" if said else "") + ")")
            return False
        sql.seek(0)
        skipped = _load(_statements(sql), out)
    if skipped:
        log.info("salvage: %d statements of .recover's output could not be loaded", skipped)
    return True


def _statements(sql: IO[bytes]) -> Iterator[str]:
    """The statements of a SQL text, one at a time (a statement ends with `;` at the end of a
    line; quoted text with newlines or `;` inside does not end one)."""
    lines: list[str] = []
    for raw in sql:
        line = raw.decode("utf-8", "replace")
        lines.append(line)
        if line.rstrip().endswith(";"):
            text = "".join(lines)
            if sqlite3.complete_statement(text):
                yield text
                lines = []
    if lines and "".join(lines).strip():
        yield "".join(lines)


def _load(statements: Iterable[str], out: sqlite3.Connection) -> int:
    """Execute each statement, skipping one that fails; returns how many failed."""
    failed = 0
    for statement in statements:
        try:
            out.execute(statement)
        except (sqlite3.Warning, sqlite3.ProgrammingError) as exc:
            if "one statement at a time" not in str(exc):
                failed += 1
                continue
            try:                   # more than one on a line: run them as a script
                out.executescript(statement)
            except sqlite3.Error:
                failed += 1
        except sqlite3.Error:
            failed += 1
    if out.in_transaction:
        out.execute("COMMIT")
    return failed


# ---------------------------------------------------------------- table by table

def _table_by_table(uri: str, out: sqlite3.Connection, notes: list[str]
                    ) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    """Copy each table; (read the list of tables, tables not read at all, tables read in
    part). The list of tables unreadable: (False, (), ()) and a line in `notes`."""
    try:
        src = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        notes.append(f"it cannot be opened ({exc})")
        return False, (), ()
    try:
        src.text_factory = lambda b: b.decode("utf-8", "replace")
        # a garbled CREATE statement in the list of tables then costs that table, not all
        # of them (a connection flag: the file is still only read)
        src.execute("PRAGMA writable_schema=ON")
        try:
            schema = src.execute("SELECT type, name, sql FROM sqlite_master "
                                 "WHERE sql IS NOT NULL").fetchall()
        except sqlite3.DatabaseError as exc:
            notes.append(f"its list of tables cannot be read ({exc})")
            return False, (), ()
        failed: list[str] = []
        partial: list[str] = []
        out.execute("BEGIN")
        for kind, name, sql in schema:
            if kind != "table" or name.startswith("sqlite_"):
                continue
            try:
                out.execute(sql)
            except sqlite3.Error:
                failed.append(name)   # a virtual table, or a statement the damage garbled
                continue
            copied, lost = _copy_table(src, out, name)
            if lost and not copied:
                failed.append(name)
            elif lost:
                partial.append(name)
        for kind, _name, sql in schema:
            if kind == "index":
                try:
                    out.execute(sql)
                except sqlite3.Error:
                    pass   # the rows are what matters; an index that will not build is left out
        out.execute("COMMIT")
    finally:
        src.close()
    return True, tuple(failed), tuple(partial)


def _copy_table(src: sqlite3.Connection, out: sqlite3.Connection, table: str
                ) -> tuple[int, bool]:
    """Copy the rows of `table` in rowid order, stepping past what cannot be read. Returns
    (rows copied, whether any could not be read)."""
    t = _q(table)
    try:
        columns = [c[0] for c in src.execute(f"SELECT * FROM {t} LIMIT 0").description]
    except sqlite3.Error:
        return 0, True
    names = ", ".join(_q(c) for c in columns)
    try:
        src.execute(f"SELECT rowid FROM {t} LIMIT 0")
    except sqlite3.Error:   # WITHOUT ROWID: no rowid ranges to step by
        return _copy_whole(src, out, t, f"INSERT INTO {t} ({names}) VALUES "
                           f"({', '.join('?' * len(columns))})")
    insert = f"INSERT INTO {t} (rowid, {names}) VALUES ({', '.join('?' * (len(columns) + 1))})"
    copied, lost = 0, False
    after: int | None = None    # the last rowid read or stepped past; None: from the start
    while True:
        where, args = ("", ()) if after is None else (" WHERE rowid > ?", (after,))
        try:
            for row in src.execute(f"SELECT rowid, * FROM {t}{where} ORDER BY rowid", args):
                after = row[0]
                copied += _insert(out, insert, row)
            return copied, lost
        except sqlite3.DatabaseError:
            lost = True
        step = _step_past(src, t, after)
        if step is None:
            return copied, lost
        after, row = step
        if row is not None:
            copied += _insert(out, insert, row)


def _insert(out: sqlite3.Connection, insert: str, row: tuple[object, ...]) -> int:
    try:
        out.execute(insert, row)
        return 1
    except sqlite3.Error:   # a value the damage changed breaks a constraint: the row is lost
        return 0


def _step_past(src: sqlite3.Connection, t: str, after: int | None
               ) -> tuple[int, tuple[object, ...] | None] | None:
    """After a read of `t` that failed past rowid `after` (None: from the start): the rowid
    to go on after, with the next row if it could be read by itself; None when nothing
    readable is left. The next rowid readable but not its row (its content damaged): that
    row is skipped. Not even the next rowid (its page damaged): bisect for the smallest x
    whose `rowid >= x` read starts, which is just past that page's rowids (a read of
    `rowid > x` looks for x first, on the damaged page, so it would lose the next row)."""
    def first_from(x: int | None) -> int | None:
        where, args = ("", ()) if x is None else (" WHERE rowid >= ?", (x,))
        row = src.execute(f"SELECT rowid FROM {t}{where} ORDER BY rowid LIMIT 1",
                          args).fetchone()
        return None if row is None else row[0]

    if after is not None and after >= _MAX_ROWID:
        return None
    start = None if after is None else after + 1
    try:
        nxt = first_from(start)
    except sqlite3.DatabaseError:
        found = _bisect(first_from, _MIN_ROWID if start is None else start)
        return None if found is None else (found - 1, None)
    if nxt is None:
        return None
    try:
        return nxt, src.execute(f"SELECT rowid, * FROM {t} WHERE rowid = ?", (nxt,)).fetchone()
    except sqlite3.DatabaseError:
        return nxt, None


def _bisect(first_from: Callable[[int], object], bad: int) -> int | None:
    """`first_from(bad)` fails: the smallest x > bad for which it does not, found by doubling
    steps then halving; None when it fails up to the largest rowid."""
    step = 1
    while True:
        x = min(bad + step, _MAX_ROWID)
        try:
            first_from(x)
            good = x
            break
        except sqlite3.DatabaseError:
            if x == _MAX_ROWID:
                return None
            bad, step = x, step * 2
    while good - bad > 1:
        mid = (bad + good) // 2
        try:
            first_from(mid)
            good = mid
        except sqlite3.DatabaseError:
            bad = mid
    return good


def _copy_whole(src: sqlite3.Connection, out: sqlite3.Connection, t: str, insert: str
                ) -> tuple[int, bool]:
    copied = 0
    try:
        for row in src.execute(f"SELECT * FROM {t}"):
            copied += _insert(out, insert, row)
    except sqlite3.DatabaseError:
        return copied, True
    return copied, False
