"""Child processes of the stack: started in their own process group, logs streamed, stopped surely.

Each process gets its own session (so Ctrl-C reaches only the supervisor, which stops the children
in order) and, on Linux, asks the kernel to SIGTERM it if the supervisor dies, so a crashed test
run leaves nothing behind. Stopping sends SIGTERM to the whole group, waits, then SIGKILLs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

LogSink = Callable[[str, str], None]
"""Receives every output line of a child: ``(process name, line without the newline)``."""

TAIL_LINES = 40
"""Output lines kept per process, to say why it died."""

_PR_SET_PDEATHSIG = 1


class ProcessFailed(RuntimeError):
    """A child process exited when it should not have (or never became ready)."""

    def __init__(self, process: ManagedProcess, what: str) -> None:
        """Describe the failure of ``process``."""
        self.process = process
        tail = "\n".join(f"    {line}" for line in process.tail) or "    (no output)"
        super().__init__(f"{process.name} {what}; last output:\n{tail}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe_returncode(returncode: int | None) -> str:
    """Say how a process ended, e.g. ``exited with code 1`` or ``was killed by SIGKILL``."""
    if returncode is None:
        return "is running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


class ManagedProcess:
    """One child process of the stack, restartable with the same command."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        sink: LogSink | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Prepare (not start) a process.

        Args:
            name: A short name used in log prefixes and messages, e.g. ``speedrun-1``.
            argv: The command.
            env: The complete environment of the child.
            sink: Where output lines go (besides the tail kept here).
            cwd: The working folder.
        """
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.sink = sink
        self.cwd = cwd
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.proc: asyncio.subprocess.Process | None = None
        self.expected_exit = False
        """True while the stack itself is stopping or killing this process."""
        self._readers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process group id), or None before start."""
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while running."""
        return self.proc.returncode if self.proc else None

    @property
    def running(self) -> bool:
        """True from start until the process has exited."""
        return self.proc is not None and self.proc.returncode is None

    def describe_exit(self) -> str:
        """Say how the process ended."""
        return describe_returncode(self.returncode)

    async def start(self) -> None:
        """Start the process in a new session and stream its output."""
        self.expected_exit = False
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            limit=1 << 20,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self.proc.stdout)),
            asyncio.create_task(self._read(self.proc.stderr)),
        ]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: keep what fits
                raw = await stream.read(1 << 20)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            if self.sink is not None:
                self.sink(self.name, line)

    async def wait(self) -> int:
        """Wait until the process exits and its output is read; return its status."""
        assert self.proc is not None, "not started"
        code = await self.proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return code

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process's whole group (nothing if it is gone)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        """Stop the process: ``sig`` to its group, then SIGKILL after ``timeout`` seconds.

        Whatever the leader left in its group is killed too, so nothing outlives the stack.
        """
        if self.proc is None:
            return
        self.expected_exit = True
        if self.proc.returncode is None:
            self.signal_group(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.signal_group(signal.SIGKILL)
        await self.wait()
        self.signal_group(signal.SIGKILL)
        await self._group_gone(timeout=2.0)

    async def _group_gone(self, timeout: float) -> None:
        """Wait (bounded) until no process of the group is left, reaped ones included."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """SIGKILL the process group at once (a crash, for fault tests) and reap it."""
        await self.stop(timeout=0.0, sig=signal.SIGKILL)

    async def wait_ready(
        self, probe: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.1
    ) -> None:
        """Poll ``probe`` until it answers True; fail if the process exits or time runs out.

        Raises:
            ProcessFailed: If the process exited, or was not ready within ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self.running:
                await self.wait()
                raise ProcessFailed(self, f"{self.describe_exit()} while starting")
            try:
                if await probe():
                    return
            except Exception:  # noqa: S110 - a failing probe only means "not yet"
                pass
            if loop.time() > deadline:
                raise ProcessFailed(self, f"was not ready after {timeout:.0f}s")
            await asyncio.sleep(interval)
