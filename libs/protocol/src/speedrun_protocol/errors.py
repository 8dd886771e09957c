"""Error codes and error shapes shared by every transport.

WebSocket errors travel as an ``error`` frame carrying an :class:`ErrorCode`; fatal ones are
followed by a close with one of the :class:`CloseCode` values. Every HTTP API answers errors with
:class:`ErrorBody`: ``{"error": {"code": ..., "message": ..., "details": [...]}}``.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorCode(StrEnum):
    """Stable codes of WebSocket error frames. Clients switch on these, never on messages."""

    MALFORMED_JSON = "malformed_json"
    """The frame is not valid UTF-8 JSON, or not a JSON object."""
    BINARY_NOT_SUPPORTED = "binary_not_supported"
    """A binary frame was sent; the protocol is text only."""
    FRAME_TOO_LARGE = "frame_too_large"
    """The frame is larger than the protocol allows."""
    UNKNOWN_TYPE = "unknown_type"
    """The ``type`` is missing or names no message of this direction."""
    INVALID_FRAME = "invalid_frame"
    """Fields are missing, extra, of the wrong type or out of range."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """The client speaks a protocol version this server does not."""
    NOT_AUTHENTICATED = "not_authenticated"
    """A frame other than ``hello`` arrived before the ``hello`` was accepted."""
    ALREADY_AUTHENTICATED = "already_authenticated"
    """A second ``hello`` on the same connection."""
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    """The token is forged, malformed, expired or for a run that does not exist."""
    FORBIDDEN = "forbidden"
    """The token's role may not do this (a participant sending a host command)."""
    KICKED = "kicked"
    """The host removed this participant."""
    RATE_LIMITED = "rate_limited"
    """Too many frames in a short time."""
    WRONG_STATE = "wrong_state"
    """The run is not in a state where this is possible (e.g. start twice, next in self-paced)."""
    QUESTION_NOT_OPEN = "question_not_open"
    """The answer names a question that is not open for this participant."""
    ALREADY_ANSWERED = "already_answered"
    """This participant has already answered this question; the first answer stands."""
    DEADLINE_PASSED = "deadline_passed"
    """The answer arrived after the question's deadline on the server's clock."""
    INVALID_ANSWER = "invalid_answer"
    """The selected options do not exist for this question."""
    UNKNOWN_PARTICIPANT = "unknown_participant"
    """A host command names a participant that is not in the run."""
    RUN_LOST = "run_lost"
    """The run's state is gone from the state store (lost in a restart, or expired): it cannot
    continue. The connection is closed with 4001; do not retry."""
    UNAVAILABLE = "unavailable"
    """The service cannot reach its state store right now; try again shortly."""
    INTERNAL_ERROR = "internal_error"
    """Something unexpected went wrong; details are in the server's log, not here."""


class CloseCode(IntEnum):
    """WebSocket close codes the speedrun service uses."""

    NORMAL = 1000
    """The run is over or the client said goodbye."""
    GOING_AWAY = 1001
    """The server is shutting down for good."""
    POLICY_VIOLATION = 1008
    """Origin not allowed or too many connections from one address."""
    TOO_BIG = 1009
    """A frame exceeded the size limit."""
    SERVICE_RESTART = 1012
    """The instance is restarting (deploy, SIGTERM): reconnect, to any instance."""
    TRY_AGAIN_LATER = 1013
    """The state store is unreachable: reconnect with backoff."""
    INVALID_TOKEN = 4001
    """The hello token is forged, malformed, expired, or its run is gone. Do not retry."""
    HELLO_TIMEOUT = 4002
    """No valid hello within the allowed time."""
    PROTOCOL_ERROR = 4003
    """The first frame was not a hello, or the client spoke an unsupported version."""
    KICKED = 4004
    """The host removed this participant. Do not retry."""
    RATE_LIMITED = 4029
    """Frames arrived faster than allowed for too long."""
    SLOW_CONSUMER = 4008
    """The client could not keep up with the frames sent to it: reconnect to resume."""
    REPLACED = 4009
    """The same identity connected again elsewhere; this older connection is closed."""


class ErrorDetail(BaseModel):
    """One problem, with where it is."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(
        description="Where: a JSON pointer, 'line 12', 'row 3, column B', or a field name."
    )
    message: str = Field(description="What is wrong, for humans.")


class ErrorInfo(BaseModel):
    """The inside of the one HTTP error shape."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="A stable snake_case code, e.g. 'invalid_question_set'.")
    message: str = Field(description="A sentence for humans.")
    details: list[ErrorDetail] = Field(
        default_factory=list, description="Each problem with its location, when there are any."
    )


class ErrorBody(BaseModel):
    """The JSON body of every HTTP error answer of every speedrun API."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorInfo = Field(description="What went wrong.")


def error_body(code: str, message: str, details: list[ErrorDetail] | None = None) -> dict[str, Any]:
    """Build the JSON-ready body of an HTTP error answer.

    Args:
        code: A stable snake_case code.
        message: A sentence for humans.
        details: Each problem with its location.

    Returns:
        A dict in the :class:`ErrorBody` shape.
    """
    return ErrorBody(error=ErrorInfo(code=code, message=message, details=details or [])).model_dump(
        mode="json"
    )
