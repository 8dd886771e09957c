"""Archiving one finished run: Redis -> DynamoDB, then a short TTL on the run's Redis keys.

The speedrun id is the idempotency key. Every step can be repeated: the items have deterministic
keys, ``SUMMARY`` is written last, and the ``archived`` flag is set (with the TTL) only after it.
A retry after a partial write therefore rewrites the same items and completes the archive; a
duplicate after completion finds the flag (or, once Redis forgot the run, the ``SUMMARY``) and
does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from speedrun_protocol.archive import archive_items, build_archive
from speedrun_reporter.archive_store import has_summary, write_archive
from speedrun_reporter.clients import Clients
from speedrun_reporter.errors import RunNotFinishedError, RunNotFoundError, RunStateCorruptError
from speedrun_reporter.log import logger
from speedrun_reporter.run_state import mark_archived, read_run


@dataclass(frozen=True)
class ArchiveOutcome:
    """What :func:`archive_run` did."""

    speedrun_id: str
    status: Literal["archived", "already_archived"]
    items: int = 0
    """Items written (0 when it was already archived)."""


def archive_run(clients: Clients, speedrun_id: str, ttl_s: int) -> ArchiveOutcome:
    """Archive a finished run, or confirm it already is.

    Args:
        clients: Redis and the run table.
        speedrun_id: The run.
        ttl_s: Seconds the run's Redis keys live once archived.

    Returns:
        Whether it was archived now or before.

    Raises:
        RunNotFoundError: If Redis has no such run and DynamoDB no archive of it.
        RunNotFinishedError: If the run is not finished.
        RunStateCorruptError: If the run's state does not parse.
    """
    context = {"speedrun_id": speedrun_id}
    state = read_run(clients.redis, speedrun_id)
    if state is None or state.archived:
        if has_summary(clients.table, speedrun_id):
            logger.info("run already archived", extra=context)
            return ArchiveOutcome(speedrun_id=speedrun_id, status="already_archived")
        if state is None:
            raise RunNotFoundError(f"run {speedrun_id} is neither in Redis nor archived")
    if not state.finished:
        raise RunNotFinishedError(
            f"run {speedrun_id} is {state.meta.get('status', 'without status')}, not finished"
        )
    try:
        run, participants, stats = build_archive(
            state.config,
            state.questions,
            state.meta,
            state.participants,
            state.answers,
            state.scores,
        )
    except ValueError as exc:
        raise RunStateCorruptError(str(exc)) from exc
    # A 10,000 x 20 run is 200,000 records at each stage: let each stage go once the next is
    # built, so the Lambda's memory holds at most two of them.
    del state
    items = archive_items(run, participants, stats)
    del participants
    write_archive(clients.table, items)
    mark_archived(clients.redis, speedrun_id, ttl_s)
    logger.info(
        "run archived",
        extra={
            **context,
            "participants": run.participant_count,
            "questions": run.question_count,
            "items": len(items),
        },
    )
    return ArchiveOutcome(speedrun_id=speedrun_id, status="archived", items=len(items))
