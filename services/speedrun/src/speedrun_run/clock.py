"""The server's clock. Every time the engine uses comes from here, so tests can pass their own."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Return the server's clock in Unix milliseconds."""
    return time.time_ns() // 1_000_000
