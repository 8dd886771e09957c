"""Write a question set in each upload format: for the benchmark, the tests and templates.

Each writer produces a file the loader reads back to the same set, as far as the format can
carry it (Aiken has no categories or time limits; GIFT has no time limits; only JSON and YAML
carry points).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import yaml

from speedrun_protocol.questions import QuestionSet, SourceFormat

_GIFT_SPECIAL = "\\~=#{}:"


def to_canonical_json(question_set: QuestionSet) -> bytes:
    """The canonical JSON (the protocol model)."""
    return question_set.model_dump_json(indent=2, exclude_defaults=True).encode()


def to_yaml(question_set: QuestionSet) -> bytes:
    """The canonical model as YAML."""
    document = question_set.model_dump(mode="json", exclude_defaults=True)
    text: str = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    return text.encode()


def to_mc_speedrun_json(question_set: QuestionSet) -> bytes:
    """The original mc-speedrun array (no title, time limits or points)."""
    document = [
        {
            "question": q.text,
            "category": q.category or "",
            "options": q.options,
            "answers": q.correct,
        }
        for q in question_set.questions
    ]
    return json.dumps(document, indent=2, ensure_ascii=False).encode()


def to_csv(question_set: QuestionSet, delimiter: str = ",") -> bytes:
    """CSV with the loader's header (UTF-8)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(
        [
            "Question",
            *(f"Answer {n}" for n in range(1, 7)),
            "Time limit",
            "Correct answers",
            "Category",
        ]
    )
    for q in question_set.questions:
        answers = [*q.options, *[""] * (6 - len(q.options))]
        writer.writerow(
            [
                q.text,
                *answers,
                q.time_limit_s or "",
                ",".join(str(i + 1) for i in q.correct),
                q.category or "",
            ]
        )
    return out.getvalue().encode()


def to_kahoot_xlsx(question_set: QuestionSet) -> bytes:
    """An xlsx laid out like Kahoot!'s template: title rows, then the header, number column."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([None, "Quiz template"])
    sheet.append(
        [
            None,
            "Add questions, at least two answer alternatives, time limit and "
            "choose correct answers (at least one).",
        ]
    )
    sheet.append([])
    sheet.append(
        [
            None,
            "Question - max 120 characters",
            *(f"Answer {n} - max 75 characters" for n in range(1, 7)),
            "Time limit (sec) \u2013 5, 10, 20, 30, 60, 90, 120, or 240 secs",
            "Correct answer(s) - choose at least one",
            "Category",
        ]
    )
    for number, q in enumerate(question_set.questions, start=1):
        answers = [*q.options, *[None] * (6 - len(q.options))]
        sheet.append(
            [
                number,
                q.text,
                *answers,
                q.time_limit_s,
                ",".join(str(i + 1) for i in q.correct),
                q.category,
            ]
        )
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, not a formula
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def to_aiken(question_set: QuestionSet) -> bytes:
    """Moodle Aiken (several correct options written as ``ANSWER: A, C``)."""
    lines: list[str] = []
    for q in question_set.questions:
        lines.append(q.text)
        lines.extend(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(q.options))
        lines.append("ANSWER: " + ", ".join(chr(ord("A") + i) for i in q.correct))
        lines.append("")
    return "\n".join(lines).encode()


def gift_escape(text: str) -> str:
    """Escape GIFT's special characters and new lines."""
    escaped = "".join("\\" + c if c in _GIFT_SPECIAL else c for c in text)
    return escaped.replace("\n", "\\n")


def to_gift(question_set: QuestionSet) -> bytes:
    """Moodle GIFT: ``=`` for a single right answer, weights when several are right."""
    lines: list[str] = ["// written by speedrun-loader", ""]
    category: str | None = None
    for number, q in enumerate(question_set.questions, start=1):
        if q.category != category:
            # A category applies until the next $CATEGORY; "top" alone means none.
            path = "/" + q.category.replace("/", "//") if q.category else ""
            lines += [f"$CATEGORY: $course$/top{path}", ""]
            category = q.category
        if q.multi:
            weight = f"{100 / len(q.correct):.5f}".rstrip("0").rstrip(".")
            options = [
                f"~%{weight}%{gift_escape(o)}" if i in q.correct else f"~%-100%{gift_escape(o)}"
                for i, o in enumerate(q.options)
            ]
        else:
            options = [
                f"={gift_escape(o)}" if i in q.correct else f"~{gift_escape(o)}"
                for i, o in enumerate(q.options)
            ]
        lines.append(f"::Q{number}:: {gift_escape(q.text)} {{")
        lines.extend(f"  {option}" for option in options)
        lines += ["}", ""]
    return "\n".join(lines).encode()


WRITERS: dict[SourceFormat, Callable[[QuestionSet], bytes]] = {
    "mc-speedrun-json": to_mc_speedrun_json,
    "json": to_canonical_json,
    "yaml": to_yaml,
    "csv": to_csv,
    "kahoot-xlsx": to_kahoot_xlsx,
    "aiken": to_aiken,
    "gift": to_gift,
}
"""One writer per upload format."""

FILE_NAMES: dict[SourceFormat, str] = {
    "mc-speedrun-json": "questions.json",
    "json": "questions.json",
    "yaml": "questions.yaml",
    "csv": "questions.csv",
    "kahoot-xlsx": "questions.xlsx",
    "aiken": "questions.txt",
    "gift": "questions.gift",
}
"""A usual file name per format."""
