"""The sign-on app factory: ``uvicorn speedrun_signon.app:create_app --factory``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from speedrun_aws import aws_client
from speedrun_protocol.logs import configure_logging
from speedrun_signon.api.errors import install_error_handlers
from speedrun_signon.api.routes import health_router, router
from speedrun_signon.config import Settings, get_settings
from speedrun_signon.ratelimit import RateLimits
from speedrun_signon.results import ArchiveReader
from speedrun_signon.runs import RunStore


def open_redis(settings: Settings) -> Redis:
    """Make the Redis client: a bounded pool, short timeouts, text responses."""
    options: dict[str, Any] = {}
    if settings.redis_auth_token:
        options["password"] = settings.redis_auth_token
    # A request waits up to 20 s for a free connection rather than failing at once in a burst.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=20,
        socket_timeout=5,
        socket_connect_timeout=5,
        decode_responses=True,
        # A pooled connection that died with a Redis outage fails once; retrying on a fresh
        # connection means the first requests after Redis returns succeed instead of 503.
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        **options,
    )
    return Redis.from_pool(pool)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the sign-on app.

    Args:
        settings: The configuration; read from the environment when None.

    Returns:
        The app. Its Redis connection is opened in the lifespan and kept on ``app.state``.
    """
    settings = settings or get_settings()
    configure_logging("signon", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = open_redis(settings)
        app.state.redis = redis
        limits = RateLimits(
            redis,
            lookup_failure_limit=settings.lookup_failure_limit,
            lookup_failure_window_s=settings.lookup_failure_window_s,
            join_limit_per_run=settings.join_limit_per_run,
            join_window_s=settings.join_window_s,
        )
        app.state.runs = RunStore(redis, limits)
        app.state.archive = ArchiveReader(
            aws_client("dynamodb", endpoint=settings.aws_endpoint_url, region=settings.aws_region),
            settings.run_table_name,
        )
        try:
            yield
        finally:
            await redis.aclose()

    app = FastAPI(
        title="speedrun sign-on",
        version="1.0.0",
        description="Hosts open speedruns; participants join them with a code and a nickname; "
        "results and exports of finished runs. Every error answers with one JSON shape.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router)
    return app
