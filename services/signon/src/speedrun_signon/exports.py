"""Spreadsheet downloads of a run's results, for a host.

One row per participant (rank, nickname, score, correct answers, kicked), then one group of four
columns per question: the answer (option texts joined by " | "), whether it was correct
(``yes``, ``no``, ``timed out``, or empty when never reached), the points, and the server-measured
time in milliseconds. The xlsx workbook also has a "Questions" sheet with each question's text,
correct options and statistics.

Text that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) is written with a leading apostrophe in CSV and as a plain string in xlsx:
nicknames and questions are text, never formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.worksheet.worksheet import Worksheet

from speedrun_protocol.archive import ArchivedAnswer, ArchivedParticipant
from speedrun_signon.results import RunResults

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | float


def header(question_count: int) -> list[str]:
    """Return the column names of the participants sheet."""
    names = ["rank", "nickname", "score", "correct answers", "kicked"]
    for number in range(1, question_count + 1):
        names += [
            f"Q{number} answer",
            f"Q{number} correct",
            f"Q{number} points",
            f"Q{number} time ms",
        ]
    return names


def rows(results: RunResults) -> Iterator[list[Cell]]:
    """Yield one row per participant, best first, matching :func:`header`."""
    questions = results.run.questions
    for participant in results.participants:
        row: list[Cell] = [
            participant.rank,
            participant.nickname,
            participant.score,
            participant.correct_count,
            "yes" if participant.kicked else "no",
        ]
        answers = _answers_by_question(participant)
        for index, question in enumerate(questions):
            answer = answers.get(index)
            if answer is None:
                row += ["", "", 0, ""]
            elif answer.timed_out:
                row += ["", "timed out", answer.points, ""]
            else:
                chosen = " | ".join(
                    question.options[i] for i in answer.selected if 0 <= i < len(question.options)
                )
                row += [
                    chosen,
                    "yes" if answer.correct else "no",
                    answer.points,
                    answer.elapsed_ms,
                ]
        yield row


def to_csv(results: RunResults) -> bytes:
    """Return the participants sheet as UTF-8 CSV (with a BOM, so spreadsheets detect UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header(results.run.question_count))
    for row in rows(results):
        writer.writerow([_csv_safe(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(results: RunResults) -> bytes:
    """Return the results as an xlsx workbook: "Participants" and "Questions" sheets."""
    workbook = Workbook()
    sheet = workbook.active
    assert isinstance(sheet, Worksheet)  # a new workbook always has one sheet
    sheet.title = "Participants"
    _append(sheet, header(results.run.question_count))
    for row in rows(results):
        _append(sheet, row)
    stats_sheet = workbook.create_sheet("Questions")
    _append(
        stats_sheet,
        [
            "question",
            "text",
            "correct options",
            "answered",
            "timed out",
            "correct",
            "correct rate",
            "mean time ms",
        ],
    )
    for stats in results.questions:
        _append(
            stats_sheet,
            [
                stats.question_index + 1,
                stats.text,
                " | ".join(stats.options[i] for i in stats.correct_options),
                stats.answered,
                stats.timed_out,
                stats.correct,
                round(stats.correct_rate, 4),
                round(stats.mean_elapsed_ms) if stats.mean_elapsed_ms is not None else "",
            ],
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _answers_by_question(participant: ArchivedParticipant) -> dict[int, ArchivedAnswer]:
    return {answer.question_index: answer for answer in participant.answers}


def _csv_safe(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _append(sheet: Worksheet, values: Sequence[Cell]) -> None:
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            # openpyxl reads a string starting with "=" as a formula; text stays text.
            cell.data_type = TYPE_STRING
