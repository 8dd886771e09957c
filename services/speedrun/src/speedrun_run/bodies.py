"""The bodies of the frames and records an answer produces (self-paced at once, host-paced at
the reveal), encoded straight from their values.

An answer makes up to five JSON texts (its record, the progress, the result, the next question,
the finish); a host-paced reveal makes three per participant (:func:`settled_progress`, the record,
the result). Built as pydantic models and dumped, that was 49 µs per self-paced answer, a tenth
of an instance's time; encoded with orjson from plain dicts (the question frames once per run)
it is 14 µs. The schemas stay the protocol's models: ``tests/test_bodies.py`` proves that every
body here validates as its model and is what the model itself would encode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from speedrun_protocol.frames import QuestionFrame, QuestionView
from speedrun_protocol.state import RunQuestion, frame_body
from speedrun_run.scoring import Score

_PLACEHOLDER = '"deadline_ms":0,"remaining_ms":0}'


def _text(value: object) -> str:
    return orjson.dumps(value).decode()


def question_view(
    questions: list[RunQuestion], index: int, deadline_ms: int, now: int
) -> QuestionView:
    """Return question ``index`` as a client may see it while open (no correct options)."""
    question = questions[index]
    return QuestionView(
        question_index=index,
        question_count=len(questions),
        text=question.text,
        options=list(question.options),
        multi=question.multi,
        category=question.category,
        points=question.points,
        time_limit_s=question.time_limit_s,
        deadline_ms=deadline_ms,
        remaining_ms=max(0, deadline_ms - now),
    )


def with_seq(seq: int, body: str) -> str:
    """Put ``"seq": N`` first in a frame body, as ``EMIT_LUA`` does for events."""
    return f'{{"seq":{seq},{body[1:]}'


@dataclass(frozen=True, slots=True)
class QuestionBodies:
    """The ``question`` frame body of each question of a run, encoded once with the model."""

    templates: tuple[str, ...]

    @classmethod
    def of(cls, questions: list[RunQuestion]) -> QuestionBodies:
        """Encode each question's frame once, with a placeholder deadline."""
        templates = []
        for index in range(len(questions)):
            view = question_view(questions, index, 0, 0)
            body = frame_body(QuestionFrame(question=view))
            assert body.endswith(_PLACEHOLDER + "}"), body
            templates.append(body[: -len(_PLACEHOLDER) - 1])
        return cls(tuple(templates))

    def body(self, index: int, deadline_ms: int, now: int) -> str:
        """The ``question`` frame body of question ``index`` open until ``deadline_ms``."""
        remaining = max(0, deadline_ms - now)
        return f'{self.templates[index]}"deadline_ms":{deadline_ms},"remaining_ms":{remaining}}}}}'


def question_issued(frame: str) -> tuple[int, int]:
    """Read a ``question`` frame back: its question index and when it was issued (its deadline
    less the time it had left then; :meth:`QuestionBodies.body`)."""
    question = orjson.loads(frame)["question"]
    return question["question_index"], question["deadline_ms"] - question["remaining_ms"]


def answer_record(
    participant_id: str,
    index: int,
    selected: list[int],
    score: Score,
    elapsed_ms: int,
    now: int,
    timed_out: bool = False,
) -> str:
    """An :class:`~speedrun_protocol.state.AnswerRecord` as JSON."""
    return _text(
        {
            "participant_id": participant_id,
            "question_index": index,
            "selected": selected,
            "correct": score.correct,
            "timed_out": timed_out,
            "points": score.points,
            "streak_bonus": score.streak_bonus,
            "elapsed_ms": elapsed_ms,
            "answered_at_ms": now,
        }
    )


def settled_progress(before: dict[str, Any], index: int, score: Score) -> tuple[str, int]:
    """A host-paced participant's :class:`~speedrun_protocol.state.ParticipantProgress` (as JSON)
    once question ``index`` is settled with ``score``, from the progress before (decoded JSON,
    ``{}`` for none); and their new total."""
    total = before.get("score", 0) + score.points
    after = {
        "current_question": index,
        "issued_at_ms": before.get("issued_at_ms"),
        "deadline_ms": before.get("deadline_ms"),
        "streak": score.streak,
        "answered_count": before.get("answered_count", 0) + 1,
        "correct_count": before.get("correct_count", 0) + int(score.correct),
        "score": total,
        "finished_at_ms": before.get("finished_at_ms"),
    }
    return _text(after), total


def answer_result(
    index: int,
    selected: list[int],
    score: Score,
    correct_options: list[int],
    total: int,
    elapsed_ms: int | None,
) -> str:
    """An ``answer_result`` frame body (:class:`~speedrun_protocol.frames.AnswerResultFrame`)."""
    return _text(
        {
            "type": "answer_result",
            "question_index": index,
            "selected": selected,
            "correct": score.correct,
            "timed_out": elapsed_ms is None,
            "correct_options": correct_options,
            "points": score.points,
            "streak_bonus": score.streak_bonus,
            "streak": score.streak,
            "score": total,
            "elapsed_ms": elapsed_ms,
        }
    )


def participants_progress(seq: int, participants: list[dict[str, object]]) -> str:
    """A ``participants_progress`` frame (a view: it carries the socket's last ``seq``); each
    participant is a :class:`~speedrun_protocol.frames.ParticipantView` as a dict."""
    return _text({"seq": seq, "type": "participants_progress", "participants": participants})


def with_own(board: str, rank: int, score: int) -> str:
    """A ``leaderboard`` frame (encoded without ``own``) with a participant's own standing; a
    leaderboard update of a large self-paced run makes thousands, nearly all different."""
    return f'{board[:-1]},"own":{{"rank":{rank},"score":{score}}}}}'


def participant_finished(participant_id: str, score: int) -> str:
    """A ``participant_finished`` frame body."""
    return _text({"type": "participant_finished", "participant_id": participant_id, "score": score})


def answer_accepted(index: int, selected: list[int], elapsed_ms: int) -> str:
    """An ``answer_accepted`` frame body (a reply: see :func:`with_seq`)."""
    return _text(
        {
            "type": "answer_accepted",
            "question_index": index,
            "selected": selected,
            "elapsed_ms": elapsed_ms,
        }
    )
