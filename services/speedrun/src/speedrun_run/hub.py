"""This instance's sockets, grouped by run, and the fan-out of run events to them.

One pub/sub connection per instance listens on the channels of the runs it holds sockets for (and
on its own control channel). A bus event carries its frame already encoded: the listener looks up
the matching local sockets without decoding the frame, puts it in the WebSocket wire format once
and writes the same bytes to each recipient's transport, with no task and no queue per recipient.
A socket whose peer lets its send buffer grow past the limit is a slow consumer and is closed
(4008) — it may resume.

Pub/sub may drop messages (a reconnect); every event has a run sequence number, so a gap seen by
the listener is filled from the run's stream before going on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from speedrun_protocol.errors import CloseCode
from speedrun_protocol.events import EventFields, read_bus_message, run_channel, stream_event
from speedrun_protocol.state import RunKeys
from speedrun_redis import RedisBatch
from speedrun_run.scripts import control_channel

logger = logging.getLogger(__name__)

LEADERBOARD_EVENTS = frozenset(
    {
        "answer_result",
        "participant_finished",
        "participant_kicked",
        "participant_joined",
        "question_revealed",
    }
)
"""Event types after which the leaderboard may have changed."""
RESULT_EVENTS = frozenset({"answer_result", "question_revealed"})
"""Events of a reveal: a host-paced run's board waits until they stop (see ``Room.results_at``)."""
PROGRESS_EVENTS = frozenset({"answer_result", "question"})
"""Events to one participant that move them on (the hosts hear of it in coalesced views)."""
RECENT_EVENTS = 512
"""Delivered events each room keeps in memory for sockets that go live."""
SUBSCRIBE_WAIT_S = 5.0
"""Seconds a first socket of a run waits for the pub/sub connection (then: try again later)."""
CUT_AFTER_S = 2.0
"""Seconds an aborted socket gets to send its close frame before the connection is cut."""


def ws_frame(frame: str) -> bytes:
    """Return a text frame as it goes on the wire from a server (unmasked, uncompressed).

    A broadcast is encoded once and the same bytes are written to every recipient's transport.
    """
    payload = frame.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


def frame_type(frame: str) -> str:
    """Return the ``type`` of an encoded server frame without decoding it."""
    start = frame.find('"type":"')
    if start < 0:
        return ""
    start += 8
    return frame[start : frame.find('"', start)]


class Conn:
    """One live WebSocket of a run: its identity, its transport and the run events it has had.

    Frames are written straight to the transport, whole, in the order they are sent (aiohttp's
    own uncompressed writes are synchronous too, so its pings interleave only between frames).
    The kernel and the transport buffer what the peer has not read yet; a peer that lets more
    than ``max_buffer`` bytes pile up is a slow consumer and is closed. The frame written when
    the peer had taken everything before it does not count: a host's welcome or view of a run of
    thousands is megabytes, read at the speed of the host's link.

    Run events for one socket (an answer's result and the next question; every answer, for a
    host) are held until the end of the event-loop turn and written together
    (:meth:`write_soon`); any other write first writes what is held, so the order is kept.
    """

    __slots__ = (
        "active",
        "closer",
        "closing",
        "conn_id",
        "held",
        "lead",
        "max_buffer",
        "moved",
        "participant_id",
        "rank",
        "seq",
        "speedrun_id",
        "transport",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: Any,
        speedrun_id: str,
        participant_id: str | None,
        conn_id: str,
        max_buffer: int,
    ) -> None:
        """Wrap an accepted socket (the hello is verified)."""
        self.ws = ws
        self.transport = transport
        self.speedrun_id = speedrun_id
        self.participant_id = participant_id
        self.conn_id = conn_id
        self.max_buffer = max_buffer
        self.seq = 0
        self.active = False
        self.closing = False
        self.rank: tuple[int, int] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.held: list[bytes] = []
        self.lead = 0
        """The size of the frame written when the peer had taken everything before it."""
        self.moved: set[str] | None = set() if participant_id is None else None
        """A host's: the participants who moved on since its last view of them (see
        :func:`~speedrun_run.leaderboard.send_moved`)."""

    @property
    def is_host(self) -> bool:
        """True for the host's socket."""
        return self.participant_id is None

    def send(self, frame: str) -> None:
        """Send one encoded frame."""
        self.write(ws_frame(frame))

    def write(self, data: bytes) -> None:
        """Write frames already on the wire format (after any held ones); a full buffer makes
        a slow consumer."""
        if self.held:
            data = b"".join([*self.held, data])
            self.held.clear()
        transport = self.transport
        if self.closing or transport is None or transport.is_closing():
            return
        backlog = transport.get_write_buffer_size()
        if not backlog:
            self.lead = len(data)
        elif backlog > self.max_buffer + self.lead:
            self.abort(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect to resume")
            return
        transport.write(data)

    def caught_up(self) -> bool:
        """Tell whether the peer has taken everything written to it (a live socket)."""
        transport = self.transport
        return (
            not self.closing
            and transport is not None
            and not transport.is_closing()
            and not transport.get_write_buffer_size()
        )

    def write_soon(self, data: bytes) -> None:
        """Write a frame at the end of this event-loop turn, with the others held until then."""
        if not self.held:
            asyncio.get_running_loop().call_soon(self._write_held)
        self.held.append(data)

    def _write_held(self) -> None:
        if self.held:
            self.write(self.held.pop())  # write() puts the earlier ones first

    def takes(self, seq: int) -> bool:
        """Tell whether this socket is live and does not have run event ``seq`` yet (and count
        it as had: the caller sends it)."""
        if self.active and seq > self.seq:
            self.seq = seq
            return True
        return False

    def send_event(self, seq: int, data: bytes) -> None:
        """Write run event ``seq`` now unless this socket has it or is not live (a broadcast:
        the check of :meth:`takes` is inlined, one call less per socket)."""
        if self.active and seq > self.seq:
            self.seq = seq
            self.write(data)

    def close_after(self, code: int, reason: str) -> None:
        """Close the socket after the frames already sent."""
        self._write_held()  # may itself find a slow consumer and close
        if not self.closing:
            self.closing = True
            self.closer = asyncio.create_task(self._close(code, reason))

    def abort(self, code: int, reason: str) -> None:
        """Close now; cut the connection if the close frame cannot get out in time."""
        self.close_after(code, reason)
        # A peer that does not read never takes the close frame: cut the line.
        asyncio.get_running_loop().call_later(CUT_AFTER_S, self._cut)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=reason.encode())

    def _cut(self) -> None:
        if not self.ws.closed and self.transport is not None:
            self.transport.abort()


@dataclass
class Room:
    """The sockets this instance holds for one run."""

    speedrun_id: str
    hosts: set[Conn] = field(default_factory=set)
    participants: dict[str, Conn] = field(default_factory=dict)
    pending: set[Conn] = field(default_factory=set)
    last_seq: int | None = None
    """The last run event the listener has delivered (or the first activation read)."""
    board_due: float = 0.0
    """Loop time before which this run's leaderboard is not updated again (large runs)."""
    results_at: float = 0.0
    """When (``time.monotonic``) the last reveal or result event was delivered: a host-paced
    run's leaderboard waits until a reveal's results are out (see
    :func:`~speedrun_run.leaderboard.update_due`)."""
    progress_sent: tuple[int, int] | None = None
    """The last ``answer_progress`` (question, answered) sent to this room's hosts."""
    recent: deque[EventFields] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    """The last events the listener delivered, in order: a socket going live catches up here."""

    def conns(self) -> Iterable[Conn]:
        """Every live socket of the run."""
        yield from self.hosts
        yield from self.participants.values()

    def empty(self) -> bool:
        """True when no socket of the run is left."""
        return not (self.hosts or self.participants or self.pending)


class Hub:
    """This instance's sockets and the listener that feeds them."""

    def __init__(
        self,
        redis: Redis,
        batch: RedisBatch,
        instance_id: str,
        replay_limit: int,
        on_question: Callable[[str, str], None] | None = None,
    ) -> None:
        """Create the hub (stream reads go through ``batch``); :meth:`start` subscribes.

        ``on_question(speedrun_id, frame)`` is told of every ``question`` event sent to a whole
        run, before any socket has it.
        """
        self.on_question = on_question
        self.per_address: Counter[str] = Counter()
        """Open sockets per client address (the per-address limit)."""
        self.redis = redis
        self.batch = batch
        self.instance_id = instance_id
        self.replay_limit = replay_limit
        self.rooms: dict[str, Room] = {}
        self.by_id: dict[str, Conn] = {}
        self.dirty: set[str] = set()
        """Runs whose leaderboard may have changed."""
        self.draining = False
        self.pubsub: PubSub = redis.pubsub()
        self._listener: asyncio.Task[None] | None = None
        self._control = control_channel(instance_id)
        self._connected = asyncio.Event()

    async def start(self) -> None:
        """Start listening (the instance starts even while Redis is unreachable)."""
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")

    async def stop(self) -> None:
        """Stop listening and drop the pub/sub connection."""
        if self._listener is not None:
            for _ in range(5):  # redis-py may swallow one cancellation
                if self._listener.done():
                    break
                self._listener.cancel()
                await asyncio.wait([self._listener], timeout=1)
        with contextlib.suppress(RedisError, RuntimeError):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]

    # -----------------------------------------------------------------------------------------
    # Sockets
    # -----------------------------------------------------------------------------------------

    async def add(self, conn: Conn) -> Room:
        """Register a socket (not live yet) and subscribe to its run when it is the first."""
        room = self.rooms.get(conn.speedrun_id)
        if room is None:
            room = self.rooms[conn.speedrun_id] = Room(conn.speedrun_id)
            # The listener's first subscribe opens the pub/sub connection: a subscribe racing it
            # would open a second one, and that run's events would go to a connection nobody reads.
            await asyncio.wait_for(self._connected.wait(), SUBSCRIBE_WAIT_S)
            await self.pubsub.subscribe(run_channel(conn.speedrun_id))
        room.pending.add(conn)
        self.by_id[conn.conn_id] = conn
        return room

    async def activate(self, conn: Conn, after: int) -> None:
        """Send what this socket missed after ``after``, then make it live.

        What the listener delivered beyond ``after`` comes from the room's recent events in
        memory, or else from the stream, read until it has nothing the listener has delivered
        beyond it. Then the socket joins the room with no await in between, so no event falls in
        the gap (later events reach it through the listener).
        """
        room = self.rooms[conn.speedrun_id]
        seq = after
        while room.last_seq is None or room.last_seq > seq:
            if room.last_seq is not None and room.recent and room.recent[0][0] <= seq + 1:
                # The recent events are in order and a new socket misses few of them (a socket
                # per join in a lobby of thousands would otherwise walk all of them): from the end.
                missed: list[EventFields] = []
                for entry in reversed(room.recent):
                    if entry[0] <= seq:
                        break
                    missed.append(entry)
                for entry in reversed(missed):
                    seq = entry[0]
                    _replay(conn, *entry)
                break
            entries = await self._read_stream(conn.speedrun_id, seq + 1, None)
            for seq_i, audience, pid, frame, close in entries:
                seq = seq_i
                _replay(conn, seq_i, audience, pid, frame, close)
            if not entries or (len(entries) < self.replay_limit and room.last_seq is None):
                break
        room.pending.discard(conn)
        if conn.closing:
            return
        if room.last_seq is None:
            room.last_seq = seq
        conn.seq = seq
        conn.active = True
        if conn.participant_id is None:
            room.hosts.add(conn)
        else:
            old = room.participants.get(conn.participant_id)
            if old is not None and old is not conn:
                old.close_after(CloseCode.REPLACED, "connected again elsewhere")
            room.participants[conn.participant_id] = conn

    async def remove(self, conn: Conn) -> None:
        """Forget a socket; unsubscribe from its run when it was the last."""
        self.by_id.pop(conn.conn_id, None)
        room = self.rooms.get(conn.speedrun_id)
        if room is None:
            return
        room.pending.discard(conn)
        room.hosts.discard(conn)
        if conn.participant_id is not None and room.participants.get(conn.participant_id) is conn:
            del room.participants[conn.participant_id]
        if room.empty():
            del self.rooms[conn.speedrun_id]
            self.dirty.discard(conn.speedrun_id)
            with contextlib.suppress(RedisError, ConnectionError):
                await self.pubsub.unsubscribe(run_channel(conn.speedrun_id))

    def replace(self, conn_id: str) -> None:
        """Close a local socket whose identity connected again (here or on another instance)."""
        conn = self.by_id.get(conn_id)
        if conn is not None:
            conn.close_after(CloseCode.REPLACED, "connected again elsewhere")

    async def publish_replace(self, instance_id: str, conn_id: str) -> None:
        """Ask the instance holding an older connection of the same identity to close it."""
        if instance_id == self.instance_id:
            self.replace(conn_id)
        else:
            await self.redis.publish(control_channel(instance_id), f"replace|{conn_id}")

    def all_conns(self) -> list[Conn]:
        """Every socket this instance holds (live or not)."""
        return list(self.by_id.values())

    # -----------------------------------------------------------------------------------------
    # The listener
    # -----------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            try:
                await self.pubsub.subscribe(self._control)
                self._connected.set()
                break
            except (RedisError, ConnectionError, OSError):
                logger.warning("cannot subscribe yet; retrying")
                await asyncio.sleep(1)
        while True:
            try:
                # Blocks without a timer (a timer per message was a tenth of the instance's time);
                # the client speaks RESP2, where a subscribe meanwhile goes through (app.py).
                # A run's message is taken as it comes ([kind, channel, data]); only the
                # subscription replies go through redis-py's bookkeeping (handle_message).
                response = await self.pubsub.parse_response(block=True)
                if response and response[0] == "message":
                    await self._on_message(response[1], response[2])
                elif response:
                    await self.pubsub.handle_message(  # type: ignore[no-untyped-call]
                        response, ignore_subscribe_messages=True
                    )
            except asyncio.CancelledError:
                raise
            except (RedisError, ConnectionError, OSError):
                logger.warning("pub/sub connection lost; retrying", exc_info=True)
                await asyncio.sleep(0.5)
            except Exception:
                logger.exception("bus message failed")

    async def _on_message(self, channel: str, data: str) -> None:
        if channel == self._control:
            op, _, arg = data.partition("|")
            if op == "replace":
                self.replace(arg)
            return
        speedrun_id, events = read_bus_message(data)
        room = self.rooms.get(speedrun_id)
        if room is None:
            return
        for event in events:
            seq = event[0]
            if room.last_seq is not None:
                if seq <= room.last_seq:
                    continue
                if seq > room.last_seq + 1:
                    # Pub/sub lost something: deliver the missing events from the stream first.
                    missing = await self._read_stream(room.speedrun_id, room.last_seq + 1, seq - 1)
                    for entry in missing:
                        self._deliver(room, *entry)
            self._deliver(room, *event)

    def _deliver(
        self,
        room: Room,
        seq: int,
        audience: str,
        pid: str,
        frame: str,
        close: str,
    ) -> None:
        """Deliver one event: to one socket (a participant, the hosts), held until the end of the
        loop turn with the socket's other frames; a broadcast is written at once. An event for a
        participant whose socket is elsewhere is only kept in the recent events (every instance
        sees every event of its runs)."""
        if room.last_seq is None or seq > room.last_seq:
            room.last_seq = seq
        room.recent.append((seq, audience, pid, frame, close))
        kind = frame_type(frame)
        if audience == "participant":
            conn = room.participants.get(pid)
            if conn is not None and conn.takes(seq):
                conn.write_soon(ws_frame(frame))
            if kind in PROGRESS_EVENTS:
                for host in room.hosts:
                    if host.moved is not None:  # a host's always is
                        host.moved.add(pid)
        elif audience == "host":
            data = ws_frame(frame)
            for conn in room.hosts:
                if conn.takes(seq):
                    conn.write_soon(data)
        else:
            if kind == "question" and self.on_question is not None:
                self.on_question(room.speedrun_id, frame)
            data = ws_frame(frame)
            # A broadcast is written at once (after what each socket holds, which keeps the order):
            # its recipients are many and holding is for one socket's frames.
            recipients = room.participants.values() if audience == "participants" else room.conns()
            for conn in list(recipients):
                conn.send_event(seq, data)
        if close == "kicked":
            kicked = room.participants.get(pid)
            if kicked is not None:
                kicked.close_after(CloseCode.KICKED, "removed by the host")
        elif close == "finished":
            for conn in list(room.conns()):
                conn.close_after(CloseCode.NORMAL, "the run is over")
        if kind in LEADERBOARD_EVENTS:
            self.dirty.add(room.speedrun_id)
            if kind in RESULT_EVENTS:
                room.results_at = time.monotonic()

    async def _read_stream(
        self, speedrun_id: str, first: int, last: int | None
    ) -> list[EventFields]:
        """Read run events ``first``..``last`` (inclusive; None: to the end), at most the limit."""
        key, high = RunKeys(speedrun_id).events, f"0-{last}" if last is not None else "+"
        (raw,) = await self.batch.commands(
            ("XRANGE", key, f"0-{first}", high, "COUNT", self.replay_limit)
        )
        return [stream_event(entry_id, fields) for entry_id, fields in raw]

    async def replay_possible(self, speedrun_id: str, last_seq: int, seq: int) -> bool:
        """Tell whether the events after ``last_seq`` up to ``seq`` are all still in the stream."""
        if last_seq > seq:
            return False
        if last_seq == seq:
            return True
        if seq - last_seq > self.replay_limit:
            return False
        first: list[tuple[str, Any]] = await self.redis.xrange(  # type: ignore[assignment]
            RunKeys(speedrun_id).events, min="-", max="+", count=1
        )
        return bool(first) and int(first[0][0].split("-", 1)[1]) <= last_seq + 1


def _wants(conn: Conn, audience: str, pid: str) -> bool:
    if audience == "all":
        return True
    if audience == "host":
        return conn.is_host
    if audience == "participants":
        return not conn.is_host
    return conn.participant_id == pid


def _replay(conn: Conn, seq: int, audience: str, pid: str, frame: str, close: str) -> None:
    """Send a socket that is not live yet one event it missed, if it is in the audience (a
    host notes the participants who moved on meanwhile, as the listener does for live hosts)."""
    if conn.moved is not None and audience == "participant":
        if frame_type(frame) in PROGRESS_EVENTS:
            conn.moved.add(pid)
        return
    if _wants(conn, audience, pid):
        conn.send(frame)
        _close_if(conn, close, pid)


def _close_if(conn: Conn, close: str, pid: str) -> None:
    if close == "finished" or (close == "kicked" and conn.participant_id == pid):
        conn.close_after(
            CloseCode.NORMAL if close == "finished" else CloseCode.KICKED,
            "the run is over" if close == "finished" else "removed by the host",
        )
