"""Joining a speedrun: the participant's records, the event, and every refusal."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Connection, Redis

from speedrun_protocol.events import BusEvent, run_channel
from speedrun_protocol.frames import ParticipantJoinedFrame, decode_server_frame
from speedrun_protocol.ids import is_participant_id
from speedrun_protocol.state import RUN_TTL_S, ParticipantRecord, RunKeys, join_code_key
from speedrun_protocol.tokens import verify_token
from speedrun_signon.ratelimit import join_key, lookup_key

SECRET = "a-test-secret-that-is-long-enough-0123456789"


async def test_join_returns_participant_token(signon) -> None:
    run = await signon.open_run()

    response = await signon.join(run["join_code"], "  Ada  ")

    assert response.status_code == 201, response.text
    body = response.json()
    assert is_participant_id(body["participant_id"])
    assert body["nickname"] == "Ada"
    assert body["speedrun_id"] == run["speedrun_id"]
    assert body["websocket_path"] == "/speedrun"
    claims = verify_token(SECRET, body["participant_token"])
    assert (claims.sid, claims.role, claims.sub) == (
        run["speedrun_id"],
        "participant",
        body["participant_id"],
    )


async def test_join_writes_records_with_ttl(signon, redis: Redis) -> None:
    run = await signon.open_run()
    keys = RunKeys(str(run["speedrun_id"]))

    body = (await signon.join(run["join_code"], "\uff21\uff44\uff41")).json()  # fullwidth "Ada"

    pid = body["participant_id"]
    record = ParticipantRecord.model_validate_json(await redis.hget(keys.participants, pid))
    assert (record.participant_id, record.nickname, record.kicked) == (pid, "Ada", False)
    assert await redis.hget(keys.nicks, "ada") == pid
    assert await redis.zscore(keys.scores, pid) == 0
    assert await redis.hget(keys.meta, "participant_count") == "1"
    for key in (keys.participants, keys.nicks, keys.scores, keys.events, keys.meta, keys.config):
        assert RUN_TTL_S - 60 < await redis.ttl(key) <= RUN_TTL_S


async def test_join_emits_participant_joined_event(signon, redis: Redis) -> None:
    run = await signon.open_run()
    keys = RunKeys(str(run["speedrun_id"]))
    pubsub = redis.pubsub()
    await pubsub.subscribe(run_channel(str(run["speedrun_id"])))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation

    first = (await signon.join(run["join_code"], "Ada")).json()
    second = (await signon.join(run["join_code"], "Grace")).json()

    entries = await redis.xrange(keys.events)
    assert [entry_id for entry_id, _ in entries] == ["0-1", "0-2"]
    frame = decode_server_frame(BusEvent.from_line(entries[1][1]["e"]).frame)
    assert frame == ParticipantJoinedFrame(
        seq=2, participant_id=second["participant_id"], nickname="Grace", participant_count=2
    )
    assert BusEvent.from_line(entries[0][1]["e"]).audience == "host"  # participants: lobby views
    assert await redis.hget(keys.meta, "seq") == "2"
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None
    speedrun_id, line = message["data"].split("\n")
    event = BusEvent.from_line(line)
    assert (event.seq, event.audience, speedrun_id) == (1, "host", run["speedrun_id"])
    assert json.loads(event.frame)["participant_id"] == first["participant_id"]
    await pubsub.aclose()


async def test_join_with_taken_nickname_is_409_case_insensitively(signon) -> None:
    run = await signon.open_run()
    await signon.join(run["join_code"], "Ada Lovelace")

    response = await signon.join(run["join_code"], "ADA LOVELACE")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "nickname_taken"


async def test_join_unknown_code_is_404(signon) -> None:
    run = await signon.open_run()
    unknown = "000001" if run["join_code"] == "000000" else "000000"

    response = await signon.join(unknown, "Ada")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"


async def test_join_finished_run_is_410(signon, redis: Redis) -> None:
    run = await signon.open_run()
    await redis.hset(RunKeys(str(run["speedrun_id"])).meta, "status", "finished")

    response = await signon.join(run["join_code"], "Ada")

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "run_finished"


async def test_join_locked_run_is_423(signon, redis: Redis) -> None:
    run = await signon.open_run()
    await redis.hset(RunKeys(str(run["speedrun_id"])).meta, "locked", "1")

    response = await signon.join(run["join_code"], "Ada")

    assert response.status_code == 423
    assert response.json()["error"]["code"] == "joining_locked"


async def test_join_started_self_paced_run_is_allowed(signon, redis: Redis) -> None:
    run = await signon.open_run(mode="self-paced")
    await redis.hset(RunKeys(str(run["speedrun_id"])).meta, mapping={"status": "running"})

    response = await signon.join(run["join_code"], "Late Larry")

    assert response.status_code == 201


async def test_join_full_run_is_409(signon) -> None:
    run = await signon.open_run(max_participants=2)
    assert (await signon.join(run["join_code"], "One")).status_code == 201
    assert (await signon.join(run["join_code"], "Two")).status_code == 201

    response = await signon.join(run["join_code"], "Three")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "run_full"


@pytest.mark.parametrize(
    "nickname",
    [
        "",
        "   ",
        "x" * 21,
        "y" * 201,
        "Ada\u200b",  # zero-width space
        "\u200b\u200b",
        "A\u0000da",
        "Ada\nLovelace",
        "\u3164",  # Hangul filler
        "\u2800\u2800",  # braille blank
        "\u202eAda",  # right-to-left override
        "\u0301\u0301",  # combining marks only
        "admin",
        "The Host",
        "FUCK",
    ],
)
async def test_join_with_invalid_nickname_is_422(signon, nickname: str) -> None:
    run = await signon.open_run()

    response = await signon.join(run["join_code"], nickname)

    assert response.status_code == 422, nickname
    assert response.json()["error"]["code"] in ("invalid_nickname", "invalid_request")


async def test_join_with_nickname_of_20_characters_is_allowed(signon) -> None:
    run = await signon.open_run()

    response = await signon.join(run["join_code"], "  " + "é" * 20 + "  ")

    assert response.status_code == 201
    assert response.json()["nickname"] == "é" * 20


async def test_join_returns_markup_as_text(signon) -> None:
    run = await signon.open_run()

    response = await signon.join(run["join_code"], "<b>Bob</b>")

    assert response.status_code == 201
    assert response.json()["nickname"] == "<b>Bob</b>"


async def test_join_with_bad_body_is_422(signon) -> None:
    run = await signon.open_run()
    url = f"/signon/speedruns/{run['join_code']}/participants"

    for body in ({}, {"nickname": 5}, {"nickname": "Ada", "admin": True}, []):
        response = await signon.http.post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_request"


async def test_join_200_concurrently_gives_200_distinct_participants(signon, redis: Redis) -> None:
    run = await signon.open_run()

    responses = await asyncio.gather(
        *(signon.join(run["join_code"], f"Player {i}") for i in range(200))
    )

    assert [r.status_code for r in responses] == [201] * 200
    bodies = [r.json() for r in responses]
    assert len({b["participant_id"] for b in bodies}) == 200
    assert len({b["nickname"] for b in bodies}) == 200
    keys = RunKeys(str(run["speedrun_id"]))
    assert await redis.hlen(keys.participants) == 200
    assert await redis.hget(keys.meta, "participant_count") == "200"
    assert await redis.xlen(keys.events) == 200
    assert await redis.hget(keys.meta, "seq") == "200"


async def test_joins_at_once_share_redis_round_trips(
    signon, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await signon.open_run()
    await signon.join(run["join_code"], "First")  # the code is known to this process now
    writes = 0
    send = Connection.send_packed_command

    async def counted(self: Connection, *args: object, **kwargs: object) -> None:
        nonlocal writes
        writes += 1
        await send(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "send_packed_command", counted)

    responses = await asyncio.gather(
        *(signon.join(run["join_code"], f"Burst {i}") for i in range(100))
    )

    assert [r.status_code for r in responses] == [201] * 100
    assert writes <= 20, f"{writes} writes to Redis for 100 joins"


async def test_join_same_nickname_concurrently_admits_exactly_one(signon) -> None:
    run = await signon.open_run()

    responses = await asyncio.gather(*(signon.join(run["join_code"], "Twin") for _ in range(50)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 49


async def test_join_concurrently_never_exceeds_max_participants(signon) -> None:
    run = await signon.open_run(max_participants=10)

    responses = await asyncio.gather(
        *(signon.join(run["join_code"], f"Racer {i}") for i in range(40))
    )

    assert sorted(r.status_code for r in responses) == [201] * 10 + [409] * 30


async def test_join_after_code_moves_joins_the_run_holding_it_now(signon, redis: Redis) -> None:
    # GIVEN a code this instance has joined with, which then names another run
    first = await signon.open_run()
    assert (await signon.join(first["join_code"], "Ada")).status_code == 201
    second = await signon.open_run()
    await redis.set(join_code_key(str(first["join_code"])), str(second["speedrun_id"]))

    # WHEN someone joins with it
    response = await signon.join(first["join_code"], "Grace")

    # THEN they join the run the code names now, and the first run is untouched
    assert response.status_code == 201
    assert response.json()["speedrun_id"] == second["speedrun_id"]
    assert await redis.hget(RunKeys(str(second["speedrun_id"])).meta, "participant_count") == "1"
    assert await redis.hget(RunKeys(str(first["speedrun_id"])).meta, "participant_count") == "1"


async def test_join_after_code_expires_is_404_and_counts_as_unknown(signon, redis: Redis) -> None:
    run = await signon.open_run()
    assert (await signon.join(run["join_code"], "Ada")).status_code == 201
    await redis.delete(join_code_key(str(run["join_code"])))

    response = await signon.join(run["join_code"], "Grace")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"
    assert await redis.smembers(lookup_key("127.0.0.1")) == {run["join_code"]}
    assert await redis.hget(RunKeys(str(run["speedrun_id"])).meta, "participant_count") == "1"


async def test_join_counter_lives_for_its_window_and_touches_no_other_limit(
    signon, redis: Redis
) -> None:
    run = await signon.open_run()

    await signon.join(run["join_code"], "Ada")
    await signon.join(run["join_code"], "Grace")

    counter = join_key(str(run["speedrun_id"]), "127.0.0.1")
    assert await redis.get(counter) == "2"
    assert 0 < await redis.ttl(counter) <= 60  # JOIN_WINDOW_S, not the run's TTL
    assert await redis.exists(lookup_key("127.0.0.1")) == 0
