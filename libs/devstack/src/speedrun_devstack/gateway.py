"""The local gateway: routes like CloudFront + API Gateway + the load balancer do in AWS.

* the web app's static files (``/`` is ``index.html``; ``/host`` is ``host.html``; any file under
  the web folder, never anything outside it);
* ``/question-set-upload`` and ``/question-sets*`` to the loader, ``/signon*`` to sign-on, with
  request and response bodies streamed;
* ``/speedrun`` WebSocket upgrades to the speedrun instances, round robin over the healthy ones
  like the load balancer (an instance whose ``/healthz`` fails, or whose port refuses, is skipped),
  frames relayed both ways and close codes passed through. When an instance dies its clients'
  connections are dropped, as the load balancer drops them, and they reconnect elsewhere.

``Origin`` is forwarded unchanged and the client's address is appended to ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from speedrun_protocol.errors import error_body

log = logging.getLogger("speedrun_devstack.gateway")

HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Trailers", "Transfer-Encoding", "Upgrade",
    )
)  # fmt: skip
"""Headers that concern one hop only and are never forwarded."""

WS_HANDSHAKE = frozenset(
    h.lower()
    for h in (
        "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
    )
)  # fmt: skip
"""WebSocket handshake headers: each hop negotiates its own."""

PRETTY_PAGES = {"": "index.html", "host": "host.html", "join": "join.html", "play": "play.html"}
"""Paths served by a page of the web app without its ``.html``."""

UNSENDABLE_CLOSE_CODES = frozenset({1005, 1006, 1015})
"""Close codes that describe a close and may never be sent in a close frame."""

HEALTH_TIMEOUT_S = 3.0
"""How long a health check waits for ``/healthz``."""
UNHEALTHY_THRESHOLD = 2
"""Failed health checks in a row that take an instance out of the rotation."""


@dataclass
class Instance:
    """One speedrun instance behind the gateway, as the load balancer sees it."""

    url: str
    healthy: bool = True
    failed_checks: int = 0
    """Health checks failed in a row."""
    connections: int = 0
    """WebSocket connections routed to it so far."""
    active: int = 0
    """WebSocket connections open through it now."""


@dataclass
class InstancePool:
    """The speedrun instances, chosen round robin among the healthy ones."""

    instances: list[Instance]
    _next: int = field(default=0, repr=False)

    @classmethod
    def of(cls, urls: Iterable[str]) -> InstancePool:
        """Make a pool of the instances at ``urls``."""
        return cls([Instance(url.rstrip("/")) for url in urls])

    def order(self) -> list[Instance]:
        """Return the instances to try for the next connection, best first.

        Healthy instances come first, in round-robin order; unhealthy ones follow, so that when
        every instance looks unhealthy the gateway still tries them (as the load balancer fails
        open).
        """
        count = len(self.instances)
        rotated = [self.instances[(self._next + i) % count] for i in range(count)]
        self._next = (self._next + 1) % count
        return [i for i in rotated if i.healthy] + [i for i in rotated if not i.healthy]

    async def check(self, session: aiohttp.ClientSession) -> None:
        """Mark each instance healthy or not by its ``/healthz``.

        Like the load balancer's health check: unhealthy after :data:`UNHEALTHY_THRESHOLD`
        failures in a row (a slow answer on a busy machine is not a dead instance), healthy
        again after one success. A refused connection marks it unhealthy at once (see
        :func:`_connect_upstream`).
        """

        async def probe(instance: Instance) -> None:
            try:
                async with session.get(
                    f"{instance.url}/healthz",
                    timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S),
                ) as resp:
                    ok = resp.status == 200
            except aiohttp.ClientConnectorError:
                ok, instance.failed_checks = False, UNHEALTHY_THRESHOLD
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            instance.failed_checks = 0 if ok else instance.failed_checks + 1
            instance.healthy = instance.failed_checks < UNHEALTHY_THRESHOLD

        await asyncio.gather(*(probe(i) for i in self.instances))


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway routes."""

    web_dir: Path
    loader_url: str
    signon_url: str
    instance_urls: list[str]
    health_interval_s: float = 1.0


CONFIG_KEY = web.AppKey("config", GatewayConfig)
POOL_KEY = web.AppKey("pool", InstancePool)
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)


# ---------------------------------------------------------------------------------------------
# Static files
# ---------------------------------------------------------------------------------------------


def resolve_static(root: Path, rel: str) -> Path | None:
    """Return the file under ``root`` that the URL path ``rel`` names, or None.

    Refuses anything that could leave ``root`` (``..``, absolute paths, backslashes, NUL), hidden
    files, and symlinks pointing outside.
    """
    rel = rel.strip("/")
    if rel in PRETTY_PAGES:
        rel = PRETTY_PAGES[rel]
    if "\\" in rel or "\x00" in rel:
        return None
    parts = [p for p in rel.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    base = root.resolve()
    candidate = base.joinpath(*parts).resolve() if parts else base
    if not candidate.is_relative_to(base):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    elif not candidate.exists() and candidate.suffix == "":
        candidate = candidate.with_suffix(".html")
    return candidate if candidate.is_file() else None


async def static_file(request: web.Request) -> web.StreamResponse:
    """Serve a file of the web app."""
    root = request.app[CONFIG_KEY].web_dir
    found = resolve_static(root, request.match_info.get("path", ""))
    if found is None:
        return web.json_response(error_body("not_found", "No such page."), status=404)
    return web.FileResponse(found, headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------------------------------------
# HTTP APIs
# ---------------------------------------------------------------------------------------------


def forwarded_headers(request: web.Request, skip: frozenset[str] = frozenset()) -> CIMultiDict[str]:
    """Return the request's end-to-end headers plus the ``X-Forwarded-*`` ones."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in skip or lower.startswith("x-forwarded-"):
            continue
        headers.add(name, value)
    before = request.headers.get("X-Forwarded-For")
    client = request.remote or ""
    headers["X-Forwarded-For"] = f"{before}, {client}" if before else client
    headers["X-Forwarded-Proto"] = request.headers.get("X-Forwarded-Proto", request.scheme)
    headers["X-Forwarded-Host"] = request.headers.get("X-Forwarded-Host", request.host)
    return headers


def _bad_gateway(message: str, status: int = 502) -> web.Response:
    return web.json_response(error_body("bad_gateway", message), status=status)


async def _proxy_http(request: web.Request, base: str) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    target = URL(base.rstrip("/") + request.raw_path, encoded=True)
    data: Any = request.content if request.body_exists else None
    try:
        async with session.request(
            request.method,
            target,
            headers=forwarded_headers(request),
            data=data,
            allow_redirects=False,
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientConnectorError:
        return _bad_gateway("The service is not reachable.", status=503)
    except aiohttp.ClientPayloadError:
        return _bad_gateway("The service's answer was cut short.")


async def to_loader(request: web.Request) -> web.StreamResponse:
    """Forward a question-set request to the loader."""
    return await _proxy_http(request, request.app[CONFIG_KEY].loader_url)


async def to_signon(request: web.Request) -> web.StreamResponse:
    """Forward a sign-on request to sign-on."""
    return await _proxy_http(request, request.app[CONFIG_KEY].signon_url)


# ---------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ending:
    """How one side of a relayed connection ended."""

    closed: bool
    """True for a close frame; False when the connection was lost."""
    code: int | None = None
    reason: str = ""


async def _relay(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> _Ending:
    """Copy frames from ``source`` to ``sink`` until ``source`` closes or is lost."""
    while True:
        msg = await source.receive()
        try:
            if msg.type is WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            elif msg.type is WSMsgType.CLOSE:
                return _Ending(closed=True, code=msg.data, reason=msg.extra or "")
            elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return _Ending(closed=False)
        except (ConnectionError, aiohttp.ClientConnectionError, RuntimeError):
            # The sink went away: its own relay reports how.
            return _Ending(closed=False)


def _close_args(ending: _Ending, fallback: int) -> dict[str, Any]:
    code = ending.code if ending.code and ending.code not in UNSENDABLE_CLOSE_CODES else fallback
    return {"code": code, "message": ending.reason.encode()[:120]}


async def _connect_upstream(
    request: web.Request,
) -> tuple[Instance, aiohttp.ClientWebSocketResponse] | web.Response:
    """Open a WebSocket to an instance, trying each in load-balancer order."""
    pool = request.app[POOL_KEY]
    session = request.app[SESSION_KEY]
    headers = forwarded_headers(request, skip=WS_HANDSHAKE)
    protocols = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    for instance in pool.order():
        try:
            upstream = await session.ws_connect(
                instance.url + request.raw_path,
                headers=headers,
                protocols=protocols,
                autoclose=False,
                autoping=True,
                max_msg_size=4 * 1024 * 1024,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status >= 500:
                # A draining or broken instance: the load balancer stops routing new connections
                # to a deregistering target, so try the next one instead of passing the 503 on.
                instance.healthy, instance.failed_checks = False, UNHEALTHY_THRESHOLD
                continue
            return web.json_response(
                error_body("upgrade_refused", exc.message or "The upgrade was refused."),
                status=exc.status,
            )
        except (aiohttp.ClientConnectorError, TimeoutError):
            instance.healthy, instance.failed_checks = False, UNHEALTHY_THRESHOLD
            continue
        instance.connections += 1
        return instance, upstream
    return _bad_gateway("No speedrun instance is available.", status=503)


async def speedrun_socket(request: web.Request) -> web.StreamResponse:
    """Relay a ``/speedrun`` WebSocket to an instance chosen like the load balancer would."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        pool = request.app[POOL_KEY]
        return await _proxy_http(request, pool.order()[0].url)
    connected = await _connect_upstream(request)
    if isinstance(connected, web.Response):
        return connected
    instance, upstream = connected
    client = web.WebSocketResponse(
        autoclose=False,
        autoping=True,
        max_msg_size=4 * 1024 * 1024,
        protocols=[upstream.protocol] if upstream.protocol else (),
    )
    instance.active += 1
    try:
        await client.prepare(request)
        to_upstream = asyncio.create_task(_relay(client, upstream))
        to_client = asyncio.create_task(_relay(upstream, client))
        done, _ = await asyncio.wait({to_upstream, to_client}, return_when=asyncio.FIRST_COMPLETED)
        if to_client in done:
            ending = to_client.result()
            if ending.closed:
                await client.close(**_close_args(ending, fallback=1000))
            elif request.transport is not None:
                # The instance is gone: drop the client's connection as the load balancer does.
                request.transport.close()
            await upstream.close()
        else:
            ending = to_upstream.result()
            await upstream.close(**_close_args(ending, fallback=1001))
            await client.close()
        for task in (to_upstream, to_client):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5.0)
    finally:
        instance.active -= 1
        if not upstream.closed:
            await upstream.close()
    return client


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """The gateway's own health, with what it knows of the instances."""
    pool = request.app[POOL_KEY]
    return web.json_response(
        {
            "status": "ok",
            "instances": [
                {"url": i.url, "healthy": i.healthy, "connections": i.connections,
                 "active": i.active}
                for i in pool.instances
            ],
        }
    )  # fmt: skip


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # auto_decompress off: bodies pass through byte for byte, Content-Encoding and all.
    session = aiohttp.ClientSession(
        auto_decompress=False,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0),
        connector=aiohttp.TCPConnector(limit=0),
    )
    app[SESSION_KEY] = session
    yield
    await session.close()


async def _health_checks(app: web.Application) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            await app[POOL_KEY].check(app[SESSION_KEY])
            await asyncio.sleep(app[CONFIG_KEY].health_interval_s)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_gateway(config: GatewayConfig) -> web.Application:
    """Build the gateway application.

    Args:
        config: The web folder and the services' URLs.

    Returns:
        The aiohttp application.
    """
    app = web.Application(client_max_size=0)
    app[CONFIG_KEY] = config
    app[POOL_KEY] = InstancePool.of(config.instance_urls)
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_health_checks)
    app.router.add_route("*", "/question-set-upload", to_loader)
    app.router.add_route("*", "/question-sets", to_loader)
    app.router.add_route("*", "/question-sets/{tail:.*}", to_loader)
    app.router.add_route("*", "/signon", to_signon)
    app.router.add_route("*", "/signon/{tail:.*}", to_signon)
    app.router.add_get("/speedrun", speedrun_socket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/{path:.*}", static_file)
    return app
