"""Fixtures of sign-on's tests: an app from the factory, on a real Redis, with a stored set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from speedrun_protocol.ids import new_question_set_id
from speedrun_protocol.questions import Question, StoredQuestionSet
from speedrun_signon.app import create_app
from speedrun_signon.config import Settings

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def stored_set(title: str = "Capitals") -> StoredQuestionSet:
    """A question set of four questions in two categories (the last has no time limit)."""
    return StoredQuestionSet(
        id=new_question_set_id(),
        created_at=datetime.now(UTC),
        source_format="json",
        title=title,
        questions=[
            Question(
                text="Capital of France?",
                options=["Paris", "Lyon", "Nice"],
                correct=[0],
                category="europe",
                time_limit_s=10,
            ),
            Question(
                text="Capital of Japan?",
                options=["Osaka", "Tokyo"],
                correct=[1],
                category="asia",
                time_limit_s=15,
            ),
            Question(
                text="Which are in Italy?",
                options=["Rome", "Milan", "Vienna", "Turin"],
                correct=[0, 1, 3],
                category="europe",
                points=2000,
                time_limit_s=30,
            ),
            Question(text="Capital of Nepal?", options=["Kathmandu", "Pokhara"], correct=[0]),
        ],
    )


@pytest.fixture
def question_set_dir(tmp_path: Path) -> Path:
    """An empty question-set store."""
    directory = tmp_path / "question-sets"
    directory.mkdir()
    return directory


@pytest.fixture
def question_set(question_set_dir: Path) -> StoredQuestionSet:
    """A set stored the way the loader stores it."""
    stored = stored_set()
    (question_set_dir / f"{stored.id}.json").write_text(stored.model_dump_json())
    return stored


@pytest.fixture
def settings(redis_url: str, question_set_dir: Path) -> Settings:
    """Settings pointing at the test Redis and the temporary store."""
    return Settings(
        redis_url=redis_url,
        token_secret=SECRET,
        question_set_dir=question_set_dir,
        public_url="https://quiz.example/",
        environment="test",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, with its lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process from 127.0.0.1."""
    async with client_from(app) as http:
        yield http


def client_from(app: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client for ``app`` whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://signon.test")


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis, for looking at the state the app wrote."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


class Signon:
    """Short-hands for the calls most tests make."""

    def __init__(self, http: httpx.AsyncClient, question_set: StoredQuestionSet) -> None:
        self.http = http
        self.question_set = question_set

    async def open_run(self, **body: object) -> dict[str, object]:
        """Open a run of the stored set (201 expected) and return the response body."""
        response = await self.http.post(
            "/signon/speedruns",
            json={"question_set_id": self.question_set.id, "mode": "self-paced", **body},
        )
        assert response.status_code == 201, response.text
        result: dict[str, object] = response.json()
        return result

    async def join(
        self, code: object, nickname: str, http: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        """Try to join the run holding ``code``."""
        return await (http or self.http).post(
            f"/signon/speedruns/{code}/participants", json={"nickname": nickname}
        )


@pytest.fixture
def signon(client: httpx.AsyncClient, question_set: StoredQuestionSet) -> Signon:
    """Short-hands over ``client``."""
    return Signon(client, question_set)


@pytest.fixture
def client_for(app: FastAPI):  # type: ignore[no-untyped-def]
    """A factory of clients whose requests come from a given IP (use with ``async with``)."""
    return lambda ip: client_from(app, ip)
