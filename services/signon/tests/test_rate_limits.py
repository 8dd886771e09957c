"""Rate limits on failed look-ups and on joins, per client address."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from speedrun_signon.app import create_app
from speedrun_signon.config import Settings


def unknown_codes(live: str, count: int) -> list[str]:
    """Codes that are certainly not ``live`` (the only run of the test)."""
    return [f"{i:06d}" for i in range(count + 1) if f"{i:06d}" != live][:count]


async def test_lookup_after_10_unknown_codes_is_429_with_retry_after(signon) -> None:
    run = await signon.open_run()
    for code in unknown_codes(str(run["join_code"]), 10):
        assert (await signon.http.get(f"/signon/speedruns/{code}")).status_code == 404

    response = await signon.http.get(f"/signon/speedruns/{unknown_codes('', 11)[10]}")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_same_unknown_code_retried_counts_once(signon) -> None:
    run = await signon.open_run()
    typo = unknown_codes(str(run["join_code"]), 1)[0]

    statuses = set()
    for _ in range(15):
        statuses.add((await signon.http.get(f"/signon/speedruns/{typo}")).status_code)
        statuses.add((await signon.join(typo, "Ada")).status_code)

    assert statuses == {404}
    assert (await signon.join(run["join_code"], "Ada")).status_code == 201


async def test_limited_address_cannot_join_a_real_code_either(signon) -> None:
    run = await signon.open_run()
    for code in unknown_codes(str(run["join_code"]), 10):
        await signon.join(code, "Guesser")

    response = await signon.join(run["join_code"], "Guesser")

    assert response.status_code == 429


async def test_limited_address_cannot_join_a_code_it_joined_with_before(signon) -> None:
    run = await signon.open_run()
    assert (await signon.join(run["join_code"], "Ada")).status_code == 201
    for code in unknown_codes(str(run["join_code"]), 10):
        await signon.http.get(f"/signon/speedruns/{code}")

    response = await signon.join(run["join_code"], "Grace")

    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_other_address_is_not_limited(signon, client_for) -> None:
    run = await signon.open_run()
    for code in unknown_codes(str(run["join_code"]), 11):
        await signon.http.get(f"/signon/speedruns/{code}")

    async with client_for("203.0.113.9") as other:
        response = await signon.join(run["join_code"], "Innocent", http=other)

    assert response.status_code == 201


async def test_classroom_behind_one_address_joins_within_seconds(signon, client_for) -> None:
    run = await signon.open_run()

    async with client_for("198.51.100.7") as classroom:
        lobby = await asyncio.gather(
            *(classroom.get(f"/signon/speedruns/{run['join_code']}") for _ in range(60))
        )
        joins = await asyncio.gather(
            *(signon.join(run["join_code"], f"Pupil {i}", http=classroom) for i in range(60))
        )
        # A few typos and taken nicknames on the way do not lock the class out.
        for code in unknown_codes(str(run["join_code"]), 3):
            await classroom.get(f"/signon/speedruns/{code}")
        retry = await signon.join(run["join_code"], "Pupil 0", http=classroom)
        late = await signon.join(run["join_code"], "Latecomer", http=classroom)

    assert [r.status_code for r in lobby] == [200] * 60
    assert [r.status_code for r in joins] == [201] * 60
    assert retry.status_code == 409
    assert late.status_code == 201


async def test_joins_per_run_from_one_address_have_a_ceiling(
    settings: Settings, question_set, redis
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"join_limit_per_run": 3}))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=("192.0.2.1", 1))
        async with AsyncClient(transport=transport, base_url="http://signon.test") as http:
            created = await http.post(
                "/signon/speedruns", json={"question_set_id": question_set.id, "mode": "self-paced"}
            )
            code = created.json()["join_code"]
            statuses = [
                (
                    await http.post(
                        f"/signon/speedruns/{code}/participants", json={"nickname": f"Bot {i}"}
                    )
                ).status_code
                for i in range(4)
            ]

    assert statuses == [201, 201, 201, 429]


async def test_joins_in_flight_together_never_overshoot_the_ceiling(
    settings: Settings, question_set, redis
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"join_limit_per_run": 5}))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=("192.0.2.2", 1))
        async with AsyncClient(transport=transport, base_url="http://signon.test") as http:
            created = await http.post(
                "/signon/speedruns", json={"question_set_id": question_set.id, "mode": "self-paced"}
            )
            code = created.json()["join_code"]
            answers = await asyncio.gather(
                *(
                    http.post(f"/signon/speedruns/{code}/participants", json={"nickname": f"B{i}"})
                    for i in range(20)
                )
            )

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 5 + [429] * 15


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected_limited"),
    [
        (0, "198.51.100.1", "127.0.0.1"),
        (1, "10.9.9.9, 198.51.100.1", "198.51.100.1"),
        (2, "10.9.9.9, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
    ],
)
async def test_client_address_behind_trusted_proxies(
    settings: Settings, question_set, redis, hops: int, forwarded: str, expected_limited: str
) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"trusted_proxy_hops": hops}))
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=("127.0.0.1", 1))
        async with AsyncClient(transport=transport, base_url="http://signon.test") as http:
            await http.get("/signon/speedruns/000000", headers={"X-Forwarded-For": forwarded})

    assert await redis.keys("rl:lookup:*") == [f"rl:lookup:{expected_limited}"]
