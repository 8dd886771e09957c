"""A small protocol client: connect, hello, send frames, wait for frames. For tests and bots.

It keeps every frame it receives (``received``) and the last run sequence number (``last_seq``),
so a reconnect can resume with ``connect(resume=True)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel

from speedrun_protocol.frames import (
    MAX_FRAME_BYTES,
    AnswerAcceptedFrame,
    AnswerProgressFrame,
    ErrorFrame,
    HelloFrame,
    LeaderboardFrame,
    LobbyFrame,
    ParticipantsProgressFrame,
    PongFrame,
    ServerFrame,
    WelcomeFrame,
    decode_server_frame,
)

F = TypeVar("F", bound=BaseModel)

VIEW_FRAMES = (
    AnswerAcceptedFrame,
    LeaderboardFrame,
    LobbyFrame,
    AnswerProgressFrame,
    ParticipantsProgressFrame,
    ErrorFrame,
    PongFrame,
)
"""Frames that are not run events (views and replies: their ``seq`` is not a new event's)."""


class ClosedError(Exception):
    """The server closed the socket; ``code`` says why."""

    def __init__(self, code: int | None) -> None:
        """Record the close code."""
        super().__init__(f"closed with {code}")
        self.code = code


class RunClient:
    """One client of ``GET /speedrun``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str,
        origin: str | None = None,
    ) -> None:
        """Prepare a client (call :meth:`connect`).

        Args:
            session: The HTTP session.
            url: ``ws://host:port/speedrun``.
            token: The token from sign-on.
            origin: An Origin header to send (browsers always send one).
        """
        self.session = session
        self.url = url
        self.token = token
        self.origin = origin
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received: list[Any] = []
        self.events: list[Any] = []
        self.last_seq: int | None = None
        self._buffer: list[Any] = []

    async def open(self) -> aiohttp.ClientWebSocketResponse:
        """Open the socket without saying hello."""
        headers = {"Origin": self.origin} if self.origin else {}
        self.ws = await self.session.ws_connect(
            self.url, headers=headers, max_msg_size=16 * MAX_FRAME_BYTES, autoping=True
        )
        self._buffer = []
        return self.ws

    async def connect(self, resume: bool = False, timeout: float = 10) -> WelcomeFrame:
        """Open the socket, say hello (with ``last_seq`` when resuming) and wait for welcome."""
        await self.open()
        hello = HelloFrame(token=self.token, last_seq=self.last_seq if resume else None)
        await self.send(hello)
        return await self.expect(WelcomeFrame, timeout=timeout)

    async def send(self, frame: BaseModel) -> None:
        """Send one frame."""
        assert self.ws is not None
        await self.ws.send_str(frame.model_dump_json())

    async def send_raw(self, data: str | bytes) -> None:
        """Send text or bytes as they are."""
        assert self.ws is not None
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, timeout: float = 10) -> ServerFrame:
        """Receive the next frame; raise :class:`ClosedError` when the server closed."""
        assert self.ws is not None
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            # The code in the close frame: ws.close_code may say 1006 when the server has
            # dropped the connection before this side's closing reply went out.
            raise ClosedError(int(msg.data))
        if msg.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.ERROR,
        ):
            raise ClosedError(self.ws.close_code)
        frame = decode_server_frame(msg.data)
        self.received.append(frame)
        if isinstance(frame, WelcomeFrame):
            self.last_seq = frame.seq
        elif not isinstance(frame, VIEW_FRAMES):
            self.events.append(frame)
            self.last_seq = max(self.last_seq or 0, frame.seq)
        return frame

    async def expect(
        self,
        kind: type[F],
        timeout: float = 10,
        where: Callable[[F], bool] | None = None,
    ) -> F:
        """Return the oldest unconsumed frame of ``kind`` (matching ``where``), waiting for it.

        Frames of other kinds received meanwhile are kept for later calls.
        """
        for i, frame in enumerate(self._buffer):
            if isinstance(frame, kind) and (where is None or where(frame)):
                del self._buffer[i]
                return frame
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind.__name__} within {timeout}s")
            frame = await self.recv(timeout=left)
            if isinstance(frame, kind) and (where is None or where(frame)):
                return frame
            self._buffer.append(frame)

    async def closed(self, timeout: float = 10) -> int | None:
        """Read until the server closes; return the close code."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the socket is still open")
            try:
                await self.recv(timeout=left)
            except ClosedError as exc:
                return exc.code
            except TimeoutError:
                raise TimeoutError("the socket is still open") from None

    async def close(self) -> None:
        """Close the socket from this side."""
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
