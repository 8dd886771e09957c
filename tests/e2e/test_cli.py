"""The ``speedrun`` command line against the running stack, as an operator types it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from speedrun_cli.client import SpeedrunApi
from speedrun_cli.host import HostSession
from speedrun_devstack.stack import Stack

SPEEDRUN = str(Path(sys.executable).with_name("speedrun"))
BOTS = 6

QUESTION_SET = {
    "title": "CLI set",
    "questions": [
        {"text": f"{n} + {n}?", "options": [str(2 * n), str(2 * n + 1)], "correct": [0]}
        for n in range(3)
    ],
}


def _speedrun(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [SPEEDRUN, *args, *(("--url", url) if url else ())]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


async def _host_self_paced(url: str, set_id: str) -> tuple[dict[str, Any], str]:
    async with SpeedrunApi(url) as api, aiohttp.ClientSession() as session:
        created = await api.create_run(set_id, "self-paced", time_limit_s=10)
        host = HostSession(api, session, created)
        await host.connect()
        proc = await asyncio.create_subprocess_exec(
            SPEEDRUN, "bots", created["join_code"], "--count", str(BOTS), "--seed", "3",
            "--url", url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await host.wait_for(lambda v: v.participant_count >= BOTS, 120, "the bots")
            await host.start()
            await host.wait_finished(120)
            output, _ = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await host.close()
        assert proc.returncode == 0, output.decode()
        return created, output.decode()


def test_cli_uploads_plays_with_bots_and_exports_results(stack: Stack, tmp_path: Path) -> None:
    url = stack.urls.gateway
    path = tmp_path / "cli-set.json"
    path.write_text(json.dumps(QUESTION_SET))

    checked = _speedrun("check", str(path))
    assert checked.returncode == 0, checked.stderr
    uploaded = _speedrun("upload", str(path), url=url)
    assert uploaded.returncode == 0, uploaded.stderr
    set_id = uploaded.stdout.split()[-1]
    assert set_id.startswith("qs_")

    created, bots_output = asyncio.run(_host_self_paced(url, set_id))
    assert "summary" in bots_output

    exported = _speedrun(
        "results", created["speedrun_id"], "--format", "csv", "--token", created["host_token"],
        url=url,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    assert len(rows) == 1 + BOTS
    assert {f"bot-{i:03d}" for i in range(1, BOTS + 1)} <= {c for row in rows for c in row}


def test_cli_upload_of_invalid_set_shows_locations(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"title": "x", "questions": [{"text": "q", "options": ["a"]}]}))
    uploaded = _speedrun("upload", str(path), url=stack.urls.gateway)
    assert uploaded.returncode == 1
    assert "/questions/0" in uploaded.stderr
