"""Request and response bodies of sign-on's HTTP API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from speedrun_protocol.frames import Mode, RunStatus
from speedrun_protocol.ids import (
    JOIN_CODE_RE,
    PARTICIPANT_ID_RE,
    QUESTION_SET_ID_RE,
    SPEEDRUN_ID_RE,
)
from speedrun_protocol.questions import MAX_QUESTIONS, Category, TimeLimit
from speedrun_signon.config import MAX_PARTICIPANTS_LIMIT

WEBSOCKET_PATH = "/speedrun"
"""Where the speedrun service accepts WebSocket connections (behind the same origin)."""
MAX_RAW_NICKNAME = 200
"""Longest nickname body accepted before normalisation (the rule itself is 20 characters)."""

JoinCode = Annotated[str, Field(pattern=JOIN_CODE_RE.pattern, examples=["482913"])]


class CreateSpeedrunRequest(BaseModel):
    """A host opens a speedrun from a stored question set."""

    model_config = ConfigDict(extra="forbid")

    question_set_id: str = Field(
        pattern=QUESTION_SET_ID_RE.pattern, description="The stored set to play."
    )
    mode: Mode = Field(
        description="self-paced: after the start everyone races through the questions at their "
        "own pace; host-paced: the host moves everyone through each question together."
    )
    time_limit_s: TimeLimit | None = Field(
        default=None,
        description="Seconds per question (5-240) where a question has none; 20 when absent.",
    )
    categories: list[Category] | None = Field(
        default=None,
        max_length=100,
        description="Keep only questions of these categories; all when absent or empty.",
    )
    question_indexes: list[Annotated[int, Field(ge=0, lt=MAX_QUESTIONS)]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_QUESTIONS,
        description="Zero-based indexes into the set, played in this order; all when absent.",
    )
    shuffle_questions: bool = Field(default=False, description="Shuffle the questions' order.")
    shuffle_options: bool = Field(default=False, description="Shuffle each question's options.")
    max_participants: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTICIPANTS_LIMIT,
        description="Refuse joins beyond this many; the service default when absent.",
    )


class CreateSpeedrunResponse(BaseModel):
    """The new run, and the host's credentials for it."""

    speedrun_id: str = Field(pattern=SPEEDRUN_ID_RE.pattern, description="The run's id.")
    join_code: JoinCode = Field(description="Six digits for participants to type.")
    host_token: str = Field(description="The host's bearer token (for the WebSocket hello).")
    websocket_path: str = Field(description="Path of the speedrun WebSocket endpoint.")
    join_url: str = Field(description="The web app's join page with the code filled in.")
    question_count: int = Field(description="Questions the run plays.")
    expires_in_s: int = Field(description="Seconds the run's state lives without activity.")


class LobbyResponse(BaseModel):
    """What the join page shows about a run. Nothing secret."""

    title: str = Field(description="The question set's title (render as text).")
    mode: Mode = Field(description="self-paced or host-paced.")
    status: RunStatus = Field(description="lobby, running or finished.")
    locked: bool = Field(description="Joining is locked by the host.")
    participant_count: int = Field(description="Participants in the run.")
    question_count: int = Field(description="Questions in the run.")


class JoinRequest(BaseModel):
    """A participant joins with a nickname."""

    model_config = ConfigDict(extra="forbid")

    nickname: str = Field(
        min_length=1,
        max_length=MAX_RAW_NICKNAME,
        description="1-20 characters after trimming and NFKC normalisation; no control or "
        "invisible characters; unique (case-insensitively) in the run.",
        examples=["Ada"],
    )


class JoinResponse(BaseModel):
    """The new participant's identity and credentials."""

    speedrun_id: str = Field(pattern=SPEEDRUN_ID_RE.pattern, description="The run's id.")
    participant_id: str = Field(pattern=PARTICIPANT_ID_RE.pattern, description="Their id.")
    participant_token: str = Field(description="Their bearer token (for the WebSocket hello).")
    nickname: str = Field(description="The nickname as stored (normalised; render as text).")
    websocket_path: str = Field(description="Path of the speedrun WebSocket endpoint.")


class HealthResponse(BaseModel):
    """The service can reach Redis."""

    status: str = Field(description="Always 'ok'.")
