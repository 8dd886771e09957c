"""Identifiers made by the servers: formats, generators and validators.

Every id carries 130 bits of randomness (26 base32 characters) behind a short prefix that names
its kind, so an id can be checked against its format before it is used in a path or a key.
"""

from __future__ import annotations

import base64
import re
import secrets

_BODY = r"[a-z2-7]{26}"

QUESTION_SET_ID_RE = re.compile(rf"^qs_{_BODY}$")
"""A question-set id: ``qs_`` and 26 lower-case base32 characters."""
SPEEDRUN_ID_RE = re.compile(rf"^sr_{_BODY}$")
"""A speedrun id: ``sr_`` and 26 lower-case base32 characters."""
PARTICIPANT_ID_RE = re.compile(rf"^p_{_BODY}$")
"""A participant id: ``p_`` and 26 lower-case base32 characters."""
JOIN_CODE_RE = re.compile(r"^[0-9]{6}$")
"""A join code: six digits. It lets a player into a lobby; it is never an identity."""


def _random_body() -> str:
    return base64.b32encode(secrets.token_bytes(17)).decode("ascii")[:26].lower()


def new_question_set_id() -> str:
    """Return a fresh question-set id.

    Returns:
        A string matching :data:`QUESTION_SET_ID_RE`.
    """
    return f"qs_{_random_body()}"


def new_speedrun_id() -> str:
    """Return a fresh speedrun id.

    Returns:
        A string matching :data:`SPEEDRUN_ID_RE`.
    """
    return f"sr_{_random_body()}"


def new_participant_id() -> str:
    """Return a fresh participant id.

    Returns:
        A string matching :data:`PARTICIPANT_ID_RE`.
    """
    return f"p_{_random_body()}"


def is_question_set_id(value: str) -> bool:
    """Tell whether ``value`` has the server's question-set id format.

    Args:
        value: Any string, usually from a URL or a request body.

    Returns:
        True when it is safe to use as a file-name stem.
    """
    return bool(QUESTION_SET_ID_RE.fullmatch(value))


def is_speedrun_id(value: str) -> bool:
    """Tell whether ``value`` has the speedrun id format.

    Args:
        value: Any string.

    Returns:
        True when it matches :data:`SPEEDRUN_ID_RE`.
    """
    return bool(SPEEDRUN_ID_RE.fullmatch(value))


def is_participant_id(value: str) -> bool:
    """Tell whether ``value`` has the participant id format.

    Args:
        value: Any string.

    Returns:
        True when it matches :data:`PARTICIPANT_ID_RE`.
    """
    return bool(PARTICIPANT_ID_RE.fullmatch(value))
