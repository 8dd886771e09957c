"""The loader's app factory, and the one place where errors become HTTP answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from speedrun_loader.api import router
from speedrun_loader.config import Settings, get_settings
from speedrun_loader.errors import (
    LoaderError,
    QuestionSetInvalid,
    QuestionSetNotFound,
    UnknownFormat,
    UnsupportedMediaType,
    UploadFieldInvalid,
    UploadMalformed,
    UploadTooLarge,
)
from speedrun_loader.store import QuestionSetStore
from speedrun_protocol.errors import ErrorDetail, error_body
from speedrun_protocol.logs import configure_logging

log = logging.getLogger(__name__)

_STATUS: dict[type[LoaderError], tuple[int, str]] = {
    QuestionSetInvalid: (422, "invalid_question_set"),
    UploadFieldInvalid: (422, "invalid_upload"),
    UnknownFormat: (415, "unknown_format"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    UploadTooLarge: (413, "upload_too_large"),
    UploadMalformed: (400, "malformed_upload"),
    QuestionSetNotFound: (404, "question_set_not_found"),
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the loader app.

    Args:
        settings: The settings to use; the environment's when None.

    Returns:
        The FastAPI app, ready for uvicorn or Mangum.
    """
    settings = settings or get_settings()
    configure_logging("loader", settings.LOG_LEVEL)
    app = FastAPI(
        title="speedrun question-set loader",
        version="0.1.0",
        description="Upload question sets in JSON, YAML, CSV, Kahoot! xlsx, Moodle Aiken or "
        "GIFT; list and read the stored sets. Errors use one shape, ErrorBody.",
    )
    app.state.settings = settings
    app.state.store = QuestionSetStore(settings.QUESTION_SET_DIR)
    app.include_router(router)
    _add_error_handlers(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoaderError)
    async def loader_error(request: Request, exc: LoaderError) -> JSONResponse:
        status, code = next(
            (found for kind, found in _STATUS.items() if isinstance(exc, kind)),
            (400, "bad_request"),
        )
        details: list[ErrorDetail] = getattr(exc, "details", [])
        log.info(
            "upload refused" if status != 404 else "question set not found",
            extra={"code": code, "status": status, "path": request.url.path},
        )
        return JSONResponse(error_body(code, exc.message, details), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(
                location=".".join(str(part) for part in error.get("loc", ())),
                message=str(error.get("msg", "invalid")),
            )
            for error in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "The request is invalid.", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"path": request.url.path})
        return JSONResponse(
            error_body("internal_error", "Something went wrong; it has been logged."),
            status_code=500,
        )
