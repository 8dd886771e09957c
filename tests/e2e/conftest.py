"""The end-to-end suite starts the whole stack once, the way ``make run`` does.

Every process's output goes to ``test-artifacts/e2e-stack.log`` (read it when a test fails).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from speedrun_devstack.config import Settings
from speedrun_devstack.stack import BackgroundStack, Stack

ROOT = Path(__file__).resolve().parents[2]
LOG_FILE = ROOT / "test-artifacts" / "e2e-stack.log"


class _LogFile:
    """Writes each process's lines, prefixed with its name, to one file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")
        self.lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        with self.lock:
            self.file.write(f"{name:<10} | {line}\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()


@pytest.fixture(scope="session")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    """The running stack, driven from the tests' thread (kill and restart instances)."""
    settings = Settings(
        port=0,
        data_dir=tmp_path_factory.mktemp("stack-data"),
        speedrun_instances=2,
        log_level="INFO",
        queue_visibility_timeout_s=30,
    )
    sink = _LogFile(LOG_FILE)
    background = BackgroundStack(settings, sink)
    try:
        with background:
            yield background
    finally:
        sink.close()


@pytest.fixture(scope="session")
def stack(background: BackgroundStack) -> Stack:
    """The running stack: URLs, processes, the gateway's view of the instances."""
    assert background.stack is not None
    return background.stack
