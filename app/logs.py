"""Logging to a rotating file under the log directory (CLARION_DATA_DIR/logs when set). The log
names people and incidents: its folder is 0700 and every file of it 0600 (issue 20)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from app.config import create_private_file, private_dir, private_file

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are owner-only: the log file is created 0600 before it
    is opened (the plain handler creates it with the umask, 0644), after every rollover too."""

    def _open(self):  # type: ignore[no-untyped-def]
        create_private_file(Path(self.baseFilename))
        private_file(Path(self.baseFilename))
        return super()._open()

    def doRollover(self) -> None:
        super().doRollover()
        for n in range(1, self.backupCount + 1):   # renamed files keep their mode: make sure
            private_file(Path(self.rotation_filename(f"{self.baseFilename}.{n}")))


def configure_logging(log_path: Path, level: int = logging.INFO) -> logging.Handler:
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, logging.handlers.RotatingFileHandler) and \
                Path(existing.baseFilename) == log_path.resolve():
            return existing
    private_dir(log_path.parent)
    handler = PrivateRotatingFileHandler(
        log_path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler

