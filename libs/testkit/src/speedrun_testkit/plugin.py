"""pytest fixtures every speedrun suite gets (registered through the ``pytest11`` entry point).

* ``redis_server`` (session) — a :class:`RedisServer`; when ``REDIS_URL`` is set, that server is
  used instead and no process is started.
* ``redis_url`` (function) — the server's URL, with the database flushed before each test.
* ``aws_endpoint`` (session) — an :class:`AwsEndpoint`.
* ``aws_env`` (function) — environment variables pointing boto3 at the endpoint, with dummy
  credentials.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from speedrun_testkit.procs import AwsEndpoint, RedisServer


class _ExternalRedis:
    """A Redis given by ``REDIS_URL``: used as it is, never started or stopped."""

    def __init__(self, url: str) -> None:
        self.url = url

    def close(self) -> None:
        """Nothing to stop."""


def _flush(url: str) -> None:
    host_port = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    db = url.rsplit("/", 1)[-1] if url.count("/") >= 3 else "0"
    with socket.create_connection((host, int(port or 6379)), timeout=5) as sock:
        sock.sendall(f"SELECT {db or 0}\r\nFLUSHDB\r\n".encode())
        sock.recv(64)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | _ExternalRedis]:
    """A real Redis for the whole test session."""
    external = os.environ.get("REDIS_URL")
    server: RedisServer | _ExternalRedis = (
        _ExternalRedis(external) if external else RedisServer().start()
    )
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer | _ExternalRedis) -> str:
    """The URL of a real Redis whose database is empty at the start of the test."""
    if isinstance(redis_server, RedisServer) and redis_server.proc is None:
        redis_server.start()
    _flush(redis_server.url)
    return redis_server.url


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[AwsEndpoint]:
    """A LocalStack-compatible endpoint for the whole test session."""
    endpoint = AwsEndpoint().start()
    yield endpoint
    endpoint.close()


@pytest.fixture
def aws_env(aws_endpoint: AwsEndpoint, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the endpoint (dummy credentials); return the endpoint URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return aws_endpoint.url
