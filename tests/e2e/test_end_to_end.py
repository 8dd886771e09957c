"""The whole system, as ``make run`` starts it: a host and 30 bots play through the gateway.

Each run is checked where it ends up: the archive in DynamoDB (written by the reporter after the
completion message) must hold every participant's every answer exactly once, matching what the
server acknowledged to the bots, and the results API must serve the same from the archive.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import pytest
from boto3.dynamodb.conditions import Key

from speedrun_aws import aws_resource
from speedrun_cli.bots import (
    STYLES,
    BotReport,
    BotsProgress,
    BotStyle,
    answer_key,
    run_bots,
)
from speedrun_cli.client import SpeedrunApi
from speedrun_cli.host import HostSession
from speedrun_devstack.stack import BackgroundStack, Stack
from speedrun_protocol.archive import (
    ArchivedParticipant,
    ArchivedRun,
    QuestionStats,
    archive_from_items,
    run_pk,
)

BOTS = 30

QUESTION_SET: dict[str, Any] = {
    "title": "End-to-end set",
    "questions": [
        {"text": "2 + 2?", "options": ["3", "4", "5"], "correct": [1], "time_limit_s": 15},
        {
            "text": "Which are primes?",
            "options": ["2", "4", "5", "9"],
            "correct": [0, 2],
            "time_limit_s": 15,
        },
        {"text": "Capital of France?", "options": ["Paris", "Rome"], "correct": [0]},
        {
            "text": "Largest planet?",
            "options": ["Mars", "Jupiter", "Venus", "Earth"],
            "correct": [1],
            "points": 2000,
        },
        {"text": "Water boils at (C)?", "options": ["90", "100", "110"], "correct": [1]},
    ],
}
QUESTION_COUNT = len(QUESTION_SET["questions"])

Archive = tuple[ArchivedRun, list[ArchivedParticipant], list[QuestionStats]]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


async def _poll(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await check()
        if found:
            return found
        if loop.time() > deadline:
            raise TimeoutError(f"no {what} after {timeout}s")
        await asyncio.sleep(0.2)


def _archive_items(stack: Stack, speedrun_id: str) -> list[dict[str, Any]]:
    table = aws_resource("dynamodb", endpoint=stack.urls.aws, region="us-east-1").Table(
        stack.table_name
    )
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(run_pk(speedrun_id))}
    while True:
        page = table.query(**query)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def _wait_archived(stack: Stack, speedrun_id: str) -> tuple[Archive, list[dict[str, Any]]]:
    async def archived() -> tuple[Archive, list[dict[str, Any]]] | None:
        items = await asyncio.to_thread(_archive_items, stack, speedrun_id)
        decoded = archive_from_items(items)
        return (decoded, items) if decoded is not None else None

    result: tuple[Archive, list[dict[str, Any]]] = await _poll(archived, 60, "archive")
    return result


async def _play(
    api: SpeedrunApi,
    set_id: str,
    mode: str,
    *,
    key: dict[str, frozenset[str]],
    styles: Sequence[BotStyle] = STYLES,
    time_limit_s: int = 10,
    meanwhile: Callable[[BotsProgress], Awaitable[None]] | None = None,
) -> tuple[dict[str, Any], list[BotReport]]:
    """Open a run, join 30 bots, drive it to its end as the host; return it and the reports."""
    created = await api.create_run(set_id, mode, time_limit_s=time_limit_s)
    async with aiohttp.ClientSession() as session:
        host = HostSession(api, session, created)
        await host.connect()
        joined = asyncio.Event()
        progress = BotsProgress()
        bots = asyncio.create_task(
            run_bots(
                api.base_url,
                created["join_code"],
                BOTS,
                key=key,
                styles=styles,
                seed=7,
                progress=progress,
                joined=joined,
            )
        )
        try:
            await asyncio.wait_for(joined.wait(), 60)
            await host.wait_for(lambda v: v.participant_count >= BOTS, 30, "every bot in the lobby")
            side = asyncio.create_task(meanwhile(progress)) if meanwhile else None
            if mode == "host-paced":
                await host.play_host_paced()
            else:
                await host.start()
                await host.wait_finished(180)
            if side is not None:
                await side
            reports = await asyncio.wait_for(bots, 60)
        finally:
            bots.cancel()
            await host.close()
    return created, reports


def _check_archive(
    archive: Archive,
    items: list[dict[str, Any]],
    reports: list[BotReport],
    mode: str,
    timeouts_allowed: bool = False,
) -> None:
    run, participants, stats = archive
    # One archive: exactly the summary, one item per participant and one per question.
    assert len(items) == 1 + len(participants) + QUESTION_COUNT
    assert (run.mode, run.question_count, run.participant_count) == (mode, QUESTION_COUNT, BOTS)
    assert run.end_reason == "completed"
    by_id = {p.participant_id: p for p in participants}
    assert set(by_id) == {r.participant_id for r in reports}
    for report in reports:
        archived = by_id[report.participant_id]
        # Every answer present, exactly once, in order.
        assert [a.question_index for a in archived.answers] == list(range(QUESTION_COUNT))
        for answer in archived.answers:
            index = answer.question_index
            result = report.results.get(index)
            acknowledged = (result is not None and not result.timed_out) or (
                index in report.accepted
            )
            if acknowledged:
                assert not answer.timed_out, (report.nickname, index)
                assert sorted(answer.selected) == sorted(report.sent[index])
            if not timeouts_allowed:
                assert not answer.timed_out, (report.nickname, index)
        assert archived.score == sum(a.points for a in archived.answers)
        last = report.results.get(QUESTION_COUNT - 1)
        if mode == "self-paced" and last is not None:
            assert archived.score == last.score
        assert report.finished, report.nickname
    assert sum(s.answered + s.timed_out for s in stats) == BOTS * QUESTION_COUNT


async def _check_results_api(
    api: SpeedrunApi, created: dict[str, Any], archive: Archive, reports: list[BotReport]
) -> None:
    _, participants, _ = archive
    body = (await api.results(created["speedrun_id"], created["host_token"])).json()
    assert body["source"] == "archive"
    assert {p["participant_id"]: p["score"] for p in body["participants"]} == {
        p.participant_id: p.score for p in participants
    }
    assert [e["participant_id"] for e in body["leaderboard"]] == [
        p.participant_id for p in sorted(participants, key=lambda p: (p.rank, p.nickname))
    ]
    text = (await api.results(created["speedrun_id"], created["host_token"], "csv")).text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1 + BOTS
    assert {r.nickname for r in reports} <= {cell for row in rows[1:] for cell in row}
    one = reports[0]
    own = (await api.results(created["speedrun_id"], one.token)).json()
    assert [p["participant_id"] for p in own["participants"]] == [one.participant_id]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture
async def api(stack: Stack) -> Any:
    async with SpeedrunApi(stack.urls.gateway) as client:
        yield client


@pytest.fixture
async def question_set(api: SpeedrunApi) -> dict[str, Any]:
    stored = await api.upload(json.dumps(QUESTION_SET).encode(), "e2e.json")
    assert stored["question_count"] == QUESTION_COUNT
    return await api.question_set(stored["id"])


async def test_gateway_serves_web_app_and_sample_set(stack: Stack, api: SpeedrunApi) -> None:
    assert stack.sample_set_id is not None
    assert stack.sample_set_id in {s["id"] for s in await api.question_sets()}
    async with aiohttp.ClientSession() as session:
        for page in ("/", "/host", "/join"):
            async with session.get(stack.urls.gateway + page) as resp:
                assert resp.status == 200, page
                assert "<html" in (await resp.text()).lower()


@pytest.mark.parametrize("mode", ["self-paced", "host-paced"])
async def test_run_with_30_bots_is_archived_completely(
    stack: Stack, api: SpeedrunApi, question_set: dict[str, Any], mode: str
) -> None:
    before = [i.connections for i in stack.pool.instances]
    created, reports = await _play(api, question_set["id"], mode, key=answer_key(question_set))
    after = [i.connections for i in stack.pool.instances]
    # The bots and the host were spread over both instances.
    assert all(a - b >= BOTS // 3 for a, b in zip(after, before, strict=True)), (before, after)
    archive, items = await _wait_archived(stack, created["speedrun_id"])
    _check_archive(archive, items, reports, mode)
    await _check_results_api(api, created, archive, reports)


async def test_run_survives_killed_instance_without_losing_answers(
    background: BackgroundStack, stack: Stack, api: SpeedrunApi, question_set: dict[str, Any]
) -> None:
    # No deliberate reconnects: every reconnect here is caused by the kill.
    styles = [BotStyle(s.name, (0.3, 2.0), s.accuracy) for s in STYLES]
    killed = asyncio.Event()

    async def kill_mid_run(progress: BotsProgress) -> None:
        async def halfway() -> bool:
            return progress.answers_sent >= BOTS * 2

        await _poll(halfway, 60, "answers before the kill")
        await asyncio.to_thread(background.kill_instance, 0, signal.SIGKILL)
        killed.set()

    try:
        created, reports = await _play(
            api,
            question_set["id"],
            "self-paced",
            key=answer_key(question_set),
            styles=styles,
            time_limit_s=20,
            meanwhile=kill_mid_run,
        )
    finally:
        if killed.is_set():
            await asyncio.to_thread(background.start_instance, 0)
    assert killed.is_set()
    # The players of the killed instance came back through the gateway to the other one.
    assert sum(r.reconnects for r in reports) >= BOTS // 4
    archive, items = await _wait_archived(stack, created["speedrun_id"])
    _check_archive(archive, items, reports, "self-paced", timeouts_allowed=True)
    await _check_results_api(api, created, archive, reports)
