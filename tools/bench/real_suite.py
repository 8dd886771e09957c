"""The generator's side of the real system: sign-on, two speedrun instances, one Redis.

Per N, one host-paced run and one self-paced run, each with all N participants:

* **joins** — every participant signs on (``POST /signon/speedruns/{code}/participants``), then
  opens its WebSocket to instance ``i % 2`` and says hello until ``welcome``. Sign-ons come first,
  then the sockets (see :func:`join_all` for why).
* **host-paced**, per question: the host (on instance 0) sends ``start``/``next`` and the time
  until the last participant has the ``question`` is the broadcast; every participant then answers
  at once and the rate of ``answer_accepted`` is the ingest; the host sends ``reveal`` and the time
  the servers take to get the next ``leaderboard`` frame to all N is the leaderboard update. The
  first question is the warm-up. Each of the three is also measured on a bare server
  (:class:`~tools.bench.paired.PairedProcess`), just before or just after, as its paired baseline.
* **cross-instance latency** — per question, when the first participant on the other instance had
  the question, minus when the first one on the host's instance had it.
* **self-paced** — every participant answers each question the moment it arrives; answers/s over
  the run.
* **host reconnects** — after the host-paced questions the host reconnects a few times (a refresh
  of its page) while a participant on its instance pings: a host's welcome lists all N, and the
  longest ping round trip is how long building it held up the instance's other sockets.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from tools.bench.common import (
    CostSample,
    CpuMeter,
    OpenResult,
    Progress,
    Stamped,
    cost_sample,
    measured_spans,
    open_many,
    span_rates,
    two_phase_rates,
)
from tools.bench.paired import PairedProcess
from tools.bench.system import cpu_seconds, rss_bytes
from tools.bench.wsclient import Conn, Fleet, client_frame, connect, question_index

WS_PATH = "/speedrun"
_RETRYABLE = re.compile(rb'"code":"(unavailable|rate_limited)"')


@dataclass
class StackInfo:
    """Where the real stack answers (written by :mod:`tools.bench.stackhost`)."""

    signon: str
    loader: str
    instances: list[str]
    redis: str
    aws: str
    instance_pids: list[int]
    signon_pid: int | None
    pids: dict[str, int]
    aws_env: dict[str, str] = field(default_factory=dict)
    gateway: str = ""
    """The gateway (the web app and every route, as CloudFront would serve them)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackInfo:
        """Read the stack host's info file."""
        return cls(
            signon=data["signon"],
            loader=data["loader"],
            instances=list(data["instances"]),
            redis=data["redis"],
            aws=data["aws"],
            instance_pids=list(data["instance_pids"]),
            signon_pid=data.get("signon_pid"),
            pids=dict(data["pids"]),
            aws_env=dict(data.get("aws_env", {})),
            gateway=data.get("gateway", ""),
        )

    def instance_addr(self, index: int) -> tuple[str, int]:
        """Host and port of speedrun instance ``index``."""
        parts = urlsplit(self.instances[index % len(self.instances)])
        return parts.hostname or "127.0.0.1", parts.port or 80

    def servers_cpu(self) -> float:
        """CPU seconds used so far by the speedrun instances and Redis."""
        pids = [*self.instance_pids, self.pids.get("redis", 0)]
        return sum(cpu_seconds(p) for p in pids if p)

    def stack_cpu(self) -> float:
        """CPU seconds used so far by every process of the stack."""
        return sum(cpu_seconds(p) for p in self.pids.values() if p)


@dataclass
class Frames:
    """Average sizes of the real frames seen, for the baselines to imitate."""

    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class RealFigures:
    """Repetitions of every real figure at one N."""

    n: int
    joined: int = 0
    join_rates: list[float] = field(default_factory=list)
    """:data:`~tools.bench.common.SLICES` per join of all N (the host-paced run's, then each
    self-paced run's not profiled): a slice's sign-ons and its sockets, over both times."""
    join_failures: int = 0
    join_errors: list[str] = field(default_factory=list)
    signon_rates: list[float] = field(default_factory=list)
    """One per join of all N: its sign-on phase's rate."""
    ws_rates: list[float] = field(default_factory=list)
    """One per join of all N: its socket phase's rate."""
    hello_rates: list[float] = field(default_factory=list)
    """The socket phases alone, a rate per slice: like for like with the bare connections."""
    memory_kb_per_participant: float = 0.0
    """From the first join of the N (a fresh stack: later joins reuse freed memory)."""
    broadcast_ms: list[float] = field(default_factory=list)
    ingest_rate: list[float] = field(default_factory=list)
    ingest_failures: int = 0
    leaderboard_ms: list[float] = field(default_factory=list)
    paired_broadcast_ms: list[float] = field(default_factory=list)
    """The bare broadcast next to each measured question's (:mod:`tools.bench.paired`)."""
    paired_ingest_rate: list[float] = field(default_factory=list)
    """The bare pipelined ingest next to each measured question's answers."""
    paired_leaderboard_ms: list[float] = field(default_factory=list)
    """The bare leaderboard-size broadcast's spread next to each measured reveal's."""
    paired_bare_s: float = 0.0
    """Seconds the measured paired baselines took, all together."""
    paired_stack_cpu_s: float = 0.0
    """CPU seconds the real stack used meanwhile: the share of the servers' core it took from
    the bare server while that was measured (clock ticks: exact only summed over many)."""
    cross_ms: list[float] = field(default_factory=list)
    cross_median_ms: list[float] = field(default_factory=list)
    self_paced_rates: list[float] = field(default_factory=list)
    """:data:`~tools.bench.common.SLICES` per self-paced run: its answers in slices of equal
    count, each over its time."""
    self_paced_run_rates: list[float] = field(default_factory=list)
    """One per self-paced run: all its answers over its whole time."""
    self_paced_answers: int = 0
    self_paced_retries: int = 0
    costs: list[CostSample] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    error_frames: dict[str, int] = field(default_factory=dict)
    """Error frames the servers sent, by message, counted."""
    host_page_stall_ms: list[float] = field(default_factory=list)
    host_page_lag_ms: list[float] = field(default_factory=list)
    host_reconnect_stall_ms: list[float] = field(default_factory=list)
    """Per host reconnect: the longest ping round trip of a participant on the host's instance."""
    host_welcome_ms: list[float] = field(default_factory=list)
    """Per host reconnect: from its hello to its welcome."""
    settle_s: list[float] = field(default_factory=list)
    """Seconds each join of all N waited for the servers to go idle (see :func:`servers_idle`)."""

    def count_errors(self, fleet: Fleet) -> None:
        """Move the fleet's error frame counts into :attr:`error_frames`."""
        for text, count in fleet.error_counts.items():
            self.error_frames[text] = self.error_frames.get(text, 0) + count
        fleet.error_counts.clear()
        fleet.errors.clear()


def bench_question_set(count: int) -> dict[str, Any]:
    """A question set of ``count`` four-option questions, each allowing the longest time."""
    return {
        "title": f"Benchmark run of {count} questions",
        "questions": [
            {
                "text": f"Question {i + 1}: which of these numbers is the largest prime below "
                f"{40 + i}?",
                "options": [f"{29 + i}", f"{31 + i}", f"{35 + i}", f"{37 + i}"],
                "correct": [0],
                "category": "maths",
                "time_limit_s": 240,
            }
            for i in range(count)
        ],
    }


async def upload_set(session: aiohttp.ClientSession, loader: str, count: int) -> str:
    """Upload the bench question set through the loader; return its id."""
    form = aiohttp.FormData()
    body = orjson.dumps(bench_question_set(count))
    form.add_field("file", body, filename="bench.json", content_type="application/json")
    async with session.post(f"{loader}/question-set-upload", data=form) as resp:
        data = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"the loader refused the bench set: {resp.status} {data}")
    return str(data["id"])


async def create_run(
    session: aiohttp.ClientSession, signon: str, set_id: str, mode: str, n: int, questions: int
) -> dict[str, Any]:
    """Open a run of the set's first ``questions`` for N participants; return sign-on's answer."""
    body = {
        "question_set_id": set_id,
        "mode": mode,
        "time_limit_s": 240,
        "max_participants": n,
        "question_indexes": list(range(questions)),
    }
    async with session.post(f"{signon}/signon/speedruns", json=body) as resp:
        data = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"sign-on refused the run: {resp.status} {data}")
    return dict(data)


def _hello(token: str) -> bytes:
    return client_frame(orjson.dumps({"type": "hello", "token": token}))


def _command(kind: str) -> bytes:
    return client_frame(orjson.dumps({"type": kind}))


def _answer(index: int) -> bytes:
    return client_frame(orjson.dumps({"type": "answer", "question_index": index, "selected": [0]}))


def _client_ip(index: int) -> str:
    # One address per simulated player, as sign-on sees them behind the load balancer.
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


async def quiet(fleets: list[Fleet], idle_s: float = 0.05, limit_s: float = 10.0) -> None:
    """Wait until no frame has arrived on any fleet for ``idle_s`` (at most ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    last = sum(f.frames for f in fleets)
    while time.monotonic() < deadline:
        await asyncio.sleep(idle_s)
        now = sum(f.frames for f in fleets)
        if now == last:
            return
        last = now


IDLE_CORES = 0.1
"""Servers' summed CPU use (in cores) below which they count as idle (idle, with their
background loops, they use 0.01-0.03; CPU time is counted in ticks of 10 ms)."""


async def servers_idle(info: StackInfo, limit_s: float = 120.0) -> float:
    """Wait until the stack's processes (every service, Redis, the AWS endpoint) are idle, and
    return how long that took.

    A finished run is archived by the reporter (and the AWS endpoint) in the background: 8 s of
    CPU at 10,000 players. Without this wait it overlapped the next run's joins on the servers'
    core and halved sign-on's rate in every join of an N but the first.
    """
    started = time.monotonic()
    pids = list(info.pids.values())
    calm = 0
    before = sum(cpu_seconds(p) for p in pids)
    while calm < 2 and time.monotonic() - started < limit_s:
        await asyncio.sleep(0.5)
        now = sum(cpu_seconds(p) for p in pids)
        calm = calm + 1 if now - before < IDLE_CORES * 0.5 else 0
        before = now
    return time.monotonic() - started


@dataclass
class Joined:
    """A run with its host and participants connected."""

    run: dict[str, Any]
    host: Conn
    host_fleet: Fleet
    fleet: Fleet
    conns: list[Conn]


async def join_all(
    info: StackInfo,
    session: aiohttp.ClientSession,
    run: dict[str, Any],
    n: int,
    figures: RealFigures | None,
    progress: Progress,
    concurrency: int,
    on_sockets: Callable[[], None] | None = None,
) -> Joined:
    """Connect the host (instance 0), sign on N participants, then connect them.

    Sign-ons first, sockets second, so that sign-on's rate and the WebSocket rate are measured
    apart (``on_sockets`` is called in between); joins one by one (each sign-on followed at once
    by its socket) are :func:`interleaved_joins`. With ``figures``, the join is one repetition of
    the joins figure (and the first of an N also gives the memory per participant).
    """
    settled = await servers_idle(info)
    if figures is not None:
        figures.settle_s.append(settled)
    host_fleet = Fleet()
    host_addr = info.instance_addr(0)
    host = await connect(host_fleet, *host_addr, WS_PATH)
    await asyncio.wait_for(host.request_reply(_hello(run["host_token"]), "welcome"), 30)
    url = participants_url(info, run["join_code"])
    signed = await sign_on_all(url, session, n, progress, concurrency)
    rss_before = [rss_bytes(p) for p in info.instance_pids]
    if on_sockets is not None:
        on_sockets()
    fleet, opened = await open_all(info, signed.tokens, progress, concurrency)
    await quiet([fleet, host_fleet])
    if figures is not None:
        if not figures.join_rates:
            rss_after = [rss_bytes(p) for p in info.instance_pids]
            live = max(len(opened.conns), 1)
            figures.memory_kb_per_participant = (sum(rss_after) - sum(rss_before)) / 1024 / live
        figures.joined = len(opened.conns)
        figures.join_failures += len(signed.errors) + opened.failures
        figures.join_errors = (figures.join_errors + signed.errors + opened.errors)[:5]
        figures.signon_rates.append(len(signed.tokens) / signed.seconds if signed.seconds else 0.0)
        figures.ws_rates.append(opened.rate)
        sockets = opened.spans
        figures.join_rates += two_phase_rates(signed.spans, sockets)
        figures.hello_rates += span_rates(sockets)
        figures.sizes["welcome"] = fleet.average_size("welcome")
    return Joined(run, host, host_fleet, fleet, opened.conns)


def participants_url(info: StackInfo, code: str) -> str:
    """Sign-on's join URL of the run holding ``code``."""
    return f"{info.signon}/signon/speedruns/{code}/participants"


async def _sign_on(session: aiohttp.ClientSession, url: str, index: int, prefix: str) -> str:
    """Sign on participant ``{prefix}{index}`` from an address of its own (as sign-on sees
    players behind the load balancer); return its token.

    Raises:
        RuntimeError: Sign-on refused it.
    """
    headers = {"X-Forwarded-For": _client_ip(index)}
    async with session.post(url, json={"nickname": f"{prefix}{index}"}, headers=headers) as resp:
        data = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"sign-on {resp.status}: {data}")
        return str(data["participant_token"])


async def _open(info: StackInfo, fleet: Fleet, index: int, token: str) -> Conn:
    """Connect participant ``index`` to instance ``index % instances`` and say hello."""
    group = index % len(info.instances)
    conn = await connect(fleet, *info.instance_addr(group), WS_PATH, group=group, index=index)
    try:
        await asyncio.wait_for(conn.request_reply(_hello(token), "welcome"), 30)
    except TimeoutError:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    return conn


@dataclass
class SignOns(Stamped):
    """Participants signed on: ``(index, token)`` in index order, refusals, the time taken, and
    when it started and each sign-on was answered."""

    tokens: list[tuple[int, str]]
    errors: list[str]
    seconds: float
    started: float
    stamps: list[float]


async def sign_on_all(
    url: str,
    session: aiohttp.ClientSession,
    n: int,
    progress: Progress,
    concurrency: int,
) -> SignOns:
    """Sign on participants ``p0`` … ``p{n-1}`` at ``url`` (a run's ``…/participants``, or
    the joins' floor's), ``concurrency`` at a time."""
    tokens: list[tuple[int, str]] = []
    stamps: list[float] = []
    errors: list[str] = []

    async def sign_on(index: int) -> None:
        try:
            tokens.append((index, await _sign_on(session, url, index, "p")))
            stamps.append(time.perf_counter())
        except RuntimeError as exc:
            errors.append(str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors.append(f"sign-on: {type(exc).__name__}: {exc}")

    progress.step(f"sign-on of {n:,} participants")
    started = time.perf_counter()
    next_index = 0

    async def sign_on_worker() -> None:
        nonlocal next_index
        while next_index < n:
            index = next_index
            next_index += 1
            await sign_on(index)
            progress.tick("sign-ons", len(tokens) + len(errors), n)

    await asyncio.gather(*(sign_on_worker() for _ in range(min(concurrency, n))))
    tokens.sort()
    return SignOns(tokens, errors, time.perf_counter() - started, started, stamps)


async def open_all(
    info: StackInfo, tokens: list[tuple[int, str]], progress: Progress, concurrency: int
) -> tuple[Fleet, OpenResult]:
    """Connect the signed-on participants (each to instance ``index % instances``) and say
    hello; the fleet holds them in index order."""
    fleet = Fleet()

    async def open_one(slot: int) -> Conn:
        return await _open(info, fleet, *tokens[slot])

    progress.step(f"WebSocket + hello of {len(tokens):,} participants")
    opened = await open_many(len(tokens), open_one, concurrency, progress, "sockets")
    opened.conns.sort(key=lambda c: c.index)
    fleet.conns = opened.conns
    return fleet, opened


async def _await(
    future: asyncio.Future[float], timeout: float, what: str, fleet: Fleet, host: Fleet
) -> float:
    """Wait for a phase's last frame; on timeout say what did arrive (and the errors)."""
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        seen = {k.decode(): v for k, v in fleet.counts.items()}
        host_seen = {k.decode(): v for k, v in host.counts.items()}
        raise RuntimeError(
            f"{what}: timed out after {timeout:.0f}s; participants got {seen}, host got "
            f"{host_seen}, {fleet.closed} sockets closed; errors: {fleet.errors[-3:]}"
        ) from None


@dataclass
class InterleavedJoins:
    """Joins one by one (sign-on, then at once the socket), as players arrive in a lobby."""

    n: int
    rate: float
    rates: list[float]
    """One per slice of the joins (:data:`~tools.bench.common.SLICES`)."""
    failures: int
    frames: int
    """Frames the participants received while joining (coalesced ``lobby`` counts)."""


async def interleaved_joins(
    info: StackInfo,
    session: aiohttp.ClientSession,
    run: dict[str, Any],
    n: int,
    progress: Progress,
    concurrency: int,
) -> InterleavedJoins:
    """Each participant signs on and connects at once; joins/s, and the frames it cost."""
    await servers_idle(info)
    host_fleet = Fleet()
    host = await connect(host_fleet, *info.instance_addr(0), WS_PATH)
    await asyncio.wait_for(host.request_reply(_hello(run["host_token"]), "welcome"), 30)
    fleet = Fleet()
    url = participants_url(info, run["join_code"])

    async def join_one(index: int) -> Conn:
        return await _open(info, fleet, index, await _sign_on(session, url, index, "i"))

    progress.step(f"real N={n:,}: interleaved joins (sign-on, then the socket, one by one)")
    try:
        opened = await open_many(n, join_one, concurrency, progress, "interleaved joins")
    except aiohttp.ClientError as exc:
        raise RuntimeError(f"interleaved joins: {exc}") from exc
    frames = fleet.frames
    fleet.close_all()
    host_fleet.close_all()
    return InterleavedJoins(n, opened.rate, span_rates(opened.spans), opened.failures, frames)


PING_EVERY_S = 0.025
"""The probe's pings during a host reconnect: 40 a second, within the rate limit's burst of 40
for the reconnects' few seconds (20 a second refill)."""


async def host_reconnects(
    info: StackInfo, joined: Joined, figures: RealFigures, times: int, progress: Progress
) -> None:
    """Reconnect the run's host ``times`` times (each new socket replaces the last) while a
    participant on the host's instance pings; record each reconnect's longest ping round trip
    and its welcome time. ``joined.host`` is the last socket afterwards."""
    probe = next(c for c in joined.conns if c.group == 0)
    for attempt in range(times):
        progress.tick("host reconnects", attempt + 1, times)
        done = asyncio.Event()
        pinging = asyncio.create_task(_worst_ping(probe, done))
        await asyncio.sleep(2 * PING_EVERY_S)
        host = await connect(joined.host_fleet, *info.instance_addr(0), WS_PATH)
        sent = time.perf_counter()
        welcomed = await asyncio.wait_for(
            host.request_reply(_hello(joined.run["host_token"]), "welcome"), 60
        )
        figures.host_welcome_ms.append((welcomed - sent) * 1000)
        await asyncio.sleep(2 * PING_EVERY_S)
        done.set()
        figures.host_reconnect_stall_ms.append(await pinging * 1000)
        joined.host = host
        await asyncio.sleep(0.5)  # the probe's rate limit refills


async def _worst_ping(probe: Conn, done: asyncio.Event) -> float:
    """Ping until ``done``; return the longest round trip (s)."""
    ping = client_frame(b'{"type":"ping","id":1}')
    worst = 0.0
    while not done.is_set():
        sent = time.perf_counter()
        await asyncio.wait_for(probe.request_reply(ping, "pong"), 30)
        worst = max(worst, time.perf_counter() - sent)
        await asyncio.sleep(PING_EVERY_S)
    return worst


def _span_union(intervals: list[tuple[float, float]]) -> float:
    total = 0.0
    end = float("-inf")
    for lo, hi in sorted(intervals):
        if hi <= end:
            continue
        total += hi - max(lo, end)
        end = hi
    return total


async def host_paced(
    info: StackInfo,
    joined: Joined,
    figures: RealFigures,
    reps: int,
    warmup: int,
    progress: Progress,
    first_question: int = 0,
    paired: PairedProcess | None = None,
) -> None:
    """Play ``warmup + reps`` questions, measuring broadcast, ingest and leaderboard each time.

    The first question played is ``first_question`` (0: the run is started by this call). With
    ``paired``, each of the three is also measured on the bare server, as its baseline: just
    before the real one on even questions, just after it on odd ones (whichever runs second
    finds the core just busy, the first after a pause: neither side always gets that).
    """
    fleet, host, n = joined.fleet, joined.host, len(joined.conns)
    joined.host_fleet.reset()
    groups = len(info.instances)
    timeout = 60.0 + n / 50
    meter = CpuMeter(info.servers_cpu)
    frames_before = 0

    async def broadcast(q: int) -> float:
        """Start (question 0) or next: ms until the last participant has the question."""
        fleet.reset()
        joined.host_fleet.reset()
        arrived = fleet.expect("question", n)
        sent = time.perf_counter()
        host.send(_command("start" if q == 0 else "next"))
        last = await _await(arrived, timeout, f"question {q}", fleet, joined.host_fleet)
        figures.sizes["question"] = fleet.average_size("question")
        return (last - sent) * 1000

    async def ingest(q: int) -> float:
        """Everyone answers at once: answers accepted per second."""
        fleet.reset()
        acked = fleet.expect(("answer_accepted", "error"), n)
        sent = time.perf_counter()
        fleet.write_all(_answer(q))
        last = await _await(acked, timeout, f"answers to {q}", fleet, joined.host_fleet)
        accepted = fleet.counts.get(b"answer_accepted", 0)
        figures.count_errors(fleet)
        figures.sizes["answer_accepted"] = fleet.average_size("answer_accepted")
        return accepted / (last - sent)

    async def leaderboard(q: int) -> float:
        """Reveal, then ms from the first to the last participant's coalesced leaderboard."""
        fleet.reset()
        boards = fleet.expect("leaderboard", n)
        host.send(_command("reveal"))
        await _await(boards, timeout, f"leaderboard after {q}", fleet, joined.host_fleet)
        spans = [
            (fleet.group_first[(b"leaderboard", g)], fleet.group_last[(b"leaderboard", g)])
            for g in range(groups)
            if (b"leaderboard", g) in fleet.group_first
        ]
        figures.sizes["leaderboard"] = fleet.average_size("leaderboard")
        return _span_union(spans) * 1000

    async def both(
        real: Callable[[], Awaitable[float]],
        bare: Callable[[PairedProcess], Awaitable[float]],
        values: list[float],
        baselines: list[float],
    ) -> None:
        """The real measurement and, with a paired baseline, the bare one in this question's
        order; both kept once the warm-up is over."""
        baseline: float | None = None
        if paired is None:
            value = await real()
        elif bare_first:
            baseline = await timed(bare(paired))
            value = await real()
        else:
            value = await real()
            await quiet([fleet, joined.host_fleet])
            baseline = await timed(bare(paired))
        if measured:
            values.append(value)
            if baseline is not None:
                baselines.append(baseline)

    async def timed(bare: Awaitable[float]) -> float:
        """A paired baseline, with what the real stack used of the servers' core meanwhile."""
        cpu, started = info.stack_cpu(), time.perf_counter()
        value = await bare
        if measured:
            figures.paired_bare_s += time.perf_counter() - started
            figures.paired_stack_cpu_s += info.stack_cpu() - cpu
        return value

    for rep in range(warmup + reps):
        measured = rep >= warmup
        q = first_question + rep
        bare_first = rep % 2 == 0
        if rep == warmup:
            meter = CpuMeter(info.servers_cpu)
            frames_before = fleet.lifetime_frames + joined.host_fleet.lifetime_frames
        progress.tick("host-paced questions", rep + 1, warmup + reps)
        await both(
            functools.partial(broadcast, q), PairedProcess.broadcast,
            figures.broadcast_ms, figures.paired_broadcast_ms,
        )  # fmt: skip
        firsts = [fleet.group_first.get((b"question", g)) for g in range(groups)]
        if measured and groups > 1 and None not in firsts:
            figures.cross_ms.append((firsts[1] - firsts[0]) * 1000)  # type: ignore[operator]
        await quiet([fleet, joined.host_fleet])
        await both(
            functools.partial(ingest, q), functools.partial(PairedProcess.ingest, question=q),
            figures.ingest_rate, figures.paired_ingest_rate,
        )  # fmt: skip
        accepted = fleet.counts.get(b"answer_accepted", 0)
        if measured and accepted < n:
            figures.ingest_failures += n - accepted
        await quiet([fleet, joined.host_fleet])
        await both(
            functools.partial(leaderboard, q), PairedProcess.leaderboard,
            figures.leaderboard_ms, figures.paired_leaderboard_ms,
        )  # fmt: skip
        await quiet([fleet, joined.host_fleet], idle_s=0.1)
    frames = fleet.lifetime_frames + joined.host_fleet.lifetime_frames - frames_before
    figures.costs.append(cost_sample(fleet, meter, frames))


async def self_paced(
    info: StackInfo,
    joined: Joined,
    figures: RealFigures,
    questions: int,
    progress: Progress,
) -> None:
    """Everyone answers each question the moment it arrives; measure answers/s over the run."""
    fleet, host, n = joined.fleet, joined.host, len(joined.conns)
    answers = [_answer(i) for i in range(questions)]
    stamps: list[float] = []

    retries = 0
    loop = asyncio.get_running_loop()
    jitter = random.Random(n)

    def retry(conn: Conn) -> None:
        index = conn.info.get("q", -1)
        if 0 <= index < len(answers) and conn.transport is not None:
            conn.transport.write(answers[index])

    def on_frame(conn: Conn, ftype: bytes, data: bytes, start: int, end: int) -> None:
        nonlocal retries
        if ftype == b"question":
            index = question_index(data, start, end)
            if 0 <= index < len(answers) and conn.transport is not None:
                conn.info["q"] = index
                conn.transport.write(answers[index])
        elif ftype == b"answer_result":
            stamps.append(time.perf_counter())
            conn.info["backoff"] = 0.05
        elif ftype == b"error" and _RETRYABLE.search(data, start, end):
            # "Try again": a client retries after a random pause that doubles while it is
            # refused (immediate retries would only feed the overload that refused it).
            retries += 1
            backoff = conn.info.get("backoff", 0.05)
            conn.info["backoff"] = min(backoff * 2, 2.0)
            loop.call_later(backoff * (0.5 + jitter.random()), retry, conn)

    total = n * questions
    fleet.reset()
    fleet.hook = on_frame
    done = fleet.expect("answer_result", total)
    started = time.perf_counter()
    host.send(_command("start"))
    deadline = 120.0 + total / 500
    while not done.done():
        await asyncio.wait([done], timeout=1.0)
        progress.tick("self-paced answers", len(stamps), total)
        if time.perf_counter() - started > deadline:
            figures.errors.append(f"self-paced: {len(stamps)}/{total} answers after {deadline}s")
            break
    fleet.hook = None
    figures.self_paced_retries += retries
    figures.count_errors(fleet)
    if stamps:
        elapsed = stamps[-1] - started
        figures.self_paced_answers += len(stamps)
        figures.self_paced_run_rates.append(len(stamps) / elapsed if elapsed > 0 else 0.0)
        figures.self_paced_rates += span_rates(measured_spans(started, stamps))


def close(joined: Joined) -> None:
    """Drop every connection of a run."""
    joined.fleet.close_all()
    joined.host_fleet.close_all()
