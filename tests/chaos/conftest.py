"""The fault and abuse suite: the real stack (two speedrun instances, Redis behind a cuttable
proxy, the AWS endpoint, the reporter worker, the gateway), faults injected, figures recorded.

Sizes: by default the small one ``make test`` runs; ``--chaos-full`` (``make chaos``) uses the
issue's sizes. Every process's output goes to ``test-artifacts/chaos-stack.log``; the figures are
printed at the end of the session and written to ``bench-results/chaos.json``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The helpers live next to the tests; importlib mode does not put this folder on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

from chaos_proxy import RedisProxy
from chaos_report import ChaosReport, ScenarioRow
from chaos_stack import FULL, SMALL, Chaos, ChaosSize, StackLog

from speedrun_devstack.config import Settings
from speedrun_devstack.stack import BackgroundStack
from speedrun_testkit import RedisServer

ROOT = Path(__file__).resolve().parents[2]
LOG_FILE = ROOT / "test-artifacts" / "chaos-stack.log"
RESULTS_FILE = ROOT / "bench-results" / "chaos.json"
QUEUE_VISIBILITY_S = 2
"""Short, so a message a dead reporter held (or a poison one) comes back within seconds."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos-full",
        action="store_true",
        default=False,
        help="fault scenarios at the issue's sizes (200 participants, 10,000 fuzz frames)",
    )


_REPORT_KEY = pytest.StashKey[ChaosReport]()


def pytest_configure(config: pytest.Config) -> None:
    size = FULL if config.getoption("--chaos-full", default=False) else SMALL
    config.stash[_REPORT_KEY] = ChaosReport(size=size.name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    chaos = item.config.stash[_REPORT_KEY]
    if report.when == "call" or (report.when == "setup" and report.failed):
        if hasattr(report, "wasxfail"):
            result = "xfailed" if report.skipped else "xpassed"
            chaos.outcome(item.nodeid, result, note=str(report.wasxfail))
        elif report.when == "setup":
            chaos.outcome(item.nodeid, "error")
        else:
            chaos.outcome(item.nodeid, report.outcome)
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    chaos = config.stash.get(_REPORT_KEY, None)
    if chaos is None or not chaos.rows:
        return
    chaos.write(RESULTS_FILE)
    terminalreporter.section(f"chaos: faults and abuse ({chaos.size} size)")
    for line in chaos.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {RESULTS_FILE.relative_to(ROOT)}")


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def size(pytestconfig: pytest.Config) -> ChaosSize:
    """The scenarios' size for this session."""
    return FULL if pytestconfig.getoption("--chaos-full", default=False) else SMALL


@pytest.fixture
def chaos_record(request: pytest.FixtureRequest) -> Any:
    """``chaos_record(scenario, load, fault)`` -> this test's row of the report."""
    chaos = request.config.stash[_REPORT_KEY]

    def record(scenario: str, load: str, fault: str) -> ScenarioRow:
        return chaos.row(request.node.nodeid, scenario, load, fault)

    return record


PER_ADDRESS_LIMIT = 250
"""Open sockets one address may hold on one instance in the chaos stack."""


@pytest.fixture(scope="session")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    """The whole system, its Redis reached through a proxy the tests can cut."""
    # The engine's per-address socket limit, as in production, but above the 200 bots that all
    # come from 127.0.0.1 and land on one instance when the other dies.
    os.environ["MAX_CONNECTIONS_PER_ADDRESS"] = str(PER_ADDRESS_LIMIT)
    redis = RedisServer().start()
    proxy = RedisProxy("127.0.0.1", redis.port).start()
    settings = Settings(
        port=0,
        data_dir=tmp_path_factory.mktemp("chaos-stack"),
        speedrun_instances=2,
        redis_url=proxy.url,
        log_level="INFO",
        queue_visibility_timeout_s=QUEUE_VISIBILITY_S,
    )
    log = StackLog(LOG_FILE)
    background = BackgroundStack(settings, log)
    try:
        with background as stack:
            yield Chaos(background, stack, redis, proxy, log)
    finally:
        proxy.close()
        redis.close()
        log.close()


@pytest.fixture
def healthy(chaos: Chaos) -> Iterator[Chaos]:
    """The stack, whole again after the test: Redis reachable, every instance running."""
    cuts, redis_pid = chaos.proxy.cuts, chaos.redis.proc and chaos.redis.proc.pid
    yield chaos
    if chaos.proxy.is_cut:
        chaos.proxy.restore()
    if chaos.redis.proc is None:
        chaos.redis.start()
    chaos.ensure_instances()
    if chaos.proxy.cuts != cuts or chaos.redis.proc.pid != redis_pid:
        chaos.settle_redis_clients()
