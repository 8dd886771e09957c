"""Moodle Aiken and GIFT uploads."""

from __future__ import annotations

import pytest

from speedrun_loader.errors import QuestionSetInvalid
from speedrun_loader.parsing import parse_upload

AIKEN = b"""What is the largest planet?
A. Mars
B. Jupiter
C) Venus
ANSWER: B

Which gas do plants take in?
A) Oxygen
B) Carbon dioxide
ANSWER: B
"""

GIFT = rb"""// A comment line, ignored.
$CATEGORY: $course$/top/General knowledge/Science

::Q1:: What is H\{2\}O? {
  =Water#Right!
  ~Salt#No.
  ~Sand
}

::Q2::[markdown]Which are
noble gases? {
  ~%50%Neon
  ~%50%Argon
  ~%-100%Oxygen
  ####Both neon and argon.
}

The sun is a star.{T}

2 \+ 2 \= 5?{FALSE#Indeed not.}

$CATEGORY: Maths

Pi is about {=3.14 ~2.72 ~1.62} to two decimals.
"""


def problems(exc: pytest.ExceptionInfo[QuestionSetInvalid]) -> dict[str, str]:
    return {d.location: d.message for d in exc.value.details}


def test_parse_aiken_reads_options_and_answer() -> None:
    result = parse_upload(AIKEN, "quiz.txt", None)

    assert result.format == "aiken"
    first, second = result.question_set.questions
    assert (first.options, first.correct) == (["Mars", "Jupiter", "Venus"], [1])
    assert second.correct == [1]


def test_parse_aiken_errors_carry_lines() -> None:
    data = b"""First?
A. one
B. two
ANSWER: D

Second, on
two lines?
A. x
B. y
ANSWER: A

Third?
A. p
C. q
ANSWER: A

Fourth?
A. only
"""
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, None, None)

    found = problems(exc)
    assert "'D' is not one of the options" in found["line 4"]
    assert "one line" in found["line 7"]
    assert "expected option B" in found["line 14"]
    assert "no 'ANSWER:' line" in found["line 17"]


def test_parse_gift_reads_the_multiple_choice_subset() -> None:
    result = parse_upload(GIFT, "quiz.gift", None)

    assert result.format == "gift"
    q1, q2, q3, q4, q5 = result.question_set.questions
    assert (q1.text, q1.options, q1.correct) == ("What is H{2}O?", ["Water", "Salt", "Sand"], [0])
    assert q1.category == "Science"
    assert (q2.text, q2.correct) == ("Which are\nnoble gases?", [0, 1])
    assert (q3.options, q3.correct) == (["True", "False"], [0])
    assert (q4.text, q4.correct) == ("2 + 2 = 5?", [1])
    assert (q5.text, q5.correct, q5.category) == (
        "Pi is about _____ to two decimals.",
        [0],
        "Maths",
    )
    assert any("feedback" in warning for warning in result.warnings)


def test_parse_gift_detected_without_extension() -> None:
    result = parse_upload(GIFT, "export.txt", None)

    assert result.format == "gift"


@pytest.mark.parametrize(
    ("question", "construct"),
    [
        ("Name a colour. {=red =blue}", "short answer"),
        ("How many legs? {#4}", "numerical"),
        ("Write an essay. {}", "essay"),
        ("Match. {=cat -> meow =dog -> woof ~x -> y}", "matching"),
        ("Just some text, no answers.", "description"),
    ],
)
def test_parse_gift_other_question_types_are_refused_by_name(question: str, construct: str) -> None:
    data = f"Good? {{=yes ~no}}\n\n// comment\n{question}\n".encode()

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "q.gift", None)

    assert len(exc.value.details) == 1
    assert exc.value.details[0].location == "line 4"
    assert construct in exc.value.details[0].message


def test_parse_gift_errors_carry_lines() -> None:
    data = (
        b"""Unclosed {
=a
~b

Long option? {
  =ok
  ~"""
        + b"x" * 201
        + b"""
}

No right answer? {~a ~b}
"""
    )
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "q.gift", None)

    found = problems(exc)
    assert "no closing }" in found["line 1"]
    assert "at most 200" in found["line 7"]
    assert "no correct option" in found["line 10"]
