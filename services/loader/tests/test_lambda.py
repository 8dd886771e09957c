"""The Lambda handler, invoked with API Gateway HTTP API (payload v2) events."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from speedrun_loader.config import get_settings

EVENTS = Path(__file__).parent / "events"


class LambdaContext:
    """The few attributes of a Lambda context object anyone reads."""

    function_name = "speedrun-loader"
    aws_request_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture
def lambda_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The handler module, (re)imported with a fresh store from the environment."""
    monkeypatch.setenv("QUESTION_SET_DIR", str(tmp_path / "efs"))
    monkeypatch.setenv("ENVIRONMENT", "production")
    get_settings.cache_clear()
    module = importlib.reload(importlib.import_module("speedrun_loader.lambda_handler"))
    yield module
    get_settings.cache_clear()
    # Importing the handler set up this thread's event loop (Mangum does, as a Lambda process
    # keeps one for its life); closed here, or each reload leaks one for a later test to find.
    asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop(None)


def upload_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "apigw_v2_upload.json").read_text())
    return event


def get_event(path: str) -> dict[str, Any]:
    event = copy.deepcopy(upload_event())
    event.update(routeKey="GET /question-sets/{id}", rawPath=path, body=None)
    event["isBase64Encoded"] = False
    event["requestContext"]["http"].update(method="GET", path=path)
    for header in ("content-type", "content-length"):
        event["headers"].pop(header)
    return event


def test_handler_stores_base64_multipart_upload(lambda_module: ModuleType, tmp_path: Path) -> None:
    response = lambda_module.handler(upload_event(), LambdaContext())

    assert response["statusCode"] == 201, response
    body = json.loads(response["body"])
    assert body["title"] == "From Lambda"
    assert body["format"] == "csv"
    assert body["question_count"] == 2
    assert (tmp_path / "efs" / f"{body['id']}.json").is_file()

    read = lambda_module.handler(get_event(f"/question-sets/{body['id']}"), LambdaContext())

    assert read["statusCode"] == 200
    assert json.loads(read["body"])["questions"][1]["correct"] == [0, 2]


def test_handler_answers_errors_in_the_error_shape(lambda_module: ModuleType) -> None:
    response = lambda_module.handler(get_event("/question-sets/qs_nope"), LambdaContext())

    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "question_set_not_found"
