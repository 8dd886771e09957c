"""Kahoot!'s xlsx question template (and any sheet with the same header).

The archive is checked before openpyxl opens it: entry count, total uncompressed size and the
compression ratio of sizeable entries (zip bombs). Python's zipfile never inflates an entry past
the size its header declares, so checking the declared sizes bounds the real work. openpyxl
parses the XML through defusedxml (no entity expansion, no external entities); the declared sheet
dimensions are ignored, since a tiny file can claim a million rows.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from typing import Any

import openpyxl

from speedrun_loader.parsing.common import Collected, ParseLimits
from speedrun_loader.parsing.tabular import Row, has_header, read_rows

ZIP_MAGIC = b"PK\x03\x04"
RATIO_CHECKED_FROM_BYTES = 1024 * 1024
"""Entries smaller than this are not ratio-checked: small XML parts compress very well."""


def read_xlsx(data: bytes, limits: ParseLimits) -> Collected:
    """Read the first sheet that has a question header row."""
    collected = Collected(empty_location="row 1")
    if not _archive_is_safe(data, limits, collected):
        return collected
    if not openpyxl.DEFUSEDXML:  # pragma: no cover - a packaging error, not an input
        raise RuntimeError("defusedxml must be installed (and not disabled) to read xlsx")
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    # openpyxl raises many kinds of errors on a damaged workbook; all mean "not readable".
    except Exception as exc:
        collected.problem("file", f"not a readable xlsx workbook ({_root_cause(exc)})")
        return collected
    try:
        sheets = [(sheet.title, _sheet_rows(sheet)) for sheet in workbook.worksheets]
    except Exception as exc:
        collected.problem("file", f"not a readable xlsx workbook ({_root_cause(exc)})")
        return collected
    finally:
        workbook.close()
    if not sheets:
        collected.problem("file", "the workbook has no worksheet")
        return collected
    title, rows = next(((t, r) for t, r in sheets if has_header(r)), sheets[0])
    if len(sheets) > 1:
        collected.warnings.append(f"questions read from the sheet {title!r}")
    read_rows(rows, collected)
    return collected


def _archive_is_safe(data: bytes, limits: ParseLimits, collected: Collected) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        collected.problem("file", f"not a valid xlsx (zip) file: {exc}")
        return False
    if len(entries) > limits.xlsx_max_entries:
        collected.problem(
            "file",
            f"the xlsx holds {len(entries)} files; at most {limits.xlsx_max_entries} are accepted",
        )
        return False
    total = sum(entry.file_size for entry in entries)
    if total > limits.xlsx_max_uncompressed_bytes:
        collected.problem(
            "file",
            f"the xlsx unpacks to {total} bytes; at most "
            f"{limits.xlsx_max_uncompressed_bytes} are accepted",
        )
        return False
    for entry in entries:
        if entry.file_size < RATIO_CHECKED_FROM_BYTES:
            continue
        ratio = entry.file_size / max(entry.compress_size, 1)
        if ratio > limits.xlsx_max_ratio:
            collected.problem(
                "file",
                f"the xlsx entry {entry.filename!r} is compressed {ratio:.0f} to 1; "
                f"at most {limits.xlsx_max_ratio} to 1 is accepted (zip bomb?)",
            )
            return False
    return True


def _sheet_rows(sheet: Any) -> list[Row]:
    sheet.reset_dimensions()
    return [
        (number, [_text(value) for value in values])
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
    ]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _root_cause(exc: BaseException) -> str:
    """The name of the innermost cause (openpyxl wraps defusedxml's refusals in ValueError)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__
