"""The application factory: routes, the shared connections and the background loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from speedrun_aws import aws_client
from speedrun_protocol.errors import CloseCode, error_body
from speedrun_run.config import Settings, get_settings
from speedrun_run.engine import Engine
from speedrun_run.handlers import healthz, speedrun_socket
from speedrun_run.hub import Hub
from speedrun_run.keys import ENGINE, HUB, REDIS, SCHEDULER, SETTINGS, SQS, TASKS
from speedrun_run.leaderboard import run_leaderboards
from speedrun_run.scheduler import Scheduler
from speedrun_run.watchdog import watch_lost_runs

logger = logging.getLogger(__name__)

SCRIPT_LOAD_WAIT_S = 3.0
"""How long a starting instance tries to load its scripts before it serves without them."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every HTTP error with the one error shape; never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return web.json_response(error_body(code, exc.reason), status=exc.status)
    except Exception:
        logger.exception("request failed", extra={"path": request.path})
        return web.json_response(error_body("internal_error", "something went wrong"), status=500)


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A bounded pool that makes a burst wait for a free connection instead of failing: thousands
    # of answers at once must queue, not be refused as "unavailable" (answer times are taken on
    # arrival, so the wait costs no points).
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_s,
        password=settings.redis_auth_token or None,
        decode_responses=True,
        # RESP2: a pub/sub message is then a plain reply that hiredis parses in C; as a RESP3
        # push it went through redis-py's push handlers, a tenth of an instance's time when
        # every answer is three run events that both instances read.
        protocol=2,
        health_check_interval=15,
        socket_keepalive=True,
        # A pooled connection that died with a Redis outage fails once; retrying on a fresh
        # connection means the first commands after Redis returns succeed.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    redis = Redis.from_pool(pool)
    app[REDIS] = redis
    app[ENGINE] = engine = Engine(
        redis, settings.instance_id, settings.grace_period_s, settings.host_grace_period_s
    )
    try:
        async with asyncio.timeout(SCRIPT_LOAD_WAIT_S):
            await engine.scripts.load()
    except (RedisError, OSError):  # Redis is down: each script is loaded at its first NOSCRIPT
        logger.warning("could not load the scripts yet", exc_info=True)
    yield
    await redis.aclose()


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = app[ENGINE]
    hub = Hub(
        app[REDIS],
        engine.batch,
        settings.instance_id,
        settings.replay_limit,
        on_question=engine.note_question,
    )
    await hub.start()
    app[HUB] = hub
    yield
    await hub.stop()


async def _loops_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sqs = None
    if settings.completion_queue_url:
        sqs = await asyncio.get_running_loop().run_in_executor(None, aws_client, "sqs")
    app[SQS] = sqs
    scheduler = Scheduler(
        app[ENGINE],
        app[REDIS],
        settings.lease_s,
        sqs,
        settings.completion_queue_url,
        settings.instance_id,
    )
    app[SCHEDULER] = scheduler
    tasks = [
        asyncio.create_task(scheduler.run(settings.scheduler_interval_s), name="scheduler"),
        asyncio.create_task(
            run_leaderboards(
                app[ENGINE], app[HUB], settings.leaderboard_interval_s, settings.leaderboard_top
            ),
            name="leaderboards",
        ),
        asyncio.create_task(
            watch_lost_runs(app[ENGINE], app[HUB], settings.lost_run_check_s), name="watchdog"
        ),
    ]
    app[TASKS] = tasks
    yield
    await stop_tasks(tasks)
    with contextlib.suppress(RedisError, OSError):
        await scheduler.leave()


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel background tasks and wait for them, cancelling again if one swallowed it.

    A client library may catch a cancellation on its way through (redis-py does, around a
    connection it tears down), so a single cancel is not always the end of a loop.
    """
    for _ in range(5):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1)
    logger.error("background tasks did not stop", extra={"tasks": [t.get_name() for t in tasks]})


async def _on_shutdown(app: web.Application) -> None:
    """SIGTERM: refuse new sockets, close every socket with 1012 so clients go elsewhere."""
    hub = app[HUB]
    hub.draining = True
    conns = hub.all_conns()
    for conn in conns:
        conn.close_after(CloseCode.SERVICE_RESTART, "service restart: reconnect")
    deadline = time.monotonic() + app[SETTINGS].shutdown_timeout_s
    # The handlers take themselves off the hub as their sockets close; poll until none is left.
    while hub.all_conns() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    logger.info("sockets closed for shutdown", extra={"count": len(conns)})


def build_app(settings: Settings | None = None) -> web.Application:
    """Build the speedrun application.

    Args:
        settings: The configuration; :func:`get_settings` when omitted.

    Returns:
        The aiohttp application (connections open in its cleanup context).
    """
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings or get_settings()
    app.cleanup_ctx.extend([_redis_ctx, _hub_ctx, _loops_ctx])
    app.on_shutdown.append(_on_shutdown)
    app.router.add_get("/speedrun", speedrun_socket)
    app.router.add_get("/healthz", healthz)
    return app
