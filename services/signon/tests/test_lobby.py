"""The join page's lobby information and the QR code."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import segno
from redis.asyncio import Redis

from speedrun_protocol.state import RunKeys


async def test_lobby_shows_public_information(signon, redis: Redis) -> None:
    run = await signon.open_run(mode="host-paced")
    await signon.join(run["join_code"], "Ada")
    await signon.join(run["join_code"], "Grace")

    response = await signon.http.get(f"/signon/speedruns/{run['join_code']}")

    assert response.status_code == 200
    assert response.json() == {
        "title": "Capitals",
        "mode": "host-paced",
        "status": "lobby",
        "locked": False,
        "participant_count": 2,
        "question_count": 4,
    }


async def test_lobby_follows_the_engine_state(signon, redis: Redis) -> None:
    run = await signon.open_run()
    await redis.hset(
        RunKeys(str(run["speedrun_id"])).meta, mapping={"status": "running", "locked": "1"}
    )

    body = (await signon.http.get(f"/signon/speedruns/{run['join_code']}")).json()

    assert (body["status"], body["locked"]) == ("running", True)


async def test_lobby_reveals_no_secret(signon) -> None:
    run = await signon.open_run()

    text = (await signon.http.get(f"/signon/speedruns/{run['join_code']}")).text

    assert str(run["speedrun_id"]) not in text
    assert str(run["host_token"]) not in text


async def test_lobby_unknown_code_is_404(signon) -> None:
    run = await signon.open_run()
    unknown = "000001" if run["join_code"] == "000000" else "000000"

    response = await signon.http.get(f"/signon/speedruns/{unknown}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"


async def test_lobby_malformed_code_is_422(client) -> None:
    response = await client.get("/signon/speedruns/12ab56")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_qr_code_is_an_svg_of_the_join_url(signon) -> None:
    run = await signon.open_run()

    code = str(run["join_code"])
    response = await signon.http.get(f"/signon/speedruns/{code}/qr.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.text)
    assert root.tag.endswith("svg")
    assert path_of(response.text) == path_of(qr_svg(f"https://quiz.example/join?code={code}"))
    assert path_of(response.text) != path_of(qr_svg("https://quiz.example/join?code=000000"))


def qr_svg(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
    return buffer.getvalue().decode()


def path_of(svg: str) -> str:
    """The QR modules, drawn as one SVG path."""
    return re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]


async def test_qr_code_of_unknown_code_is_404(signon) -> None:
    run = await signon.open_run()
    unknown = "000001" if run["join_code"] == "000000" else "000000"

    response = await signon.http.get(f"/signon/speedruns/{unknown}/qr.svg")

    assert response.status_code == 404


async def test_unknown_route_answers_the_error_shape(client) -> None:
    response = await client.get("/signon/nothing/here/at/all")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
