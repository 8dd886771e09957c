"""Answers that must be refused and change nothing: duplicate, late, foreign, out of order."""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

import pytest
import redis
from redis.asyncio import Redis

from speedrun_protocol.errors import ErrorCode
from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    ErrorFrame,
    QuestionFrame,
    StartFrame,
)
from speedrun_protocol.state import AnswerRecord, ParticipantProgress, RunKeys
from speedrun_run import engine as engine_module
from speedrun_run.client import RunClient
from speedrun_run.engine import Engine
from speedrun_run.errors import Rejected
from speedrun_run.hub import Hub, Room
from speedrun_testkit import wait_until


def answers_and_score(redis_url: str, speedrun_id: str, pid: str) -> tuple[int, float | None]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = RunKeys(speedrun_id)
    return r.hlen(keys.answers), r.zscore(keys.scores, pid)


async def test_duplicate_foreign_and_out_of_order_answers_are_refused(
    pair, runs, make_client, redis_url
) -> None:
    a, b = pair
    run = runs.create("self-paced", count=3)
    other = runs.create("self-paced", count=3)
    ann_id = run.pids[0]
    host = make_client(a, run.host_token)
    ann = make_client(b, run.participants[ann_id])
    await host.connect()
    await ann.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    await ann.expect(AnswerResultFrame)
    await ann.expect(QuestionFrame)
    before = answers_and_score(redis_url, run.speedrun_id, ann_id)
    cases = [
        (AnswerFrame(question_index=0, selected=[1]), "already_answered"),  # duplicate
        (AnswerFrame(question_index=2, selected=[2]), "question_not_open"),  # out of order
        (AnswerFrame(question_index=7, selected=[0]), "question_not_open"),  # not in this run
        (AnswerFrame(question_index=1, selected=[5]), "invalid_answer"),  # no such option
        (AnswerFrame(question_index=1, selected=[1, 1]), "invalid_answer"),
    ]
    for frame, code in cases:
        await ann.send(frame)
        error = await ann.expect(ErrorFrame)
        assert (error.code, error.ref) == (code, "answer")
    assert answers_and_score(redis_url, run.speedrun_id, ann_id) == before
    # a participant of another run (still in its lobby) cannot answer anything here or there
    stranger = make_client(a, other.participants[other.pids[0]])
    await stranger.connect()
    await stranger.send(AnswerFrame(question_index=1, selected=[1]))
    assert (await stranger.expect(ErrorFrame)).code in ("wrong_state", "question_not_open")
    assert answers_and_score(redis_url, run.speedrun_id, ann_id) == before
    # the host cannot answer
    await host.send(AnswerFrame(question_index=1, selected=[1]))
    assert (await host.expect(ErrorFrame)).code == "forbidden"


async def test_late_answer_is_refused_with_deadline_passed(settings, runs, session, redis_url):  # type: ignore[no-untyped-def]
    # GIVEN one instance whose scheduler is too slow to time the question out first
    from aiohttp.test_utils import TestServer

    from speedrun_run.app import build_app

    slow = settings.model_copy(update={"scheduler_interval_s": 600.0})
    server = TestServer(build_app(slow), host="127.0.0.1")
    await server.start_server()
    try:
        run = runs.create("self-paced", time_limit_s=1)
        url = str(server.make_url("/speedrun"))
        host = RunClient(session, url, run.host_token)
        ann = RunClient(session, url, run.participants[run.pids[0]])
        await host.connect()
        await ann.connect()
        await host.send(StartFrame())
        q0 = await ann.expect(QuestionFrame)
        wait_until(lambda: time.time() * 1000 > q0.question.deadline_ms + 20, timeout=3)
        await ann.send(AnswerFrame(question_index=0, selected=[0]))
        assert (await ann.expect(ErrorFrame)).code == "deadline_passed"
        assert answers_and_score(redis_url, run.speedrun_id, run.pids[0]) == (0, 0)
    finally:
        await server.close()


async def test_a_remembered_progress_gone_stale_is_read_again_not_double_counted(
    runs, redis_url
) -> None:
    # GIVEN a self-paced run played by ann through instance a, which remembers her progress
    run = runs.create("self-paced", nicknames=("ann",), count=3)
    (ann,) = run.pids
    redis_a = Redis.from_url(redis_url, decode_responses=True)
    redis_b = Redis.from_url(redis_url, decode_responses=True)
    a = Engine(redis_a, "i-a", grace_s=30, host_grace_s=600)
    b = Engine(redis_b, "i-b", grace_s=30, host_grace_s=600)
    now = int(time.time() * 1000)
    await a.start(run.speedrun_id, now)
    await a.answer(run.speedrun_id, ann, 0, [0], now + 100)
    keys = RunKeys(run.speedrun_id)
    progress_sent = await redis_a.hget(keys.progress, ann)

    # WHEN her next answer comes through a: one script, no read
    async def no_reads(*commands: object) -> None:
        raise AssertionError(f"read {commands}")

    reads, a.batch.commands = a.batch.commands, no_reads  # type: ignore[method-assign]
    await a.answer(run.speedrun_id, ann, 1, [1], now + 200)
    a.batch.commands = reads  # type: ignore[method-assign]
    assert await redis_a.hget(keys.progress, ann) != progress_sent

    # AND instance b times out her question 2 (a does not know): a's memory is now stale
    await b.timeout(run.speedrun_id, ann, 2, now + 30_000)

    # THEN an answer to question 2 through a is refused as it should be, and counted once
    with pytest.raises(Rejected) as refused:
        await a.answer(run.speedrun_id, ann, 2, [2], now + 30_100)
    assert refused.value.code in (ErrorCode.QUESTION_NOT_OPEN, ErrorCode.WRONG_STATE)
    record = AnswerRecord.model_validate_json(await redis_a.hget(keys.answers, f"{ann}:2"))
    assert record.timed_out
    assert await redis_a.hlen(keys.answers) == 3
    await redis_a.aclose()
    await redis_b.aclose()


@pytest.mark.parametrize("mode", ["self-paced", "host-paced"])
async def test_an_answer_that_races_a_kick_is_refused_and_changes_nothing(
    runs, redis_url, mode
) -> None:
    # GIVEN a started run in which ann's instance still believes she plays (it remembers her
    # progress, self-paced, or knows the open question, host-paced; cy has not answered, so the
    # question stays open)
    run = runs.create(mode, nicknames=("ann", "bob", "cy"), count=3)
    ann, bob, _ = run.pids
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)
    now = int(time.time() * 1000)
    for pid in run.pids:
        await engine.connect(run.speedrun_id, pid, f"i-a|{pid}", now)
    await engine.start(run.speedrun_id, now)
    await engine.answer(run.speedrun_id, bob, 0, [0], now + 100)
    if mode == "self-paced":
        await engine.answer(run.speedrun_id, ann, 0, [0], now + 100)

    # WHEN the host kicks her and her answer arrives after the kick
    await engine.kick(run.speedrun_id, ann, now + 150)
    before = answers_and_score(redis_url, run.speedrun_id, ann)
    index = 1 if mode == "self-paced" else 0
    with pytest.raises(Rejected) as refused:
        await engine.answer(run.speedrun_id, ann, index, [1], now + 200)

    # THEN it is refused as kicked and recorded nowhere
    assert refused.value.code == ErrorCode.KICKED
    assert answers_and_score(redis_url, run.speedrun_id, ann) == before == (before[0], None)
    await client.aclose()


class OpenQuestion(NamedTuple):
    """A started run of connected players with question 0 open (20 s), and its engine."""

    run: Any
    pids: list[str]
    client: Redis
    engine: Engine
    now: int


async def open_question(
    runs: Any, redis_url: str, players: int, mode: str = "host-paced", count: int = 3
) -> OpenQuestion:
    run = runs.create(mode, nicknames=(), count=count)
    pids = runs.join_many(run, players)
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)
    now = int(time.time() * 1000)
    for pid in pids:
        await engine.connect(run.speedrun_id, pid, f"i-a|{pid}", now)
    await engine.start(run.speedrun_id, now)
    return OpenQuestion(run, pids, client, engine, now)


def record_scripts(engine: Engine) -> list[list[object]]:
    """From now on, keep the arguments of every script the engine sends."""
    sent: list[list[object]] = []
    send, send_then = engine.batch.script, engine.batch.script_then

    async def recorded(script: object, keys: list[str], args: list[object]) -> object:
        sent.append(args)
        return await send(script, keys, args)  # type: ignore[arg-type]

    def recorded_then(script: object, keys: list[str], args: list[object], then: Any) -> None:
        sent.append(args)
        send_then(script, keys, args, then)  # type: ignore[arg-type]

    engine.batch.script = recorded  # type: ignore[method-assign]
    engine.batch.script_then = recorded_then  # type: ignore[method-assign]
    return sent


async def test_an_instance_that_passed_a_question_on_scores_its_answers_without_a_read(
    runs, redis_url
) -> None:
    # GIVEN a host-paced run whose question 0 instance a opened, and instance b, whose hub has
    # passed the question's event on (as to its sockets) and which knows the run's questions
    run, pids, client, _, opened = await open_question(runs, redis_url, 2)
    b = Engine(client, "i-b", grace_s=30, host_grace_s=600)
    hub = Hub(client, b.batch, "i-b", replay_limit=100, on_question=b.note_question)
    room = hub.rooms[run.speedrun_id] = Room(run.speedrun_id)
    for event in await hub._read_stream(run.speedrun_id, 1, None):
        hub._deliver(room, *event)
    await b.require_static(run.speedrun_id)

    # WHEN a player answers through b 1.5 s after the question opened
    async def no_reads(*commands: object) -> None:
        raise AssertionError(f"read {commands}")

    reads, b.batch.commands = b.batch.commands, no_reads  # type: ignore[method-assign]
    await b.answer(run.speedrun_id, pids[0], 0, [0], opened + 1500)
    b.batch.commands = reads  # type: ignore[method-assign]

    # THEN it was scored on arrival (one script, no read) from when the question really opened
    raw = await client.hget(RunKeys(run.speedrun_id).answers, f"{pids[0]}:0")
    assert AnswerRecord.model_validate_json(raw).elapsed_ms == 1500
    await client.aclose()


async def test_host_paced_answers_arriving_together_are_one_script_each_with_its_own_reply(
    runs, redis_url
) -> None:
    # GIVEN a host-paced run of 40 connected players with question 0 open (20 s), one of them
    # kicked
    run, pids, client, engine, now = await open_question(runs, redis_url, 40)
    kicked = pids[39]
    await engine.kick(run.speedrun_id, kicked, now + 10)
    scripts = record_scripts(engine)

    # WHEN they all answer at once: every player but the kicked one, one of them twice, and one
    # after the deadline
    async def answer(pid: str, at: int) -> str:
        try:
            return await engine.answer(run.speedrun_id, pid, 0, [0], at)
        except Rejected as exc:
            return exc.code

    arrivals = [(pid, now + 100) for pid in pids[:37]]
    arrivals += [(pids[0], now + 101), (pids[37], now + 25_000), (kicked, now + 102)]
    replies = await asyncio.gather(*(answer(pid, at) for pid, at in arrivals))

    # THEN one script recorded them, and each got its own reply
    assert len(scripts) == 1
    assert all('"type":"answer_accepted"' in r for r in replies[:37])
    assert replies[37:] == [
        ErrorCode.ALREADY_ANSWERED,
        ErrorCode.DEADLINE_PASSED,
        ErrorCode.KICKED,
    ]
    keys = RunKeys(run.speedrun_id)
    assert await client.hlen(keys.answers) == 37
    assert await client.hget(keys.qstats, "0:answered") == "37"
    # ... the ones who answered are no longer pending, and the question is still open (pids[38]
    # has not answered)
    assert await client.smembers(keys.pending) == {pids[37], pids[38]}
    assert await client.hget(keys.meta, "phase") == "question"
    await client.aclose()


@pytest.mark.parametrize("failure", [ConnectionError("gone"), RuntimeError("a bug")])
async def test_host_paced_answers_sent_together_all_hear_of_a_failure(
    runs, redis_url, failure
) -> None:
    # GIVEN a host-paced run with question 0 open whose answer script fails
    run, pids, client, engine, now = await open_question(runs, redis_url, 3)

    def failing(script: object, keys: object, args: object, then: Any) -> None:
        asyncio.get_running_loop().call_soon(then, failure)  # as the batch's task tells it

    engine.batch.script_then = failing  # type: ignore[method-assign]

    # WHEN three answers arrive together
    replies = await asyncio.wait_for(
        asyncio.gather(
            *(engine.answer(run.speedrun_id, pid, 0, [0], now + 100) for pid in pids),
            return_exceptions=True,
        ),
        5,
    )

    # THEN each answer's caller gets the failure (none waits forever) and nothing is recorded
    assert replies == [failure] * 3
    assert await client.hlen(RunKeys(run.speedrun_id).answers) == 0
    await client.aclose()


@pytest.mark.parametrize(
    ("mode", "cap", "count_at"),
    [("host-paced", "ANSWERS_PER_SCRIPT", 6), ("self-paced", "STEPS_PER_SCRIPT", 5)],
)
async def test_answers_arriving_together_are_sent_at_most_so_many_per_script(
    runs, redis_url, monkeypatch, mode, cap, count_at
) -> None:
    # GIVEN a started run of 25 connected players with question 0 open, and at most 10 answers
    # per script
    monkeypatch.setattr(engine_module, cap, 10)
    run, pids, client, engine, now = await open_question(runs, redis_url, 25, mode)
    scripts = record_scripts(engine)

    # WHEN all 25 answer at once
    await asyncio.gather(*(engine.answer(run.speedrun_id, pid, 0, [0], now + 100) for pid in pids))

    # THEN three scripts of 10, 10 and 5 recorded them, each answer once
    sizes = [int(args[count_at]) for args in scripts]  # type: ignore[call-overload]
    assert sizes == [10, 10, 5]
    assert await client.hget(RunKeys(run.speedrun_id).qstats, "0:answered") == "25"
    await client.aclose()


async def test_self_paced_steps_arriving_together_are_one_script_each_with_its_own_outcome(
    runs, redis_url
) -> None:
    # GIVEN a started self-paced run of 30 connected players
    run, pids, client, engine, now = await open_question(runs, redis_url, 30, "self-paced")
    keys = RunKeys(run.speedrun_id)
    events_before = await client.xlen(keys.events)
    scripts = record_scripts(engine)

    # WHEN they all answer question 0 at once, one of them twice
    async def answer(pid: str, at: int) -> str:
        try:
            await engine.answer(run.speedrun_id, pid, 0, [0], at)
        except Rejected as exc:
            return exc.code
        return "ok"

    arrivals = [(pid, now + 100) for pid in pids] + [(pids[0], now + 101)]
    replies = await asyncio.gather(*(answer(pid, at) for pid, at in arrivals))

    # THEN one script applied them, each got its own outcome, the second answer is refused
    assert len(scripts) == 1 and scripts[0][5] == 31  # ARGV 6: the count
    assert replies == ["ok"] * 30 + [ErrorCode.ALREADY_ANSWERED]
    # ... and each player has one answer, a result and the next question (two events each)
    assert await client.hlen(keys.answers) == 30
    assert await client.hget(keys.qstats, "0:answered") == "30"
    progress = await client.hmget(keys.progress, pids)
    assert all(ParticipantProgress.model_validate_json(p).current_question == 1 for p in progress)
    assert await client.xlen(keys.events) == events_before + 60
    await client.aclose()


async def test_the_last_self_paced_steps_arriving_together_finish_the_run_once(
    runs, redis_url
) -> None:
    # GIVEN a started self-paced run of one question and 20 connected players
    run, pids, client, engine, now = await open_question(runs, redis_url, 20, "self-paced", 1)

    # WHEN they all answer it at once (the last steps of the run, in one script)
    await asyncio.gather(*(engine.answer(run.speedrun_id, pid, 0, [0], now + 100) for pid in pids))

    # THEN the run is finished, with one run_finished event
    keys = RunKeys(run.speedrun_id)
    assert await client.hget(keys.meta, "status") == "finished"
    entries = await client.xrange(keys.events)
    assert sum('"type":"run_finished"' in fields["e"] for _, fields in entries) == 1
    await client.aclose()
