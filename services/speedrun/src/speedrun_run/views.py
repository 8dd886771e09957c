"""What a client may see now: the ``welcome`` snapshot, consistent with one sequence number."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

from speedrun_protocol.frames import (
    CloseReason,
    Distribution,
    OwnState,
    ParticipantView,
    Phase,
    QuestionView,
    RunStatus,
    Snapshot,
)
from speedrun_protocol.state import ParticipantProgress, ParticipantRecord, RunKeys
from speedrun_run.bodies import question_view
from speedrun_run.engine import Engine, RunStatic
from speedrun_run.scripts import script_keys

T = TypeVar("T")

ROSTER_CHUNK = 500
"""Participants of a host's snapshot read between two yields to the event loop: a host's
welcome to a run of 10,000 took ~100 ms of the instance in one piece, a stall for every other
socket it serves."""


@dataclass(frozen=True, slots=True)
class View:
    """A snapshot and the run's sequence number it is consistent with."""

    snapshot: Snapshot
    seq: int


async def build_snapshot(
    engine: Engine,
    static: RunStatic,
    participant_id: str | None,
    now: int,
    top: int,
) -> View:
    """Read a run's state in one script and cut out what this client may see.

    Args:
        engine: The engine (Redis and the nickname cache).
        static: The run's config and questions.
        participant_id: The participant, or None for the host.
        now: The server's clock, for remaining times.
        top: Rows of the leaderboard.

    Returns:
        The snapshot and its sequence number.
    """
    speedrun_id = static.config.speedrun_id
    keys = RunKeys(speedrun_id)
    replies = await engine.batch.script(
        engine.scripts.snapshot, script_keys(keys), [top, participant_id or ""]
    )
    meta: dict[str, str] = _pairs(replies[0])
    rows = [(pid, float(score)) for pid, score in _pairs(replies[1]).items()]
    status: RunStatus = meta.get("status", "lobby")  # type: ignore[assignment]
    phase: Phase = meta.get("phase", "lobby")  # type: ignore[assignment]
    current = int(meta["current_question"]) if "current_question" in meta else None
    host_paced = not static.self_paced
    open_question: QuestionView | None = None
    if host_paced and status == "running" and phase == "question" and current is not None:
        open_question = question_view(
            static.questions, current, int(meta.get("question_deadline_ms", now)), now
        )
    distribution: Distribution | None = None
    if host_paced and current is not None and phase in ("revealed", "finished"):
        distribution = await _distribution(engine, static, keys, current)
    participants: list[ParticipantView] = []
    own: OwnState | None = None
    answered: int | None = None
    closed_reason: CloseReason | None = None
    if host_paced and phase == "closed":
        closed_reason = meta.get("closed_reason")  # type: ignore[assignment]
    if participant_id is None:
        participants = await _roster(
            list(_pairs(replies[2]).values()), _pairs(replies[3]), set(replies[4]), engine.nicknames
        )
        if host_paced and current is not None and phase in ("question", "closed"):
            answered = int(replies[5] or 0)
    else:
        raw_progress, raw_score, rank, answered_current, raw_record = replies[2:7]
        if raw_record is not None:
            engine.nicknames[participant_id] = ParticipantRecord.model_validate_json(
                raw_record
            ).nickname
        mine = ParticipantProgress.model_validate_json(raw_progress) if raw_progress else None
        mine = mine or ParticipantProgress()
        own = OwnState(
            score=int(float(raw_score or 0)),
            rank=rank,
            streak=mine.streak,
            answered_count=mine.answered_count,
            correct_count=mine.correct_count,
            finished=mine.finished_at_ms is not None,
            answered_current=open_question is not None and bool(answered_current),
        )
        if (
            static.self_paced
            and status == "running"
            and mine.current_question is not None
            and mine.deadline_ms is not None
        ):
            open_question = question_view(
                static.questions, mine.current_question, mine.deadline_ms, now
            )
    snapshot = Snapshot(
        title=static.config.title,
        mode=static.config.mode,
        status=status,
        phase=phase,
        locked=meta.get("locked") == "1",
        join_code=static.config.join_code if participant_id is None else None,
        question_count=len(static.questions),
        participant_count=int(meta.get("participant_count", 0)),
        participants=participants,
        current_question=open_question
        if not (participant_id is None and static.self_paced)
        else None,
        last_distribution=distribution,
        answered=answered,
        closed_reason=closed_reason,
        own=own,
        leaderboard=await engine.entries(speedrun_id, rows),
    )
    return View(snapshot=snapshot, seq=int(meta.get("seq", 0)))


async def _roster(
    records: list[str], progress: dict[str, str], present: set[str], nicknames: dict[str, str]
) -> list[ParticipantView]:
    """The host's view of every participant not kicked, in joining order, read in chunks of
    :data:`ROSTER_CHUNK` with the event loop let go in between (the state was read at once: the
    roster is as consistent as the rest of the snapshot)."""
    parsed: list[ParticipantRecord] = []
    async for raws in _chunks(records):
        parsed.extend(ParticipantRecord.model_validate_json(raw) for raw in raws)
    parsed.sort(key=lambda r: (r.joined_at_ms, r.participant_id))
    views: list[ParticipantView] = []
    async for some in _chunks(parsed):
        for record in some:
            pid = record.participant_id
            if record.kicked:
                continue
            nicknames[pid] = record.nickname
            mine = (
                ParticipantProgress.model_validate_json(progress[pid]) if pid in progress else None
            )
            views.append(_participant_view(record, mine, pid in present))
    return views


async def _chunks(items: list[T]) -> AsyncIterator[list[T]]:
    """``items`` by :data:`ROSTER_CHUNK`, letting the event loop go between two chunks."""
    for start in range(0, len(items), ROSTER_CHUNK):
        if start:
            await asyncio.sleep(0)
        yield items[start : start + ROSTER_CHUNK]


def _pairs(flat: list[str]) -> dict[str, str]:
    """A flat ``[key, value, ...]`` reply (HGETALL or WITHSCORES from Lua) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


_NOT_STARTED = ParticipantProgress()


def _participant_view(
    record: ParticipantRecord, progress: ParticipantProgress | None, connected: bool
) -> ParticipantView:
    progress = progress or _NOT_STARTED  # not a new model per participant: frozen, shared
    return ParticipantView(
        participant_id=record.participant_id,
        nickname=record.nickname,
        score=progress.score,
        answered_count=progress.answered_count,
        correct_count=progress.correct_count,
        current_question=progress.current_question,
        finished=progress.finished_at_ms is not None,
        connected=connected,
    )


async def _distribution(
    engine: Engine, static: RunStatic, keys: RunKeys, index: int
) -> Distribution | None:
    question = static.questions[index]
    fields = [f"{index}:answered", f"{index}:correct"] + [
        f"{index}:o{o}" for o in range(len(question.options))
    ]
    (values,) = await engine.batch.commands(("HMGET", keys.qstats, *fields))
    if values[0] is None:
        return None
    return Distribution(
        question_index=index,
        correct_options=list(question.correct),
        counts=[int(v or 0) for v in values[2:]],
        answered=int(values[0] or 0),
        correct=int(values[1] or 0),
    )
