"""A run's results: from DynamoDB once archived, else built live from Redis.

Both paths produce the same records (:func:`speedrun_protocol.archive.build_archive` is shared with
the reporter), so a run reads the same before and after it is archived. What a reader sees
depends on their token: a host sees everything, a participant the leaderboard and their own
answers.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter
from redis.asyncio import Redis

from speedrun_protocol.archive import (
    ArchivedParticipant,
    ArchivedRun,
    QuestionStats,
    ResultsResponse,
    archive_from_items,
    build_archive,
    leaderboard_from,
    run_pk,
)
from speedrun_protocol.state import (
    AnswerRecord,
    MetaField,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
)
from speedrun_protocol.tokens import TokenClaims
from speedrun_signon.errors import RunNotFound
from speedrun_signon.runs import now_ms

logger = logging.getLogger(__name__)

_DESERIALIZER = TypeDeserializer()
_QUESTIONS: TypeAdapter[list[RunQuestion]] = TypeAdapter(list[RunQuestion])


@dataclass(frozen=True, slots=True)
class RunResults:
    """Everything known of a run's outcome."""

    source: Literal["live", "archive"]
    run: ArchivedRun
    participants: list[ArchivedParticipant]
    """Best first (kicked ones last)."""
    questions: list[QuestionStats]


class ArchiveReader:
    """Reads archived runs from the run table (boto3 is blocking, so calls run in a thread)."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        """Wrap a DynamoDB client.

        Args:
            dynamodb: A boto3 DynamoDB client (thread-safe, unlike resources).
            table_name: The run table.
        """
        self.dynamodb = dynamodb
        self.table_name = table_name

    async def read(self, speedrun_id: str) -> RunResults | None:
        """Return an archived run, or None when it is not (completely) archived."""
        items = await asyncio.to_thread(self._query, speedrun_id)
        decoded = archive_from_items(items)
        if decoded is None:
            return None
        run, participants, stats = decoded
        return RunResults("archive", run, participants, stats)

    def _query(self, speedrun_id: str) -> list[dict[str, Any]]:
        paginator = self.dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": run_pk(speedrun_id)}},
            ConsistentRead=True,
        )
        return [
            {key: _DESERIALIZER.deserialize(value) for key, value in item.items()}
            for page in pages
            for item in page.get("Items", [])
        ]


async def read_live(redis: Redis, speedrun_id: str) -> RunResults | None:
    """Build a run's results from its Redis state, or return None when the state is gone.

    A run that has not ended yet is read as if it ended now.
    """
    keys = RunKeys(speedrun_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(keys.config)
        pipe.get(keys.questions)
        pipe.hgetall(keys.meta)
        pipe.hvals(keys.participants)
        pipe.hvals(keys.answers)
        pipe.zrange(keys.scores, 0, -1, withscores=True)
        (
            raw_config,
            raw_questions,
            meta,
            raw_participants,
            raw_answers,
            scores,
        ) = await pipe.execute()
    if raw_config is None or raw_questions is None or not meta:
        return None
    meta = dict(meta)
    meta.setdefault(MetaField.ENDED_AT_MS, str(now_ms()))
    run, participants, stats = build_archive(
        RunConfig.model_validate_json(raw_config),
        _QUESTIONS.validate_json(raw_questions),
        meta,
        [ParticipantRecord.model_validate_json(p) for p in raw_participants],
        [AnswerRecord.model_validate_json(a) for a in raw_answers],
        dict(scores),
    )
    return RunResults("live", run, participants, stats)


async def read_results(redis: Redis, archive: ArchiveReader, speedrun_id: str) -> RunResults:
    """Return a run's results: the archive when there is one, else the live state.

    When DynamoDB cannot be reached, a run still in Redis is served live (its state is the same
    the archive was made from); one that is not fails with the DynamoDB error.

    Raises:
        RunNotFound: If the run is neither archived nor in Redis.
    """
    try:
        archived = await archive.read(speedrun_id)
    except (BotoCoreError, ClientError) as exc:
        live = await read_live(redis, speedrun_id)
        if live is None:
            raise
        logger.warning(
            "archive unreachable; serving live results: %s", exc, extra={"speedrun_id": speedrun_id}
        )
        return live
    if archived is not None:
        return archived
    live = await read_live(redis, speedrun_id)
    if live is None:
        raise RunNotFound(speedrun_id)
    return live


def results_for(results: RunResults, claims: TokenClaims) -> ResultsResponse:
    """Cut the results down to what the token's bearer may see.

    Args:
        results: The whole results.
        claims: A verified token of this run.

    Returns:
        Everything for a host; the leaderboard and their own record for a participant.
    """
    leaderboard = leaderboard_from(results.participants)
    if claims.role == "host":
        return ResultsResponse(
            source=results.source,
            run=results.run,
            leaderboard=leaderboard,
            participants=results.participants,
            questions=results.questions,
        )
    own = [p for p in results.participants if p.participant_id == claims.participant_id]
    return ResultsResponse(
        source=results.source, run=results.run, leaderboard=leaderboard, participants=own
    )
