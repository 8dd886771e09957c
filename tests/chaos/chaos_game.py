"""Playing a run on the real stack while a fault happens, and counting what the fault cost.

:func:`play_run` opens a self-paced run through the gateway, joins the simulated participants of
``speedrun_cli.bots`` (in processes of their own, see :mod:`chaos_players`) plus a few *sleepers*
(participants who stay connected but never answer one question, so that question's deadline must
fire on whichever instance is alive), starts it as the host, calls ``fault`` once half the answers
are in, and waits for the end. :func:`tally` then compares what every bot saw acknowledged with
the archive the reporter wrote to DynamoDB; :class:`ReconnectWatch` reads every socket's timed
events to say how long the fault kept each one away, and where that time went.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from boto3.dynamodb.conditions import Key
from chaos_players import BotPlayers
from chaos_stack import CpuWatch, cpu_targets
from pydantic import BaseModel

from speedrun_aws import aws_resource
from speedrun_cli.bots import BotReport, BotStyle, answer_key
from speedrun_cli.client import SpeedrunApi
from speedrun_cli.host import HostSession
from speedrun_cli.socket import RunSocket, SocketEvent
from speedrun_devstack.stack import Stack
from speedrun_protocol.archive import (
    ArchivedParticipant,
    ArchivedRun,
    QuestionStats,
    archive_from_items,
    run_pk,
)
from speedrun_protocol.frames import AnswerFrame, ErrorFrame, QuestionFrame, WelcomeFrame

BOT_PROCESSES = 1
"""Processes the bots are shared among (the machine has two cores, and the stack wants them)."""
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


@dataclass(frozen=True)
class Reconnect:
    """One socket's way back after the fault: where the time from the fault to its next
    welcome went, in seconds (the four parts add up to ``total``)."""

    total: float
    detect: float
    """From the fault until the socket saw its connection end."""
    backoff: float
    """Waiting between the end and the attempts (the client's own delays)."""
    upgrade: float
    """In WebSocket upgrades, through the gateway to an instance (failed attempts included)."""
    welcome: float
    """From an upgrade to the instance's welcome (or to that attempt's end)."""
    attempts: int

    def as_ms(self) -> dict[str, int]:
        """The figures in whole milliseconds, attempts as they are."""
        parts = {"total": self.total, "detect": self.detect, "backoff": self.backoff}
        parts |= {"upgrade": self.upgrade, "welcome": self.welcome}
        return {k: int(v * 1000) for k, v in parts.items()} | {"attempts": self.attempts}


def reconnect_after(events: Sequence[SocketEvent], fault_at: float) -> Reconnect | None:
    """How a socket came back after the fault at ``fault_at``; None if it was never cut.

    Raises:
        ValueError: It was cut and never welcomed again.
    """
    after = [e for e in events if e.at >= fault_at]
    drop = next((i for i, e in enumerate(after) if e.kind == "closed"), None)
    if drop is None:
        return None
    parts = {"backoff": 0.0, "upgrade": 0.0, "welcome": 0.0}
    attempts = 0
    previous = after[drop]
    for event in after[drop + 1 :]:
        gap = event.at - previous.at
        if event.kind == "connecting":
            attempts += 1
            parts["backoff"] += gap
        elif event.kind == "open" or previous.kind == "connecting":
            parts["upgrade"] += gap
        else:
            parts["welcome"] += gap
        if event.kind == "welcome":
            return Reconnect(
                event.at - fault_at, after[drop].at - fault_at, attempts=attempts, **parts
            )
        previous = event
    raise ValueError(f"cut {after[drop].at - fault_at:.2f}s after the fault, never back")


@dataclass
class ReconnectWatch:
    """Times, per socket, how long a fault kept it away: from the fault to its next welcome."""

    fault_at: float | None = None
    came_back: dict[str, Reconnect] = field(default_factory=dict)
    """Socket name -> its way back, for every socket the fault cut."""
    stranded: dict[str, str] = field(default_factory=dict)
    """Socket name -> what happened, for sockets cut and never welcomed again."""

    def mark_fault(self) -> None:
        """Remember the moment of the fault."""
        self.fault_at = time.monotonic()

    def measure(self, sockets: Iterable[tuple[str, Sequence[SocketEvent], bool]]) -> None:
        """Read every socket's events: ``(name, events, saw the end of the run)``.

        A socket that saw the end of the run closed for good after it; that last close is the
        run's end, not the fault's.
        """
        if self.fault_at is None:
            return
        for name, events, finished in sockets:
            if finished and events and events[-1].kind == "closed":
                events = events[:-1]
            try:
                back = reconnect_after(events, self.fault_at)
            except ValueError as exc:
                self.stranded[name] = str(exc)
                continue
            if back is not None:
                self.came_back[name] = back

    def _times(self, part: str = "total") -> list[float]:
        return sorted(getattr(r, part) for r in self.came_back.values())

    def percentile_ms(self, percent: int, part: str = "total") -> int | None:
        """One percentile of the reconnect times (or of one part of them), in ms."""
        times = self._times(part)
        if not times:
            return None
        return int(times[min(len(times) - 1, len(times) * percent // 100)] * 1000)

    def stats_ms(self) -> tuple[int | None, int | None]:
        """p50 and max reconnect time, in ms (None when nobody had to reconnect)."""
        times = self._times()
        if not times:
            return None, None
        return int(statistics.median(times) * 1000), int(max(times) * 1000)

    def parts_ms(self) -> dict[str, dict[str, int | None]]:
        """p50, p90 and max of the total and of each part, in ms."""
        return {
            part: {
                "p50": self.percentile_ms(50, part),
                "p90": self.percentile_ms(90, part),
                "max": self.percentile_ms(100, part),
            }
            for part in ("total", "detect", "backoff", "upgrade", "welcome")
        }

    def slowest(self, count: int = 5) -> dict[str, dict[str, int]]:
        """The ``count`` slowest sockets' ways back, in ms."""
        ranked = sorted(self.came_back.items(), key=lambda item: -item[1].total)
        return {name: back.as_ms() for name, back in ranked[:count]}


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
    cpu: CpuWatch
    """CPU time of every process (and of this process's threads) from the fault on."""

    def cpu_while_reconnecting(self) -> dict[str, float]:
        """Cores each process or thread used from the fault until the last socket came back."""
        if self.watch.fault_at is None or not self.watch.came_back:
            return {}
        start = self.watch.fault_at
        last = max(r.total for r in self.watch.came_back.values())
        return self.cpu.shares(start, start + last + self.cpu.interval_s)


async def play_run(
    stack: Stack,
    participants: int,
    fault: Callable[[], Awaitable[None]],
    *,
    sleepers: int = 3,
    time_limit_s: int = 10,
    seed: int = 11,
    finish_timeout_s: float = 120.0,
    until: Callable[[HostSession, BotPlayers], Awaitable[bool]] | None = None,
    pids: Mapping[str, int] | None = None,
) -> Played:
    """Play one self-paced run of ``participants`` bots and sleepers; ``fault`` runs halfway.

    The bots play in processes of their own (:mod:`chaos_players`); the host and the sleepers
    here. The run is played to its end, unless ``until`` is given: then it is played until
    ``until`` returns, and ``finished`` says what it returned. From the fault on, the CPU time
    of the stack's processes, of ``pids`` (name -> pid), of the bots' and of this process's
    threads is sampled (:attr:`Played.cpu`).
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
        workdir = Path(tempfile.mkdtemp(prefix="chaos-players-"))
        players = BotPlayers(
            stack.urls.gateway, created["join_code"], bots, key=key, styles=STYLES, seed=seed,
            prefix="chaos", workdir=workdir, processes=BOT_PROCESSES,
        )  # fmt: skip
        playing = asyncio.create_task(players.play())
        sleeper_tasks = [asyncio.create_task(s.socket.run()) for s in sleeper_list]
        watch = ReconnectWatch()
        cpu = CpuWatch(lambda: cpu_targets(stack, {**(pids or {}), **players.pids}))
        sampling: asyncio.Task[None] | None = None
        finished = False
        try:
            await _until(
                lambda: playing.done() or players.progress.joined >= bots, 120, "every bot joined"
            )
            if playing.done():
                playing.result()  # a bot could not join: say why
            await host.wait_for(
                lambda v: v.participant_count >= participants, 60, "everyone in the lobby"
            )
            await _until(lambda: players.progress.connected >= bots, 60, "every bot connected")
            await host.start()
            half = bots * question_count // 2
            await _until(lambda: players.progress.answers_sent >= half, 60, "half the answers")
            watch.mark_fault()
            sampling = asyncio.create_task(cpu.run())
            await fault()
            if until is None:
                await host.wait_finished(finish_timeout_s)
                finished = True
                reports = await asyncio.wait_for(playing, 60)
            else:
                finished = await until(host, players)
                await players.stop()
                reports = await asyncio.wait_for(playing, 30)
        finally:
            if sampling is not None:
                sampling.cancel()
            playing.cancel()
            for sleeper in sleeper_list:
                await sleeper.socket.stop()
            for task in sleeper_tasks:
                task.cancel()
            await asyncio.gather(
                playing, *sleeper_tasks, *([sampling] if sampling else []), return_exceptions=True
            )
            await host.close()
            shutil.rmtree(workdir, ignore_errors=True)
    watch.measure(
        [
            *((r.nickname, r.socket_events, r.finished) for r in reports),
            ("host", host.socket.events, host.socket.finished),
            *((f"sleeper-{i}", s.socket.events, s.socket.finished)
              for i, s in enumerate(sleeper_list)),
        ]
    )  # fmt: skip
    return Played(
        created, key, reports, sleeper_list, host.view.errors, watch, finished, question_count, cpu
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
