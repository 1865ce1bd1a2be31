"""The backup folder (app/backups/folder.py): chosen outside the database, in an owner-only
JSON file written atomically; a folder that cannot take a file is refused (nothing stored);
when the chosen one is unreachable, backups go to the local folder with a sentence saying so;
and the list of backups covers both folders."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.backups.copies import rolling_backup
from app.backups.folder import (
    Where, all_backups, choose_folder, chosen_folder, settings_path, usable, where_to_back_up,
)
from app.config import AppConfig
from app.errors import ClarionError


@pytest.fixture
def config(tmp_path) -> AppConfig:
    root = tmp_path / "data"
    cfg = AppConfig(data_dir=root, config_dir=root / "config", log_dir=root / "logs")
    cfg.ensure_dirs()
    return cfg


@pytest.fixture
def db(config) -> Path:
    path = config.db_path
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_backups_go_to_the_local_folder_until_another_is_chosen(config):
    assert chosen_folder(config) is None
    assert where_to_back_up(config) == Where(config.backup_dir, None)
    assert not settings_path(config).exists()


def test_a_chosen_folder_is_created_kept_owner_only_and_used(config, tmp_path):
    share = tmp_path / "share" / "clarion"
    assert choose_folder(config, share) == share
    assert share.is_dir() and leftovers(share) == []          # the probe file is gone
    path = settings_path(config)
    assert path == config.config_dir / "backups.json"
    assert json.loads(path.read_text()) == {"folder": str(share)}
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(share.stat().st_mode) == 0o700
    assert leftovers(config.config_dir) == ["backups.json"]   # no temporary file left
    assert chosen_folder(config) == share
    assert where_to_back_up(config) == Where(share, None)


def test_an_existing_folder_keeps_its_permissions(config, tmp_path):
    synced = tmp_path / "Sync"
    synced.mkdir(mode=0o755)
    os.chmod(synced, 0o755)
    choose_folder(config, synced)
    assert stat.S_IMODE(synced.stat().st_mode) == 0o755


def test_an_unreachable_folder_sends_backups_to_the_local_one_and_says_so(config, tmp_path):
    share = tmp_path / "mnt" / "share"
    choose_folder(config, share)
    share.rmdir()                                # the share is not mounted any more
    where = where_to_back_up(config)
    assert where.folder == config.backup_dir
    assert where.fallback == (
        f"The backup folder {share} is unreachable (No such file or directory); backups go "
        f"to {config.backup_dir} until it is back.")
    assert not share.exists()                    # not recreated on the empty mount point
    assert chosen_folder(config) == share        # still the choice
    share.mkdir()
    assert where_to_back_up(config) == Where(share, None)


def test_a_folder_that_cannot_take_a_file_is_unreachable(config, tmp_path):
    share = tmp_path / "share"
    choose_folder(config, share)
    share.rmdir()
    share.write_text("a file where the folder was")
    where = where_to_back_up(config)
    assert where.folder == config.backup_dir
    assert "is unreachable (it is not a folder)" in (where.fallback or "")


def test_the_local_folder_again(config, tmp_path):
    choose_folder(config, tmp_path / "share")
    assert choose_folder(config, None) is None
    assert not settings_path(config).exists() and chosen_folder(config) is None
    choose_folder(config, tmp_path / "share")
    assert choose_folder(config, config.backup_dir) is None   # the local folder by its path
    assert chosen_folder(config) is None
    assert where_to_back_up(config) == Where(config.backup_dir, None)


def test_a_folder_that_cannot_be_used_is_refused_and_nothing_changes(config, tmp_path):
    good = tmp_path / "good"
    choose_folder(config, good)
    before = settings_path(config).read_bytes()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ClarionError) as caught:
        choose_folder(config, blocker / "backups")
    assert str(caught.value) == (f"Backups cannot be kept in {blocker / 'backups'}: a part of "
                                 "that path is a file, not a folder. The backup folder was not "
                                 "changed.")
    with pytest.raises(ClarionError, match="it is not a folder"):
        choose_folder(config, blocker)
    with pytest.raises(ClarionError, match="by its full path"):
        choose_folder(config, Path("relative/backups"))
    assert settings_path(config).read_bytes() == before
    assert chosen_folder(config) == good
    assert not (tmp_path / "relative").exists()


def test_a_refused_first_choice_stores_nothing(config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ClarionError):
        choose_folder(config, blocker / "sub")
    assert not settings_path(config).exists()


def test_an_unreadable_setting_means_the_local_folder(config):
    settings_path(config).write_text("{not json")
    assert chosen_folder(config) is None
    settings_path(config).write_text(json.dumps({"folder": "relative/path"}))
    assert chosen_folder(config) is None
    assert where_to_back_up(config).folder == config.backup_dir


def test_usable_says_why_in_the_systems_words(tmp_path):
    assert usable(tmp_path) is None
    assert usable(tmp_path / "missing") == "No such file or directory"
    assert not (tmp_path / "missing").exists()
    assert usable(tmp_path / "made", create=True) is None and (tmp_path / "made").is_dir()


def test_all_backups_lists_the_chosen_and_the_local_folder_newest_first(config, db, tmp_path):
    at = [datetime(2026, 12, 6, h, 0, tzinfo=UTC) for h in (10, 11, 12, 13)]
    local_old, _ = rolling_backup(db, config.backup_dir, at[0])   # before a share was chosen
    share = tmp_path / "share"
    choose_folder(config, share)
    on_share, _ = rolling_backup(db, share, at[1])
    fallback, _ = rolling_backup(db, config.backup_dir, at[2])    # while it was unreachable
    newest, _ = rolling_backup(db, share, at[3])
    (share / "other-20261206T140000Z.db").write_bytes(b"another database's")
    found = all_backups(config, db.stem)
    assert [b.path for b in found] == [newest.path, fallback.path, on_share.path,
                                       local_old.path]
    assert [b.taken_at for b in found] == list(reversed(at))
    assert all(b.size == b.path.stat().st_size > 0 for b in found)
    choose_folder(config, None)
    assert [b.path for b in all_backups(config, db.stem)] == [fallback.path, local_old.path]


def test_all_backups_lists_a_backup_once_when_both_folders_are_the_same(config, db, tmp_path):
    link = tmp_path / "link-to-local"
    link.symlink_to(config.backup_dir, target_is_directory=True)
    rolling_backup(db, config.backup_dir, datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    assert choose_folder(config, link) is None      # the local folder by another name
    # a setting written when the link pointed elsewhere
    settings_path(config).write_text(json.dumps({"folder": str(link)}))
    assert chosen_folder(config) == link
    found = all_backups(config, db.stem)
    assert len(found) == 1 and found[0].path.parent == link


def test_all_backups_of_an_unreachable_folder_are_the_local_ones(config, db, tmp_path):
    share = tmp_path / "share"
    choose_folder(config, share)
    rolling_backup(db, share, datetime(2026, 12, 6, 10, 0, tzinfo=UTC))
    local, _ = rolling_backup(db, config.backup_dir, datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    for p in share.iterdir():
        p.unlink()
    share.rmdir()
    assert [b.path for b in all_backups(config, db.stem)] == [local.path]
