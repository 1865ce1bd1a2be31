"""Where Clarion keeps what it writes, and writing there owner-only (issue 20: the data, the logs
and the backups hold personal data). Nothing runs at import time.

The owner-only helpers live here, in a core module, because the core (this module and app.logs)
may import only the core; app.storage.private re-exports them beside its start-up tighten()."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DATA_DIR_ENV = "CLARION_DATA_DIR"

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
GROUP_OTHER = 0o077   # a mode with any of these bits is looser than owner-only


def _posix() -> bool:
    return os.name == "posix"


def private_dir(path: Path, *, tighten_existing: bool = True) -> str | None:
    """Make sure folder `path` exists owner-only: what is created here (parents too) is made
    0700; an existing folder with group or other bits loses them unless `tighten_existing` is
    False (a folder that may not be Clarion's). Returns a line saying what changed on an
    existing folder, else None. Elsewhere than POSIX only creates the folders."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    created = False
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            created = False   # made meanwhile by another process: tightened below if looser
            continue
        created = True
        if _posix():
            os.chmod(folder, PRIVATE_DIR_MODE)   # exactly 0700, whatever the umask
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    if created or not tighten_existing:
        return None
    return _strip_group_other(path, follow=True)


def private_file(path: Path) -> str | None:
    """Remove group and other bits from Clarion's file `path` (0644 becomes 0600). A symlink
    or anything but a regular file is left alone. Returns a line saying what changed, or None."""
    return _strip_group_other(Path(path), follow=False)


def create_private_file(path: Path) -> bool:
    """Create `path` empty and 0600 if it does not exist (the folder must). Returns True if it
    was created. SQLite, Qt's settings and the log handler then write into a file that was
    never readable by others; an existing file is left as it is (see private_file)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        if _posix():
            os.fchmod(fd, PRIVATE_FILE_MODE)   # exactly 0600, whatever the umask
    finally:
        os.close(fd)
    return True


def _strip_group_other(path: Path, follow: bool) -> str | None:
    if not _posix():
        return None
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    expected = stat.S_ISDIR if follow else stat.S_ISREG
    mode = stat.S_IMODE(info.st_mode)
    if not expected(info.st_mode) or not mode & GROUP_OTHER:
        return None
    os.chmod(path, mode & ~GROUP_OTHER)
    return f"{path} {mode:04o} -> {mode & ~GROUP_OTHER:04o}"


@dataclass(frozen=True)
class AppConfig:
    data_dir: Path
    config_dir: Path
    log_dir: Path

    @property
    def db_path(self) -> Path:
        return self.data_dir / "clarion.db"

    @property
    def demo_db_path(self) -> Path:
        return self.data_dir / "demo" / "clarion-demo.db"

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def settings_path(self) -> Path:
        """The QSettings file (INI format), kept beside the data when CLARION_DATA_DIR is set."""
        return self.config_dir / "settings.ini"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "clarion.log"

    def ensure_dirs(self) -> None:
        """Create the folders owner-only (0700 on POSIX); an existing looser one is tightened
        (start-up reports that first: app.storage.private.tighten)."""
        for path in (self.data_dir, self.config_dir, self.log_dir, self.backup_dir,
                     self.demo_db_path.parent):
            private_dir(path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AppConfig":
        """Build the configuration: CLARION_DATA_DIR moves everything, else platformdirs."""
        env = os.environ if env is None else env
        override = env.get(DATA_DIR_ENV, "").strip()
        if override:
            root = Path(override).expanduser().resolve()
            return cls(data_dir=root, config_dir=root / "config", log_dir=root / "logs")
        import platformdirs

        return cls(
            data_dir=Path(platformdirs.user_data_dir("Clarion", appauthor=False)),
            config_dir=Path(platformdirs.user_config_dir("Clarion", appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir("Clarion", appauthor=False)),
        )
