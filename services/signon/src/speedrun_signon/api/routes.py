"""Sign-on's routes."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Path, Query, Request, Response, status
from redis.exceptions import RedisError

from speedrun_protocol.archive import ResultsResponse
from speedrun_protocol.ids import JOIN_CODE_RE
from speedrun_protocol.questions import DEFAULT_TIME_LIMIT_S
from speedrun_protocol.state import RUN_TTL_S
from speedrun_protocol.tokens import issue_token
from speedrun_signon import exports
from speedrun_signon.api.errors import error_responses
from speedrun_signon.api.schemas import (
    WEBSOCKET_PATH,
    CreateSpeedrunRequest,
    CreateSpeedrunResponse,
    HealthResponse,
    JoinRequest,
    JoinResponse,
    LobbyResponse,
)
from speedrun_signon.deps import (
    ArchiveDep,
    ClaimsDep,
    ClientDep,
    RedisDep,
    RunsDep,
    SettingsDep,
    client_address,
    get_app_settings,
    get_runs,
)
from speedrun_signon.errors import Forbidden, InvalidNickname, RunNotFound, StoreUnavailable
from speedrun_signon.nicknames import NicknameError, normalise_nickname
from speedrun_signon.results import read_results, results_for
from speedrun_signon.selection import choose_questions, load_question_set

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/signon")
health_router = APIRouter()

JoinCodePath = Annotated[
    str, Path(pattern=JOIN_CODE_RE.pattern, description="The run's six-digit join code.")
]


@router.post(
    "/speedruns",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404),
    summary="Open a speedrun",
)
async def create_speedrun(
    body: CreateSpeedrunRequest, settings: SettingsDep, runs: RunsDep
) -> CreateSpeedrunResponse:
    """Open a run of a stored question set and return the host's token and the join code.

    The chosen questions are copied into the run's state, so a later change to the set never
    changes a running game. The run's state expires after 12 hours without activity.
    """
    question_set = await asyncio.to_thread(
        load_question_set, settings.question_set_dir, body.question_set_id
    )
    default_time_limit_s = body.time_limit_s or DEFAULT_TIME_LIMIT_S
    questions = choose_questions(
        question_set,
        question_indexes=body.question_indexes,
        categories=body.categories,
        shuffle_questions=body.shuffle_questions,
        shuffle_options=body.shuffle_options,
        default_time_limit_s=default_time_limit_s,
    )
    config = await runs.create(
        mode=body.mode,
        title=question_set.title,
        question_set_id=question_set.id,
        questions=questions,
        default_time_limit_s=default_time_limit_s,
        max_participants=body.max_participants or settings.default_max_participants,
    )
    return CreateSpeedrunResponse(
        speedrun_id=config.speedrun_id,
        join_code=config.join_code,
        host_token=issue_token(
            settings.token_secret, config.speedrun_id, "host", "host", RUN_TTL_S
        ),
        websocket_path=WEBSOCKET_PATH,
        join_url=f"{settings.public_origin}/join?code={config.join_code}",
        question_count=config.question_count,
        expires_in_s=RUN_TTL_S,
    )


@router.get(
    "/speedruns/{join_code}",
    responses=error_responses(404, 429),
    summary="Lobby information for the join page",
)
async def get_lobby(join_code: JoinCodePath, runs: RunsDep, client: ClientDep) -> LobbyResponse:
    """Public information about the run holding a join code. Unknown codes count towards the
    client's failed-lookup limit."""
    speedrun_id = await runs.resolve(join_code, client)
    lobby = await runs.lobby(speedrun_id)
    if lobby is None:
        raise RunNotFound(join_code)
    return LobbyResponse(
        title=lobby.title,
        mode=lobby.mode,
        status=lobby.status,
        locked=lobby.locked,
        participant_count=lobby.participant_count,
        question_count=lobby.question_count,
    )


@router.post(
    "/speedruns/{join_code}/participants",
    status_code=status.HTTP_201_CREATED,
    response_model=JoinResponse,
    responses=error_responses(404, 409, 410, 423, 429),
    summary="Join a speedrun",
)
async def join_speedrun(join_code: JoinCodePath, body: JoinRequest, request: Request) -> Response:
    """Join the run holding a join code with a nickname; returns the participant's token.

    404 unknown code, 409 nickname taken or run full, 410 run finished, 423 joining locked,
    429 too many unknown codes (or joins to this run) from this address.

    The hot route: it takes what it needs from the request itself rather than as dependencies,
    and returns its response already encoded. FastAPI solves each dependency and validates a
    returned model again before encoding it: together 12 % of sign-on's CPU per join, measured
    in-process (the documented body and response are the same).
    """
    settings = await get_app_settings(request)
    runs = await get_runs(request)
    try:
        nickname = normalise_nickname(body.nickname)
    except NicknameError as exc:
        raise InvalidNickname(str(exc)) from exc
    joined = await runs.join(join_code, nickname, await client_address(request))
    response = JoinResponse(
        speedrun_id=joined.speedrun_id,
        participant_id=joined.participant_id,
        participant_token=issue_token(
            settings.token_secret,
            joined.speedrun_id,
            "participant",
            joined.participant_id,
            RUN_TTL_S,
        ),
        nickname=joined.nickname,
        websocket_path=WEBSOCKET_PATH,
    )
    return Response(
        response.model_dump_json(), status.HTTP_201_CREATED, media_type="application/json"
    )


@router.get(
    "/speedruns/{join_code}/qr.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The join URL as a QR code."},
        **error_responses(404, 429),
    },
    summary="QR code of the join URL",
)
async def join_qr_code(
    join_code: JoinCodePath,
    settings: SettingsDep,
    runs: RunsDep,
    client: ClientDep,
) -> Response:
    """An SVG QR code of the join URL, for the host's lobby screen."""
    await runs.resolve(join_code, client)
    qr = segno.make(f"{settings.public_origin}/join?code={join_code}", error="m")
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=2, xmldecl=False, title="Join code " + join_code)
    return Response(
        buffer.getvalue(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.get(
    "/speedruns/{speedrun_id}/results",
    response_model=ResultsResponse,
    responses={
        200: {
            "description": "JSON results, or a CSV / xlsx download for a host.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **error_responses(401, 403, 404),
    },
    summary="Results of a speedrun",
)
async def get_results(
    speedrun_id: str,
    claims: ClaimsDep,
    redis: RedisDep,
    archive: ArchiveDep,
    format: Annotated[
        Literal["json", "csv", "xlsx"],
        Query(description="json for everyone; csv and xlsx downloads for a host."),
    ] = "json",
) -> Response | ResultsResponse:
    """A run's results, with a host or participant token of that run.

    Served from the archive (DynamoDB) once the run is archived, else built from its live state.
    A host sees everything; a participant sees the leaderboard and their own answers.
    """
    if claims.sid != speedrun_id:
        raise Forbidden("the token is for another speedrun")
    if format != "json" and claims.role != "host":
        raise Forbidden("only the host may download the results")
    results = await read_results(redis, archive, speedrun_id)
    match format:
        case "csv":
            return Response(
                exports.to_csv(results),
                media_type=exports.CSV_MEDIA_TYPE,
                headers=_attachment(speedrun_id, "csv"),
            )
        case "xlsx":
            content = await asyncio.to_thread(exports.to_xlsx, results)
            return Response(
                content,
                media_type=exports.XLSX_MEDIA_TYPE,
                headers=_attachment(speedrun_id, "xlsx"),
            )
        case _:
            return results_for(results, claims)


def _attachment(speedrun_id: str, extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{speedrun_id}-results.{extension}"'}


@health_router.get(
    "/healthz",
    responses={503: error_responses(503)[503]},
    summary="Liveness and Redis reachability",
)
async def healthz(redis: RedisDep) -> HealthResponse:
    """200 when Redis answers PING within two seconds, else 503."""
    try:
        async with asyncio.timeout(2):
            await redis.ping()
    except (TimeoutError, RedisError) as exc:
        raise StoreUnavailable("redis did not answer PING") from exc
    return HealthResponse(status="ok")
