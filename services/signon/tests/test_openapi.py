"""The OpenAPI document against the app: generated requests never get a 5xx, and every answer
matches what the document says."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from speedrun_signon.app import create_app
from speedrun_signon.config import Settings
from speedrun_signon.errors import RateLimited

EXAMPLES_PER_OPERATION = 15


def test_api_conforms_to_its_openapi_document(settings: Settings, question_set) -> None:
    # schemathesis.pytest.from_fixture reads a private attribute pytest 9 no longer has, so the
    # operations are driven here; schemathesis runs the app's lifespan in its own thread.
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # Some rules (invisible characters, the block list, a code that is live) cannot be
            # said in JSON Schema, so schema-valid data may rightly get a 4xx.
            case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])

        check()
    schemathesis.python.asgi.shutdown_lifespans()


def test_openapi_documents_every_error_with_the_error_shape(settings: Settings) -> None:
    document = create_app(settings).openapi()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema_ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert schema_ref.endswith("/ErrorBody"), (path, method, status)


def test_rate_limited_is_documented_where_codes_are_looked_up(settings: Settings) -> None:
    paths = create_app(settings).openapi()["paths"]

    for path, method in [
        ("/signon/speedruns/{join_code}", "get"),
        ("/signon/speedruns/{join_code}/participants", "post"),
        ("/signon/speedruns/{join_code}/qr.svg", "get"),
    ]:
        assert "Retry-After" in paths[path][method]["responses"]["429"]["headers"]
    assert RateLimited(3).retry_after_s == 3
