"""The question-set model: its limits hold and its errors say where."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from speedrun_protocol.questions import MAX_OPTIONS, Question, QuestionSet


def _q(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"text": "2+2?", "options": ["3", "4"], "correct": [1]}
    base.update(kw)
    return base


def test_question_valid_defaults() -> None:
    q = Question.model_validate(_q())
    assert q.points == 1000 and q.time_limit_s is None and not q.multi


def test_question_multi_when_several_correct() -> None:
    assert Question.model_validate(_q(options=["a", "b", "c"], correct=[0, 2])).multi


@pytest.mark.parametrize(
    "bad",
    [
        {"options": ["only"]},
        {"options": [str(i) for i in range(MAX_OPTIONS + 1)]},
        {"correct": []},
        {"correct": [2]},
        {"correct": [1, 1]},
        {"time_limit_s": 4},
        {"time_limit_s": 241},
        {"points": 500},
        {"text": "   "},
        {"text": "x" * 501},
        {"surprise": 1},
    ],
)
def test_question_invalid_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Question.model_validate(_q(**bad))


def test_question_set_errors_carry_location() -> None:
    with pytest.raises(ValidationError) as info:
        QuestionSet.model_validate({"title": "t", "questions": [_q(), _q(correct=[9])]})
    locs = [e["loc"] for e in info.value.errors()]
    assert locs[0][:2] == ("questions", 1)


def test_question_set_categories_in_order() -> None:
    qs = QuestionSet.model_validate(
        {"title": "t", "questions": [_q(category="b"), _q(category="a"), _q(category="b"), _q()]}
    )
    assert qs.categories == ["b", "a"]


@given(
    n=st.integers(min_value=2, max_value=MAX_OPTIONS),
    data=st.data(),
)
def test_question_accepts_any_valid_correct_subset(n: int, data: st.DataObject) -> None:
    correct = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    q = Question(text="q", options=[f"o{i}" for i in range(n)], correct=correct)
    assert q.multi == (len(correct) > 1)
