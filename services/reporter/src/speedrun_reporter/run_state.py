"""Reading a finished run out of Redis, and shortening its life once it is archived.

The keys and records are the ones :mod:`speedrun_protocol.state` documents. The big hashes
(participants, answers) are read with ``HSCAN`` in pages, so one large run never blocks the Redis
that live runs are playing on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from redis import Redis

from speedrun_protocol.state import (
    AnswerRecord,
    MetaField,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
)
from speedrun_reporter.errors import RunStateCorruptError

M = TypeVar("M", bound=BaseModel)

SCAN_PAGE = 2_000
"""Fields asked for per ``HSCAN`` call."""


@dataclass(frozen=True)
class RunState:
    """Everything of a run the archive is built from."""

    config: RunConfig
    questions: list[RunQuestion]
    meta: dict[str, str]
    participants: list[ParticipantRecord]
    answers: list[AnswerRecord]
    scores: dict[str, float]

    @property
    def finished(self) -> bool:
        """The engine has marked the run finished."""
        return self.meta.get(MetaField.STATUS) == "finished"

    @property
    def archived(self) -> bool:
        """A reporter has already archived the run completely."""
        return self.meta.get(MetaField.ARCHIVED) == "1"


def _parse(model: type[M], raw: str, where: str) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RunStateCorruptError(f"{where} is not a valid {model.__name__}") from exc


def read_run(redis: Redis, speedrun_id: str) -> RunState | None:
    """Read a run's state.

    Args:
        redis: The state store (``decode_responses=True``).
        speedrun_id: The run.

    Returns:
        The run's state, or None when its ``config`` key is gone (never created, or expired).

    Raises:
        RunStateCorruptError: If a record does not parse.
    """
    keys = RunKeys(speedrun_id)
    with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.config)
        pipe.get(keys.questions)
        pipe.hgetall(keys.meta)
        pipe.zrange(keys.scores, 0, -1, withscores=True)
        raw_config, raw_questions, meta, scores = pipe.execute()
    if raw_config is None:
        return None
    try:
        questions = [RunQuestion.model_validate(q) for q in _json_list(raw_questions)]
    except ValidationError as exc:
        raise RunStateCorruptError(f"{keys.questions} is not a list of RunQuestion") from exc
    # HSCAN may return a field twice (if the hash is resized meanwhile): keyed by field, once.
    # Records are parsed as the pages arrive, so the raw JSON of a whole run is never held.
    participants = {
        pid: _parse(ParticipantRecord, raw, f"{keys.participants}[{pid}]")
        for pid, raw in redis.hscan_iter(keys.participants, count=SCAN_PAGE)
    }
    answers = {
        field: _parse(AnswerRecord, raw, f"{keys.answers}[{field}]")
        for field, raw in redis.hscan_iter(keys.answers, count=SCAN_PAGE)
    }
    return RunState(
        config=_parse(RunConfig, raw_config, keys.config),
        questions=questions,
        meta=meta,
        participants=list(participants.values()),
        answers=list(answers.values()),
        scores=dict(scores),
    )


def _json_list(raw: str | None) -> list[object]:
    value = json.loads(raw) if raw is not None else None
    if not isinstance(value, list):
        raise RunStateCorruptError("the run's questions are missing or not a JSON list")
    return value


def mark_archived(redis: Redis, speedrun_id: str, ttl_s: int) -> None:
    """Set ``meta.archived = 1`` and give every key of the run ``ttl_s`` seconds to live.

    The keys are not deleted: a late reconnect within the TTL still sees the final results.

    Args:
        redis: The state store.
        speedrun_id: The run.
        ttl_s: Seconds the keys live from now.
    """
    keys = RunKeys(speedrun_id)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.meta, MetaField.ARCHIVED, "1")
        for key in keys.all():
            pipe.expire(key, ttl_s)
        pipe.execute()
