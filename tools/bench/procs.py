"""Processes the bench starts itself: a Redis for the baselines and the bare baseline server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until something listens on 127.0.0.1:port.

    Raises:
        RuntimeError: If ``proc`` exits or nothing listens within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


class Child:
    """A child process the bench owns; stopped when the bench ends."""

    def __init__(self, name: str, argv: list[str], port: int, cwd: Path = REPO) -> None:
        """Start the process (output discarded) and wait for its port."""
        self.name = name
        self.port = port
        # Output goes to a file, never a pipe nobody reads (a full pipe would stall the server).
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_port(port, 30, self.proc)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{name} did not start: {exc}\n{self.tail()}") from exc

    def tail(self, size: int = 2000) -> str:
        """The end of the child's output."""
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.proc.pid

    def stop(self) -> None:
        """Terminate, then kill if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis() -> tuple[Child, str]:
    """Start a throwaway redis-server; return it and its URL.

    Raises:
        RuntimeError: If no redis-server is installed.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (apt-get install redis-server)")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        folder,
        "--maxclients",
        "20000",
        "--protected-mode",
        "no",
    ]
    return Child("redis", argv, port), f"redis://127.0.0.1:{port}/0"


def start_bare(redis_url: str, uvloop: bool = True) -> Child:
    """Start the bare baseline server (:mod:`tools.bench.bare`) on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "tools.bench.bare", "--port", str(port), "--redis-url", redis_url]
    if not uvloop:
        argv.append("--no-uvloop")
    return Child("bare", argv, port)


def start_bare_signon() -> Child:
    """Start the joins' floor, a sign-on that does no work (:mod:`tools.bench.bare_signon`)."""
    port = free_port()
    argv = [sys.executable, "-m", "tools.bench.bare_signon", "--port", str(port)]
    return Child("bare-signon", argv, port)
