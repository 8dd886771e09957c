"""The gateway routes like CloudFront + API Gateway + the load balancer.

The services behind it are small aiohttp apps standing in for the loader, sign-on and speedrun
instances: they answer what they received, so each test sees exactly what was forwarded.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from speedrun_devstack.gateway import GatewayConfig, InstancePool, build_gateway, resolve_static
from speedrun_devstack.procs import free_port

NAME = web.AppKey("name", str)


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "service": request.app[NAME],
            "method": request.method,
            "path_qs": request.path_qs,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
        }
    )


def _http_service(name: str) -> web.Application:
    app = web.Application(client_max_size=10 * 1024 * 1024)
    app[NAME] = name
    app.router.add_route("*", "/{tail:.*}", _echo)
    return app


@dataclass
class FakeInstance:
    """A speedrun instance stand-in: says who it is, echoes text, closes as told."""

    name: str
    seen_origins: list[str | None] = field(default_factory=list)
    seen_forwarded_for: list[str | None] = field(default_factory=list)
    client_close_codes: list[int | None] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/speedrun", self.socket)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        self.seen_origins.append(request.headers.get("Origin"))
        self.seen_forwarded_for.append(request.headers.get("X-Forwarded-For"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(f"hello from {self.name}")
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                if msg.data.startswith("close "):
                    await ws.close(code=int(msg.data.split()[1]), message=b"as asked")
                elif msg.data == "die":
                    assert request.transport is not None
                    request.transport.abort()
                else:
                    await ws.send_str(f"{self.name}: {msg.data}")
        self.client_close_codes.append(ws.close_code)
        return ws


@dataclass
class Setup:
    gateway: str
    instances: list[FakeInstance]
    web_dir: Path


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    web_dir = tmp_path / "web"
    (web_dir / "js").mkdir(parents=True)
    (web_dir / "index.html").write_text("<h1>index</h1>")
    (web_dir / "host.html").write_text("<h1>host</h1>")
    (web_dir / "join.html").write_text("<h1>join</h1>")
    (web_dir / "js" / "app.js").write_text("export {}")
    (tmp_path / "secret.txt").write_text("do not serve")
    (web_dir / ".env").write_text("hidden")
    (web_dir / "escape.txt").symlink_to(tmp_path / "secret.txt")

    instances = [FakeInstance("one"), FakeInstance("two")]
    servers = [
        TestServer(_http_service("loader"), host="127.0.0.1"),
        TestServer(_http_service("signon"), host="127.0.0.1"),
        *(TestServer(i.app(), host="127.0.0.1") for i in instances),
    ]
    for server in servers:
        await server.start_server()
    urls = [str(server.make_url("")).rstrip("/") for server in servers]
    gateway = TestServer(
        build_gateway(
            GatewayConfig(
                web_dir=web_dir,
                loader_url=urls[0],
                signon_url=urls[1],
                instance_urls=urls[2:],
                health_interval_s=0.1,
            )
        ),
        host="127.0.0.1",
    )
    await gateway.start_server()
    yield Setup(str(gateway.make_url("")).rstrip("/"), instances, web_dir)
    await gateway.close()
    for server in servers:
        await server.close()


async def test_upload_reaches_loader_with_whole_body(setup: Setup) -> None:
    body = os.urandom(5 * 1024 * 1024)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{setup.gateway}/question-set-upload?x=1", data=io.BytesIO(body)) as resp,
    ):
        echoed = await resp.json()
    assert resp.status == 200
    assert echoed["service"] == "loader"
    assert echoed["path_qs"] == "/question-set-upload?x=1"
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert echoed["forwarded_for"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/question-sets", "loader"),
        ("/question-sets/qs_abc", "loader"),
        ("/signon/speedruns", "signon"),
        ("/signon/speedruns/123456/qr.svg", "signon"),
    ],
)
async def test_api_path_routes_to_its_service(setup: Setup, path: str, service: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(setup.gateway + path) as resp:
        echoed = await resp.json()
    assert (echoed["service"], echoed["path_qs"]) == (service, path)


@pytest.mark.parametrize(
    ("path", "text"),
    [("/", "index"), ("/host", "host"), ("/join?code=123456", "join"), ("/js/app.js", "export")],
)
async def test_static_page_is_served(setup: Setup, path: str, text: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(setup.gateway + path) as resp:
        assert resp.status == 200
        assert text in await resp.text()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/js/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/.env",
        "/escape.txt",
        "/%00index.html",
        "/nothing-here",
    ],
)
async def test_static_outside_web_dir_is_refused(setup: Setup, raw_path: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(URL(setup.gateway + raw_path, encoded=True)) as resp,
    ):
        body = await resp.text()
    assert resp.status in (400, 404)
    assert "do not serve" not in body
    assert "hidden" not in body


def test_resolve_static_stays_under_root(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "a.html").write_text("a")
    (tmp_path / "outside.html").write_text("x")
    root = tmp_path / "web"
    assert resolve_static(root, "a") == (root / "a.html").resolve()
    assert resolve_static(root, "../outside.html") is None
    assert resolve_static(root, "/../../outside") is None


async def test_websockets_are_spread_round_robin(setup: Setup) -> None:
    greetings = []
    async with aiohttp.ClientSession() as session:
        for _ in range(4):
            async with session.ws_connect(f"{setup.gateway}/speedrun") as ws:
                greetings.append((await ws.receive()).data)
    assert greetings == ["hello from one", "hello from two"] * 2


async def test_websocket_frames_relay_both_ways_with_origin(setup: Setup) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{setup.gateway}/speedrun", origin="http://127.0.0.1:8080") as ws,
    ):
        greeting = (await ws.receive()).data
        await ws.send_str('{"type": "ping"}')
        echoed = (await ws.receive()).data
    name = greeting.rsplit(" ", 1)[1]
    instance = next(i for i in setup.instances if i.name == name)
    assert echoed == f'{name}: {{"type": "ping"}}'
    assert instance.seen_origins == ["http://127.0.0.1:8080"]
    assert instance.seen_forwarded_for == ["127.0.0.1"]


@pytest.mark.parametrize("code", [1012, 4001, 4004])
async def test_instance_close_code_reaches_client(setup: Setup, code: int) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{setup.gateway}/speedrun") as ws,
    ):
        await ws.receive()
        await ws.send_str(f"close {code}")
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert (msg.data, msg.extra) == (code, "as asked")


async def test_client_close_code_reaches_instance(setup: Setup) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{setup.gateway}/speedrun")
        greeting = (await ws.receive()).data
        await ws.close(code=4100)
    instance = next(i for i in setup.instances if greeting.endswith(i.name))
    for _ in range(100):
        if instance.client_close_codes:
            break
        await asyncio.sleep(0.02)
    assert instance.client_close_codes == [4100]


async def test_lost_instance_connection_drops_client(setup: Setup) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{setup.gateway}/speedrun") as ws,
    ):
        await ws.receive()
        await ws.send_str("die")
        msg = await ws.receive()
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def test_refused_instance_is_skipped(tmp_path: Path) -> None:
    live = FakeInstance("live")
    server = TestServer(live.app(), host="127.0.0.1")
    await server.start_server()
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = TestServer(
        build_gateway(
            GatewayConfig(
                web_dir=tmp_path,
                loader_url=dead,
                signon_url=dead,
                instance_urls=[dead, str(server.make_url("")).rstrip("/")],
                health_interval_s=60,
            )
        ),
        host="127.0.0.1",
    )
    await gateway.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.ws_connect(gateway.make_url("/speedrun")) as ws:
                    assert (await ws.receive()).data == "hello from live"
            async with session.get(gateway.make_url("/question-sets")) as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "bad_gateway"
    finally:
        await gateway.close()
        await server.close()


async def test_no_instance_answers_503(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = TestServer(
        build_gateway(
            GatewayConfig(web_dir=tmp_path, loader_url=dead, signon_url=dead, instance_urls=[dead])
        ),
        host="127.0.0.1",
    )
    await gateway.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                await session.ws_connect(gateway.make_url("/speedrun"))
        assert raised.value.status == 503
    finally:
        await gateway.close()


async def test_health_checks_take_instance_out_and_back() -> None:
    status = web.AppKey("status", list)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({}, status=request.app[status][0])

    app = web.Application()
    app[status] = [503]
    app.router.add_get("/healthz", healthz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    pool = InstancePool.of([str(server.make_url("")), f"http://127.0.0.1:{free_port()}"])
    try:
        async with aiohttp.ClientSession() as session:
            await pool.check(session)
            # One failed check is not enough; a refused port is.
            assert [i.healthy for i in pool.instances] == [True, False]
            await pool.check(session)
            assert [i.healthy for i in pool.instances] == [False, False]
            app[status][0] = 200
            await pool.check(session)
            assert [i.healthy for i in pool.instances] == [True, False]
            assert pool.order()[0] is pool.instances[0]
    finally:
        await server.close()
