"""Faults an instance must report clearly: a run lost from Redis, a crowd from one address,
and pooled connections that died with a Redis outage."""

from __future__ import annotations

import aiohttp
import redis

from speedrun_protocol.errors import ErrorCode
from speedrun_protocol.frames import ErrorFrame, HelloFrame, QuestionFrame, StartFrame
from speedrun_protocol.state import RunKeys
from speedrun_run.client import RunClient
from speedrun_run.keys import ENGINE

ORIGIN = "http://127.0.0.1:8080"


async def test_run_lost_from_redis_is_reported_to_every_client(
    instances, runs, make_client, redis_url
) -> None:
    a = await instances("i-lost", lost_run_check_s=0.1)
    run = runs.create()
    host = make_client(a, run.host_token)
    player = make_client(a, run.participants[run.pids[0]])
    await host.connect()
    await player.connect()
    # GIVEN a run that lost all its state (a Redis restart without persistence)
    client = redis.Redis.from_url(redis_url)
    client.delete(*RunKeys(run.speedrun_id).all())
    client.close()
    # THEN both are told with run_lost and closed with 4001 (do not retry)
    for c in (host, player):
        error = await c.expect(ErrorFrame)
        assert error.code is ErrorCode.RUN_LOST
        assert await c.closed() == 4001


async def test_answer_after_run_lost_is_run_lost_not_kicked(
    instances, runs, make_client, redis_url
) -> None:
    a = await instances("i-lost2", lost_run_check_s=60)
    run = runs.create()
    host = make_client(a, run.host_token)
    player = make_client(a, run.participants[run.pids[0]])
    await host.connect()
    await player.connect()
    await host.send(StartFrame())
    await player.expect(QuestionFrame)
    client = redis.Redis.from_url(redis_url)
    client.delete(*RunKeys(run.speedrun_id).all())
    client.close()
    await player.send_raw('{"type":"answer","question_index":0,"selected":[0]}')
    error = await player.expect(ErrorFrame)
    assert error.code is ErrorCode.RUN_LOST
    assert await player.closed() == 4001


async def test_sockets_from_one_address_are_limited(instances, runs, session) -> None:
    a = await instances("i-crowd", max_connections_per_address=3)
    run = runs.create()
    open_ = []
    for _ in range(3):
        c = RunClient(session, a.ws_url, run.host_token, origin=ORIGIN)
        await c.open()
        open_.append(c)
    extra = RunClient(session, a.ws_url, run.host_token, origin=ORIGIN)
    await extra.open()
    error = await extra.expect(ErrorFrame)
    assert error.code is ErrorCode.RATE_LIMITED
    assert await extra.closed() == 1008
    # a socket that closes frees its place
    await open_[0].close()
    again = RunClient(session, a.ws_url, run.host_token, origin=ORIGIN)
    await again.open()
    await again.send(HelloFrame(token=run.host_token))
    welcome = await again.recv()
    assert welcome.type == "welcome"
    for c in [*open_[1:], again]:
        await c.close()


async def test_first_hello_after_redis_restart_succeeds(
    instances, runs, make_client, redis_server
) -> None:
    a = await instances("i-restart")
    run = runs.create()
    first = make_client(a, run.host_token)
    await first.connect()
    await first.close()
    # GIVEN Redis restarted (pooled connections are dead) and the run written again
    redis_server.stop()
    redis_server.start()
    fresh = runs.__class__(redis_server.url)
    run = fresh.create()
    fresh.close()
    # THEN the very next hello is served, not answered with `unavailable`
    second = make_client(a, run.host_token)
    welcome = await second.connect()
    assert welcome.role == "host"
    await second.close()


async def test_a_starting_instance_loads_its_scripts(instances, redis_url) -> None:
    # GIVEN a Redis that knows no script
    plain = redis.Redis.from_url(redis_url)
    plain.script_flush()
    # WHEN an instance starts
    a = await instances("i-scripts")
    # THEN every script it runs is in Redis before the first burst of answers needs it
    wanted = [script.sha for script in a.server.app[ENGINE].scripts.every()]
    assert len(wanted) > 10 and all(plain.script_exists(*wanted))
    plain.close()


async def test_an_instance_starts_while_redis_is_down(instances, redis_server) -> None:
    # GIVEN Redis is down
    redis_server.stop()
    try:
        # WHEN an instance starts, THEN it serves (its scripts are loaded when first refused)
        a = await instances("i-no-redis")
        async with (
            aiohttp.ClientSession() as session,
            session.get(a.server.make_url("/healthz")) as resp,
        ):
            assert resp.status == 503  # up, and saying that Redis is not
    finally:
        redis_server.start()
