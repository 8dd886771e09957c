"""schemathesis against the app's OpenAPI document, in process: no 5xx, answers as documented."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from speedrun_loader.app import create_app
from speedrun_loader.config import Settings

# schemathesis parametrizes at collection time, so the app (and its store) is made at import;
# the module fixture below removes the store afterwards.
_STORE = tempfile.TemporaryDirectory(prefix="speedrun-loader-schemathesis-")
_APP = create_app(Settings(QUESTION_SET_DIR=Path(_STORE.name), ENVIRONMENT="test"))
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture(scope="module", autouse=True)
def _remove_store() -> Iterator[None]:
    yield
    _STORE.cleanup()


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_and_never_answers_5xx(case: Any) -> None:
    # A schema cannot say "the bytes must be a question set", so a schema-valid upload may
    # rightly be refused: that one check is off, every other one (no 5xx first) stays on.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
