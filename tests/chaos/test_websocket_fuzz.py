"""WebSocket fuzzing: thousands of frames no client should send, straight at both instances.

Most frames go over sockets that said a valid ``hello`` as participants of a run still in its
lobby: each must be answered by exactly one ``error`` frame (or a ``pong`` for a well-formed
ping), never an ``internal_error``, never a close. The rest open a fresh socket each and send
their garbage first, before any hello: random bytes, binary, invalid UTF-8, frames past the size
limit; each must end in a close with a protocol code. Afterwards both instances answer
``/healthz`` and every Redis key of the run is exactly as it was.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from chaos_stack import Chaos, ChaosSize
from chaos_ws import BINARY, TEXT, HandshakeRefused, LoopThread, RawSocket
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis import Redis

from speedrun_protocol.frames import CLIENT_TYPES, MAX_FRAME_BYTES, decode_server_frame
from speedrun_protocol.state import RunKeys

BATCH = 25
"""Frames per hypothesis example."""
FRESH_SHARE = 10
"""One frame in this many goes to a fresh socket, before any hello."""
PACE_PER_S = 15.0
"""Frames per second per socket after the first burst (the server allows 20 with a burst of 40)."""
BURST = 35
FORBIDDEN_CODES = {"internal_error", "unavailable"}
PRE_HELLO_CLOSES = {1002, 1003, 1007, 1008, 1009, 4001, 4003}


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["type", "token", "last_seq", "question_index", "selected", "participant_id", "locked",
     "id", "protocol_version", "speedrun_id", "seq"]
)  # fmt: skip


@st.composite
def wrongly_typed(draw: st.DrawFn) -> bytes:
    """A known ``type`` with fields of any name and any JSON value (mostly wrong)."""
    frame: dict[str, Any] = {"type": draw(st.sampled_from(sorted(CLIENT_TYPES)))}
    frame.update(draw(st.dictionaries(field_names, json_values, max_size=4)))
    frame["type"] = draw(st.sampled_from(sorted(CLIENT_TYPES)) | st.just(frame["type"]))
    return json.dumps(frame).encode()


def _invalid_utf8(raw: bytes) -> bytes:
    return raw + b"\xc3\x28" if _is_utf8(raw) else raw


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _oversized(size: int) -> bytes:
    return b'{"type":"ping","id":1,"pad":"' + b"x" * size + b'"}'


@dataclass(frozen=True)
class Fuzz:
    """One frame to send: its opcode, payload, and whether it goes to a fresh socket."""

    opcode: int
    payload: bytes
    fresh: bool
    kind: str


def _frames() -> st.SearchStrategy[Fuzz]:
    text = st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        wrongly_typed(),
        st.text(max_size=200).map(str.encode),
    )
    garbage = st.one_of(
        st.tuples(st.just(TEXT), text, st.just("text")),
        st.tuples(st.just(BINARY), st.binary(max_size=200), st.just("binary")),
        st.tuples(st.just(TEXT), st.binary(max_size=200).map(_invalid_utf8), st.just("bad-utf8")),
        st.tuples(
            st.just(TEXT),
            st.integers(MAX_FRAME_BYTES + 1, 4 * MAX_FRAME_BYTES).map(_oversized),
            st.just("oversized"),
        ),
    )
    after_hello = st.one_of(
        st.tuples(st.just(TEXT), text, st.just("text")),
        st.tuples(st.just(BINARY), st.binary(max_size=200), st.just("binary")),
    )
    return st.one_of(
        st.tuples(after_hello, st.just(False)),
        st.tuples(garbage, st.just(True)),
    ).map(lambda pair: Fuzz(pair[0][0], pair[0][1], pair[1], pair[0][2]))


# ---------------------------------------------------------------------------------------------
# The target: a run in its lobby, and participant sockets on both instances
# ---------------------------------------------------------------------------------------------


class Pacer:
    """A client-side token bucket, a little slower than the server's."""

    def __init__(self) -> None:
        self.tokens = float(BURST)
        self.stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(BURST, self.tokens + (now - self.stamp) * PACE_PER_S)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / PACE_PER_S)


@dataclass
class FuzzTally:
    """What came back."""

    sent: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@dataclass
class Target:
    """The fuzzed run and its open sockets."""

    loop: LoopThread
    instances: list[str]
    speedrun_id: str
    sockets: list[tuple[RawSocket, Pacer, asyncio.Lock]]
    tally: FuzzTally = field(default_factory=FuzzTally)
    counter: Iterator[int] = field(default_factory=itertools.count)


def _ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/speedrun"


async def _authenticated(url: str, token: str) -> RawSocket:
    sock = await RawSocket.open(url)
    await sock.send_text(json.dumps({"type": "hello", "token": token}))
    first = await sock.receive()
    if first.opcode != TEXT or json.loads(first.payload)["type"] != "welcome":
        await sock.close()
        raise AssertionError(f"no welcome: {first}")
    return sock


@pytest.fixture
def target(healthy: Chaos, size: ChaosSize) -> Iterator[Target]:
    stack = healthy.stack
    with httpx.Client(base_url=stack.urls.gateway, timeout=30) as http:
        assert stack.sample_set_id is not None
        created = http.post(
            "/signon/speedruns", json={"question_set_id": stack.sample_set_id, "mode": "self-paced"}
        ).json()
        tokens = [
            http.post(
                f"/signon/speedruns/{created['join_code']}/participants",
                json={"nickname": f"fuzz-{i}"},
            ).json()["participant_token"]
            for i in range(size.fuzz_connections)
        ]
    loop = LoopThread()
    instances = [_ws_url(u) for u in stack.urls.instances]

    async def connect() -> list[RawSocket]:
        opened = await asyncio.gather(
            *(_authenticated(instances[i % 2], t) for i, t in enumerate(tokens)),
            return_exceptions=True,
        )
        good = [s for s in opened if isinstance(s, RawSocket)]
        failed = [s for s in opened if not isinstance(s, RawSocket)]
        if failed:
            await asyncio.gather(*(s.close() for s in good))
            raise failed[0]
        return good

    sockets = loop.call(connect())
    try:
        yield Target(
            loop,
            instances,
            created["speedrun_id"],
            [(s, Pacer(), asyncio.Lock()) for s in sockets],
        )
    finally:

        async def close_all() -> None:
            await asyncio.gather(*(s.close() for s in sockets))

        loop.call(close_all(), timeout=30)
        loop.close()


async def _after_hello(target: Target, frame: Fuzz) -> None:
    sock, pacer, lock = target.sockets[next(target.counter) % len(target.sockets)]
    async with lock:
        await pacer.take()
        await sock.send(frame.opcode, frame.payload)
        target.tally.sent += 1
        reply = await sock.receive()
        # Run events (a leaderboard, a rank) may come in between; the answer is error or pong.
        while reply.opcode == TEXT and json.loads(reply.payload)["type"] not in ("error", "pong"):
            target.tally.replies["(run event)"] += 1
            reply = await sock.receive()
    if reply.opcode != TEXT:
        target.tally.closes[str(reply.close_code)] += 1
        target.tally.failures.append(f"{frame.kind} {frame.payload[:80]!r} -> close {reply}")
        return
    decoded = decode_server_frame(reply.payload)
    label = getattr(decoded, "code", decoded.type)
    target.tally.replies[str(label)] += 1
    if decoded.type not in ("error", "pong") or label in FORBIDDEN_CODES:
        target.tally.failures.append(f"{frame.kind} {frame.payload[:80]!r} -> {reply.payload!r}")


async def _fresh(target: Target, frame: Fuzz) -> None:
    url = target.instances[next(target.counter) % 2]
    try:
        sock = await RawSocket.open(url)
    except HandshakeRefused as exc:
        target.tally.failures.append(f"upgrade refused: {exc}")
        return
    try:
        await sock.send(frame.opcode, frame.payload)
        target.tally.sent += 1
        code = await sock.receive_close()
    finally:
        await sock.close()
    target.tally.closes[str(code)] += 1
    # Past the size limit the server closes (1009) without reading the rest of the frame, so
    # its close frame may be lost to the TCP reset: a dropped line is a refusal too.
    if code not in PRE_HELLO_CLOSES and not (frame.kind == "oversized" and code is None):
        target.tally.failures.append(f"fresh {frame.kind} {frame.payload[:80]!r} -> close {code}")


async def _send_batch(target: Target, batch: list[Fuzz]) -> None:
    await asyncio.gather(
        *(_fresh(target, f) if f.fresh else _after_hello(target, f) for f in batch)
    )


def _run_state(redis: Redis, speedrun_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key in RunKeys(speedrun_id).all():
        kind = redis.type(key)
        match kind:
            case "string":
                state[key] = redis.get(key)
            case "hash":
                state[key] = redis.hgetall(key)
            case "zset":
                state[key] = redis.zrange(key, 0, -1, withscores=True)
            case "set":
                state[key] = sorted(redis.smembers(key))
            case "stream":
                state[key] = redis.xrange(key)
            case _:
                state[key] = kind
    return state


def test_fuzzed_frames_get_errors_or_closes_and_change_nothing(
    healthy: Chaos, size: ChaosSize, target: Target, chaos_record: object
) -> None:
    row = chaos_record(  # type: ignore[operator]
        "WebSocket fuzzing", f"{size.fuzz_frames} frames, {size.fuzz_connections} sockets",
        "random/oversized/binary/bad-UTF-8/mistyped",
    )  # fmt: skip
    with Redis.from_url(healthy.redis_direct_url, decode_responses=True) as redis:
        before = _run_state(redis, target.speedrun_id)
        started = time.monotonic()

        @settings(
            max_examples=math.ceil(size.fuzz_frames / BATCH),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(batch=st.lists(_frames(), min_size=BATCH, max_size=BATCH))
        def fuzz(batch: list[Fuzz]) -> None:
            target.loop.call(_send_batch(target, batch))

        fuzz()
        took = time.monotonic() - started
        after = _run_state(redis, target.speedrun_id)
    health = [
        httpx.get(f"{u}/healthz", timeout=5).status_code for u in healthy.stack.urls.instances
    ]
    tally = target.tally
    row.lost, row.duplicated, row.late, row.seconds = 0, 0, 0, round(took, 1)
    row.details = {
        "frames_sent": tally.sent,
        "replies": dict(tally.replies.most_common()),
        "closes": dict(tally.closes.most_common()),
        "failures": tally.failures[:10],
        "state_unchanged": before == after,
        "healthz": health,
    }
    assert tally.sent >= size.fuzz_frames
    assert not tally.failures, tally.failures[:10]
    assert health == [200, 200]
    assert before == after
