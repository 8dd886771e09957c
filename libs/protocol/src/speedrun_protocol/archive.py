"""The archived run: what the reporter writes to DynamoDB and the results API serves.

One table, one partition per run (``pk = RUN#<speedrun id>``), with sort keys:

* ``SUMMARY`` — :class:`ArchivedRun`;
* ``P#<participant id>`` — :class:`ArchivedParticipant` (with every answer);
* ``Q#<question index, 4 digits>`` — :class:`QuestionStats`.

Keys are deterministic, so writing the same run twice leaves exactly the same items.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from speedrun_protocol.frames import LeaderboardEntry, Mode
from speedrun_protocol.state import RunQuestion

SUMMARY_SK = "SUMMARY"


def run_pk(speedrun_id: str) -> str:
    """Return the partition key of a run.

    Args:
        speedrun_id: The run.

    Returns:
        ``RUN#<speedrun id>``.
    """
    return f"RUN#{speedrun_id}"


def participant_sk(participant_id: str) -> str:
    """Return the sort key of a participant item.

    Args:
        participant_id: The participant.

    Returns:
        ``P#<participant id>``.
    """
    return f"P#{participant_id}"


def question_sk(question_index: int) -> str:
    """Return the sort key of a question-statistics item.

    Args:
        question_index: Zero-based index in the run.

    Returns:
        ``Q#`` and the index on four digits.
    """
    return f"Q#{question_index:04d}"


class ArchivedAnswer(BaseModel):
    """One answer of one participant, as archived."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_index: int = Field(description="Zero-based index in the run.")
    selected: list[int] = Field(description="Options chosen; empty when timed out.")
    correct: bool = Field(description="Fully correct.")
    timed_out: bool = Field(description="No answer before the deadline.")
    points: int = Field(description="Points awarded, streak bonus included.")
    elapsed_ms: int = Field(description="Server-measured answer time.")


class ArchivedParticipant(BaseModel):
    """A participant's final standing and answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: str = Field(description="Their id.")
    nickname: str = Field(description="Their nickname.")
    score: int = Field(description="Final score.")
    rank: int = Field(description="Final 1-based rank; equal scores share a rank.")
    correct_count: int = Field(description="Questions answered correctly.")
    kicked: bool = Field(default=False, description="Removed by the host.")
    answers: list[ArchivedAnswer] = Field(description="Their answers, by question index.")


class QuestionStats(BaseModel):
    """How one question went."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_index: int = Field(description="Zero-based index in the run.")
    text: str = Field(description="The question text.")
    options: list[str] = Field(description="The options in the run's order.")
    correct_options: list[int] = Field(description="The correct options.")
    counts: list[int] = Field(description="How many chose each option.")
    answered: int = Field(description="Participants who answered in time.")
    timed_out: int = Field(description="Participants who timed out.")
    correct: int = Field(description="Participants who were fully correct.")
    correct_rate: float = Field(description="correct / (answered + timed_out), 0 when nobody.")
    mean_elapsed_ms: float | None = Field(description="Mean answer time of those who answered.")


class ArchivedRun(BaseModel):
    """The summary item of an archived run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speedrun_id: str = Field(description="The run.")
    title: str = Field(description="The question set's title.")
    mode: Mode = Field(description="self-paced or host-paced.")
    question_set_id: str = Field(description="The set the questions came from.")
    question_count: int = Field(description="Questions in the run.")
    participant_count: int = Field(description="Participants (kicked ones included).")
    created_at_ms: int = Field(description="Created (Unix ms).")
    started_at_ms: int | None = Field(description="Started (Unix ms).")
    ended_at_ms: int = Field(description="Ended (Unix ms).")
    end_reason: Literal["completed", "ended_by_host", "abandoned"] = Field(
        description="Why it ended."
    )
    questions: list[RunQuestion] = Field(description="The questions as played.")


class ResultsResponse(BaseModel):
    """``GET /signon/speedruns/{id}/results``: a host sees everything; a participant sees the
    leaderboard and their own answers."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["live", "archive"] = Field(description="Read from Redis or from DynamoDB.")
    run: ArchivedRun = Field(description="The run's summary.")
    leaderboard: list[LeaderboardEntry] = Field(description="Every participant, best first.")
    participants: list[ArchivedParticipant] = Field(
        description="Host: everyone. Participant: only themselves."
    )
    questions: list[QuestionStats] = Field(
        default_factory=list, description="Host only: statistics per question."
    )
