"""A raw WebSocket client for abuse: it sends frames no well-behaved library would.

Invalid UTF-8 in a text frame, frames larger than the server allows, binary frames, any bytes at
all: :class:`RawSocket` writes RFC 6455 frames itself (masked, as a client must) over a plain TCP
connection, and reads the server's frames back (answering its pings). :class:`LoopThread` runs an
event loop in a thread so synchronous tests (hypothesis) can drive many such sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"upgrade refused with {status}: {body[:200]!r}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Frame:
    """A frame from the server."""

    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        """A close frame's code (1005 when it carries none)."""
        if self.opcode != CLOSE:
            return None
        return int.from_bytes(self.payload[:2], "big") if len(self.payload) >= 2 else 1005


def _mask(payload: bytes, key: bytes) -> bytes:
    size = len(payload)
    if not size:
        return payload
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


class RawSocket:
    """One client WebSocket, frame by frame."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed_with: int | None = None

    @classmethod
    async def open(cls, url: str, headers: dict[str, str] | None = None) -> RawSocket:
        """Connect and upgrade; raise :class:`HandshakeRefused` on any answer but 101."""
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {parts.path or '/'} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            body = await reader.read(4096)
            writer.close()
            raise HandshakeRefused(status, body)
        return cls(reader, writer)

    async def send(self, opcode: int, payload: bytes) -> None:
        """Send one final, masked frame."""
        size = len(payload)
        if size < 126:
            head = bytes([0x80 | opcode, 0x80 | size])
        elif size < 1 << 16:
            head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
        key = os.urandom(4)
        self.writer.write(head + key + _mask(payload, key))
        await self.writer.drain()

    async def send_text(self, text: str) -> None:
        """Send a text frame of well-formed UTF-8."""
        await self.send(TEXT, text.encode())

    async def receive(self, timeout: float = 10.0) -> Frame:
        """Read the next data or close frame (answering pings on the way)."""
        while True:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await self.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await asyncio.wait_for(self.reader.readexactly(size), timeout)
            if opcode == PING:
                await self.send(PONG, payload)
                continue
            frame = Frame(opcode, payload)
            if opcode == CLOSE:
                self.closed_with = frame.close_code
            return frame

    async def receive_close(self, timeout: float = 10.0) -> int | None:
        """Read until the server closes; return its close code (None if it just cut the line)."""
        try:
            while True:
                frame = await self.receive(timeout)
                if frame.opcode == CLOSE:
                    return frame.close_code
        except (asyncio.IncompleteReadError, ConnectionError):
            return self.closed_with

    async def close(self) -> None:
        """Say goodbye (1000) and drop the connection."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(CLOSE, (1000).to_bytes(2, "big"))
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class LoopThread:
    """An event loop in a daemon thread; :meth:`call` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos-clients")
        self.thread.daemon = True
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run ``coro`` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
