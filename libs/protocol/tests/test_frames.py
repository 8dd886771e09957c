"""Frames: every message type round-trips, and the decoder only ever returns a frame or an error."""

from __future__ import annotations

import json
import typing

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from speedrun_protocol import frames as f
from speedrun_protocol.errors import ErrorCode
from speedrun_protocol.frames import (
    MAX_FRAME_BYTES,
    ProtocolError,
    decode_client_frame,
    decode_server_frame,
    encode_frame,
)

PID = "p_" + "a" * 26
QUESTION = f.QuestionView(
    question_index=0,
    question_count=3,
    text="Q?",
    options=["a", "b"],
    multi=False,
    points=1000,
    time_limit_s=20,
    deadline_ms=1_700_000_020_000,
    remaining_ms=20_000,
)
ENTRY = f.LeaderboardEntry(participant_id=PID, nickname="Ann", score=900, rank=1)
DIST = f.Distribution(question_index=0, correct_options=[1], counts=[2, 3], answered=5, correct=3)
SNAPSHOT = f.Snapshot(
    title="T",
    mode="host-paced",
    status="running",
    phase="question",
    question_count=3,
    participant_count=1,
    current_question=QUESTION,
    leaderboard=[ENTRY],
    own=f.OwnState(score=900, rank=1),
)

CLIENT_EXAMPLES: list[BaseModel] = [
    f.HelloFrame(token="t", last_seq=4),
    f.AnswerFrame(question_index=2, selected=[0, 3]),
    f.StartFrame(),
    f.NextFrame(),
    f.RevealFrame(),
    f.KickFrame(participant_id=PID),
    f.LockFrame(locked=True),
    f.EndFrame(),
    f.PingFrame(id=7),
]
SERVER_EXAMPLES: list[BaseModel] = [
    f.WelcomeFrame(
        seq=3, role="participant", speedrun_id="sr_x", server_time_ms=1, snapshot=SNAPSHOT
    ),
    f.ErrorFrame(code=ErrorCode.ALREADY_ANSWERED, message="m", ref="answer"),
    f.PongFrame(id=7, server_time_ms=5),
    f.ParticipantJoinedFrame(seq=1, participant_id=PID, nickname="Ann", participant_count=1),
    f.ParticipantKickedFrame(seq=2, participant_id=PID, participant_count=0),
    f.ParticipantConnectionFrame(seq=2, participant_id=PID, connected=True),
    f.LockChangedFrame(seq=3, locked=True),
    f.RunStartedFrame(seq=4, mode="self-paced", question_count=3, started_at_ms=9),
    f.QuestionFrame(seq=5, question=QUESTION),
    f.AnswerAcceptedFrame(seq=6, question_index=0, selected=[1], elapsed_ms=900),
    f.AnswerResultFrame(
        seq=7,
        question_index=0,
        selected=[1],
        correct=True,
        correct_options=[1],
        points=990,
        streak=1,
        score=990,
    ),
    f.AnswerProgressFrame(seq=8, question_index=0, answered=1, total=2),
    f.QuestionClosedFrame(seq=9, question_index=0, reason="deadline"),
    f.QuestionRevealedFrame(seq=10, distribution=DIST),
    f.ParticipantsProgressFrame(
        seq=11, participants=[f.ParticipantView(participant_id=PID, nickname="A")]
    ),
    f.LeaderboardFrame(seq=12, top=[ENTRY], participant_count=1),
    f.LeaderboardFrame(
        seq=13, top=[ENTRY], participant_count=1, own=f.OwnStanding(rank=1, score=990)
    ),
    f.LobbyFrame(seq=2, participant_count=3),
    f.ParticipantFinishedFrame(seq=14, participant_id=PID, score=990),
    f.RunFinishedFrame(seq=15, reason="completed", leaderboard=[ENTRY], participant_count=1),
]


def _union_members(union: object) -> set[type]:
    inner = typing.get_args(union)[0]
    return set(typing.get_args(inner))


def test_examples_cover_every_frame_type() -> None:
    assert {type(m) for m in CLIENT_EXAMPLES} == _union_members(f.ClientFrame)
    assert {type(m) for m in SERVER_EXAMPLES} == _union_members(f.ServerFrame)


def test_client_frames_round_trip() -> None:
    for message in CLIENT_EXAMPLES:
        assert decode_client_frame(encode_frame(message)) == message


def test_server_frames_round_trip() -> None:
    for message in SERVER_EXAMPLES:
        assert decode_server_frame(encode_frame(message)) == message


def test_decode_binary_frame_returns_binary_error() -> None:
    result = decode_client_frame(b'{"type":"ping"}')
    assert isinstance(result, ProtocolError)
    assert result.code is ErrorCode.BINARY_NOT_SUPPORTED


def test_decode_not_json_returns_malformed() -> None:
    for text in ["", "{", "nope", '{"type": "ping"', "\ud800"]:
        result = decode_client_frame(text)
        assert isinstance(result, ProtocolError)
        assert result.code is ErrorCode.MALFORMED_JSON, text


def test_decode_non_object_returns_malformed() -> None:
    for text in ["[]", "1", '"hello"', "null"]:
        result = decode_client_frame(text)
        assert isinstance(result, ProtocolError) and result.code is ErrorCode.MALFORMED_JSON


def test_decode_unknown_or_missing_type_returns_unknown_type() -> None:
    for text in ["{}", '{"type": "welcome"}', '{"type": 3}', '{"type": "HELLO", "token": "x"}']:
        result = decode_client_frame(text)
        assert isinstance(result, ProtocolError) and result.code is ErrorCode.UNKNOWN_TYPE, text


def test_decode_bad_fields_returns_invalid_frame() -> None:
    cases = [
        '{"type": "hello"}',
        '{"type": "hello", "token": "t", "extra": 1}',
        '{"type": "hello", "token": 5}',
        '{"type": "hello", "token": "t", "last_seq": -1}',
        '{"type": "answer", "question_index": 0, "selected": []}',
        '{"type": "answer", "question_index": 0, "selected": [6]}',
        '{"type": "answer", "question_index": -1, "selected": [0]}',
        '{"type": "answer", "question_index": "0", "selected": [0]}',
        '{"type": "kick", "participant_id": "../etc"}',
        '{"type": "lock", "locked": "yes"}',
    ]
    for text in cases:
        result = decode_client_frame(text)
        assert isinstance(result, ProtocolError), text
        assert result.code is ErrorCode.INVALID_FRAME, text
        assert result.ref is not None


def test_decode_oversized_returns_too_large() -> None:
    big = '{"type": "hello", "token": "' + "x" * MAX_FRAME_BYTES + '"}'
    result = decode_client_frame(big)
    assert isinstance(result, ProtocolError) and result.code is ErrorCode.FRAME_TOO_LARGE


def test_protocol_error_becomes_error_frame() -> None:
    result = decode_client_frame("[]")
    assert isinstance(result, ProtocolError)
    frame = result.to_frame()
    assert frame.type == "error" and frame.code is ErrorCode.MALFORMED_JSON and frame.seq == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
frame_like = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(f.CLIENT_TYPES), "welcome", "", "x"])},
    optional={
        "token": json_values,
        "question_index": json_values,
        "selected": json_values,
        "participant_id": json_values,
        "locked": json_values,
        "last_seq": json_values,
        "id": json_values,
    },
)


def _check(result: object) -> None:
    assert isinstance(result, ProtocolError | BaseModel), result
    if isinstance(result, ProtocolError):
        assert isinstance(result.code, ErrorCode)
        assert result.to_frame().type == "error"


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_decode_arbitrary_json_returns_frame_or_error(value: object) -> None:
    _check(decode_client_frame(json.dumps(value)))


@settings(max_examples=400, deadline=None)
@given(frame_like)
def test_decode_frame_shaped_json_returns_frame_or_error(value: dict[str, object]) -> None:
    _check(decode_client_frame(json.dumps(value)))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=256))
def test_decode_arbitrary_bytes_returns_error(data: bytes) -> None:
    result = decode_client_frame(data)
    assert isinstance(result, ProtocolError)
    text = data.decode("utf-8", "replace")
    _check(decode_client_frame(text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_decode_arbitrary_text_returns_frame_or_error(text: str) -> None:
    _check(decode_client_frame(text))
