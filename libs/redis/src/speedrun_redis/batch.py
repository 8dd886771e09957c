"""Redis calls made by many sockets at once, sent in one round trip.

A thousand players answering within a few milliseconds each need a read and a script. Sent one by
one, each call waits for a pooled connection and a round trip of its own; here the calls made
during one turn of the event loop join a single pipeline, and while one is in flight the calls
that follow wait for it and go together in the next (:data:`IN_FLIGHT`). A pipeline is not a
transaction: each call is its own script or its own reads, and every script re-checks the facts
it rests on. The callers await their own replies as before; an error in one call is raised to
that caller only, and a lost connection fails every call of the batch, as it would have failed
each of them.

A caller that must act the moment its reply is read (before anything else the loop has ready,
e.g. a socket's acknowledgement before a broadcast that the same Redis write triggered) passes a
function instead (:meth:`RedisBatch.script_then`): it is called in the batch's own task as the
replies are read, not one loop turn later as an awaiting coroutine is.

The batch is packed by hiredis (C) and its replies read on a redis-py connection (its hiredis
parser and reply callbacks) under one deadline: redis-py's own pipeline packs every argument in
Python and arms a timer per reply, which was a fifth of an instance's time when each answer is a
script with some thirty arguments. The connection is borrowed from the client's pool once and
kept: borrowing and returning it for each batch (a lock, a health check, metrics) took a round
trip from 104 µs of CPU to 147–194 µs in a loop of one ``GET`` at a time.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = tuple[Any, ...]
Then = Callable[[Any], None]
"""Told a call's reply, or the exception it failed with (:meth:`RedisBatch.script_then`)."""

logger = logging.getLogger(__name__)

IN_FLIGHT = 1
"""Batches sent and not yet answered, at most. One: what arrives during a round trip waits for it
and goes in the next batch. In a burst of joins the hellos' scripts then shared a round trip with
a few others' instead of going one hello per round trip, and the instances handled 41 % more
hellos a second (median of 5 alternated repetitions of 2,000); with two batches in flight, hardly
any shared one."""

TIMEOUT_S = 10.0
"""A batch's deadline when its connection has no socket timeout (redis-py 8 gives one of 5 s by
default; earlier versions none), and the limit on borrowing that connection. Calls wait behind
the batch in flight: without a deadline, calls behind a batch that Redis never answers (a network
partition, not a reset) would wait as long as the kernel retransmits, some 15 minutes."""


class _Handoff:
    """Where a :meth:`RedisBatch.script_then` call's reply goes: the part of a future's interface
    the batch uses, calling the function at once instead of waking an awaiting task later."""

    __slots__ = ("_done", "_then")

    def __init__(self, then: Then) -> None:
        self._then = then
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: Any) -> None:
        self._hand(result)

    def set_exception(self, exc: BaseException) -> None:
        self._hand(exc)

    def cancel(self) -> None:
        self._hand(asyncio.CancelledError())

    def _hand(self, outcome: Any) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._then(outcome)
        except Exception:
            logger.exception("a batch reply's handler failed")


@dataclass(slots=True)
class _Call:
    commands: Sequence[Command]
    future: asyncio.Future[Any] | _Handoff
    script: AsyncScript | None = None
    raw: bool = False


class RedisBatch:
    """Collects calls and sends them as one pipeline: those of one event-loop turn, and those
    made while the batch before them was in flight."""

    def __init__(self, redis: Redis, timeout_s: float = TIMEOUT_S) -> None:
        """Batch calls on ``redis``, at most :data:`IN_FLIGHT` batches at a time, each on one of
        the pool's connections, which the batch keeps for the next; a batch fails after its
        connection's socket timeout, or ``timeout_s`` if it has none (:data:`TIMEOUT_S`)."""
        self.redis = redis
        self.timeout_s = timeout_s
        self._pending: list[_Call] = []
        self._flush_due = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: list[AbstractConnection] = []

    async def commands(self, *commands: Command, raw: bool = False) -> list[Any]:
        """Run some commands (not atomically with each other); return their replies in order
        (``raw``: as Redis sent them, without the client's conversions, e.g. of scores)."""
        replies: list[Any] = await self._add(commands, raw=raw)
        return replies

    async def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run a registered Lua script by its SHA (loaded again if Redis forgot it)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        return await self._add((command,), script)

    def script_then(
        self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any], then: Then
    ) -> None:
        """Run a registered Lua script like :meth:`script`, and call ``then`` with its reply (or
        the exception it failed with) as soon as the reply is read, in the batch's task."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        self._queue(_Call((command,), _Handoff(then), script))

    async def _add(
        self, commands: Sequence[Command], script: AsyncScript | None = None, raw: bool = False
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue(_Call(commands, future, script, raw))
        return await future

    def _queue(self, call: _Call) -> None:
        self._pending.append(call)
        self._schedule()

    def _schedule(self) -> None:
        if self._pending and not self._flush_due and len(self._tasks) < IN_FLIGHT:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        calls, self._pending = self._pending, []
        task = asyncio.create_task(self._send(calls))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._schedule()

    async def _send(self, calls: list[_Call], reload: bool = True) -> None:
        calls = [c for c in calls if not c.future.done()]  # a cancelled caller needs nothing
        if not calls:
            return
        commands = [command for call in calls for command in call.commands]
        known = self.redis.response_callbacks
        callbacks = [
            None if call.raw else known.get(command[0])
            for call in calls
            for command in call.commands
        ]
        try:
            replies = await self._round_trip(commands, callbacks)
        except asyncio.CancelledError:
            for call in calls:
                call.future.cancel()
            raise
        except Exception as exc:
            for call in calls:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        unknown: list[_Call] = []
        at = 0
        for call in calls:
            mine = replies[at : at + len(call.commands)]
            at += len(call.commands)
            if call.future.done():
                continue
            if call.script is not None:
                if isinstance(mine[0], NoScriptError) and reload:
                    unknown.append(call)
                elif isinstance(mine[0], Exception):
                    call.future.set_exception(mine[0])
                else:
                    call.future.set_result(mine[0])
                continue
            error = next((r for r in mine if isinstance(r, Exception)), None)
            if error is not None:
                call.future.set_exception(error)
            else:
                call.future.set_result(mine)
        if unknown:
            # Redis restarted (or flushed its scripts): load them again, then retry once.
            try:
                for script in {id(c.script): c.script for c in unknown}.values():
                    assert script is not None
                    await self.redis.script_load(script.script)
            except Exception as exc:
                for call in unknown:
                    if not call.future.done():
                        call.future.set_exception(exc)
                return
            await self._send(unknown, reload=False)

    async def _round_trip(self, commands: list[Command], callbacks: list[Any]) -> list[Any]:
        """Send ``commands`` in one write; return each reply (an error reply as its exception),
        converted by its command's callback where it has one (the client's reply callbacks).

        A connection that fails is dropped and the batch sent again on a fresh one, with the
        client's retry policy, as redis-py's own pipeline does (a pooled connection that died
        with a Redis restart fails once).
        """
        pool = self.redis.connection_pool
        if self._held:
            conn = self._held.pop()
        else:
            try:
                async with asyncio.timeout(self.timeout_s):  # connecting may hang as well
                    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
            except TimeoutError as exc:
                raise RedisTimeoutError("Timeout connecting to Redis") from exc
        packed = b"".join(map(hiredis.pack_command, commands))

        async def exchange() -> list[Any]:
            # One deadline for the whole batch (the connection's socket timeout), not one per reply.
            try:
                async with asyncio.timeout(conn.socket_timeout or self.timeout_s):
                    await conn.send_packed_command(packed)
                    replies: list[Any] = []
                    for callback in callbacks:
                        try:
                            reply = await conn.read_response(timeout=math.inf)
                        except ResponseError as exc:
                            replies.append(exc)
                            continue
                        replies.append(reply if callback is None else callback(reply))
                    return replies
            except TimeoutError as exc:
                raise RedisTimeoutError("Timeout reading from Redis") from exc

        async def dropped(_error: Exception) -> None:
            await conn.disconnect()

        try:
            replies: list[Any] = await conn.retry.call_with_retry(exchange, dropped)
        except BaseException:
            # Replies may be left unread (cancelled, or the connection failed): never reuse it.
            await conn.disconnect()
            await pool.release(conn)
            raise
        # Kept for a next batch (never more than the batches in flight); the pool disconnects
        # it when the client closes.
        self._held.append(conn)
        return replies
