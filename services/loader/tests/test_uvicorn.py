"""The service as it runs locally: uvicorn with the app factory, over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from speedrun_testkit import free_port, wait_until

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One uvicorn process for this module's tests, with an empty store."""
    port = free_port()
    store = tmp_path_factory.mktemp("store")
    env = {**os.environ, "QUESTION_SET_DIR": str(store), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "uvicorn", "speedrun_loader.app:create_app", "--factory"]
    process = subprocess.Popen([*command, "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/healthz").status_code == 200, timeout=30, what="uvicorn"
        )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_uvicorn_serves_upload_list_and_read(service_url: str) -> None:
    sample = (DATA / "mc-speedrun-example-1.json").read_bytes()

    created = httpx.post(
        f"{service_url}/question-set-upload",
        files={"file": ("mc-speedrun-example-1.json", sample, "application/json")},
    )
    listing = httpx.get(f"{service_url}/question-sets")
    read = httpx.get(f"{service_url}/question-sets/{created.json()['id']}")

    assert created.status_code == 201
    assert [item["id"] for item in listing.json()] == [created.json()["id"]]
    assert len(read.json()["questions"]) == 10


def test_uvicorn_refuses_oversized_body_early(service_url: str) -> None:
    response = httpx.post(
        f"{service_url}/question-set-upload",
        files={"file": ("big.csv", b"x" * (6 * 1024 * 1024))},
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"
