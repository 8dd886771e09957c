"""The whole system on one machine, as ``make run``, the end-to-end tests and the benchmarks run it.

:class:`Stack` brings up, on loopback and each as its own process, the way they run in AWS: Redis,
a LocalStack-compatible endpoint (with the completion queue, its dead-letter queue and the run
table), the loader, sign-on, N speedrun instances and the reporter worker; then the gateway (in
this process) and a sample question set. It stops everything, in order, on :meth:`Stack.stop`.

:class:`BackgroundStack` runs a :class:`Stack` on its own event loop in a thread, for synchronous
callers such as a pytest session fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from speedrun_aws import aws_client, ensure_local_resources
from speedrun_devstack.backends import Backend, http_ok, start_aws_endpoint, start_redis
from speedrun_devstack.config import Settings
from speedrun_devstack.gateway import (
    POOL_KEY,
    SESSION_KEY,
    GatewayConfig,
    InstancePool,
    build_gateway,
)
from speedrun_devstack.procs import LogSink, ManagedProcess, ProcessFailed, free_port
from speedrun_protocol.names import LOCAL_ENVIRONMENT

log = logging.getLogger("speedrun_devstack")

T = TypeVar("T")

AWS_REGION = "us-east-1"
SAMPLE_PACKAGE = "speedrun_loader.samples"
SAMPLE_FILE = "sample.json"


def default_web_dir() -> Path:
    """Return the repository's ``web/`` folder (or ``./web`` when not run from a checkout)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "web").is_dir() and (parent / "pyproject.toml").is_file():
            return parent / "web"
    return Path.cwd() / "web"


@dataclass(frozen=True)
class StackUrls:
    """Where each part of a running stack answers."""

    gateway: str
    loader: str
    signon: str
    instances: list[str]
    redis: str
    aws: str

    @property
    def host_page(self) -> str:
        """The page hosts open."""
        return f"{self.gateway}/host"

    @property
    def join_page(self) -> str:
        """The page players open."""
        return f"{self.gateway}/join"

    @property
    def websocket(self) -> str:
        """The WebSocket URL of the game, through the gateway."""
        return self.gateway.replace("http://", "ws://", 1) + "/speedrun"


class Stack:
    """Every process of speedrun on one machine, started and stopped together."""

    def __init__(self, settings: Settings | None = None, sink: LogSink | None = None) -> None:
        """Prepare (not start) a stack.

        Args:
            settings: The configuration; read from the environment when omitted.
            sink: Receives every output line of every process, with the process's name.
        """
        self.settings = settings or Settings()
        self.sink = sink
        self.data_dir = self.settings.data_dir.resolve()
        self.web_dir = (self.settings.web_dir or default_web_dir()).resolve()
        self.token_secret = self.settings.token_secret or secrets.token_urlsafe(32)
        self.redis: Backend | None = None
        self.aws: Backend | None = None
        self.queue_url = ""
        self.dlq_url = ""
        self.table_name = ""
        self.loader: ManagedProcess | None = None
        self.signon: ManagedProcess | None = None
        self.reporter: ManagedProcess | None = None
        self.instances: list[ManagedProcess] = []
        """The speedrun instances, in gateway order; kill or restart them with the methods."""
        self.instance_ports: list[int] = []
        self.sample_set_id: str | None = None
        self._ports: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._gateway_app: web.Application | None = None
        self._gateway_port = 0
        self._failures: asyncio.Queue[ManagedProcess] = asyncio.Queue()
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False

    # -- the public view ----------------------------------------------------------------------

    @property
    def urls(self) -> StackUrls:
        """Where each part answers (valid once started)."""
        assert self.redis is not None and self.aws is not None, "not started"
        return StackUrls(
            gateway=f"http://127.0.0.1:{self._gateway_port}",
            loader=f"http://127.0.0.1:{self._ports['loader']}",
            signon=f"http://127.0.0.1:{self._ports['signon']}",
            instances=[f"http://127.0.0.1:{p}" for p in self.instance_ports],
            redis=self.redis.url,
            aws=self.aws.url,
        )

    @property
    def pool(self) -> InstancePool:
        """The gateway's view of the speedrun instances (health, connection counts)."""
        assert self._gateway_app is not None, "not started"
        return self._gateway_app[POOL_KEY]

    @property
    def processes(self) -> list[ManagedProcess]:
        """Every process the stack started, in start order."""
        backends = [b.process for b in (self.redis, self.aws) if b and b.process]
        services = [self.loader, self.signon, *self.instances, self.reporter]
        return [*backends, *(p for p in services if p is not None)]

    def aws_env(self) -> dict[str, str]:
        """The environment that points boto3 at this stack's AWS endpoint."""
        assert self.aws is not None, "not started"
        return {
            "AWS_ENDPOINT_URL": self.aws.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": AWS_REGION,
            "AWS_DEFAULT_REGION": AWS_REGION,
        }

    # -- starting ------------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        assert self.redis is not None
        env = dict(os.environ)
        env.update(self.aws_env())
        env.update(
            {
                "ENVIRONMENT": "development",
                "LOG_LEVEL": self.settings.log_level.upper(),
                "PYTHONUNBUFFERED": "1",
                "REDIS_URL": self.redis.url,
                "TOKEN_SECRET": self.token_secret,
                "QUESTION_SET_DIR": str(self.data_dir / "question-sets"),
                "PUBLIC_URL": f"http://127.0.0.1:{self._gateway_port}",
                "ALLOWED_ORIGINS": f"http://127.0.0.1:{self._gateway_port},"
                f"http://localhost:{self._gateway_port}",
                # The gateway appends the client's address to X-Forwarded-For, as the load
                # balancer does in AWS.
                "TRUSTED_PROXY_HOPS": "1",
                # On one machine every browser tab and bot shares 127.0.0.1, so the engine's
                # per-address socket limit is off unless the caller sets one.
                "MAX_CONNECTIONS_PER_ADDRESS": os.environ.get("MAX_CONNECTIONS_PER_ADDRESS", "0"),
                "RUN_TABLE_NAME": self.table_name,
                "COMPLETION_QUEUE_URL": self.queue_url,
                "COMPLETION_DLQ_URL": self.dlq_url,
            }
        )
        return env

    def _uvicorn(self, target: str, port: int) -> list[str]:
        level = self.settings.log_level.lower()
        argv = [
            sys.executable, "-m", "uvicorn", target, "--factory",
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", level if level in {"debug", "info", "warning", "error"} else "info",
        ]  # fmt: skip
        if level != "debug":
            argv.append("--no-access-log")
        return argv

    def _instance_process(self, index: int) -> ManagedProcess:
        port = self.instance_ports[index]
        env = self._base_env() | {"INSTANCE_ID": f"speedrun-{index + 1}"}
        argv = [sys.executable, "-m", "speedrun_run", "--host", "127.0.0.1", "--port", str(port)]
        return ManagedProcess(f"speedrun-{index + 1}", argv, env, self.sink, cwd=self.data_dir)

    def _watch(self, process: ManagedProcess) -> None:
        async def watch() -> None:
            await process.wait()
            if not process.expected_exit and not self._stopping:
                log.error("%s %s", process.name, process.describe_exit())
                self._failures.put_nowait(process)

        task = asyncio.create_task(watch())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _ready_http(self, process: ManagedProcess, url: str) -> None:
        async with aiohttp.ClientSession() as session:
            await process.wait_ready(
                lambda: http_ok(session, f"{url}/healthz"), self.settings.startup_timeout_s
            )

    async def start(self) -> None:
        """Start every part and wait until each is ready.

        Raises:
            ProcessFailed: If a process exits while starting or is not ready in time (everything
                already started is stopped again).
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        timeout = settings.startup_timeout_s
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "question-sets").mkdir(exist_ok=True)
        self._gateway_port = settings.port or free_port()
        env = dict(os.environ)
        log.info("starting Redis and the AWS endpoint")
        started = await asyncio.gather(
            start_redis(settings.redis_url, self.data_dir / "redis", env, self.sink, timeout),
            start_aws_endpoint(settings.localstack_host, env, self.sink, timeout),
            return_exceptions=True,
        )
        # Keep whichever started, so that stop() stops it if the other failed.
        self.redis, self.aws = (b if isinstance(b, Backend) else None for b in started)
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        redis, aws = self.redis, self.aws
        assert redis is not None and aws is not None
        for backend in (redis, aws):
            if backend.process:
                self._watch(backend.process)
                log.info("started %s (pid %s)", backend.process.name, backend.process.pid)
        log.info("Redis: %s (%s); AWS endpoint: %s (%s)", redis.url, redis.kind, aws.url, aws.kind)
        resources_made = await asyncio.to_thread(self._make_aws_resources)
        self.queue_url, self.dlq_url, self.table_name = resources_made

        self._ports = {"loader": free_port(), "signon": free_port()}
        self.instance_ports = [free_port() for _ in range(settings.speedrun_instances)]
        env = self._base_env()
        self.loader = ManagedProcess(
            "loader", self._uvicorn("speedrun_loader.app:create_app", self._ports["loader"]),
            env, self.sink, cwd=self.data_dir,
        )  # fmt: skip
        self.signon = ManagedProcess(
            "signon",
            [sys.executable, "-m", "speedrun_signon", "--host", "127.0.0.1",
             "--port", str(self._ports["signon"])],
            env, self.sink, cwd=self.data_dir,
        )  # fmt: skip
        self.instances = [self._instance_process(i) for i in range(settings.speedrun_instances)]
        self.reporter = ManagedProcess(
            "reporter", [sys.executable, "-m", "speedrun_reporter.worker"], env, self.sink,
            cwd=self.data_dir,
        )  # fmt: skip
        services = [self.loader, self.signon, *self.instances, self.reporter]
        log.info("starting %s", ", ".join(p.name for p in services))
        for process in services:
            await process.start()
            self._watch(process)
            log.info("started %s (pid %s)", process.name, process.pid)
        urls = {"loader": self.urls.loader, "signon": self.urls.signon}
        urls |= {p.name: u for p, u in zip(self.instances, self.urls.instances, strict=True)}
        await asyncio.gather(
            *(self._ready_http(p, urls[p.name]) for p in services if p.name in urls)
        )
        if not self.reporter.running:
            await self.reporter.wait()
            raise ProcessFailed(self.reporter, f"{self.reporter.describe_exit()} while starting")

        await self._start_gateway()
        self.sample_set_id = await self._load_sample()
        log.info("ready: %s", self.urls.gateway)

    def _make_aws_resources(self) -> tuple[str, str, str]:
        assert self.aws is not None
        for key, value in self.aws_env().items():
            if key != "AWS_ENDPOINT_URL":
                os.environ.setdefault(key, value)
        made = ensure_local_resources(
            aws_client("sqs", endpoint=self.aws.url, region=AWS_REGION),
            aws_client("dynamodb", endpoint=self.aws.url, region=AWS_REGION),
            LOCAL_ENVIRONMENT,
            visibility_timeout_s=self.settings.queue_visibility_timeout_s,
        )
        return made.queue_url, made.dlq_url, made.table_name

    async def _start_gateway(self) -> None:
        urls = self.urls
        self._gateway_app = build_gateway(
            GatewayConfig(
                web_dir=self.web_dir,
                loader_url=urls.loader,
                signon_url=urls.signon,
                instance_urls=urls.instances,
            )
        )
        self._runner = web.AppRunner(
            self._gateway_app, handle_signals=False, shutdown_timeout=2.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._gateway_port)
        await site.start()

    async def _load_sample(self) -> str | None:
        """Upload the sample question set through the gateway, unless one with its title exists."""
        try:
            sample = resources.files(SAMPLE_PACKAGE).joinpath(SAMPLE_FILE).read_bytes()
        except (ModuleNotFoundError, FileNotFoundError):
            log.warning("no sample question set found (%s/%s)", SAMPLE_PACKAGE, SAMPLE_FILE)
            return None
        title = json.loads(sample).get("title") if sample.lstrip().startswith(b"{") else None
        base = self.urls.gateway
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/question-sets") as resp:
                listed = await resp.json() if resp.status == 200 else []
            items = listed.get("items", []) if isinstance(listed, dict) else listed
            for item in items:
                if title and item.get("title") == title:
                    return str(item["id"])
            form = aiohttp.FormData()
            form.add_field("file", sample, filename=SAMPLE_FILE, content_type="application/json")
            async with session.post(f"{base}/question-set-upload", data=form) as resp:
                body = await resp.json()
                if resp.status >= 300:
                    log.warning("the sample question set was refused: %s", body)
                    return None
        return str(body["id"])

    # -- faults, for tests ----------------------------------------------------------------------

    async def kill_instance(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Stop speedrun instance ``index``: SIGKILL (a crash) or SIGTERM (a deploy)."""
        process = self.instances[index]
        await process.stop(timeout=self.settings.stop_timeout_s, sig=sig)

    async def start_instance(self, index: int) -> None:
        """Start speedrun instance ``index`` again on its port and wait until it is ready and
        the gateway routes to it."""
        process = self._instance_process(index)
        self.instances[index] = process
        await process.start()
        self._watch(process)
        log.info("started %s again (pid %s)", process.name, process.pid)
        await self._ready_http(process, self.urls.instances[index])
        # The gateway's health check, now rather than at its next round (each second): sockets
        # opened meanwhile would all have gone to the other instances.
        assert self._gateway_app is not None
        await self.pool.check(self._gateway_app[SESSION_KEY])

    # -- running and stopping ------------------------------------------------------------------

    async def wait_failure(self) -> ManagedProcess:
        """Wait until a process exits unexpectedly, and return it."""
        return await self._failures.get()

    async def stop(self) -> None:
        """Stop everything, in order: instances, gateway, services, then Redis and AWS."""
        self._stopping = True
        timeout = self.settings.stop_timeout_s
        await asyncio.gather(*(p.stop(timeout) for p in self.instances))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        others = [p for p in (self.loader, self.signon, self.reporter) if p]
        await asyncio.gather(*(p.stop(timeout) for p in others))
        backends = [b.process for b in (self.redis, self.aws) if b and b.process]
        await asyncio.gather(*(p.stop(timeout) for p in backends))
        for task in list(self._watchers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Stack:
        """Start the stack."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the stack."""
        await self.stop()


class BackgroundStack:
    """A :class:`Stack` on its own event loop in a thread, driven from synchronous code."""

    def __init__(self, settings: Settings | None = None, sink: LogSink | None = None) -> None:
        """Prepare (not start) a stack; use as a context manager."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="speedrun-stack", daemon=True
        )
        self._settings = settings
        self._sink = sink
        self.stack: Stack | None = None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the stack's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> Stack:
        """Start the stack; return it (call its coroutines through :meth:`call`)."""
        self._thread.start()

        async def make() -> Stack:
            stack = Stack(self._settings, self._sink)
            self.stack = stack
            await stack.start()
            return stack

        try:
            return self.call(make())
        except BaseException:
            self._close_loop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the stack and its loop."""
        if self.stack is not None:
            self.call(self.stack.stop())
        self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def kill_instance(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Stop speedrun instance ``index`` (see :meth:`Stack.kill_instance`)."""
        assert self.stack is not None
        self.call(self.stack.kill_instance(index, sig))

    def start_instance(self, index: int) -> None:
        """Start speedrun instance ``index`` again (see :meth:`Stack.start_instance`)."""
        assert self.stack is not None
        self.call(self.stack.start_instance(index))
