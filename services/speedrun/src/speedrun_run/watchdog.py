"""Detect runs whose state vanished from Redis (a restart that lost its data) and say so.

Redis is the truth; if it comes back empty, a run cannot be half-played from cached config.
Every few seconds each instance checks, in one round trip, that the runs it holds sockets for
still exist; for a lost run it logs an error and tells every client with a ``run_lost`` error
frame and close 4001 (do not retry), instead of leaving them in a run that can no longer move.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from speedrun_protocol.errors import CloseCode, ErrorCode
from speedrun_protocol.frames import ErrorFrame, encode_frame
from speedrun_run.engine import Engine
from speedrun_run.hub import Hub

logger = logging.getLogger(__name__)

RUN_LOST_FRAME = encode_frame(
    ErrorFrame(
        code=ErrorCode.RUN_LOST,
        message="this run's state was lost on the server; it cannot continue",
    )
)


async def check_once(engine: Engine, hub: Hub) -> list[str]:
    """Close every socket of the runs that are gone; return their ids."""
    lost = await engine.lost_runs(list(hub.rooms))
    for speedrun_id in lost:
        engine.forget(speedrun_id)
        room = hub.rooms.get(speedrun_id)
        conns = list(room.conns()) if room is not None else []
        logger.error(
            "run state lost from redis; closing its sockets",
            extra={"speedrun_id": speedrun_id, "sockets": len(conns)},
        )
        for conn in conns:
            conn.send(RUN_LOST_FRAME)
            conn.close_after(CloseCode.INVALID_TOKEN, "run state lost")
    return lost


async def watch_lost_runs(engine: Engine, hub: Hub, interval_s: float) -> None:
    """Forever: every ``interval_s``, check that this instance's runs still exist."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await check_once(engine, hub)
        except (RedisError, OSError):
            # Unreachable is not lost: the scheduler and /healthz report an outage.
            continue
