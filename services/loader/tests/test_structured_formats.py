"""JSON (original and canonical) and YAML uploads."""

from __future__ import annotations

import json

import pytest

from speedrun_loader.errors import QuestionSetInvalid
from speedrun_loader.parsing import parse_upload

CANONICAL = {
    "title": "Capitals",
    "questions": [
        {"text": "Capital of France?", "options": ["Paris", "Lyon"], "correct": [0]},
        {
            "text": "Which are in Europe?",
            "options": ["Oslo", "Lima", "Rome"],
            "correct": [0, 2],
            "category": "geography",
            "time_limit_s": 30,
            "points": 2000,
        },
    ],
}


def problems(exc: pytest.ExceptionInfo[QuestionSetInvalid]) -> dict[str, str]:
    return {d.location: d.message for d in exc.value.details}


def test_parse_original_sample_loads_unchanged(original_sample: bytes) -> None:
    result = parse_upload(original_sample, "mc-speedrun-example-1.json", None)

    assert result.format == "mc-speedrun-json"
    questions = result.question_set.questions
    assert len(questions) == 10
    assert questions[0].text == "What does 'www' stand for in a web browser?"
    assert questions[3].correct == [0, 2]
    assert result.question_set.categories == ["technology", "finance", "animals", "health"]
    assert result.question_set.title == "mc-speedrun-example-1"


def test_parse_original_format_reports_every_problem_with_pointer() -> None:
    data = json.dumps(
        [
            {"question": "", "options": ["a", "b"], "answers": [0]},
            {"question": "ok?", "options": ["a"], "answers": [3]},
            "not an object",
            {"question": "q", "options": ["a", "b"]},
        ]
    ).encode()

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, None, "t")

    found = problems(exc)
    assert "/0/question" in found
    assert "/1/options" in found
    assert "/2" in found
    assert found["/3/answers"] == "correct answers: is required"


def test_parse_canonical_json_keeps_every_field() -> None:
    result = parse_upload(json.dumps(CANONICAL).encode(), "x.json", None)

    assert result.format == "json"
    assert result.question_set.title == "Capitals"
    second = result.question_set.questions[1]
    assert (second.correct, second.time_limit_s, second.points) == ([0, 2], 30, 2000)
    assert result.warnings == []


def test_parse_canonical_json_errors_carry_json_pointers() -> None:
    bad = json.loads(json.dumps(CANONICAL))
    bad["questions"][0]["options"][1] = "x" * 201
    bad["questions"][1]["correct"] = [5]
    bad["questions"][1]["colour"] = "red"
    bad["extra"] = 1

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(json.dumps(bad).encode(), "x.json", None)

    found = problems(exc)
    assert "at most 200 characters" in found["/questions/0/options/1"]
    assert "out of range" in found["/questions/1/correct"]
    assert found["/questions/1/colour"] == "unknown field 'colour'"
    assert "/extra" in found


def test_parse_stored_set_again_ignores_server_fields() -> None:
    stored = {**CANONICAL, "id": "qs_" + "a" * 26, "created_at": "2024-01-01T00:00:00Z"}

    result = parse_upload(json.dumps(stored).encode(), None, None)

    assert any("/id" in warning for warning in result.warnings)


def test_parse_json_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(b'{"title": "x",\n  "questions": [,]}', "x.json", None)

    assert list(problems(exc)) == ["line 2, column 17"]


def test_parse_yaml_keeps_text_as_text() -> None:
    data = b"""title: Years
questions:
  - text: When did it happen?
    options: [1969, 'no', yes, 1.5]
    correct: [0]
    category: 2024
"""
    result = parse_upload(data, None, None)

    assert result.format == "yaml"
    question = result.question_set.questions[0]
    assert question.options == ["1969", "no", "yes", "1.5"]
    assert question.category == "2024"


def test_parse_yaml_errors_carry_json_pointers() -> None:
    data = b"""title: Bad
questions:
  - text: Fine?
    options: [a, b]
    correct: [0]
  - text: ''
    options: [a, b]
    correct: [7]
"""
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "set.yaml", None)

    assert {"/questions/1/text", "/questions/1/correct"} <= set(problems(exc))


def test_parse_yaml_syntax_error_gives_line() -> None:
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(b"title: x\nquestions:\n  - text: [unclosed\n", "set.yml", None)

    assert next(iter(problems(exc))).startswith("line ")


def test_parse_yaml_aliases_are_refused() -> None:
    data = b"title: x\nq: &a [a, b]\nquestions:\n  - {text: q, options: *a, correct: [0]}\n"

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, "set.yaml", None)

    assert "aliases" in exc.value.details[0].message
    assert exc.value.details[0].location.startswith("line 4")


def test_parse_title_field_wins_over_file_title() -> None:
    result = parse_upload(json.dumps(CANONICAL).encode(), None, "  Given title ")

    assert result.question_set.title == "Given title"


def test_parse_too_many_questions_is_reported_at_the_first_extra() -> None:
    question = {"text": "q", "options": ["a", "b"], "correct": [0]}
    data = json.dumps({"title": "big", "questions": [question] * 1001}).encode()

    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(data, None, None)

    assert problems(exc)["/questions/1000"].startswith("too many questions: 1001")


def test_parse_empty_question_list_is_invalid() -> None:
    with pytest.raises(QuestionSetInvalid) as exc:
        parse_upload(b"[]", None, "t")

    assert exc.value.details[0].message == "the file holds no question"
