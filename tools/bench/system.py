"""The machine side of the bench: open-file limits, core pinning, memory and CPU of processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def run_loop(main: Coroutine[Any, Any, T], uvloop_wanted: bool = True) -> T:
    """Run a coroutine on uvloop when it is installed and wanted, else on asyncio's loop."""
    if uvloop_wanted:
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.run(main)
    return asyncio.run(main)


NOFILE_CEILING = 1 << 20
"""The most open files asked for: the kernel's own ceiling (``fs.nr_open``) is usually this."""


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as ceiling:
            return min(int(ceiling.read()), NOFILE_CEILING)
    except (OSError, ValueError):
        return 0


def raise_nofile(pid: int | None = None) -> tuple[int, int]:
    """Raise a process's open-file limit as far as the machine allows: both limits to the
    kernel's ceiling when this process may raise the hard limit (root), else the soft limit to
    the hard one.

    Args:
        pid: Another process (needs the right to, e.g. root); this process when None.

    Returns:
        The (soft, hard) limits now in force.
    """
    target = 0 if pid is None else pid  # 0: this process
    hard = resource.prlimit(target, resource.RLIMIT_NOFILE)[1]
    for limit in (max(hard, _nr_open()), hard):
        try:
            resource.prlimit(target, resource.RLIMIT_NOFILE, (limit, limit))
            break
        except (ValueError, OSError):  # not allowed to raise the hard limit
            continue
    return resource.prlimit(target, resource.RLIMIT_NOFILE)


@dataclass(frozen=True)
class Placement:
    """Which cores the servers and the generator run on."""

    server_cores: frozenset[int]
    generator_cores: frozenset[int]

    @property
    def separated(self) -> bool:
        """True when servers and generator have cores of their own."""
        return not (self.server_cores & self.generator_cores)

    def describe(self) -> str:
        """One line for the report."""
        if self.separated:
            return (
                f"servers pinned to cores {sorted(self.server_cores)}, "
                f"generator to cores {sorted(self.generator_cores)}"
            )
        return f"not pinned: everything shares cores {sorted(self.server_cores)}"


def plan_placement() -> Placement:
    """Split the cores this process may use: the first for servers, the rest for the generator.

    With one core there is nothing to split, and both sides share it.
    """
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return Placement(frozenset(cores), frozenset(cores))
    half = max(1, len(cores) // 2)
    return Placement(frozenset(cores[:half]), frozenset(cores[half:]))


def pin(pid: int, cores: frozenset[int]) -> bool:
    """Pin a process (every thread of it) to some cores; False when the system refuses."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(task), cores)
    except (OSError, ValueError):
        return False
    return True


def rss_bytes(pid: int) -> int:
    """Return a process's resident set size in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds a process has used (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields after the command name: state is index 0, utime 11, stime 12.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU seconds this process has used (user + system), precise."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
