"""Coalesced leaderboard updates: each instance, for the runs it holds sockets for.

The listener marks a run dirty when an event may have changed its scores; at most once per
``LEADERBOARD_INTERVAL_S`` the run's local sockets get the top of the board (one frame, encoded
once), and each local participant whose rank or score changed gets it with their own standing
(``own``) instead: one frame, not a board and a rank frame, which had been half the frames a
client parsed. One update costs two Redis commands whatever the number of participants: the
run's status and count, then the whole board (``ZREVRANGE … WITHSCORES``), from which the top
and every local participant's rank are cut in one pass — one command of N entries rather than
one ``ZCOUNT`` per distinct score, which at 10,000 players with time-based points is thousands.
The board is read raw (no per-entry conversion by the client) and the standings are encoded
without pydantic: at 10,000 players nearly every rank changes between two updates.

While a host-paced question is open, the run's local hosts get an :class:`AnswerProgressFrame`
(answered of total) at the same pace when it changed: an answer itself emits no event. In a
self-paced run they get, at the same pace, one :class:`ParticipantsProgressFrame` with every
participant who moved on meanwhile (the listener notes them from the result events it passes on):
a host's dashboard follows thousands of answers a second in a few frames.

After a host-paced reveal the board waits until the reveal's results are out here (no result for
half an interval): players get their result first, and at 5,000 players the board's writes had
interleaved with the results' and taken twice as long to reach everyone.

In the lobby there is no board: the run's local participants get a :class:`LobbyFrame` with the
count instead (joins go to the host only, so N joins do not cost N² frames).

Leaderboard, lobby and answer-progress frames are *views*, not run events: they are not in
the replay stream and carry the sequence number of the last event this instance had delivered to
the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import orjson
from redis.exceptions import RedisError

from speedrun_protocol.frames import (
    AnswerProgressFrame,
    LeaderboardFrame,
    LobbyFrame,
)
from speedrun_protocol.state import RunKeys
from speedrun_run import bodies
from speedrun_run.engine import Engine, RunStatic
from speedrun_run.hub import Conn, Hub, Room, ws_frame

logger = logging.getLogger(__name__)

FULL_PACE_UP_TO = 2_000
"""Participants up to which a run's leaderboard is updated every interval; beyond, an update
every ``interval × N / FULL_PACE_UP_TO`` (every 2.5 s at 10,000 with the default interval), so a
run's leaderboard costs at most some 4,000 socket writes a second over all instances. At 10,000
players updated every second (then a board and a rank frame each) they were a fifth of the
server's CPU, taken from answering."""


async def update_room(engine: Engine, room: Room, top: int) -> int:
    """Send one leaderboard update to a run's local sockets; return the run's participants."""
    keys = RunKeys(room.speedrun_id)
    if not (room.hosts or room.participants):
        return 0
    ((status, count),) = await engine.batch.commands(
        ("HMGET", keys.meta, "status", "participant_count")
    )
    if status == "lobby":
        _send_lobby(room, int(count or 0))
        return int(count or 0)
    if status != "running":
        return 0  # run_finished carries the final board
    # The whole board as Redis sends it in RESP2 (app.py): [pid, score, pid, score, ...] best
    # first, the scores as texts.
    (flat,) = await engine.batch.commands(("ZREVRANGE", keys.scores, 0, -1, "WITHSCORES"), raw=True)
    rows = [(flat[i], float(flat[i + 1])) for i in range(0, min(len(flat), 2 * top), 2)]
    participant_count = int(count or 0)
    # Rank = 1 + how many scores are strictly higher: the position of a score's first holder.
    local = room.participants
    states: dict[str, tuple[int, int]] = {}
    rank, previous = 0, None
    for position, (pid, score) in enumerate(zip(flat[::2], flat[1::2], strict=True), start=1):
        if score != previous:  # equal scores are equal texts
            rank, previous = position, score
        if pid in local:
            states[pid] = (rank, int(float(score)))
    entries = await engine.entries(room.speedrun_id, rows)
    board_text = LeaderboardFrame(
        seq=room.last_seq or 0, top=entries, participant_count=participant_count
    ).model_dump_json(exclude={"own"})
    board = ws_frame(board_text)
    _write_all(room.hosts, board)
    # A participant whose standing changed gets the board with it (equal standings, one text).
    with_own: dict[tuple[int, int], bytes] = {}
    for pid, target in local.items():
        state = states.get(pid)
        if state is None or target.rank == state:
            target.write(board)
            continue
        target.rank = state
        data = with_own.get(state)
        if data is None:
            data = with_own[state] = ws_frame(bodies.with_own(board_text, *state))
        target.write(data)
    return participant_count


def _send_lobby(room: Room, participant_count: int) -> None:
    """The lobby has no board: its participants get the count (the host has every join)."""
    frame = LobbyFrame(seq=room.last_seq or 0, participant_count=participant_count)
    _write_all(room.participants.values(), ws_frame(frame.model_dump_json()))


async def send_answer_progress(engine: Engine, room: Room) -> None:
    """Host-paced: tell the run's local hosts how many have answered the open question, if that
    changed since the last time (answers emit no events: this reads the count; with no question
    open it is one read that sends nothing)."""
    keys = RunKeys(room.speedrun_id)
    ((status, phase, current, count),) = await engine.batch.commands(
        ("HMGET", keys.meta, "status", "phase", "current_question", "participant_count")
    )
    if status != "running" or phase != "question" or current is None:
        return
    ((answered,),) = await engine.batch.commands(("HMGET", keys.qstats, f"{current}:answered"))
    state = (int(current), int(answered or 0))
    if state == room.progress_sent:
        return
    room.progress_sent = state
    frame = AnswerProgressFrame(
        seq=room.last_seq or 0, question_index=state[0], answered=state[1], total=int(count or 0)
    )
    _write_all(room.hosts, ws_frame(frame.model_dump_json()))


async def send_moved(engine: Engine, room: Room) -> None:
    """Self-paced: tell each of the run's local hosts where the participants who moved on since
    its last view are now (one frame, however many answered meanwhile).

    A host whose link has not taken the last view yet gets none now: its participants keep
    adding up (a view is at most every participant once), and it gets them when it has caught
    up. A host's view of thousands moving is hundreds of kilobytes, and on a slow link the views
    would pile up until the host was closed as a slow consumer.
    """
    taken: dict[Conn, set[str]] = {}
    for host in room.hosts:
        if host.moved and host.caught_up():
            taken[host], host.moved = host.moved, set()
    if not taken:
        return
    pids = sorted(set().union(*taken.values()))
    keys = RunKeys(room.speedrun_id)
    try:
        progress, present = await engine.batch.commands(
            ("HMGET", keys.progress, *pids), ("HMGET", keys.presence, *pids)
        )
        names = await engine.nickname_map(room.speedrun_id, pids)
    except RedisError:
        for host, moved in taken.items():
            host.moved = moved | (host.moved or set())  # at the next update
        raise
    views: dict[str, dict[str, object]] = {}
    for pid, raw, where in zip(pids, progress, present, strict=True):
        if raw is None:
            continue
        state = orjson.loads(raw)
        views[pid] = {
            "participant_id": pid,
            "nickname": names[pid],
            "score": state["score"],
            "answered_count": state["answered_count"],
            "correct_count": state["correct_count"],
            "current_question": state["current_question"],
            "finished": state["finished_at_ms"] is not None,
            "connected": where is not None,
        }
    seq = room.last_seq or 0
    for host, moved in taken.items():
        mine = [views[pid] for pid in sorted(moved) if pid in views]
        if mine:
            host.write(ws_frame(bodies.participants_progress(seq, mine)))


def _revealing(room: Room, static: RunStatic | None, interval_s: float) -> bool:
    """Tell whether a host-paced run's reveal is still sending its results here: a result or
    the reveal itself arrived within half an interval. The board waits for them: players see
    their result before the new board, and the board's writes do not interleave with the results'
    on the instance's core (at 5,000 players that stretched an update to all from ~60 to ~110
    ms). Self-paced results never stop while the run is played, so they do not hold it."""
    return (
        static is not None
        and not static.self_paced
        and time.monotonic() - room.results_at < interval_s / 2
    )


def _write_all(conns: Iterable[Conn], data: bytes) -> None:
    """Write one encoded view to live sockets (a closing one takes nothing: see Conn.write)."""
    for conn in conns:
        conn.write(data)


async def run_leaderboards(engine: Engine, hub: Hub, interval_s: float, top: int) -> None:
    """Forever: every interval, :func:`update_due`."""
    while True:
        await asyncio.sleep(interval_s)
        await update_due(engine, hub, interval_s, top)


async def update_due(engine: Engine, hub: Hub, interval_s: float, top: int) -> None:
    """Update the dirty runs this instance holds sockets for, and tell the hosts here how their
    run moved: answer progress (host-paced) or the participants who moved on (self-paced).

    A run of more than ``FULL_PACE_UP_TO`` participants is updated proportionally less often
    (every 2.5 s at 10,000 with the default interval): an update writes to every socket.
    """
    loop = asyncio.get_running_loop()
    dirty, hub.dirty = hub.dirty, set()
    progress = {sid for sid, room in hub.rooms.items() if room.hosts}
    for speedrun_id in dirty | progress:
        room = hub.rooms.get(speedrun_id)
        if room is None:
            continue
        try:
            static = await engine.static(speedrun_id)
            if static is not None and speedrun_id in progress:
                if static.self_paced:
                    await send_moved(engine, room)
                else:
                    for host in room.hosts:
                        host.moved = set()  # the results of a reveal: the host has the board
                    await send_answer_progress(engine, room)
            if speedrun_id in dirty and (
                loop.time() < room.board_due or _revealing(room, static, interval_s)
            ):
                hub.dirty.add(speedrun_id)  # not due yet, or a reveal's results still going out
            elif speedrun_id in dirty:
                count = await update_room(engine, room, top)
                pace = interval_s * max(1.0, count / FULL_PACE_UP_TO)
                # due half a tick early, so that tick jitter does not skip one more
                room.board_due = loop.time() + pace - interval_s / 2
        except RedisError:
            logger.warning("leaderboard update failed", extra={"speedrun_id": speedrun_id})
            if speedrun_id in dirty:
                hub.dirty.add(speedrun_id)
        except Exception:
            logger.exception("leaderboard update failed", extra={"speedrun_id": speedrun_id})
