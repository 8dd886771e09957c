"""Tokens, ids and the queue envelope."""

from __future__ import annotations

import time

import pytest

from speedrun_protocol import ids
from speedrun_protocol.events import CompletionMessage
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
