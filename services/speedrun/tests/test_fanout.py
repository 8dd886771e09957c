"""Fan-out details: slow consumers, coalesced leaderboards with bounded calls, grace periods."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from redis.asyncio import Redis

from speedrun_protocol.errors import CloseCode
from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    ParticipantFinishedFrame,
    QuestionFrame,
    RunFinishedFrame,
    StartFrame,
)
from speedrun_protocol.state import AnswerRecord, RunKeys
from speedrun_run import hub as hub_module
from speedrun_run.engine import Engine
from speedrun_run.hub import CloseRequest, Conn, Room
from speedrun_run.leaderboard import update_room


class StuckSocket:
    """A socket whose peer never reads: every send blocks."""

    def __init__(self) -> None:
        self.closed = False

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, message: bytes) -> None:
        self.closed = True


class Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def fake_conn(speedrun_id: str, pid: str | None, max_queue: int = 100) -> Conn:
    conn = Conn(StuckSocket(), Transport(), speedrun_id, pid, f"c-{pid}", max_queue)  # type: ignore[arg-type]
    conn.active = True
    return conn


async def until(predicate: Any, timeout: float = 2) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - polling a plain attribute of a stub
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_slow_consumer_is_closed_4008_and_cut_when_stuck(monkeypatch) -> None:
    monkeypatch.setattr(hub_module, "CUT_AFTER_S", 0.05)
    conn = fake_conn("sr_x", "p_x", max_queue=3)
    writer = asyncio.create_task(conn.run_writer())
    conn.send_event(1, '{"seq":1,"type":"x"}')
    await until(lambda: not conn.queue)  # the writer took it and is stuck sending it
    for i in range(1, 10):
        conn.send_event(i + 1, f'{{"seq":{i + 1},"type":"x"}}')
    # the queue overflowed: what was queued is dropped, a 4008 close is all that is left
    assert conn.closing
    assert list(conn.queue) == [
        CloseRequest(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect to resume")
    ]
    # the writer is stuck on the first frame: the connection is cut
    await until(lambda: conn.transport.aborted)
    conn.send_event(99, "{}")  # nothing more is queued for a closing socket
    assert len(conn.queue) == 1
    writer.cancel()


async def test_leaderboard_update_costs_bounded_calls_and_ranks_only_on_change(
    redis_url, runs
) -> None:
    # GIVEN a running run with 40 participants on three distinct scores, all connected here
    run = runs.create("self-paced", nicknames=tuple(f"n{i}" for i in range(40)))
    keys = RunKeys(run.speedrun_id)
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    sync.hset(keys.meta, "status", "running")
    for i, pid in enumerate(run.pids):
        sync.zadd(keys.scores, {pid: (i % 3) * 1000})
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-t", 30, 600)
    room = Room(run.speedrun_id)
    room.last_seq = 40
    for pid in run.pids:
        room.participants[pid] = fake_conn(run.speedrun_id, pid)
    host = fake_conn(run.speedrun_id, None)
    room.hosts.add(host)
    sync.config_resetstat()

    # WHEN one update runs
    await update_room(engine, room, top=10)

    # THEN it cost one ZREVRANGE, one ZMSCORE and one ZCOUNT per distinct score
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in sync.info("commandstats").items()}
    assert calls.get("zrevrange") == 1 and calls.get("zmscore") == 1
    assert calls.get("zcount") == 3
    assert "zrevrank" not in calls and "zscore" not in calls
    board = host.queue[-1]
    assert isinstance(board, str) and '"type":"leaderboard"' in board and '"seq":40' in board
    assert room.participants[run.pids[2]].rank == (1, 2000, 40)
    assert room.participants[run.pids[0]].rank == (27, 0, 40)
    # everyone got the very same encoded board, then their rank
    assert all(c.queue[0] is board for c in room.participants.values())
    assert all(len(c.queue) == 2 for c in room.participants.values())

    # AND a second update with nothing changed sends the board but no rank frames
    await update_room(engine, room, top=10)
    assert all(len(c.queue) == 3 for c in room.participants.values())
    sync.zincrby(keys.scores, 5000, run.pids[0])
    await update_room(engine, room, top=10)
    assert len(room.participants[run.pids[0]].queue) == 5  # the board and a new rank
    assert room.participants[run.pids[0]].rank == (1, 5000, 40)
    await client.aclose()
    sync.close()


async def test_participant_gone_past_grace_forfeits_and_does_not_block_the_end(
    instances, runs, make_client, redis_url
) -> None:
    # GIVEN a self-paced run with 20-second questions and a 0.5 s grace period
    a = await instances("i-a", grace_period_s=0.5)
    run = runs.create("self-paced", count=2)
    ann_id, bob_id = run.pids
    host = make_client(a, run.host_token)
    ann = make_client(a, run.participants[ann_id])
    bob = make_client(a, run.participants[bob_id])
    for c in (host, ann, bob):
        await c.connect()
    await host.send(StartFrame())
    await bob.expect(QuestionFrame)
    # WHEN bob leaves for good and ann plays on
    await bob.close()
    for index in range(2):
        await ann.expect(QuestionFrame, where=lambda f, i=index: f.question.question_index == i)
        await ann.send(AnswerFrame(question_index=index, selected=[index % 3]))
        await ann.expect(AnswerResultFrame)
    # THEN bob forfeits after the grace period and the run ends long before his deadlines
    forfeited = await host.expect(
        ParticipantFinishedFrame, where=lambda f: f.participant_id == bob_id, timeout=5
    )
    assert forfeited.score == 0
    finished = await host.expect(RunFinishedFrame, timeout=5)
    assert finished.reason == "completed"
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    record = AnswerRecord.model_validate_json(
        r.hget(RunKeys(run.speedrun_id).answers, f"{bob_id}:0")
    )
    assert record.timed_out and record.points == 0
    assert r.hget(RunKeys(run.speedrun_id).answers, f"{bob_id}:1") is None
