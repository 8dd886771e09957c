"""The speedrun service's settings: one ``Settings`` read from the environment."""

from __future__ import annotations

import secrets
from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from speedrun_protocol.tokens import check_secret

DEFAULT_ORIGINS = "http://127.0.0.1:8080,http://localhost:8080"


class Settings(BaseSettings):
    """Configuration of one speedrun instance (env var = field name upper-cased, no prefix)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    redis_url: str = Field(description="The state store, e.g. redis://host:6379/0 (required).")
    redis_auth_token: str | None = Field(
        default=None, description="ElastiCache AUTH token, when the URL carries none."
    )
    token_secret: str = Field(description="HS256 secret shared with sign-on (required).")
    allowed_origins: str = Field(
        default=DEFAULT_ORIGINS,
        description="Comma list of browser origins allowed to connect. A connection without an "
        "Origin header (bots, load generator) is allowed: only browsers send one.",
    )
    completion_queue_url: str = Field(
        default="", description="The SQS completion queue; empty keeps messages in the outbox."
    )
    instance_id: str = Field(
        default_factory=lambda: f"i-{secrets.token_hex(6)}",
        description="This instance's name in presence records and logs (random by default).",
    )
    hello_timeout_s: float = Field(default=5.0, gt=0, description="Time allowed for the hello.")
    heartbeat_s: float = Field(
        default=20.0,
        gt=0,
        le=25,
        description="WebSocket ping interval (the ALB idles out at 60 s).",
    )
    rate_limit_per_s: float = Field(default=20.0, gt=0, description="Frames refilled per second.")
    rate_limit_burst: int = Field(default=40, ge=1, description="Frames allowed in a burst.")
    rate_limit_strikes: int = Field(
        default=50, ge=1, description="Refused frames in a row before the socket is closed (4029)."
    )
    send_buffer_max_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="Bytes a socket's peer may leave unread before it is a slow consumer (4008).",
    )
    grace_period_s: float = Field(
        default=60.0,
        ge=0,
        description="Self-paced: a participant gone this long forfeits; no longer blocks the end.",
    )
    host_grace_period_s: float = Field(
        default=900.0,
        ge=0,
        description="A host gone this long from a lobby or a host-paced run abandons it.",
    )
    scheduler_interval_s: float = Field(
        default=0.1, gt=0, description="How often due deadlines and the outbox are polled."
    )
    lease_s: float = Field(
        default=10.0, gt=0, description="A claimed deadline fires again after this if not done."
    )
    leaderboard_interval_s: float = Field(
        default=0.5, gt=0, description="At most one leaderboard update per run per interval."
    )
    leaderboard_top: int = Field(default=10, ge=1, le=100, description="Rows in a leaderboard.")
    replay_limit: int = Field(
        default=1000, ge=1, description="Missed events replayed at most; beyond, a fresh snapshot."
    )
    keep_alive_s: int = Field(
        default=150,
        ge=1,
        description="Seconds an idle HTTP connection stays open. Longer than the load balancer's "
        "idle timeout (120 s), so that the balancer, not the instance, closes it: closing first "
        "races with the balancer's next request on it, which then fails with a 502.",
    )
    shutdown_timeout_s: float = Field(
        default=8.0, gt=0, le=15, description="Time given to sockets to close on SIGTERM."
    )
    redis_max_connections: int = Field(
        default=64,
        ge=4,
        description="Redis connections of this instance; more commands wait for a free one.",
    )
    redis_pool_timeout_s: float = Field(
        default=20.0, gt=0, description="How long a command waits for a free Redis connection."
    )
    lost_run_check_s: float = Field(
        default=2.0, gt=0, description="How often to check that this instance's runs still exist."
    )
    max_connections_per_address: int = Field(
        default=150,
        ge=0,
        description="Open WebSockets one client address may hold on this instance (0: no limit). "
        "A classroom behind one NAT address stays far below it.",
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        description="Proxies in front that append to X-Forwarded-For (the ALB: 1; "
        "CloudFront + ALB: 2); the client address is that many entries from the right.",
    )
    environment: str = Field(default="development", description="development or production.")
    log_level: str = Field(default="INFO", description="Minimum log level.")

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        check_secret(self.token_secret, self.environment)
        return self

    @property
    def origins(self) -> frozenset[str]:
        """The allowed origins as a set."""
        return frozenset(
            o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, read once from the environment."""
    return Settings()
