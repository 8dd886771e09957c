"""Runs in Redis: opening one, looking up a join code, joining.

Keys and records are those of :mod:`speedrun_protocol.state`. Opening a run takes a join code with
``SET NX EX`` (so two live runs never hold the same code, and the code is released when it
expires) and then writes the run's keys in one transaction. Joining is one Lua script, so the
checks, the participant's records and the ``participant_joined`` event are a single atomic step.

The rate limits (:mod:`speedrun_signon.ratelimit`) are checked inside these scripts, in the order
separate calls would check them, because a Redis round trip was most of a join's cost. A join is
one script: it checks the client's failed look-ups, that the code still names the run it named
when this process last read it, counts the client's joins to the run, and joins. Only the first
join of a code in a process (or one after the code moved) reads the code first, in a second
round trip.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from speedrun_protocol.events import run_channel
from speedrun_protocol.frames import Mode, ParticipantJoinedFrame, RunStatus
from speedrun_protocol.ids import new_participant_id, new_speedrun_id
from speedrun_protocol.state import (
    EMIT_LUA,
    EVENT_LOG_MAXLEN,
    RUN_TTL_S,
    MetaField,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
    frame_body,
    join_code_key,
)
from speedrun_redis import RedisBatch
from speedrun_signon.errors import (
    CodesExhausted,
    JoiningLocked,
    NicknameTaken,
    RateLimited,
    RunFinished,
    RunFull,
    RunNotFound,
)
from speedrun_signon.nicknames import fold_nickname
from speedrun_signon.ratelimit import LIMITS_LUA, RateLimits

logger = logging.getLogger(__name__)

CODE_ATTEMPTS = 50
"""Random codes tried before giving up; with n live runs each try collides with p = n / 10^6."""
KNOWN_CODES = 10_000
"""Join codes whose run a process remembers; forgotten all at once when full (each join checks
the code in Redis anyway, so this only bounds memory)."""

# The client's failed look-ups, the code and the run live in different hash slots: fine for the
# one (non-cluster) Redis that ``redis.asyncio.Redis`` talks to.
_RESOLVE_LUA = (
    LIMITS_LUA
    + """
-- KEYS: the client's unknown codes (a set), the join code. ARGV: the set's limit.
local wait = retry_after(KEYS[1], redis.call('SCARD', KEYS[1]), ARGV[1])
if wait > 0 then return {wait} end
return {0, redis.call('GET', KEYS[2])}
"""
)

_JOIN_LUA = (
    EMIT_LUA
    + LIMITS_LUA
    + """
-- KEYS: the client's unknown codes (a set), the join code, the client's joins to the run (a
--       counter), then meta, config, participants, nicks, scores, events, then the run's other
--       keys (TTL only)
-- ARGV: participant id, folded nickname, record JSON, frame body prefix, channel, speedrun id,
--       ttl, maxlen, the unknown codes' limit, the join limit, its window
local meta, config, participants, nicks, scores, events =
  KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local pid, folded, record, body_prefix, channel, speedrun_id, ttl, maxlen =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local wait = retry_after(KEYS[1], redis.call('SCARD', KEYS[1]), ARGV[9])
if wait > 0 then return {'limited', wait} end
if redis.call('GET', KEYS[2]) ~= speedrun_id then return {'moved'} end
wait = take(KEYS[3], ARGV[10], ARGV[11])
if wait > 0 then return {'limited', wait} end
local raw_config = redis.call('GET', config)
if not raw_config or redis.call('EXISTS', meta) == 0 then return {'gone'} end
local state = redis.call('HMGET', meta, 'status', 'locked', 'participant_count')
if state[1] == 'finished' then return {'finished'} end
if state[2] == '1' then return {'locked'} end
local max = tonumber(cjson.decode(raw_config)['max_participants'])
if tonumber(state[3] or '0') >= max then return {'full'} end
if redis.call('HSETNX', nicks, folded, pid) == 0 then return {'taken'} end
redis.call('HSET', participants, pid, record)
local count = redis.call('HINCRBY', meta, 'participant_count', 1)
redis.call('ZADD', scores, 0, pid)
local seq = emit(meta, events, channel, speedrun_id, 'host', '', body_prefix .. count .. '}', '',
                 maxlen)
publish_events()
for i = 4, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
return {'ok', count, seq}
"""
)

_JOIN_REFUSALS: dict[str, type[Exception]] = {
    "gone": RunNotFound,
    "finished": RunFinished,
    "locked": JoiningLocked,
    "full": RunFull,
    "taken": NicknameTaken,
}


@dataclass(frozen=True, slots=True)
class Lobby:
    """What anyone holding a join code may know about its run."""

    speedrun_id: str
    title: str
    mode: Mode
    status: RunStatus
    locked: bool
    participant_count: int
    question_count: int


@dataclass(frozen=True, slots=True)
class Joined:
    """A participant who joined."""

    speedrun_id: str
    participant_id: str
    nickname: str
    participant_count: int


def now_ms() -> int:
    """Return the wall clock in Unix milliseconds."""
    return int(time.time() * 1000)


def new_join_code() -> str:
    """Return six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


class RunStore:
    """Sign-on's reads and writes of run state."""

    def __init__(self, redis: Redis, limits: RateLimits, ttl_s: int = RUN_TTL_S) -> None:
        """Wrap a client made with ``decode_responses=True``.

        Args:
            redis: The connection pool's client.
            limits: The rate limits that looking up a code and joining check.
            ttl_s: Lifetime of a run's keys after its last change (tests shorten it).
        """
        self.redis = redis
        self.limits = limits
        self.ttl_s = ttl_s
        self._known_codes: dict[str, str] = {}
        self._resolve = redis.register_script(_RESOLVE_LUA)
        self._join = redis.register_script(_JOIN_LUA)
        # Joins arrive in bursts (a room of players typing the code): the joins of one event-loop
        # turn share one round trip, which took a join from ~400 to ~265 µs of sign-on's CPU.
        self._batch = RedisBatch(redis)

    async def create(
        self,
        *,
        mode: Mode,
        title: str,
        question_set_id: str,
        questions: list[RunQuestion],
        default_time_limit_s: int,
        max_participants: int,
    ) -> RunConfig:
        """Open a run: take a free join code, then write its config, questions and meta.

        Returns:
            The run's config (id and join code included).

        Raises:
            CodesExhausted: If no free code was found in :data:`CODE_ATTEMPTS` tries.
        """
        speedrun_id = new_speedrun_id()
        code = await self._claim_code(speedrun_id)
        config = RunConfig(
            speedrun_id=speedrun_id,
            join_code=code,
            mode=mode,
            title=title,
            question_set_id=question_set_id,
            question_count=len(questions),
            default_time_limit_s=default_time_limit_s,
            max_participants=max_participants,
            created_at_ms=now_ms(),
        )
        keys = RunKeys(speedrun_id)
        questions_json = "[" + ",".join(q.model_dump_json() for q in questions) + "]"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(keys.config, config.model_dump_json(), ex=self.ttl_s)
                pipe.set(keys.questions, questions_json, ex=self.ttl_s)
                pipe.hset(
                    keys.meta,
                    mapping={
                        MetaField.STATUS: "lobby",
                        MetaField.PHASE: "lobby",
                        MetaField.LOCKED: "0",
                        MetaField.SEQ: "0",
                        MetaField.PARTICIPANT_COUNT: "0",
                    },
                )
                pipe.expire(keys.meta, self.ttl_s)
                await pipe.execute()
        except Exception:
            # Give the code back rather than leave it pointing at a run that never was.
            await self.redis.delete(join_code_key(code))
            raise
        logger.info(
            "run opened",
            extra={"speedrun_id": speedrun_id, "mode": mode, "question_count": len(questions)},
        )
        return config

    async def _claim_code(self, speedrun_id: str) -> str:
        for _ in range(CODE_ATTEMPTS):
            code = new_join_code()
            if await self.redis.set(join_code_key(code), speedrun_id, nx=True, ex=self.ttl_s):
                return code
        raise CodesExhausted("no free join code")

    async def resolve(self, code: str, client: str) -> str:
        """Return the id of the live run holding a join code.

        Args:
            code: The join code.
            client: The client's address: refused when it named too many unknown codes in this
                window; an unknown code counts towards them.

        Raises:
            RateLimited: The client named too many unknown codes in this window.
            RunNotFound: No live run holds the code.
        """
        lookups = self.limits.lookups(client)
        result: list[Any] = await self._resolve(
            keys=[lookups.key, join_code_key(code)], args=[lookups.limit]
        )
        if result[0] > 0:
            raise RateLimited(int(result[0]))
        speedrun_id = result[1]
        if speedrun_id is None:
            self._known_codes.pop(code, None)
            count = await self.limits.add_failure(lookups, code)
            logger.info("unknown join code", extra={"client": client, "failures": count})
            raise RunNotFound(code)
        if len(self._known_codes) >= KNOWN_CODES:
            self._known_codes.clear()
        self._known_codes[code] = str(speedrun_id)
        return str(speedrun_id)

    async def lobby(self, speedrun_id: str) -> Lobby | None:
        """Return the public lobby information of a live run, or None when it is gone."""
        keys = RunKeys(speedrun_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.config)
            pipe.hmget(keys.meta, [MetaField.STATUS, MetaField.LOCKED, MetaField.PARTICIPANT_COUNT])
            raw_config, (status, locked, count) = await pipe.execute()
        if raw_config is None or status is None:
            return None
        config = RunConfig.model_validate_json(raw_config)
        return Lobby(
            speedrun_id=speedrun_id,
            title=config.title,
            mode=config.mode,
            status=_status(status),
            locked=locked == "1",
            participant_count=int(count or 0),
            question_count=config.question_count,
        )

    async def join(self, code: str, nickname: str, client: str) -> Joined:
        """Add a participant to the run holding a join code, atomically, and announce them.

        Checks, in this order, as :meth:`resolve` and then the join itself would: the client's
        unknown codes, the code, the client's joins to the run (this attempt counts), the run.

        Args:
            code: The join code.
            nickname: A nickname already normalised (see :mod:`speedrun_signon.nicknames`).
            client: The client's address, for the rate limits.

        Returns:
            The new participant.

        Raises:
            RateLimited: The client named too many unknown codes, or joined this run too often,
                in this window.
            RunNotFound: No live run holds the code, or the run's state is gone.
            RunFinished: The run is over.
            JoiningLocked: The host locked joining.
            RunFull: The run has its maximum of participants.
            NicknameTaken: The nickname is in use in this run.
        """
        speedrun_id = self._known_codes.get(code)
        if speedrun_id is not None:
            joined = await self._join_run(code, speedrun_id, nickname, client)
            if joined is not None:
                return joined
        # Not known here, or the code no longer names the run it did: read it, then join.
        speedrun_id = await self.resolve(code, client)
        joined = await self._join_run(code, speedrun_id, nickname, client)
        if joined is None:  # the code expired, and was taken again, since it was read
            raise RunNotFound(code)
        return joined

    async def _join_run(
        self, code: str, speedrun_id: str, nickname: str, client: str
    ) -> Joined | None:
        """Join the run ``code`` named when last read; None when it names another run now."""
        keys = RunKeys(speedrun_id)
        lookups = self.limits.lookups(client)
        joins = self.limits.joins(speedrun_id, client)
        participant_id = new_participant_id()
        record = ParticipantRecord(
            participant_id=participant_id, nickname=nickname, joined_at_ms=now_ms()
        )
        result: list[Any] = await self._batch.script(
            self._join,
            [
                lookups.key,
                join_code_key(code),
                joins.key,
                keys.meta,
                keys.config,
                keys.participants,
                keys.nicks,
                keys.scores,
                keys.events,
                keys.questions,
                keys.answers,
                keys.progress,
            ],
            [
                participant_id,
                fold_nickname(nickname),
                record.model_dump_json(),
                _joined_body_prefix(participant_id, nickname),
                run_channel(speedrun_id),
                speedrun_id,
                self.ttl_s,
                EVENT_LOG_MAXLEN,
                lookups.limit,
                joins.limit,
                joins.window_s,
            ],
        )
        match result[0]:
            case "ok":
                pass
            case "moved":
                self._known_codes.pop(code, None)
                return None
            case "limited":
                raise RateLimited(int(result[1]))
            case refusal:
                raise _JOIN_REFUSALS[refusal](speedrun_id)
        logger.info(
            "participant joined",
            extra={"speedrun_id": speedrun_id, "participant_id": participant_id},
        )
        return Joined(
            speedrun_id=speedrun_id,
            participant_id=participant_id,
            nickname=nickname,
            participant_count=int(result[1]),
        )


_COUNT_TAIL = '"participant_count":0}'


def _joined_body_prefix(participant_id: str, nickname: str) -> str:
    """The ``participant_joined`` frame body up to its count, which only the script knows.

    ``participant_count`` is the frame's last field, so the body ends with ``…:0}``; the script
    appends the real count and the closing brace.
    """
    body = frame_body(
        ParticipantJoinedFrame(
            participant_id=participant_id, nickname=nickname, participant_count=0
        )
    )
    if not body.endswith(_COUNT_TAIL):  # the frame's field order changed: fail loudly
        raise RuntimeError("participant_joined must end with participant_count")
    return body[: -len("0}")]


def _status(value: str) -> RunStatus:
    match value:
        case "lobby" | "running" | "finished":
            return value
        case _:
            raise ValueError(f"unknown run status {value!r}")
