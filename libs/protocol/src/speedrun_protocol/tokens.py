"""The tokens sign-on issues and the speedrun service verifies locally (HS256 JWTs).

Claims: ``sid`` (speedrun id), ``role`` (host or participant), ``sub`` (participant id, or
``host``), ``iat``, ``exp``, ``iss`` and ``aud``.
"""

from __future__ import annotations

import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ISSUER = "speedrun-signon"
AUDIENCE = "speedrun"
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev-secret", "development-secret-change-me"}
)
"""Secrets that are refused outside development."""


class TokenError(Exception):
    """A token is forged, malformed, expired, or its claims are wrong."""


class TokenClaims(BaseModel):
    """What a verified token says."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sid: str = Field(description="The speedrun id.")
    role: Literal["host", "participant"] = Field(description="What the bearer may do.")
    sub: str = Field(description="The participant id, or 'host'.")
    exp: int = Field(description="Expiry (Unix seconds).")
    iat: int = Field(description="Issued at (Unix seconds).")

    @property
    def participant_id(self) -> str | None:
        """The participant id, or None for a host."""
        return self.sub if self.role == "participant" else None


def issue_token(
    secret: str,
    speedrun_id: str,
    role: Literal["host", "participant"],
    subject: str,
    ttl_s: int,
    now: float | None = None,
) -> str:
    """Sign a token.

    Args:
        secret: The HS256 signing secret.
        speedrun_id: The run the token is for.
        role: ``host`` or ``participant``.
        subject: The participant id, or ``host``.
        ttl_s: Seconds until it expires.
        now: The clock, for tests.

    Returns:
        The encoded JWT.
    """
    issued = int(now if now is not None else time.time())
    payload = {
        "sid": speedrun_id,
        "role": role,
        "sub": subject,
        "iat": issued,
        "exp": issued + ttl_s,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str) -> TokenClaims:
    """Verify a token's signature, expiry, issuer and audience, and read its claims.

    Args:
        secret: The HS256 signing secret.
        token: The encoded JWT.

    Returns:
        The claims.

    Raises:
        TokenError: If anything about the token is wrong.
    """
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sid", "role", "sub"]},
        )
        return TokenClaims.model_validate(payload)
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except (jwt.InvalidTokenError, ValidationError) as exc:
        raise TokenError("token invalid") from exc


def check_secret(secret: str, environment: str) -> None:
    """Refuse a missing, short or placeholder secret outside development.

    Args:
        secret: The configured signing secret.
        environment: ``development`` allows a placeholder; anything else does not.

    Raises:
        ValueError: If the secret is not acceptable.
    """
    if not secret:
        raise ValueError("TOKEN_SECRET is required")
    if environment != "development" and (
        secret in PLACEHOLDER_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES
    ):
        raise ValueError(
            f"TOKEN_SECRET must be a real secret of at least {MIN_SECRET_BYTES} bytes "
            f"outside development (ENVIRONMENT={environment})"
        )
