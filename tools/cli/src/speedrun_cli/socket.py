"""A client's WebSocket to the game: hello, sequence tracking, and reconnection with ``last_seq``.

It behaves like the web app's socket: every connection starts with a ``hello`` carrying the token
and, after the first, the last sequence number seen, so the server replays what was missed. After
a close that says "this server went away, the service did not" (a restart or deploy, a server
going away, a cut connection) the first reconnect goes at once, spread over a few tens of
milliseconds so a room does not arrive in one instant; every other drop, and every failed attempt,
waits with exponential backoff and jitter. The closes after which retrying cannot help (bad token,
kicked, replaced, protocol error) end it, as does the end of the run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Literal, NamedTuple

import aiohttp
from pydantic import BaseModel, ValidationError

from speedrun_protocol.errors import CloseCode
from speedrun_protocol.frames import (
    HelloFrame,
    RunFinishedFrame,
    ServerFrame,
    WelcomeFrame,
    decode_server_frame,
)

log = logging.getLogger("speedrun_cli.socket")

CONNECTION_LOST = int(aiohttp.WSCloseCode.ABNORMAL_CLOSURE)
"""1006: how :attr:`RunSocket.close_code` reads when the connection ended without a close frame."""

FINAL_CLOSE_CODES = frozenset(
    {CloseCode.INVALID_TOKEN, CloseCode.PROTOCOL_ERROR, CloseCode.KICKED, CloseCode.REPLACED}
)
"""Closes after which reconnecting cannot help."""

GO_ELSEWHERE_CLOSE_CODES = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.SLOW_CONSUMER, CONNECTION_LOST}
)
"""Closes of a welcomed connection after which the first reconnect goes at once.

The instance went away (deploy, crash, cut connection) or gave up on this one socket: another
instance, or a fresh connection, can take it now. 1013 (the state store is unreachable) is not
here: every instance shares that store, so it waits like any other retry.
"""

SocketEventKind = Literal["connecting", "open", "welcome", "closed"]


class SocketEvent(NamedTuple):
    """One step of a socket's life, for measuring where a reconnect's time went."""

    kind: SocketEventKind
    """``connecting``: an attempt starts; ``open``: the upgrade succeeded (the hello goes out);
    ``welcome``: the server's welcome arrived; ``closed``: the connection or attempt ended."""
    at: float
    """``time.monotonic()`` then: comparable between processes of one machine."""
    code: int | None = None
    """For ``closed``: :attr:`RunSocket.close_code` (None for an attempt that never opened)."""


class RunSocket:
    """One host's or participant's connection to a run, kept up until the run ends."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str,
        on_frame: Callable[[BaseModel], None],
        *,
        origin: str | None = None,
        backoff_s: float = 0.2,
        max_backoff_s: float = 3.0,
        herd_jitter_s: float = 0.1,
        max_attempts: int = 60,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare (not open) a connection.

        Args:
            session: The HTTP session to connect with.
            url: The game's WebSocket URL.
            token: The host or participant token from sign-on.
            on_frame: Called with every server frame, in order, welcome included.
            origin: The ``Origin`` header (the web app's origin).
            backoff_s: The delay before reconnecting after an ordinary drop; it doubles with
                every failed attempt in a row, up to ``max_backoff_s``.
            max_backoff_s: The longest reconnect delay.
            herd_jitter_s: After a go-elsewhere close (:data:`GO_ELSEWHERE_CLOSE_CODES`) the
                first reconnect waits a random time up to this, no backoff.
            max_attempts: Consecutive failed connections before giving up.
            rng: Randomness for the jitter.
        """
        self.session = session
        self.url = url
        self.token = token
        self.on_frame = on_frame
        self.origin = origin
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.herd_jitter_s = herd_jitter_s
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.last_seq: int | None = None
        self.connections = 0
        """Connections that got a welcome."""
        self.drops = 0
        """Connections lost (or dropped on purpose) before the run ended."""
        self.finished = False
        """The run is over (``run_finished`` received, or a welcome said so)."""
        self.close_code: int | None = None
        """How the last connection closed: the server's close code, :data:`CONNECTION_LOST`
        when it was cut without one, None when the last attempt never opened."""
        self.events: list[SocketEvent] = []
        """Every attempt, upgrade, welcome and close, timed."""
        self.welcomed = asyncio.Event()
        self.stopped = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    @property
    def connected(self) -> bool:
        """True while a welcomed connection is open."""
        return self._ws is not None and self.welcomed.is_set()

    async def run(self) -> None:
        """Connect, and reconnect after every drop, until the run ends or a final close."""
        failures = 0
        while not self.stopped and not self.finished:
            welcomed = await self._connect_once()
            if self.finished or self.stopped or self.close_code in FINAL_CLOSE_CODES:
                return
            self.drops += welcomed
            failures = 0 if welcomed else failures + 1
            if failures >= self.max_attempts:
                raise ConnectionError(f"gave up after {failures} failed connections to {self.url}")
            await asyncio.sleep(self.reconnect_delay(failures))

    def reconnect_delay(self, failures: int) -> float:
        """Seconds to wait before the next attempt, after ``failures`` failed ones in a row.

        With none (a welcomed connection just ended) and a go-elsewhere close, only a small
        jitter; otherwise ``backoff_s`` doubling per failure, at most ``max_backoff_s``, of
        which a random half to all is waited.
        """
        if failures == 0 and self.close_code in GO_ELSEWHERE_CLOSE_CODES:
            return self.rng.uniform(0.0, self.herd_jitter_s)
        delay = min(self.max_backoff_s, self.backoff_s * 2.0 ** min(failures, 8))
        return delay * self.rng.uniform(0.5, 1.0)

    async def _connect_once(self) -> bool:
        welcomed = False
        self.close_code = None
        self._note("connecting")
        try:
            async with self.session.ws_connect(
                self.url,
                origin=self.origin,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            ) as ws:
                self._ws = ws
                self._note("open")
                hello = HelloFrame(token=self.token, last_seq=self.last_seq)
                await ws.send_str(hello.model_dump_json(exclude_none=True))
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        welcomed = self._receive(msg.data) or welcomed
                # aiohttp reads a connection cut without a close frame as 1006.
                self.close_code = ws.close_code
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.debug("connection failed: %s", exc)
            self.close_code = CONNECTION_LOST if welcomed else None
        finally:
            self._ws = None
            self.welcomed.clear()
            self._note("closed", self.close_code)
        return welcomed

    def _receive(self, data: str) -> bool:
        """Handle one text frame; True when it was a welcome."""
        frame = self._decode(data)
        if frame is None:
            return False
        if isinstance(frame, WelcomeFrame):
            self.connections += 1
            self._note("welcome")
            self.welcomed.set()
            if frame.snapshot.status == "finished":
                self.finished = True
        elif isinstance(frame, RunFinishedFrame):
            self.finished = True
        if frame.seq:
            self.last_seq = max(self.last_seq or 0, frame.seq)
        self.on_frame(frame)
        return isinstance(frame, WelcomeFrame)

    def _note(self, kind: SocketEventKind, code: int | None = None) -> None:
        self.events.append(SocketEvent(kind, time.monotonic(), code))

    def _decode(self, data: str) -> ServerFrame | None:
        try:
            return decode_server_frame(data)
        except ValidationError:
            log.warning("ignored an unknown frame: %s", data[:200])
            return None

    async def send(self, frame: BaseModel) -> bool:
        """Send a frame now; False when not connected (nothing was sent)."""
        ws = self._ws
        if ws is None or not self.welcomed.is_set() or ws.closed:
            return False
        try:
            await ws.send_str(frame.model_dump_json())
        except (ConnectionError, aiohttp.ClientError):
            return False
        return True

    async def drop(self) -> None:
        """Leave like a refreshed page (close 1001); :meth:`run` reconnects with ``last_seq``."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close(code=CloseCode.GOING_AWAY)

    async def stop(self) -> None:
        """Close for good (1000)."""
        self.stopped = True
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close(code=CloseCode.NORMAL)
