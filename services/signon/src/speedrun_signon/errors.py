"""Sign-on's domain exceptions. They know nothing of HTTP; ``api/errors.py`` maps them."""

from __future__ import annotations


class SignonError(Exception):
    """Base of every refusal sign-on explains to its client."""


class QuestionSetNotFound(SignonError):
    """No question set is stored under the id given."""


class InvalidSelection(SignonError):
    """The categories or question indexes chosen leave no question, or name none that exist."""


class InvalidNickname(SignonError):
    """The nickname is empty, too long, has control or invisible characters, or is blocked."""


class RunNotFound(SignonError):
    """No live run has this join code or id (it never existed, or its state expired)."""


class RunFinished(SignonError):
    """The run is over; nobody may join it any more."""


class JoiningLocked(SignonError):
    """The host locked joining."""


class RunFull(SignonError):
    """The run already has its maximum number of participants."""


class NicknameTaken(SignonError):
    """Another participant of the run has this nickname (compared case-insensitively)."""


class RunNotFinished(SignonError):
    """Results are asked for a run that has not finished yet."""


class CodesExhausted(SignonError):
    """No free join code was found; practically only when about a million runs are live."""


class StoreUnavailable(SignonError):
    """Redis (or DynamoDB) cannot be reached right now."""


class NotAuthenticated(SignonError):
    """No token, or a forged, malformed or expired one."""


class Forbidden(SignonError):
    """The token is valid but does not allow this (another run, or a participant asking for
    a host-only view)."""


class RateLimited(SignonError):
    """Too many failed attempts (or joins) from one client address in the current window."""

    def __init__(self, retry_after_s: int) -> None:
        """Record when the client may try again.

        Args:
            retry_after_s: Seconds until the window ends.
        """
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s
