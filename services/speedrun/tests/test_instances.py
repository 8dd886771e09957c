"""Real instances (``python -m speedrun_run``): killed with SIGKILL mid-run, stopped with SIGTERM.

Clients move to the surviving instance and resume; the run finishes with no answer lost or
counted twice, the dead instance's deadlines still fire, and exactly one completion message
reaches the SQS queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from speedrun_aws import aws_client
from speedrun_protocol.events import CompletionMessage
from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    QuestionFrame,
    RunFinishedFrame,
    StartFrame,
)
from speedrun_protocol.state import AnswerRecord, ParticipantProgress, RunKeys
from speedrun_run.client import ClosedError, RunClient
from speedrun_run.scripts import DEADLINES_KEY, OUTBOX_KEY
from speedrun_testkit import free_port, wait_until

SECRET = "test-secret-for-speedrun-engine-0123456789"


class Proc:
    """A speedrun instance in its own process."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, name: str) -> None:
        self.proc = proc
        self.port = port
        self.name = name

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/speedrun"

    def healthy(self) -> bool:
        """This instance (not another one that took the port first) answers on its port."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
            return r.status == 200 and json.loads(r.read())["instance"] == self.name

    def settled(self) -> bool:
        """Healthy, or exited (it could not bind its port)."""
        return self.proc.poll() is not None or self.healthy()


@pytest.fixture
def spawn(redis_url: str) -> Iterator[Callable[..., list[Proc]]]:
    procs: list[Proc] = []

    def start(*names: str, queue_url: str = "") -> list[Proc]:
        """Start instances side by side, then wait until every one is healthy."""
        started = [launch(name, queue_url) for name in names]
        for index, instance in enumerate(started):
            for _ in range(3):
                wait_until(instance.settled, timeout=30, what=f"instance on {instance.port}")
                if instance.proc.poll() is None:
                    break
                # its port was taken between choosing and binding it: again, on another
                instance = started[index] = launch(instance.name, queue_url)
            assert instance.proc.poll() is None, f"instance {instance.name} does not start"
        return started

    def launch(name: str, queue_url: str) -> Proc:
        port = free_port()
        while port in {p.port for p in procs}:  # a port just freed may be handed out again
            port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "TOKEN_SECRET": SECRET,
            "INSTANCE_ID": name,
            "COMPLETION_QUEUE_URL": queue_url,
            "SCHEDULER_INTERVAL_S": "0.05",
            "LEASE_S": "2",
            "LEADERBOARD_INTERVAL_S": "0.2",
            "SHUTDOWN_TIMEOUT_S": "5",
            "LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "speedrun_run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
        )
        instance = Proc(proc, port, name)
        procs.append(instance)
        return instance

    yield start
    for instance in procs:
        if instance.proc.poll() is None:
            instance.proc.kill()
        instance.proc.wait()


@pytest.fixture
def queue_url(aws_env: str) -> str:
    sqs = aws_client("sqs")
    return sqs.create_queue(QueueName=f"completion-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def drain_queue(url: str) -> list[CompletionMessage]:
    sqs = aws_client("sqs")
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = got.get("Messages", [])
        if not batch:
            return messages
        for m in batch:
            messages.append(CompletionMessage.model_validate_json(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


async def answer(client: RunClient, index: int, option: int) -> AnswerResultFrame:
    await client.send(AnswerFrame(question_index=index, selected=[option]))
    return await client.expect(AnswerResultFrame, where=lambda f: f.question_index == index)


async def test_instance_killed_mid_run_clients_resume_and_run_completes_once(
    spawn, runs, session, redis_url, queue_url
) -> None:
    # GIVEN two real instances; ann on A, bob and the host on B; 2-second questions
    a, b = spawn("i-a", "i-b", queue_url=queue_url)
    run = runs.create("self-paced", count=3, time_limit_s=2)
    ann_id, bob_id = run.pids
    host = RunClient(session, b.ws_url, run.host_token)
    ann = RunClient(session, a.ws_url, run.participants[ann_id])
    bob = RunClient(session, b.ws_url, run.participants[bob_id])
    for c in (host, ann, bob):
        await c.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    first = await answer(ann, 0, 0)  # through A: A sets ann's deadline for question 1
    assert first.correct
    await ann.expect(QuestionFrame, where=lambda f: f.question.question_index == 1)

    # WHEN A is killed without warning
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    with pytest.raises((ClosedError, asyncio.TimeoutError)):
        await ann.recv(timeout=5)

    # THEN ann resumes on B; her question-1 deadline (set by A) is fired by B
    ann.url = b.ws_url
    welcome = await ann.connect(resume=True)
    assert welcome.snapshot.own is not None and welcome.snapshot.own.score == first.score
    timed_out = await ann.expect(
        AnswerResultFrame, where=lambda f: f.question_index == 1, timeout=10
    )
    assert timed_out.timed_out and timed_out.score == first.score
    await ann.expect(QuestionFrame, where=lambda f: f.question.question_index == 2)
    last = await answer(ann, 2, 2)
    assert last.correct
    # bob never answers: every question of his times out, then everyone finishes
    finished = await host.expect(RunFinishedFrame, timeout=15)
    assert finished.reason == "completed"
    scores = {e.participant_id: e.score for e in finished.leaderboard}
    assert scores == {ann_id: first.points + last.points, bob_id: 0}

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = RunKeys(run.speedrun_id)
    records = {k: AnswerRecord.model_validate_json(v) for k, v in r.hgetall(keys.answers).items()}
    assert sorted(records) == sorted(f"{p}:{q}" for p in (ann_id, bob_id) for q in range(3))
    assert [records[f"{ann_id}:{q}"].timed_out for q in range(3)] == [False, True, False]
    assert all(records[f"{bob_id}:{q}"].timed_out for q in range(3))
    progress = ParticipantProgress.model_validate_json(r.hget(keys.progress, ann_id))
    assert progress.answered_count == 3 and progress.score == scores[ann_id]
    assert not [m for m in r.zrange(DEADLINES_KEY, 0, -1) if run.speedrun_id in m]

    # AND exactly one completion message reaches the queue
    wait_until(lambda: r.zscore(OUTBOX_KEY, run.speedrun_id) is None, timeout=10, what="outbox")
    messages = drain_queue(queue_url)
    assert [m.data.speedrun_id for m in messages] == [run.speedrun_id]
    assert messages[0].data.reason == "completed"


async def test_sigterm_closes_sockets_1012_and_exits_in_time(spawn, runs, session) -> None:
    # GIVEN a participant and the host on instance C, another instance D alive
    c, d = spawn("i-c", "i-d")
    run = runs.create("host-paced")
    host = RunClient(session, c.ws_url, run.host_token)
    ann = RunClient(session, c.ws_url, run.participants[run.pids[0]])
    await host.connect()
    await ann.connect()
    # WHEN C gets SIGTERM
    started = time.monotonic()
    c.proc.send_signal(signal.SIGTERM)
    # THEN both sockets are closed with 1012 and C exits well within 20 s
    assert await ann.closed(timeout=15) == 1012
    assert await host.closed(timeout=15) == 1012
    assert c.proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 20
    # and the clients carry on at D
    ann.url = d.ws_url
    welcome = await ann.connect(resume=True)
    assert welcome.resumed
    await host.close()


async def test_dead_instance_is_reaped_so_its_participants_stop_blocking(
    instances, runs, make_client, redis_url
) -> None:
    # GIVEN a host-paced question open, ann answered through B, bob's presence left behind by a
    # dead instance "i-dead" that stopped beating long ago
    from speedrun_protocol.frames import QuestionClosedFrame
    from speedrun_run.keys import ENGINE, SCHEDULER
    from speedrun_run.scripts import INSTANCES_KEY

    b = await instances("i-b")
    run = runs.create("host-paced")
    ann_id, bob_id = run.pids
    engine = b.server.app[ENGINE]
    await engine.connect(run.speedrun_id, bob_id, "i-dead|c1")
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.zadd(INSTANCES_KEY, {"i-dead": 1})
    host = make_client(b, run.host_token)
    ann = make_client(b, run.participants[ann_id])
    await host.connect()
    await ann.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    # WHEN the survivor's scheduler reaps the dead instance
    reaped = await b.server.app[SCHEDULER].reap_dead()
    # THEN bob's presence is released and the question closes: everyone connected has answered
    assert reaped == 1
    closed = await host.expect(QuestionClosedFrame)
    assert closed.reason == "all_answered"
    assert r.hget(RunKeys(run.speedrun_id).presence, bob_id) is None
    assert r.zscore(INSTANCES_KEY, "i-dead") is None
