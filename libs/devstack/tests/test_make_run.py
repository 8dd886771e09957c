"""``python -m speedrun_devstack`` (make run) with the real services: up, then down cleanly.

Each test starts the whole stack (one speedrun instance, to spare the machine), reads the pids it
announces, and checks that none of them is left afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STARTED = re.compile(r"started (\S+)(?: again)? \(pid (\d+)\)")


@dataclass
class MakeRun:
    """A running ``python -m speedrun_devstack`` and everything it printed so far."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:  # the last line of the banner
                self.ready.set()
        self.ready.set()

    @property
    def pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in self.lines:
            match = STARTED.search(line)
            if match:
                found[match.group(1)] = int(match.group(2))
        return found

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead, only not yet reaped by whoever inherited it.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if _alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    env = dict(os.environ, PORT="0", DATA_DIR=str(tmp_path / "data"), SPEEDRUN_INSTANCES="1")
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "speedrun_devstack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = MakeRun(proc)
    reader = threading.Thread(target=running.read, daemon=True)
    reader.start()
    assert running.ready.wait(180), running.output
    assert proc.poll() is None, running.output
    yield running
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    reader.join(10)
    assert proc.stdout is not None
    proc.stdout.close()
    for pid in running.pids.values():
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)


def test_sigterm_stops_every_process(make_run: MakeRun) -> None:
    pids = make_run.pids
    assert {"redis", "moto", "loader", "signon", "speedrun-1", "reporter"} <= set(pids)
    assert "/host" in make_run.output
    assert "/join" in make_run.output
    make_run.proc.send_signal(signal.SIGTERM)
    assert make_run.proc.wait(60) == 0, make_run.output
    assert _wait_gone(list(pids.values())) == []


def test_dead_process_is_named_and_stops_the_rest(make_run: MakeRun) -> None:
    pids = make_run.pids
    os.kill(pids["speedrun-1"], signal.SIGKILL)
    assert make_run.proc.wait(60) == 1, make_run.output
    assert "speedrun-1 was killed by SIGKILL" in make_run.output
    assert _wait_gone(list(pids.values())) == []
