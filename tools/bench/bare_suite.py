"""The generator's side of the bare baselines (the server is :mod:`tools.bench.bare`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, fields

import orjson

from tools.bench.common import (
    CostSample,
    CpuMeter,
    OpenResult,
    Progress,
    Span,
    cost_sample,
    open_many,
    span_rates,
)
from tools.bench.system import cpu_seconds, rss_bytes
from tools.bench.wsclient import Conn, Fleet, client_frame, connect


@dataclass
class FrameSizes:
    """Sizes in bytes of the real frames the baselines imitate."""

    question: int = 330
    leaderboard: int = 900
    ack: int = 120
    welcome: int = 600


@dataclass
class BareFigures:
    """Repetitions of every bare baseline at one N."""

    n: int
    connect_spans: list[Span] = field(default_factory=list)
    """The bare connections of all N in :data:`~tools.bench.common.SLICES` slices."""
    connect_failures: int = 0
    signon_rate: float = 0.0
    """Sign-ons per second at the joins' floor (:mod:`tools.bench.bare_signon`), all N."""
    join_floor_rates: list[float] = field(default_factory=list)
    """Joins per second at the joins' floor, a slice each: the floor's sign-on of a slice's
    participants, then their bare WebSocket hellos (the joins figure's two phases, with no work
    of ours)."""
    signon_failures: int = 0
    broadcast_ms: list[float] = field(default_factory=list)
    leaderboard_ms: list[float] = field(default_factory=list)
    leaderboard_spread_ms: list[float] = field(default_factory=list)
    ingest_await_rate: list[float] = field(default_factory=list)
    ingest_pipe_rate: list[float] = field(default_factory=list)
    memory_kb_per_conn: float = 0.0
    costs: list[CostSample] = field(default_factory=list)
    pair_broadcast_ms: list[float] = field(default_factory=list)
    """A broadcast published once, sent by two bare servers sharing the N (:func:`run_pair`)."""
    pair_cross_ms: list[float] = field(default_factory=list)
    """Its first arrival from the other server minus from the one that published."""
    pair_ingest_rate: list[float] = field(default_factory=list)
    """The pipelined ingest through the same two servers."""

    def pool(self, other: BareFigures) -> None:
        """Take in a second measurement at the same N: every repetition of both counts, and the
        single figure (memory) is the mean of the two."""
        self.connect_failures += other.connect_failures
        self.memory_kb_per_conn = (self.memory_kb_per_conn + other.memory_kb_per_conn) / 2
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, list):  # the repetitions of a timed baseline
                mine += getattr(other, f.name)

    @property
    def connect_rates(self) -> list[float]:
        """The bare connection rate, a repetition per slice."""
        return span_rates(self.connect_spans)


def _frame(obj: dict[str, object]) -> bytes:
    return client_frame(orjson.dumps(obj))


def phase_timeout(n: int) -> float:
    """Seconds allowed for one broadcast or ingest to all N."""
    return 60.0 + n / 100


async def _control(fleet: Fleet, host: str, port: int, sizes: FrameSizes) -> Conn:
    """Connect a bare server's control socket and tell it the acknowledgement's size."""
    ctl = await connect(fleet, host, port, "/ws")
    await ctl.request_reply(_frame({"type": "ack_size", "size": sizes.ack}), "ok")
    await ctl.request_reply(_frame({"type": "reset"}), "ok")
    return ctl


async def _open(
    fleet: Fleet, host: str, port: int, hello: bytes, index: int, group: int = 0
) -> Conn:
    """Connect participant ``index`` and have its ``welcome``."""
    conn = await connect(fleet, host, port, "/ws", group=group, index=index)
    async with asyncio.timeout(30):
        await conn.request_reply(hello, "welcome")
    return conn


def _hello(sizes: FrameSizes) -> bytes:
    return _frame({"type": "hello", "size": sizes.welcome, "token": "x" * 180})


async def _open_fleet(
    host: str,
    port: int,
    n: int,
    sizes: FrameSizes,
    progress: Progress | None,
    concurrency: int,
    what: str,
) -> tuple[Fleet, Fleet, Conn, OpenResult]:
    """A bare server's control socket, then N participants connected and welcomed: their fleet,
    the control's fleet, the control socket and how the opening went."""
    fleet, ctl_fleet = Fleet(), Fleet()
    ctl = await _control(ctl_fleet, host, port, sizes)
    hello = _hello(sizes)

    async def open_one(index: int) -> Conn:
        return await _open(fleet, host, port, hello, index)

    opened = await open_many(n, open_one, concurrency, progress, what)
    return fleet, ctl_fleet, ctl, opened


async def _broadcast(
    ctl: Conn, fleet: Fleet, n: int, size: int, as_type: str, timeout: float, kind: str = "bcast"
) -> tuple[float, float]:
    """Have ``ctl``'s server broadcast (``kind``: ``bcast`` itself, ``bcast_pub`` through the
    Redis channel); return (ms from the trigger to the last arrival, ms from the first to the
    last)."""
    fleet.reset()
    arrived = fleet.expect(as_type, n)
    started = time.perf_counter()
    sent = ctl.request_reply(_frame({"type": kind, "size": size, "as": as_type}), "sent")
    async with asyncio.timeout(timeout):
        last = await arrived
        await sent
    first = fleet.first[as_type.encode()]
    return (last - started) * 1000.0, (last - first) * 1000.0


class PairedBare:
    """A bare server's N connections, kept open through the real system's host-paced questions:
    each question's broadcast, ingest and leaderboard are measured on the bare server right next
    to the real system's (before it on even questions, after it on odd ones), so both meet the
    machine at the same speed.

    This machine's speed drifts by a third within seconds (the same loop of work takes 16.4 ms
    in one phase and 23.1 ms in the next), and baselines measured minutes apart, before and after
    the real system, then judged the real figures by another machine's speed. Paired, each
    question gives a ratio of its own (:func:`~tools.bench.results.make_result`).
    """

    def __init__(self, fleet: Fleet, ctl_fleet: Fleet, ctl: Conn, live: int, sizes: FrameSizes):
        """Wrap the opened connections (see :meth:`open`)."""
        self.fleet = fleet
        self.ctl_fleet = ctl_fleet
        self.ctl = ctl
        self.live = live
        self.sizes = sizes
        self.timeout = phase_timeout(live)

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        n: int,
        sizes: FrameSizes,
        concurrency: int = 100,
    ) -> PairedBare:
        """Connect N participants to the bare server at ``host:port`` (silently: it runs in the
        child of :mod:`tools.bench.paired`, and the bench announces it).

        Raises:
            RuntimeError: A connection failed (the pairs would not be the same N).
        """
        fleet, ctl_fleet, ctl, opened = await _open_fleet(
            host, port, n, sizes, None, concurrency, "paired bare connections"
        )
        paired = cls(fleet, ctl_fleet, ctl, len(opened.conns), sizes)
        if opened.failures:
            paired.close()
            raise RuntimeError(f"{opened.failures} paired bare connections failed")
        return paired

    async def broadcast(self) -> float:
        """One question-size broadcast: ms from the trigger to the last arrival."""
        ms, _ = await _broadcast(
            self.ctl, self.fleet, self.live, self.sizes.question, "question", self.timeout
        )
        return ms

    async def leaderboard(self) -> float:
        """One leaderboard-size broadcast: ms from the first arrival to the last."""
        _, spread = await _broadcast(
            self.ctl, self.fleet, self.live, self.sizes.leaderboard, "leaderboard", self.timeout
        )
        return spread

    async def ingest(self, question: int) -> float:
        """Everyone answers at once, pipelined by the server: answers acknowledged per second."""
        return await _ingest(self.fleet, self.live, "ans_pipe", question, self.timeout)

    def close(self) -> None:
        """Drop every connection."""
        self.fleet.close_all()
        self.ctl_fleet.close_all()


async def run_pair(
    host: str,
    ports: tuple[int, int],
    figures: BareFigures,
    sizes: FrameSizes,
    reps: int,
    warmup: int,
    progress: Progress,
    concurrency: int = 100,
) -> None:
    """The architecture's floor: N connections split between two bare servers (participant ``i``
    on server ``i % 2``, as the bench splits them between the two instances). Server 0 publishes
    each broadcast on Redis and both send it with the plain loop; then everyone answers at once,
    pipelined by each server.

    Adds to ``figures`` the time until the last participant has the broadcast, its first arrival
    from server 1 minus from server 0 (the cross-instance latency of no work at all) and the
    ingest rate.
    """
    n = figures.n
    fleet, ctl_fleet = Fleet(), Fleet()
    hello = _hello(sizes)

    async def open_one(index: int) -> Conn:
        return await _open(fleet, host, ports[index % 2], hello, index, group=index % 2)

    progress.step(f"bare N={n:,}: two servers: broadcast by one publish, pipelined ingest")
    ctl, _ = [await _control(ctl_fleet, host, port, sizes) for port in ports]
    opened = await open_many(n, open_one, concurrency, progress, "bare pair connections")
    live = len(opened.conns)
    try:
        for rep in range(warmup + reps):
            ms, _spread = await _broadcast(
                ctl, fleet, live, sizes.question, "question", phase_timeout(n), "bcast_pub"
            )
            firsts = [fleet.group_first.get((b"question", g)) for g in (0, 1)]
            if rep >= warmup:
                figures.pair_broadcast_ms.append(ms)
                if firsts[0] is not None and firsts[1] is not None:
                    figures.pair_cross_ms.append((firsts[1] - firsts[0]) * 1000.0)
        for rep in range(warmup + reps):
            rate = await _ingest(fleet, live, "ans_pipe", rep, phase_timeout(n))
            if rep >= warmup:
                figures.pair_ingest_rate.append(rate)
    finally:
        fleet.close_all()
        ctl_fleet.close_all()
        await asyncio.sleep(0.05)


async def _ingest(fleet: Fleet, n: int, kind: str, question: int, timeout: float) -> float:
    fleet.reset()
    acked = fleet.expect("ack", n)
    frame = _frame({"type": kind, "question_index": question, "selected": [0]})
    started = time.perf_counter()
    fleet.write_all(frame)
    async with asyncio.timeout(timeout):
        last = await acked
    return n / (last - started)


async def run_bare(
    host: str,
    port: int,
    server_pid: int,
    n: int,
    reps: int,
    warmup: int,
    sizes: FrameSizes,
    progress: Progress,
    concurrency: int = 100,
) -> BareFigures:
    """Measure every bare baseline with N connections to the bare server.

    Args:
        host: The bare server's host.
        port: Its port.
        server_pid: Its pid (for memory and CPU).
        n: How many participants to connect.
        reps: Measured repetitions of each timed baseline.
        warmup: Unmeasured repetitions first.
        sizes: The real frames' sizes to imitate.
        progress: Where to report progress.
        concurrency: Connections opened at once.
    """
    figures = BareFigures(n=n)
    timeout = phase_timeout(n)
    rss_before = rss_bytes(server_pid)
    progress.step(f"bare N={n:,}: connecting (WebSocket + hello/welcome)")
    fleet, ctl_fleet, ctl, opened = await _open_fleet(
        host, port, n, sizes, progress, concurrency, "bare connections"
    )
    figures.connect_spans = opened.spans
    figures.connect_failures = opened.failures
    if opened.failures:
        progress.step(f"  {opened.failures} bare connections failed: {opened.errors[:2]}")
    live = len(opened.conns)
    await asyncio.sleep(0)
    figures.memory_kb_per_conn = (rss_bytes(server_pid) - rss_before) / 1024 / max(live, 1)

    progress.step(f"bare N={n:,}: broadcast {sizes.question} B x {warmup}+{reps}")
    meter = CpuMeter(lambda: cpu_seconds(server_pid))
    frames_before = 0
    for rep in range(warmup + reps):
        if rep == warmup:
            meter = CpuMeter(lambda: cpu_seconds(server_pid))
            frames_before = fleet.lifetime_frames
        ms, _ = await _broadcast(ctl, fleet, live, sizes.question, "question", timeout)
        if rep >= warmup:
            figures.broadcast_ms.append(ms)
    figures.costs.append(cost_sample(fleet, meter, fleet.lifetime_frames - frames_before))

    progress.step(f"bare N={n:,}: leaderboard-size broadcast {sizes.leaderboard} B")
    for rep in range(warmup + reps):
        ms, spread = await _broadcast(ctl, fleet, live, sizes.leaderboard, "leaderboard", timeout)
        if rep >= warmup:
            figures.leaderboard_ms.append(ms)
            figures.leaderboard_spread_ms.append(spread)

    progress.step(f"bare N={n:,}: ingest, one awaited Redis command per answer")
    for rep in range(warmup + reps):
        rate = await _ingest(fleet, live, "ans_await", rep, timeout)
        if rep >= warmup:
            figures.ingest_await_rate.append(rate)
    progress.step(f"bare N={n:,}: ingest, pipelined")
    for rep in range(warmup + reps):
        rate = await _ingest(fleet, live, "ans_pipe", rep, timeout)
        if rep >= warmup:
            figures.ingest_pipe_rate.append(rate)

    fleet.close_all()
    ctl_fleet.close_all()
    await asyncio.sleep(0.05)  # let the loop run the transports' connection_lost (closes fds)
    return figures
