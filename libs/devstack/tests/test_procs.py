"""Child processes: their whole group is stopped, stubborn ones are killed, exits are explained."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from speedrun_devstack.procs import ManagedProcess, ProcessFailed, describe_returncode

# A parent that ignores SIGTERM and leaves a grandchild in its group.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_for_line(process: ManagedProcess, text: str) -> None:
    for _ in range(500):
        if text in process.tail:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{process.name} never printed {text!r}: {list(process.tail)}")


async def test_stop_kills_whole_group_after_deadline() -> None:
    lines: list[tuple[str, str]] = []
    process = ManagedProcess(
        "stubborn",
        [sys.executable, "-c", STUBBORN],
        os.environ,
        lambda name, line: lines.append((name, line)),
    )
    await process.start()
    await _wait_for_line(process, "ready")
    assert process.pid is not None
    await process.stop(timeout=0.5)
    assert process.returncode == -signal.SIGKILL
    assert not _group_alive(process.pid)
    assert ("stubborn", "ready") in lines


async def test_stop_leaves_no_grandchild_of_polite_process() -> None:
    script = STUBBORN.replace("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n", "")
    process = ManagedProcess("polite", [sys.executable, "-c", script], os.environ)
    await process.start()
    await _wait_for_line(process, "ready")
    assert process.pid is not None
    await process.stop(timeout=10)
    assert process.returncode == -signal.SIGTERM
    assert not _group_alive(process.pid)


async def test_wait_ready_reports_early_exit_with_output() -> None:
    process = ManagedProcess(
        "broken",
        [sys.executable, "-c", "import sys; print('bad config', file=sys.stderr); sys.exit(3)"],
        os.environ,
    )
    await process.start()

    async def never() -> bool:
        return False

    try:
        await process.wait_ready(never, timeout=30)
    except ProcessFailed as exc:
        assert "broken exited with code 3 while starting" in str(exc)
        assert "bad config" in str(exc)
    else:
        raise AssertionError("wait_ready did not fail")


def test_describe_returncode_names_signal() -> None:
    assert describe_returncode(-9) == "was killed by SIGKILL"
    assert describe_returncode(2) == "exited with code 2"
    assert describe_returncode(None) == "is running"
