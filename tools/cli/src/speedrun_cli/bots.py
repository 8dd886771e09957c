"""Simulated participants that really join and play over WebSockets.

Each bot joins through sign-on like a person would, connects to ``/speedrun`` with its token and
answers every question put to it, with its own speed and accuracy; now and then it leaves like a
refreshed page and comes back with ``last_seq``. With an answer key (question text -> correct
option texts) a bot is right as often as its style says; without one it guesses.

:func:`run_bots` is what ``speedrun bots`` runs, and what the end-to-end tests drive: it returns a
:class:`BotReport` per bot (every answer it sent and every result it got) to check the archive
against.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel

from speedrun_cli.client import ApiError, SpeedrunApi
from speedrun_cli.socket import RunSocket, SocketEvent
from speedrun_protocol.frames import (
    AnswerAcceptedFrame,
    AnswerFrame,
    AnswerResultFrame,
    ErrorFrame,
    LeaderboardFrame,
    OwnStanding,
    QuestionFrame,
    QuestionView,
    RunFinishedFrame,
    WelcomeFrame,
)

AnswerKey = Mapping[str, frozenset[str]]
"""Question text -> the texts of its correct options."""


@dataclass(frozen=True)
class BotStyle:
    """How a bot plays."""

    name: str
    think_s: tuple[float, float]
    """Seconds it takes to answer, drawn uniformly from this range."""
    accuracy: float
    """How often it is right (with an answer key)."""
    reconnect_chance: float = 0.0
    """After each answer, the chance it leaves and comes back (at most ``max_reconnects``)."""
    max_reconnects: int = 2


STYLES: tuple[BotStyle, ...] = (
    BotStyle("sprinter", (0.1, 0.6), accuracy=0.9, reconnect_chance=0.03),
    BotStyle("steady", (0.4, 1.5), accuracy=0.75, reconnect_chance=0.05),
    BotStyle("ponderer", (1.0, 3.0), accuracy=0.6, reconnect_chance=0.05),
    BotStyle("guesser", (0.2, 1.0), accuracy=0.3, reconnect_chance=0.08),
)
"""The mix ``speedrun bots`` uses, one style after another."""


def answer_key(question_set: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Build an answer key from a stored question set (as the loader returns it)."""
    key: dict[str, frozenset[str]] = {}
    for question in question_set.get("questions", []):
        options = question["options"]
        key[question["text"].strip()] = frozenset(options[i].strip() for i in question["correct"])
    return key


@dataclass
class BotsProgress:
    """Counters every bot updates, for a live display."""

    bots: int = 0
    joined: int = 0
    answers_sent: int = 0
    results: int = 0
    reconnects: int = 0
    errors: int = 0
    finished: int = 0
    sockets: list[RunSocket] = field(default_factory=list)

    @property
    def connected(self) -> int:
        """Bots with a live, welcomed connection now."""
        return sum(socket.connected for socket in self.sockets)


@dataclass
class BotReport:
    """What one bot did and saw."""

    nickname: str
    style: str
    participant_id: str = ""
    token: str = ""
    sent: dict[int, list[int]] = field(default_factory=dict)
    """Question index -> the options it chose (first send)."""
    accepted: set[int] = field(default_factory=set)
    """Host-paced: questions whose answer the server acknowledged."""
    results: dict[int, AnswerResultFrame] = field(default_factory=dict)
    """Question index -> the result the server sent."""
    errors: list[str] = field(default_factory=list)
    """Codes of the error frames it received."""
    connections: int = 0
    reconnects: int = 0
    score: int = 0
    rank: int | None = None
    finished: bool = False
    """It saw the end of the run."""
    close_code: int | None = None
    socket_events: list[SocketEvent] = field(default_factory=list)
    """Its socket's attempts, upgrades, welcomes and closes, timed (see :class:`SocketEvent`)."""


class Bot:
    """One simulated participant."""

    def __init__(
        self,
        api: SpeedrunApi,
        session: aiohttp.ClientSession,
        join_code: str,
        nickname: str,
        style: BotStyle,
        *,
        key: AnswerKey | None = None,
        rng: random.Random | None = None,
        progress: BotsProgress | None = None,
    ) -> None:
        """Prepare a bot; :meth:`join` then :meth:`play`."""
        self.api = api
        self.session = session
        self.join_code = join_code
        self.style = style
        self.key = key
        self.rng = rng or random.Random()
        self.progress = progress or BotsProgress()
        self.report = BotReport(nickname=nickname, style=style.name)
        self.socket: RunSocket | None = None
        self._answering: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def join(self) -> None:
        """Join the run through sign-on (a taken nickname gets a suffix)."""
        nickname = self.report.nickname
        for attempt in range(5):
            try:
                joined = await self.api.join(self.join_code, nickname)
                break
            except ApiError as exc:
                if exc.status != 409 or "nickname" not in exc.message.lower() or attempt == 4:
                    raise
                nickname = f"{self.report.nickname[:15]}-{self.rng.randrange(1000):03d}"
        self.report.nickname = joined["nickname"]
        self.report.participant_id = joined["participant_id"]
        self.report.token = joined["participant_token"]
        self.progress.joined += 1

    async def play(self) -> BotReport:
        """Play until the run ends (or the server says goodbye for good); return the report."""
        self.socket = RunSocket(
            self.session,
            self.api.websocket_url(),
            self.report.token,
            self._on_frame,
            origin=self.api.origin,
            rng=self.rng,
        )
        self.progress.sockets.append(self.socket)
        try:
            await self.socket.run()
        finally:
            for task in [*self._answering.values(), *self._tasks]:
                task.cancel()
            await asyncio.gather(*self._answering.values(), *self._tasks, return_exceptions=True)
            self.report.connections = self.socket.connections
            self.report.reconnects = max(0, self.socket.connections - 1)
            self.report.finished = self.socket.finished
            self.report.close_code = self.socket.close_code
            self.report.socket_events = list(self.socket.events)
            self.progress.finished += 1
        return self.report

    # -- frames --------------------------------------------------------------------------------

    def _on_frame(self, frame: BaseModel) -> None:
        match frame:
            case WelcomeFrame(snapshot=snapshot):
                question = snapshot.current_question
                answered = snapshot.own is not None and snapshot.own.answered_current
                if question is not None and not answered:
                    self._schedule(question, resend=True)
            case QuestionFrame(question=question):
                self._schedule(question)
            case AnswerAcceptedFrame(question_index=index):
                self.report.accepted.add(index)
            case AnswerResultFrame():
                if frame.question_index not in self.report.results:
                    self.progress.results += 1
                self.report.results[frame.question_index] = frame
                self.report.score = frame.score
            case LeaderboardFrame(own=OwnStanding(rank=rank, score=score)):
                self.report.rank, self.report.score = rank, score
            case RunFinishedFrame(leaderboard=leaderboard):
                for entry in leaderboard:
                    if entry.participant_id == self.report.participant_id:
                        self.report.rank, self.report.score = entry.rank, entry.score
            case ErrorFrame(code=code):
                self.report.errors.append(str(code))
                self.progress.errors += 1
            case _:
                pass

    def _schedule(self, question: QuestionView, resend: bool = False) -> None:
        index = question.question_index
        if index in self.report.results:
            return
        running = self._answering.get(index)
        if running is not None and not running.done():
            return
        if index in self.report.sent and not resend:
            return
        self._answering[index] = asyncio.create_task(self._answer(question))

    def _choose(self, question: QuestionView) -> list[int]:
        count = len(question.options)
        correct = None
        if self.key is not None:
            texts = self.key.get(question.text.strip())
            if texts is not None:
                correct = [i for i, o in enumerate(question.options) if o.strip() in texts]
        if correct and self.rng.random() < self.style.accuracy:
            return correct
        choice = [self.rng.randrange(count)]
        if correct and choice == correct:
            choice = [(choice[0] + 1) % count]
        return choice

    async def _answer(self, question: QuestionView) -> None:
        index = question.question_index
        selected = self.report.sent.get(index)
        if selected is None:
            low, high = self.style.think_s
            budget = max(0.05, question.remaining_ms / 1000 - 0.5)
            await asyncio.sleep(min(self.rng.uniform(low, high), budget))
            selected = self._choose(question)
        assert self.socket is not None
        if not await self.socket.send(AnswerFrame(question_index=index, selected=selected)):
            return  # not connected: the welcome after the reconnect puts the question again
        if index not in self.report.sent:
            self.report.sent[index] = selected
            self.progress.answers_sent += 1
        if (
            self.socket.connections <= self.style.max_reconnects
            and self.rng.random() < self.style.reconnect_chance
        ):
            task = asyncio.create_task(self._leave_and_return())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _leave_and_return(self) -> None:
        assert self.socket is not None
        await asyncio.sleep(self.rng.uniform(0.05, 0.3))
        self.progress.reconnects += 1
        await self.socket.drop()


async def run_bots(
    base_url: str,
    join_code: str,
    count: int,
    *,
    key: AnswerKey | None = None,
    styles: Sequence[BotStyle] = STYLES,
    seed: int | None = None,
    prefix: str = "bot",
    progress: BotsProgress | None = None,
    joined: asyncio.Event | None = None,
) -> list[BotReport]:
    """Join ``count`` bots to the run of ``join_code`` and play until it ends.

    Args:
        base_url: The stack's URL (gateway or CloudFront).
        join_code: The run's six-digit code.
        count: How many bots.
        key: An answer key, so bots can be right on purpose.
        styles: Their styles, used in turn.
        seed: Makes the bots' choices repeatable.
        prefix: Nicknames are ``<prefix>-001`` and so on.
        progress: Counters to update for a live display.
        joined: Set once every bot has joined (before any plays).

    Returns:
        One report per bot, in nickname order.
    """
    rng = random.Random(seed)
    progress = progress or BotsProgress()
    progress.bots = count
    async with (
        SpeedrunApi(base_url) as api,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        bots = [
            Bot(
                api,
                session,
                join_code,
                f"{prefix}-{i + 1:03d}",
                styles[i % len(styles)],
                key=key,
                rng=random.Random(rng.random()),
                progress=progress,
            )
            for i in range(count)
        ]
        gate = asyncio.Semaphore(10)

        async def join(bot: Bot) -> None:
            async with gate:
                await bot.join()

        await asyncio.gather(*(join(bot) for bot in bots))
        if joined is not None:
            joined.set()
        tasks = [asyncio.create_task(bot.play()) for bot in bots]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)
