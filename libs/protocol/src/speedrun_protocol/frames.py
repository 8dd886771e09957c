"""Every WebSocket frame between clients (host, participant) and speedrun instances.

Frames are JSON text objects tagged by ``type``. :data:`ClientFrame` and :data:`ServerFrame` are
one discriminated union per direction; :func:`decode_client_frame` is the one decoder a server uses
and it never raises: it returns a frame or a :class:`ProtocolError` with a stable
:class:`~speedrun_protocol.errors.ErrorCode`.

Every server frame carries ``seq``, the run's sequence number of the event it reports; frames that
are not run events (``error``, ``pong``) carry 0, and ``welcome`` carries the sequence number its
snapshot is consistent with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from speedrun_protocol.errors import ErrorCode
from speedrun_protocol.ids import PARTICIPANT_ID_RE
from speedrun_protocol.questions import MAX_OPTIONS, MAX_QUESTIONS

PROTOCOL_VERSION = 1
"""The version of this protocol. A hello for another version is refused."""

MAX_FRAME_BYTES = 64 * 1024
"""The largest frame either side accepts, in bytes of UTF-8."""

Mode = Literal["self-paced", "host-paced"]
Role = Literal["host", "participant"]
CloseReason = Literal["deadline", "all_answered", "host"]
"""Why a host-paced question's answering closed."""
RunStatus = Literal["lobby", "running", "finished"]
Phase = Literal["lobby", "question", "closed", "revealed", "finished"]
"""Where a host-paced run is: waiting, a question open, answering closed, answer revealed, over.
A self-paced run is ``lobby``, then ``question`` while anyone plays, then ``finished``."""

QuestionIndex = Annotated[int, Field(ge=0, lt=MAX_QUESTIONS)]
OptionIndex = Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]
ParticipantId = Annotated[str, Field(pattern=PARTICIPANT_ID_RE.pattern)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ClientFrame(_Frame):
    # Strict: a client's "0" is not the number 0, and true is not 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---------------------------------------------------------------------------------------------
# Client to server
# ---------------------------------------------------------------------------------------------


class HelloFrame(_ClientFrame):
    """First frame of every connection: who the client is, and what it has already seen."""

    type: Literal["hello"] = "hello"
    token: str = Field(min_length=1, max_length=4096, description="The token from sign-on.")
    last_seq: int | None = Field(
        default=None,
        ge=0,
        description="The last sequence number this client received, when it reconnects; "
        "the server replays what it missed or sends a fresh snapshot.",
    )
    protocol_version: int = Field(
        default=PROTOCOL_VERSION, ge=1, description="The protocol version the client speaks."
    )


class AnswerFrame(_ClientFrame):
    """A participant's answer to the question open for them. The first answer is final."""

    type: Literal["answer"] = "answer"
    question_index: QuestionIndex = Field(description="Zero-based index of the question.")
    selected: list[OptionIndex] = Field(
        min_length=1,
        max_length=MAX_OPTIONS,
        description="Zero-based indexes of the chosen options (several for multi-select).",
    )


class StartFrame(_ClientFrame):
    """Host: start the run (self-paced: everyone gets question 1; host-paced: question 1 opens)."""

    type: Literal["start"] = "start"


class NextFrame(_ClientFrame):
    """Host, host-paced: open the next question (or finish after the last one)."""

    type: Literal["next"] = "next"


class RevealFrame(_ClientFrame):
    """Host, host-paced: close answering now if still open, and reveal the correct options."""

    type: Literal["reveal"] = "reveal"


class KickFrame(_ClientFrame):
    """Host: remove a participant from the run. Their answers stay in the record."""

    type: Literal["kick"] = "kick"
    participant_id: ParticipantId = Field(description="The participant to remove.")


class LockFrame(_ClientFrame):
    """Host: lock or unlock joining."""

    type: Literal["lock"] = "lock"
    locked: bool = Field(description="True to refuse new participants, false to allow them.")


class EndFrame(_ClientFrame):
    """Host: end the run now; results are final with what has been answered."""

    type: Literal["end"] = "end"


class PingFrame(_ClientFrame):
    """Either role: ask for a ``pong`` (for latency display). Transport heartbeats are separate."""

    type: Literal["ping"] = "ping"
    id: int = Field(default=0, ge=0, le=2**53, description="Echoed back in the pong.")


ClientFrame = Annotated[
    HelloFrame
    | AnswerFrame
    | StartFrame
    | NextFrame
    | RevealFrame
    | KickFrame
    | LockFrame
    | EndFrame
    | PingFrame,
    Field(discriminator="type"),
]
"""Any frame a client may send."""

HOST_COMMANDS = frozenset({"start", "next", "reveal", "kick", "lock", "end"})
"""Frame types only a host token may send."""


# ---------------------------------------------------------------------------------------------
# Shared views
# ---------------------------------------------------------------------------------------------


class QuestionView(_Frame):
    """A question as a client sees it while it is open: never the correct options."""

    question_index: int = Field(description="Zero-based index in the run.")
    question_count: int = Field(description="How many questions the run has.")
    text: str = Field(description="The question text (render as text, never as HTML).")
    options: list[str] = Field(description="The options, in display order.")
    multi: bool = Field(description="True when more than one option is correct.")
    category: str | None = Field(default=None, description="The question's category.")
    points: int = Field(description="Points for a fast correct answer (0, 1000, 2000).")
    time_limit_s: int = Field(description="Seconds allowed for this question.")
    deadline_ms: int = Field(description="The deadline on the server's clock (Unix ms).")
    remaining_ms: int = Field(description="Milliseconds left when the frame was made.")


class LeaderboardEntry(_Frame):
    """One row of a leaderboard."""

    participant_id: str = Field(description="The participant's id.")
    nickname: str = Field(description="The nickname (render as text).")
    score: int = Field(description="Total points.")
    rank: int = Field(description="1-based rank; equal scores share a rank.")


class ParticipantView(_Frame):
    """A participant as the host's dashboard sees them."""

    participant_id: str = Field(description="The participant's id.")
    nickname: str = Field(description="The nickname (render as text).")
    score: int = Field(default=0, description="Total points.")
    answered_count: int = Field(default=0, description="Questions answered or timed out.")
    correct_count: int = Field(default=0, description="Questions answered correctly.")
    current_question: int | None = Field(
        default=None, description="Self-paced: the question they are on."
    )
    finished: bool = Field(default=False, description="Self-paced: done with every question.")
    connected: bool = Field(default=False, description="Has a live connection now.")


class OwnState(_Frame):
    """What a participant sees of themselves."""

    score: int = Field(default=0, description="Total points.")
    rank: int | None = Field(default=None, description="1-based rank, when scored.")
    streak: int = Field(default=0, description="Correct answers in a row.")
    answered_count: int = Field(default=0, description="Questions answered or timed out.")
    correct_count: int = Field(default=0, description="Questions answered correctly.")
    finished: bool = Field(default=False, description="Self-paced: done with every question.")
    answered_current: bool = Field(
        default=False, description="Already answered the open question (host-paced)."
    )


class Distribution(_Frame):
    """How answers to one question fell."""

    question_index: int = Field(description="Zero-based question index.")
    correct_options: list[int] = Field(description="Zero-based indexes of the correct options.")
    counts: list[int] = Field(description="For each option, how many participants chose it.")
    answered: int = Field(description="How many participants answered.")
    correct: int = Field(description="How many answered correctly.")


class Snapshot(_Frame):
    """Everything a client may see now, so a fresh page can render without history."""

    title: str = Field(description="The question set's title.")
    mode: Mode = Field(description="self-paced or host-paced.")
    status: RunStatus = Field(description="lobby, running or finished.")
    phase: Phase = Field(description="Finer state; see Phase.")
    locked: bool = Field(default=False, description="Joining locked by the host.")
    join_code: str | None = Field(default=None, description="Host only: the join code.")
    question_count: int = Field(description="Number of questions in the run.")
    participant_count: int = Field(description="Participants in the run (not kicked).")
    participants: list[ParticipantView] = Field(
        default_factory=list, description="Host only: every participant."
    )
    current_question: QuestionView | None = Field(
        default=None, description="The question open for this client now, if any."
    )
    last_distribution: Distribution | None = Field(
        default=None, description="Host-paced: the last revealed question's answers."
    )
    answered: int | None = Field(
        default=None,
        description="Host, host-paced, while a question is open or closed and not yet revealed: "
        "participants who answered it (later changes come as ``answer_progress``).",
    )
    closed_reason: CloseReason | None = Field(
        default=None,
        description="Host-paced, while the current question is closed and not yet revealed: why "
        "it closed (as its ``question_closed`` said).",
    )
    own: OwnState | None = Field(default=None, description="Participant only: their state.")
    leaderboard: list[LeaderboardEntry] = Field(
        default_factory=list,
        description="The top of the leaderboard (empty in the lobby: there is no board yet).",
    )


# ---------------------------------------------------------------------------------------------
# Server to client
# ---------------------------------------------------------------------------------------------


class _ServerFrame(_Frame):
    seq: int = Field(
        default=0,
        ge=0,
        description="The run's sequence number of this event; 0 for frames that are not run "
        "events (error, pong).",
    )


class WelcomeFrame(_ServerFrame):
    """Answer to a good hello: identity and a full snapshot (then any replayed events)."""

    type: Literal["welcome"] = "welcome"
    protocol_version: int = Field(default=PROTOCOL_VERSION, description="The server's version.")
    role: Role = Field(description="host or participant.")
    speedrun_id: str = Field(description="The run's id.")
    participant_id: str | None = Field(default=None, description="Participant: their id.")
    nickname: str | None = Field(default=None, description="Participant: their nickname.")
    server_time_ms: int = Field(description="The server's clock (Unix ms), for countdowns.")
    resumed: bool = Field(
        default=False,
        description="True when missed events follow this frame instead of a full history.",
    )
    snapshot: Snapshot = Field(description="The state this client may see now.")


class ErrorFrame(_ServerFrame):
    """Something the client sent was refused; nothing changed. Fatal errors are then closed."""

    type: Literal["error"] = "error"
    code: ErrorCode = Field(description="A stable code; see ErrorCode.")
    message: str = Field(description="For humans.")
    ref: str | None = Field(default=None, description="The type of the frame refused, if known.")


class PongFrame(_ServerFrame):
    """Answer to a ping."""

    type: Literal["pong"] = "pong"
    id: int = Field(default=0, description="The ping's id.")
    server_time_ms: int = Field(description="The server's clock (Unix ms).")


class ParticipantJoinedFrame(_ServerFrame):
    """Host: a participant joined (participants learn the count from ``lobby`` frames)."""

    type: Literal["participant_joined"] = "participant_joined"
    participant_id: str = Field(description="Their id.")
    nickname: str = Field(description="Their nickname (render as text).")
    participant_count: int = Field(description="Participants now in the run.")


class ParticipantKickedFrame(_ServerFrame):
    """The host removed a participant (to everyone; the removed one is then closed)."""

    type: Literal["participant_kicked"] = "participant_kicked"
    participant_id: str = Field(description="Their id.")
    participant_count: int = Field(description="Participants now in the run.")


class ParticipantConnectionFrame(_ServerFrame):
    """Host only: a participant connected or lost their connection."""

    type: Literal["participant_connection"] = "participant_connection"
    participant_id: str = Field(description="Their id.")
    connected: bool = Field(description="True when a connection is live.")


class LockChangedFrame(_ServerFrame):
    """Joining was locked or unlocked."""

    type: Literal["lock_changed"] = "lock_changed"
    locked: bool = Field(description="True when joining is locked.")


class RunStartedFrame(_ServerFrame):
    """The host started the run."""

    type: Literal["run_started"] = "run_started"
    mode: Mode = Field(description="self-paced or host-paced.")
    question_count: int = Field(description="Number of questions.")
    started_at_ms: int = Field(description="When, on the server's clock (Unix ms).")


class QuestionFrame(_ServerFrame):
    """A question opens for this client (host-paced: for everyone; self-paced: for one player)."""

    type: Literal["question"] = "question"
    question: QuestionView = Field(description="The question, without its answer.")


class AnswerAcceptedFrame(_ServerFrame):
    """Participant, host-paced: the answer is recorded; the result comes at the reveal (a reply
    to the answer, not a run event: it repeats the last sequence number the socket had)."""

    type: Literal["answer_accepted"] = "answer_accepted"
    question_index: int = Field(description="The question answered.")
    selected: list[int] = Field(description="The options chosen.")
    elapsed_ms: int = Field(description="Server time from the question opening to the answer.")


class AnswerResultFrame(_ServerFrame):
    """Participant: the result of their answer (or of the time running out)."""

    type: Literal["answer_result"] = "answer_result"
    question_index: int = Field(description="The question.")
    selected: list[int] = Field(description="The options chosen; empty when timed out.")
    correct: bool = Field(description="Fully correct.")
    timed_out: bool = Field(default=False, description="No answer before the deadline.")
    correct_options: list[int] = Field(description="The correct options.")
    points: int = Field(description="Points for this question, streak bonus included.")
    streak_bonus: int = Field(default=0, description="The part of points that is streak bonus.")
    streak: int = Field(description="Correct answers in a row now.")
    score: int = Field(description="Total points now.")
    elapsed_ms: int | None = Field(default=None, description="Server-measured answer time.")


class AnswerProgressFrame(_ServerFrame):
    """Host, host-paced: how many have answered the open question (a view, coalesced)."""

    type: Literal["answer_progress"] = "answer_progress"
    question_index: int = Field(description="The open question.")
    answered: int = Field(description="Participants who answered.")
    total: int = Field(description="Participants expected to answer.")


class QuestionClosedFrame(_ServerFrame):
    """Host-paced: answering closed."""

    type: Literal["question_closed"] = "question_closed"
    question_index: int = Field(description="The question.")
    reason: CloseReason = Field(description="Why it closed.")
    answered: int = Field(
        default=0,
        description="Participants who answered it (the host's count is exact at the close: "
        "its ``answer_progress`` views are coalesced).",
    )


class QuestionRevealedFrame(_ServerFrame):
    """Host-paced: the correct options and how answers fell."""

    type: Literal["question_revealed"] = "question_revealed"
    distribution: Distribution = Field(description="Answers per option, and the correct ones.")


class ParticipantsProgressFrame(_ServerFrame):
    """Host, self-paced: the participants who moved on since the last such frame (coalesced: a
    few per second at most, whatever the answer rate)."""

    type: Literal["participants_progress"] = "participants_progress"
    participants: list[ParticipantView] = Field(description="Their state now.")


class OwnStanding(BaseModel):
    """A participant's own place on the leaderboard."""

    rank: int = Field(description="1-based rank (equal scores share one).")
    score: int = Field(description="Total points.")


class LeaderboardFrame(_ServerFrame):
    """The top of the leaderboard (coalesced: a few per second at most); to a participant whose
    rank or score changed since their last one, with their own standing (one frame, not two)."""

    type: Literal["leaderboard"] = "leaderboard"
    top: list[LeaderboardEntry] = Field(description="The best participants, best first.")
    participant_count: int = Field(description="Participants in the run.")
    own: OwnStanding | None = Field(
        default=None,
        description="The receiving participant's rank and score, when they changed since their "
        "last leaderboard frame (never to a host).",
    )


class LobbyFrame(_ServerFrame):
    """Participant, in the lobby: how many have joined (coalesced: a few per second at most)."""

    type: Literal["lobby"] = "lobby"
    participant_count: int = Field(description="Participants in the run.")


class ParticipantFinishedFrame(_ServerFrame):
    """Self-paced: a participant has answered or timed out every question (to them and the
    host; the others see the count move in their leaderboard frames)."""

    type: Literal["participant_finished"] = "participant_finished"
    participant_id: str = Field(description="Their id.")
    score: int = Field(description="Their final score.")


class RunFinishedFrame(_ServerFrame):
    """The run is over; results are final."""

    type: Literal["run_finished"] = "run_finished"
    reason: Literal["completed", "ended_by_host", "abandoned"] = Field(description="Why it ended.")
    leaderboard: list[LeaderboardEntry] = Field(description="The top of the final leaderboard.")
    participant_count: int = Field(description="Participants in the run.")


ServerFrame = Annotated[
    WelcomeFrame
    | ErrorFrame
    | PongFrame
    | ParticipantJoinedFrame
    | ParticipantKickedFrame
    | ParticipantConnectionFrame
    | LockChangedFrame
    | RunStartedFrame
    | QuestionFrame
    | AnswerAcceptedFrame
    | AnswerResultFrame
    | AnswerProgressFrame
    | QuestionClosedFrame
    | QuestionRevealedFrame
    | ParticipantsProgressFrame
    | LeaderboardFrame
    | LobbyFrame
    | ParticipantFinishedFrame
    | RunFinishedFrame,
    Field(discriminator="type"),
]
"""Any frame a server may send."""


# ---------------------------------------------------------------------------------------------
# Decoding and encoding
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A frame that could not be decoded: a stable code and a message for humans."""

    code: ErrorCode
    message: str
    ref: str | None = None

    def to_frame(self) -> ErrorFrame:
        """Return the error frame that reports this problem to the client."""
        return ErrorFrame(code=self.code, message=self.message, ref=self.ref)


_CLIENT_ADAPTER: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
_SERVER_ADAPTER: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)
CLIENT_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].default
    for m in (
        HelloFrame,
        AnswerFrame,
        StartFrame,
        NextFrame,
        RevealFrame,
        KickFrame,
        LockFrame,
        EndFrame,
        PingFrame,
    )
)
"""Every ``type`` a client may send."""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in item["loc"][1:]) or "frame"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def decode_client_frame(data: str | bytes) -> ClientFrame | ProtocolError:
    """Decode one frame received from a client. Never raises.

    Args:
        data: The frame's payload: ``str`` for a text frame, ``bytes`` for a binary one.

    Returns:
        The frame, or a :class:`ProtocolError` saying what is wrong with a stable code.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        return ProtocolError(ErrorCode.BINARY_NOT_SUPPORTED, "binary frames are not supported")
    if len(data) > MAX_FRAME_BYTES or len(data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        return ProtocolError(
            ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {MAX_FRAME_BYTES} bytes"
        )
    try:
        raw: Any = orjson.loads(data)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return ProtocolError(ErrorCode.MALFORMED_JSON, "the frame is not valid JSON")
    if not isinstance(raw, dict):
        return ProtocolError(ErrorCode.MALFORMED_JSON, "a frame must be a JSON object")
    frame_type = raw.get("type")
    if not isinstance(frame_type, str) or frame_type not in CLIENT_TYPES:
        shown = frame_type if isinstance(frame_type, str) else None
        return ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            "the frame has no known 'type'",
            ref=shown[:40] if shown else None,
        )
    try:
        return _CLIENT_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        return ProtocolError(ErrorCode.INVALID_FRAME, _describe(exc), ref=frame_type)


def decode_server_frame(data: str | bytes) -> ServerFrame:
    """Decode a frame received from a server (for clients, bots and tests).

    Args:
        data: The frame's JSON text.

    Returns:
        The frame.

    Raises:
        pydantic.ValidationError: If the frame does not match any server frame.
    """
    return _SERVER_ADAPTER.validate_json(data)


def encode_frame(frame: BaseModel) -> str:
    """Encode a frame as JSON text, once, to send to one or many sockets.

    Args:
        frame: Any client or server frame.

    Returns:
        Compact JSON text.
    """
    return frame.model_dump_json()
