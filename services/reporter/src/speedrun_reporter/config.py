"""The reporter's settings, from the environment (no prefix: the field name is the variable)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from speedrun_protocol.names import LOCAL_ENVIRONMENT, run_table_name
from speedrun_protocol.state import ARCHIVED_TTL_S


class Settings(BaseSettings):
    """Everything the reporter reads from its environment."""

    model_config = SettingsConfigDict(extra="ignore")

    REDIS_URL: str = Field(description="The run state store, e.g. rediss://host:6379/0.")
    REDIS_AUTH_TOKEN: str | None = Field(
        default=None, description="Redis AUTH token; wins over REDIS_AUTH_TOKEN_SECRET_ARN."
    )
    REDIS_AUTH_TOKEN_SECRET_ARN: str | None = Field(
        default=None, description="Secrets Manager secret holding the Redis AUTH token (Lambda)."
    )
    RUN_TABLE_NAME: str = Field(
        default=run_table_name(LOCAL_ENVIRONMENT), description="The DynamoDB table of archives."
    )
    ARCHIVED_TTL_S: int = Field(
        default=ARCHIVED_TTL_S,
        gt=0,
        description="Seconds a run's Redis keys live once archived (late reconnects).",
    )
    COMPLETION_QUEUE_URL: str | None = Field(
        default=None, description="The completion queue; only the local worker polls it."
    )
    ENVIRONMENT: str = Field(default="development", description="development or production.")
    LOG_LEVEL: str = Field(default="INFO", description="The minimum log level.")


@lru_cache
def get_settings() -> Settings:
    """Return the process's settings, read once (tests call ``get_settings.cache_clear()``)."""
    return Settings()  # REDIS_URL comes from the environment
