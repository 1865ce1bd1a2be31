"""Reading an import file: the size limit, the text encoding, and for CSV the delimiter, the
header row and a preview (step one of an import).

Files are refused above MAX_IMPORT_BYTES before a byte is read. Text is decoded as UTF-8 (with
or without BOM), UTF-16 with a BOM (Excel's "Unicode text"), else Windows-1252, else Latin-1;
the encoding used is reported. The CSV delimiter (comma, semicolon — Excel in much of Europe —,
tab or bar) is detected, and Excel's "sep=;" first line is honoured."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from app.errors import ClarionError

__all__ = [
    "MAX_IMPORT_BYTES", "PREVIEW_ROWS", "ImportFileError", "CsvPreview", "CsvTable",
    "read_text_file", "read_csv_table", "read_csv_preview",
]

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # 20 MiB: ~100,000 stakeholders; larger is a mistake
PREVIEW_ROWS = 20


class ImportFileError(ClarionError):
    """The file as a whole cannot be imported (too big, empty, not text, no header, …)."""


# ---------------------------------------------------------------- reading text

def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB ({size:,} bytes)"


def _decode(raw: bytes, name: str) -> tuple[str, str]:
    """(text, encoding). UTF-8 (BOM or not), UTF-16 with a BOM, then cp1252, then latin-1."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise ImportFileError(f"{name} says it is UTF-16 but is not readable as such.") \
                from None
    if raw.startswith(b"PK\x03\x04"):
        raise ImportFileError(f"{name} is a zip archive or an Excel workbook (.xlsx), not a "
                              "text file. In Excel use File › Save As › CSV UTF-8.")
    if b"\x00" in raw[:4096]:
        sample = raw[:4096]
        odd_nuls = sample[1::2].count(0)
        if odd_nuls > len(sample) // 4 and sample[0::2].count(0) < len(sample) // 20:
            try:  # UTF-16-LE without a BOM (some exporters)
                return raw.decode("utf-16-le"), "utf-16"
            except UnicodeDecodeError:
                pass
        raise ImportFileError(f"{name} is not a text file (it contains binary data).")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


_FOLD = re.compile(rb"(?:\r\n|\r|\n)[ \t]")


def _rejoin_split_characters(raw: bytes) -> bytes:
    """A vCard folded in the middle of a UTF-8 character: RFC 6350 (3.2) says writers must
    not, and readers should restore it. Unfolded before decoding when only that makes the
    file UTF-8 — else the whole file would be read as Windows-1252, every name garbled."""
    for candidate in (raw, _FOLD.sub(b"", raw)):
        try:
            candidate.decode("utf-8")
        except UnicodeDecodeError:
            continue
        return candidate
    return raw


def read_text_file(path: Path, folded_lines: bool = False) -> tuple[str, str]:
    """The text of an import file and the encoding it was read with. The size is checked
    before reading. `folded_lines`: a vCard, whose folds may split a character. Raises
    ImportFileError with a message for the coordinator."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportFileError(f"{path} does not exist (moved or deleted?).") from None
    except OSError as exc:
        raise ImportFileError(f"Cannot open {path}: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder; choose a file.")
    if size > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"{path.name} is {_size_text(size)}; Clarion imports files up to "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB. Split it into smaller files.")
    if size == 0:
        raise ImportFileError(f"{path.name} is empty.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path.name}: {exc.strerror or exc}.") from None
    if folded_lines:
        raw = _rejoin_split_characters(raw)
    text, encoding = _decode(raw, path.name)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError(f"{path.name} is empty.")
    return text, encoding


# ---------------------------------------------------------------- CSV reading

@dataclass(frozen=True)
class CsvPreview:
    path: Path
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the first PREVIEW_ROWS data rows, padded to the headers
    total_rows: int  # data rows (blank lines not counted)


_DELIMITERS = (",", ";", "\t", "|")
_SEP_LINE = re.compile(r"\A\s*sep=(.)\s*(?:\r\n|\r|\n)", re.IGNORECASE)


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    best, best_score = ",", (False, 0, 0)
    for delimiter in _DELIMITERS:
        if delimiter not in sample:
            continue
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter)
                    if any(c.strip() for c in r)][:20]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        score = (width > 1, sum(1 for r in rows if len(r) == width), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's header and data rows, as read (cells stripped, blank lines left out)."""
    encoding: str
    delimiter: str
    headers: tuple[str, ...]
    header_line: int
    rows: list[tuple[int, tuple[str, ...]]]  # (line number where the record starts, cells)


def read_csv_table(path: Path) -> CsvTable:
    """The whole CSV (the preview's and the planner's source). Raises ImportFileError."""
    path = Path(path)
    text, encoding = read_text_file(path)
    return parse_csv_text(text, encoding, path.name)


def read_csv_bytes(data: bytes, name: str) -> CsvTable:
    """The same for a CSV given as bytes (`name` is used in messages)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(
            f"{name} is {_size_text(len(data))}; Clarion imports files up to "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB. Split it into smaller files.")
    text, encoding = _decode(bytes(data), name)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ImportFileError(f"{name} is empty.")
    return parse_csv_text(text, encoding, name)


def parse_csv_text(text: str, encoding: str, name: str) -> CsvTable:
    """Header and rows of decoded CSV text: Excel's `sep=` hint or a sniffed delimiter, blank
    records skipped, each row with the line where it starts."""
    skipped_lines = 0
    match = _SEP_LINE.match(text)
    if match:  # Excel's delimiter hint
        delimiter = match.group(1)
        text = text[match.end():]
        skipped_lines = 1
    else:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        skipinitialspace=True)
    headers: tuple[str, ...] | None = None
    header_line = 0
    rows: list[tuple[int, tuple[str, ...]]] = []
    previous_end = 0
    try:
        for record in reader:
            start = previous_end + 1 + skipped_lines
            previous_end = reader.line_num
            cells = tuple(c.strip() for c in record)
            if not any(cells):
                continue
            if headers is None:
                headers, header_line = cells, start
            else:
                rows.append((start, cells))
    except csv.Error as exc:
        raise ImportFileError(
            f"{name}, line {reader.line_num + skipped_lines}: cannot read the CSV: {exc}."
        ) from None
    if headers is None:
        raise ImportFileError(f"{name} is empty.")
    _check_header(name, headers, header_line)
    if not rows:
        raise ImportFileError(f"{name} has column names but no rows to import.")
    return CsvTable(encoding, delimiter, headers, header_line, rows)


_LOOKS_LIKE_DATA = re.compile(r"@|^\+?[\d\s().-]{7,}$")


def _check_header(name: str, headers: tuple[str, ...], line: int) -> None:
    named = [h for h in headers if h]
    if not named:
        raise ImportFileError(f"{name} has no header: line {line} should name the columns "
                              "(for example Name, Email, Mobile).")
    data_like = [h for h in named if _LOOKS_LIKE_DATA.search(h)]
    if data_like:
        raise ImportFileError(
            f"{name} has no header: line {line} should name the columns (for example Name, "
            f"Email, Mobile) but holds data such as “{data_like[0]}”. Add a first line with "
            "the column names.")


def read_csv_preview(path: Path) -> CsvPreview:
    """Encoding, delimiter, headers and the first rows of a CSV, for the mapping dialog."""
    table = read_csv_table(path)
    width = len(table.headers)
    rows = tuple(cells + ("",) * (width - len(cells))
                 for _, cells in table.rows[:PREVIEW_ROWS])
    return CsvPreview(path=Path(path), encoding=table.encoding, delimiter=table.delimiter,
                      headers=table.headers, rows=rows, total_rows=len(table.rows))
