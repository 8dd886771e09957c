"""The bare baselines: what aiohttp alone does with the same connections, frames and Redis.

Run as its own process (``python -m tools.bench.bare --port P --redis-url URL``), pinned to the
servers' core like the real services. One WebSocket endpoint, ``/ws``, serves every baseline on the
same connections, so each is measured with the same N and the same generator:

* **connection** — a client connects and sends ``hello``; the server answers ``welcome``
  (the bare connection rate is the rate of this round trip).
* **broadcast** — the control client sends ``{"type":"bcast","size":S}``; the server builds one
  frame of S bytes and sends it to every other connection with a plain ``send_str`` loop.
* **ingest, awaited** — each ``ans_await`` frame gets one awaited Redis command (``HINCRBY``), then
  an acknowledgement of the real ``answer_accepted`` frame's size.
* **ingest, pipelined** — ``ans_pipe`` frames that arrive in the same loop iteration share one
  Redis pipeline; each is then acknowledged.
* **broadcast by publish** — ``{"type":"bcast_pub","size":S}`` publishes the broadcast on a Redis
  channel that every bare server listens to; each sends it to its own connections with the same
  loop. Two bare servers so are the architecture's floor: one publish, two processes broadcasting
  (the real system's two instances).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web
from redis.asyncio.client import PubSub

from tools.bench.system import run_loop

CLIENTS = web.AppKey("clients", set[web.WebSocketResponse])
REDIS = web.AppKey("redis", aioredis.Redis)
PENDING = web.AppKey("pending", list[tuple[web.WebSocketResponse, str]])
FLUSHER = web.AppKey("flusher", list[asyncio.Task[None]])
SIZES = web.AppKey("sizes", dict[str, int])
REDIS_URL = web.AppKey("redis_url", str)

_HASH = "bench:bare:ingest"
CHANNEL = "bench:bare:broadcast"


def padded(frame_type: str, size: int, seq: int = 1) -> str:
    """Return a compact JSON frame of ``type`` padded to exactly ``size`` bytes (when possible)."""
    head = f'{{"seq":{seq},"type":"{frame_type}","pad":"'
    fill = max(0, size - len(head) - 2)
    return head + "x" * fill + '"}'


async def _flush(app: web.Application) -> None:
    # One pipeline in flight at a time: what arrives while it runs forms the next batch.
    pending = app[PENDING]
    try:
        while pending:
            batch = pending[:]
            pending.clear()
            pipe = app[REDIS].pipeline(transaction=False)
            for _, field in batch:
                pipe.hincrby(_HASH, field, 1)
            await pipe.execute()
            ack = padded("ack", app[SIZES]["ack"])
            for ws, _ in batch:
                await ws.send_str(ack)
    finally:
        app[FLUSHER].clear()


async def _handle(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(autoping=True, heartbeat=None)
    await ws.prepare(request)
    clients = app[CLIENTS]
    index = 0
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            raw = orjson.loads(msg.data)
            kind = raw.get("type")
            if kind == "hello":
                index = len(clients)
                clients.add(ws)
                await ws.send_str(padded("welcome", int(raw.get("size", 200))))
            elif kind == "ans_await":
                await app[REDIS].hincrby(_HASH, f"p{index}:{raw['question_index']}", 1)
                await ws.send_str(padded("ack", app[SIZES]["ack"]))
            elif kind == "ans_pipe":
                app[PENDING].append((ws, f"p{index}:{raw['question_index']}"))
                if not app[FLUSHER]:
                    app[FLUSHER].append(asyncio.ensure_future(_flush(app)))
            elif kind == "ack_size":
                app[SIZES]["ack"] = int(raw["size"])
                await ws.send_str(padded("ok", 40))
            elif kind == "bcast":
                clients.discard(ws)
                await _send_all(clients, _asked(raw))
                await ws.send_str(padded("sent", 40))
            elif kind == "bcast_pub":
                clients.discard(ws)
                await app[REDIS].publish(CHANNEL, msg.data)
                await ws.send_str(padded("sent", 40))
            elif kind == "reset":
                await app[REDIS].delete(_HASH)
                await ws.send_str(padded("ok", 40))
    finally:
        clients.discard(ws)
    return ws


def _asked(raw: dict[str, object]) -> str:
    """The frame a broadcast request asks for: its type (``as``) padded to its size."""
    return padded(str(raw.get("as", "bcast")), int(str(raw["size"])))


async def _send_all(clients: set[web.WebSocketResponse], frame: str) -> None:
    for other in list(clients):
        await other.send_str(frame)


async def _listen(app: web.Application, pubsub: PubSub) -> None:
    """Send every broadcast published on the channel to this server's connections."""
    async for message in pubsub.listen():
        if message["type"] == "message":
            await _send_all(app[CLIENTS], _asked(orjson.loads(message["data"])))


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    # A blocking pool: at most 64 connections, and a command waits for a free one (the default
    # pool of redis-py raises once 100 are busy, which 10,000 concurrent answers would hit).
    pool = aioredis.BlockingConnectionPool.from_url(
        app[REDIS_URL], max_connections=64, timeout=None
    )
    client = aioredis.Redis(connection_pool=pool)
    app[REDIS] = client
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)  # before the server answers: no publish is missed
    listener = asyncio.create_task(_listen(app, pubsub))
    yield
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()
    await pool.aclose()  # a pool passed in is not closed by the client


def build_app(redis_url: str) -> web.Application:
    """Build the bare baseline application.

    Args:
        redis_url: The Redis the ingest baselines write to.

    Returns:
        The aiohttp application.
    """
    app = web.Application()
    app[REDIS_URL] = redis_url
    app[CLIENTS] = set()
    app[PENDING] = []
    app[FLUSHER] = []
    app[SIZES] = {"ack": 120}
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_get("/ws", _handle)
    app.router.add_get("/health", _health)
    return app


async def _health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def serve(host: str, port: int, redis_url: str) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(build_app(redis_url), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Serve the bare baselines until killed."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    run_loop(serve(args.host, args.port, args.redis_url), uvloop_wanted=not args.no_uvloop)


if __name__ == "__main__":
    main()
