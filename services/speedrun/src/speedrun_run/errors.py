"""The engine's domain exceptions. The WebSocket handler maps them to error frames in one place."""

from __future__ import annotations

from speedrun_protocol.errors import CloseCode, ErrorCode


class Rejected(Exception):
    """A client's command was refused; nothing changed. Carries the stable error code."""

    def __init__(self, code: ErrorCode, message: str, close: CloseCode | None = None) -> None:
        """Refuse a command.

        Args:
            code: The error frame's code.
            message: For humans.
            close: When set, the connection is closed with this code after the error frame.
        """
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close


class RunGone(Rejected):
    """The token's run does not exist (never created, or expired)."""

    def __init__(self) -> None:
        """Refuse a hello for a run that is gone."""
        super().__init__(ErrorCode.INVALID_TOKEN, "the run does not exist", CloseCode.INVALID_TOKEN)


class RunLost(Rejected):
    """A run this instance was playing has vanished from Redis (a restart lost its data)."""

    def __init__(self) -> None:
        """Refuse a command for a run whose state is gone."""
        super().__init__(
            ErrorCode.RUN_LOST,
            "this run's state was lost on the server; it cannot continue",
            CloseCode.INVALID_TOKEN,
        )


class Contended(Exception):
    """A state change kept losing its race with other changes; the caller may try again later."""
