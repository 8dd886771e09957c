"""Settings, the Redis token from Secrets Manager, and the benchmark hook (no timing asserts)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from speedrun_aws import aws_client
from speedrun_protocol.names import run_table_name
from speedrun_protocol.state import ARCHIVED_TTL_S
from speedrun_reporter import bench
from speedrun_reporter.clients import redis_auth_token
from speedrun_reporter.config import Settings


def test_settings_defaults_come_from_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUN_TABLE_NAME", "ARCHIVED_TTL_S", "REDIS_AUTH_TOKEN", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://localhost:6379/0")

    settings = Settings()

    assert run_table_name("local") == settings.RUN_TABLE_NAME
    assert settings.ARCHIVED_TTL_S == ARCHIVED_TTL_S
    assert settings.ENVIRONMENT == "development"


def test_settings_without_redis_url_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)

    with pytest.raises(ValidationError, match="REDIS_URL"):
        Settings()


def test_redis_auth_token_is_read_from_secrets_manager(aws_env: str) -> None:
    secret = aws_client("secretsmanager").create_secret(
        Name=f"reporter-test-{id(aws_env)}", SecretString="s3cr3t-token"
    )
    settings = Settings(REDIS_URL="redis://x:6379/0", REDIS_AUTH_TOKEN_SECRET_ARN=secret["ARN"])

    assert redis_auth_token(settings) == "s3cr3t-token"
    assert redis_auth_token(settings.model_copy(update={"REDIS_AUTH_TOKEN": "direct"})) == "direct"


def test_bench_run_archives_a_synthetic_run(redis_url: str, aws_env: str) -> None:
    seconds = bench.run(12, 3, redis_url=redis_url, endpoint=aws_env)

    assert seconds > 0
