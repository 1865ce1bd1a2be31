"""Where Clarion writes (app/config.py) and where it finds its data folders (app/paths.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

import app.paths as paths
from app.config import DATA_DIR_ENV, AppConfig

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- AppConfig


def test_data_dir_override_moves_everything(tmp_path):
    root = tmp_path / "elsewhere"
    cfg = AppConfig.from_env({DATA_DIR_ENV: str(root)})
    for path in (cfg.data_dir, cfg.config_dir, cfg.log_dir, cfg.db_path, cfg.demo_db_path,
                 cfg.backup_dir, cfg.settings_path, cfg.log_path):
        assert path.is_relative_to(root.resolve()), path
    assert cfg.db_path == root.resolve() / "clarion.db"
    assert cfg.settings_path.name == "settings.ini"
    assert cfg.log_path.name == "clarion.log"
    assert cfg.demo_db_path != cfg.db_path
    assert not root.exists(), "building the configuration must not create folders"


def test_override_from_the_process_environment(clarion_data_dir):
    cfg = AppConfig.from_env()
    assert cfg.data_dir == clarion_data_dir.resolve()
    assert cfg.settings_path.is_relative_to(clarion_data_dir.resolve())


def test_ensure_dirs_creates_the_folders(tmp_path):
    cfg = AppConfig.from_env({DATA_DIR_ENV: str(tmp_path / "d")})
    cfg.ensure_dirs()
    for path in (cfg.data_dir, cfg.config_dir, cfg.log_dir, cfg.backup_dir,
                 cfg.demo_db_path.parent):
        assert path.is_dir()


@pytest.mark.parametrize("env", [{}, {DATA_DIR_ENV: "   "}, {DATA_DIR_ENV: ""}])
def test_without_override_platformdirs_decides(clarion_data_dir, env):
    cfg = AppConfig.from_env(env)
    assert cfg.data_dir == Path(platformdirs.user_data_dir("Clarion", appauthor=False))
    assert cfg.config_dir == Path(platformdirs.user_config_dir("Clarion", appauthor=False))
    assert cfg.log_dir == Path(platformdirs.user_log_dir("Clarion", appauthor=False))
    for path in (cfg.data_dir, cfg.config_dir, cfg.log_dir, cfg.db_path, cfg.settings_path):
        assert not path.is_relative_to(clarion_data_dir)
        assert "Clarion" in path.parts


NO_SIDE_EFFECTS = r"""
import sys
import app.config
cfg = app.config.AppConfig.from_env()
print(cfg.data_dir)
"""


def test_importing_config_creates_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "cwd"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("XDG_") and k != DATA_DIR_ENV}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run([sys.executable, "-c", NO_SIDE_EFFECTS], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(home), "platformdirs should use $HOME"
    assert list(home.rglob("*")) == []
    assert list(work.rglob("*")) == []


# ---------------------------------------------------------------- data folders


def _isolate(monkeypatch, tmp_path, *, meipass=None, checkout=False, data=None):
    """Point every candidate of app.paths somewhere under tmp_path."""
    if meipass is None:
        monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    else:
        monkeypatch.setattr(sys, "_MEIPASS", str(meipass), raising=False)
    if not checkout:
        fake_pkg = tmp_path / "site" / "app"
        fake_pkg.mkdir(parents=True, exist_ok=True)
        monkeypatch.setattr(paths, "__file__", str(fake_pkg / "paths.py"))
    data_prefix = data if data is not None else tmp_path / "empty-data"
    monkeypatch.setattr(paths.sysconfig, "get_path",
                        lambda name, *a, **k: str(data_prefix) if name == "data" else None)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "empty-prefix"))


def test_checkout_resources_are_found():
    found = paths.data_folder("resources")
    assert found == ROOT / "resources"
    assert (found / "demo" / "northwind.json").is_file()
    assert paths.resource("demo", "northwind.json") == ROOT / "resources" / "demo" / "northwind.json"


def test_a_pyinstaller_bundle_wins(monkeypatch, tmp_path):
    bundle = tmp_path / "bundle"
    (bundle / "resources").mkdir(parents=True)
    _isolate(monkeypatch, tmp_path, meipass=bundle, checkout=True)
    assert paths.data_folder("resources") == bundle / "resources"


def test_an_installed_wheel_layout_is_found(monkeypatch, tmp_path):
    prefix = tmp_path / "venv"
    (prefix / "share" / "clarion" / "resources").mkdir(parents=True)
    _isolate(monkeypatch, tmp_path, data=prefix)
    assert paths.data_folder("resources") == prefix / "share" / "clarion" / "resources"


def test_a_missing_folder_names_where_it_looked(monkeypatch, tmp_path):
    bundle = tmp_path / "bundle-without-resources"
    bundle.mkdir()
    _isolate(monkeypatch, tmp_path, meipass=bundle)
    with pytest.raises(paths.DataFolderNotFound) as err:
        paths.data_folder("resources")
    message = str(err.value)
    assert "resources" in message
    for place in (bundle / "resources", tmp_path / "site" / "resources",
                  tmp_path / "empty-data" / "share" / "clarion" / "resources",
                  tmp_path / "empty-prefix" / "share" / "clarion" / "resources"):
        assert str(place) in message


def test_resources_override_env(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.RESOURCES_ENV, str(tmp_path))
    assert paths.resources_dir() == tmp_path
    assert paths.resource("demo", "x.json") == tmp_path / "demo" / "x.json"
