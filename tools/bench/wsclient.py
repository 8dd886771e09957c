"""The lean WebSocket client of the load generator: one asyncio protocol per connection.

A plain aiohttp client spends ~20 µs per received frame (a reader task, a message object, a full
JSON decode). Here each connection is a bare :class:`asyncio.Protocol`: ``data_received`` walks the
RFC 6455 headers in the bytes it is given and finds a frame's ``type`` with one ``bytes.find``,
never decoding the JSON. Client frames are masked with the all-zero key (the RFC requires a mask,
not a random one; a server cannot tell), so a frame is encoded once and the same ``bytes`` go to
every transport.

What a frame does is decided by the :class:`Fleet` the connection belongs to: it counts frames by
type, keeps the time of the first and last of each, resolves a waiter when a count reaches a
target, and lets a scenario hook in (e.g. answer each ``question`` as it arrives).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import Any, cast

_TYPE_KEY = b'"type":"'
_SEQ_KEY = b'"seq":'
_QINDEX_KEY = b'"question_index":'
_MASK_ZERO = b"\x00\x00\x00\x00"

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9


def client_frame(text: str | bytes, opcode: int = OP_TEXT) -> bytes:
    """Encode one client-to-server frame (FIN set, masked with the zero key).

    Args:
        text: The payload; ``str`` is UTF-8 encoded.
        opcode: The WebSocket opcode (text by default).

    Returns:
        The bytes to write to the transport, reusable for any number of connections.
    """
    payload = text.encode() if isinstance(text, str) else text
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + length.to_bytes(8, "big")
    return head + _MASK_ZERO + payload


def server_frame(text: str | bytes, opcode: int = OP_TEXT) -> bytes:
    """Encode one server-to-client frame (unmasked): for tests of the parser.

    Args:
        text: The payload.
        opcode: The WebSocket opcode.

    Returns:
        The frame's bytes.
    """
    payload = text.encode() if isinstance(text, str) else text
    length = len(payload)
    head = bytes([0x80 | opcode])
    if length < 126:
        head += bytes([length])
    elif length < 1 << 16:
        head += bytes([126]) + length.to_bytes(2, "big")
    else:
        head += bytes([127]) + length.to_bytes(8, "big")
    return head + payload


def frame_type(data: bytes, start: int, end: int) -> bytes:
    """Find a JSON frame's ``type`` without decoding it (compact JSON, as both servers write).

    Args:
        data: A buffer holding the payload.
        start: Where the payload starts.
        end: Where it ends.

    Returns:
        The type's bytes, or ``b""`` when there is none.
    """
    i = data.find(_TYPE_KEY, start, end)
    if i < 0:
        return b""
    i += 8
    j = data.find(b'"', i, end)
    return data[i:j] if j > 0 else b""


def int_field(data: bytes, key: bytes, start: int, end: int) -> int:
    """Read a non-negative integer field of a compact JSON payload without decoding it.

    Args:
        data: A buffer holding the payload.
        key: The key with its quotes and colon, e.g. ``b'"seq":'``.
        start: Where the payload starts.
        end: Where it ends.

    Returns:
        The value, or -1 when the key is absent.
    """
    i = data.find(key, start, end)
    if i < 0:
        return -1
    i += len(key)
    j = i
    while j < end and 48 <= data[j] <= 57:
        j += 1
    return int(data[i:j]) if j > i else -1


def question_index(data: bytes, start: int, end: int) -> int:
    """Read the first ``question_index`` of a payload (-1 when absent)."""
    return int_field(data, _QINDEX_KEY, start, end)


def seq_of(data: bytes, start: int, end: int) -> int:
    """Read the ``seq`` of a payload (-1 when absent)."""
    return int_field(data, _SEQ_KEY, start, end)


FrameHook = Callable[["Conn", bytes, bytes, int, int], None]
"""Called for each text frame: (connection, type, buffer, payload start, payload end)."""


class Fleet:
    """Many connections and what their frames have told us so far."""

    def __init__(self) -> None:
        """Start with no connections and empty counters."""
        self.conns: list[Conn] = []
        self.counts: dict[bytes, int] = {}
        self.first: dict[bytes, float] = {}
        self.last: dict[bytes, float] = {}
        self.group_first: dict[tuple[bytes, int], float] = {}
        self.group_last: dict[tuple[bytes, int], float] = {}
        self.frames = 0
        self.bytes = 0
        self.type_bytes: dict[bytes, int] = {}
        self.lifetime_frames = 0
        self.errors: list[str] = []
        self.error_counts: dict[str, int] = {}
        self.hook: FrameHook | None = None
        self._target: tuple[frozenset[bytes], int, asyncio.Future[float]] | None = None
        self._target_seen = 0
        self.closed = 0
        self.lost = 0

    def reset(self) -> None:
        """Forget the counters (not the connections) before a new measurement."""
        self.counts = {}
        self.first = {}
        self.last = {}
        self.group_first = {}
        self.group_last = {}
        self.frames = 0
        self.bytes = 0
        self.type_bytes = {}

    def expect(self, ftype: str | tuple[str, ...], count: int) -> asyncio.Future[float]:
        """Return a future resolved with the arrival time of the ``count``-th frame of a type
        (or of any of several types, e.g. an acknowledgement or an error).

        Counting starts from the current counters: call :meth:`reset` first.
        """
        keys = frozenset(t.encode() for t in ((ftype,) if isinstance(ftype, str) else ftype))
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        seen = sum(self.counts.get(k, 0) for k in keys)
        if seen >= count:
            fut.set_result(max(self.last.get(k, 0.0) for k in keys) or time.perf_counter())
        else:
            self._target = (keys, count, fut)
            self._target_seen = seen
        return fut

    def on_frame(self, conn: Conn, ftype: bytes, data: bytes, start: int, end: int) -> None:
        """Count one text frame; called by every connection of the fleet."""
        now = time.perf_counter()
        size = end - start
        self.frames += 1
        self.lifetime_frames += 1
        self.bytes += size
        count = self.counts.get(ftype, 0) + 1
        self.counts[ftype] = count
        if count == 1:
            self.first[ftype] = now
            self.type_bytes[ftype] = size
        else:
            self.type_bytes[ftype] += size
        self.last[ftype] = now
        key = (ftype, conn.group)
        if key not in self.group_first:
            self.group_first[key] = now
        self.group_last[key] = now
        if conn.wait_type == ftype and conn.waiter is not None:
            waiter, conn.waiter = conn.waiter, None
            if not waiter.done():
                waiter.set_result(now)
        if ftype == b"error":
            text = data[start : min(end, start + 200)].decode(errors="replace")
            if len(self.errors) < 100:
                self.errors.append(text)
            if text in self.error_counts or len(self.error_counts) < 50:
                self.error_counts[text] = self.error_counts.get(text, 0) + 1
        if self.hook is not None:
            self.hook(conn, ftype, data, start, end)
        target = self._target
        if target is not None and ftype in target[0]:
            self._target_seen += 1
            if self._target_seen >= target[1]:
                self._target = None
                if not target[2].done():
                    target[2].set_result(now)

    def average_size(self, ftype: str) -> int:
        """Average payload bytes of the frames of a type seen since the last reset (0: none)."""
        key = ftype.encode()
        count = self.counts.get(key, 0)
        return self.type_bytes.get(key, 0) // count if count else 0

    def write_all(self, frame: bytes, conns: list[Conn] | None = None) -> None:
        """Write the same encoded frame to many connections (no task per recipient)."""
        for conn in self.conns if conns is None else conns:
            transport = conn.transport
            if transport is not None:
                transport.write(frame)

    def close_all(self) -> None:
        """Close every connection (abortively: the bench needs no goodbye)."""
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.abort()
        self.conns = []


class HandshakeError(ConnectionError):
    """The server refused the WebSocket upgrade."""


class Conn(asyncio.Protocol):
    """One WebSocket connection whose frames feed a :class:`Fleet`."""

    __slots__ = (
        "buf",
        "closed",
        "fleet",
        "group",
        "index",
        "info",
        "opened",
        "request",
        "transport",
        "upgraded",
        "wait_type",
        "waiter",
    )

    def __init__(self, fleet: Fleet, request: bytes, group: int = 0, index: int = 0) -> None:
        """Prepare a connection that sends ``request`` (the HTTP upgrade) once connected."""
        self.fleet = fleet
        self.request = request
        self.group = group
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.info: dict[str, Any] = {}
        self.wait_type = b""
        self.waiter: asyncio.Future[float] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request."""
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        """Note the loss; a pending upgrade fails."""
        self.closed = True
        self.transport = None
        self.fleet.closed += 1
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        """Walk the frames in ``data`` (plus what was left over) and hand each to the fleet."""
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                status = data[: data.find(b"\r\n")].decode("latin-1")
                if not self.opened.done():
                    self.opened.set_exception(HandshakeError(status))
                if self.transport is not None:
                    self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
            data = data[end + 4 :]
        size = len(data)
        pos = 0
        fleet = self.fleet
        while size - pos >= 2:
            second = data[pos + 1] & 0x7F
            if second < 126:
                start = pos + 2
                length = second
            elif second == 126:
                if size - pos < 4:
                    break
                start = pos + 4
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            else:
                if size - pos < 10:
                    break
                start = pos + 10
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            end = start + length
            if end > size:
                break
            opcode = data[pos] & 0x0F
            if opcode == OP_TEXT:
                fleet.on_frame(self, frame_type(data, start, end), data, start, end)
            elif opcode == OP_PING:
                if self.transport is not None:
                    self.transport.write(client_frame(data[start:end], 0xA))
            elif opcode == OP_CLOSE and self.transport is not None:
                self.transport.write(client_frame(data[start : start + 2], OP_CLOSE))
                self.transport.close()
            pos = end
        if pos < size:
            self.buf = data[pos:]

    def send(self, frame: bytes) -> None:
        """Write an already encoded client frame (see :func:`client_frame`)."""
        if self.transport is not None:
            self.transport.write(frame)

    def request_reply(self, frame: bytes, reply_type: str) -> asyncio.Future[float]:
        """Send a frame and return a future resolved when a frame of ``reply_type`` arrives."""
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.wait_type = reply_type.encode()
        self.waiter = waiter
        self.send(frame)
        return waiter


def upgrade_request(host: str, port: int, path: str, origin: str | None) -> bytes:
    """Build the HTTP/1.1 upgrade request (one key for every connection: the bench needs no
    proof that the server read it).

    Args:
        host: The server's host.
        port: Its port.
        path: The WebSocket path, e.g. ``/speedrun``.
        origin: An ``Origin`` header to send, if the server checks it.

    Returns:
        The request bytes.
    """
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect(
    fleet: Fleet,
    host: str,
    port: int,
    path: str,
    origin: str | None = None,
    group: int = 0,
    index: int = 0,
    timeout: float = 30.0,
) -> Conn:
    """Open one WebSocket connection and wait for the upgrade; add it to the fleet.

    Raises:
        HandshakeError: If the server refused the upgrade or closed.
        OSError: If the TCP connection failed.
        TimeoutError: If it took longer than ``timeout``.
    """
    loop = asyncio.get_running_loop()
    request = upgrade_request(host, port, path, origin)
    async with asyncio.timeout(timeout):
        _, conn = await loop.create_connection(
            lambda: Conn(fleet, request, group, index), host, port
        )
        await conn.opened
    fleet.conns.append(conn)
    return conn


async def parse_cost_ns(payload: bytes, frames: int = 20_000, per_read: int = 8) -> float:
    """Measure the parser alone: nanoseconds per frame to walk and count ``payload`` frames.

    Frames are fed ``per_read`` at a time, like a socket read that holds a few of them.
    """
    fleet = Fleet()
    conn = Conn(fleet, b"")
    conn.upgraded = True
    chunk = server_frame(payload) * per_read
    reads = max(1, frames // per_read)
    started = time.perf_counter_ns()
    for _ in range(reads):
        conn.data_received(chunk)
    elapsed = time.perf_counter_ns() - started
    return elapsed / (reads * per_read)
