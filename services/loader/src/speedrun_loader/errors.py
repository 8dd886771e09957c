"""The loader's domain exceptions. They know nothing of HTTP: ``app.py`` maps each to a status."""

from __future__ import annotations

from speedrun_protocol.errors import ErrorDetail


class LoaderError(Exception):
    """Base of every error the loader reports to a host."""

    message = "The upload could not be loaded."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message


class QuestionSetInvalid(LoaderError):
    """The file is in a known format but its content is wrong; ``details`` lists every problem.

    Each detail has a location: ``line 12`` for Aiken and GIFT, ``row 3, column B`` for CSV and
    xlsx, a JSON pointer such as ``/questions/2/options/0`` for JSON and YAML.
    """

    message = "The question set is not valid."

    def __init__(self, details: list[ErrorDetail], message: str | None = None) -> None:
        super().__init__(message)
        self.details = details


class UnknownFormat(LoaderError):
    """The content is none of the supported formats (or it is binary data that is not xlsx)."""

    message = (
        "Unknown question-set format: expected JSON, YAML, CSV, xlsx (Kahoot! template), "
        "Moodle Aiken or Moodle GIFT."
    )


class UploadTooLarge(LoaderError):
    """The request body is larger than MAX_UPLOAD_BYTES."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than the limit of {limit} bytes.")
        self.limit = limit


class UnsupportedMediaType(LoaderError):
    """The request is not multipart/form-data."""

    message = "Send the file as multipart/form-data, in the field 'file'."


class UploadMalformed(LoaderError):
    """The multipart body itself is broken (no boundary, cut short, bad part headers)."""


class UploadFieldInvalid(LoaderError):
    """A form field is wrong: no ``file``, more than one file, ``title`` sent as a file."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__("The upload form is not as expected.")
        self.details = [ErrorDetail(location=location, message=message)]


class QuestionSetNotFound(LoaderError):
    """No stored question set has this id (or the id does not have the server's format)."""

    def __init__(self, question_set_id: str) -> None:
        super().__init__("No question set has this id.")
        self.question_set_id = question_set_id
