"""An installed wheel carries resources/ under share/clarion/ (pyproject's data-files): every
resource folder the code reads must be listed there, or the installed program misses it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_resource_folder_is_in_the_wheels_data_files():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = data["tool"]["setuptools"]["data-files"]
    folders = {p.name for p in (ROOT / "resources").iterdir() if p.is_dir()}
    missing = sorted(f for f in folders if f"share/clarion/resources/{f}" not in listed)
    assert missing == []
