"""The lean client's frame walking, without a network, and against a real aiohttp server."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSMsgType, web

from tools.bench.wsclient import (
    Conn,
    Fleet,
    client_frame,
    connect,
    frame_type,
    int_field,
    parse_cost_ns,
    question_index,
    seq_of,
    server_frame,
)

QUESTION = b'{"seq":42,"type":"question","question":{"question_index":7,"text":"x"}}'


class _Transport:
    """Collects what a connection writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def _upgraded(fleet: Fleet) -> tuple[Conn, _Transport]:
    conn = Conn(fleet, b"")
    transport = _Transport()
    conn.transport = transport  # type: ignore[assignment]
    conn.upgraded = True
    return conn, transport


def test_frame_type_finds_type_without_decoding() -> None:
    assert frame_type(QUESTION, 0, len(QUESTION)) == b"question"
    assert frame_type(b'{"seq":1}', 0, 9) == b""


def test_int_fields_read_seq_and_question_index() -> None:
    assert seq_of(QUESTION, 0, len(QUESTION)) == 42
    assert question_index(QUESTION, 0, len(QUESTION)) == 7
    assert int_field(QUESTION, b'"missing":', 0, len(QUESTION)) == -1


async def test_data_received_counts_frames_split_across_reads() -> None:
    fleet = Fleet()
    conn, _ = _upgraded(fleet)
    big = b'{"seq":1,"type":"welcome","pad":"' + b"y" * 70_000 + b'"}'
    stream = server_frame(QUESTION) + server_frame(big) + server_frame(b'{"type":"rank"}') * 3
    for i in range(0, len(stream), 977):  # reads that cut headers and payloads anywhere
        conn.data_received(stream[i : i + 977])
    assert fleet.counts == {b"question": 1, b"welcome": 1, b"rank": 3}
    assert fleet.average_size("welcome") == len(big)
    assert conn.buf == b""


async def test_data_received_answers_ping_with_masked_pong() -> None:
    fleet = Fleet()
    conn, transport = _upgraded(fleet)
    conn.data_received(server_frame(b"hi", opcode=0x9))
    assert transport.written == [client_frame(b"hi", opcode=0xA)]
    assert fleet.frames == 0


async def test_expect_resolves_on_any_of_several_types() -> None:
    fleet = Fleet()
    conn, _ = _upgraded(fleet)
    waiter = fleet.expect(("answer_accepted", "error"), 3)
    for payload in (b'{"type":"answer_accepted"}', b'{"type":"rank"}', b'{"type":"error"}'):
        conn.data_received(server_frame(payload))
    assert not waiter.done()
    conn.data_received(server_frame(b'{"type":"answer_accepted"}'))
    assert waiter.done()
    assert fleet.errors == ['{"type":"error"}']
    assert fleet.error_counts == {'{"type":"error"}': 1}


def test_client_frame_is_masked_with_the_zero_key() -> None:
    frame = client_frame(b"x" * 300)
    assert frame[0] == 0x81
    assert frame[1] == 0x80 | 126
    assert int.from_bytes(frame[2:4], "big") == 300
    assert frame[4:8] == b"\x00\x00\x00\x00"
    assert frame[8:] == b"x" * 300


async def test_parse_cost_is_measured_per_frame() -> None:
    cost = await parse_cost_ns(QUESTION, frames=800)
    assert 0 < cost < 1_000_000


async def _echo_server() -> tuple[web.AppRunner, int]:
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(f'{{"seq":1,"type":"echo","got":{msg.data}}}')
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def test_connect_talks_to_a_real_aiohttp_server() -> None:
    runner, port = await _echo_server()
    try:
        fleet = Fleet()
        conns = [await connect(fleet, "127.0.0.1", port, "/ws", index=i) for i in range(5)]
        arrived = fleet.expect("echo", 5)
        fleet.write_all(client_frame(b'{"type":"hello"}'))
        await asyncio.wait_for(arrived, 10)
        reply = await asyncio.wait_for(conns[0].request_reply(client_frame(b"[1]"), "echo"), 10)
        assert reply > 0
        assert fleet.counts[b"echo"] == 6
        fleet.close_all()
        await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()


async def test_connect_reports_a_refused_upgrade() -> None:
    app = web.Application()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        fleet = Fleet()
        try:
            await connect(fleet, "127.0.0.1", port, "/nowhere", timeout=5)
        except Exception as exc:
            assert "404" in str(exc)
        else:
            raise AssertionError("the upgrade should have been refused")
        assert fleet.conns == []
    finally:
        await runner.cleanup()


async def test_aiohttp_client_can_read_what_the_bare_server_sends(redis_url: str) -> None:
    from tools.bench.bare import build_app

    runner = web.AppRunner(build_app(redis_url))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/ws"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str('{"type":"hello","size":300}')
            welcome = await ws.receive_str(timeout=5)
            assert len(welcome) == 300
            assert '"type":"welcome"' in welcome
    finally:
        await runner.cleanup()
