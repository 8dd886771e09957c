"""The client socket reconnects with ``last_seq``, at once after a go-elsewhere close and with
backoff otherwise, and stops where retrying cannot help.

The server here is a small aiohttp app that scripts what a speedrun instance says, so each test
sees exactly the hello frames the client sent. A script is a coroutine that plays one connection,
or an HTTP status with which that attempt's upgrade is refused.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from speedrun_cli.socket import CONNECTION_LOST, RunSocket
from speedrun_protocol.frames import (
    QuestionFrame,
    QuestionView,
    RunFinishedFrame,
    Snapshot,
    WelcomeFrame,
)

Ws = web.WebSocketResponse
Hello = dict[str, Any]
Script = Callable[[Ws, Hello, web.Request], Any] | int


def welcome(seq: int, status: str = "running") -> str:
    snapshot = Snapshot(
        title="t",
        mode="self-paced",
        status=status,
        phase="question",
        question_count=2,
        participant_count=1,
    )
    return WelcomeFrame(
        seq=seq, role="participant", speedrun_id="sr_x", server_time_ms=0, snapshot=snapshot
    ).model_dump_json()


def question(seq: int, index: int) -> str:
    view = QuestionView(
        question_index=index,
        question_count=2,
        text="q",
        options=["a", "b"],
        multi=False,
        points=1000,
        time_limit_s=10,
        deadline_ms=0,
        remaining_ms=10_000,
    )
    return QuestionFrame(seq=seq, question=view).model_dump_json()


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[Script]]]:
    hellos: list[dict[str, Any]] = []
    scripts: list[Script] = []
    attempts = 0

    async def socket(request: web.Request) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        script = scripts[min(attempts, len(scripts)) - 1]
        if isinstance(script, int):
            return web.Response(status=script)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hello = json.loads((await ws.receive()).data)
        hellos.append(hello)
        await script(ws, hello, request)
        return ws

    app = web.Application()
    app.router.add_get("/speedrun", socket)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield str(test_server.make_url("/speedrun")), hellos, scripts
    await test_server.close()


async def test_reconnect_sends_last_seq_seen(
    server: tuple[str, list[dict[str, Any]], list[Script]],
) -> None:
    url, hellos, scripts = server

    async def first(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(5))
        await ws.send_str(question(7, 0))
        await ws.close(code=1012)

    async def second(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(9))
        await ws.send_str(RunFinishedFrame(seq=10, reason="completed", leaderboard=[],
                                           participant_count=1).model_dump_json())  # fmt: skip
        await ws.close()

    scripts += [first, second]
    frames: list[BaseModel] = []
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", frames.append, backoff_s=0.01)
        await asyncio.wait_for(socket.run(), 10)
    assert hellos == [
        {"type": "hello", "token": "tok", "protocol_version": 1},
        {"type": "hello", "token": "tok", "last_seq": 7, "protocol_version": 1},
    ]
    assert [f.model_dump()["type"] for f in frames] == [
        "welcome",
        "question",
        "welcome",
        "run_finished",
    ]
    assert (socket.finished, socket.connections, socket.drops) == (True, 2, 1)


@pytest.mark.parametrize("code", [4001, 4004, 4009])
async def test_final_close_stops_reconnecting(
    server: tuple[str, list[dict[str, Any]], list[Script]], code: int
) -> None:
    url, hellos, scripts = server

    async def close(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(1))
        await ws.close(code=code)

    scripts.append(close)
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda frame: None, backoff_s=0.01)
        await asyncio.wait_for(socket.run(), 10)
    assert len(hellos) == 1
    assert socket.close_code == code
    assert not socket.finished


async def test_welcome_of_finished_run_ends_socket(
    server: tuple[str, list[dict[str, Any]], list[Script]],
) -> None:
    url, hellos, scripts = server

    async def finished(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(3, status="finished"))
        await ws.close()

    scripts.append(finished)
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda frame: None, backoff_s=0.01)
        await asyncio.wait_for(socket.run(), 10)
    assert socket.finished
    assert len(hellos) == 1


def finish(seq: int) -> Script:
    async def script(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(seq))
        await ws.send_str(RunFinishedFrame(seq=seq + 1, reason="completed", leaderboard=[],
                                           participant_count=1).model_dump_json())  # fmt: skip
        await ws.close()

    return script


def welcome_then_close(code: int | str) -> Script:
    """Welcome, then close with ``code``, or end the TCP connection without a close frame:
    ``"eof"`` as a proxy does when its upstream died, ``"reset"`` as a crashed peer."""

    async def script(ws: Ws, hello: Hello, request: web.Request) -> None:
        await ws.send_str(welcome(1))
        if isinstance(code, int):
            await ws.close(code=code)
            return
        await asyncio.sleep(0.05)  # let the welcome reach the client first
        assert request.transport is not None
        if code == "eof":
            request.transport.close()
        else:
            request.transport.abort()

    return script


def waits(socket: RunSocket) -> list[float]:
    """Seconds from each close to the next attempt."""
    events = socket.events
    return [
        later.at - event.at
        for event, later in itertools.pairwise(events)
        if event.kind == "closed" and later.kind == "connecting"
    ]


@pytest.mark.parametrize(
    ("code", "seen"),
    [
        (1001, 1001),
        (1012, 1012),
        (4008, 4008),
        ("eof", CONNECTION_LOST),
        ("reset", CONNECTION_LOST),
    ],
    ids=["going-away", "service-restart", "slow-consumer", "eof", "reset"],
)
async def test_reconnect_after_go_elsewhere_close_is_immediate(
    server: tuple[str, list[dict[str, Any]], list[Script]], code: int | str, seen: int
) -> None:
    # GIVEN a backoff far longer than the test allows, and a herd jitter of 50 ms
    url, hellos, scripts = server
    scripts += [welcome_then_close(code), finish(5)]
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda f: None, backoff_s=30, herd_jitter_s=0.05)
        # WHEN the welcomed connection closes with a code that means "go elsewhere"
        await asyncio.wait_for(socket.run(), 10)
    # THEN the close is seen as such and the next attempt follows within the jitter
    closes = [e.code for e in socket.events if e.kind == "closed"]
    assert closes[0] == seen
    [wait] = waits(socket)
    assert wait <= 0.05 + 0.02
    assert (socket.finished, socket.connections, len(hellos)) == (True, 2, 2)


@pytest.mark.parametrize("code", [1000, 1013])
async def test_reconnect_after_other_close_backs_off(
    server: tuple[str, list[dict[str, Any]], list[Script]], code: int
) -> None:
    url, _, scripts = server
    scripts += [welcome_then_close(code), finish(5)]
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda f: None, backoff_s=0.4, herd_jitter_s=0)
        await asyncio.wait_for(socket.run(), 10)
    # Half the backoff at least: the jitter takes at most half of it away.
    [wait] = waits(socket)
    assert 0.2 <= wait <= 0.4 + 0.1
    assert socket.finished


async def test_failed_attempts_after_immediate_reconnect_back_off(
    server: tuple[str, list[dict[str, Any]], list[Script]],
) -> None:
    # GIVEN an instance restarting, then two attempts the gateway refuses, then a healthy one
    url, _, scripts = server
    scripts += [welcome_then_close(1012), 503, 503, finish(5)]
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda f: None, backoff_s=0.1, herd_jitter_s=0)
        await asyncio.wait_for(socket.run(), 10)
    # THEN the first retry went at once, the next ones waited 0.1 * 2**failures (half to all)
    first, second, third = waits(socket)
    assert first <= 0.02
    assert 0.1 <= second <= 0.2 + 0.1
    assert 0.2 <= third <= 0.4 + 0.1
    assert [e.code for e in socket.events if e.kind == "closed"][:3] == [1012, None, None]
    assert (socket.finished, socket.connections, socket.drops) == (True, 2, 1)


def test_reconnect_delay_doubles_per_failure_up_to_the_cap() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    socket = RunSocket(
        None,  # type: ignore[arg-type]
        "ws://x",
        "tok",
        lambda f: None,
        backoff_s=0.2,
        max_backoff_s=3.0,
        herd_jitter_s=0.1,
        rng=Top(),
    )
    socket.close_code = 1012
    assert socket.reconnect_delay(0) == 0.1
    assert [socket.reconnect_delay(n) for n in range(1, 6)] == [0.4, 0.8, 1.6, 3.0, 3.0]
    socket.close_code = 1013
    assert socket.reconnect_delay(0) == 0.2
