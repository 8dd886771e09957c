"""Redis-backed rate limits per client address (fixed windows, shared by every instance).

Two limits, both documented in the README:

* **failed look-ups**: a client address may name at most ``lookup_failure_limit`` unknown join
  codes per ``lookup_failure_window_s``; past that every look-up from it is refused with 429 until
  the window ends, so guessing a live code is slow. Only failures count: a classroom behind one
  NAT address joining a real code is never slowed by its own successes.
* **joins per run**: one address may add at most ``join_limit_per_run`` participants to one run per
  ``join_window_s`` (generous: a whole class shares an address), so a script cannot fill a run.
"""

from __future__ import annotations

from redis.asyncio import Redis

from speedrun_signon.errors import RateLimited

_HIT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

_CHECK_LUA = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count < tonumber(ARGV[1]) then return 0 end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return ttl
"""


def lookup_key(client: str) -> str:
    """Return the counter key of one address's failed look-ups."""
    return f"rl:lookup:{client}"


def join_key(speedrun_id: str, client: str) -> str:
    """Return the counter key of one address's joins to one run."""
    return f"rl:join:{{{speedrun_id}}}:{client}"


class FixedWindow:
    """At most ``limit`` hits per ``window_s`` seconds per key."""

    def __init__(self, redis: Redis, limit: int, window_s: int) -> None:
        """Create a limit.

        Args:
            redis: The client.
            limit: Hits allowed per window.
            window_s: The window's length.
        """
        self.limit = limit
        self.window_s = window_s
        self._hit = redis.register_script(_HIT_LUA)
        self._check = redis.register_script(_CHECK_LUA)

    async def check(self, key: str) -> None:
        """Refuse when the key has used up its window.

        Raises:
            RateLimited: With the seconds until the window ends.
        """
        retry_after = int(await self._check(keys=[key], args=[self.limit, self.window_s]))
        if retry_after > 0:
            raise RateLimited(retry_after)

    async def hit(self, key: str) -> int:
        """Count one hit; return the window's count so far."""
        return int(await self._hit(keys=[key], args=[self.window_s]))


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
        self.lookups = FixedWindow(redis, lookup_failure_limit, lookup_failure_window_s)
        self.joins = FixedWindow(redis, join_limit_per_run, join_window_s)
