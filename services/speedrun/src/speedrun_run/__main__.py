"""``python -m speedrun_run --host 127.0.0.1 --port 8081``: run one instance."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from speedrun_protocol.logs import configure_logging
from speedrun_protocol.runtime import tune_gc
from speedrun_run.app import build_app
from speedrun_run.config import get_settings


def main() -> None:
    """Parse the arguments and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="speedrun_run", description="The speedrun game engine.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's service port
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    settings = get_settings()
    configure_logging("speedrun", settings.log_level)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = build_app(settings)
    tune_gc()
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        shutdown_timeout=settings.shutdown_timeout_s,
        keepalive_timeout=settings.keep_alive_s,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
