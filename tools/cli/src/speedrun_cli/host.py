"""A host from the terminal: open a run, watch it, and drive it (start, next, reveal, end).

:class:`HostSession` keeps a :class:`HostView` of the run up to date from the host's frames and
sends host commands so that each takes effect once, even across a reconnect: a command is sent,
then the session waits for the state it leads to, and sends it again only if the connection was
replaced before that state came (the new welcome's snapshot says whether it had already
happened). ``speedrun host`` renders the view; the end-to-end tests drive the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import BaseModel

from speedrun_cli.client import SpeedrunApi
from speedrun_cli.socket import RunSocket
from speedrun_protocol.frames import (
    AnswerProgressFrame,
    Distribution,
    EndFrame,
    ErrorFrame,
    LeaderboardEntry,
    LeaderboardFrame,
    NextFrame,
    ParticipantFinishedFrame,
    ParticipantJoinedFrame,
    ParticipantKickedFrame,
    ParticipantsProgressFrame,
    QuestionClosedFrame,
    QuestionFrame,
    QuestionRevealedFrame,
    RevealFrame,
    RunFinishedFrame,
    RunStartedFrame,
    StartFrame,
    WelcomeFrame,
)

COMMAND_TIMEOUT_S = 30.0


class CommandRefused(Exception):
    """The server refused a host command with an error frame (e.g. start with nobody joined)."""

    def __init__(self, error: ErrorFrame) -> None:
        """Keep the error frame."""
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


@dataclass
class HostView:
    """What the host knows of the run, from the frames so far."""

    title: str = ""
    mode: str = ""
    status: str = "lobby"
    phase: str = "lobby"
    question_count: int = 0
    participant_count: int = 0
    nicknames: dict[str, str] = field(default_factory=dict)
    question_index: int | None = None
    question_text: str = ""
    answered: int = 0
    expected: int = 0
    finished_participants: set[str] = field(default_factory=set)
    leaderboard: list[LeaderboardEntry] = field(default_factory=list)
    last_distribution: Distribution | None = None
    end_reason: str | None = None
    errors: list[ErrorFrame] = field(default_factory=list)

    def apply(self, frame: BaseModel) -> None:
        """Update the view with one frame."""
        match frame:
            case WelcomeFrame(snapshot=s):
                self.title, self.mode, self.status, self.phase = s.title, s.mode, s.status, s.phase
                self.question_count, self.participant_count = s.question_count, s.participant_count
                self.nicknames = {p.participant_id: p.nickname for p in s.participants}
                self.finished_participants = {
                    p.participant_id for p in s.participants if p.finished
                }
                self.leaderboard = list(s.leaderboard)
                self.last_distribution = s.last_distribution
                if s.current_question is not None:
                    self.question_index = s.current_question.question_index
                    self.question_text = s.current_question.text
            case ParticipantJoinedFrame():
                self.nicknames[frame.participant_id] = frame.nickname
                self.participant_count = frame.participant_count
            case ParticipantKickedFrame():
                self.participant_count = frame.participant_count
            case RunStartedFrame():
                self.status, self.question_count = "running", frame.question_count
                if self.mode == "self-paced":
                    self.phase = "question"
            case QuestionFrame(question=q):
                self.phase, self.question_index, self.question_text = (
                    "question",
                    q.question_index,
                    q.text,
                )
                self.answered, self.expected = 0, self.participant_count
            case AnswerProgressFrame():
                self.answered, self.expected = frame.answered, frame.total
            case QuestionClosedFrame():
                self.phase = "closed"
            case QuestionRevealedFrame(distribution=d):
                self.phase, self.last_distribution = "revealed", d
            case ParticipantsProgressFrame(participants=moved):
                self.finished_participants.update(p.participant_id for p in moved if p.finished)
            case ParticipantFinishedFrame():
                self.finished_participants.add(frame.participant_id)
            case LeaderboardFrame():
                self.leaderboard = list(frame.top)
                self.participant_count = frame.participant_count
            case RunFinishedFrame():
                self.status, self.phase, self.end_reason = "finished", "finished", frame.reason
                self.leaderboard = list(frame.leaderboard)
            case ErrorFrame():
                self.errors.append(frame)
            case _:
                pass


class HostSession:
    """The host's connection to a run they opened."""

    def __init__(
        self,
        api: SpeedrunApi,
        session: aiohttp.ClientSession,
        created: dict[str, Any],
        on_frame: Callable[[BaseModel], None] | None = None,
    ) -> None:
        """Prepare the host of the run sign-on just ``created``; :meth:`connect` next."""
        self.api = api
        self.created = created
        self.speedrun_id: str = created["speedrun_id"]
        self.join_code: str = created["join_code"]
        self.token: str = created["host_token"]
        self.view = HostView()
        self._listener = on_frame
        self._changed = asyncio.Event()
        self.socket = RunSocket(
            session,
            api.websocket_url(created.get("websocket_path", "/speedrun")),
            self.token,
            self._on_frame,
            origin=api.origin,
        )
        self._task: asyncio.Task[None] | None = None

    def _on_frame(self, frame: BaseModel) -> None:
        self.view.apply(frame)
        if self._listener is not None:
            self._listener(frame)
        self._changed.set()
        self._changed = asyncio.Event()

    async def connect(self, timeout: float = COMMAND_TIMEOUT_S) -> None:
        """Open the connection (kept up in the background) and wait for the welcome."""
        self._task = asyncio.create_task(self.socket.run())
        await self.wait_for(lambda v: self.socket.connections > 0, timeout, "the welcome")

    async def wait_for(
        self, predicate: Callable[[HostView], bool], timeout: float, what: str = "a state"
    ) -> None:
        """Wait until ``predicate(view)`` holds.

        Raises:
            TimeoutError: If it does not hold within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.view):
            if self._task is not None and self._task.done():
                self._task.result()
                raise ConnectionError(f"the host's connection ended while waiting for {what}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {what} after {timeout:.0f}s (view: {self.view})")
            wait = min(remaining, 0.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)

    async def command(
        self,
        frame: BaseModel,
        done: Callable[[HostView], bool],
        timeout: float = COMMAND_TIMEOUT_S,
    ) -> None:
        """Send a host command and wait until the view shows its effect.

        It is sent again only when the connection was replaced before the effect showed up (and
        the new welcome's snapshot does not show it either).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        what = f"the effect of {frame.model_dump().get('type')}"

        def remaining() -> float:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {what} after {timeout:.0f}s (view: {self.view})")
            return min(left, 0.5)

        kind = frame.model_dump().get("type")
        while not done(self.view):
            if self.socket.finished or (self._task is not None and self._task.done()):
                raise ConnectionError(f"the run's connection ended before {what}")
            if not self.socket.connected:
                wait = remaining()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.socket.welcomed.wait(), wait)
                continue
            connection = self.socket.connections
            errors = len(self.view.errors)
            if not await self.socket.send(frame):
                continue
            while not done(self.view) and self.socket.connections == connection:
                refused = [e for e in self.view.errors[errors:] if e.ref == kind]
                if refused:
                    raise CommandRefused(refused[0])
                wait = remaining()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)

    async def start(self) -> None:
        """Start the run."""
        await self.command(StartFrame(), lambda v: v.status != "lobby")

    async def reveal(self) -> None:
        """Host-paced: close the open question and reveal its answer."""
        await self.command(RevealFrame(), lambda v: v.phase in ("revealed", "finished"))

    async def next(self) -> None:
        """Host-paced: open the next question (or finish after the last)."""
        current = self.view.question_index
        await self.command(
            NextFrame(),
            lambda v: (
                v.status == "finished" or (v.phase == "question" and v.question_index != current)
            ),
        )

    async def end(self) -> None:
        """End the run now."""
        await self.command(EndFrame(), lambda v: v.status == "finished")

    async def wait_finished(self, timeout: float) -> None:
        """Wait until the run is over."""
        await self.wait_for(lambda v: v.status == "finished", timeout, "the end of the run")

    async def play_host_paced(self, answer_timeout: float = 60.0) -> None:
        """Drive a host-paced run to its end: for each question wait for every answer (or the
        deadline), reveal, then next."""
        if self.view.status == "lobby":
            await self.start()
        while True:
            await self.wait_for(
                lambda v: v.phase in ("question", "closed", "revealed") or v.status == "finished",
                answer_timeout,
                "a question",
            )
            if self.view.status == "finished":
                return
            await self.wait_for(
                lambda v: v.phase != "question" or v.answered >= max(1, v.expected),
                answer_timeout,
                "every answer",
            )
            if self.view.phase in ("question", "closed"):
                await self.reveal()
            await self.next()

    async def close(self) -> None:
        """Close the connection."""
        await self.socket.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
