"""The Redis batch: the calls of one event-loop turn share one write, each with its reply."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Connection, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from speedrun_redis import RedisBatch
from speedrun_testkit.procs import free_port

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
BUSY_FOR_MS = """
local start = redis.call('TIME')
local function elapsed_ms()
  local now = redis.call('TIME')
  return (now[1] - start[1]) * 1000 + (now[2] - start[2]) / 1000
end
while elapsed_ms() < tonumber(ARGV[1]) do end
return 'done'
"""
FAILS_ON_ZERO = "if ARGV[1] == '0' then return redis.error_reply('zero') end return ARGV[1]"


class CountingConnection(Connection):
    """A connection that counts the writes it sends to Redis."""

    writes = 0

    async def send_packed_command(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingConnection.writes += 1
        return await super().send_packed_command(*args, **kwargs)


@pytest.fixture
async def client(redis_url: str):  # type: ignore[no-untyped-def]
    redis = Redis.from_url(redis_url, decode_responses=True, connection_class=CountingConnection)
    yield redis
    await redis.aclose()


async def test_calls_of_one_turn_share_one_write_and_get_their_own_replies(client) -> None:
    batch = RedisBatch(client)
    incr = client.register_script(INCR_BY)
    await client.delete("n", "h")
    await client.hset("h", mapping={"a": "1", "b": "2"})
    await client.script_load(INCR_BY)
    CountingConnection.writes = 0

    # WHEN 100 callers each run a script and 100 read, all at once
    results = await asyncio.gather(
        *(batch.script(incr, ["n"], [i]) for i in range(1, 101)),
        *(batch.commands(("HGET", "h", "a"), ("HEXISTS", "h", f"x{i}")) for i in range(100)),
    )

    # THEN one write carried them all, in order, each reply parsed as the command's own
    assert CountingConnection.writes == 1
    assert results[:100] == [i * (i + 1) // 2 for i in range(1, 101)]
    assert results[100:] == [["1", False]] * 100
    assert await client.get("n") == "5050"


async def test_calls_made_while_a_batch_is_in_flight_go_together_in_the_next(client) -> None:
    # GIVEN a batch in flight: a script that keeps Redis busy for 0.2 s
    batch = RedisBatch(client)
    busy = client.register_script(BUSY_FOR_MS)
    await client.script_load(BUSY_FOR_MS)
    await client.set("k", "v")
    CountingConnection.writes = 0
    first = asyncio.ensure_future(batch.script(busy, [], [200]))
    await asyncio.sleep(0.05)

    # WHEN three callers ask in three later turns of the event loop, while it is out
    later = []
    for _ in range(3):
        later.append(asyncio.ensure_future(batch.commands(("GET", "k"))))
        await asyncio.sleep(0)

    # THEN they wait for it, then share one write; each has its own reply
    assert await asyncio.gather(first, *later) == ["done", ["v"], ["v"], ["v"]]
    assert CountingConnection.writes == 2


async def test_a_kept_connection_that_redis_dropped_is_replaced(redis_url: str) -> None:
    # GIVEN a client that retries a lost connection once, as the services' clients do, and a
    # batch whose kept connection Redis has closed since its last call
    client = Redis.from_url(
        redis_url,
        decode_responses=True,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    batch = RedisBatch(client)
    await client.set("k", "v")
    assert await batch.commands(("CLIENT", "SETNAME", "kept"), ("GET", "k")) == ["OK", "v"]
    assert await client.client_kill_filter(_type="normal", skipme=True) >= 1

    # WHEN it is called again, THEN the call succeeds, on a fresh connection
    assert await batch.commands(("GET", "k")) == ["v"]
    assert "kept" not in [c.get("name") for c in await client.client_list()]
    await client.aclose()


async def test_an_error_reaches_its_own_caller_only(client) -> None:
    batch = RedisBatch(client)
    picky = client.register_script(FAILS_ON_ZERO)
    await client.hset("h", "a", "1")
    calls = [batch.script(picky, [], [v]) for v in ("1", "0", "2")]
    calls.append(batch.commands(("HGET", "h", "a"), ("INCR", "h")))  # INCR on a hash: WRONGTYPE
    first, refused, third, wrong = await asyncio.gather(*calls, return_exceptions=True)
    assert (first, third) == ("1", "2")
    assert isinstance(refused, ResponseError) and "zero" in str(refused)
    assert isinstance(wrong, ResponseError) and "WRONGTYPE" in str(wrong)


async def test_scripts_are_loaded_again_after_redis_forgets_them(client) -> None:
    batch = RedisBatch(client)
    incr = client.register_script(INCR_BY)
    await client.delete("m")
    assert await batch.script(incr, ["m"], [2]) == 2
    await client.script_flush()
    # NOSCRIPT: loaded again and run once, not twice
    assert await asyncio.gather(batch.script(incr, ["m"], [3]), batch.script(incr, ["m"], [4])) in (
        [5, 9],
        [9, 7],
    )
    assert await client.get("m") == "9"


async def test_a_lost_connection_fails_every_call_of_the_batch() -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), decode_responses=True)
    batch = RedisBatch(dead)
    script = dead.register_script(INCR_BY)
    outcomes = await asyncio.gather(
        batch.script(script, ["n"], [1]), batch.commands(("GET", "n")), return_exceptions=True
    )
    assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
    await dead.aclose()


async def test_a_handed_reply_is_handled_before_the_awaiting_callers_resume(client) -> None:
    # GIVEN calls of one turn: two whose replies are handed to a function, then two awaited
    batch = RedisBatch(client)
    incr = client.register_script(INCR_BY)
    picky = client.register_script(FAILS_ON_ZERO)
    for script in (incr, picky):
        await client.script_load(script.script)  # known to Redis: one round trip, no reload
    await client.delete("n")
    order: list[object] = []

    async def awaited(value: int) -> None:
        order.append(("awaited", await batch.script(incr, ["n"], [value])))

    callers = [asyncio.ensure_future(awaited(1))]
    batch.script_then(incr, ["n"], [10], lambda reply: order.append(("handed", reply)))
    batch.script_then(picky, [], ["0"], lambda reply: order.append(("refused", type(reply))))
    callers.append(asyncio.ensure_future(awaited(100)))
    await asyncio.gather(*callers)
    # THEN each got its own reply (an error as the exception), and the handed ones came first:
    # in the batch's own task, while the awaiting ones were only woken
    assert order == [("handed", 10), ("refused", ResponseError), ("awaited", 11), ("awaited", 111)]


async def test_a_handed_call_of_a_lost_connection_gets_the_error() -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), decode_responses=True, retry=None)
    batch = RedisBatch(dead)
    got: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    batch.script_then(dead.register_script(INCR_BY), ["n"], [1], got.set_result)
    assert isinstance(await asyncio.wait_for(got, 10), RedisConnectionError)
    await dead.aclose()


async def test_a_cancelled_caller_does_not_break_the_others(client) -> None:
    batch = RedisBatch(client)
    await client.set("k", "v")
    gone = asyncio.ensure_future(batch.commands(("GET", "k")))
    kept = asyncio.ensure_future(batch.commands(("GET", "k")))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == ["v"]
    assert gone.cancelled()


async def test_a_redis_that_never_answers_times_out_the_batch_once() -> None:
    # GIVEN a "Redis" that accepts connections and never replies, and a client whose socket
    # timeout is 0.2 s and that does not retry
    release = asyncio.Event()
    handlers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(writer)
        await release.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mute = Redis(host="127.0.0.1", port=port, socket_timeout=0.2, retry=None)
    batch = RedisBatch(mute)
    started = asyncio.get_running_loop().time()
    try:
        # WHEN a batch of many calls is sent
        outcomes = await asyncio.gather(
            *(batch.commands(("GET", f"k{i}")) for i in range(50)), return_exceptions=True
        )
        # THEN every call fails with a timeout after about one timeout (not one per reply)
        assert all(isinstance(o, RedisTimeoutError) for o in outcomes), outcomes[:3]
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        await mute.aclose()
        release.set()
        server.close()
        await server.wait_closed()
        for _ in range(3):
            await asyncio.sleep(0)
        assert all(w.is_closing() for w in handlers)


async def test_calls_behind_a_batch_redis_never_answers_fail_after_its_deadline() -> None:
    # GIVEN a "Redis" that accepts connections and never replies, and a client with no socket
    # timeouts that does not retry; the batch's own deadline is 0.2 s
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mute = Redis(
        host="127.0.0.1", port=port, retry=None, socket_timeout=None, socket_connect_timeout=None
    )
    batch = RedisBatch(mute, timeout_s=0.2)
    started = asyncio.get_running_loop().time()
    try:
        # WHEN a call is in flight and another is made behind it
        first = asyncio.ensure_future(batch.commands(("GET", "a")))
        await asyncio.sleep(0.05)
        behind = asyncio.ensure_future(batch.commands(("GET", "b")))
        outcomes = await asyncio.gather(first, behind, return_exceptions=True)
        # THEN both fail with a timeout, one deadline each, instead of waiting for ever
        assert all(isinstance(o, RedisTimeoutError) for o in outcomes), outcomes
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        release.set()
        server.close()
        await mute.aclose()
