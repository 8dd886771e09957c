"""Results: live from Redis, from the DynamoDB archive once archived, and the exports."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import openpyxl
import pytest
from redis.asyncio import Redis

from speedrun_aws import aws_client, ensure_local_resources
from speedrun_protocol.archive import archive_items, build_archive
from speedrun_protocol.names import LOCAL_ENVIRONMENT
from speedrun_protocol.state import AnswerRecord, ParticipantRecord, RunConfig, RunKeys, RunQuestion
from speedrun_protocol.tokens import issue_token
from speedrun_signon.app import create_app

SECRET = "a-test-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def run_table(aws_env: str) -> str:
    """The run table on the test AWS endpoint (made before the app opens its client)."""
    resources = ensure_local_resources(aws_client("sqs"), aws_client("dynamodb"), LOCAL_ENVIRONMENT)
    return resources.table_name


async def play(signon, redis: Redis) -> dict[str, object]:
    """Open a run, let three players answer, finish it; return the run and the players."""
    run = await signon.open_run()
    players = {}
    for nickname in ("Ada", "Grace", "=cmd|'/c calc'!A1"):
        players[nickname] = (await signon.join(run["join_code"], nickname)).json()
    keys = RunKeys(str(run["speedrun_id"]))
    now = int(time.time() * 1000)

    def answer(nickname: str, index: int, selected: list[int], correct: bool, points: int, ms: int):
        pid = players[nickname]["participant_id"]
        record = AnswerRecord(
            participant_id=pid,
            question_index=index,
            selected=selected,
            correct=correct,
            timed_out=not selected,
            points=points,
            elapsed_ms=ms,
            answered_at_ms=now,
        )
        return f"{pid}:{index}", record.model_dump_json()

    answers = dict(
        [
            answer("Ada", 0, [0], True, 900, 1200),
            answer("Ada", 1, [1], True, 800, 2500),
            answer("Ada", 2, [0, 1, 3], True, 1500, 8000),
            answer("Ada", 3, [1], False, 0, 3000),
            answer("Grace", 0, [1], False, 0, 4000),
            answer("Grace", 1, [], False, 0, 15000),
            answer("=cmd|'/c calc'!A1", 0, [0], True, 950, 700),
        ]
    )
    await redis.hset(keys.answers, mapping=answers)
    scores = {"Ada": 3200, "Grace": 0, "=cmd|'/c calc'!A1": 950}
    await redis.zadd(keys.scores, {players[n]["participant_id"]: s for n, s in scores.items()})
    await redis.hset(
        keys.meta,
        mapping={
            "status": "finished",
            "phase": "finished",
            "started_at_ms": now - 60_000,
            "ended_at_ms": now,
            "end_reason": "completed",
        },
    )
    return {"run": run, "players": players}


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_results_for_host_from_live_state(signon, redis: Redis) -> None:
    game = await play(signon, redis)
    run = game["run"]

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results", headers=bearer(run["host_token"])
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "live"
    assert body["run"]["end_reason"] == "completed"
    assert [(e["nickname"], e["score"], e["rank"]) for e in body["leaderboard"]] == [
        ("Ada", 3200, 1),
        ("=cmd|'/c calc'!A1", 950, 2),
        ("Grace", 0, 3),
    ]
    assert len(body["participants"]) == 3
    ada = body["participants"][0]
    assert ada["correct_count"] == 3 and len(ada["answers"]) == 4
    assert [q["correct"] for q in body["questions"]] == [2, 1, 1, 0]
    assert body["questions"][1]["timed_out"] == 1


async def test_results_for_participant_show_leaderboard_and_own_answers(signon, redis) -> None:
    game = await play(signon, redis)
    run, grace = game["run"], game["players"]["Grace"]

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results",
        headers=bearer(grace["participant_token"]),
    )

    body = response.json()
    assert response.status_code == 200
    assert len(body["leaderboard"]) == 3
    assert [p["nickname"] for p in body["participants"]] == ["Grace"]
    assert body["questions"] == []


async def test_results_of_a_running_run_read_as_of_now(signon, redis) -> None:
    run = await signon.open_run()
    await signon.join(run["join_code"], "Ada")

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results", headers=bearer(run["host_token"])
    )

    assert response.status_code == 200
    assert [e["score"] for e in response.json()["leaderboard"]] == [0]


async def test_results_from_archive_survive_redis_flush(signon, redis: Redis, run_table) -> None:
    game = await play(signon, redis)
    run = game["run"]
    keys = RunKeys(str(run["speedrun_id"]))
    archive = build_archive(
        RunConfig.model_validate_json(await redis.get(keys.config)),
        [RunQuestion.model_validate(q) for q in json.loads(await redis.get(keys.questions))],
        await redis.hgetall(keys.meta),
        [ParticipantRecord.model_validate_json(p) for p in await redis.hvals(keys.participants)],
        [AnswerRecord.model_validate_json(a) for a in await redis.hvals(keys.answers)],
        dict(await redis.zrange(keys.scores, 0, -1, withscores=True)),
    )
    live = (
        await signon.http.get(
            f"/signon/speedruns/{run['speedrun_id']}/results", headers=bearer(run["host_token"])
        )
    ).json()
    table = aws_client("dynamodb")
    for item in archive_items(*archive):
        table.put_item(TableName=run_table, Item={k: {"S": v} for k, v in item.items()})
    await redis.flushdb()

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results", headers=bearer(run["host_token"])
    )

    assert response.status_code == 200
    archived = response.json()
    assert archived["source"] == "archive"
    assert {**archived, "source": "live"} == live


async def test_results_of_unknown_run_is_404(signon) -> None:
    token = issue_token(SECRET, "sr_" + "a" * 26, "host", "host", 60)

    response = await signon.http.get(
        f"/signon/speedruns/sr_{'a' * 26}/results", headers=bearer(token)
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("not-a-jwt", 401),
        ("forged", 401),
        ("expired", 401),
        ("other-run", 403),
    ],
)
async def test_results_with_bad_token_is_refused(signon, token, status: int) -> None:
    run = await signon.open_run()
    sid = str(run["speedrun_id"])
    tokens = {
        "not-a-jwt": "not-a-jwt",
        "forged": issue_token("another-secret-of-sufficient-length-000", sid, "host", "host", 60),
        "expired": issue_token(SECRET, sid, "host", "host", 60, now=time.time() - 3600),
        "other-run": issue_token(SECRET, "sr_" + "b" * 26, "host", "host", 60),
    }
    headers = bearer(tokens[token]) if token else {}

    response = await signon.http.get(f"/signon/speedruns/{sid}/results", headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] in ("not_authenticated", "forbidden")
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_results_csv_holds_one_row_per_participant(signon, redis) -> None:
    game = await play(signon, redis)
    run = game["run"]

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results?format=csv",
        headers=bearer(run["host_token"]),
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["rank", "nickname", "score", "correct answers", "kicked"]
    assert rows[0][5:9] == ["Q1 answer", "Q1 correct", "Q1 points", "Q1 time ms"]
    assert len(rows[0]) == 5 + 4 * 4
    assert [r[:4] for r in rows[1:]] == [
        ["1", "Ada", "3200", "3"],
        ["2", "'=cmd|'/c calc'!A1", "950", "1"],
        ["3", "Grace", "0", "0"],
    ]
    ada, grace = rows[1], rows[3]
    assert ada[5:9] == ["Paris", "yes", "900", "1200"]
    assert ada[13:17] == ["Rome | Milan | Turin", "yes", "1500", "8000"]
    assert grace[9:13] == ["", "timed out", "0", ""]
    assert grace[13:17] == ["", "", "0", ""]


async def test_results_xlsx_opens_with_openpyxl(signon, redis) -> None:
    game = await play(signon, redis)
    run = game["run"]

    response = await signon.http.get(
        f"/signon/speedruns/{run['speedrun_id']}/results?format=xlsx",
        headers=bearer(run["host_token"]),
    )

    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = workbook["Participants"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:4] == (1, "Ada", 3200, 3)
    assert rows[1][5:9] == ("Paris", "yes", 900, 1200)
    assert rows[2][1] == "=cmd|'/c calc'!A1"
    assert sheet.cell(row=3, column=2).data_type == "s"  # text, not a formula
    stats = list(workbook["Questions"].iter_rows(values_only=True))
    assert stats[1][:6] == (1, "Capital of France?", "Paris", 3, 0, 2)


async def test_results_export_by_participant_is_403(signon, redis) -> None:
    game = await play(signon, redis)
    run, ada = game["run"], game["players"]["Ada"]

    for fmt in ("csv", "xlsx"):
        response = await signon.http.get(
            f"/signon/speedruns/{run['speedrun_id']}/results?format={fmt}",
            headers=bearer(ada["participant_token"]),
        )
        assert response.status_code == 403


async def test_results_without_the_archive_table_fall_back_to_live(
    settings, question_set, redis: Redis
) -> None:
    app = create_app(settings.model_copy(update={"run_table_name": "speedrun-missing-runs"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://signon.test") as http:
            run = (
                await http.post(
                    "/signon/speedruns",
                    json={"question_set_id": question_set.id, "mode": "self-paced"},
                )
            ).json()
            live = await http.get(
                f"/signon/speedruns/{run['speedrun_id']}/results",
                headers=bearer(run["host_token"]),
            )
            await redis.flushdb()
            gone = await http.get(
                f"/signon/speedruns/{run['speedrun_id']}/results",
                headers=bearer(run["host_token"]),
            )

    assert (live.status_code, live.json()["source"]) == (200, "live")
    assert gone.status_code == 503
    assert gone.json()["error"]["code"] == "unavailable"
