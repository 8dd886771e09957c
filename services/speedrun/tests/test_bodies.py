"""The hot-path bodies are the protocol's models: each validates as its model and equals what the
model itself encodes, for every shape the engine produces."""

from __future__ import annotations

import orjson
import pytest

from speedrun_protocol.frames import (
    AnswerAcceptedFrame,
    AnswerResultFrame,
    LeaderboardFrame,
    OwnStanding,
    ParticipantFinishedFrame,
    ParticipantsProgressFrame,
    ParticipantView,
    QuestionFrame,
    decode_server_frame,
)
from speedrun_protocol.state import AnswerRecord, ParticipantProgress, RunQuestion, frame_body
from speedrun_run import bodies
from speedrun_run.scoring import Score

QUESTIONS = [
    RunQuestion(
        source_index=0,
        text='Which is "prime"? \\ é ✓ <b>',
        options=["2", "4", "6"],
        correct=[0],
        category=None,
        time_limit_s=20,
        points=1000,
    ),
    RunQuestion(
        source_index=5,
        text="Pick both",
        options=["a", "b", "c", "d"],
        correct=[1, 3],
        category="letters",
        time_limit_s=240,
        points=2000,
    ),
]
RIGHT = Score(correct=True, points=1292, streak_bonus=300, streak=4)
WRONG = Score(correct=False, points=0, streak_bonus=0, streak=0)


def same(body: str, model: object) -> None:
    assert orjson.loads(body) == orjson.loads(frame_body(model))  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize(("deadline", "now"), [(1_700_000_020_000, 1_700_000_000_000), (5, 9)])
def test_question_body_is_the_model_encoding(index: int, deadline: int, now: int) -> None:
    qb = bodies.QuestionBodies.of(QUESTIONS)
    view = bodies.question_view(QUESTIONS, index, deadline, now)
    assert qb.body(index, deadline, now) == frame_body(QuestionFrame(question=view))
    frame = decode_server_frame(bodies.with_seq(7, qb.body(index, deadline, now)))
    assert isinstance(frame, QuestionFrame) and frame.seq == 7
    assert frame.question.remaining_ms == max(0, deadline - now)
    if deadline > now:  # an open question: its event tells when it was issued
        assert bodies.question_issued(bodies.with_seq(7, qb.body(index, deadline, now))) == (
            index,
            now,
        )


@pytest.mark.parametrize(
    ("selected", "score", "elapsed"), [([0], RIGHT, 4000), ([], WRONG, None), ([1, 3], WRONG, 0)]
)
def test_answer_result_and_record_are_the_models(
    selected: list[int], score: Score, elapsed: int | None
) -> None:
    body = bodies.answer_result(2, selected, score, [1, 3], 9_999, elapsed)
    same(
        body,
        AnswerResultFrame(
            question_index=2,
            selected=selected,
            correct=score.correct,
            timed_out=elapsed is None,
            correct_options=[1, 3],
            points=score.points,
            streak_bonus=score.streak_bonus,
            streak=score.streak,
            score=9_999,
            elapsed_ms=elapsed,
        ),
    )
    assert isinstance(decode_server_frame(bodies.with_seq(1, body)), AnswerResultFrame)
    timed_out = elapsed is None
    record = bodies.answer_record("p_1", 2, selected, score, elapsed or 20_000, 77, timed_out)
    assert AnswerRecord.model_validate_json(record) == AnswerRecord(
        participant_id="p_1",
        question_index=2,
        selected=selected,
        correct=score.correct,
        timed_out=timed_out,
        points=score.points,
        streak_bonus=score.streak_bonus,
        elapsed_ms=elapsed or 20_000,
        answered_at_ms=77,
    )


@pytest.mark.parametrize(
    "before",
    [
        ParticipantProgress(),
        ParticipantProgress(
            current_question=1, streak=3, answered_count=2, correct_count=2, score=2500
        ),
    ],
)
@pytest.mark.parametrize("score", [RIGHT, WRONG])
def test_a_settled_progress_is_the_models(before: ParticipantProgress, score: Score) -> None:
    # the progress read as JSON (none yet: {}), then settled with the question's score
    raw = {} if before == ParticipantProgress() else orjson.loads(before.model_dump_json())
    after, total = bodies.settled_progress(raw, 2, score)
    expected = before.model_copy(
        update={
            "current_question": 2,
            "streak": score.streak,
            "answered_count": before.answered_count + 1,
            "correct_count": before.correct_count + score.correct,
            "score": before.score + score.points,
        }
    )
    assert after == expected.model_dump_json()
    assert total == expected.score


@pytest.mark.parametrize(("current", "finished"), [(3, False), (None, True)])
def test_host_views_and_replies_are_the_models(current: int | None, finished: bool) -> None:
    view = ParticipantView(
        participant_id="p_1",
        nickname='Ada "the" ✓',
        score=50,
        answered_count=4,
        correct_count=3,
        current_question=current,
        finished=finished,
        connected=False,
    )
    body = bodies.participants_progress(9, [view.model_dump(), view.model_dump()])
    assert decode_server_frame(body) == ParticipantsProgressFrame(seq=9, participants=[view] * 2)
    same(
        bodies.participant_finished("p_1", 50),
        ParticipantFinishedFrame(participant_id="p_1", score=50),
    )
    board = LeaderboardFrame(seq=7, top=[], participant_count=40)
    own = OwnStanding(rank=3, score=1200)
    text = bodies.with_own(board.model_dump_json(exclude={"own"}), 3, 1200)
    assert decode_server_frame(text) == board.model_copy(update={"own": own})
    assert orjson.loads(text) == orjson.loads(
        board.model_copy(update={"own": own}).model_dump_json()
    )
    accepted = bodies.with_seq(12, bodies.answer_accepted(1, [1, 3], 250))
    assert decode_server_frame(accepted) == AnswerAcceptedFrame(
        seq=12, question_index=1, selected=[1, 3], elapsed_ms=250
    )
