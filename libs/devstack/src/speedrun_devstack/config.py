"""The settings of ``make run`` (``python -m speedrun_devstack``), read from the environment.

Every field is an environment variable of the same name in upper case; the command line flags of
``python -m speedrun_devstack`` override them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the local stack."""

    model_config = SettingsConfigDict(extra="ignore")

    port: int = Field(
        default=8080, ge=0, le=65535, description="The gateway's port on 127.0.0.1 (0: any free)."
    )
    data_dir: Path = Field(
        default=Path(".run/data"),
        description="Where question sets (and Redis' working files) are kept between runs.",
    )
    log_level: str = Field(default="INFO", description="The services' log level.")
    speedrun_instances: int = Field(
        default=2, ge=1, le=16, description="How many speedrun (WebSocket) instances to run."
    )
    redis_url: str | None = Field(
        default=None, description="Use this Redis instead of starting one."
    )
    localstack_host: str = Field(
        default="localhost:4566",
        description="Where LocalStack answers, if it runs; otherwise moto's server is started.",
    )
    token_secret: str | None = Field(
        default=None, description="The token signing secret; a fresh one per run when unset."
    )
    web_dir: Path | None = Field(
        default=None, description="The web app's static files; the repository's web/ when unset."
    )
    startup_timeout_s: float = Field(
        default=90.0, gt=0, description="How long each process may take to become ready."
    )
    stop_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a process may take to stop before SIGKILL."
    )
    queue_visibility_timeout_s: int = Field(
        default=360, ge=1, description="The completion queue's visibility timeout."
    )


@lru_cache
def get_settings() -> Settings:
    """Return the settings read from the environment (cached)."""
    return Settings()
