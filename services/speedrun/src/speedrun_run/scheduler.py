"""Deadlines and the completion outbox: claimed from Redis by whichever instance polls first.

Both are sorted sets of due items (score = due Unix ms). An instance *claims* due items with one
script that pushes their score a lease into the future and returns them; it then fires each one
and *acks* it (removes it if its score is still the lease it claimed). An instance that dies after
claiming leaves the item to come due again when the lease runs out, and another instance fires it.
Every firing is guarded by the state it changes (a time-out of a question already answered, a
close of a question already closed, a finish of a run already finished change nothing), so an
item fired twice has its effect once.

Deadline items (``speedrun:deadlines``):

* ``a|<run>|<participant>|<q>`` — self-paced: that participant's question ``q`` times out;
* ``q|<run>|<q>`` — host-paced: question ``q`` closes;
* ``g|<run>|<participant>`` — self-paced: that participant has been gone the grace period;
* ``h|<run>`` — the host has been gone the host grace period;
* ``f|<run>`` — every participant is done: finish the run (written with the last answer, so
  the finish happens even if the instance that took that answer dies).

Outbox items (``speedrun:outbox``): a finished run's id; its completion message JSON waits in
``speedrun:outbox:msgs`` and goes to SQS (at least once; the reporter tolerates duplicates).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from speedrun_run.clock import now_ms
from speedrun_run.engine import Engine
from speedrun_run.scripts import (
    DEADLINES_KEY,
    INSTANCES_KEY,
    OUTBOX_KEY,
    OUTBOX_MSGS_KEY,
    Scripts,
    instance_conns_key,
)

logger = logging.getLogger(__name__)

BATCH = 100
"""Items claimed per poll."""
HEARTBEAT_EVERY_MS = 2_000
"""How often an instance says it is alive."""
DEAD_AFTER_MS = 15_000
"""An instance silent this long is dead: another releases its connections' presence."""


class Scheduler:
    """Fires due deadlines and drains the completion outbox, for every instance alike."""

    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        lease_s: float,
        sqs: Any | None = None,
        queue_url: str = "",
        instance_id: str = "",
    ) -> None:
        """Create the scheduler.

        Args:
            engine: The engine that fires deadlines.
            redis: The state store.
            lease_s: Seconds a claimed item waits before another instance may fire it.
            sqs: A boto3 SQS client, or None to leave the outbox alone.
            queue_url: The completion queue.
        """
        self._unreachable = False
        self.engine = engine
        self.redis = redis
        self.scripts: Scripts = engine.scripts
        self.lease_ms = int(lease_s * 1000)
        self.sqs = sqs
        self.queue_url = queue_url
        self.instance_id = instance_id
        self._next_beat = 0

    async def run(self, interval_s: float) -> None:
        """Forever: fire what is due, drain the outbox, sleep a little."""
        while True:
            busy = 0
            try:
                if self.instance_id and now_ms() >= self._next_beat:
                    await self.heartbeat()
                    await self.reap_dead()
                busy = await self.fire_due()
                if self.sqs is not None and self.queue_url:
                    busy += await self.drain_outbox()
            except RedisError as exc:
                # Once per outage, not ten tracebacks a second.
                if not self._unreachable:
                    logger.warning("scheduler cannot reach redis", extra={"error": str(exc)})
                self._unreachable = True
            except Exception:
                logger.exception("scheduler step failed")
            else:
                if self._unreachable:
                    logger.info("scheduler reaches redis again")
                self._unreachable = False
            if busy < BATCH:
                await asyncio.sleep(interval_s)

    async def heartbeat(self) -> None:
        """Say this instance is alive."""
        now = now_ms()
        self._next_beat = now + HEARTBEAT_EVERY_MS
        await self.redis.zadd(INSTANCES_KEY, {self.instance_id: now})

    async def leave(self) -> None:
        """Graceful stop: no longer listed as alive (its sockets are already closed)."""
        await self.redis.zrem(INSTANCES_KEY, self.instance_id)

    async def reap_dead(self, now: int | None = None) -> int:
        """Release the presence of every connection of instances that stopped beating.

        Exactly one instance claims a dead one (``ZREM`` answers 1 once); each presence is released
        only if it still names that connection, which starts grace periods and lets a host-paced
        question close without waiting for participants who are gone.

        Returns:
            How many dead instances this call reaped.
        """
        at = now if now is not None else now_ms()
        dead: list[str] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            INSTANCES_KEY, "-inf", at - DEAD_AFTER_MS
        )
        reaped = 0
        for instance_id in dead:
            if instance_id == self.instance_id or not await self.redis.zrem(
                INSTANCES_KEY, instance_id
            ):
                continue
            key = instance_conns_key(instance_id)
            conns: dict[str, str] = await self.redis.hgetall(key)  # type: ignore[assignment]
            for field, value in conns.items():
                speedrun_id, _, who = field.partition("|")
                await self.engine.disconnect(speedrun_id, who, value, now=at)
            await self.redis.delete(key)
            logger.warning(
                "reaped a dead instance", extra={"instance": instance_id, "connections": len(conns)}
            )
            reaped += 1
        return reaped

    async def _claim(self, key: str, now: int) -> tuple[list[str], int]:
        lease = now + self.lease_ms
        items: list[str] = await self.scripts.claim(keys=[key], args=[now, BATCH, lease])
        return items, lease

    async def fire_due(self, now: int | None = None) -> int:
        """Claim and fire every due deadline; return how many were claimed."""
        at = now if now is not None else now_ms()
        items, lease = await self._claim(DEADLINES_KEY, at)
        for item in items:
            try:
                await self.engine.fire(item, now)
            except RedisError:
                raise
            except Exception:
                # Left leased: it comes due again after the lease and is tried once more.
                logger.exception("deadline failed", extra={"item": item})
                continue
            await self.scripts.ack(keys=[DEADLINES_KEY], args=[item, lease])
        return len(items)

    async def drain_outbox(self) -> int:
        """Send due completion messages to SQS; return how many were claimed."""
        items, lease = await self._claim(OUTBOX_KEY, now_ms())
        loop = asyncio.get_running_loop()
        for speedrun_id in items:
            body = await self.redis.hget(OUTBOX_MSGS_KEY, speedrun_id)
            if body is not None:
                try:
                    send = functools.partial(
                        self.sqs.send_message,  # type: ignore[union-attr]
                        QueueUrl=self.queue_url,
                        MessageBody=body,
                    )
                    await loop.run_in_executor(None, send)
                except Exception:
                    logger.exception("completion not sent", extra={"speedrun_id": speedrun_id})
                    continue
                logger.info("completion sent", extra={"speedrun_id": speedrun_id})
            await self.scripts.ack(keys=[OUTBOX_KEY, OUTBOX_MSGS_KEY], args=[speedrun_id, lease])
        return len(items)
