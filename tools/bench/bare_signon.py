"""The joins' floor: a sign-on that does no work, in sign-on's own frameworks.

A join is a ``POST`` to sign-on (FastAPI on uvicorn), then a WebSocket hello to an instance
(aiohttp). This server answers the same ``POST …/participants`` the way sign-on does it at the
least: FastAPI parses and validates the JSON body, and the answer is a ready response of the real
one's size (a real token's length), with no Redis, no rate limit and no token to sign. Followed by
the bare WebSocket hello (:mod:`tools.bench.bare`), it is the fastest join the two frameworks allow:
the joins figure's ceiling, measured in the same run.

Run as its own process (``python -m tools.bench.bare_signon --port P``), pinned to the servers'
core, served by uvicorn with sign-on's options.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Response, status

from speedrun_protocol.ids import new_participant_id, new_speedrun_id
from speedrun_protocol.state import RUN_TTL_S
from speedrun_protocol.tokens import issue_token
from speedrun_signon.api.routes import JoinCodePath
from speedrun_signon.api.schemas import WEBSOCKET_PATH, JoinRequest, JoinResponse


def _answer() -> bytes:
    """A join's answer as sign-on's, with a real token's length."""
    speedrun_id, participant_id = new_speedrun_id(), new_participant_id()
    answer: str = JoinResponse(
        speedrun_id=speedrun_id,
        participant_id=participant_id,
        participant_token=issue_token(
            "x" * 32, speedrun_id, "participant", participant_id, RUN_TTL_S
        ),
        nickname="p1234",
        websocket_path=WEBSOCKET_PATH,
    ).model_dump_json()
    return answer.encode()


def build_app() -> FastAPI:
    """The app: one route, sign-on's join path with sign-on's path and body types."""
    app = FastAPI()
    answer = _answer()

    @app.post("/signon/speedruns/{join_code}/participants", status_code=status.HTTP_201_CREATED)
    async def join(join_code: JoinCodePath, body: JoinRequest) -> Response:
        return Response(answer, status.HTTP_201_CREATED, media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench.bare_signon")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        build_app(),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
