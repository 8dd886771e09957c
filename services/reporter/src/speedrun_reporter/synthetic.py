"""Synthetic finished runs written to Redis exactly as sign-on and the engine leave them.

The benchmark and the tests use these; nothing in the Lambda path does.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from speedrun_protocol.events import BusEvent
from speedrun_protocol.state import (
    RUN_TTL_S,
    AnswerRecord,
    MetaField,
    ParticipantProgress,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
)

CHUNK = 1_000
"""Fields per HSET when writing big hashes."""


@dataclass(frozen=True)
class SyntheticRun:
    """What was written, to compare the archive with."""

    config: RunConfig
    questions: list[RunQuestion]
    participants: list[ParticipantRecord]
    answers: list[AnswerRecord]
    scores: dict[str, int]


def make_run(speedrun_id: str, participants: int, questions: int, seed: int = 0) -> SyntheticRun:
    """Make a finished run's records: everyone answers every question (some time out).

    Args:
        speedrun_id: The run's id.
        participants: How many played.
        questions: How many questions.
        seed: Makes the answers reproducible.

    Returns:
        The records.
    """
    rnd = random.Random(seed)
    run_questions = [
        RunQuestion(
            source_index=i,
            text=f"Question {i}?",
            options=["alpha", "beta", "gamma", "delta"],
            correct=[i % 4],
            time_limit_s=20,
            points=1000,
        )
        for i in range(questions)
    ]
    people = [
        ParticipantRecord(
            participant_id=f"p_{i:026d}", nickname=f"player{i:05d}", joined_at_ms=1_000 + i
        )
        for i in range(participants)
    ]
    answers: list[AnswerRecord] = []
    scores: dict[str, int] = {}
    for person in people:
        total = 0
        for q, question in enumerate(run_questions):
            timed_out = rnd.random() < 0.1
            selected = [] if timed_out else [rnd.randrange(len(question.options))]
            correct = selected == question.correct
            elapsed = 20_000 if timed_out else rnd.randrange(300, 20_000)
            points = round(1000 * (1 - elapsed / 40_000)) if correct else 0
            total += points
            answers.append(
                AnswerRecord(
                    participant_id=person.participant_id,
                    question_index=q,
                    selected=selected,
                    correct=correct,
                    timed_out=timed_out,
                    points=points,
                    elapsed_ms=elapsed,
                    answered_at_ms=2_000_000 + q * 20_000 + elapsed,
                )
            )
        scores[person.participant_id] = total
    config = RunConfig(
        speedrun_id=speedrun_id,
        join_code="123456",
        mode="self-paced",
        title="Synthetic",
        question_set_id="qs_" + "s" * 26,
        question_count=questions,
        default_time_limit_s=20,
        max_participants=max(participants, 1),
        created_at_ms=1_000_000,
    )
    return SyntheticRun(config, run_questions, people, answers, scores)


def write_run(redis: Redis, run: SyntheticRun, status: str = "finished") -> None:
    """Write a run's keys as the engine leaves them when it ends (with the run TTL).

    Args:
        redis: The state store.
        run: The records.
        status: ``finished`` normally; ``running`` for a run not over yet.
    """
    keys = RunKeys(run.config.speedrun_id)
    meta = {
        MetaField.STATUS: status,
        MetaField.PHASE: "finished" if status == "finished" else "question",
        MetaField.LOCKED: "1",
        MetaField.SEQ: "42",
        MetaField.STARTED_AT_MS: "2000000",
        MetaField.PARTICIPANT_COUNT: str(len(run.participants)),
    }
    if status == "finished":
        meta[MetaField.ENDED_AT_MS] = str(2_000_000 + 20_000 * (len(run.questions) + 1))
        meta[MetaField.END_REASON] = "completed"
    participants = {p.participant_id: p.model_dump_json() for p in run.participants}
    answers = {f"{a.participant_id}:{a.question_index}": a.model_dump_json() for a in run.answers}
    progress = {
        pid: ParticipantProgress(
            answered_count=len(run.questions), score=score, finished_at_ms=2_900_000
        ).model_dump_json()
        for pid, score in run.scores.items()
    }
    with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.config, run.config.model_dump_json())
        pipe.set(keys.questions, "[" + ",".join(q.model_dump_json() for q in run.questions) + "]")
        pipe.hset(keys.meta, mapping={str(k): v for k, v in meta.items()})
        for mapping in _chunks(participants):
            pipe.hset(keys.participants, mapping=mapping)
        for mapping in _chunks({p.nickname.casefold(): p.participant_id for p in run.participants}):
            pipe.hset(keys.nicks, mapping=mapping)
        for mapping in _chunks({pid: float(s) for pid, s in run.scores.items()}):
            pipe.zadd(keys.scores, mapping)
        for mapping in _chunks(answers):
            pipe.hset(keys.answers, mapping=mapping)
        for mapping in _chunks(progress):
            pipe.hset(keys.progress, mapping=mapping)
        finished = BusEvent(seq=42, audience="all", close="finished", frame="{}")
        pipe.xadd(keys.events, {"e": finished.line()}, id="0-42")
        for key in keys.all():
            pipe.expire(key, RUN_TTL_S)
        pipe.execute()


def _chunks(mapping: Mapping[str, Any]) -> list[dict[Any, Any]]:
    items = list(mapping.items())
    return [dict(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)]
