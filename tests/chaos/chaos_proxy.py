"""A small TCP proxy in front of Redis, so a test can make Redis unreachable and bring it back.

Every service of the stack is given the proxy's URL instead of Redis'. :meth:`RedisProxy.cut`
closes every relayed connection at once (the clients see their sockets reset) and refuses new
ones (the listening socket is closed, so a connect fails at once with "connection refused");
:meth:`RedisProxy.restore` listens again on the same port. Redis itself keeps running and keeps
its data: this is a network fault, not a restart.

The proxy runs on its own event loop in a daemon thread, so a synchronous test drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProxy:
    """Relays TCP from ``127.0.0.1:<port>`` to Redis; can be cut and restored."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        """Prepare (not start) a proxy to ``target_host:target_port``."""
        self.target = (target_host, target_port)
        self.port = port or _free_port()
        self.accepted = 0
        """Connections accepted so far (a reconnecting client shows up here)."""
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="redis-proxy")
        self._thread.daemon = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The redis:// URL to give the services."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def is_cut(self) -> bool:
        """True between :meth:`cut` and :meth:`restore`."""
        return self._server is None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> RedisProxy:
        """Start relaying."""
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Reset every relayed connection and refuse new ones, until :meth:`restore`."""
        self._call(self._cut())

    def restore(self) -> None:
        """Accept and relay connections again."""
        self._call(self._listen())

    def close(self) -> None:
        """Stop relaying and the proxy's thread."""
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._relay_client, "127.0.0.1", self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        self.cuts += 1
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            # abort (RST), not close (FIN): the client must not mistake it for a clean goodbye.
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _relay_client(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        if self._server is None:
            client_writer.transport.abort()
            return
        self.accepted += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer),
                self._pipe(server_reader, client_writer),
            )
        finally:
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            if not writer.transport.is_closing():
                writer.write_eof()
