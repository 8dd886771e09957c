"""Redis-backed rate limits per client address (fixed windows, shared by every instance).

Two limits, both documented in the README:

* **failed look-ups**: a client address may name at most ``lookup_failure_limit`` distinct unknown
  join codes per ``lookup_failure_window_s``; past that every look-up from it is refused with 429
  until the window ends, so guessing a live code is slow. Only failures count, and a mistyped
  code counts once however often it is retried (the join page looks a code up before joining):
  a classroom behind one NAT address is not locked out by a few typos or by its own successes.
* **joins per run**: one address may add at most ``join_limit_per_run`` participants to one run per
  ``join_window_s`` (generous: a whole class shares an address), so a script cannot fill a run.
"""

from __future__ import annotations

from redis.asyncio import Redis

from speedrun_signon.errors import RateLimited

# Both windows start with their first entry; the EXPIRE is in the same script, so a key never
# outlives its window.
# Count first, then compare, in one step: joins in flight together can never overshoot the limit.
_TAKE_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if count > tonumber(ARGV[2]) then return math.max(redis.call('TTL', KEYS[1]), 1) end
return 0
"""

_ADD_LUA = """
redis.call('SADD', KEYS[1], ARGV[2])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return redis.call('SCARD', KEYS[1])
"""

_RETRY_AFTER_LUA = """
local used = tonumber(redis.call(ARGV[3], KEYS[1]) or '0')
if used < tonumber(ARGV[1]) then return 0 end
return math.max(redis.call('TTL', KEYS[1]), 1)
"""


def lookup_key(client: str) -> str:
    """Return the key of one address's unknown codes (a set)."""
    return f"rl:lookup:{client}"


def join_key(speedrun_id: str, client: str) -> str:
    """Return the key of one address's joins to one run (a counter)."""
    return f"rl:join:{{{speedrun_id}}}:{client}"


class _Window:
    def __init__(self, redis: Redis, limit: int, window_s: int, size_command: str) -> None:
        self.limit = limit
        self.window_s = window_s
        self._size_command = size_command
        self._retry_after = redis.register_script(_RETRY_AFTER_LUA)

    async def check(self, key: str) -> None:
        """Refuse when the key has used up its window.

        Raises:
            RateLimited: With the seconds until the window ends.
        """
        retry_after = int(
            await self._retry_after(
                keys=[key], args=[self.limit, self.window_s, self._size_command]
            )
        )
        if retry_after > 0:
            raise RateLimited(retry_after)


class CountWindow(_Window):
    """At most ``limit`` attempts per window per key."""

    def __init__(self, redis: Redis, limit: int, window_s: int) -> None:
        """Create the limit."""
        super().__init__(redis, limit, window_s, "GET")
        self._take = redis.register_script(_TAKE_LUA)

    async def take(self, key: str) -> None:
        """Count one attempt, atomically refusing it when the window is used up.

        Raises:
            RateLimited: With the seconds until the window ends.
        """
        retry_after = int(await self._take(keys=[key], args=[self.window_s, self.limit]))
        if retry_after > 0:
            raise RateLimited(retry_after)


class DistinctWindow(_Window):
    """At most ``limit`` distinct values per window per key."""

    def __init__(self, redis: Redis, limit: int, window_s: int) -> None:
        """Create the limit."""
        super().__init__(redis, limit, window_s, "SCARD")
        self._add = redis.register_script(_ADD_LUA)

    async def add(self, key: str, value: str) -> int:
        """Count ``value`` once per window; return the window's distinct values so far."""
        return int(await self._add(keys=[key], args=[self.window_s, value]))


class RateLimits:
    """Sign-on's two limits."""

    def __init__(
        self,
        redis: Redis,
        *,
        lookup_failure_limit: int,
        lookup_failure_window_s: int,
        join_limit_per_run: int,
        join_window_s: int,
    ) -> None:
        """Create both limits (see the module docstring)."""
        self.lookups = DistinctWindow(redis, lookup_failure_limit, lookup_failure_window_s)
        self.joins = CountWindow(redis, join_limit_per_run, join_window_s)
