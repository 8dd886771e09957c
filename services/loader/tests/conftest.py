"""Fixtures of the loader's tests: everything is built from the app factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from speedrun_loader.app import create_app
from speedrun_loader.config import Settings

DATA = Path(__file__).parent / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty question-set store."""
    return Settings(QUESTION_SET_DIR=tmp_path / "question-sets", ENVIRONMENT="test")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The loader app."""
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client talking to the app in process."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def original_sample() -> bytes:
    """The original mc-speedrun project's sample file, unchanged."""
    return (DATA / "mc-speedrun-example-1.json").read_bytes()


@pytest.fixture
def upload(client: TestClient) -> Callable[..., Any]:
    """POST a file to /question-set-upload; returns the response."""

    def post(data: bytes, filename: str = "questions", title: str | None = None) -> Any:
        form = {"title": title} if title is not None else {}
        return client.post("/question-set-upload", files={"file": (filename, data)}, data=form)

    return post
