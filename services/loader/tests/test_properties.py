"""Property tests: every format reads back what its writer wrote; no input crashes a parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speedrun_loader.errors import QuestionSetInvalid, UnknownFormat
from speedrun_loader.parsing import parse_upload
from speedrun_loader.render import FILE_NAMES, WRITERS
from speedrun_protocol.questions import Question, QuestionSet, SourceFormat

# Text a host could type: letters, digits, punctuation including every GIFT special character,
# and a few non-ASCII letters; single spaces inside, nothing to strip at the ends.
_WORD = (
    st.text(alphabet=st.sampled_from("abcXYZ019 ~=#{}:\\,;\"'%-()/éß漢"), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
_TEXT = st.lists(_WORD, min_size=1, max_size=4).map(" ".join)
# A question must not look like an Aiken option or answer line ("A. x", "ANSWER: x").
_QUESTION_TEXT = _TEXT.map(lambda text: "Q " + text)


@st.composite
def questions(draw: st.DrawFn) -> Question:
    options = draw(st.lists(_TEXT, min_size=2, max_size=6, unique=True))
    correct = draw(
        st.lists(st.integers(0, len(options) - 1), min_size=1, max_size=len(options), unique=True)
    )
    return Question(
        text=draw(_QUESTION_TEXT),
        options=options,
        correct=sorted(correct),
        category=draw(st.none() | _WORD.map(lambda word: "C" + word)),
        time_limit_s=draw(st.none() | st.integers(5, 240)),
        points=draw(st.sampled_from([0, 1000, 2000])),
    )


question_sets = st.builds(
    QuestionSet, title=_TEXT, questions=st.lists(questions(), min_size=1, max_size=5)
)


def carried(question: Question, source_format: SourceFormat) -> Question:
    """The question as far as ``source_format`` can carry it."""
    keep: dict[str, object] = {"text": question.text, "options": question.options}
    keep["correct"] = question.correct
    if source_format != "aiken":
        keep["category"] = question.category
    if source_format in ("json", "yaml", "csv", "kahoot-xlsx"):
        keep["time_limit_s"] = question.time_limit_s
    if source_format in ("json", "yaml"):
        keep["points"] = question.points
    return Question.model_validate(keep)


@pytest.mark.parametrize("source_format", list(WRITERS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question_set=question_sets)
def test_parse_reads_back_what_the_writer_wrote(
    source_format: SourceFormat, question_set: QuestionSet
) -> None:
    data = WRITERS[source_format](question_set)

    result = parse_upload(data, FILE_NAMES[source_format], question_set.title)

    assert result.format == source_format
    assert result.question_set.questions == [
        carried(q, source_format) for q in question_set.questions
    ]


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_parse_any_input_raises_only_documented_errors(data: bytes) -> None:
    try:
        parse_upload(data, None, None)
    except QuestionSetInvalid as exc:
        assert exc.details
        assert all(detail.location is not None for detail in exc.details)
    except UnknownFormat:
        pass


@settings(max_examples=100, deadline=None)
@given(
    body=st.text(alphabet=st.sampled_from("{}=~#:\\/$%-> \nTFabc123"), max_size=300),
    hint=st.sampled_from([None, "q.gift", "q.txt", "q.csv", "q.yaml"]),
)
def test_parse_gift_like_text_raises_only_documented_errors(body: str, hint: str | None) -> None:
    with contextlib.suppress(QuestionSetInvalid, UnknownFormat):
        parse_upload(body.encode(), hint, "t")
