"""The one place sign-on's errors become HTTP answers (and their OpenAPI documentation).

Every error answer has the shape of :class:`speedrun_protocol.errors.ErrorBody`.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from speedrun_protocol.errors import ErrorBody, ErrorDetail, error_body
from speedrun_signon import errors

logger = logging.getLogger(__name__)

_DOMAIN: dict[type[errors.SignonError], tuple[int, str, str]] = {
    errors.QuestionSetNotFound: (404, "question_set_not_found", "No such question set."),
    errors.InvalidSelection: (422, "invalid_selection", ""),
    errors.InvalidNickname: (422, "invalid_nickname", ""),
    errors.RunNotFound: (404, "run_not_found", "No live speedrun has this code or id."),
    errors.RunFinished: (410, "run_finished", "This speedrun is over."),
    errors.JoiningLocked: (423, "joining_locked", "The host has locked joining."),
    errors.RunFull: (409, "run_full", "This speedrun has all the participants it allows."),
    errors.NicknameTaken: (409, "nickname_taken", "Someone in this speedrun has this nickname."),
    errors.RunNotFinished: (409, "run_not_finished", "This speedrun has not finished yet."),
    errors.CodesExhausted: (503, "no_free_code", "No join code is free; try again later."),
    errors.StoreUnavailable: (503, "unavailable", "The state store is unreachable; try again."),
    errors.NotAuthenticated: (401, "not_authenticated", "A valid bearer token is required."),
    errors.Forbidden: (403, "forbidden", "This token does not allow that."),
    errors.RateLimited: (429, "rate_limited", "Too many attempts; try again later."),
}
"""Exception -> (status, code, message); an empty message means the exception's own text."""

_DESCRIPTIONS = {
    401: "Missing, forged, malformed or expired token.",
    403: "The token is for another run, or its role may not do this.",
    404: "Not found.",
    409: "Conflict with the run's state.",
    410: "The run is over.",
    422: "The request is malformed or breaks a rule; details say where.",
    423: "Joining is locked.",
    429: "Rate limited; see the Retry-After header.",
    500: "Unexpected error; details are in the server's log.",
    503: "Redis or DynamoDB is unreachable, or no join code is free.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document error answers of a route in OpenAPI (422, 500 and 503 are always included)."""
    documented = sorted({*statuses, 422, 500, 503})
    responses: dict[int | str, dict[str, Any]] = {}
    for status in documented:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the limit's window ends.",
                    "schema": {"type": "integer"},
                }
            }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"description": "Bearer.", "schema": {"type": "string"}}
            }
        responses[status] = entry
    return responses


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with the one error shape."""
    app.add_exception_handler(errors.SignonError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RedisConnectionError, _unavailable)
    app.add_exception_handler(RedisTimeoutError, _unavailable)
    app.add_exception_handler(BotoCoreError, _unavailable)
    app.add_exception_handler(ClientError, _unavailable)
    app.add_exception_handler(Exception, _unexpected)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.SignonError)
    status, code, message = _DOMAIN.get(type(exc), (500, "internal_error", "Unexpected error."))
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, errors.NotAuthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(code, message or str(exc)), status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(
            location="/".join(str(part) for part in item.get("loc", ())) or "request",
            message=str(item.get("msg", "invalid")),
        )
        for item in exc.errors()[:20]
    ]
    return JSONResponse(
        error_body("invalid_request", "The request is not valid.", details), status_code=422
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("backing store unavailable: %s", exc, extra={"path": request.url.path})
    return JSONResponse(
        error_body("unavailable", "The service cannot reach its state store; try again shortly."),
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", extra={"path": request.url.path})
    return JSONResponse(error_body("internal_error", "Unexpected error."), status_code=500)
