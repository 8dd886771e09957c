"""The benchmark runs and reports every format (timings are reported, never asserted)."""

from __future__ import annotations

from speedrun_loader.bench import run
from speedrun_loader.render import WRITERS


def test_bench_reports_milliseconds_for_every_format() -> None:
    results = run(n_questions=30, runs=5)

    assert set(results) == set(WRITERS)
    assert all(ms > 0 for ms in results.values())
