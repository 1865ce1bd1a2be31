"""Writing a file so that it is never half-written: a temporary file in the same folder, synced,
then renamed over the target. Pure standard library; errors come back as ClarionError in words."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.errors import ClarionError


@contextmanager
def replacing(path: Path, mode: int = 0o600) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write; on a normal exit it is synced and renamed
    over `path` with permissions `mode`; on any error it is removed and `path` is untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ClarionError(f"Cannot write {path}: it is a folder.")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ClarionError(f"Cannot write in {folder}: {exc.strerror or exc}.") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ClarionError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        raise
