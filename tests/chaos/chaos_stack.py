"""The running stack of the fault suite, its sizes, and the log every process writes to."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
        """Start again any speedrun instance a test left stopped (routed to when this returns)."""
        for index, process in enumerate(self.stack.instances):
            if not process.running:
                self.background.start_instance(index)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


MACHINE = Path("/proc/stat")
"""The whole machine's CPU time: every process, ours or not."""


def cpu_seconds(stat_path: Path) -> float | None:
    """User + system CPU time of the process or thread whose ``/proc/.../stat`` this is, or of
    the whole machine for :data:`MACHINE`."""
    try:
        text = stat_path.read_text()
    except OSError:
        return None  # gone (a killed instance)
    if stat_path == MACHINE:
        # "cpu  user nice system idle iowait irq softirq steal ...": all but idle and iowait.
        ticks = [int(v) for v in text.split("\n", 1)[0].split()[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class CpuWatch:
    """Samples the CPU time of the stack's processes, and of this process's threads, so a test
    can say which of them was busy while a fault played out.

    ``targets`` is called at each sample: name -> ``/proc`` stat file. Shares are in cores (1.0
    is one core busy all the time; the machine has two).
    """

    targets: Callable[[], dict[str, Path]]
    interval_s: float = 0.1
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def sample(self) -> None:
        """Take one sample now."""
        now = time.monotonic()
        seconds = {name: cpu_seconds(path) for name, path in self.targets().items()}
        self.samples.append((now, {k: v for k, v in seconds.items() if v is not None}))

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval_s)

    def shares(self, start: float, end: float) -> dict[str, float]:
        """Each target's CPU use between ``start`` and ``end``, in cores, busiest first.

        A process that ended inside the window counts until its last sample.
        """
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        span = inside[-1][0] - inside[0][0]
        first, last = inside[0][1], dict(inside[0][1])
        for _, seconds in inside[1:]:
            last.update(seconds)
        use = {k: (last[k] - first[k]) / span for k in first}
        return {k: round(v, 2) for k, v in sorted(use.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def cpu_targets(stack: Stack, pids: dict[str, int]) -> dict[str, Path]:
    """The stat files of the machine, of every running process of the stack, of ``pids`` (name
    -> pid), and of each thread of this process (the gateway's loop, the Redis proxy's, the
    test's own)."""
    targets = {"machine": MACHINE}
    targets |= {p.name: Path(f"/proc/{p.pid}/stat") for p in stack.processes if p.running}
    targets |= {name: Path(f"/proc/{pid}/stat") for name, pid in pids.items()}
    for thread in threading.enumerate():
        if thread.native_id is not None:
            name = "gateway+logs" if thread.name == "speedrun-stack" else thread.name
            targets[f"test:{name}"] = Path(f"/proc/self/task/{thread.native_id}/stat")
    return targets
