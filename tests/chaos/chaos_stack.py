"""The running stack of the fault suite, its sizes, and the log every process writes to."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from chaos_proxy import RedisProxy

from speedrun_devstack.procs import ManagedProcess
from speedrun_devstack.stack import BackgroundStack, Stack
from speedrun_testkit import RedisServer

SETTLE_BURST = 100
"""Concurrent health checks per service when settling its Redis pool."""


@dataclass(frozen=True)
class ChaosSize:
    """How big the scenarios are."""

    name: str
    participants: int
    fuzz_frames: int
    fuzz_connections: int
    time_limit_s: int


SMALL = ChaosSize("small", participants=40, fuzz_frames=2_000, fuzz_connections=30, time_limit_s=10)
FULL = ChaosSize(
    "full", participants=200, fuzz_frames=10_000, fuzz_connections=100, time_limit_s=15
)


class StackLog:
    """Every process's lines: to a file, and kept parsed to count log events."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")
        self.lock = threading.Lock()
        self.records: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, line: str) -> None:
        with self.lock:
            self.file.write(f"{name:<10} | {line}\n")
            self.file.flush()
            if line.startswith("{"):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    return
                if isinstance(record, dict):
                    self.records.append((name, record))

    def matching(self, message: str, **fields: Any) -> list[tuple[str, dict[str, Any]]]:
        """The JSON log records with this message and these field values."""
        with self.lock:
            return [
                (name, r)
                for name, r in self.records
                if r.get("message") == message and all(r.get(k) == v for k, v in fields.items())
            ]

    def close(self) -> None:
        self.file.close()


@dataclass
class Chaos:
    """The running stack and the handles to break it."""

    background: BackgroundStack
    stack: Stack
    redis: RedisServer
    proxy: RedisProxy
    log: StackLog

    @property
    def redis_direct_url(self) -> str:
        """Redis itself, not through the proxy (for the test's own reads)."""
        return str(self.redis.url)

    def restart_reporter(self, sig: int = signal.SIGKILL) -> None:
        """Stop the reporter worker with ``sig`` and start a new one."""

        async def restart() -> None:
            old = self.stack.reporter
            assert old is not None
            await old.stop(timeout=5.0, sig=sig)
            new = ManagedProcess(old.name, old.argv, old.env, old.sink, cwd=old.cwd)
            await new.start()
            self.stack.reporter = new

        self.background.call(restart(), timeout=30)

    def settle_redis_clients(self, timeout: float = 30.0) -> None:
        """After a Redis outage: use up the services' stale pooled connections.

        Sign-on and the instances answer one request per pooled connection that died with
        Redis with a 503 before they reconnect it (see ``test_redis_faults``); bursts of health
        checks go through those connections so the next test starts with working pools.
        """
        urls = [*self.stack.urls.instances, self.stack.urls.signon]
        deadline = time.monotonic() + timeout

        async def burst(client: httpx.AsyncClient) -> bool:
            replies = await asyncio.gather(
                *(client.get(f"{url}/healthz") for url in urls for _ in range(SETTLE_BURST)),
                return_exceptions=True,
            )
            return all(isinstance(r, httpx.Response) and r.status_code == 200 for r in replies)

        async def settle() -> None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=10, limits=limits) as client:
                while not await burst(client):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the services did not recover from the Redis outage")
                    await asyncio.sleep(0.1)

        asyncio.run(settle())

    def ensure_instances(self) -> None:
        """Start again any speedrun instance a test left stopped."""
        for index, process in enumerate(self.stack.instances):
            if not process.running:
                self.background.start_instance(index)
