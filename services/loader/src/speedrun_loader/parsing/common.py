"""What every format's parser shares: drafts with locations, and one validation step.

A parser turns its input into :class:`Draft` questions (plain field values plus a function that
says where each field came from) and a list of problems it found itself. :func:`finish` then
validates every draft against the protocol's :class:`Question` model and reports every problem,
each with its location in the host's file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath, PureWindowsPath
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from speedrun_loader.errors import QuestionSetInvalid
from speedrun_protocol.errors import ErrorDetail
from speedrun_protocol.questions import (
    MAX_QUESTIONS,
    MAX_TITLE,
    Question,
    QuestionSet,
    SourceFormat,
    Title,
)

MAX_REPORTED_PROBLEMS = 200
"""Past this many problems the report ends with a count: a garbage file must not make a huge
answer."""
DEFAULT_TITLE = "Untitled question set"

Loc = tuple[str | int, ...]
Locator = Callable[[Loc], str]

_title_adapter: TypeAdapter[str] = TypeAdapter(Title)


@dataclass(frozen=True)
class ParseLimits:
    """Limits a parse enforces (the service fills them from its settings)."""

    max_questions: int = MAX_QUESTIONS
    xlsx_max_entries: int = 200
    xlsx_max_uncompressed_bytes: int = 50 * 1024 * 1024
    xlsx_max_ratio: int = 100


@dataclass(frozen=True)
class ParseResult:
    """A valid question set, the format it was read from, and what the parser changed."""

    question_set: QuestionSet
    format: SourceFormat
    warnings: list[str]


@dataclass
class Draft:
    """One question as read from the file, not yet validated.

    ``fields`` holds the model's field names (text, options, correct, category, time_limit_s,
    points). ``locate`` turns a model error location such as ``("options", 2)`` into a place
    in the file. ``reported`` names fields the parser already complained about, so the model's
    follow-on complaints about them are not repeated.
    """

    fields: dict[str, Any]
    locate: Locator
    reported: set[str] = field(default_factory=set)


@dataclass
class Collected:
    """What a format's parser hands to :func:`finish`."""

    drafts: list[Draft] = field(default_factory=list)
    problems: list[ErrorDetail] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    title: Any = None
    """The title found in the file, if the format has one."""
    title_location: str = "title"
    empty_location: str = "line 1"
    """Where to point when the file holds no question at all."""

    def problem(self, location: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(ErrorDetail(location=location, message=message))


def json_pointer(*parts: str | int) -> str:
    """Build an RFC 6901 JSON pointer from path parts (``~`` and ``/`` escaped)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


_FIELD_LABELS = {
    "text": "question",
    "options": "answers",
    "correct": "correct answers",
    "category": "category",
    "time_limit_s": "time limit",
    "points": "points",
}


def describe(error: ErrorDetails) -> str:
    """A host-readable message for one pydantic error, naming the field it is about."""
    loc = error["loc"]
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}" if loc else "unknown field"
    if kind == "missing":
        message = "is required"
    if not loc:
        return message
    head = loc[0]
    label = _FIELD_LABELS.get(str(head), str(head))
    if head == "options" and len(loc) > 1 and isinstance(loc[1], int):
        label = f"answer {loc[1] + 1}"
    return f"{label}: {message}"


def title_from_filename(filename: str | None) -> str | None:
    """A title made from an upload's file name (never used as a path), or None."""
    if not filename:
        return None
    # Browsers on Windows may send a full path: keep only the last part, whatever the separator.
    stem = PurePath(PureWindowsPath(filename).name).stem.strip()
    return stem[:MAX_TITLE] or None


def finish(
    collected: Collected,
    source_format: SourceFormat,
    *,
    filename: str | None,
    title: str | None,
    limits: ParseLimits,
) -> ParseResult:
    """Validate the drafts, pick the title, and raise every problem at once.

    Args:
        collected: What the format's parser read.
        source_format: The detected format.
        filename: The upload's file name, a title of last resort.
        title: A title given beside the file; it wins over one in the file.
        limits: The parse limits.

    Returns:
        The valid set.

    Raises:
        QuestionSetInvalid: With every problem and its location.
    """
    problems = list(collected.problems)
    warnings = list(collected.warnings)

    chosen_title, title_location = _choose_title(collected, filename, title, warnings)
    try:
        valid_title = _title_adapter.validate_python(chosen_title)
    except ValidationError as exc:
        valid_title = DEFAULT_TITLE
        for error in exc.errors():
            message = error["msg"] if not error["loc"] else describe(error)
            problems.append(ErrorDetail(location=title_location, message=f"title: {message}"))

    drafts = collected.drafts
    if not drafts and not problems:
        problems.append(
            ErrorDetail(location=collected.empty_location, message="the file holds no question")
        )
    if len(drafts) > limits.max_questions:
        problems.append(
            ErrorDetail(
                location=drafts[limits.max_questions].locate(()),
                message=f"too many questions: {len(drafts)}, the limit is {limits.max_questions}",
            )
        )
        drafts = drafts[: limits.max_questions]

    questions: list[Question] = []
    for draft in drafts:
        try:
            questions.append(Question.model_validate(draft.fields))
        except ValidationError as exc:
            problems.extend(_located(draft, exc))

    if problems:
        problems.sort(key=lambda problem: _natural(problem.location))
        raise QuestionSetInvalid(_capped(problems))
    return ParseResult(
        question_set=QuestionSet(title=valid_title, questions=questions),
        format=source_format,
        warnings=warnings,
    )


def _choose_title(
    collected: Collected, filename: str | None, title: str | None, warnings: list[str]
) -> tuple[Any, str]:
    if title is not None and title.strip():
        return title, "title"
    if collected.title is not None:
        return collected.title, collected.title_location
    from_name = title_from_filename(filename)
    if from_name:
        warnings.append(f"no title given: the title {from_name!r} was made from the file name")
        return from_name, "title"
    warnings.append(f"no title given: the title is {DEFAULT_TITLE!r}")
    return DEFAULT_TITLE, "title"


def _located(draft: Draft, exc: ValidationError) -> list[ErrorDetail]:
    found: list[ErrorDetail] = []
    for error in exc.errors():
        # The model-level check is about the correct indexes; point there.
        loc: Loc = tuple(error["loc"]) or ("correct",)
        if loc[0] in draft.reported:
            continue
        found.append(ErrorDetail(location=draft.locate(loc), message=describe(error)))
    if not any(tuple(e["loc"])[:1] in ((), ("correct",)) for e in exc.errors()):
        # The model checks the indexes only once every field is valid; check them now so
        # that every problem is reported at once.
        problem = _correct_problem(draft.fields)
        if problem and "correct" not in draft.reported:
            found.append(ErrorDetail(location=draft.locate(("correct",)), message=problem))
    return found


def _correct_problem(fields: dict[str, Any]) -> str | None:
    correct, options = fields.get("correct"), fields.get("options")
    if not isinstance(correct, list) or not isinstance(options, list):
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in correct):
        return None
    if len(set(correct)) != len(correct):
        return "correct answers: correct option indexes must not repeat"
    for index in correct:
        if not 0 <= index < len(options):
            return (
                f"correct answers: correct option index {index} is out of range for "
                f"{len(options)} options"
            )
    return None


def _natural(location: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key putting ``row 2`` before ``row 10`` and column ``B`` before ``AA``."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, len(part), part)
        for part in re.split(r"(\d+)", location)
    )


def _capped(problems: list[ErrorDetail]) -> list[ErrorDetail]:
    if len(problems) <= MAX_REPORTED_PROBLEMS:
        return problems
    shown = problems[:MAX_REPORTED_PROBLEMS]
    hidden = len(problems) - MAX_REPORTED_PROBLEMS
    shown.append(ErrorDetail(location="file", message=f"... and {hidden} more problems"))
    return shown


def blank_to_none(value: Any) -> Any:
    """Treat an empty or blank category as no category."""
    if isinstance(value, str) and not value.strip():
        return None
    return value
