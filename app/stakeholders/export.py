"""Stakeholder import (CSV with a column mapping, vCard) and export (CSV): the public face.

An import is read (app/import_read.py: size limit, encoding, delimiter, preview), planned
(app/import_plan.py: column mapping, every row validated like the stakeholder form validates,
the rows that fail listed with their line and column, duplicates — same email or phone number
as a stakeholder of the same client, or as an earlier row of the file — set aside) and then
applied (app/import_apply.py) in ONE transaction (StakeholderService.apply_batch): all or
nothing. Their names are all importable from here.

The export lives here. It writes UTF-8 with a BOM (so Excel opens it as UTF-8), one row per
stakeholder, the columns of EXPORT_COLUMNS; several addresses of one channel are joined with
"; ". Importing an export with guess_mapping gives the same stakeholders back (contact labels
are not exported; priorities come back in column order: email, sms, phone, slack, teams,
webhook). Text cells that a spreadsheet would run as a formula (=, +, -, @) are written with a
leading apostrophe, which the import removes again."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from app.domain.dto import StakeholderDTO
from app.errors import ClarionError
# The three steps' names, importable from here as before (the callers use app.importing).
from app.import_apply import ImportResult, apply_import, merge_into
from app.import_plan import (
    CONTACT_FIELDS, IMPORT_FIELDS, Duplicate, ImportPlan, RowProblem, card_to_data,
    guess_mapping, plan_csv_import, plan_vcard_import,
)
from app.import_read import (
    MAX_IMPORT_BYTES, PREVIEW_ROWS, CsvPreview, ImportFileError, read_csv_preview,
    read_text_file,
)

__all__ = [
    "MAX_IMPORT_BYTES", "PREVIEW_ROWS", "IMPORT_FIELDS", "EXPORT_COLUMNS", "ImportFileError",
    "CsvPreview", "RowProblem", "Duplicate", "ImportPlan", "ImportResult", "read_text_file",
    "read_csv_preview", "guess_mapping", "plan_csv_import", "plan_vcard_import", "merge_into",
    "apply_import", "export_csv",
]

EXPORT_COLUMNS = (
    "name", "role", "organisation", "category", "information_need", "timing_need",
    "detail_level", "max_silence_minutes", "active", "notes",
    "email", "sms", "phone", "slack", "teams", "webhook", "preferred_channel",
)


# ---------------------------------------------------------------- export

_HARMLESS_NUMBER = re.compile(r"[+-][\d\s().;+-]*")


def _safe_cell(value: str) -> str:
    """A leading apostrophe on what a spreadsheet would run as a formula (CSV injection)."""
    if value and (value[0] in "=@\t\r" or (
            value[0] in "+-" and not _HARMLESS_NUMBER.fullmatch(value))):
        return "'" + value
    return value


def export_row(s: StakeholderDTO) -> list[str]:
    by_channel: dict[str, list[str]] = {c: [] for c in CONTACT_FIELDS}
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
        **{c: "; ".join(by_channel[c]) for c in CONTACT_FIELDS},
    }
    return [_safe_cell(values[c]) for c in EXPORT_COLUMNS]


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
