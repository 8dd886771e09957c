"""Abandoned runs disappear by themselves, and their join codes are released."""

from __future__ import annotations

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from speedrun_protocol.state import RunKeys, join_code_key
from speedrun_signon.errors import RunNotFound
from speedrun_signon.ratelimit import RateLimits
from speedrun_signon.runs import RunStore
from speedrun_signon.selection import choose_questions
from speedrun_testkit.procs import wait_until


async def test_abandoned_run_expires_and_releases_its_code(
    redis: Redis, redis_url: str, question_set
) -> None:
    limits = RateLimits(
        redis,
        lookup_failure_limit=10,
        lookup_failure_window_s=60,
        join_limit_per_run=10,
        join_window_s=60,
    )
    store = RunStore(redis, limits, ttl_s=1)
    config = await store.create(
        mode="self-paced",
        title="Short-lived",
        question_set_id=question_set.id,
        questions=choose_questions(question_set),
        default_time_limit_s=20,
        max_participants=10,
    )
    await store.join(config.join_code, "Ada", "192.0.2.1")
    keys = [*RunKeys(config.speedrun_id).all(), join_code_key(config.join_code)]
    assert await redis.exists(*keys) == 8  # all but answers and progress, plus the code
    ttls = [await redis.pttl(key) for key in keys]
    assert all(0 < ttl <= 1000 for ttl in ttls if ttl != -2)  # -2: answers, progress (none yet)

    with sync_redis.Redis.from_url(redis_url) as probe:
        wait_until(lambda: probe.exists(*keys) == 0, timeout=10, what="run keys to expire")

    with pytest.raises(RunNotFound):
        await store.resolve(config.join_code, "192.0.2.1")
    assert await store.lobby(config.speedrun_id) is None
    assert await redis.set(join_code_key(config.join_code), "sr_next", nx=True)
