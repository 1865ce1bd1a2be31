"""Find the data folders (resources/, templates/) in a checkout, an installed wheel or a bundle."""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

RESOURCES_ENV = "CLARION_RESOURCES_DIR"


class DataFolderNotFound(RuntimeError):
    pass


def _candidates(name: str) -> Iterator[Path]:
    """Where the folder may be, in order; each worked out only when the ones before are not
    it (asking sysconfig costs half a millisecond, and services look up resources as they
    start)."""
    # 1. A PyInstaller bundle unpacks its datas under sys._MEIPASS.
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        yield Path(bundle) / name
    # 2. A source checkout (or an editable install): the folder beside app/.
    yield Path(__file__).resolve().parent.parent / name
    # 3. An installed wheel: data-files land under <prefix>/share/clarion/.
    yield Path(sysconfig.get_path("data")) / "share" / "clarion" / name
    yield Path(sys.prefix) / "share" / "clarion" / name


def data_folder(name: str) -> Path:
    for candidate in _candidates(name):
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(p) for p in _candidates(name))
    raise DataFolderNotFound(f"Clarion's {name}/ folder was not found (looked in: {tried})")


def resources_dir() -> Path:
    import os

    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override)
    return data_folder("resources")


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
