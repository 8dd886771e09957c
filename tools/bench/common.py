"""What the bare and the real scenarios share: progress lines, opening N connections, timing."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
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


SLICES = 20
"""Repetitions of a figure measured over one stream of completions (a join of all N, a
self-paced run): the completions in this many consecutive runs of equal count, a rate each."""

MIN_SLICE = 50
"""The fewest completions a slice holds: with 100 requests in flight, answers come in bursts
(sign-on's Redis batches), and a slice of a few is one burst or the gap between two (at 200
joins in slices of 10, the slices' median rate was 2.8 times the whole's; at 1,000 in slices of
50, within 4 % of it)."""

WARMUP_SLICES = 1
"""Slices at the start of a stream that are measured but not counted, its warm-up: a fresh
server's first connections and a run's first answers take the cold paths (code and caches never
run yet, a script's first load, a first subscription), which the rest of the stream does not."""

Span = tuple[int, float]
"""A slice of a stream: how many completed in it, and in how many seconds."""


def slice_spans(started: float, stamps: Sequence[float], slices: int = SLICES) -> list[Span]:
    """Cut a stream's completion times into ``slices`` consecutive runs of equal count (fewer,
    of :data:`MIN_SLICE` or more each, in a short stream): each slice's count and seconds, the
    first timed from ``started``, each next one from the previous one's last completion. The
    seconds add up to the stream's, so the whole's rate is still the counts' sum over the
    seconds' sum."""
    ordered = sorted(stamps)
    slices = min(slices, max(len(ordered) // MIN_SLICE, 1 if ordered else 0))
    spans: list[Span] = []
    previous, done = started, 0
    for k in range(1, slices + 1):
        upto = round(len(ordered) * k / slices)
        spans.append((upto - done, ordered[upto - 1] - previous))
        previous, done = ordered[upto - 1], upto
    return spans


def measured_spans(started: float, stamps: Sequence[float]) -> list[Span]:
    """A stream cut into :data:`WARMUP_SLICES` + :data:`SLICES` slices (:func:`slice_spans`),
    without the warm-up's: the repetitions of its figure. A stream too short for more than one
    slice keeps its one."""
    spans = slice_spans(started, stamps, SLICES + WARMUP_SLICES)
    return spans[WARMUP_SLICES:] if len(spans) > WARMUP_SLICES else spans


def span_rates(spans: Sequence[Span]) -> list[float]:
    """Each slice's completions per second."""
    return [count / seconds for count, seconds in spans if seconds > 0]


def two_phase_rates(first: Sequence[Span], second: Sequence[Span]) -> list[float]:
    """The rates of a figure measured in two phases over the same N (a join: sign-on of all,
    then the sockets of all): slice k's completions of the second phase over the k-th slices'
    seconds of both."""
    return [
        count / (before + seconds)
        for (_, before), (count, seconds) in zip(first, second, strict=False)
        if before + seconds > 0
    ]


class Stamped:
    """A stream of completions (its subclasses' fields): when it ``started``, and the
    ``stamps`` of each completion (``time.perf_counter``)."""

    started: float
    stamps: list[float]

    @property
    def spans(self) -> list[Span]:
        """The completions in slices, the warm-up's left out (:func:`measured_spans`)."""
        return measured_spans(self.started, self.stamps)


@dataclass
class OpenResult(Stamped):
    """How opening many connections went."""

    conns: list[Conn]
    seconds: float
    failures: int
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    stamps: list[float] = field(default_factory=list)
    """When each connection was ready (``time.perf_counter``), in that order."""

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
    stamps: list[float] = []
    errors: list[str] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            try:
                conns.append(await open_one(index))
                stamps.append(time.perf_counter())
            except (OSError, TimeoutError, RuntimeError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress.tick(label, len(conns) + len(errors), count)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    seconds = time.perf_counter() - started
    return OpenResult(conns, seconds, len(errors), errors[:5], started, stamps)


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
