"""Fixtures of the reporter's tests: the environment of a real Redis and the AWS endpoint,
synthetic finished runs written with the protocol models, and the SQS events under events/."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from speedrun_aws import LocalResources, aws_client, ensure_local_resources
from speedrun_protocol.archive import archive_from_items
from speedrun_protocol.ids import new_speedrun_id
from speedrun_reporter.archive_store import read_items
from speedrun_reporter.clients import Clients, get_clients, reset_clients
from speedrun_reporter.config import Settings, get_settings
from speedrun_reporter.synthetic import SyntheticRun, make_run, write_run

EVENTS = Path(__file__).parent / "events"
EVENT_IDS = ["sr_" + c * 26 for c in "abc"]
"""The speedrun ids written in the event files; :func:`load_event` replaces them."""


@pytest.fixture
def resources(
    redis_url: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalResources]:
    """The local queue and table, with the reporter's environment pointing at them."""
    made = ensure_local_resources(aws_client("sqs"), aws_client("dynamodb"), "local")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RUN_TABLE_NAME", made.table_name)
    monkeypatch.setenv("COMPLETION_QUEUE_URL", made.queue_url)
    monkeypatch.delenv("REDIS_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("REDIS_AUTH_TOKEN_SECRET_ARN", raising=False)
    get_settings.cache_clear()
    reset_clients()
    yield made
    reset_clients()
    get_settings.cache_clear()


@pytest.fixture
def settings(resources: LocalResources) -> Settings:
    """The reporter's settings for this test."""
    return get_settings()


@pytest.fixture
def clients(settings: Settings) -> Clients:
    """The same clients the handler uses."""
    return get_clients(settings)


@pytest.fixture
def redis(clients: Clients) -> Redis:
    """The test's Redis (strings decoded)."""
    return clients.redis


RunWriter = Callable[..., SyntheticRun]


@pytest.fixture
def write_finished_run(redis: Redis) -> RunWriter:
    """Write a run to Redis as the engine leaves it (``finished`` unless told), return it."""

    def write(
        participants: int = 5,
        questions: int = 3,
        speedrun_id: str | None = None,
        status: str = "finished",
    ) -> SyntheticRun:
        run = make_run(speedrun_id or new_speedrun_id(), participants, questions)
        write_run(redis, run, status=status)
        return run

    return write


def load_event(name: str) -> tuple[dict[str, Any], list[str]]:
    """Load ``events/<name>.json`` with its speedrun ids replaced by fresh ones (a, b, c)."""
    text = (EVENTS / f"{name}.json").read_text()
    fresh = [new_speedrun_id() for _ in EVENT_IDS]
    for old, new in zip(EVENT_IDS, fresh, strict=True):
        text = text.replace(old, new)
    return json.loads(text), fresh


@pytest.fixture
def event() -> Callable[[str], tuple[dict[str, Any], list[str]]]:
    """Load an SQS event from events/, with fresh speedrun ids."""
    return load_event


@pytest.fixture
def archived_items(clients: Clients) -> Callable[[str], list[dict[str, Any]]]:
    """Every DynamoDB item of a run, sorted by sort key."""

    def read(speedrun_id: str) -> list[dict[str, Any]]:
        return sorted(read_items(clients.table, speedrun_id), key=lambda item: item["sk"])

    return read


@pytest.fixture
def read_archive(clients: Clients) -> Callable[[str], Any]:
    """The decoded archive of a run (summary, participants, stats), or None."""
    return lambda speedrun_id: archive_from_items(read_items(clients.table, speedrun_id))
