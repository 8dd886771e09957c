"""Fan-out details: slow consumers, coalesced leaderboards with bounded calls, grace periods."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import orjson
import pytest
import redis
from aiohttp import web
from redis.asyncio import Redis

from speedrun_protocol.errors import CloseCode
from speedrun_protocol.events import BusEvent, bus_message
from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    HelloFrame,
    LeaderboardFrame,
    LobbyFrame,
    OwnStanding,
    ParticipantConnectionFrame,
    ParticipantFinishedFrame,
    ParticipantJoinedFrame,
    QuestionFrame,
    RunFinishedFrame,
    StartFrame,
    WelcomeFrame,
    decode_server_frame,
)
from speedrun_protocol.state import (
    AnswerRecord,
    ParticipantProgress,
    ParticipantRecord,
    RunKeys,
)
from speedrun_redis import RedisBatch
from speedrun_run import hub as hub_module
from speedrun_run import views as views_module
from speedrun_run.app import build_app
from speedrun_run.client import RunClient
from speedrun_run.config import Settings
from speedrun_run.engine import Engine
from speedrun_run.hub import Conn, Hub, Room, ws_frame
from speedrun_run.keys import HUB
from speedrun_run.leaderboard import FULL_PACE_UP_TO, send_moved, update_due, update_room
from speedrun_testkit import free_port


class StuckSocket:
    """A socket whose peer never reads: the close frame never gets out."""

    def __init__(self) -> None:
        self.closed = False
        self.close_codes: list[int] = []

    async def close(self, code: int, message: bytes) -> None:
        self.close_codes.append(code)
        await asyncio.Event().wait()


class Transport:
    """A transport that records what is written; when the peer stops reading, it piles up."""

    def __init__(self) -> None:
        self.aborted = False
        self.reading = True
        self.written: list[bytes] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if not self.reading:
            self.buffered += len(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def fake_conn(speedrun_id: str, pid: str | None, max_buffer: int = 1 << 20) -> Conn:
    conn = Conn(StuckSocket(), Transport(), speedrun_id, pid, f"c-{pid}", max_buffer)  # type: ignore[arg-type]
    conn.active = True
    return conn


def frame_of(data: bytes) -> LeaderboardFrame:
    """Decode one server WebSocket frame (unmasked) holding a leaderboard frame."""
    size, start = data[1] & 0x7F, 2
    if size == 126:
        size, start = int.from_bytes(data[2:4], "big"), 4
    assert len(data) == start + size, "one frame"
    frame = decode_server_frame(data[start:])
    assert isinstance(frame, LeaderboardFrame)
    return frame


def written(conn: Conn) -> list[bytes]:
    return conn.transport.written  # type: ignore[no-any-return]


async def until(predicate: Any, timeout: float = 2) -> None:
    async def poll() -> None:
        while not predicate():  # noqa: ASYNC110 - polling a plain attribute of a stub
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_ws_frame_is_the_server_wire_format_at_every_length() -> None:
    for size in (0, 125, 126, 65535, 65536):
        text = "x" * size
        data = ws_frame(text)
        header = {0: 2, 125: 2, 126: 4, 65535: 4, 65536: 10}[size]
        assert data[0] == 0x81  # FIN, text, no compression
        assert data[1] & 0x80 == 0  # a server never masks
        assert data[header:] == text.encode()
        length = data[1] & 0x7F
        if header == 4:
            length = int.from_bytes(data[2:4], "big")
        elif header == 10:
            length = int.from_bytes(data[2:10], "big")
        assert length == size


async def test_slow_consumer_is_closed_4008_and_cut_when_stuck(monkeypatch) -> None:
    monkeypatch.setattr(hub_module, "CUT_AFTER_S", 0.05)
    conn = fake_conn("sr_x", "p_x", max_buffer=100)
    conn.transport.reading = False  # type: ignore[attr-defined]
    for i in range(1, 20):
        assert conn.takes(i)
        conn.write(ws_frame(f'{{"seq":{i},"type":"x","pad":"{"y" * 20}"}}'))
    # the writes stopped once the peer had more than 100 bytes unread beyond the first frame
    # (written when it had taken everything before), and a 4008 close began
    assert conn.closing
    sent = len(written(conn))
    sizes = [len(d) for d in written(conn)]
    assert sum(sizes[:-1]) <= 100 + sizes[0] < sum(sizes) and sent < 19
    await until(lambda: conn.ws.close_codes == [CloseCode.SLOW_CONSUMER])  # type: ignore[attr-defined]
    # the close frame cannot get out either: the connection is cut
    await until(lambda: conn.transport.aborted)
    conn.write(ws_frame("{}"))  # nothing more is written to a closing socket
    assert len(written(conn)) == sent
    assert conn.closer is not None
    conn.closer.cancel()


async def test_a_socket_going_live_catches_up_from_memory_without_reading_redis() -> None:
    # GIVEN a hub on a Redis that is not there (any read would fail) whose listener has
    # delivered events 1 to 5 of a run to various audiences
    dead = Redis(host="127.0.0.1", port=free_port())
    hub = Hub(dead, RedisBatch(dead), "i-t", replay_limit=100)
    room = hub.rooms["sr_x"] = Room("sr_x")
    events = [(1, "all", ""), (2, "host", ""), (3, "participant", "p_a"), (4, "participant", "p_b")]
    for seq, audience, pid in [*events, (5, "participants", "")]:
        hub._deliver(room, seq, audience, pid, f'{{"seq":{seq},"type":"x"}}', "")

    # WHEN a participant whose snapshot was at seq 1 goes live
    conn = fake_conn("sr_x", "p_a")
    conn.active = False
    room.pending.add(conn)
    await hub.activate(conn, after=1)

    # THEN it got exactly what it missed of its own audience, in order, and is live at seq 5
    assert written(conn) == [ws_frame('{"seq":3,"type":"x"}'), ws_frame('{"seq":5,"type":"x"}')]
    assert conn.active and conn.seq == 5 and room.participants["p_a"] is conn
    assert not room.pending
    await dead.aclose()


async def test_a_sockets_frames_of_one_turn_are_one_write_and_a_close_comes_after() -> None:
    # GIVEN a hub (no Redis needed: the events arrive in order) holding a host and two players
    dead = Redis(host="127.0.0.1", port=free_port())
    hub = Hub(dead, RedisBatch(dead), "i-t", replay_limit=100)
    room = hub.rooms["sr_x"] = Room("sr_x", last_seq=0)
    host, ada, bob = fake_conn("sr_x", None), fake_conn("sr_x", "p_a"), fake_conn("sr_x", "p_b")
    room.hosts.add(host)
    room.participants.update({"p_a": ada, "p_b": bob})

    def event(seq: int, audience: str, pid: str = "", close: str = "") -> BusEvent:
        frame = f'{{"seq":{seq},"type":"x"}}'
        return BusEvent(seq=seq, audience=audience, participant_id=pid, close=close, frame=frame)

    # WHEN one script's events arrive as one message: Ada's result and next question, a view
    # of her for the host; then a message whose event closes every socket, as a process of the
    # previous release publishes it (a JSON array: a rolling deploy runs both)
    first = [event(1, "participant", "p_a"), event(2, "host"), event(3, "participant", "p_a")]
    await hub._on_message("sr:{sr_x}:bus", bus_message("sr_x", first))
    legacy = {"speedrun_id": "sr_x", **event(4, "all", close="finished").model_dump()}
    await hub._on_message("sr:{sr_x}:bus", orjson.dumps([legacy]).decode())

    # THEN each socket's frames were held to the next write (at the latest, the end of the
    # loop turn) and went out in one write, in order: Ada's two, the host's own, none of
    # Ada's to Bob
    frame = [ws_frame(f'{{"seq":{i},"type":"x"}}') for i in range(5)]
    assert written(ada) == [frame[1] + frame[3] + frame[4]]
    assert written(host) == [frame[2] + frame[4]]
    assert written(bob) == [frame[4]]
    # and the closing event's frame reached everyone before their sockets began to close
    assert [written(c)[-1][-len(frame[4]) :] for c in (host, ada, bob)] == [frame[4]] * 3
    assert all(c.closing for c in (host, ada, bob))
    assert (ada.seq, bob.seq, host.seq, room.last_seq) == (4, 4, 4, 4)
    await until(lambda: all(c.ws.close_codes == [CloseCode.NORMAL] for c in (host, ada, bob)))  # type: ignore[attr-defined]
    for conn in (host, ada, bob):
        assert conn.closer is not None
        conn.closer.cancel()


async def test_a_hosts_frames_of_one_loop_turn_go_out_in_one_write_in_order() -> None:
    host = fake_conn("sr_x", None)
    host.write_soon(b"a")
    host.write_soon(b"b")
    assert written(host) == []
    await asyncio.sleep(0)  # the end of the turn
    assert written(host) == [b"ab"]
    host.write_soon(b"c")
    host.write(b"d")  # any other write goes after what is held
    await asyncio.sleep(0)
    assert written(host) == [b"ab", b"cd"]
    host.write_soon(b"e")
    host.close_after(CloseCode.NORMAL, "bye")  # closing writes what is held first
    assert written(host)[-1] == b"e"
    assert host.closer is not None
    host.closer.cancel()


async def test_leaderboard_update_costs_two_commands_and_ranks_only_on_change(
    redis_url, runs
) -> None:
    # GIVEN a running run with 40 participants on three distinct scores, all connected here
    run = runs.create("self-paced", nicknames=tuple(f"n{i}" for i in range(40)))
    keys = RunKeys(run.speedrun_id)
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    sync.hset(keys.meta, "status", "running")
    for i, pid in enumerate(run.pids):
        sync.zadd(keys.scores, {pid: (i % 3) * 1000})
    client = Redis.from_url(redis_url, decode_responses=True, protocol=2)  # as the app
    engine = Engine(client, "i-t", 30, 600)
    room = Room(run.speedrun_id)
    room.last_seq = 40
    for pid in run.pids:
        room.participants[pid] = fake_conn(run.speedrun_id, pid)
    host = fake_conn(run.speedrun_id, None)
    room.hosts.add(host)
    sync.config_resetstat()

    # WHEN one update runs
    await update_room(engine, room, top=10)

    # THEN it cost one read of the meta and one of the whole board, whatever the scores
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in sync.info("commandstats").items()}
    assert calls.get("zrevrange") == 1
    assert calls.get("hmget") == 2  # the meta, and the top's nicknames (cached from then on)
    assert not {"zcount", "zmscore", "zrevrank", "zscore"} & set(calls)
    (board,) = written(host)
    host_view = frame_of(board)
    assert (host_view.seq, host_view.participant_count, host_view.own) == (40, 40, None)
    assert room.participants[run.pids[2]].rank == (1, 2000)
    assert room.participants[run.pids[0]].rank == (27, 0)
    # everyone got the board with their own standing, one frame each (equal standings, one
    # encoded frame)
    rank_of = {2000: 1, 1000: 14, 0: 27}  # 13 players on 2,000 points, 13 on 1,000, 14 on 0
    for i, conn in enumerate(room.participants.values()):
        (data,) = written(conn)
        view = frame_of(data)
        score = (i % 3) * 1000
        assert view.top == host_view.top
        assert view.own == OwnStanding(rank=rank_of[score], score=score)
    assert written(room.participants[run.pids[1]])[0] is written(room.participants[run.pids[4]])[0]

    # AND a second update with nothing changed sends the very same board to all, no standings
    await update_room(engine, room, top=10)
    assert all(written(c)[1] is written(host)[-1] for c in room.participants.values())
    sync.zincrby(keys.scores, 5000, run.pids[0])
    await update_room(engine, room, top=10)
    last = frame_of(written(room.participants[run.pids[0]])[2])
    assert last.own == OwnStanding(rank=1, score=5000)
    assert room.participants[run.pids[0]].rank == (1, 5000)
    await client.aclose()
    sync.close()


async def test_a_large_run_gets_its_leaderboard_less_often_and_stays_due(runs, redis_url) -> None:
    # GIVEN two running runs, one of 10,000 participants (as counted) and one of 2, both dirty,
    # each with a socket here
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    client = Redis.from_url(redis_url, decode_responses=True, protocol=2)  # as the app
    hub = Hub(client, RedisBatch(client), "i-t", replay_limit=100)
    engine = Engine(client, "i-t", 30, 600)
    rooms = {}
    for count in (10_000, 2):
        run = runs.create("self-paced")
        sync.hset(RunKeys(run.speedrun_id).meta, mapping={"status": "running"})
        sync.hset(RunKeys(run.speedrun_id).meta, "participant_count", count)
        room = hub.rooms[run.speedrun_id] = Room(run.speedrun_id, last_seq=1)
        room.participants[run.pids[0]] = fake_conn(run.speedrun_id, run.pids[0])
        rooms[count] = room
    interval = 0.5
    loop = asyncio.get_running_loop()

    async def tick() -> dict[int, int]:
        hub.dirty |= set(hub.rooms)
        await update_due(engine, hub, interval, top=10)
        return {n: len(written(next(iter(r.participants.values())))) for n, r in rooms.items()}

    # WHEN both are updated: the small one is due again at the next tick, the large one after
    # interval x 10,000 / FULL_PACE_UP_TO (each half a tick early against jitter; the test moves
    # the clock by clearing the due times)
    pace = interval * 10_000 / FULL_PACE_UP_TO
    before = loop.time()
    assert await tick() == {10_000: 1, 2: 1}
    assert rooms[2].board_due - before < interval
    assert pace - interval < rooms[10_000].board_due - before < pace
    # THEN at a tick before it is due the large run gets nothing and stays dirty
    rooms[2].board_due = 0.0
    assert await tick() == {10_000: 1, 2: 2}
    assert rooms[10_000].speedrun_id in hub.dirty
    # and once due it is updated
    rooms[10_000].board_due = rooms[2].board_due = 0.0
    assert await tick() == {10_000: 2, 2: 3}
    await client.aclose()
    sync.close()


@pytest.mark.parametrize("mode", ["host-paced", "self-paced"])
async def test_a_host_paced_board_waits_until_the_reveals_results_are_out(
    runs, redis_url, mode
) -> None:
    # GIVEN a running run with a participant here, whose result the listener has just passed on
    run = runs.create(mode)
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    sync.hset(RunKeys(run.speedrun_id).meta, mapping={"status": "running", "participant_count": 1})
    client = Redis.from_url(redis_url, decode_responses=True, protocol=2)  # as the app
    hub = Hub(client, RedisBatch(client), "i-t", replay_limit=100)
    engine = Engine(client, "i-t", 30, 600)
    room = hub.rooms[run.speedrun_id] = Room(run.speedrun_id, last_seq=1)
    pid = run.pids[0]
    player = room.participants[pid] = fake_conn(run.speedrun_id, pid)
    result = '{"seq":2,"type":"answer_result"}'
    hub._deliver(room, 2, "participant", pid, result, "")
    assert written(player) == [] and run.speedrun_id in hub.dirty
    await asyncio.sleep(0)  # the result is written at the end of the loop turn
    interval = 0.5

    def boards() -> int:
        return sum(b'"leaderboard"' in data for data in written(player))

    # WHEN the leaderboard ticks at once
    await update_due(engine, hub, interval, top=10)

    # THEN host-paced: no board yet (results may still be coming), the run stays dirty; and once
    # no result has come for half an interval the board goes out. Self-paced: at once.
    if mode == "host-paced":
        assert boards() == 0 and run.speedrun_id in hub.dirty
        room.results_at -= interval / 2
        await update_due(engine, hub, interval, top=10)
    assert boards() == 1 and run.speedrun_id not in hub.dirty
    await client.aclose()
    sync.close()


async def test_the_first_sockets_of_a_run_share_one_read_of_its_questions(runs, redis_url) -> None:
    run = runs.create("self-paced")
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    client = Redis.from_url(redis_url, decode_responses=True, protocol=2)  # as the app
    engine = Engine(client, "i-t", 30, 600)
    sync.config_resetstat()
    loaded = await asyncio.gather(*(engine.static(run.speedrun_id) for _ in range(50)))
    assert all(s is loaded[0] for s in loaded) and loaded[0] is not None
    assert sync.info("commandstats")["cmdstat_mget"]["calls"] == 1
    assert await engine.static("sr_nosuchrun") is None
    await client.aclose()
    sync.close()


async def test_joins_go_to_the_host_and_participants_get_a_coalesced_count(
    pair, runs, connect_three
) -> None:
    # GIVEN a lobby with its host and one participant on instance a, another on instance b
    a, b = pair
    run = runs.create("host-paced", count=2)
    host, ann, bob = await connect_three(run, a, a, b)

    # WHEN five more participants join at once
    joined = [runs.join(run, f"late{i}") for i in range(5)]

    # THEN the host has every join, and each participant learns the count from lobby views
    seen = [await host.expect(ParticipantJoinedFrame) for _ in joined]
    assert [f.participant_id for f in seen] == joined
    for c in (ann, bob):
        await c.expect(LobbyFrame, where=lambda f: f.participant_count == 7)
    await asyncio.sleep(0.3)  # a few more leaderboard intervals (0.1 s)
    for c in (ann, bob):
        while True:
            try:
                await c.recv(timeout=0.05)
            except TimeoutError:
                break
        assert not [f for f in c.received if isinstance(f, ParticipantJoinedFrame)]
        # coalesced: a handful of lobby frames, not one per join
        assert len([f for f in c.received if isinstance(f, LobbyFrame)]) <= 5


async def test_participant_gone_past_grace_forfeits_and_does_not_block_the_end(
    instances, runs, connect_three, redis_url
) -> None:
    # GIVEN a self-paced run with 20-second questions and a 0.5 s grace period
    a = await instances("i-a", grace_period_s=0.5)
    run = runs.create("self-paced", count=2)
    bob_id = run.pids[1]
    host, ann, bob = await connect_three(run, a, a, a)
    await host.send(StartFrame())
    await bob.expect(QuestionFrame)
    # WHEN bob leaves for good and ann plays on
    await bob.close()
    for index in range(2):
        await ann.expect(QuestionFrame, where=lambda f, i=index: f.question.question_index == i)
        await ann.send(AnswerFrame(question_index=index, selected=[index % 3]))
        await ann.expect(AnswerResultFrame)
    # THEN bob forfeits after the grace period and the run ends long before his deadlines
    forfeited = await host.expect(
        ParticipantFinishedFrame, where=lambda f: f.participant_id == bob_id, timeout=5
    )
    assert forfeited.score == 0
    finished = await host.expect(RunFinishedFrame, timeout=5)
    assert finished.reason == "completed"
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    record = AnswerRecord.model_validate_json(
        r.hget(RunKeys(run.speedrun_id).answers, f"{bob_id}:0")
    )
    assert record.timed_out and record.points == 0
    assert r.hget(RunKeys(run.speedrun_id).answers, f"{bob_id}:1") is None


class SlowLinkClient:
    """A WebSocket client on a link that reads only when asked: a small receive window and
    a stream that stops reading from the socket after 1 KB (as a phone's link would hold back)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def hello(cls, port: int, token: str) -> SlowLinkClient:
        """Connect, upgrade and say hello; read nothing more."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        writer.write(
            b"GET /speedrun HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        payload = HelloFrame(token=token).model_dump_json().encode()
        mask = b"\x01\x02\x03\x04"  # a client masks; any key will do
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + mask + masked)
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """Read the next frame: its opcode and payload (a server never masks)."""
        head = await self.reader.readexactly(2)
        size = head[1] & 0x7F
        if size >= 126:
            size = int.from_bytes(await self.reader.readexactly(2 if size == 126 else 8), "big")
        return head[0] & 0x0F, await self.reader.readexactly(size)


async def test_host_welcome_larger_than_the_send_limit_is_not_a_slow_consumer(
    settings: Settings, runs: Any
) -> None:
    # GIVEN an instance whose kernel send buffers are small, a 16 KB slow-consumer limit and a
    # run of 1,500 participants (the host's welcome is ~250 KB)
    app = build_app(settings.model_copy(update={"send_buffer_max_bytes": 16 * 1024}))
    runner = web.AppRunner(app)
    await runner.setup()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # inherited when accepted
    listener.bind(("127.0.0.1", 0))
    await web.SockSite(runner, listener).start()
    port = listener.getsockname()[1]
    run = runs.create("host-paced", nicknames=("ann",))
    runs.join_many(run, 1500)
    try:
        # WHEN the host says hello on a slow link and the instance has sent it the welcome
        host = await SlowLinkClient.hello(port, run.host_token)
        hub = app[HUB]
        await until(lambda: any(c.is_host and c.active for c in hub.by_id.values()), 10)
        # ... with more of it left unread than the limit, and a participant connects (an event
        # for the host)
        (host_conn,) = [c for c in hub.by_id.values() if c.is_host]
        assert host_conn.transport.get_write_buffer_size() > 16 * 1024
        async with aiohttp.ClientSession() as session:
            ann = RunClient(
                session, f"http://127.0.0.1:{port}/speedrun", run.participants[run.pids[0]]
            )
            await ann.connect()
            await ann.close()

        # THEN the host reads its whole welcome and then the event, not a 4008 close
        opcode, data = await host.frame()
        assert opcode == 0x1
        welcome = decode_server_frame(data)
        assert isinstance(welcome, WelcomeFrame) and len(welcome.snapshot.participants) == 1501
        opcode, data = await asyncio.wait_for(host.frame(), 5)
        assert opcode == 0x1, f"closed: {data!r}"
        seen = decode_server_frame(data)
        assert isinstance(seen, ParticipantConnectionFrame)
        assert seen.participant_id == run.pids[0] and seen.connected
        host.writer.close()
    finally:
        await runner.cleanup()


async def test_host_roster_of_thousands_lets_the_event_loop_go_between_chunks() -> None:
    # GIVEN 1,200 participant records (one kicked) out of joining order, some with progress
    records = [
        ParticipantRecord(
            participant_id=f"p_{i:04d}",
            nickname=f"player{i}",
            joined_at_ms=1_000 + (i * 7919) % 1200,
            kicked=i == 5,
        )
        for i in range(1200)
    ]
    progress = {"p_0001": ParticipantProgress(score=900, answered_count=1).model_dump_json()}
    turns = 0

    async def other_sockets() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    # WHEN the host's roster is read while another task wants the loop
    other = asyncio.create_task(other_sockets())
    await asyncio.sleep(0)
    nicknames: dict[str, str] = {}
    started = turns
    roster = await views_module._roster(
        [r.model_dump_json() for r in records], progress, {"p_0002"}, nicknames
    )
    other.cancel()

    # THEN the other task ran between the chunks (1,200 records: 2 chunks each pass, 2 passes)
    assert turns - started >= 3
    # ... and the roster is every participant not kicked, in joining order, with their state
    assert [v.participant_id for v in roster] == [
        r.participant_id
        for r in sorted(records, key=lambda r: (r.joined_at_ms, r.participant_id))
        if not r.kicked
    ]
    by_id = {v.participant_id: v for v in roster}
    assert by_id["p_0001"].score == 900 and by_id["p_0001"].answered_count == 1
    assert by_id["p_0002"].connected and not by_id["p_0001"].connected
    assert nicknames["p_1199"] == "player1199" and "p_0005" not in by_id


async def test_a_host_whose_link_lags_gets_the_next_view_once_caught_up_with_all_moves(
    runs, redis_url
) -> None:
    # GIVEN a self-paced run of 3 with progress in Redis, and two hosts here: one whose link has
    # taken everything, one whose last view is still unread
    run = runs.create("self-paced", nicknames=("ann", "bob", "cy"))
    ann, bob, cy = run.pids
    keys = RunKeys(run.speedrun_id)
    sync = redis.Redis.from_url(redis_url, decode_responses=True)
    for i, pid in enumerate(run.pids):
        progress = ParticipantProgress(score=100 * i, answered_count=1, current_question=1)
        sync.hset(keys.progress, pid, progress.model_dump_json())
    client = Redis.from_url(redis_url, decode_responses=True, protocol=2)  # as the app
    hub = Hub(client, RedisBatch(client), "i-t", replay_limit=100)
    engine = Engine(client, "i-t", 30, 600)
    room = hub.rooms[run.speedrun_id] = Room(run.speedrun_id, last_seq=1)
    quick, lagging = fake_conn(run.speedrun_id, None), fake_conn(run.speedrun_id, None)
    room.hosts |= {quick, lagging}
    lagging.transport.reading = False  # type: ignore[attr-defined]
    lagging.write(ws_frame('{"seq":1,"type":"participants_progress","participants":[]}'))

    def moved_on(seq: int, pid: str) -> None:  # as the listener passes on an answer's result
        hub._deliver(room, seq, "participant", pid, f'{{"seq":{seq},"type":"answer_result"}}', "")

    def views(host: Conn) -> list[list[str]]:
        frames = [orjson.loads(d[2:] if d[1] < 126 else d[4:]) for d in written(host)]
        return [[p["participant_id"] for p in f["participants"]] for f in frames]

    # WHEN ann moves on, a view goes out, then bob and cy move on and another goes out
    moved_on(2, ann)
    await send_moved(engine, room)
    moved_on(3, bob)
    moved_on(4, cy)
    await send_moved(engine, room)

    # THEN the quick host had both views; the lagging one none, and it holds every move
    assert views(quick) == [[ann], sorted([bob, cy])]
    assert views(lagging) == [[]]  # only the unread one from before
    assert lagging.moved == {ann, bob, cy} and not lagging.closing
    # AND once its link has taken what it had, it gets one view of all three
    lagging.transport.buffered = 0  # type: ignore[attr-defined]
    await send_moved(engine, room)
    assert views(lagging)[1:] == [sorted([ann, bob, cy])]
    assert not lagging.moved and views(quick) == [[ann], sorted([bob, cy])]
    await client.aclose()
    sync.close()
