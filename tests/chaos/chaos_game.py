"""Playing a run on the real stack while a fault happens, and counting what the fault cost.

:func:`play_run` opens a self-paced run through the gateway, joins the simulated participants of
``speedrun_cli.bots`` plus a few *sleepers* (participants who stay connected but never answer one
question, so that question's deadline must fire on whichever instance is alive), starts it as the
host, calls ``fault`` once half the answers are in, and waits for the end. :func:`tally` then
compares what every bot saw acknowledged with the archive the reporter wrote to DynamoDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from boto3.dynamodb.conditions import Key
from pydantic import BaseModel

from speedrun_aws import aws_resource
from speedrun_cli.bots import BotReport, BotsProgress, BotStyle, answer_key, run_bots
from speedrun_cli.client import SpeedrunApi
from speedrun_cli.host import HostSession
from speedrun_cli.socket import RunSocket
from speedrun_devstack.stack import Stack
from speedrun_protocol.archive import (
    ArchivedParticipant,
    ArchivedRun,
    QuestionStats,
    archive_from_items,
    run_pk,
)
from speedrun_protocol.frames import AnswerFrame, ErrorFrame, QuestionFrame, WelcomeFrame

SLEEPY_QUESTION = 1
"""The question sleepers never answer: its deadline has to fire for them."""

# Steady players without deliberate reconnects: every reconnect in a scenario is the fault's.
STYLES = (
    BotStyle("quick", (0.3, 1.2), accuracy=0.8),
    BotStyle("steady", (0.6, 2.0), accuracy=0.6),
)


def question_set(time_limit_s: int) -> dict[str, Any]:
    """A small set; the sleepy question has a short limit so the run does not wait long."""
    questions: list[dict[str, Any]] = [
        {"text": "2 + 2?", "options": ["3", "4", "5"], "correct": [1]},
        {"text": "Capital of Italy?", "options": ["Rome", "Oslo"], "correct": [0]},
        {"text": "Which are even?", "options": ["2", "3", "4"], "correct": [0, 2]},
        {"text": "Largest planet?", "options": ["Mars", "Jupiter"], "correct": [1]},
    ]
    for index, question in enumerate(questions):
        question["time_limit_s"] = 6 if index == SLEEPY_QUESTION else time_limit_s
    return {"title": "Chaos set", "questions": questions}


Archive = tuple[ArchivedRun, list[ArchivedParticipant], list[QuestionStats]]


class Sleeper:
    """A participant who answers at once, except question :data:`SLEEPY_QUESTION`."""

    def __init__(self, session: aiohttp.ClientSession, api: SpeedrunApi, joined: dict[str, Any]):
        self.participant_id: str = joined["participant_id"]
        self.errors: list[str] = []
        self.socket = RunSocket(
            session, api.websocket_url(), joined["participant_token"], self._on_frame,
            origin=api.origin,
        )  # fmt: skip
        self._sends: set[asyncio.Task[bool]] = set()

    def _on_frame(self, frame: BaseModel) -> None:
        question = None
        if isinstance(frame, QuestionFrame):
            question = frame.question
        elif isinstance(frame, WelcomeFrame):
            question = frame.snapshot.current_question
        elif isinstance(frame, ErrorFrame):
            self.errors.append(str(frame.code))
        if question is not None and question.question_index != SLEEPY_QUESTION:
            answer = AnswerFrame(question_index=question.question_index, selected=[0])
            task = asyncio.create_task(self.socket.send(answer))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)


@dataclass
class ReconnectWatch:
    """Samples every socket's state to time, per socket, how long a fault kept it away."""

    sockets: Callable[[], list[RunSocket]]
    fault_at: float | None = None
    before: dict[int, int] = field(default_factory=dict)
    came_back: dict[int, float] = field(default_factory=dict)
    """Socket id -> seconds from the fault to its next welcome."""

    def mark_fault(self) -> None:
        """Remember each socket's connection count at the moment of the fault."""
        self.fault_at = time.monotonic()
        self.before = {id(s): s.connections for s in self.sockets()}

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            if self.fault_at is not None:
                now = time.monotonic()
                for sock in self.sockets():
                    key = id(sock)
                    if key not in self.came_back and sock.connections > self.before.get(key, 0):
                        self.came_back[key] = now - self.fault_at
            await asyncio.sleep(0.02)

    def percentile_ms(self, percent: int) -> int | None:
        """One percentile of the reconnect times, in ms (None when nobody reconnected)."""
        times = sorted(self.came_back.values())
        if not times:
            return None
        return int(times[min(len(times) - 1, len(times) * percent // 100)] * 1000)

    def stats_ms(self) -> tuple[int | None, int | None]:
        """p50 and max reconnect time, in ms (None when nobody had to reconnect)."""
        times = list(self.came_back.values())
        if not times:
            return None, None
        return int(statistics.median(times) * 1000), int(max(times) * 1000)


@dataclass
class Played:
    """A finished (or failed) run and what everyone saw."""

    created: dict[str, Any]
    key: dict[str, frozenset[str]]
    reports: list[BotReport]
    sleepers: list[Sleeper]
    host_errors: list[str]
    watch: ReconnectWatch
    finished: bool
    question_count: int


async def play_run(
    stack: Stack,
    participants: int,
    fault: Callable[[], Awaitable[None]],
    *,
    sleepers: int = 3,
    time_limit_s: int = 10,
    seed: int = 11,
    finish_timeout_s: float = 120.0,
    until: Callable[[HostSession, BotsProgress], Awaitable[bool]] | None = None,
) -> Played:
    """Play one self-paced run of ``participants`` bots and sleepers; ``fault`` runs halfway.

    The run is played to its end, unless ``until`` is given: then it is played until ``until``
    returns, and ``finished`` says what it returned.
    """
    bots = participants - sleepers
    qset = question_set(time_limit_s)
    question_count = len(qset["questions"])
    async with (
        SpeedrunApi(stack.urls.gateway) as api,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        stored = await api.upload(json.dumps(qset).encode(), "chaos.json")
        key = answer_key(await api.question_set(stored["id"]))
        created = await api.create_run(stored["id"], "self-paced", time_limit_s=time_limit_s)
        host = HostSession(api, session, created)
        await host.connect()
        sleeper_list = [
            Sleeper(session, api, await api.join(created["join_code"], f"sleeper-{i}"))
            for i in range(sleepers)
        ]
        progress = BotsProgress()
        joined = asyncio.Event()
        playing = asyncio.create_task(
            run_bots(
                stack.urls.gateway, created["join_code"], bots, key=key, styles=STYLES,
                seed=seed, progress=progress, joined=joined, prefix="chaos",
            )
        )  # fmt: skip
        sleeper_tasks = [asyncio.create_task(s.socket.run()) for s in sleeper_list]
        watch = ReconnectWatch(
            lambda: [*progress.sockets, host.socket, *(s.socket for s in sleeper_list)]
        )
        watching = asyncio.create_task(watch.run())
        finished = False
        try:
            joining = asyncio.create_task(joined.wait())
            await asyncio.wait({joining, playing}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            joining.cancel()
            if playing.done():
                playing.result()  # a bot could not join: say why
            if not joined.is_set():
                raise TimeoutError("the bots did not all join within 120 s")
            await host.wait_for(
                lambda v: v.participant_count >= participants, 60, "everyone in the lobby"
            )
            await _until(lambda: progress.connected >= bots, 60, "every bot connected")
            await host.start()
            half = bots * question_count // 2
            await _until(lambda: progress.answers_sent >= half, 60, "half the answers")
            watch.mark_fault()
            await fault()
            if until is None:
                await host.wait_finished(finish_timeout_s)
                finished = True
                reports = await asyncio.wait_for(playing, 60)
            else:
                finished = await until(host, progress)
                for socket in progress.sockets:
                    await socket.stop()
                reports = await asyncio.wait_for(playing, 30)
        finally:
            watching.cancel()
            playing.cancel()
            for sleeper in sleeper_list:
                await sleeper.socket.stop()
            for task in sleeper_tasks:
                task.cancel()
            await asyncio.gather(watching, playing, *sleeper_tasks, return_exceptions=True)
            await host.close()
    return Played(
        created, key, reports, sleeper_list, host.view.errors, watch, finished, question_count
    )


async def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    if not await holds_within(predicate, timeout):
        raise TimeoutError(f"no {what} after {timeout}s")


async def holds_within(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# The archive
# ---------------------------------------------------------------------------------------------


def archive_items(stack: Stack, speedrun_id: str) -> list[dict[str, Any]]:
    """Every DynamoDB item of one run's partition."""
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


async def wait_archived(
    stack: Stack, speedrun_id: str, timeout: float = 90.0
) -> tuple[Archive, list[dict[str, Any]]]:
    """Poll DynamoDB until the run's SUMMARY is there; return the archive and its items."""
    deadline = time.monotonic() + timeout
    while True:
        items = await asyncio.to_thread(archive_items, stack, speedrun_id)
        decoded = archive_from_items(items)
        if decoded is not None:
            return decoded, items
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {speedrun_id} not archived after {timeout}s")
        await asyncio.sleep(0.25)


@dataclass
class Tally:
    """What a fault cost, counted against the archive."""

    lost: int = 0
    """Answers a bot saw acknowledged that the archive lacks (or holds differently)."""
    duplicated: int = 0
    """Answers, items or points counted more than once."""
    late: int = 0
    """Answers scored although they arrived after their deadline."""
    timed_out: int = 0
    acknowledged: int = 0
    summaries: int = 0
    sleepy_deadlines_fired: int = 0
    problems: list[str] = field(default_factory=list)


def tally(played: Played, archive: Archive, items: list[dict[str, Any]]) -> Tally:
    """Compare every bot's acknowledged answers with the archive."""
    run, participants, stats = archive
    questions = run.questions
    count = Tally(summaries=sum(1 for i in items if i["sk"] == "SUMMARY"))
    expected_items = 1 + len(participants) + len(questions)
    if len(items) != expected_items:
        count.duplicated += abs(len(items) - expected_items)
        count.problems.append(f"{len(items)} items, expected {expected_items}")
    by_id = {p.participant_id: p for p in participants}
    for participant in participants:
        indexes = [a.question_index for a in participant.answers]
        count.duplicated += len(indexes) - len(set(indexes))
        if participant.score != sum(a.points for a in participant.answers):
            count.duplicated += 1
            points = [(a.question_index, a.points, a.timed_out) for a in participant.answers]
            count.problems.append(
                f"{participant.nickname}: score {participant.score} but answers {points}"
            )
        for answer in participant.answers:
            limit_ms = questions[answer.question_index].time_limit_s * 1000
            count.timed_out += answer.timed_out
            if not answer.timed_out and answer.elapsed_ms > limit_ms:
                count.late += 1
                count.problems.append(f"{participant.nickname} q{answer.question_index} late")
    counted = sum(s.answered + s.timed_out for s in stats)
    if counted > len(participants) * len(questions):
        count.duplicated += counted - len(participants) * len(questions)
    for report in played.reports:
        archived = by_id.get(report.participant_id)
        answers = {a.question_index: a for a in archived.answers} if archived else {}
        for index, result in report.results.items():
            if result.timed_out:
                continue
            count.acknowledged += 1
            kept = answers.get(index)
            if kept is None or kept.timed_out or kept.selected != sorted(result.selected):
                count.lost += 1
                count.problems.append(f"{report.nickname} q{index} acknowledged but not archived")
    for sleeper in played.sleepers:
        archived = by_id.get(sleeper.participant_id)
        sleepy = [a for a in (archived.answers if archived else []) if a.question_index == 1]
        count.sleepy_deadlines_fired += bool(sleepy and sleepy[0].timed_out)
    return count


@contextlib.contextmanager
def timed() -> Any:
    """Measure a block: ``with timed() as t: ...; t()`` is the seconds it took."""
    start = time.monotonic()
    end: list[float] = []
    yield lambda: (end[0] if end else time.monotonic()) - start
    end.append(time.monotonic())
