"""Where Clarion keeps what it writes. Nothing runs at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DATA_DIR_ENV = "CLARION_DATA_DIR"


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
        for path in (self.data_dir, self.config_dir, self.log_dir, self.backup_dir,
                     self.demo_db_path.parent):
            path.mkdir(parents=True, exist_ok=True)

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
