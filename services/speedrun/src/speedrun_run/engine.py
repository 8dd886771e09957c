"""The game engine: every command of a run, on both modes, against the state in Redis.

Each command reads what it needs, decides in Python (scoring, the next question, the frames) and
applies the decision with one Lua script (:mod:`speedrun_run.scripts`) that re-checks its guards.
A lost race (``stale``) is read again, a few times. Nothing here knows about sockets: the engine's
events reach clients through the run's bus (:mod:`speedrun_run.hub`).

Every public method takes ``now`` (Unix ms) so tests can drive the clock; the server passes the time
a frame arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from speedrun_protocol.errors import CloseCode, ErrorCode
from speedrun_protocol.events import CompletionMessage, run_channel
from speedrun_protocol.frames import (
    Distribution,
    LeaderboardEntry,
    QuestionRevealedFrame,
    RunFinishedFrame,
    RunStartedFrame,
)
from speedrun_protocol.state import (
    EVENT_LOG_MAXLEN,
    RUN_TTL_S,
    MetaField,
    ParticipantProgress,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
    frame_body,
)
from speedrun_redis import RedisBatch, Then
from speedrun_run import bodies
from speedrun_run.bodies import QuestionBodies
from speedrun_run.clock import now_ms
from speedrun_run.errors import Contended, Rejected, RunGone, RunLost
from speedrun_run.scoring import Score, score_answer
from speedrun_run.scripts import Scripts, instance_conns_key, script_keys

logger = logging.getLogger(__name__)

ATTEMPTS = 8
"""Times a command is read and tried again after losing a race, before giving up."""
ANSWERS_PER_SCRIPT = 1000
"""Host-paced answers sent in one script at most: one script of 5,000 held Redis 13 ms, and every
other instance's commands with it; one of 1,000, 4 ms."""
STEPS_PER_SCRIPT = 100
"""Self-paced steps sent in one script at most (a step does some 20 commands and two events)."""
STATIC_CACHE = 2048
"""Runs whose (immutable) config and questions an instance keeps in memory."""
PROGRESS_CACHE = 100_000
"""Self-paced participants whose last progress an instance keeps (then it starts over)."""
OPENED_CACHE = 100_000
"""Host-paced questions whose opening time (and runs whose last reveal) an instance keeps (then
it starts over)."""
RESULTS_CHUNK = 1_000
"""Host-paced: answer results sent per script at a reveal. A reveal of 10,000 held Redis for all
its results in one script (131-181 ms on the real stack, every other run on that Redis waiting);
the settle with the first 1,000 now holds it 56-63 ms, and the rest follow a script per 1,000."""
RESULTS_POLL_S = 0.005
"""Host-paced: how often a next question waiting for a reveal's results looks again."""
RESULTS_WINDOW_MS = 5_000
"""Host-paced: how long the next question waits for a reveal's remaining results (should they
not all be out by then, it goes ahead)."""
RESULTS_TAKEOVER_MS = 2_000
"""Host-paced: when any instance sends the remaining results of a reveal whose sender has not
(it stopped, or lost Redis): well inside the window (10,000 results take some 0.5 s)."""

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V, limit: int) -> None:
    """Keep ``value`` in a cache of at most ``limit`` entries (full: it starts over)."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


EndReason = Literal["completed", "ended_by_host", "abandoned"]


@dataclass(frozen=True, slots=True)
class RunStatic:
    """The immutable part of a run, cached per instance."""

    config: RunConfig
    questions: list[RunQuestion]
    bodies: QuestionBodies
    """Each question's frame, encoded once."""

    @property
    def self_paced(self) -> bool:
        """True for the self-paced mode."""
        return self.config.mode == "self-paced"


def _progress(raw: str | None) -> ParticipantProgress | None:
    return ParticipantProgress.model_validate_json(raw) if raw else None


def _open_for(progress: ParticipantProgress, index: int) -> bool:
    """Self-paced: True when question ``index`` is the one issued to this participant."""
    return (
        progress.current_question == index
        and progress.issued_at_ms is not None
        and progress.deadline_ms is not None
    )


def _record(raw: str | None) -> ParticipantRecord | None:
    return ParticipantRecord.model_validate_json(raw) if raw else None


def _score(
    question: RunQuestion, selected: list[int] | None, elapsed_ms: int, streak_before: int
) -> Score:
    """Score an answer to ``question`` (None: a time-out) with the run's rule."""
    return score_answer(
        points=question.points,
        correct_options=question.correct,
        selected=selected,
        elapsed_ms=elapsed_ms,
        time_limit_ms=question.time_limit_s * 1000,
        streak_before=streak_before,
    )


@dataclass(slots=True)
class _Queued:
    """The items of one batched script queued in one event-loop turn (see
    :meth:`Engine._enqueue`)."""

    args: list[Any] = dataclasses.field(default_factory=list)
    """Each item's arguments, one item after the other."""
    waiters: list[Then] = dataclasses.field(default_factory=list)
    """Who is told each item's reply status (or the exception the script failed with), in
    order."""


def _resolving(future: asyncio.Future[Any]) -> Then:
    """A reply function that settles ``future`` (unless its awaiting caller went away)."""

    def settle(outcome: Any) -> None:
        if future.done():
            return
        if isinstance(outcome, asyncio.CancelledError):
            future.cancel()
        elif isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    return settle


def _tell(queued: _Queued, reply: Any) -> None:
    """Tell each item of a batched script its reply status, or every item the exception the
    script failed with (RedisError: each caller reports the store unavailable)."""
    outcomes = [reply] * len(queued.waiters) if isinstance(reply, BaseException) else reply
    for waiter, outcome in zip(queued.waiters, outcomes, strict=True):
        try:
            waiter(outcome)
        except Exception:  # one caller's failure is not the others'
            logger.exception("a queued item's reply failed")


def _script_args(speedrun_id: str, now: int, args: Iterable[Any]) -> list[Any]:
    """A run script's arguments: what every one starts with (see scripts._PRELUDE), then its
    own."""
    return [run_channel(speedrun_id), speedrun_id, EVENT_LOG_MAXLEN, RUN_TTL_S, now, *args]


_BatchKey = tuple[str, str, tuple[Any, ...]]
"""A batched script's name, its run, and its arguments before the items."""


class SingleFlight:
    """Calls in progress, by key: a caller arriving while one runs awaits its result."""

    def __init__(self) -> None:
        """Start with no call in progress."""
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        """Return ``call()``'s result, shared with the callers of ``key`` meanwhile (its
        exception too). A cancelled caller does not cancel the call the others await."""
        running = self._running.get(key)
        if running is None:
            running = self._running[key] = asyncio.ensure_future(call())
            running.add_done_callback(lambda _: self._running.pop(key, None))
        result: T = await asyncio.shield(running)
        return result


class Engine:
    """The commands of every run, for one instance."""

    def __init__(self, redis: Redis, instance_id: str, grace_s: float, host_grace_s: float) -> None:
        """Create the engine.

        Args:
            redis: The state store (``decode_responses=True``).
            instance_id: This instance, for completion messages.
            grace_s: Self-paced: seconds a participant may be gone before forfeiting.
            host_grace_s: Seconds a host may be gone from a lobby or a host-paced run.
        """
        self.redis = redis
        self.instance_id = instance_id
        self.grace_ms = int(grace_s * 1000)
        self.host_grace_ms = int(host_grace_s * 1000)
        self.batch = RedisBatch(redis)
        self.scripts = Scripts(redis, self.batch)
        self._static: OrderedDict[str, RunStatic] = OrderedDict()
        self._opened: dict[tuple[str, int], int] = {}
        """Host-paced: when each question opened, per run and question index."""
        self._revealed: dict[str, int] = {}
        """Host-paced: the question this instance last revealed, per run, until the next
        ``next`` (which then opens the following one without reading the phase first)."""
        self._progress: dict[tuple[str, str], tuple[str, ParticipantProgress]] = {}
        """Self-paced: the progress this instance last wrote (as stored, and parsed), per run and
        participant."""
        self.nicknames: dict[str, str] = {}
        self._queued: dict[_BatchKey, _Queued] = {}
        """Answers and steps waiting for the end of the loop turn (:meth:`_enqueue`)."""
        self._flights = SingleFlight()
        """Reads in progress that callers arriving meanwhile share (a run's questions, when a
        question opened): a thousand answers arriving together make one read, not a thousand."""

    # -----------------------------------------------------------------------------------------
    # Plumbing
    # -----------------------------------------------------------------------------------------

    async def static(self, speedrun_id: str) -> RunStatic | None:
        """Return a run's config and questions (cached), or None when the run does not exist."""
        cached = self._static.get(speedrun_id)
        if cached is not None:
            self._static.move_to_end(speedrun_id)
            return cached
        # The first sockets of a run arrive together: one read and one parse serve them all.
        return await self._flights.run(("static", speedrun_id), lambda: self._load(speedrun_id))

    async def _load(self, speedrun_id: str) -> RunStatic | None:
        keys = RunKeys(speedrun_id)
        raw_config, raw_questions = await self.redis.mget(keys.config, keys.questions)
        if raw_config is None or raw_questions is None:
            return None
        questions = [RunQuestion.model_validate(q) for q in orjson.loads(raw_questions)]
        static = RunStatic(
            config=RunConfig.model_validate_json(raw_config),
            questions=questions,
            bodies=QuestionBodies.of(questions),
        )
        self._static[speedrun_id] = static
        if len(self._static) > STATIC_CACHE:
            self._static.popitem(last=False)
        return static

    def forget(self, speedrun_id: str) -> None:
        """Drop a run's cached config and questions (its state in Redis is gone)."""
        self._static.pop(speedrun_id, None)

    async def lost_runs(self, speedrun_ids: list[str]) -> list[str]:
        """Return those of ``speedrun_ids`` whose config is gone from Redis, in one round trip."""
        if not speedrun_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for speedrun_id in speedrun_ids:
                pipe.exists(RunKeys(speedrun_id).config)
            found = await pipe.execute()
        return [sid for sid, exists in zip(speedrun_ids, found, strict=True) if not exists]

    async def require_static(self, speedrun_id: str) -> RunStatic:
        """Return a run's config and questions, or refuse because the run is gone."""
        static = await self.static(speedrun_id)
        if static is None:
            raise RunGone()
        return static

    async def _script(
        self, name: str, speedrun_id: str, now: int, *args: Any, instance: str | None = None
    ) -> list[Any]:
        keys = script_keys(RunKeys(speedrun_id))
        if instance is not None:
            keys.append(instance_conns_key(instance))  # KEYS[17] of connect and disconnect
        return await self.scripts.run(name, keys, _script_args(speedrun_id, now, args))

    async def nickname_map(self, speedrun_id: str, pids: list[str]) -> dict[str, str]:
        """Return the nicknames of some participants (cached: a nickname never changes)."""
        missing = [p for p in pids if p not in self.nicknames]
        if missing:
            (raws,) = await self.batch.commands(
                ("HMGET", RunKeys(speedrun_id).participants, *missing)
            )
            for pid, raw in zip(missing, raws, strict=True):
                record = _record(raw)
                if record is not None:
                    self.nicknames[pid] = record.nickname
                    if len(self.nicknames) > 100_000:
                        self.nicknames.clear()
        return {p: self.nicknames.get(p, "?") for p in pids}

    async def top(self, speedrun_id: str, count: int) -> list[LeaderboardEntry]:
        """Return the top of a run's leaderboard (equal scores share a rank)."""
        rows: list[tuple[str, float]] = await self.redis.zrevrange(  # type: ignore[assignment]
            RunKeys(speedrun_id).scores, 0, count - 1, withscores=True
        )
        return await self.entries(speedrun_id, rows)

    async def entries(
        self, speedrun_id: str, rows: list[tuple[str, float]]
    ) -> list[LeaderboardEntry]:
        """Turn the top rows of the scores zset (best first) into leaderboard entries."""
        names = await self.nickname_map(speedrun_id, [pid for pid, _ in rows])
        entries: list[LeaderboardEntry] = []
        rank = 0
        previous: int | None = None
        for position, (pid, raw_score) in enumerate(rows, start=1):
            score = int(raw_score)
            if score != previous:
                rank, previous = position, score
            entries.append(
                LeaderboardEntry(participant_id=pid, nickname=names[pid], score=score, rank=rank)
            )
        return entries

    # -----------------------------------------------------------------------------------------
    # Host commands
    # -----------------------------------------------------------------------------------------

    async def start(self, speedrun_id: str, now: int | None = None) -> None:
        """Start a run: self-paced, everyone gets question 1; host-paced, question 1 opens."""
        static = await self.require_static(speedrun_id)
        keys = RunKeys(speedrun_id)
        for _ in range(ATTEMPTS):
            at = now if now is not None else now_ms()
            ((status, count),) = await self.batch.commands(
                ("HMGET", keys.meta, "status", "participant_count")
            )
            if status != "lobby":
                raise Rejected(ErrorCode.WRONG_STATE, "the run has already started")
            if int(count or 0) < 1:
                raise Rejected(ErrorCode.WRONG_STATE, "nobody has joined yet")
            started = frame_body(
                RunStartedFrame(
                    mode=static.config.mode,
                    question_count=len(static.questions),
                    started_at_ms=at,
                )
            )
            if static.self_paced:
                # Everyone gets the same first question at the same moment: issued once, to
                # whoever is on the board when the script runs.
                first, body, due = self._issue(static, ParticipantProgress(), 0, at)
                reply = await self._script(
                    "self_start", speedrun_id, at, started, at + self.grace_ms,
                    first.model_dump_json(), body, due,
                )  # fmt: skip
                if reply[0] == "empty":  # every participant was removed meanwhile
                    raise Rejected(ErrorCode.WRONG_STATE, "nobody has joined yet")
            else:
                reply = await self._open(
                    static, speedrun_id, 0, ("lobby", "lobby", ""), at, started
                )
            if reply[0] == "ok":
                logger.info("run started", extra={"speedrun_id": speedrun_id})
                return
            if reply[0] == "wrong_state":
                raise Rejected(ErrorCode.WRONG_STATE, "the run has already started")
        raise Contended("start")

    async def _open(
        self,
        static: RunStatic,
        speedrun_id: str,
        index: int,
        expect: tuple[str, str, str],
        now: int,
        started_body: str = "",
    ) -> list[Any]:
        deadline = now + static.questions[index].time_limit_s * 1000
        body = static.bodies.body(index, deadline, now)
        return await self._script(
            "host_open", speedrun_id, now, *expect, index, deadline, body, started_body
        )

    async def next(self, speedrun_id: str, now: int | None = None) -> None:
        """Host-paced: open the next question (revealing the current one first), or finish.

        After a reveal on this instance (the host's usual path) the following question is opened
        at once, one round trip less; the script refuses it as stale if the run has moved since,
        and then the phase is read as usual. While a large reveal's results are still being sent
        (by another call), the question waits for them.
        """
        static = await self.require_static(speedrun_id)
        if static.self_paced:
            raise Rejected(ErrorCode.WRONG_STATE, "a self-paced run has no 'next'")
        revealed = self._revealed.pop(speedrun_id, None)
        known: tuple[str, str, int] | None = None
        if revealed is not None and revealed + 1 < len(static.questions):
            known = ("running", "revealed", revealed)
        for _ in range(ATTEMPTS):
            at = now if now is not None else now_ms()
            status, phase, current = known or await self._phase(speedrun_id)
            known = None
            if status != "running":
                raise Rejected(ErrorCode.WRONG_STATE, f"the run is {status}")
            if phase in ("question", "closed"):
                known = await self._reveal_step(static, speedrun_id, phase, current, at)
                continue
            if current + 1 >= len(static.questions):
                await self.finish(speedrun_id, "completed", now=at)
                return
            reply = await self._open(
                static, speedrun_id, current + 1, ("running", "revealed", str(current)), at
            )
            if reply[0] == "ok":
                return
            if reply[0] == "busy":
                await self._results_sent(speedrun_id, int(reply[1]))
                known, now = ("running", "revealed", current), None  # opens when they are out
        raise Contended("next")

    async def _results_sent(self, speedrun_id: str, due: int) -> None:
        """Host-paced: wait until the last reveal's results are all sent (another call of this
        instance or another instance is sending them), or until ``due``."""
        meta = RunKeys(speedrun_id).meta
        # A poll, not an event: the sender may be another process; this is the rare path (the
        # host's next on the sending instance waits behind its own reveal anyway).
        while now_ms() < due and await self.redis.hexists(meta, MetaField.RESULTS_DUE_MS):  # noqa: ASYNC110
            await asyncio.sleep(RESULTS_POLL_S)

    async def reveal(self, speedrun_id: str, now: int | None = None) -> None:
        """Host-paced: close answering if open, then reveal the correct options."""
        static = await self.require_static(speedrun_id)
        if static.self_paced:
            raise Rejected(ErrorCode.WRONG_STATE, "a self-paced run has no 'reveal'")
        known: tuple[str, str, int] | None = None
        stepped = False
        for _ in range(ATTEMPTS):
            at = now if now is not None else now_ms()
            status, phase, current = known or await self._phase(speedrun_id)
            known = None
            if stepped and status == "running" and phase == "revealed":
                _remember(self._revealed, speedrun_id, current, OPENED_CACHE)
                return
            if status != "running" or phase not in ("question", "closed"):
                raise Rejected(ErrorCode.WRONG_STATE, "no question to reveal")
            known = await self._reveal_step(static, speedrun_id, phase, current, at)
            stepped = True
        raise Contended("reveal")

    async def _phase(self, speedrun_id: str) -> tuple[str, str, int]:
        values: list[str | None] = await self.redis.hmget(  # type: ignore[assignment]
            RunKeys(speedrun_id).meta, "status", "phase", "current_question"
        )
        status, phase, current = values
        return status or "", phase or "", int(current) if current is not None else -1

    async def _reveal_step(
        self, static: RunStatic, speedrun_id: str, phase: str, current: int, now: int
    ) -> tuple[str, str, int] | None:
        """One step towards 'revealed': close an open question, or settle a closed one. Returns
        the run's status, phase and question as the step left them (no need to read them), or
        None when the run had moved."""
        if phase == "question":
            reply = await self._script("host_close", speedrun_id, now, current, "host")
            done = reply[0] == "ok"
            return ("running", "closed", current) if done else None
        done = await self._settle(static, speedrun_id, current, now)
        return ("running", "revealed", current) if done else None

    async def close_question(self, speedrun_id: str, index: int, now: int | None = None) -> None:
        """Host-paced: the deadline of question ``index`` passed (no-op when already closed)."""
        at = now if now is not None else now_ms()
        await self._script("host_close", speedrun_id, at, index, "deadline")

    async def _settle(self, static: RunStatic, speedrun_id: str, index: int, now: int) -> bool:
        """Apply the closed question's answers and time-outs and reveal it (one script), then
        send the results beyond the first :data:`RESULTS_CHUNK` (a script per chunk). Returns
        False when the script found the question settled already, or the run moved on.

        Every participant on the board (joined, not kicked) is settled. The stored JSON is read
        with orjson and written with :mod:`speedrun_run.bodies`, not through the models: at
        10,000 players the models were ~100 ms of a reveal.
        """
        keys = RunKeys(speedrun_id)
        question = static.questions[index]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrange(keys.scores, 0, -1)
            pipe.hgetall(keys.progress)
            pids, progress = await pipe.execute()
        pids.sort()  # the results go out in this order: another instance can take over
        fields = [f"{pid}:{index}" for pid in pids]
        answers = (await self.batch.commands(("HMGET", keys.answers, *fields)))[0] if pids else []
        counts = [0] * len(question.options)
        answered = correct = timed_out = 0
        groups: list[Any] = []
        results: list[str] = []
        limit_ms = question.time_limit_s * 1000
        for pid, field, raw_answer in zip(pids, fields, answers, strict=True):
            raw_before = progress.get(pid)
            before: dict[str, Any] = orjson.loads(raw_before) if raw_before else {}
            if raw_answer is not None:
                # Scored here, with the streak the participant had: it cannot change while the
                # question is open, and nobody sees points before the reveal.
                stored = orjson.loads(raw_answer)
                selected: list[int] | None = stored["selected"]
                elapsed, answered_at = stored["elapsed_ms"], stored["answered_at_ms"]
                answered += 1
                for option in stored["selected"]:
                    counts[option] += 1
            else:
                selected, elapsed, answered_at = None, limit_ms, now
                timed_out += 1
            score = _score(question, selected, elapsed, before.get("streak", 0))
            correct += score.correct
            after, total = bodies.settled_progress(before, index, score)
            chosen = selected or []
            shown = None if selected is None else elapsed
            groups += [
                pid,
                after,
                score.points,
                field,
                bodies.answer_record(
                    pid, index, chosen, score, elapsed, answered_at, timed_out=selected is None
                ),
            ]
            results += [
                pid,
                bodies.answer_result(index, chosen, score, question.correct, total, shown),
            ]
        distribution = Distribution(
            question_index=index,
            correct_options=list(question.correct),
            counts=counts,
            answered=answered,
            correct=correct,
        )
        stats: list[Any] = [
            f"{index}:answered",
            answered,
            f"{index}:timed_out",
            timed_out,
            f"{index}:correct",
            correct,
        ]
        for option, count in enumerate(counts):
            stats += [f"{index}:o{option}", count]
        # The first chunk of results goes with the settle; the rest follow a chunk per script,
        # and the next question waits for them (for RESULTS_WINDOW_MS at most). Should this
        # instance not send them, any instance does after RESULTS_TAKEOVER_MS.
        chunk = 2 * RESULTS_CHUNK
        first, rest = results[:chunk], results[chunk:]
        reply = await self._script(
            "host_settle",
            speedrun_id,
            now,
            index,
            frame_body(QuestionRevealedFrame(distribution=distribution)),
            now + RESULTS_WINDOW_MS if rest else "",
            now + RESULTS_TAKEOVER_MS,
            len(stats) // 2,
            *stats,
            len(first) // 2,
            *first,
            *groups,
        )
        if reply[0] != "ok":
            return False  # settled by another call, or the run moved on
        if rest:
            await self._send_results(speedrun_id, index, first[-2], rest, now)
        return True

    async def _send_results(
        self, speedrun_id: str, index: int, sent_to: str, results: list[str], now: int
    ) -> bool:
        """Send a reveal's results (pid/body pairs, in participant id order) that follow the
        participant ``sent_to``, a chunk per script; False when a chunk was refused (another
        instance sent it, or the run moved on) or Redis failed.

        A failure is not an error for the host: the question is revealed (the host has the
        distribution), and any instance sends the rest after ``RESULTS_TAKEOVER_MS``.
        """
        chunk = 2 * RESULTS_CHUNK
        for start in range(0, max(len(results), 1), chunk):
            last = "1" if start + chunk >= len(results) else "0"
            part = results[start : start + chunk]
            try:
                reply = await self._script(
                    "host_results", speedrun_id, now, index, last, sent_to, *part
                )
            except (RedisError, OSError):
                logger.warning(
                    "reveal results not all sent",
                    extra={"speedrun_id": speedrun_id, "unsent": (len(results) - start) // 2},
                )
                return False
            if reply[0] != "ok":
                return False
            if part:
                sent_to = part[-2]
        return True

    async def send_remaining_results(
        self, speedrun_id: str, index: int, now: int | None = None
    ) -> None:
        """Host-paced: send the results of question ``index``'s reveal that its sender has not
        (it stopped, or lost Redis), from the participant after the last one sent to, rebuilt
        from the final records and progress the settle stored. A no-op once they are all out or
        the run has moved on; racing the sender, each result still goes out once (see
        ``HOST_RESULTS``)."""
        static = await self.static(speedrun_id)
        if static is None:
            return
        at = now if now is not None else now_ms()
        keys = RunKeys(speedrun_id)
        question = static.questions[index]
        for _ in range(ATTEMPTS):
            ((status, phase, current, sent_to),) = await self.batch.commands(
                ("HMGET", keys.meta, "status", "phase", "current_question", "results_sent_to")
            )
            if (status, phase, current) != ("running", "revealed", str(index)) or not sent_to:
                return
            board: list[str] = await self.redis.zrange(keys.scores, 0, -1)  # type: ignore[assignment]
            pids = sorted(pid for pid in board if pid > sent_to)
            results: list[str] = []
            if pids:
                records, progress = await self.batch.commands(
                    ("HMGET", keys.answers, *(f"{pid}:{index}" for pid in pids)),
                    ("HMGET", keys.progress, *pids),
                )
                for pid, raw_record, raw_progress in zip(pids, records, progress, strict=True):
                    if raw_record is None or raw_progress is None:
                        continue  # joined after the reveal: no result of this question
                    record, state = orjson.loads(raw_record), orjson.loads(raw_progress)
                    score = Score(
                        correct=record["correct"],
                        points=record["points"],
                        streak_bonus=record["streak_bonus"],
                        streak=state["streak"],
                    )
                    shown = None if record["timed_out"] else record["elapsed_ms"]
                    body = bodies.answer_result(
                        index, record["selected"], score, question.correct, state["score"], shown
                    )
                    results += [pid, body]
            if await self._send_results(speedrun_id, index, sent_to, results, at):
                logger.warning(
                    "sent the reveal results another instance had not",
                    extra={"speedrun_id": speedrun_id, "sent": len(results) // 2},
                )
                return
        raise Contended("results")

    async def kick(self, speedrun_id: str, participant_id: str, now: int | None = None) -> None:
        """Remove a participant; their answers stay in the record, their socket is closed."""
        static = await self.require_static(speedrun_id)
        keys = RunKeys(speedrun_id)
        at = now if now is not None else now_ms()
        raw_record, raw_progress = await self._pair(
            keys.participants, keys.progress, participant_id
        )
        record = _record(raw_record)
        if record is None or record.kicked:
            raise Rejected(ErrorCode.UNKNOWN_PARTICIPANT, "no such participant in this run")
        progress = _progress(raw_progress)
        member = ""
        if progress is not None and progress.current_question is not None:
            member = f"a|{speedrun_id}|{participant_id}|{progress.current_question}"
        kicked = record.model_copy(update={"kicked": True}).model_dump_json()
        reply = await self._script(
            "kick", speedrun_id, at, participant_id, kicked, member, static.config.mode
        )
        if reply[0] == "unknown":
            raise Rejected(ErrorCode.UNKNOWN_PARTICIPANT, "no such participant in this run")
        if reply[0] == "wrong_state":
            raise Rejected(ErrorCode.WRONG_STATE, "the run is over")
        logger.info(
            "participant kicked",
            extra={"speedrun_id": speedrun_id, "participant_id": participant_id},
        )

    async def _pair(self, hash_a: str, hash_b: str, field: str) -> tuple[str | None, str | None]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(hash_a, field)
            pipe.hget(hash_b, field)
            a, b = await pipe.execute()
        return a, b

    async def lock(self, speedrun_id: str, locked: bool, now: int | None = None) -> None:
        """Lock or unlock joining."""
        await self.require_static(speedrun_id)
        at = now if now is not None else now_ms()
        reply = await self._script("lock", speedrun_id, at, "1" if locked else "0")
        if reply[0] != "ok":
            raise Rejected(ErrorCode.WRONG_STATE, "the run is over")

    async def end(self, speedrun_id: str, now: int | None = None) -> None:
        """End the run now (host): an open host-paced question is closed and settled first."""
        static = await self.require_static(speedrun_id)
        known: tuple[str, str, int] | None = None
        for _ in range(ATTEMPTS):
            at = now if now is not None else now_ms()
            status, phase, current = known or await self._phase(speedrun_id)
            known = None
            if status == "finished":
                raise Rejected(ErrorCode.WRONG_STATE, "the run is already over")
            if not static.self_paced and phase in ("question", "closed"):
                known = await self._reveal_step(static, speedrun_id, phase, current, at)
                continue
            if await self.finish(speedrun_id, "ended_by_host", now=at, lobby_ok=True):
                return
        raise Contended("end")

    async def finish(
        self,
        speedrun_id: str,
        reason: EndReason,
        now: int | None = None,
        lobby_ok: bool = False,
        top: int = 10,
    ) -> bool:
        """Finish a run: final leaderboard to everyone, completion message into the outbox.

        Returns:
            True when this call finished the run; False when it was already over (or still in
            the lobby and ``lobby_ok`` is false).
        """
        keys = RunKeys(speedrun_id)
        for attempt in range(ATTEMPTS):
            at = now if now is not None else now_ms()
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hmget(keys.meta, "seq", "participant_count")
                pipe.zrevrange(keys.scores, 0, top - 1, withscores=True)
                (seq, count), rows = await pipe.execute()
            body = frame_body(
                RunFinishedFrame(
                    reason=reason,
                    leaderboard=await self.entries(speedrun_id, rows),
                    participant_count=int(count or 0),
                )
            )
            message = CompletionMessage.for_run(speedrun_id, reason, f"speedrun/{self.instance_id}")
            # The last tries drop the seq guard: a run busy with connections must still end.
            guard = seq or "0" if attempt < ATTEMPTS - 2 else ""
            reply = await self._script(
                "finish",
                speedrun_id,
                at,
                reason,
                guard,
                body,
                message.model_dump_json(),
                "1" if lobby_ok else "0",
            )
            if reply[0] == "ok":
                logger.info("run finished", extra={"speedrun_id": speedrun_id, "reason": reason})
                return True
            if reply[0] in ("finished", "wrong_state"):
                return False
        raise Contended("finish")

    # -----------------------------------------------------------------------------------------
    # Participants
    # -----------------------------------------------------------------------------------------

    def _issue(
        self, static: RunStatic, before: ParticipantProgress, index: int, now: int
    ) -> tuple[ParticipantProgress, str, int]:
        """Self-paced: the progress, question frame body and deadline of issuing ``index``."""
        deadline = now + static.questions[index].time_limit_s * 1000
        progress = before.model_copy(
            update={"current_question": index, "issued_at_ms": now, "deadline_ms": deadline}
        )
        return progress, static.bodies.body(index, deadline, now), deadline

    async def answer(
        self, speedrun_id: str, participant_id: str, index: int, selected: list[int], now: int
    ) -> str | None:
        """Record a participant's answer that arrived at ``now`` (server clock), and wait for it
        (see :meth:`answer_then`).

        Returns:
            Host-paced: the ``answer_accepted`` frame body. Self-paced: None (the result is a run
            event).
        """
        accepted: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if await self.answer_then(
            speedrun_id, participant_id, index, selected, now, _resolving(accepted)
        ):
            return await accepted
        return None

    async def answer_then(
        self,
        speedrun_id: str,
        participant_id: str,
        index: int,
        selected: list[int],
        now: int,
        reply: Then,
    ) -> bool:
        """Record a participant's answer that arrived at ``now`` (server clock).

        Host-paced, the answer is queued and ``reply`` told, once Redis has it, the
        ``answer_accepted`` frame body (the answering socket's reply, not a run event: nobody
        else needs it) or the exception that refused it. It is told in the Redis batch's own
        task as the reply is read (:meth:`RedisBatch.script_then`), before anything else the
        loop has ready: when the last answers close the question, their acknowledgements go out
        ahead of the close to everyone that the same script published (whose bus message is
        read after the reply), where they had waited behind it. Self-paced, the answer is
        resolved before this returns (its result is a run event).

        Returns:
            True when ``reply`` will be told (host-paced).

        Raises:
            Rejected: The answer is refused before it is queued (and, self-paced, after).
        """
        static = await self.require_static(speedrun_id)
        if index >= len(static.questions):
            raise Rejected(ErrorCode.QUESTION_NOT_OPEN, "no such question in this run")
        options = len(static.questions[index].options)
        if len(set(selected)) != len(selected) or any(o >= options for o in selected):
            raise Rejected(ErrorCode.INVALID_ANSWER, f"options are 0 to {options - 1}, once each")
        if static.self_paced:
            await self._resolve(static, speedrun_id, participant_id, index, selected, now, "answer")
            return False
        opened = await self._opened_at(speedrun_id, index)
        question = static.questions[index]
        elapsed = max(0, now - opened)
        # Recorded now, scored at the reveal with the streak (see _settle): one round trip.
        score = _score(question, selected, elapsed, streak_before=0)
        chosen = sorted(selected)
        record = bodies.answer_record(participant_id, index, chosen, score, elapsed, now)

        def told(status: Any) -> None:
            if isinstance(status, BaseException):
                reply(status)
                return
            try:
                self._raise_for(status)
            except (Rejected, Contended) as exc:
                reply(exc)
                return
            reply(bodies.answer_accepted(index, chosen, elapsed))

        item = (participant_id, now, record)
        self._enqueue("host_answers", speedrun_id, (index,), item, ANSWERS_PER_SCRIPT, told)
        return True

    def _enqueue(
        self,
        script: str,
        speedrun_id: str,
        head: tuple[Any, ...],
        item: Iterable[Any],
        cap: int,
        reply: Then,
    ) -> None:
        """Queue one item of a batched script; ``reply`` is told its reply status (or the
        exception the script failed with).

        The items of one run's script (host-paced answers to one question, self-paced steps)
        queued in one event-loop turn go as one call at the end of the turn, at most ``cap``: a
        thousand answers that arrive together are one script call, not a thousand (each call has
        a fixed cost in Redis and in the client, and each publishes its events as one bus
        message that every instance of the run reads).
        """
        key = (script, speedrun_id, head)
        queued = self._queued.get(key)
        if queued is None or len(queued.waiters) >= cap:
            queued = self._queued[key] = _Queued()
            asyncio.get_running_loop().call_soon(self._send_queued, key, queued)
        queued.args += item
        queued.waiters.append(reply)

    async def _enqueued(
        self, script: str, speedrun_id: str, head: tuple[Any, ...], item: Iterable[Any], cap: int
    ) -> str:
        """Queue one item of a batched script (:meth:`_enqueue`) and wait for its status."""
        status: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._enqueue(script, speedrun_id, head, item, cap, _resolving(status))
        return await status

    def _send_queued(self, key: _BatchKey, queued: _Queued) -> None:
        if self._queued.get(key) is queued:
            del self._queued[key]
        script, speedrun_id, head = key
        # Each item carries its own arrival time; the script's clock is when it is sent.
        args = _script_args(speedrun_id, now_ms(), (*head, len(queued.waiters), *queued.args))
        self.scripts.run_then(
            script, script_keys(RunKeys(speedrun_id)), args, lambda reply: _tell(queued, reply)
        )

    def note_question(self, speedrun_id: str, frame: str) -> None:
        """Host-paced: note when a question opened from its ``question`` event, which reaches
        this instance before any of its participants can answer it: the answers are then scored
        as they arrive, not held behind a read of the run's meta. (A self-paced start's
        ``question`` to all is noted too, and never read.)"""
        index, opened = bodies.question_issued(frame)
        _remember(self._opened, (speedrun_id, index), opened, OPENED_CACHE)

    async def _opened_at(self, speedrun_id: str, index: int) -> int:
        """Host-paced: when question ``index`` opened (noted from its event, else read once per
        instance; it never changes).

        Raises:
            Rejected: The question is not the run's current one.
        """
        opened = self._opened.get((speedrun_id, index))
        if opened is not None:
            return opened
        return await self._flights.run(
            ("opened", speedrun_id, index), lambda: self._read_opened(speedrun_id, index)
        )

    async def _read_opened(self, speedrun_id: str, index: int) -> int:
        ((status, current, raw),) = await self.batch.commands(
            ("HMGET", RunKeys(speedrun_id).meta, "status", "current_question", "question_opened_ms")
        )
        if status != "running" or current is None or int(current) != index or raw is None:
            raise Rejected(ErrorCode.QUESTION_NOT_OPEN, "that question is not open")
        opened = int(raw)
        _remember(self._opened, (speedrun_id, index), opened, OPENED_CACHE)
        return opened

    @staticmethod
    def _raise_for(status: str) -> None:
        match status:
            case "ok":
                return
            case "answered":
                raise Rejected(ErrorCode.ALREADY_ANSWERED, "the first answer stands")
            case "late":
                raise Rejected(ErrorCode.DEADLINE_PASSED, "answering has closed")
            case "not_open" | "wrong_state":
                raise Rejected(ErrorCode.QUESTION_NOT_OPEN, "that question is not open")
            case "kicked":
                raise Rejected(ErrorCode.KICKED, "removed by the host", CloseCode.KICKED)
            case _:
                raise Contended(status)

    async def timeout(
        self, speedrun_id: str, participant_id: str, index: int, now: int | None = None
    ) -> None:
        """Self-paced: the deadline of ``index`` passed for a participant (no-op if answered)."""
        static = await self.static(speedrun_id)
        if static is None:
            return
        at = now if now is not None else now_ms()
        # Answered, moved on, kicked or finished: nothing to time out.
        with contextlib.suppress(Rejected):
            await self._resolve(static, speedrun_id, participant_id, index, None, at, "timeout")

    async def forfeit(self, speedrun_id: str, participant_id: str, now: int | None = None) -> None:
        """Self-paced: a participant gone past the grace period no longer blocks the end."""
        static = await self.static(speedrun_id)
        if static is None:
            return
        at = now if now is not None else now_ms()
        raw: str | None = await self.redis.hget(  # type: ignore[assignment]
            RunKeys(speedrun_id).progress, participant_id
        )
        progress = _progress(raw)
        if progress is None or progress.finished_at_ms is not None:
            return
        index = progress.current_question if progress.current_question is not None else 0
        with contextlib.suppress(Rejected):
            await self._resolve(static, speedrun_id, participant_id, index, None, at, "forfeit")
        logger.info(
            "participant forfeited",
            extra={"speedrun_id": speedrun_id, "participant_id": participant_id},
        )

    async def _resolve(
        self,
        static: RunStatic,
        speedrun_id: str,
        participant_id: str,
        index: int,
        selected: list[int] | None,
        now: int,
        kind: Literal["answer", "timeout", "forfeit"],
    ) -> None:
        """Self-paced: score an answer or a time-out, and move the participant on, atomically.

        An answer first tries the progress this instance wrote last for the participant, with no
        read: the script refuses it if that is not the stored progress any more (``stale``), and
        any refusal is then checked against a fresh read, which gives the exact error.
        """
        if kind == "answer":
            cached = self._progress.pop((speedrun_id, participant_id), None)
            if cached is not None:
                raw, known = cached
                if _open_for(known, index) and now <= (known.deadline_ms or 0):
                    step = (static, speedrun_id, participant_id, raw, known)
                    if await self._step(*step, index, selected, now, kind) == "ok":
                        return
        keys = RunKeys(speedrun_id)
        for _ in range(ATTEMPTS):
            status, raw_progress, exists, raw_record = await self.batch.commands(
                ("HGET", keys.meta, "status"),
                ("HGET", keys.progress, participant_id),
                ("HEXISTS", keys.answers, f"{participant_id}:{index}"),
                ("HGET", keys.participants, participant_id),
            )
            record = _record(raw_record)
            if record is None and status is None:
                # Neither the participant nor the run's meta: the state store lost the run.
                self.forget(speedrun_id)
                raise RunLost()
            if record is None or record.kicked:
                raise Rejected(ErrorCode.KICKED, "removed by the host", CloseCode.KICKED)
            self.nicknames[participant_id] = record.nickname
            if status != "running":
                raise Rejected(ErrorCode.WRONG_STATE, f"the run is {status or 'gone'}")
            if exists:
                raise Rejected(ErrorCode.ALREADY_ANSWERED, "the first answer stands")
            before = _progress(raw_progress)
            if before is None or not _open_for(before, index):
                raise Rejected(ErrorCode.QUESTION_NOT_OPEN, "that question is not open for you")
            if kind == "answer" and now > (before.deadline_ms or 0):
                raise Rejected(ErrorCode.DEADLINE_PASSED, "the time for that question is up")
            step = (static, speedrun_id, participant_id, raw_progress, before)
            status = await self._step(*step, index, selected, now, kind)
            if status in ("ok", "present"):
                return
            if status != "stale":
                self._raise_for(status)
        raise Contended("answer")

    async def _step(
        self,
        static: RunStatic,
        speedrun_id: str,
        participant_id: str,
        raw_progress: str,
        before: ParticipantProgress,
        index: int,
        selected: list[int] | None,
        now: int,
        kind: str,
    ) -> str:
        """Plan one step on ``before`` (stored as ``raw_progress``) and apply it; return the
        script's status. On ``ok``: remember the progress written, and finish the run if this
        was the last step of the last participant."""
        after, args = self._plan_step(static, participant_id, before, index, selected, now, kind)
        item = (participant_id, index, raw_progress, *args)
        status = await self._enqueued("self_resolve", speedrun_id, (), item, STEPS_PER_SCRIPT)
        if status not in ("ok", "done"):
            return status
        _remember(self._progress, (speedrun_id, participant_id), (args[0], after), PROGRESS_CACHE)
        if status == "done":
            # The script also scheduled f|run: if this loses every race, that fires it.
            with contextlib.suppress(Contended):
                await self.finish(speedrun_id, "completed", now=now)
        return "ok"

    def _plan_step(
        self,
        static: RunStatic,
        participant_id: str,
        before: ParticipantProgress,
        index: int,
        selected: list[int] | None,
        now: int,
        kind: str,
    ) -> tuple[ParticipantProgress, list[Any]]:
        """The progress after one step, and the ``self_resolve`` arguments that apply it."""
        question = static.questions[index]
        limit_ms = question.time_limit_s * 1000
        assert before.issued_at_ms is not None
        timed_out = selected is None
        elapsed = max(0, now - before.issued_at_ms)
        if timed_out:
            elapsed = min(elapsed, limit_ms)
        score = _score(question, selected, elapsed, before.streak)
        chosen = sorted(selected or [])
        total = before.score + score.points
        next_index = index + 1 if kind != "forfeit" and index + 1 < len(static.questions) else None
        next_body, next_due, finished_body = "", 0, ""
        if next_index is not None:
            next_due = now + static.questions[next_index].time_limit_s * 1000
            next_body = static.bodies.body(next_index, next_due, now)
        else:
            finished_body = bodies.participant_finished(participant_id, total)
        after = ParticipantProgress(
            current_question=next_index,
            issued_at_ms=None if next_index is None else now,
            deadline_ms=None if next_index is None else next_due,
            streak=score.streak,
            answered_count=before.answered_count + 1,
            correct_count=before.correct_count + score.correct,
            score=total,
            finished_at_ms=now if next_index is None else None,
        )
        result = bodies.answer_result(
            index, chosen, score, question.correct, total, None if timed_out else elapsed
        )
        record = bodies.answer_record(
            participant_id, index, chosen, score, elapsed, now, timed_out=timed_out
        )
        return after, [
            after.model_dump_json(),
            record,
            score.points,
            result,
            next_body,
            next_due,
            "1" if next_index is None else "0",
            finished_body,
            "1" if kind == "forfeit" else "0",
            "1" if score.correct else "0",
            "1" if timed_out else "0",
            len(chosen),
            *chosen,
        ]

    # -----------------------------------------------------------------------------------------
    # Connections
    # -----------------------------------------------------------------------------------------

    async def connect(self, speedrun_id: str, who: str, value: str, now: int | None = None) -> str:
        """Record the one live connection of an identity; return the one it replaces, or ''.

        Self-paced: a participant who joined after the start gets question 1 now.
        """
        static = await self.require_static(speedrun_id)
        at = now if now is not None else now_ms()
        # The script also records the presence under this instance's connections, so that
        # another instance can release it if this one dies.
        instance = value.partition("|")[0]
        reply = await self._script("connect", speedrun_id, at, who, value, instance=instance)
        if reply[0] == "unknown":
            raise Rejected(
                ErrorCode.INVALID_TOKEN, "no such participant in this run", CloseCode.INVALID_TOKEN
            )
        if reply[0] == "kicked":
            raise Rejected(ErrorCode.KICKED, "removed by the host", CloseCode.KICKED)
        if static.self_paced and who != "host" and reply[2] == "running" and not reply[3]:
            await self._issue_first(static, speedrun_id, who, at)
        return str(reply[1])

    async def _issue_first(
        self, static: RunStatic, speedrun_id: str, participant_id: str, now: int
    ) -> None:
        """Self-paced: question 1 for a participant who joined after the start (the script
        re-checks that the run is running and they have no progress yet)."""
        progress, body, due = self._issue(static, ParticipantProgress(), 0, now)
        await self._script(
            "self_issue_first",
            speedrun_id,
            now,
            participant_id,
            progress.model_dump_json(),
            body,
            f"a|{speedrun_id}|{participant_id}|0",
            due,
        )

    async def disconnect(
        self, speedrun_id: str, who: str, value: str, now: int | None = None
    ) -> None:
        """Forget a connection (if still the live one); start the grace period when it matters."""
        static = await self.static(speedrun_id)
        if static is None:
            return
        at = now if now is not None else now_ms()
        # The script also forgets the connection in this instance's list, in the same trip.
        await self._script(
            "disconnect",
            speedrun_id,
            at,
            who,
            value,
            at + self.grace_ms,
            at + self.host_grace_ms,
            static.config.mode,
            instance=value.partition("|")[0],
        )

    async def host_gone(self, speedrun_id: str, now: int | None = None) -> None:
        """The host has been gone past the grace period: abandon a lobby or a host-paced run."""
        static = await self.static(speedrun_id)
        if static is None:
            return
        keys = RunKeys(speedrun_id)
        status, present = await self._status_and_host(keys)
        if present or status == "finished":
            return
        if status == "running" and static.self_paced:
            return  # a self-paced run plays on without its host
        await self.finish(speedrun_id, "abandoned", now=now, lobby_ok=True)

    async def _status_and_host(self, keys: RunKeys) -> tuple[str | None, bool]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(keys.meta, "status")
            pipe.hexists(keys.presence, "host")
            status, present = await pipe.execute()
        return status, bool(present)

    # -----------------------------------------------------------------------------------------
    # Deadlines
    # -----------------------------------------------------------------------------------------

    async def fire(self, item: str, now: int | None = None) -> None:
        """Run one due deadline item (see the README for the kinds)."""
        kind, _, rest = item.partition("|")
        parts = rest.split("|")
        try:
            match kind, parts:
                case "a", [speedrun_id, participant_id, index]:
                    await self.timeout(speedrun_id, participant_id, int(index), now)
                case "q", [speedrun_id, index]:
                    await self.close_question(speedrun_id, int(index), now)
                case "g", [speedrun_id, participant_id]:
                    await self.forfeit(speedrun_id, participant_id, now)
                case "h", [speedrun_id]:
                    await self.host_gone(speedrun_id, now)
                case "f", [speedrun_id]:
                    await self.finish(speedrun_id, "completed", now=now)
                case "r", [speedrun_id, index]:
                    await self.send_remaining_results(speedrun_id, int(index), now)
                case _:
                    logger.error("unknown deadline item", extra={"item": item})
        except (ValueError, ValidationError):
            logger.exception("bad deadline item", extra={"item": item})
