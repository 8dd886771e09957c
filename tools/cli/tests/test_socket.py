"""The client socket reconnects with ``last_seq`` and stops where retrying cannot help.

The server here is a small aiohttp app that scripts what a speedrun instance says, so each test
sees exactly the hello frames the client sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel

from speedrun_cli.socket import RunSocket
from speedrun_protocol.frames import (
    QuestionFrame,
    QuestionView,
    RunFinishedFrame,
    Snapshot,
    WelcomeFrame,
)

Script = Callable[[web.WebSocketResponse, dict[str, Any], int], Any]


def welcome(seq: int, status: str = "running") -> str:
    snapshot = Snapshot(
        title="t",
        mode="self-paced",
        status=status,  # type: ignore[arg-type]
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

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hello = json.loads((await ws.receive()).data)
        hellos.append(hello)
        await scripts[min(len(hellos), len(scripts)) - 1](ws, hello, len(hellos))
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

    async def first(ws: web.WebSocketResponse, hello: dict[str, Any], n: int) -> None:
        await ws.send_str(welcome(5))
        await ws.send_str(question(7, 0))
        await ws.close(code=1012)

    async def second(ws: web.WebSocketResponse, hello: dict[str, Any], n: int) -> None:
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

    async def close(ws: web.WebSocketResponse, hello: dict[str, Any], n: int) -> None:
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

    async def finished(ws: web.WebSocketResponse, hello: dict[str, Any], n: int) -> None:
        await ws.send_str(welcome(3, status="finished"))
        await ws.close()

    scripts.append(finished)
    async with aiohttp.ClientSession() as session:
        socket = RunSocket(session, url, "tok", lambda frame: None, backoff_s=0.01)
        await asyncio.wait_for(socket.run(), 10)
    assert socket.finished
    assert len(hellos) == 1
