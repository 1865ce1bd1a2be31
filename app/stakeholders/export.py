"""Stakeholder export (CSV), the file an import reads back (app/stakeholders/importing/: read,
plan, apply — all or nothing, in one transaction).

It writes UTF-8 with a BOM (so Excel opens it as UTF-8), one row per stakeholder, the columns
of EXPORT_COLUMNS; several addresses of one channel are joined with "; ". Importing an export
with guess_columns gives the same stakeholders back (contact labels are not exported;
priorities come back in column order: email, sms, phone, slack, teams, webhook). Text cells
that a spreadsheet would run as a formula (=, +, -, @) are written with a leading apostrophe,
which the import removes again."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.domain.dto import StakeholderDTO
from app.errors import ClarionError

__all__ = ["EXPORT_COLUMNS", "export_csv", "export_row", "safe_cell"]

EXPORT_COLUMNS = (
    "name", "role", "organisation", "category", "information_need", "timing_need",
    "detail_level", "max_silence_minutes", "active", "notes",
    "email", "sms", "phone", "slack", "teams", "webhook", "preferred_channel",
)
_CHANNEL_COLUMNS = ("email", "sms", "phone", "slack", "teams", "webhook")


# ---------------------------------------------------------------- export

_HARMLESS_NUMBER = re.compile(r"[+-][\d\s().;+-]*")


def safe_cell(value: str) -> str:
    """A leading apostrophe on what a spreadsheet would run as a formula (CSV injection)."""
    if value and (value[0] in "=@\t\r" or (
            value[0] in "+-" and not _HARMLESS_NUMBER.fullmatch(value))):
        return "'" + value
    return value


def export_row(s: StakeholderDTO) -> list[str]:
    by_channel: dict[str, list[str]] = {c: [] for c in _CHANNEL_COLUMNS}
    for cp in sorted(s.contacts, key=lambda c: c.priority):
        by_channel.setdefault(cp.channel, []).append(cp.address)
    values = {
        "name": s.name, "role": s.role, "organisation": s.client_name,
        "category": s.category, "information_need": s.information_need or "",
        "timing_need": s.timing_need or "", "detail_level": s.detail_level or "",
        "max_silence_minutes": "" if s.max_silence_minutes is None
        else str(s.max_silence_minutes),
        "active": "yes" if s.active else "no", "notes": s.notes or "",
        "preferred_channel": s.preferred_channel or "",
        **{c: "; ".join(by_channel[c]) for c in _CHANNEL_COLUMNS},
    }
    return [safe_cell(values[c]) for c in EXPORT_COLUMNS]


def export_csv(stakeholders: Sequence[StakeholderDTO], path: Path) -> int:
    """Write the stakeholders to `path` (UTF-8 with BOM, comma-separated, EXPORT_COLUMNS) via
    a temporary file in the same folder and os.replace: never a half-written file. Returns the
    number of rows written."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o644
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
    except OSError as exc:
        raise ClarionError(f"Cannot write in {path.parent}: {exc.strerror or exc}.") from None
    try:
        os.chmod(tmp_name, mode)  # mkstemp makes 0600; an export is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            for s in stakeholders:
                writer.writerow(export_row(s))
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ClarionError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        raise
    return count
