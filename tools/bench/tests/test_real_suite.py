"""The real suite's wait for idle servers before each join of all N."""

from __future__ import annotations

import asyncio
import sys

from tools.bench.real_suite import StackInfo, servers_idle


def _info(pids: dict[str, int]) -> StackInfo:
    return StackInfo(
        signon="", loader="", instances=[], redis="", aws="", instance_pids=[],
        signon_pid=None, pids=pids,
    )  # fmt: skip


async def test_servers_idle_waits_while_a_server_is_busy() -> None:
    # a "server" that spins for 2 s (as the reporter archiving the last run), then sleeps
    spin = "import time\nt=time.time()\nwhile time.time()-t<2: pass\ntime.sleep(30)"
    busy = await asyncio.create_subprocess_exec(sys.executable, "-c", spin)
    try:
        waited = await servers_idle(_info({"reporter": busy.pid}))
    finally:
        busy.kill()
        await busy.wait()

    assert 2.0 <= waited < 10.0


async def test_servers_idle_returns_soon_when_idle() -> None:
    idle = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
    try:
        waited = await servers_idle(_info({"reporter": idle.pid}))
    finally:
        idle.kill()
        await idle.wait()

    assert waited < 2.5
