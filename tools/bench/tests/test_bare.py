"""The bare baselines, measured by the lean client against the bare server and a real Redis."""

from __future__ import annotations

import os

import aiohttp
import pytest
from aiohttp import web

from speedrun_protocol.ids import new_participant_id, new_speedrun_id
from speedrun_protocol.state import RUN_TTL_S
from speedrun_protocol.tokens import issue_token
from tools.bench.bare import build_app, padded
from tools.bench.bare_suite import BareFigures, FrameSizes, PairedBare, run_bare, run_pair
from tools.bench.common import Progress
from tools.bench.paired import PairedProcess
from tools.bench.procs import start_bare_signon
from tools.bench.real_suite import sign_on_all


def test_padded_frames_have_the_size_asked_for() -> None:
    for size in (60, 300, 965):
        frame = padded("question", size)
        assert len(frame) == size
        assert frame.startswith('{"seq":1,"type":"question"')


async def _serve_bare(redis_url: str) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(build_app(redis_url))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def bare_port(redis_url: str) -> object:
    runner, port = await _serve_bare(redis_url)
    yield port
    await runner.cleanup()


async def test_run_bare_measures_every_baseline(bare_port: int) -> None:
    figures = await run_bare(
        "127.0.0.1", bare_port, os.getpid(), n=30, reps=2, warmup=1,
        sizes=FrameSizes(question=300, leaderboard=900, ack=90), progress=Progress(quiet=True),
        concurrency=8,
    )  # fmt: skip
    assert figures.connect_failures == 0
    assert sum(count for count, _ in figures.connect_spans) == 30
    assert len(figures.connect_rates) == 1  # fewer than MIN_SLICE: one slice
    assert all(rate > 0 for rate in figures.connect_rates)
    assert len(figures.broadcast_ms) == 2
    assert all(ms > 0 for ms in figures.broadcast_ms + figures.leaderboard_ms)
    assert len(figures.ingest_await_rate) == 2
    assert len(figures.ingest_pipe_rate) == 2
    assert all(rate > 0 for rate in figures.ingest_await_rate + figures.ingest_pipe_rate)
    assert figures.costs[0].frames == 2 * 30


async def test_run_pair_reaches_both_servers_participants_from_one_publish(redis_url: str) -> None:
    # Every participant, on either server, gets each broadcast (run_pair waits for all of them);
    # only server 0 is told, so server 1's half comes through the Redis channel.
    servers = [await _serve_bare(redis_url) for _ in range(2)]
    try:
        figures = BareFigures(n=21)
        await run_pair(
            "127.0.0.1", (servers[0][1], servers[1][1]), figures, FrameSizes(question=300),
            reps=3, warmup=1, progress=Progress(quiet=True), concurrency=8,
        )  # fmt: skip
    finally:
        for runner, _ in servers:
            await runner.cleanup()
    assert len(figures.pair_broadcast_ms) == 3
    assert all(ms > 0 for ms in figures.pair_broadcast_ms)
    assert len(figures.pair_cross_ms) == 3
    assert len(figures.pair_ingest_rate) == 3
    assert all(rate > 0 for rate in figures.pair_ingest_rate)


async def test_the_paired_baseline_measures_each_figure_on_its_own_connections(
    bare_port: int,
) -> None:
    paired = await PairedBare.open(
        "127.0.0.1", bare_port, 25, FrameSizes(question=300, leaderboard=900, ack=90), concurrency=8
    )
    try:
        assert paired.live == 25
        # each waits for all 25 participants' frames (or acknowledgements) before it returns
        assert await paired.broadcast() > 0
        assert await paired.leaderboard() >= 0
        assert await paired.ingest(0) > 0
        assert paired.fleet.counts.get(b"ack") == 25
    finally:
        paired.close()


async def test_a_paired_baseline_that_cannot_connect_everyone_says_so(redis_url: str) -> None:
    runner, port = await _serve_bare(redis_url)
    await runner.cleanup()  # nothing listens there any more
    with pytest.raises((RuntimeError, OSError)):
        await PairedBare.open("127.0.0.1", port, 5, FrameSizes(), concurrency=2)


async def test_the_paired_baseline_runs_in_a_generator_process_of_its_own(
    bare_port: int,
) -> None:
    # the N connections are the child's open files, not this process's: what lets the bench pair
    # 10,000 real players with 10,000 bare ones under a per-process limit of 20,000
    before = len(os.listdir("/proc/self/fd"))
    paired = await PairedProcess.open(
        "127.0.0.1", bare_port, 25, FrameSizes(question=300, leaderboard=900, ack=90),
        concurrency=8,
    )  # fmt: skip
    try:
        assert paired.live == 25
        assert len(os.listdir(f"/proc/{paired.proc.pid}/fd")) >= 25
        # this process holds the bare server's 25 accepted sockets, not the clients' too
        assert len(os.listdir("/proc/self/fd")) - before < 2 * 25
        assert await paired.broadcast() > 0
        assert await paired.leaderboard() >= 0
        assert await paired.ingest(0) > 0
        assert await paired.broadcast() > 0  # the child answers every command in turn
    finally:
        await paired.close()
    assert paired.proc.returncode == 0


async def test_a_paired_process_that_cannot_connect_everyone_says_so(redis_url: str) -> None:
    runner, port = await _serve_bare(redis_url)
    await runner.cleanup()  # nothing listens there any more
    with pytest.raises(RuntimeError, match="paired bare generator"):
        await PairedProcess.open("127.0.0.1", port, 5, FrameSizes(), concurrency=2)


async def test_the_joins_floor_answers_a_join_as_sign_on_does_and_validates_the_body() -> None:
    # the process itself (uvicorn, pinned), as the bench runs it, signed on through the same path
    floor = start_bare_signon()
    try:
        url = f"http://127.0.0.1:{floor.port}/signon/speedruns/123456/participants"
        async with aiohttp.ClientSession() as session:
            signed = await sign_on_all(url, session, 20, Progress(quiet=True), 4)
            async with session.post(url, json={"nick": "x"}) as refused:
                assert refused.status == 422
            bad_code = url.replace("123456", "12345x")
            async with session.post(bad_code, json={"nickname": "x"}) as refused:
                assert refused.status == 422
    finally:
        floor.stop()
    assert signed.errors == []
    assert [index for index, _ in signed.tokens] == list(range(20))
    token = signed.tokens[0][1]
    real = issue_token("x" * 32, new_speedrun_id(), "participant", new_participant_id(), RUN_TTL_S)
    assert len(token) == len(real)


def test_a_second_bare_measurement_pools_with_the_first() -> None:
    before = BareFigures(n=10, connect_spans=[(5, 0.5)], broadcast_ms=[1.0, 2.0])
    after = BareFigures(n=10, connect_spans=[(5, 1.0)], broadcast_ms=[4.0])
    before.memory_kb_per_conn, after.memory_kb_per_conn = 10, 12
    after.ingest_pipe_rate = [5.0]
    before.pair_broadcast_ms, after.pair_broadcast_ms = [3.0], [6.0]
    after.pair_cross_ms, after.pair_ingest_rate = [0.5], [9.0]
    before.pool(after)
    assert before.connect_rates == [10.0, 5.0]
    assert before.memory_kb_per_conn == 11.0
    assert before.broadcast_ms == [1.0, 2.0, 4.0]
    assert before.ingest_pipe_rate == [5.0]
    assert before.pair_broadcast_ms == [3.0, 6.0]
    assert before.pair_cross_ms == [0.5]
    assert before.pair_ingest_rate == [9.0]
