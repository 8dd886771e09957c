"""The transport: ``GET /speedrun`` (the WebSocket) and ``GET /healthz``.

A connection's life: Origin check, ``hello`` within the time allowed (token verified locally),
the identity's presence recorded in Redis (an older connection of the same identity is closed with
4009), ``welcome`` with a snapshot, the missed events (on a resume), then frames until either side
closes. A frame's refusal reaches the client as an ``error`` frame from one place, :func:`_report`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time

from aiohttp import WSMsgType, web
from redis.exceptions import RedisError

from speedrun_protocol.errors import CloseCode, ErrorCode, error_body
from speedrun_protocol.frames import (
    HOST_COMMANDS,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    AnswerFrame,
    EndFrame,
    ErrorFrame,
    HelloFrame,
    KickFrame,
    LockFrame,
    NextFrame,
    PingFrame,
    PongFrame,
    ProtocolError,
    RevealFrame,
    StartFrame,
    WelcomeFrame,
    decode_client_frame,
)
from speedrun_protocol.tokens import TokenClaims, TokenError, verify_token
from speedrun_run.bodies import with_seq
from speedrun_run.clock import now_ms
from speedrun_run.config import Settings
from speedrun_run.engine import Engine
from speedrun_run.errors import Contended, Rejected
from speedrun_run.hub import Conn, Hub
from speedrun_run.keys import ENGINE, HUB, SETTINGS
from speedrun_run.views import build_snapshot

logger = logging.getLogger(__name__)


class TokenBucket:
    """A per-connection frame rate limit."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        """Allow ``rate`` frames per second on average, ``burst`` at once."""
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """Take one token; False when there is none."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _error(code: ErrorCode, message: str, ref: str | None = None) -> str:
    return ErrorFrame(code=code, message=message, ref=ref).model_dump_json()


async def _refuse(
    ws: web.WebSocketResponse, code: ErrorCode, message: str, close: CloseCode
) -> web.WebSocketResponse:
    if not ws.closed:
        try:
            await ws.send_str(_error(code, message))
            await ws.close(code=close, message=message[:120].encode())
        except (ConnectionError, RuntimeError):
            pass
    return ws


async def healthz(request: web.Request) -> web.Response:
    """200 when Redis answers, 503 otherwise (the load balancer's view of this instance)."""
    engine = request.app[ENGINE]
    try:
        await asyncio.wait_for(engine.redis.ping(), timeout=2)
    except (RedisError, OSError, TimeoutError):
        return web.json_response(
            error_body("unavailable", "the state store does not answer"), status=503
        )
    return web.json_response({"status": "ok", "instance": engine.instance_id})


def client_address(request: web.Request, trusted_hops: int) -> str:
    """The client's address: ``trusted_hops`` entries from the right of X-Forwarded-For, which
    the trusted proxies in front (the load balancer, CloudFront) append to; else the peer."""
    if trusted_hops > 0:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
    return request.remote or "unknown"


async def speedrun_socket(request: web.Request) -> web.StreamResponse:
    """``GET /speedrun``: one client's WebSocket, counted against its address's limit."""
    settings: Settings = request.app[SETTINGS]
    hub: Hub = request.app[HUB]
    if hub.draining:
        return web.json_response(
            error_body("unavailable", "this instance is shutting down; reconnect"), status=503
        )
    address = client_address(request, settings.trusted_proxy_hops)
    limit = settings.max_connections_per_address
    if limit and hub.per_address[address] >= limit:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        logger.warning("too many sockets from one address", extra={"address": address})
        return await _refuse(
            ws,
            ErrorCode.RATE_LIMITED,
            "too many connections from this address",
            CloseCode.POLICY_VIOLATION,
        )
    hub.per_address[address] += 1
    try:
        return await _socket(request, settings, hub)
    finally:
        hub.per_address[address] -= 1
        if hub.per_address[address] <= 0:
            del hub.per_address[address]


async def _socket(request: web.Request, settings: Settings, hub: Hub) -> web.StreamResponse:
    engine: Engine = request.app[ENGINE]
    ws = web.WebSocketResponse(
        heartbeat=settings.heartbeat_s,
        max_msg_size=MAX_FRAME_BYTES,
        compress=False,
        autoping=True,
    )
    await ws.prepare(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") not in settings.origins:
        return await _refuse(
            ws, ErrorCode.FORBIDDEN, "origin not allowed", CloseCode.POLICY_VIOLATION
        )
    hello = await _read_hello(ws, settings)
    if hello is None:
        return ws
    try:
        claims = verify_token(settings.token_secret, hello.token)
    except TokenError as exc:
        return await _refuse(ws, ErrorCode.INVALID_TOKEN, str(exc), CloseCode.INVALID_TOKEN)
    conn = Conn(
        ws,
        request.transport,
        claims.sid,
        claims.participant_id,
        secrets.token_hex(8),
        settings.send_buffer_max_bytes,
    )
    who = claims.participant_id or "host"
    presence = f"{settings.instance_id}|{conn.conn_id}"
    try:
        await hub.add(conn)
        await _welcome(conn, claims, hello, presence, settings, engine, hub)
        await _serve(conn, claims, settings, engine)
    except Rejected as exc:
        conn.send(_error(exc.code, exc.message))
        conn.close_after(exc.close or CloseCode.PROTOCOL_ERROR, exc.message[:120])
    except (RedisError, OSError):
        logger.warning("state store unavailable", extra={"speedrun_id": claims.sid})
        conn.send(_error(ErrorCode.UNAVAILABLE, "the state store is unavailable; reconnect"))
        conn.close_after(CloseCode.TRY_AGAIN_LATER, "state store unavailable")
    finally:
        await _leave(conn, who, presence, engine, hub)
    return ws


async def _read_hello(ws: web.WebSocketResponse, settings: Settings) -> HelloFrame | None:
    try:
        msg = await ws.receive(timeout=settings.hello_timeout_s)  # no task, unlike wait_for
    except TimeoutError:
        await _refuse(ws, ErrorCode.NOT_AUTHENTICATED, "no hello in time", CloseCode.HELLO_TIMEOUT)
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    frame = decode_client_frame(msg.data if msg.type == WSMsgType.TEXT else bytes(msg.data))
    if isinstance(frame, ProtocolError):
        await _refuse(ws, frame.code, frame.message, CloseCode.PROTOCOL_ERROR)
        return None
    if not isinstance(frame, HelloFrame):
        await _refuse(
            ws,
            ErrorCode.NOT_AUTHENTICATED,
            "the first frame must be hello",
            CloseCode.PROTOCOL_ERROR,
        )
        return None
    if frame.protocol_version != PROTOCOL_VERSION:
        await _refuse(
            ws,
            ErrorCode.UNSUPPORTED_VERSION,
            f"this server speaks protocol {PROTOCOL_VERSION}",
            CloseCode.PROTOCOL_ERROR,
        )
        return None
    return frame


async def _welcome(
    conn: Conn,
    claims: TokenClaims,
    hello: HelloFrame,
    presence: str,
    settings: Settings,
    engine: Engine,
    hub: Hub,
) -> None:
    static = await engine.require_static(claims.sid)
    who = claims.participant_id or "host"
    at = now_ms()
    # One round trip: the connect script and the snapshot's go in one batch. In either order the
    # welcome is right: an event the connect emits is in the snapshot or numbered after it.
    old, view = await asyncio.gather(
        engine.connect(claims.sid, who, presence, at),
        build_snapshot(engine, static, claims.participant_id, at, settings.leaderboard_top),
    )
    if old and old != presence:
        instance_id, _, conn_id = old.partition("|")
        await hub.publish_replace(instance_id, conn_id)
    resumed = hello.last_seq is not None and await hub.replay_possible(
        claims.sid, hello.last_seq, view.seq
    )
    welcome = WelcomeFrame(
        seq=view.seq,
        role=claims.role,
        speedrun_id=claims.sid,
        participant_id=claims.participant_id,
        nickname=engine.nicknames.get(claims.participant_id) if claims.participant_id else None,
        server_time_ms=at,
        resumed=resumed,
        snapshot=view.snapshot,
    )
    if claims.participant_id and welcome.nickname is None:
        names = await engine.nickname_map(claims.sid, [claims.participant_id])
        welcome = welcome.model_copy(update={"nickname": names[claims.participant_id]})
    conn.send(welcome.model_dump_json())  # megabytes for a host of thousands: see Conn.write
    if view.snapshot.status == "finished":
        conn.close_after(CloseCode.NORMAL, "the run is over")
        return
    after = hello.last_seq if resumed and hello.last_seq is not None else view.seq
    await hub.activate(conn, after)
    logger.info(
        "connected",
        extra={
            "speedrun_id": claims.sid,
            "participant_id": claims.participant_id,
            "resumed": resumed,
            "seq": view.seq,
        },
    )


async def _serve(conn: Conn, claims: TokenClaims, settings: Settings, engine: Engine) -> None:
    bucket = TokenBucket(settings.rate_limit_per_s, settings.rate_limit_burst)
    strikes = 0
    async for msg in conn.ws:
        if conn.closing:
            break
        arrived = now_ms()
        if not bucket.take():
            strikes += 1
            if strikes >= settings.rate_limit_strikes:
                conn.send(_error(ErrorCode.RATE_LIMITED, "too many frames"))
                conn.close_after(CloseCode.RATE_LIMITED, "too many frames")
                break
            conn.send(_error(ErrorCode.RATE_LIMITED, "too many frames; this one was dropped"))
            continue
        strikes = 0
        if msg.type == WSMsgType.TEXT:
            await _dispatch(conn, claims, engine, msg.data, arrived)
        elif msg.type == WSMsgType.BINARY:
            conn.send(_error(ErrorCode.BINARY_NOT_SUPPORTED, "binary frames are not supported"))
        else:
            break


async def _dispatch(
    conn: Conn, claims: TokenClaims, engine: Engine, data: str, arrived: int
) -> None:
    """Decode and run one frame; every refusal becomes an error frame (:func:`_report`)."""
    frame = decode_client_frame(data)
    if isinstance(frame, ProtocolError):
        conn.send(frame.to_frame().model_dump_json())
        return
    sid = claims.sid
    if frame.type in HOST_COMMANDS and claims.role != "host":
        conn.send(_error(ErrorCode.FORBIDDEN, "only the host may do this", frame.type))
        return
    try:
        match frame:
            case AnswerFrame():
                if claims.participant_id is None:
                    raise Rejected(ErrorCode.FORBIDDEN, "only participants answer")
                # Host-paced, the socket reads on while Redis takes the answer; the reply
                # (acknowledgement or refusal) is sent as soon as Redis has answered.
                await engine.answer_then(
                    sid, claims.participant_id, frame.question_index, frame.selected, arrived,
                    functools.partial(_answered, conn, claims),
                )  # fmt: skip
            case PingFrame():
                conn.send(PongFrame(id=frame.id, server_time_ms=now_ms()).model_dump_json())
            case HelloFrame():
                raise Rejected(ErrorCode.ALREADY_AUTHENTICATED, "hello was already accepted")
            case StartFrame():
                await engine.start(sid, arrived)
            case NextFrame():
                await engine.next(sid, arrived)
            case RevealFrame():
                await engine.reveal(sid, arrived)
            case KickFrame():
                await engine.kick(sid, frame.participant_id, arrived)
            case LockFrame():
                await engine.lock(sid, frame.locked, arrived)
            case EndFrame():
                await engine.end(sid, arrived)
    except Exception as exc:
        _report(conn, claims, frame.type, exc)


def _answered(conn: Conn, claims: TokenClaims, outcome: str | BaseException) -> None:
    """Send a host-paced answer's reply: its ``answer_accepted`` (a reply, not an event: it
    repeats the last number this socket had), or the error refusing it."""
    if isinstance(outcome, str):
        conn.send(with_seq(conn.seq, outcome))
    elif isinstance(outcome, Exception):
        _report(conn, claims, "answer", outcome)
    # else cancelled: the instance is stopping


def _report(conn: Conn, claims: TokenClaims, ref: str, exc: Exception) -> None:
    """Turn a frame's refusal into its error frame (every refusal goes through here)."""
    sid = claims.sid
    if isinstance(exc, Rejected):
        conn.send(_error(exc.code, exc.message, ref))
        if exc.close is not None:
            conn.close_after(exc.close, exc.message[:120])
    elif isinstance(exc, Contended):
        conn.send(_error(ErrorCode.UNAVAILABLE, "the run is busy; try again", ref))
    elif isinstance(exc, RedisError | OSError):
        # No traceback: under an outage this line repeats for every frame of every socket.
        logger.warning("state store unavailable", extra={"speedrun_id": sid, "ref": ref})
        conn.send(_error(ErrorCode.UNAVAILABLE, "the state store is unavailable", ref))
    else:
        logger.error(
            "frame failed",
            exc_info=exc,
            extra={"speedrun_id": sid, "participant_id": claims.participant_id, "ref": ref},
        )
        conn.send(_error(ErrorCode.INTERNAL_ERROR, "something went wrong", ref))


async def _leave(conn: Conn, who: str, presence: str, engine: Engine, hub: Hub) -> None:
    await hub.remove(conn)
    if not conn.closing:
        conn.close_after(CloseCode.NORMAL, "bye")
    if conn.closer is not None:
        try:
            await asyncio.wait_for(asyncio.shield(conn.closer), timeout=3)
        except (TimeoutError, asyncio.CancelledError):
            conn.closer.cancel()
    try:
        # A no-op unless this connection is still the identity's live one.
        await engine.disconnect(conn.speedrun_id, who, presence)
    except (RedisError, OSError):
        # The presence entry stays until this identity connects again; deadlines still run.
        logger.warning("disconnect not recorded", extra={"speedrun_id": conn.speedrun_id})
