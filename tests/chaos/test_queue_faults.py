"""The completion queue delivers at least once: duplicates, a reporter that dies mid-batch, and a
message that can never be processed.

Finished runs are written to Redis as the engine leaves them (``speedrun_reporter.synthetic``) and
their completion messages sent to the stack's queue; the stack's own reporter worker (a process)
archives them into DynamoDB. The queue's visibility timeout is 2 s here, so a message a dead
worker held comes back quickly.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

from chaos_game import archive_items, holds_within
from chaos_stack import Chaos, ChaosSize
from redis import Redis

from speedrun_aws import aws_client
from speedrun_devstack.stack import Stack
from speedrun_protocol.archive import archive_from_items
from speedrun_protocol.events import CompletionMessage
from speedrun_protocol.ids import new_speedrun_id
from speedrun_reporter.synthetic import SyntheticRun, make_run, write_run

QUESTIONS = 10
ARCHIVE_TIMEOUT_S = 90.0
POISON_TIMEOUT_S = 60.0


def _sqs(stack: Stack) -> Any:
    return aws_client("sqs", endpoint=stack.urls.aws, region="us-east-1")


def _finished_runs(chaos: Chaos, count: int, participants: int) -> list[SyntheticRun]:
    runs = [make_run(new_speedrun_id(), participants, QUESTIONS, seed=i) for i in range(count)]
    with Redis.from_url(chaos.redis_direct_url, decode_responses=True) as redis:
        for run in runs:
            write_run(redis, run)
    return runs


def _completion(run: SyntheticRun) -> str:
    return CompletionMessage.for_run(run.config.speedrun_id, "completed", "chaos").model_dump_json()


def _check_archive(stack: Stack, run: SyntheticRun) -> tuple[int, int]:
    """Return (lost, duplicated) of one synthetic run's archive."""
    items = archive_items(stack, run.config.speedrun_id)
    decoded = archive_from_items(items)
    assert decoded is not None, run.config.speedrun_id
    _, participants, _ = decoded
    by_id = {p.participant_id: {a.question_index: a for a in p.answers} for p in participants}
    lost = 0
    for answer in run.answers:
        archived = by_id.get(answer.participant_id, {}).get(answer.question_index)
        if archived is None or archived.points != answer.points:
            lost += 1
    expected = 1 + len(run.participants) + len(run.questions)
    duplicated = max(0, len(items) - expected) + sum(
        p.score != run.scores[p.participant_id] for p in participants
    )
    return lost, duplicated


async def _wait_all_archived(stack: Stack, runs: list[SyntheticRun]) -> None:
    def archived(run: SyntheticRun) -> bool:
        return archive_from_items(archive_items(stack, run.config.speedrun_id)) is not None

    async def every_run() -> bool:
        done = await asyncio.gather(*(asyncio.to_thread(archived, r) for r in runs))
        return all(done)

    deadline = time.monotonic() + ARCHIVE_TIMEOUT_S
    while not await every_run():
        assert time.monotonic() < deadline, "runs not archived in time"
        await asyncio.sleep(0.25)


def _queue_drained(stack: Stack, queue_url: str) -> bool:
    attributes = _sqs(stack).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(v) == 0 for v in attributes.values())


async def test_same_completion_three_times_archives_once(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "duplicate completions", f"1 run, {size.participants} participants",
        "same completion delivered 3 times",
    )  # fmt: skip
    (run,) = await asyncio.to_thread(_finished_runs, healthy, 1, size.participants)
    sid = run.config.speedrun_id
    sqs = _sqs(stack)
    for _ in range(3):
        await asyncio.to_thread(
            sqs.send_message, QueueUrl=stack.queue_url, MessageBody=_completion(run)
        )
    await _wait_all_archived(stack, [run])

    def handled() -> int:
        return len(healthy.log.matching("run archived", speedrun_id=sid)) + len(
            healthy.log.matching("run already archived", speedrun_id=sid)
        )

    assert await holds_within(lambda: handled() >= 3, ARCHIVE_TIMEOUT_S)
    lost, duplicated = await asyncio.to_thread(_check_archive, stack, run)
    archived_once = len(healthy.log.matching("run archived", speedrun_id=sid))
    row.lost, row.duplicated, row.late = lost, duplicated, 0
    row.details = {"archived_log_lines": archived_once, "deliveries_handled": handled()}
    assert (lost, duplicated) == (0, 0)
    assert archived_once == 1


async def test_reporter_killed_mid_batch_archives_every_run_once(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    stack = healthy.stack
    runs_count, participants = 10, size.participants * 3
    row = chaos_record(  # type: ignore[operator]
        "reporter dies mid-batch", f"{runs_count} runs x {participants} participants",
        "reporter worker SIGKILLed after its first archive",
    )  # fmt: skip
    runs = await asyncio.to_thread(_finished_runs, healthy, runs_count, participants)
    ids = {r.config.speedrun_id for r in runs}

    def archived_ids() -> set[str]:
        return {r["speedrun_id"] for _, r in healthy.log.matching("run archived")} & ids

    sqs = _sqs(stack)
    entries = [{"Id": str(i), "MessageBody": _completion(r)} for i, r in enumerate(runs)]
    await asyncio.to_thread(sqs.send_message_batch, QueueUrl=stack.queue_url, Entries=entries)
    assert await holds_within(lambda: bool(archived_ids()), ARCHIVE_TIMEOUT_S)
    await asyncio.to_thread(healthy.restart_reporter, signal.SIGKILL)
    before_kill = len(archived_ids())
    await _wait_all_archived(stack, runs)
    assert await holds_within(lambda: _queue_drained(stack, stack.queue_url), ARCHIVE_TIMEOUT_S)
    checked = [await asyncio.to_thread(_check_archive, stack, r) for r in runs]
    per_run = {sid: len(healthy.log.matching("run archived", speedrun_id=sid)) for sid in ids}
    row.lost = sum(lost for lost, _ in checked)
    row.duplicated = sum(dup for _, dup in checked)
    row.late = 0
    row.details = {
        "archived_before_kill": before_kill,
        "archived_log_lines_per_run": sorted(set(per_run.values())),
    }
    assert before_kill < runs_count, "the batch ended before the kill: nothing was interrupted"
    assert (row.lost, row.duplicated) == (0, 0)
    assert set(per_run.values()) == {1}, per_run


async def test_poison_message_lands_in_the_dead_letter_queue(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "poison completion", "1 malformed message + 1 good run",
        "a body no handler can read",
    )  # fmt: skip
    sqs = _sqs(stack)
    poison = '{"specversion": "1.0", "data": "not a completion"'
    sent = await asyncio.to_thread(sqs.send_message, QueueUrl=stack.queue_url, MessageBody=poison)
    # A good completion sent after it is not held up behind it.
    (run,) = await asyncio.to_thread(_finished_runs, healthy, 1, size.participants)
    started = time.monotonic()
    await asyncio.to_thread(
        sqs.send_message, QueueUrl=stack.queue_url, MessageBody=_completion(run)
    )
    await _wait_all_archived(stack, [run])
    good_after = time.monotonic() - started

    def dead_lettered() -> bool:
        got = sqs.receive_message(
            QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
            AttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        return any(m["Body"] == poison for m in got)

    deadline = time.monotonic() + POISON_TIMEOUT_S
    while not await asyncio.to_thread(dead_lettered):
        assert time.monotonic() < deadline, "the poison message never reached the DLQ"
    attempts = [
        r
        for message in ("completion not archived", "completion failed unexpectedly")
        for _, r in healthy.log.matching(message, message_id=sent["MessageId"])
    ]
    assert stack.reporter is not None
    row.lost, row.duplicated, row.late = 0, 0, 0
    row.details = {
        "attempts_logged": len(attempts),
        "good_run_archived_after_s": round(good_after, 1),
        "reporter_alive": stack.reporter.running,
    }
    assert stack.reporter.running
    assert len(attempts) >= 2
