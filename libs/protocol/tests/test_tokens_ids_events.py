"""Tokens, ids and the queue envelope."""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from speedrun_protocol import ids
from speedrun_protocol.events import (
    BusEvent,
    CompletionMessage,
    bus_message,
    read_bus_message,
    split_event,
    stream_event,
)
from speedrun_protocol.tokens import TokenError, check_secret, issue_token, verify_token

SECRET = "s" * 40


def test_token_round_trip_keeps_claims() -> None:
    token = issue_token(SECRET, "sr_x", "participant", "p_y", ttl_s=60)
    claims = verify_token(SECRET, token)
    assert (claims.sid, claims.role, claims.participant_id) == ("sr_x", "participant", "p_y")


def test_token_forged_rejected() -> None:
    token = issue_token("o" * 40, "sr_x", "host", "host", ttl_s=60)
    with pytest.raises(TokenError, match="invalid"):
        verify_token(SECRET, token)


def test_token_expired_rejected() -> None:
    token = issue_token(SECRET, "sr_x", "host", "host", ttl_s=10, now=time.time() - 100)
    with pytest.raises(TokenError, match="expired"):
        verify_token(SECRET, token)


def test_token_garbage_rejected() -> None:
    for bad in ["", "a.b.c", "x" * 100]:
        with pytest.raises(TokenError):
            verify_token(SECRET, bad)


def test_token_alg_none_rejected() -> None:
    import jwt

    token = jwt.encode(
        {"sid": "s", "role": "host", "sub": "host", "exp": 2**40, "iat": 0}, None, algorithm="none"
    )
    with pytest.raises(TokenError):
        verify_token(SECRET, token)


def test_check_secret_refuses_placeholder_outside_development() -> None:
    check_secret("change-me", "development")
    with pytest.raises(ValueError):
        check_secret("change-me", "production")
    with pytest.raises(ValueError):
        check_secret("short", "production")
    with pytest.raises(ValueError):
        check_secret("", "development")
    check_secret(SECRET, "production")


def test_ids_have_format_and_entropy() -> None:
    made = {ids.new_speedrun_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(ids.is_speedrun_id(i) for i in made)
    assert ids.is_question_set_id(ids.new_question_set_id())
    assert ids.is_participant_id(ids.new_participant_id())
    for bad in ["../x", "qs_" + "A" * 26, "qs_", "qs_" + "a" * 27]:
        assert not ids.is_question_set_id(bad)


def test_completion_message_is_cloudevent() -> None:
    msg = CompletionMessage.for_run("sr_x", "completed", source="speedrun/i1")
    data = msg.model_dump(mode="json")
    assert data["specversion"] == "1.0" and data["data"]["speedrun_id"] == "sr_x"
    assert CompletionMessage.model_validate_json(msg.model_dump_json()) == msg


@given(
    seq=st.integers(min_value=1, max_value=2**53),
    audience=st.sampled_from(["all", "host", "participants", "participant"]),
    pid=st.text(
        alphabet=st.characters(exclude_characters="\t\n", exclude_categories=("Cs",)), max_size=30
    ),
    close=st.sampled_from(["", "kicked", "finished"]),
    frame=st.text(alphabet=st.characters(exclude_characters="\n", exclude_categories=("Cs",))),
)
def test_bus_event_line_round_trips(
    seq: int, audience: str, pid: str, close: str, frame: str
) -> None:
    event = BusEvent.model_validate(
        {"seq": seq, "audience": audience, "participant_id": pid, "close": close, "frame": frame}
    )
    line = event.line()
    assert "\n" not in line
    assert BusEvent.from_line(line) == event
    assert split_event(line) == (seq, audience, pid, frame, close)


def test_bus_event_refuses_what_would_break_its_line() -> None:
    with pytest.raises(ValidationError):
        BusEvent(seq=1, audience="all", frame='{"a":\n1}')
    with pytest.raises(ValidationError):
        BusEvent(seq=1, audience="participant", participant_id="p\t1", frame="{}")


def test_bus_message_reads_lines_and_the_previous_releases_json() -> None:
    # GIVEN the same two events as this release publishes them and as the previous one did
    events = [
        BusEvent(seq=7, audience="participant", participant_id="p_a", frame='{"seq":7}'),
        BusEvent(seq=8, audience="all", close="finished", frame='{"seq":8,"t":"a\\tb"}'),
    ]
    legacy = orjson.dumps(
        [
            {
                "speedrun_id": "sr_x",
                "seq": 7,
                "audience": "participant",
                "participant_id": "p_a",
                "frame": '{"seq":7}',
            },
            {
                "speedrun_id": "sr_x",
                "seq": 8,
                "audience": "all",
                "frame": '{"seq":8,"t":"a\\tb"}',
                "close": "finished",
            },
        ]
    ).decode()
    expected = [
        (7, "participant", "p_a", '{"seq":7}', ""),
        (8, "all", "", events[1].frame, "finished"),
    ]
    # THEN both read the same
    assert read_bus_message(bus_message("sr_x", events)) == ("sr_x", expected)
    assert read_bus_message(legacy) == ("sr_x", expected)
    # AND so do the stream entries of both
    assert stream_event("0-7", {"e": events[0].line()}) == expected[0]
    old = {"a": "all", "p": "", "f": events[1].frame, "c": "finished"}
    assert stream_event("0-8", old) == expected[1]
