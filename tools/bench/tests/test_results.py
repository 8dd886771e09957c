"""Summaries, the table, latest.json, the charts and profile summaries."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tools.bench.__main__ import closing_note, profile_questions
from tools.bench.__main__ import summarise as summarise_n
from tools.bench.bare_suite import BareFigures
from tools.bench.common import CpuMeter, cost_sample
from tools.bench.profiler import summarise
from tools.bench.real_suite import RealFigures
from tools.bench.results import make_result, median, percentile, table, write_charts, write_json
from tools.bench.wsclient import Fleet

KEYS = {"name", "n", "value", "unit", "baseline", "ratio", "target", "met"}


def test_percentile_interpolates_between_ranks() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile([0.0, 10.0], 99) == 9.9
    assert math.isnan(median([]))


def test_make_result_judges_a_time_against_its_baseline_ratio() -> None:
    result = make_result("question_broadcast", 1000, [12.0, 10.0, 11.0], [10.0, 10.0])
    assert result.value == 11.0
    assert result.baseline == 10.0
    assert result.ratio == 1.1
    assert result.target == 1.0
    assert result.met is False
    assert result.reps == 3


def test_a_paired_ratio_is_the_median_of_each_repetitions_own_ratio() -> None:
    # the machine ran slow for the last two pairs: the medians' ratio (12 / 10) would miss,
    # each pair measured at one speed says 0.9
    values, baselines = [9.0, 9.0, 12.0, 13.5, 13.5], [10.0, 10.0, 10.0, 15.0, 15.0]
    assert make_result("question_broadcast", 1000, values, baselines).ratio == 1.2
    paired = make_result("question_broadcast", 1000, values, baselines, paired=True)
    assert paired.ratio == 0.9
    assert paired.baseline == 10.0
    assert paired.met is True
    with pytest.raises(ValueError, match="baselines"):
        make_result("question_broadcast", 1000, values, baselines[:4], paired=True)


def test_the_summary_judges_by_the_paired_baselines_where_there_are_some() -> None:
    bare = BareFigures(n=1000, broadcast_ms=[20.0, 20.0], ingest_pipe_rate=[100.0])
    real = RealFigures(n=1000, broadcast_ms=[11.0, 9.0], paired_broadcast_ms=[10.0, 10.0])
    real.ingest_rate = [50.0]
    real.paired_bare_s, real.paired_stack_cpu_s = 2.0, 0.1
    (broadcast,) = [r for r in summarise_n(1000, bare, real) if r.name == "question_broadcast"]
    assert broadcast.ratio == 1.0
    assert broadcast.extra["bracketing_baseline"] == 20.0
    assert "paired" in broadcast.note
    assert broadcast.extra["stack_cpu_share_during_baselines"] == 0.05
    (ingest,) = [r for r in summarise_n(1000, bare, real) if r.name == "answer_ingest"]
    assert ingest.ratio == 0.5  # no pairs: against the bracketing baseline
    assert "bracketing_baseline" not in ingest.extra


def test_make_result_judges_a_rate_by_its_value_and_failures() -> None:
    assert make_result("self_paced_answers", 200, [6000.0], [9000.0]).met is True
    assert make_result("self_paced_answers", 200, [4000.0], [9000.0]).met is False
    joins = make_result("joins", 200, [900.0], [1000.0], failures=2)
    assert joins.met is False
    assert joins.extra["failures"] == 2


def test_host_page_figures_are_judged_by_their_value() -> None:
    assert make_result("host_page_stall", 1000, [248.0], None).met is True
    # the page before it drew once per animation frame, 1,000 joins:
    assert make_result("host_page_stall", 1000, [13_756.0], None).met is False
    assert make_result("host_page_lag", 1000, [57.0], None).met is True
    assert make_result("host_page_lag", 1000, [20_163.0], None).met is False


def test_host_reconnect_stall_is_judged_by_its_value() -> None:
    assert make_result("host_reconnect_stall", 10_000, [12.0, 25.0], None).met is True
    assert make_result("host_reconnect_stall", 10_000, [90.0, 118.0], None).met is False


def test_write_json_writes_a_list_with_the_issue_keys(tmp_path: Path) -> None:
    results = [
        make_result("answer_ingest", 1000, [700.0], [1000.0]),
        make_result("loader_parse_csv", 1000, [12.5], None),
    ]
    write_json(results, tmp_path / "latest.json")
    data = json.loads((tmp_path / "latest.json").read_text())
    assert isinstance(data, list)
    assert all(set(row) >= KEYS for row in data)
    assert data[0]["met"] is True
    assert data[1]["baseline"] is None
    assert "answer_ingest" in table(results)


def test_write_charts_draws_one_png_per_figure(tmp_path: Path) -> None:
    results = [
        make_result("question_broadcast", 1000, [12.0], [10.0]),
        make_result("question_broadcast", 5000, [60.0], [50.0]),
        make_result("memory_per_participant", 1000, [20.0], [10.0]),
    ]
    written = write_charts(results, tmp_path)
    assert sorted(p.name for p in written) == [
        "memory_per_participant.png",
        "question_broadcast.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_summarise_ranks_self_and_our_inclusive_time(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (speedrun_run/__main__.py:10);answer (speedrun_run/engine.py:5);"
        "execute (redis/client.py:3) 30\n"
        "main (speedrun_run/__main__.py:10);send (aiohttp/web_ws.py:9) 70\n"
    )
    summary = summarise(raw)
    assert summary.samples == 100
    assert summary.self_top[0] == ("send (aiohttp/web_ws.py)", 70.0)
    assert summary.inclusive_top == [("answer (speedrun_run/engine.py)", 30.0)]


def test_the_closing_note_says_how_each_profile_of_a_missed_target_was_taken() -> None:
    missed = make_result("joins", 1000, [500.0], [4000.0])
    met = make_result("memory_per_participant", 1000, [16.0], [12.0])
    profile = {
        "pid": 42,
        "how": "sign-on, during the sign-ons, alone on the servers' cores",
        "file": "joins-n1000-42.txt",
        "summary": ["100 samples; self time:", "   30.0%  solve_dependencies (fastapi)"],
    }
    details = {"placement": "servers on core 0", "profiles": {"joins-n1000": [profile]}}

    note = closing_note([missed, met], details)

    assert "**joins** at N=1,000: 500.00 joins/s, ratio 0.12" in note
    assert "(missed by 75%)" in note
    line = "profile of pid 42, sign-on, during the sign-ons, alone on the servers' cores"
    assert line in note and "solve_dependencies" in note
    assert "memory_per_participant" not in note


def test_the_closing_note_gives_the_joins_floor_ratio_and_who_went_first() -> None:
    joins = make_result("joins", 1000, [500.0], [4000.0], extra={"floor_ratio": 0.3})
    cross = make_result(
        "cross_instance_latency", 1000, [2.5, 3.0, -1.0], None,
        extra={"first_went_first": 2, "repetitions": 3},
    )  # fmt: skip
    note = closing_note([joins, cross], {"placement": "servers on core 0", "profiles": {}})
    assert "0.30x the joins' floor" in note
    assert "the host's instance had the question first in 2 of 3" in note


def test_profiles_play_more_questions_where_each_is_short() -> None:
    assert [profile_questions(n) for n in (200, 1_000, 5_000, 10_000)] == [30, 30, 6, 3]


def test_the_generator_cost_is_each_sides_cpu_per_frame() -> None:
    meter = CpuMeter(lambda: 0.0)
    meter.own0 -= 0.004  # 4 ms of generator CPU
    meter.server0 = -0.002  # 2 ms of the servers'
    sample = cost_sample(Fleet(), meter, frames=100)
    assert sample.generator_us == pytest.approx(40.0, rel=0.2)
    assert sample.server_us == pytest.approx(20.0)


def test_joins_and_self_paced_are_judged_over_their_slices() -> None:
    bare = BareFigures(n=1000, connect_spans=[(50, 0.025)] * 20, ingest_pipe_rate=[10_000.0])
    bare.join_floor_rates = [1200.0] * 20
    real = RealFigures(n=1000, join_rates=[500.0] * 19 + [100.0], joined=1000)
    real.hello_rates = [800.0] * 20
    real.self_paced_rates = [6000.0] * 40
    rows = {r.name: r for r in summarise_n(1000, bare, real)}
    joins = rows["joins"]
    assert (joins.reps, joins.value, joins.baseline) == (20, 500.0, 2000.0)
    assert joins.ratio == 0.25
    assert joins.p99 is not None and joins.p99 < 500.0  # the slow slice is the tail
    assert rows["joins_floor"].ratio == 0.6
    assert (rows["joins_hello"].ratio, rows["joins_hello"].met) == (0.4, None)
    assert rows["self_paced_answers"].reps == 40
    assert rows["self_paced_answers"].met is True
    assert joins.extra["floor_ratio"] == pytest.approx(500.0 / 1200.0)


def test_cross_instance_rows_count_which_server_went_first() -> None:
    bare = BareFigures(n=1000, connect_spans=[(50, 0.025)] * 20)
    bare.pair_cross_ms = [1.5, -2.0, 0.5]
    real = RealFigures(n=1000, joined=1000, cross_ms=[2.5, 3.0, -4.0, 2.0])
    rows = {r.name: r for r in summarise_n(1000, bare, real)}
    real_row, floor = rows["cross_instance_latency"], rows["cross_instance_floor"]
    assert (real_row.extra["first_went_first"], real_row.extra["repetitions"]) == (3, 4)
    assert (floor.extra["first_went_first"], floor.extra["repetitions"]) == (2, 3)
