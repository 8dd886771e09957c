"""Redis-backed rate limits per client address (fixed windows, shared by every instance).

Two limits, both documented in the README:

* **failed look-ups**: a client address may name at most ``lookup_failure_limit`` distinct unknown
  join codes per ``lookup_failure_window_s``; past that every look-up from it is refused with 429
  until the window ends, so guessing a live code is slow. Only failures count, and a mistyped
  code counts once however often it is retried (the join page looks a code up before joining):
  a classroom behind one NAT address is not locked out by a few typos or by its own successes.
* **joins per run**: one address may add at most ``join_limit_per_run`` participants to one run per
  ``join_window_s`` (generous: a whole class shares an address), so a script cannot fill a run.

The checks run inside the scripts of :class:`speedrun_signon.runs.RunStore` (:data:`LIMITS_LUA`),
so that a join costs one Redis round trip to resolve its code and one to join, not four.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

# Both windows start with their first entry; the EXPIRE is in the same script, so a key never
# outlives its window.
LIMITS_LUA = """
-- Seconds until the window of key ends once used has reached limit, else 0.
local function retry_after(key, used, limit)
  if used < tonumber(limit) then return 0 end
  return math.max(redis.call('TTL', key), 1)
end
-- Count one attempt first, then compare, in one step: attempts in flight together can never
-- overshoot the limit. Returns what retry_after returns, refusing the attempt past the limit.
local function take(key, limit, window_s)
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, window_s) end
  return retry_after(key, count - 1, limit)
end
"""
"""Lua functions the run store's scripts include: ``retry_after`` checks a window (its ``used``
size read by the caller), ``take`` counts an attempt in a counting window and checks it."""

_ADD_LUA = """
redis.call('SADD', KEYS[1], ARGV[2])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return redis.call('SCARD', KEYS[1])
"""


def lookup_key(client: str) -> str:
    """Return the key of one address's unknown codes (a set)."""
    return f"rl:lookup:{client}"


def join_key(speedrun_id: str, client: str) -> str:
    """Return the key of one address's joins to one run (a counter, in the run's hash slot)."""
    return f"rl:join:{{{speedrun_id}}}:{client}"


@dataclass(frozen=True, slots=True)
class Quota:
    """One key's window: at most ``limit`` entries per ``window_s`` seconds."""

    key: str
    limit: int
    window_s: int


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
        self.lookup_failure_limit = lookup_failure_limit
        self.lookup_failure_window_s = lookup_failure_window_s
        self.join_limit_per_run = join_limit_per_run
        self.join_window_s = join_window_s
        self._add = redis.register_script(_ADD_LUA)

    def lookups(self, client: str) -> Quota:
        """The window of an address's distinct unknown codes (a set)."""
        return Quota(lookup_key(client), self.lookup_failure_limit, self.lookup_failure_window_s)

    def joins(self, speedrun_id: str, client: str) -> Quota:
        """The window of an address's joins to one run (a counter)."""
        return Quota(join_key(speedrun_id, client), self.join_limit_per_run, self.join_window_s)

    async def add_failure(self, lookups: Quota, code: str) -> int:
        """Count an unknown ``code`` once per window; return the window's distinct codes so far."""
        return int(await self._add(keys=[lookups.key], args=[lookups.window_s, code]))
