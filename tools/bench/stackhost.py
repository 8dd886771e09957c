"""Runs the real stack (``speedrun_devstack.Stack``) in a process of its own, on the servers' cores.

``python -m tools.bench.stackhost INFO_FILE`` starts Redis, the AWS endpoint, the loader, sign-on,
two speedrun instances and the reporter (each its own process, inheriting this process's cores and
open-file limit), writes where they answer and their pids to ``INFO_FILE`` as JSON, and stops them
all on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path


async def _serve(info_file: Path, instances: int) -> int:
    from speedrun_devstack.config import Settings
    from speedrun_devstack.stack import Stack

    data_dir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    settings = Settings(
        port=0, data_dir=data_dir, log_level="WARNING", speedrun_instances=instances
    )
    # Services log at WARNING; their lines go to this process's output (the bench's log file).
    stack = Stack(settings, sink=lambda name, line: print(f"{name} | {line}", file=sys.stderr))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stack.start()
    try:
        urls = stack.urls
        pids = {p.name: p.pid for p in stack.processes if p.pid}
        info = {
            "signon": urls.signon,
            "loader": urls.loader,
            "instances": urls.instances,
            "redis": urls.redis,
            "aws": urls.aws,
            "gateway": urls.gateway,
            "pids": pids,
            "instance_pids": [p.pid for p in stack.instances],
            "signon_pid": stack.signon.pid if stack.signon else None,
            "stack_pid": os.getpid(),
            "token_secret": stack.token_secret,
            "aws_env": stack.aws_env(),
        }
        partial = info_file.with_suffix(".tmp")
        partial.write_text(json.dumps(info))
        partial.replace(info_file)
        failed = asyncio.create_task(stack.wait_failure())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if failed.done():
            process = failed.result()
            sys.stderr.write(f"{process.name} {process.describe_exit()}\n")
            sys.stderr.write("\n".join(process.tail) + "\n")
            return 1
        failed.cancel()
        return 0
    finally:
        await stack.stop()


def main() -> None:
    """Start the stack and keep it until signalled."""
    info_file = Path(sys.argv[1])
    instances = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    # Raise the open-file limit before the services start: they inherit it.
    from tools.bench.system import raise_nofile

    raise_nofile()
    sys.exit(asyncio.run(_serve(info_file, instances)))


if __name__ == "__main__":
    main()
