"""The question-set model: what a host uploads and what a run plays.

Hard limits (documented in the loader's README too):

* a set holds 1 to :data:`MAX_QUESTIONS` questions;
* a question's text is 1 to :data:`MAX_QUESTION_TEXT` characters;
* a question has :data:`MIN_OPTIONS` to :data:`MAX_OPTIONS` options of 1 to
  :data:`MAX_OPTION_TEXT` characters each, and at least one correct option;
* a category is 1 to :data:`MAX_CATEGORY` characters;
* a time limit is :data:`MIN_TIME_LIMIT_S` to :data:`MAX_TIME_LIMIT_S` seconds;
* points are 0, 1000 or 2000 (no points, standard, double), as in the leading product.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_QUESTIONS = 1000
MAX_TITLE = 200
MAX_QUESTION_TEXT = 500
MAX_OPTION_TEXT = 200
MAX_CATEGORY = 60
MIN_OPTIONS = 2
MAX_OPTIONS = 6
MIN_TIME_LIMIT_S = 5
MAX_TIME_LIMIT_S = 240
DEFAULT_TIME_LIMIT_S = 20
DEFAULT_POINTS: Literal[1000] = 1000
ALLOWED_POINTS = (0, 1000, 2000)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
QuestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_TEXT)
]
OptionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPTION_TEXT)
]
Category = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CATEGORY)
]
TimeLimit = Annotated[int, Field(ge=MIN_TIME_LIMIT_S, le=MAX_TIME_LIMIT_S)]
Points = Literal[0, 1000, 2000]
SourceFormat = Literal["mc-speedrun-json", "json", "yaml", "csv", "kahoot-xlsx", "aiken", "gift"]


class Question(BaseModel):
    """One multiple-choice question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: QuestionText = Field(description="The question as shown to players.")
    options: list[OptionText] = Field(
        min_length=MIN_OPTIONS,
        max_length=MAX_OPTIONS,
        description="The answer options, in display order (2 to 6).",
    )
    correct: list[int] = Field(
        min_length=1,
        max_length=MAX_OPTIONS,
        description="Zero-based indexes of the correct options; more than one means "
        "'select all that apply'.",
    )
    category: Category | None = Field(default=None, description="Optional category label.")
    time_limit_s: TimeLimit | None = Field(
        default=None,
        description="Seconds to answer (5-240); the run's default applies when absent.",
    )
    points: Points = Field(
        default=DEFAULT_POINTS, description="Points for a fast correct answer: 0, 1000 or 2000."
    )

    @model_validator(mode="after")
    def _check_correct(self) -> Question:
        if len(set(self.correct)) != len(self.correct):
            raise ValueError("correct option indexes must not repeat")
        for index in self.correct:
            if not 0 <= index < len(self.options):
                raise ValueError(
                    f"correct option index {index} is out of range for {len(self.options)} options"
                )
        return self

    @property
    def multi(self) -> bool:
        """True when more than one option is correct (select all that apply)."""
        return len(self.correct) > 1


class QuestionSet(BaseModel):
    """A titled list of questions: the canonical upload format (JSON or YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Title = Field(description="The set's title, shown to the host and the players.")
    questions: list[Question] = Field(
        min_length=1, max_length=MAX_QUESTIONS, description="The questions, in order."
    )

    @property
    def categories(self) -> list[str]:
        """The distinct categories, in order of first appearance."""
        seen: dict[str, None] = {}
        for question in self.questions:
            if question.category is not None:
                seen.setdefault(question.category, None)
        return list(seen)


class StoredQuestionSet(QuestionSet):
    """A question set as the loader stores it (``<id>.json`` in the question-set store)."""

    id: str = Field(description="Server-made id, ``qs_`` and 26 base32 characters.")
    created_at: datetime = Field(description="When the loader stored it (UTC).")
    source_format: SourceFormat = Field(description="The upload format that was detected.")
    warnings: list[str] = Field(
        default_factory=list, description="Things the loader changed or dropped while parsing."
    )


class QuestionSetSummary(BaseModel):
    """One line of the question-set list."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The question set's id.")
    title: str = Field(description="The question set's title.")
    question_count: int = Field(description="Number of questions.")
    categories: list[str] = Field(description="Distinct categories, in order of appearance.")
    created: datetime = Field(description="When it was stored (UTC).")
