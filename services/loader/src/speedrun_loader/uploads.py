"""Reading the multipart upload with limits, before anything is spooled or parsed.

The body is counted as it arrives and refused past the limit, so a client that sends no
Content-Length (or a false one) still cannot make the service store a huge body. One file,
a handful of small fields.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from speedrun_loader.errors import (
    UnsupportedMediaType,
    UploadFieldInvalid,
    UploadMalformed,
    UploadTooLarge,
)

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart boundaries, part headers and the title beside the file itself."""
MAX_FIELDS = 8
MAX_FIELD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Upload:
    """The file and the fields sent with it."""

    data: bytes
    filename: str | None
    title: str | None


async def read_upload(request: Request, max_file_bytes: int) -> Upload:
    """Read the ``file`` and ``title`` fields of a multipart/form-data request.

    Raises:
        UnsupportedMediaType: The request is not multipart/form-data.
        UploadTooLarge: The body or the file is larger than allowed.
        UploadMalformed: The multipart body is broken.
        UploadFieldInvalid: The file is missing, doubled or sent as a plain field.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType()
    max_body = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise UploadTooLarge(max_file_bytes)

    parser = MultiPartParser(
        request.headers,
        _limited(request, max_body, max_file_bytes),
        max_files=1,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many files"):
            raise UploadFieldInvalid("file", "send exactly one file per upload") from exc
        raise UploadMalformed(f"The multipart body is malformed: {exc.message}") from exc
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            message = "is required" if file is None else "must be a file, not a text field"
            raise UploadFieldInvalid("file", message)
        title = form.get("title")
        if title is not None and not isinstance(title, str):
            raise UploadFieldInvalid("title", "must be a text field, not a file")
        data = await file.read()
        if len(data) > max_file_bytes:
            raise UploadTooLarge(max_file_bytes)
        return Upload(data=data, filename=file.filename, title=title)
    finally:
        await form.close()


async def _limited(request: Request, max_body: int, max_file_bytes: int) -> AsyncGenerator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_body:
            raise UploadTooLarge(max_file_bytes)
        yield chunk
