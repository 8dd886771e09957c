"""The loader's HTTP routes. Errors are raised as domain exceptions; ``app.py`` maps them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from speedrun_loader.deps import SettingsDep, StoreDep
from speedrun_loader.models import Health, UploadResult
from speedrun_loader.parsing import parse_upload
from speedrun_loader.uploads import read_upload
from speedrun_protocol.errors import ErrorBody
from speedrun_protocol.questions import MAX_TITLE, QuestionSetSummary, StoredQuestionSet

log = logging.getLogger(__name__)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


router = APIRouter(responses={500: _error("Unexpected; the details are in the service's log.")})


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The question-set file (JSON, YAML, CSV, xlsx, "
                            "Aiken or GIFT); its format is detected from the content.",
                        },
                        "title": {
                            "type": "string",
                            "maxLength": MAX_TITLE,
                            "description": "The set's title; wins over a title in the file.",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/question-set-upload",
    status_code=201,
    response_model=UploadResult,
    summary="Upload a question set",
    openapi_extra=_UPLOAD_BODY,
    responses={
        400: _error("The multipart body is malformed."),
        413: _error("The file is larger than MAX_UPLOAD_BYTES."),
        415: _error("Not multipart/form-data, or the file's format is unknown."),
        422: _error("The file or a form field is invalid; details list every problem."),
    },
)
async def upload_question_set(
    request: Request, response: Response, settings: SettingsDep, store: StoreDep
) -> UploadResult:
    """Parse, validate and store a question set; answer its new id and what was detected."""
    upload = await read_upload(request, settings.MAX_UPLOAD_BYTES)
    result = await run_in_threadpool(
        parse_upload, upload.data, upload.filename, upload.title, limits=settings.parse_limits
    )
    stored = await run_in_threadpool(store.save, result)
    log.info(
        "question set stored",
        extra={
            "question_set_id": stored.id,
            "format": stored.source_format,
            "question_count": len(stored.questions),
            "bytes": len(upload.data),
        },
    )
    response.headers["Location"] = f"/question-sets/{stored.id}"
    return UploadResult(
        id=stored.id,
        title=stored.title,
        question_count=len(stored.questions),
        categories=stored.categories,
        format=stored.source_format,
        warnings=stored.warnings,
    )


@router.get(
    "/question-sets",
    response_model=list[QuestionSetSummary],
    summary="List the stored question sets, newest first",
)
async def list_question_sets(store: StoreDep) -> list[QuestionSetSummary]:
    """Every stored set's id, title, question count, categories and creation time."""
    return await run_in_threadpool(store.list)


@router.get(
    "/question-sets/{question_set_id}",
    response_model=StoredQuestionSet,
    summary="Read one stored question set",
    responses={
        404: _error("No set has this id (or it is not an id)."),
        422: _error("The request is malformed."),
    },
)
async def get_question_set(question_set_id: str, store: StoreDep) -> StoredQuestionSet:
    """The whole set, for the host's screen."""
    return await run_in_threadpool(store.get, question_set_id)


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """Answer ok while the process serves requests."""
    return Health(status="ok")
