"""Opening a speedrun: the answer, the state it leaves in Redis, and bad bodies."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from redis.asyncio import Redis

from speedrun_protocol.ids import is_speedrun_id
from speedrun_protocol.state import (
    RUN_TTL_S,
    RunConfig,
    RunKeys,
    RunQuestion,
    join_code_key,
)
from speedrun_protocol.tokens import verify_token

SECRET = "a-test-secret-that-is-long-enough-0123456789"


async def test_create_returns_code_token_and_join_url(signon) -> None:
    run = await signon.open_run()

    assert is_speedrun_id(str(run["speedrun_id"]))
    code = str(run["join_code"])
    assert len(code) == 6 and code.isdigit()
    assert run["websocket_path"] == "/speedrun"
    assert run["join_url"] == f"https://quiz.example/join?code={code}"
    claims = verify_token(SECRET, str(run["host_token"]))
    assert (claims.sid, claims.role, claims.sub) == (run["speedrun_id"], "host", "host")
    assert claims.exp - claims.iat == RUN_TTL_S


async def test_create_writes_run_state_with_ttl(signon, redis: Redis) -> None:
    run = await signon.open_run(mode="host-paced", time_limit_s=42, max_participants=7)
    keys = RunKeys(str(run["speedrun_id"]))

    config = RunConfig.model_validate_json(await redis.get(keys.config))
    assert config.join_code == run["join_code"]
    assert (config.mode, config.default_time_limit_s, config.max_participants) == (
        "host-paced",
        42,
        7,
    )
    assert config.title == "Capitals" and config.question_count == 4
    assert await redis.hgetall(keys.meta) == {
        "status": "lobby",
        "phase": "lobby",
        "locked": "0",
        "seq": "0",
        "participant_count": "0",
    }
    assert await redis.get(join_code_key(str(run["join_code"]))) == run["speedrun_id"]
    for key in (keys.config, keys.questions, keys.meta, join_code_key(str(run["join_code"]))):
        assert RUN_TTL_S - 60 < await redis.ttl(key) <= RUN_TTL_S


async def test_create_copies_questions_with_default_time_limit(signon, redis: Redis) -> None:
    run = await signon.open_run(time_limit_s=25)
    stored = json.loads(await redis.get(RunKeys(str(run["speedrun_id"])).questions))
    questions = [RunQuestion.model_validate(q) for q in stored]

    assert [q.text for q in questions] == [q.text for q in signon.question_set.questions]
    assert [q.time_limit_s for q in questions] == [10, 15, 30, 25]
    assert questions[2].correct == [0, 1, 3] and questions[2].points == 2000


async def test_create_without_time_limit_uses_20_seconds(signon, redis: Redis) -> None:
    run = await signon.open_run()
    stored = json.loads(await redis.get(RunKeys(str(run["speedrun_id"])).questions))

    assert stored[3]["time_limit_s"] == 20


async def test_create_keeps_its_copy_when_the_set_changes(
    signon, redis: Redis, question_set_dir
) -> None:
    run = await signon.open_run()
    changed = signon.question_set.model_copy(update={"title": "Changed", "questions": []})
    (question_set_dir / f"{signon.question_set.id}.json").write_text(changed.model_dump_json())

    stored = json.loads(await redis.get(RunKeys(str(run["speedrun_id"])).questions))
    assert len(stored) == 4


async def test_create_with_indexes_and_categories_selects_in_order(signon, redis: Redis) -> None:
    run = await signon.open_run(question_indexes=[2, 3, 0], categories=["europe"])
    stored = json.loads(await redis.get(RunKeys(str(run["speedrun_id"])).questions))

    assert [q["source_index"] for q in stored] == [2, 0]
    assert run["question_count"] == 2


async def test_create_with_shuffled_options_keeps_correct_answers(signon, redis: Redis) -> None:
    for _ in range(5):
        run = await signon.open_run(shuffle_options=True, shuffle_questions=True)
        stored = json.loads(await redis.get(RunKeys(str(run["speedrun_id"])).questions))
        for played in map(RunQuestion.model_validate, stored):
            original = signon.question_set.questions[played.source_index]
            assert sorted(played.options) == sorted(original.options)
            assert {played.options[i] for i in played.correct} == {
                original.options[i] for i in original.correct
            }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid_request"),
        ({"mode": "turbo"}, 422, "invalid_request"),
        ({"time_limit_s": 4}, 422, "invalid_request"),
        ({"time_limit_s": 241}, 422, "invalid_request"),
        ({"max_participants": 0}, 422, "invalid_request"),
        ({"surprise": True}, 422, "invalid_request"),
        ({"question_indexes": [9]}, 422, "invalid_selection"),
        ({"question_indexes": [1, 1]}, 422, "invalid_selection"),
        ({"question_indexes": []}, 422, "invalid_request"),
        ({"categories": ["oceania"]}, 422, "invalid_selection"),
        ({"question_set_id": "../../etc/passwd"}, 422, "invalid_request"),
        ({"question_set_id": "qs_" + "a" * 26}, 404, "question_set_not_found"),
    ],
)
async def test_create_with_bad_body_is_refused(
    client: httpx.AsyncClient, question_set, body: dict[str, object], status: int, code: str
) -> None:
    full = {"question_set_id": question_set.id, "mode": "self-paced", **body}
    if body == {}:
        full = {}

    response = await client.post("/signon/speedruns", json=full)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_create_with_malformed_json_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/signon/speedruns", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert set(response.json()) == {"error"}


async def test_create_1000_concurrently_gives_distinct_codes(signon, redis: Redis) -> None:
    runs = await asyncio.gather(*(signon.open_run() for _ in range(1000)))

    codes = {run["join_code"] for run in runs}
    assert len(codes) == 1000
    assert len({run["speedrun_id"] for run in runs}) == 1000
    for run in runs[:50]:
        assert await redis.get(join_code_key(str(run["join_code"]))) == run["speedrun_id"]
