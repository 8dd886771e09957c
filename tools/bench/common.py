"""What the bare and the real scenarios share: progress lines, opening N connections, timing."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tools.bench.system import own_cpu_seconds
from tools.bench.wsclient import Conn, Fleet


class Progress:
    """Progress on stderr: one line per step, a counter rewritten in place while it runs."""

    def __init__(self, quiet: bool = False) -> None:
        """Write to stderr unless ``quiet``."""
        self.quiet = quiet
        self.started = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._last_tick = 0.0

    def step(self, text: str) -> None:
        """Announce a step."""
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            print(f"\r[bench {elapsed:6.1f}s] {text}", file=sys.stderr, flush=True)

    def tick(self, text: str, done: int, total: int) -> None:
        """Show a counter (on a terminal, at most 10 times a second)."""
        if self.quiet:
            return
        now = time.monotonic()
        if done < total and now - self._last_tick < (0.1 if self._tty else 5.0):
            return
        self._last_tick = now
        end = "" if self._tty and done < total else "\n"
        print(f"\r    {text}: {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)


@dataclass
class OpenResult:
    """How opening many connections went."""

    conns: list[Conn]
    seconds: float
    failures: int
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Connections (successful) per second."""
        return len(self.conns) / self.seconds if self.seconds > 0 else 0.0


async def open_many(
    count: int,
    open_one: Callable[[int], Awaitable[Conn]],
    concurrency: int,
    progress: Progress | None = None,
    label: str = "connections",
) -> OpenResult:
    """Open ``count`` connections, ``concurrency`` at a time, timing the whole.

    ``open_one(i)`` must return a connection whose handshake (and hello, if any) is done.
    """
    conns: list[Conn] = []
    errors: list[str] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            try:
                conns.append(await open_one(index))
            except (OSError, TimeoutError, RuntimeError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress.tick(label, len(conns) + len(errors), count)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    seconds = time.perf_counter() - started
    return OpenResult(conns, seconds, len(errors), errors[:5])


class CpuMeter:
    """CPU seconds used by this process (the generator) and by some server processes."""

    def __init__(self, server_cpu: Callable[[], float]) -> None:
        """Measure from now; ``server_cpu`` returns the servers' CPU seconds so far."""
        self.server_cpu = server_cpu
        self.own0 = own_cpu_seconds()
        self.server0 = server_cpu()

    def read(self) -> tuple[float, float]:
        """Return (generator CPU seconds, server CPU seconds) since creation."""
        return own_cpu_seconds() - self.own0, self.server_cpu() - self.server0


@dataclass
class CostSample:
    """CPU per frame on both sides of one measured phase."""

    frames: int
    generator_us: float
    server_us: float


def cost_sample(fleet: Fleet, meter: CpuMeter, frames: int | None = None) -> CostSample:
    """CPU microseconds per received frame, generator and server, since the meter started."""
    count = fleet.frames if frames is None else frames
    own, server = meter.read()
    if count <= 0:
        return CostSample(0, float("nan"), float("nan"))
    return CostSample(count, own / count * 1e6, server / count * 1e6)
