"""Reading a stored question set and choosing the questions a run plays."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from speedrun_protocol.ids import is_question_set_id
from speedrun_protocol.questions import DEFAULT_TIME_LIMIT_S, Question, StoredQuestionSet
from speedrun_protocol.state import RunQuestion
from speedrun_signon.errors import InvalidSelection, QuestionSetNotFound

_RANDOM = random.Random(secrets.randbits(64))  # shuffles are not secrets, just unpredictable


def load_question_set(directory: Path, question_set_id: str) -> StoredQuestionSet:
    """Read ``<directory>/<id>.json``.

    Args:
        directory: The question-set store.
        question_set_id: The set's id; checked against its format before touching the disk.

    Returns:
        The stored set.

    Raises:
        QuestionSetNotFound: If the id is malformed, or no valid set is stored under it.
    """
    if not is_question_set_id(question_set_id):
        raise QuestionSetNotFound(question_set_id)
    try:
        text = (directory / f"{question_set_id}.json").read_bytes()
        return StoredQuestionSet.model_validate_json(text)
    except (FileNotFoundError, ValidationError) as exc:
        raise QuestionSetNotFound(question_set_id) from exc


def choose_questions(
    question_set: StoredQuestionSet,
    *,
    question_indexes: Sequence[int] | None = None,
    categories: Sequence[str] | None = None,
    shuffle_questions: bool = False,
    shuffle_options: bool = False,
    default_time_limit_s: int = DEFAULT_TIME_LIMIT_S,
) -> list[RunQuestion]:
    """Copy the chosen questions of a set into the form a run plays.

    Args:
        question_set: The set.
        question_indexes: A subset (indexes into the set, in the order given); all when None.
        categories: Keep only questions in one of these categories; all when None or empty.
        shuffle_questions: Shuffle the order of the questions.
        shuffle_options: Shuffle each question's options (the correct indexes follow them).
        default_time_limit_s: Time limit where a question has none.

    Returns:
        The run's questions.

    Raises:
        InvalidSelection: If an index is out of range or repeated, or nothing is left.
    """
    questions = question_set.questions
    indexed: list[tuple[int, Question]]
    if question_indexes is None:
        indexed = list(enumerate(questions))
    else:
        if len(set(question_indexes)) != len(question_indexes):
            raise InvalidSelection("question_indexes must not repeat")
        bad = [i for i in question_indexes if not 0 <= i < len(questions)]
        if bad:
            raise InvalidSelection(
                f"question index {bad[0]} is out of range for {len(questions)} questions"
            )
        indexed = [(i, questions[i]) for i in question_indexes]
    if categories:
        wanted = set(categories)
        indexed = [(i, q) for i, q in indexed if q.category in wanted]
    if not indexed:
        raise InvalidSelection("the selection leaves no question to play")
    if shuffle_questions:
        _RANDOM.shuffle(indexed)
    return [_to_run_question(i, q, shuffle_options, default_time_limit_s) for i, q in indexed]


def _to_run_question(
    source_index: int, question: Question, shuffle_options: bool, default_time_limit_s: int
) -> RunQuestion:
    order = list(range(len(question.options)))
    if shuffle_options:
        _RANDOM.shuffle(order)
    correct = set(question.correct)
    return RunQuestion(
        source_index=source_index,
        text=question.text,
        options=[question.options[i] for i in order],
        correct=sorted(new for new, old in enumerate(order) if old in correct),
        category=question.category,
        time_limit_s=question.time_limit_s or default_time_limit_s,
        points=question.points,
    )
