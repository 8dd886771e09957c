"""FastAPI dependencies: what a route needs, as types.

Everything comes from ``app.state``, set by :func:`speedrun_signon.app.create_app` and its
lifespan, so the settings a test passes to the factory are the ones its routes see. Every
dependency is ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, and a join
would wait on the thread pool several times for what is a dictionary look-up. Each dependency
still costs some 20 µs per request to solve, so the hot routes (joining) take few of them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from speedrun_protocol.tokens import TokenClaims, TokenError, verify_token
from speedrun_signon.config import Settings
from speedrun_signon.errors import NotAuthenticated
from speedrun_signon.results import ArchiveReader
from speedrun_signon.runs import RunStore

_bearer = HTTPBearer(auto_error=False, description="A host or participant token from sign-on.")


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> Redis:
    """The Redis client opened by the lifespan."""
    redis: Redis = request.app.state.redis
    return redis


async def get_runs(request: Request) -> RunStore:
    """The run store."""
    runs: RunStore = request.app.state.runs
    return runs


async def get_archive(request: Request) -> ArchiveReader:
    """The archive reader."""
    archive: ArchiveReader = request.app.state.archive
    return archive


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
RunsDep = Annotated[RunStore, Depends(get_runs)]
ArchiveDep = Annotated[ArchiveReader, Depends(get_archive)]


async def client_address(request: Request) -> str:
    """The client's IP address, for rate limits.

    With ``trusted_proxy_hops = 0`` it is the peer of the connection. Behind N trusted proxies
    that each append the address they saw to ``X-Forwarded-For``, it is the N-th address from the
    right: anything further left was written by the client and cannot be trusted.
    """
    # The settings straight from app.state, not as a SettingsDep: a sub-dependency is solved
    # again for every route that uses this one, and joining is the hot path.
    settings = await get_app_settings(request)
    peer = request.client.host if request.client else "unknown"
    hops = settings.trusted_proxy_hops
    if hops == 0:
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    if not forwarded:
        return peer
    return forwarded[-hops] if len(forwarded) >= hops else forwarded[0]


async def token_claims(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    """The verified claims of the bearer token.

    Raises:
        NotAuthenticated: If there is no token, or it is forged, malformed or expired.
    """
    if credentials is None:
        raise NotAuthenticated("a bearer token is required")
    try:
        return verify_token(settings.token_secret, credentials.credentials)
    except TokenError as exc:
        raise NotAuthenticated(str(exc)) from exc


ClientDep = Annotated[str, Depends(client_address)]
ClaimsDep = Annotated[TokenClaims, Depends(token_claims)]
