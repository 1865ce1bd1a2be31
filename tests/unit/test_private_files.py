"""Owner-only files (issue 20): a new data folder and every file Clarion writes in it are 0700
(folders) and 0600 (files) whatever the umask lets through, and what an older version, a copy or
a user left looser is tightened at the next start and said once in the log. Real files in
tmp_path; the tests run as root, so modes are read with os.stat, never by trying to read."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

import app.config
from app.config import AppConfig, create_private_file, private_dir, private_file
from app.logs import configure_logging
from app.storage.engine import Store
from app.storage.migrate import backup_database
from app.storage.private import tighten

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def umask_022():
    """The usual umask, which lets 0644 and 0755 through: the results do not depend on the
    runner's umask."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def tree(root: Path) -> tuple[list[Path], list[Path]]:
    """(folders, files) under and including root, never through a symlink."""
    folders, files = [root], []
    for dirpath, dirnames, filenames in os.walk(root):
        folders += [Path(dirpath) / d for d in dirnames]
        files += [Path(dirpath) / f for f in filenames]
    return folders, files


def modes(paths: list[Path]) -> dict[str, str]:
    return {str(p): f"{mode(p):04o}" for p in paths}


def write_everything(config: AppConfig) -> None:
    """Everything Clarion writes in its folders: both databases (open, so -wal and -shm exist
    while checked), the log with a rotated file, a backup, the settings file."""
    config.ensure_dirs()
    handler = configure_logging(config.log_path)
    store = demo = None
    try:
        logging.getLogger("clarion.test").warning("a line naming a person")
        handler.doRollover()                    # clarion.log -> clarion.log.1, a new clarion.log
        logging.getLogger("clarion.test").warning("after the rollover")
        store = Store.open(config.db_path, config.backup_dir)
        demo = Store.open(config.demo_db_path, config.backup_dir)
        for s in (store, demo):
            with s.session() as session, session.begin():
                session.execute(text("CREATE TABLE IF NOT EXISTS scratch (x)"))
                session.execute(text("INSERT INTO scratch VALUES ('Ada Lovelace')"))
        backup_database(config.db_path, config.backup_dir, "test")
        create_private_file(config.settings_path)
        check_owner_only(config.data_dir.parent, databases_open=True)
    finally:
        for s in (store, demo):
            if s is not None:
                s.dispose()
        logging.getLogger().removeHandler(handler)
        handler.close()


def check_owner_only(root: Path, databases_open: bool) -> tuple[list[Path], list[Path]]:
    folders, files = tree(root)
    expected = {"clarion.db", "clarion-demo.db", "clarion.log", "clarion.log.1", "settings.ini"}
    if databases_open:
        expected |= {"clarion.db-wal", "clarion.db-shm", "clarion-demo.db-wal",
                     "clarion-demo.db-shm"}
    assert {p.name for p in files} >= expected
    assert len(tree(root / "data" / "backups")[1]) == 1
    loose = {p: m for p, m in modes(folders).items() if m != "0700"}
    loose |= {p: m for p, m in modes(files).items() if m != "0600"}
    assert loose == {}, "not owner-only"
    return folders, files


def fresh_config(tmp_path: Path) -> AppConfig:
    return AppConfig.from_env({"CLARION_DATA_DIR": str(tmp_path / "new" / "data")})


def test_a_new_data_folder_and_every_file_written_in_it_are_owner_only(tmp_path):
    write_everything(fresh_config(tmp_path))
    check_owner_only(tmp_path / "new", databases_open=False)   # after closing too


def test_a_loosened_tree_is_tightened_once_and_each_change_named(tmp_path):
    config = fresh_config(tmp_path)
    write_everything(config)
    root = tmp_path / "new" / "data"
    folders, files = tree(root)
    for folder in folders:
        os.chmod(folder, 0o755)
    for file in files:
        os.chmod(file, 0o644)
    outside = tmp_path / "outside.db"
    outside.write_text("not Clarion's", encoding="utf-8")
    os.chmod(outside, 0o644)
    (root / "linked.db").symlink_to(outside)          # never followed
    (root / "notes.txt").write_text("the user's", encoding="utf-8")
    os.chmod(root / "notes.txt", 0o644)               # not one of Clarion's files

    lines = tighten(config)

    named = {line.rsplit(" ", 3)[0] for line in lines}
    assert named == {str(p) for p in folders + files}
    assert all(line.endswith(("0755 -> 0700", "0644 -> 0600")) for line in lines), lines
    assert {m for m in modes(folders).values()} == {"0700"}
    assert {m for m in modes(files).values()} == {"0600"}
    assert mode(outside) == 0o644 and mode(root / "notes.txt") == 0o644
    assert tighten(config) == []


def test_only_group_and_other_bits_are_taken_away(tmp_path):
    config = fresh_config(tmp_path)
    config.ensure_dirs()
    db = config.db_path
    db.write_bytes(b"")
    os.chmod(db, 0o440)              # read-only on purpose: stays read-only for the owner
    assert tighten(config) == [f"{db} 0440 -> 0400"]
    assert mode(db) == 0o400


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o777], ids=["000", "077", "777"])
def test_private_dir_and_file_are_created_owner_only_whatever_the_umask(tmp_path, umask):
    os.umask(umask)   # 0o777 even takes the owner's bits: the modes are set, not masked
    deep = tmp_path / "a" / "b" / "c"
    assert private_dir(deep) is None
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", deep)] == [0o700] * 3
    assert create_private_file(deep / "f.db") and mode(deep / "f.db") == 0o600
    assert not create_private_file(deep / "f.db"), "an existing file is not created again"


def test_private_file_never_changes_what_a_symlink_points_to(tmp_path):
    target = tmp_path / "elsewhere.log"
    target.write_text("someone else's", encoding="utf-8")
    os.chmod(target, 0o644)
    link = tmp_path / "clarion.log"
    link.symlink_to(target)
    assert private_file(link) is None
    assert mode(target) == 0o644
    assert private_file(target) == f"{target} 0644 -> 0600"


def test_private_dir_tightens_an_existing_folder_unless_told_it_may_not_be_clarions(tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    os.chmod(folder, 0o755)
    assert private_dir(folder, tighten_existing=False) is None
    assert mode(folder) == 0o755
    assert private_dir(folder) == f"{folder} 0755 -> 0700"
    assert mode(folder) == 0o700


def test_a_store_opened_in_someone_elses_folder_leaves_the_folder_alone(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    os.chmod(folder, 0o755)
    store = Store.open(folder / "copy.db", folder / "backups")
    store.dispose()
    assert mode(folder) == 0o755
    assert mode(folder / "copy.db") == 0o600


def test_a_backup_that_fails_leaves_no_file_behind(tmp_path):
    backups = tmp_path / "backups"
    with pytest.raises(sqlite3.Error):
        backup_database(tmp_path, backups, "broken")   # a folder is no database
    assert list(backups.iterdir()) == []
    assert mode(backups) == 0o700


def test_the_log_file_and_its_rotations_are_owner_only(tmp_path):
    log_path = tmp_path / "logs" / "clarion.log"
    handler = configure_logging(log_path)
    try:
        logging.getLogger("clarion.test").warning("one")
        os.chmod(log_path, 0o644)                  # loosened while running: the rotation fixes it
        handler.doRollover()
        handler.doRollover()
        logging.getLogger("clarion.test").warning("two")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    names = sorted(p.name for p in log_path.parent.iterdir())
    assert names == ["clarion.log", "clarion.log.1", "clarion.log.2"]
    assert {p.name: mode(p) for p in log_path.parent.iterdir()} == dict.fromkeys(names, 0o600)
    assert mode(log_path.parent) == 0o700


def test_nothing_changes_elsewhere_than_posix(tmp_path, monkeypatch):
    config = fresh_config(tmp_path)
    config.ensure_dirs()
    os.chmod(config.data_dir, 0o755)
    with monkeypatch.context() as patch:
        patch.setattr(os, "name", "nt")   # only for tighten(): pathlib reads os.name too
        lines = tighten(config)
    monkeypatch.setattr(app.config, "_posix", lambda: False)
    new_folder = config.data_dir / "made"
    assert lines == []
    assert private_dir(config.data_dir) is None and private_dir(new_folder) is None
    assert mode(config.data_dir) == 0o755 and new_folder.is_dir()   # created all the same


def run_clarion(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CLARION_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen",
               PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "ui.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_start_up_writes_owner_only_and_tightens_a_loosened_folder_once(tmp_path):
    data = tmp_path / "data"
    first = run_clarion("demo", "--exit-after-startup", data_dir=data)
    assert first.returncode == 0, first.stderr
    folders, files = tree(data)
    assert {p.name for p in files} >= {"clarion-demo.db", "clarion.log", "settings.ini"}
    assert (data / "config" / "settings.ini").stat().st_size > 0, "Qt wrote the settings"
    assert set(modes(folders).values()) == {"0700"}
    assert set(modes(files).values()) == {"0600"}

    for folder in folders:
        os.chmod(folder, 0o755)
    for file in files:
        os.chmod(file, 0o644)
    second = run_clarion("incidents", "--demo", data_dir=data)
    assert second.returncode == 0, second.stderr
    assert set(modes(folders).values()) == {"0700"}
    assert set(modes(files).values()) == {"0600"}
    log = (data / "logs" / "clarion.log").read_text(encoding="utf-8")
    said = [line.split("tightened permissions: ", 1)[1] for line in log.splitlines()
            if "tightened permissions: " in line]
    assert len(said) == 1, log
    changes = said[0].split("; ")
    assert {change.rsplit(" ", 3)[0] for change in changes} == {str(p) for p in folders + files}
    assert all(change.endswith(("0755 -> 0700", "0644 -> 0600")) for change in changes)

    third = run_clarion("incidents", "--demo", data_dir=data)
    assert third.returncode == 0, third.stderr
    log = (data / "logs" / "clarion.log").read_text(encoding="utf-8")
    assert log.count("tightened permissions: ") == 1, "nothing to say at the next start"
