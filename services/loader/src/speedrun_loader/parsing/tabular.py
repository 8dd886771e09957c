"""Tables: CSV files and the Kahoot! xlsx template share one reading of rows and columns.

The header row is found by its content (a ``question`` column and an ``answer 1`` column) in
the first :data:`HEADER_SEARCH_ROWS` rows, so title rows above it are fine. Header names are
matched case-insensitively and by their start, so Kahoot!'s "Answer 1 - max 75 characters"
is the ``answer 1`` column. Locations are ``row N, column X`` with spreadsheet letters.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from speedrun_loader.parsing.common import Collected, Draft, Loc
from speedrun_protocol.questions import MAX_OPTIONS

HEADER_SEARCH_ROWS = 30
_TAIL = r"(\s*[-\u2013\u2014(:].*)?"  # a hyphen, en or em dash, bracket or colon
_COLUMN_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("question", re.compile(rf"^question{_TAIL}$")),
    ("answer", re.compile(rf"^(?:answer|option)\s*([1-9]){_TAIL}$")),
    ("time limit", re.compile(r"^time ?limit\b.*$")),
    ("correct answers", re.compile(r"^correct answers?\b.*$")),
    ("category", re.compile(rf"^category{_TAIL}$")),
]


def column_letter(index: int) -> str:
    """Spreadsheet letters of a zero-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _where(row: int, column: int) -> str:
    return f"row {row}, column {column_letter(column)}"


def _normalise(header: str) -> str:
    return re.sub(r"[\s_]+", " ", header.strip().lower())


def _kind(header: str) -> str | None:
    name = _normalise(header)
    for kind, pattern in _COLUMN_PATTERNS:
        match = pattern.match(name)
        if match:
            return f"answer {match.group(1)}" if kind == "answer" else kind
    return None


def _is_header(cells: list[str]) -> bool:
    kinds = {_kind(cell) for cell in cells if cell}
    return "question" in kinds and "answer 1" in kinds


@dataclass
class Columns:
    """Where each known column is, by zero-based index."""

    by_kind: dict[str, int] = field(default_factory=dict)

    def get(self, kind: str) -> int | None:
        """The index of a column kind, or None."""
        return self.by_kind.get(kind)


Row = tuple[int, list[str]]
"""A one-based row number and its cells as text."""


def has_header(rows: list[Row]) -> bool:
    """Whether one of the first rows is a header row."""
    return any(_is_header(cells) for _, cells in rows[:HEADER_SEARCH_ROWS])


def read_rows(rows: list[Row], collected: Collected) -> None:
    """Find the header, then turn each non-empty row below it into a draft."""
    header_at = next(
        (i for i, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]) if _is_header(cells)), None
    )
    if header_at is None:
        collected.problem(
            f"row {rows[0][0]}" if rows else "row 1",
            f"no header row found in the first {HEADER_SEARCH_ROWS} rows: it needs a 'question' "
            "column and an 'answer 1' column (also 'answer 2' ... 'answer 6', "
            "'correct answers', optional 'time limit' and 'category')",
        )
        return
    header_row, header_cells = rows[header_at]
    columns = _read_header(header_row, header_cells, collected)
    for row_number, cells in rows[header_at + 1 :]:
        _read_row(row_number, cells, columns, collected)


def _read_header(row: int, cells: list[str], collected: Collected) -> Columns:
    columns = Columns()
    for index, cell in enumerate(cells):
        if not cell.strip():
            continue  # Kahoot!'s number column has no header.
        kind = _kind(cell)
        if kind is None:
            collected.warnings.append(f"{_where(row, index)}: column {cell.strip()!r} ignored")
        elif kind in columns.by_kind:
            collected.problem(
                _where(row, index),
                f"a second {kind!r} column (the first is column "
                f"{column_letter(columns.by_kind[kind])})",
            )
        else:
            columns.by_kind[kind] = index
    if columns.get("correct answers") is None:
        collected.problem(f"row {row}", "no 'correct answers' column")
    return columns


def _read_row(row: int, cells: list[str], columns: Columns, collected: Collected) -> None:
    def cell(kind: str) -> str:
        index = columns.get(kind)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    known = set(columns.by_kind.values())
    if not any(cells[i].strip() for i in known if i < len(cells)):
        return  # A blank row, or a Kahoot! row with only its number filled in.

    reported: set[str] = set()
    fields: dict[str, Any] = {"text": cell("question")}
    option_columns: list[int] = []
    options: list[str] = []
    number_to_index: dict[int, int] = {}
    for number in range(1, 10):
        text = cell(f"answer {number}")
        if not text:
            continue
        if number > MAX_OPTIONS:
            collected.problem(
                _where(row, columns.by_kind[f"answer {number}"]),
                f"answer {number}: at most {MAX_OPTIONS} answers are allowed",
            )
            continue
        number_to_index[number] = len(options)
        options.append(text)
        option_columns.append(columns.by_kind[f"answer {number}"])
    fields["options"] = options

    correct_column = columns.get("correct answers")
    if correct_column is not None:
        correct = _read_correct(
            cell("correct answers"), number_to_index, _where(row, correct_column), collected
        )
        if correct is None:
            reported.add("correct")
        else:
            fields["correct"] = correct
    else:
        reported.add("correct")

    time_column = columns.get("time limit")
    if time_column is not None and cell("time limit"):
        seconds = _read_int(cell("time limit"))
        if seconds is None:
            collected.problem(
                _where(row, time_column),
                f"time limit: {cell('time limit')!r} is not a whole number of seconds",
            )
            reported.add("time_limit_s")
        else:
            fields["time_limit_s"] = seconds
    if cell("category"):
        fields["category"] = cell("category")

    collected.drafts.append(
        Draft(
            fields=fields,
            locate=_locator(row, columns, option_columns),
            reported=reported,
        )
    )


def _read_int(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _read_correct(
    text: str, number_to_index: dict[int, int], where: str, collected: Collected
) -> list[int] | None:
    if not text:
        collected.problem(where, "correct answers: is required (e.g. 1 or 1,3)")
        return None
    correct: list[int] = []
    for token in re.split(r"[,;\s]+", text):
        if not token:
            continue
        number = _read_int(token)
        if number is None:
            collected.problem(
                where, f"correct answers: {token!r} is not an answer number (use 1 to 6)"
            )
            return None
        if number not in number_to_index:
            given = ", ".join(str(n) for n in number_to_index) or "none"
            collected.problem(
                where, f"correct answers: answer {number} is empty or missing (answers: {given})"
            )
            return None
        if number_to_index[number] in correct:
            collected.problem(where, f"correct answers: answer {number} is named twice")
            return None
        correct.append(number_to_index[number])
    return correct


def _locator(row: int, columns: Columns, option_columns: list[int]) -> Any:
    def locate(loc: Loc) -> str:
        head = loc[0] if loc else None
        column: int | None = None
        if head == "text":
            column = columns.get("question")
        elif head == "options":
            if len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(option_columns):
                column = option_columns[loc[1]]
            else:
                column = columns.get("answer 1")
        elif head == "correct":
            column = columns.get("correct answers")
        elif head == "time_limit_s":
            column = columns.get("time limit")
        elif head == "category":
            column = columns.get("category")
        return _where(row, column) if column is not None else f"row {row}"

    return locate


def read_csv(text: str) -> Collected:
    """Read a CSV file (comma or semicolon separated; the BOM is already gone)."""
    collected = Collected(empty_location="row 2")
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[Row] = []
    number = 0
    try:
        for cells in reader:
            number += 1
            rows.append((number, cells))
    except csv.Error as exc:
        collected.problem(f"row {number + 1}", f"CSV syntax: {exc}")
        return collected
    read_rows(rows, collected)
    return collected


def _delimiter(text: str) -> str:
    lines = [line for line in text.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    header = next((line for line in lines if "question" in line.lower()), lines[0] if lines else "")
    return ";" if header.count(";") > header.count(",") else ","


def looks_like_csv(text: str) -> bool:
    """Whether a header row with question and answer columns is near the top."""
    delimiter = _delimiter(text)
    head = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS])
    try:
        rows = list(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter))
    except csv.Error:
        return False
    return any(_is_header(cells) for cells in rows)
