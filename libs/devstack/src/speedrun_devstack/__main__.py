"""``make run``: start the whole system on this machine and stream its logs until Ctrl-C.

Exit status: 0 after a clean stop (Ctrl-C or SIGTERM), 1 when a process died (the console says
which, how, and its last output), 2 when the stack could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from speedrun_devstack.config import Settings
from speedrun_devstack.console import Console
from speedrun_devstack.procs import ProcessFailed
from speedrun_devstack.stack import Stack


class _ConsoleHandler(logging.Handler):
    """Shows the stack's own log records on the console, as lines of a process named ``stack``."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.console.error(f"stack | {text}")
        else:
            self.console.log("stack", text)


def parse_args(argv: list[str] | None = None) -> Settings:
    """Read the settings from the environment, overridden by command-line flags."""
    parser = argparse.ArgumentParser(
        prog="python -m speedrun_devstack",
        description="Run the whole speedrun system on this machine (make run).",
    )
    parser.add_argument("--port", type=int, help="gateway port (env PORT, default 8080)")
    parser.add_argument("--data-dir", type=Path, help="data folder (env DATA_DIR, ./.run/data)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (env LOG_LEVEL)")
    parser.add_argument(
        "--instances", type=int, dest="speedrun_instances",
        help="speedrun instances (env SPEEDRUN_INSTANCES, default 2)",
    )  # fmt: skip
    parser.add_argument("--redis-url", help="use this Redis (env REDIS_URL)")
    parser.add_argument("--localstack-host", help="LocalStack host:port (env LOCALSTACK_HOST)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    return Settings(**overrides)


def _banner(console: Console, stack: Stack) -> None:
    urls = stack.urls
    console.say("")
    console.say("speedrun is running", bold=True)
    console.say(f"  hosts:   {urls.host_page}", bold=True)
    console.say(f"  players: {urls.join_page}", bold=True)
    if stack.sample_set_id:
        console.say(f"  sample question set: {stack.sample_set_id}")
    console.say(f"  speedrun instances: {len(urls.instances)}; Redis {urls.redis}; AWS {urls.aws}")
    console.say("  Ctrl-C stops everything.")
    console.say("")


async def run(settings: Settings, console: Console) -> int:
    """Run the stack until a signal (0) or a process's death (1); 2 if it cannot start."""
    stack = Stack(settings, sink=console.log)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(stack.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        console.say("stopping before the stack was ready ...")
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        return 0
    if starting.exception() is not None:
        error = starting.exception()
        console.error(f"speedrun could not start: {error}")
        return 2
    _banner(console, stack)
    failed = asyncio.create_task(stack.wait_failure())
    await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    if failed.done():
        process = failed.result()
        console.error(f"{process.name} {process.describe_exit()}; its last output:")
        for line in process.tail:
            console.error(f"  {process.name} | {line}")
        console.error("stopping everything else")
        status = 1
    else:
        failed.cancel()
        console.say("stopping ...")
    await stack.stop()
    console.say("stopped")
    return status


def main(argv: list[str] | None = None) -> None:
    """The ``make run`` entry point."""
    try:
        settings = parse_args(argv)
    except ValueError as exc:
        sys.stderr.write(f"invalid configuration: {exc}\n")
        sys.exit(2)
    console = Console(level=settings.log_level)
    logging.getLogger("speedrun_devstack").addHandler(_ConsoleHandler(console))
    logging.getLogger("speedrun_devstack").setLevel(logging.INFO)
    try:
        sys.exit(asyncio.run(run(settings, console)))
    except ProcessFailed as exc:
        console.error(str(exc))
        sys.exit(2)


if __name__ == "__main__":
    main()
