"""Fixtures: settings on the test Redis, runs written straight into Redis, instances in-process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestServer

from speedrun_protocol.events import run_channel
from speedrun_protocol.frames import ParticipantJoinedFrame
from speedrun_protocol.ids import new_participant_id, new_question_set_id, new_speedrun_id
from speedrun_protocol.state import (
    EMIT_EVENT_SCRIPT,
    EVENT_LOG_MAXLEN,
    ParticipantRecord,
    RunConfig,
    RunKeys,
    RunQuestion,
    frame_body,
    join_code_key,
)
from speedrun_protocol.tokens import issue_token
from speedrun_run.app import build_app
from speedrun_run.client import RunClient
from speedrun_run.config import Settings

SECRET = "test-secret-for-speedrun-engine-0123456789"
ORIGIN = "http://127.0.0.1:8080"


def make_questions(count: int = 3, time_limit_s: int = 20) -> list[RunQuestion]:
    """Questions 0..count-1: option ``i % 3`` is correct; every fourth is multi-select (0 and 1)."""
    questions = []
    for i in range(count):
        multi = i % 4 == 3
        questions.append(
            RunQuestion(
                source_index=i,
                text=f"Question {i}?",
                options=["a", "b", "c", "d"],
                correct=[0, 1] if multi else [i % 3],
                time_limit_s=time_limit_s,
                points=1000,
            )
        )
    return questions


@dataclass
class Run:
    """A run written into Redis, with tokens."""

    speedrun_id: str
    host_token: str
    participants: dict[str, str] = field(default_factory=dict)
    """participant id -> token"""
    nicknames: dict[str, str] = field(default_factory=dict)
    """participant id -> nickname"""

    @property
    def pids(self) -> list[str]:
        """Participant ids in joining order."""
        return list(self.participants)


class RunFactory:
    """Creates runs the way sign-on does, with the protocol models, straight into Redis."""

    def __init__(self, redis_url: str) -> None:
        """Connect to the test Redis."""
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.emit = self.redis.register_script(EMIT_EVENT_SCRIPT)

    def create(
        self,
        mode: str = "self-paced",
        questions: list[RunQuestion] | None = None,
        nicknames: tuple[str, ...] = ("ann", "bob"),
        count: int = 3,
        time_limit_s: int = 20,
    ) -> Run:
        """Create a run in the lobby with participants who have joined."""
        questions = questions or make_questions(count, time_limit_s)
        speedrun_id = new_speedrun_id()
        keys = RunKeys(speedrun_id)
        code = f"{int(time.time_ns()) % 1_000_000:06d}"
        config = RunConfig(
            speedrun_id=speedrun_id,
            join_code=code,
            mode=mode,  # type: ignore[arg-type]
            title="Test run",
            question_set_id=new_question_set_id(),
            question_count=len(questions),
            default_time_limit_s=20,
            max_participants=100,
            created_at_ms=int(time.time() * 1000),
        )
        pipe = self.redis.pipeline()
        pipe.set(keys.config, config.model_dump_json())
        pipe.set(keys.questions, "[" + ",".join(q.model_dump_json() for q in questions) + "]")
        pipe.hset(
            keys.meta,
            mapping={
                "status": "lobby",
                "phase": "lobby",
                "locked": "0",
                "seq": "0",
                "participant_count": "0",
            },
        )
        pipe.set(join_code_key(code), speedrun_id)
        pipe.execute()
        run = Run(speedrun_id, issue_token(SECRET, speedrun_id, "host", "host", 3600))
        for nickname in nicknames:
            self.join(run, nickname)
        return run

    def join(self, run: Run, nickname: str) -> str:
        """Add a participant as sign-on does (record, nickname, score 0, count, joined event)."""
        keys = RunKeys(run.speedrun_id)
        pipe = self.redis.pipeline()
        pid = self._add(pipe, run, nickname, int(time.time() * 1000) + len(run.participants))
        pipe.hincrby(keys.meta, "participant_count", 1)
        count = pipe.execute()[-1]
        body = frame_body(
            ParticipantJoinedFrame(participant_id=pid, nickname=nickname, participant_count=count)
        )
        self.emit(
            keys=[keys.meta, keys.events],
            args=[
                run_channel(run.speedrun_id),
                run.speedrun_id,
                "host",
                "",
                body,
                "",
                EVENT_LOG_MAXLEN,
            ],
        )
        return pid

    def join_many(self, run: Run, count: int) -> list[str]:
        """Add ``count`` participants as sign-on does, in one pipeline and without their joined
        events (for runs of thousands)."""
        joined_at = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pids = [
            self._add(pipe, run, f"player{len(run.participants)}", joined_at + i)
            for i in range(count)
        ]
        pipe.hincrby(RunKeys(run.speedrun_id).meta, "participant_count", count)
        pipe.execute()
        return pids

    @staticmethod
    def _add(pipe: Any, run: Run, nickname: str, joined_at_ms: int) -> str:
        """Queue a new participant's record, nickname and score on ``pipe``; give them a token."""
        keys = RunKeys(run.speedrun_id)
        pid = new_participant_id()
        record = ParticipantRecord(participant_id=pid, nickname=nickname, joined_at_ms=joined_at_ms)
        pipe.hset(keys.participants, pid, record.model_dump_json())
        pipe.hset(keys.nicks, nickname.casefold(), pid)
        pipe.zadd(keys.scores, {pid: 0})
        run.participants[pid] = issue_token(SECRET, run.speedrun_id, "participant", pid, 3600)
        run.nicknames[pid] = nickname
        return pid

    def close(self) -> None:
        """Drop the connection."""
        self.redis.close()


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Settings for in-process instances on the test Redis, with short intervals."""
    return Settings(
        redis_url=redis_url,
        token_secret=SECRET,
        hello_timeout_s=1.0,
        scheduler_interval_s=0.05,
        leaderboard_interval_s=0.1,
        lease_s=3.0,
        grace_period_s=30.0,
        shutdown_timeout_s=3.0,
    )


@pytest.fixture
def runs(redis_url: str) -> Iterator[RunFactory]:
    """A factory of runs on the test Redis."""
    factory = RunFactory(redis_url)
    yield factory
    factory.close()


class Instance:
    """One in-process speedrun instance on a test server."""

    def __init__(self, settings: Settings, name: str) -> None:
        """Build the app for instance ``name``."""
        self.settings = settings.model_copy(update={"instance_id": name})
        self.server = TestServer(build_app(self.settings), host="127.0.0.1")

    @property
    def ws_url(self) -> str:
        """The WebSocket URL."""
        return str(self.server.make_url("/speedrun"))

    async def start(self) -> Instance:
        """Start serving."""
        await self.server.start_server()
        return self

    async def stop(self) -> None:
        """Shut down gracefully (sockets get 1012)."""
        await self.server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for clients."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def pair(settings: Settings) -> AsyncIterator[tuple[Instance, Instance]]:
    """Two instances sharing the test Redis."""
    a = await Instance(settings, "i-a").start()
    b = await Instance(settings, "i-b").start()
    yield a, b
    await a.stop()
    await b.stop()


@pytest.fixture
async def instances(settings: Settings) -> AsyncIterator[Any]:
    """Start in-process instances with settings overrides: ``await instances("i-x", **changes)``."""
    started: list[Instance] = []

    async def start(name: str, **changes: Any) -> Instance:
        instance = await Instance(settings.model_copy(update=changes), name).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        await instance.stop()


def client(session: aiohttp.ClientSession, instance: Instance, token: str) -> RunClient:
    """A protocol client of an instance."""
    return RunClient(session, instance.ws_url, token, origin=ORIGIN)


@pytest.fixture
def make_client(session: aiohttp.ClientSession):  # type: ignore[no-untyped-def]
    """Make protocol clients: ``make_client(instance, token)``."""

    def make(instance: Instance, token: str) -> RunClient:
        return client(session, instance, token)

    return make


@pytest.fixture
def connect_three(make_client):  # type: ignore[no-untyped-def]
    """Connect a run's host and its first two participants, each to the instance given:
    ``host, ann, bob = await connect_three(run, host_at, ann_at, bob_at)``."""

    async def connect(
        run: Any, host_at: Instance, ann_at: Instance, bob_at: Instance
    ) -> tuple[RunClient, RunClient, RunClient]:
        ann_id, bob_id = run.pids[:2]
        three = (
            make_client(host_at, run.host_token),
            make_client(ann_at, run.participants[ann_id]),
            make_client(bob_at, run.participants[bob_id]),
        )
        for c in three:
            await c.connect()
        return three

    return connect
