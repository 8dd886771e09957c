"""Connection rules: Origin, hello, tokens, frame limits, roles, kicks and replaced sockets."""

from __future__ import annotations

import aiohttp
import redis
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from speedrun_protocol.frames import (
    MAX_FRAME_BYTES,
    ErrorFrame,
    HelloFrame,
    KickFrame,
    LockChangedFrame,
    LockFrame,
    ParticipantKickedFrame,
    PingFrame,
    PongFrame,
    StartFrame,
)
from speedrun_protocol.ids import new_participant_id, new_speedrun_id
from speedrun_protocol.state import ParticipantRecord, RunKeys
from speedrun_protocol.tokens import issue_token
from speedrun_run.app import build_app
from speedrun_run.client import RunClient
from speedrun_run.engine import Engine
from speedrun_run.scripts import instance_conns_key

SECRET = "test-secret-for-speedrun-engine-0123456789"


async def test_connect_with_bad_origin_is_closed_1008(pair, runs, session) -> None:
    a, _ = pair
    run = runs.create()
    c = RunClient(session, a.ws_url, run.host_token, origin="https://evil.example")
    await c.open()
    await c.send(HelloFrame(token=run.host_token))
    assert await c.closed() == 1008


async def test_connect_without_origin_is_allowed(pair, runs, session) -> None:
    a, _ = pair
    run = runs.create()
    c = RunClient(session, a.ws_url, run.host_token, origin=None)
    welcome = await c.connect()
    assert welcome.role == "host"


async def test_connect_without_hello_times_out_4002(pair, runs, make_client) -> None:
    a, _ = pair
    c = make_client(a, runs.create().host_token)
    await c.open()
    assert await c.closed() == 4002


async def test_connect_with_other_first_frame_is_closed_4003(pair, runs, make_client) -> None:
    a, _ = pair
    c = make_client(a, runs.create().host_token)
    await c.open()
    await c.send(PingFrame())
    assert await c.closed() == 4003
    assert any(isinstance(f, ErrorFrame) and f.code == "not_authenticated" for f in c.received)


async def test_connect_with_forged_token_is_closed_4001(pair, runs, make_client) -> None:
    a, _ = pair
    run = runs.create()
    forged = issue_token("another-secret-another-secret-0123", run.speedrun_id, "host", "host", 60)
    c = make_client(a, forged)
    await c.open()
    await c.send(HelloFrame(token=forged))
    assert await c.closed() == 4001
    assert any(isinstance(f, ErrorFrame) and f.code == "invalid_token" for f in c.received)


async def test_connect_with_expired_token_is_closed_4001(pair, runs, make_client) -> None:
    a, _ = pair
    run = runs.create()
    expired = issue_token(SECRET, run.speedrun_id, "host", "host", 60, now=1_000_000)
    c = make_client(a, expired)
    await c.open()
    await c.send(HelloFrame(token=expired))
    assert await c.closed() == 4001


async def test_connect_to_missing_run_or_as_stranger_is_closed_4001(
    pair, runs, make_client
) -> None:
    a, _ = pair
    run = runs.create()
    for token in (
        issue_token(SECRET, new_speedrun_id(), "host", "host", 60),
        issue_token(SECRET, run.speedrun_id, "participant", new_participant_id(), 60),
    ):
        c = make_client(a, token)
        await c.open()
        await c.send(HelloFrame(token=token))
        assert await c.closed() == 4001


async def test_malformed_and_binary_frames_get_errors_and_keep_the_socket(
    pair, runs, make_client
) -> None:
    a, _ = pair
    c = make_client(a, runs.create().host_token)
    await c.connect()
    await c.send_raw("{not json")
    assert (await c.expect(ErrorFrame)).code == "malformed_json"
    await c.send_raw('{"type": "teleport"}')
    assert (await c.expect(ErrorFrame)).code == "unknown_type"
    await c.send_raw('{"type": "answer", "question_index": -1, "selected": []}')
    assert (await c.expect(ErrorFrame)).code == "invalid_frame"
    await c.send_raw(b"\x00\x01")
    assert (await c.expect(ErrorFrame)).code == "binary_not_supported"
    await c.send(HelloFrame(token="again"))
    assert (await c.expect(ErrorFrame)).code == "already_authenticated"
    await c.send(PingFrame(id=7))
    assert (await c.expect(PongFrame)).id == 7


async def test_oversized_frame_is_closed_1009(pair, runs, make_client) -> None:
    a, _ = pair
    c = make_client(a, runs.create().host_token)
    await c.connect()
    await c.send_raw('{"type":"ping","pad":"' + "x" * MAX_FRAME_BYTES + '"}')
    assert await c.closed() == 1009


async def test_host_command_from_participant_is_forbidden_and_changes_nothing(
    pair, runs, make_client, redis_url
) -> None:
    a, _ = pair
    run = runs.create()
    c = make_client(a, run.participants[run.pids[0]])
    await c.connect()
    for frame in (StartFrame(), LockFrame(locked=True), KickFrame(participant_id=run.pids[1])):
        await c.send(frame)
        error = await c.expect(ErrorFrame)
        assert error.code == "forbidden" and error.ref == frame.type
    meta = redis.Redis.from_url(redis_url, decode_responses=True).hgetall(
        RunKeys(run.speedrun_id).meta
    )
    assert (meta["status"], meta["locked"], meta["participant_count"]) == ("lobby", "0", "2")


async def test_kick_closes_the_participant_4004_and_refuses_them_again(
    pair, runs, make_client, redis_url
) -> None:
    a, b = pair
    run = runs.create()
    ann_id, bob_id = run.pids
    host = make_client(a, run.host_token)
    bob = make_client(b, run.participants[bob_id])
    await host.connect()
    await bob.connect()
    await host.send(KickFrame(participant_id=bob_id))
    kicked = await host.expect(ParticipantKickedFrame)
    assert (kicked.participant_id, kicked.participant_count) == (bob_id, 1)
    assert await bob.closed() == 4004
    again = make_client(a, run.participants[bob_id])
    await again.open()
    await again.send(HelloFrame(token=run.participants[bob_id]))
    assert await again.closed() == 4004
    await host.send(KickFrame(participant_id=bob_id))
    assert (await host.expect(ErrorFrame)).code == "unknown_participant"
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = RunKeys(run.speedrun_id)
    assert ParticipantRecord.model_validate_json(r.hget(keys.participants, bob_id)).kicked
    assert r.zscore(keys.scores, bob_id) is None and r.zscore(keys.scores, ann_id) == 0


async def test_lock_is_broadcast(pair, runs, make_client) -> None:
    a, b = pair
    run = runs.create()
    host = make_client(a, run.host_token)
    ann = make_client(b, run.participants[run.pids[0]])
    await host.connect()
    await ann.connect()
    await host.send(LockFrame(locked=True))
    assert (await ann.expect(LockChangedFrame)).locked is True
    welcome = await make_client(b, run.host_token).connect()
    assert welcome.snapshot.locked is True


async def test_second_connection_of_an_identity_replaces_the_first_4009(
    pair, runs, make_client
) -> None:
    a, b = pair
    run = runs.create()
    token = run.participants[run.pids[0]]
    first = make_client(a, token)
    await first.connect()
    second = make_client(b, token)
    await second.connect()
    assert await first.closed() == 4009
    await second.send(PingFrame(id=1))
    assert (await second.expect(PongFrame)).id == 1


async def test_rate_limit_drops_frames_then_closes_4029(settings, runs, session) -> None:
    app = build_app(
        settings.model_copy(
            update={"rate_limit_per_s": 1.0, "rate_limit_burst": 2, "rate_limit_strikes": 5}
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        c = RunClient(session, str(server.make_url("/speedrun")), runs.create().host_token)
        await c.connect()
        for i in range(10):
            await c.send(PingFrame(id=i))
        assert await c.closed() == 4029
        assert any(isinstance(f, ErrorFrame) and f.code == "rate_limited" for f in c.received)
    finally:
        await server.close()


async def test_healthz_answers_200_with_redis_and_503_without(settings, pair, session) -> None:
    a, _ = pair
    async with session.get(a.server.make_url("/healthz")) as resp:
        assert resp.status == 200
    broken = build_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    server = TestServer(broken, host="127.0.0.1")
    await server.start_server()
    try:
        async with session.get(server.make_url("/healthz")) as resp:
            assert resp.status == 503
            body = await resp.json()
            assert body["error"]["code"] == "unavailable"
        async with session.get(server.make_url("/nowhere")) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
    finally:
        await server.close()


async def test_connect_while_draining_is_refused(pair, runs, session) -> None:
    a, _ = pair
    from speedrun_run.keys import HUB

    a.server.app[HUB].draining = True
    try:
        await RunClient(session, a.ws_url, runs.create().host_token).open()
        raise AssertionError("the upgrade should have been refused")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 503


async def test_an_instance_lists_a_connection_until_it_leaves_and_not_a_replaced_one(
    runs, redis_url
) -> None:
    # GIVEN ann connected through instance i-a: her presence and i-a's list of connections
    # (another instance releases the presences of a dead one from that list) name the socket
    run = runs.create("host-paced", nicknames=("ann",))
    (ann,) = run.pids
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)
    listed, field = instance_conns_key("i-a"), f"{run.speedrun_id}|{ann}"
    presence = RunKeys(run.speedrun_id).presence
    await engine.connect(run.speedrun_id, ann, "i-a|c1")
    assert await client.hget(listed, field) == "i-a|c1"

    # WHEN she connects again and the replaced socket leaves afterwards
    await engine.connect(run.speedrun_id, ann, "i-a|c2")
    await engine.disconnect(run.speedrun_id, ann, "i-a|c1")

    # THEN the new socket stays listed and present
    assert await client.hget(listed, field) == "i-a|c2"
    assert await client.hget(presence, ann) == "i-a|c2"
    # AND once it leaves too, both are gone
    await engine.disconnect(run.speedrun_id, ann, "i-a|c2")
    assert await client.hget(listed, field) is None
    assert await client.hget(presence, ann) is None
    await client.aclose()


def test_server_keeps_idle_connections_as_configured(settings, monkeypatch) -> None:
    """``python -m speedrun_run`` hands aiohttp the keep-alive (150 s unless set): longer than
    the load balancer's idle timeout, see the Terraform consistency tests."""
    from aiohttp import web

    from speedrun_run import __main__ as entry

    served: dict[str, object] = {}
    monkeypatch.setattr(entry, "get_settings", lambda: settings)
    monkeypatch.setattr(entry, "tune_gc", lambda: None)  # not for the test process
    monkeypatch.setattr("asyncio.set_event_loop_policy", lambda policy: None)
    monkeypatch.setattr(web, "run_app", lambda app, **options: served.update(options))
    monkeypatch.setattr("sys.argv", ["speedrun_run", "--port", "8124"])

    entry.main()

    assert served["keepalive_timeout"] == 150
    assert served["port"] == 8124
