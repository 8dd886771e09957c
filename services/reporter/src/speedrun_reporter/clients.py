"""The connections the reporter holds: made once per process, through :func:`make_clients`.

A Lambda execution environment handles many invocations, so the handler keeps one Redis
connection pool and one DynamoDB table per process (:func:`get_clients`) instead of reconnecting
for every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis

from speedrun_aws import aws_client, aws_resource
from speedrun_reporter.config import Settings
from speedrun_reporter.log import logger


@dataclass(frozen=True)
class Clients:
    """What archiving a run needs."""

    redis: Redis
    table: Any
    """The boto3 DynamoDB ``Table`` of archived runs."""


def redis_auth_token(settings: Settings) -> str | None:
    """Return the Redis AUTH token: configured directly, or read once from Secrets Manager."""
    if settings.REDIS_AUTH_TOKEN:
        return settings.REDIS_AUTH_TOKEN
    if settings.REDIS_AUTH_TOKEN_SECRET_ARN:
        secret = aws_client("secretsmanager").get_secret_value(
            SecretId=settings.REDIS_AUTH_TOKEN_SECRET_ARN
        )
        return str(secret["SecretString"])
    return None


def make_clients(settings: Settings) -> Clients:
    """Open the Redis pool and the DynamoDB table described by ``settings``."""
    redis = Redis.from_url(
        settings.REDIS_URL,
        password=redis_auth_token(settings),
        decode_responses=True,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    table = aws_resource("dynamodb").Table(settings.RUN_TABLE_NAME)
    return Clients(redis=redis, table=table)


_clients: Clients | None = None


def get_clients(settings: Settings) -> Clients:
    """Return this process's clients, made on first use."""
    global _clients
    if _clients is None:
        logger.setLevel(settings.LOG_LEVEL.upper())
        _clients = make_clients(settings)
    return _clients


def reset_clients() -> None:
    """Close and forget this process's clients (tests, after changing the environment)."""
    global _clients
    if _clients is not None:
        _clients.redis.close()
    _clients = None
