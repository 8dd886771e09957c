"""The bare baselines, measured by the lean client against the bare server and a real Redis."""

from __future__ import annotations

import os

import pytest
from aiohttp import web

from tools.bench.bare import build_app, padded
from tools.bench.bare_suite import FrameSizes, run_bare
from tools.bench.common import Progress


def test_padded_frames_have_the_size_asked_for() -> None:
    for size in (60, 300, 965):
        frame = padded("question", size)
        assert len(frame) == size
        assert frame.startswith('{"seq":1,"type":"question"')


@pytest.fixture
async def bare_port(redis_url: str) -> object:
    runner = web.AppRunner(build_app(redis_url))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await runner.cleanup()


async def test_run_bare_measures_every_baseline(bare_port: int) -> None:
    figures = await run_bare(
        "127.0.0.1", bare_port, os.getpid(), n=30, reps=2, warmup=1,
        sizes=FrameSizes(question=300, leaderboard=900, ack=90), progress=Progress(quiet=True),
        concurrency=8,
    )  # fmt: skip
    assert figures.connect_failures == 0
    assert figures.connect_rate > 0
    assert len(figures.broadcast_ms) == 2
    assert all(ms > 0 for ms in figures.broadcast_ms + figures.leaderboard_ms)
    assert len(figures.ingest_await_rate) == 2
    assert len(figures.ingest_pipe_rate) == 2
    assert all(rate > 0 for rate in figures.ingest_await_rate + figures.ingest_pipe_rate)
    assert figures.costs[0].frames == 2 * 30
