"""``python -m speedrun_signon --host 127.0.0.1 --port 8000``: serve sign-on with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from speedrun_protocol.runtime import tune_gc
from speedrun_signon.app import create_app
from speedrun_signon.config import get_settings


def main() -> None:
    """Parse the arguments and serve until SIGTERM or SIGINT (no access log: the load balancer
    keeps one)."""
    parser = argparse.ArgumentParser(prog="speedrun_signon", description="The sign-on service.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's service port
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    settings = get_settings()
    app = create_app(settings)
    tune_gc()
    level = settings.log_level.lower()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=level if level in {"debug", "info", "warning", "error", "critical"} else "info",
        access_log=level == "debug",
        timeout_keep_alive=settings.keep_alive_s,
        # The client's address is deps.client_address's (TRUSTED_PROXY_HOPS), not uvicorn's proxy
        # headers middleware: one rule, and a middleware less on every request.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
