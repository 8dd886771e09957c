"""Sign-on's configuration: one ``Settings`` read from the environment (no prefix)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from speedrun_protocol.names import LOCAL_ENVIRONMENT, run_table_name
from speedrun_protocol.tokens import check_secret

MAX_PARTICIPANTS_LIMIT = 20_000
"""The largest ``max_participants`` a host may ask for."""


class Settings(BaseSettings):
    """Every setting of sign-on; the environment variable is the field name in upper case."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    redis_url: str = Field(description="redis:// or rediss:// URL of the run state.")
    redis_auth_token: str | None = Field(
        default=None, description="Redis AUTH token (ElastiCache), when the URL carries none."
    )
    redis_max_connections: int = Field(
        default=200, ge=1, description="Connections this instance may open to Redis."
    )
    token_secret: str = Field(description="HS256 secret shared with the speedrun service.")
    question_set_dir: Path = Field(
        default=Path("./data/question-sets"), description="Where the loader stores sets."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Origin of the web app (serves /join)."
    )
    run_table_name: str = Field(
        default=run_table_name(LOCAL_ENVIRONMENT), description="DynamoDB table of archived runs."
    )
    aws_endpoint_url: str | None = Field(
        default=None, description="AWS endpoint override (LocalStack, moto); AWS when unset."
    )
    aws_region: str | None = Field(default=None, description="AWS region; boto3's default chain.")
    environment: str = Field(default="development", description="development, dev or prod.")
    log_level: str = Field(default="INFO", description="Minimum log level.")

    default_max_participants: int = Field(
        default=1000,
        ge=1,
        le=MAX_PARTICIPANTS_LIMIT,
        description="Participants allowed when the host does not say.",
    )
    lookup_failure_limit: int = Field(
        default=10, ge=1, description="Unknown join codes one client IP may try per window."
    )
    lookup_failure_window_s: int = Field(
        default=60, ge=1, description="The window of lookup_failure_limit, in seconds."
    )
    join_limit_per_run: int = Field(
        default=300,
        ge=1,
        description="Successful joins of one run from one client IP per window.",
    )
    join_window_s: int = Field(
        default=60, ge=1, description="The window of join_limit_per_run, in seconds."
    )
    keep_alive_s: int = Field(
        default=75,
        ge=1,
        description="Seconds an idle HTTP connection stays open. Longer than the load balancer's "
        "idle timeout (60 s), so that the balancer, not sign-on, closes it: closing first races "
        "with the balancer's next request on it, which then fails with a 502.",
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        description="Proxies in front of sign-on that append to X-Forwarded-For (0: ignore it).",
    )

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        check_secret(self.token_secret, self.environment)
        return self

    @property
    def public_origin(self) -> str:
        """``public_url`` without a trailing slash."""
        return self.public_url.rstrip("/")


@lru_cache
def get_settings() -> Settings:
    """Return the process's settings, read once from the environment."""
    return Settings()  # required fields come from the environment
