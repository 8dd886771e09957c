"""A speedrun instance dies (kill -9) or is deployed over (SIGTERM) in the middle of a run.

GIVEN a self-paced run with every participant connected through the gateway to two instances
WHEN one instance goes away once half the answers are in
THEN its clients reconnect to the other one within 5 s, every acknowledged answer is archived
exactly once, nothing is scored late, the deadlines it had written still fire, the run completes
and the reporter archives it once.
"""

from __future__ import annotations

import asyncio
import signal

from chaos_game import play_run, tally, timed, wait_archived
from chaos_stack import Chaos, ChaosSize

RECONNECT_LIMIT_MS = 5_000


async def _instance_fault(
    chaos: Chaos, size: ChaosSize, row_of: object, sig: signal.Signals, name: str
) -> None:
    stack = chaos.stack
    row = row_of(  # type: ignore[operator]
        name, f"{size.participants} participants, 2 instances", f"{sig.name} instance 1 mid-run"
    )

    async def fault() -> None:
        await asyncio.to_thread(chaos.background.kill_instance, 0, sig)

    redis_pid = {"redis": chaos.redis.proc.pid} if chaos.redis.proc else {}
    with timed() as took:
        try:
            played = await play_run(
                stack, size.participants, fault, time_limit_s=size.time_limit_s, pids=redis_pid
            )
        finally:
            await asyncio.to_thread(chaos.ensure_instances)
        archive, items = await wait_archived(stack, played.created["speedrun_id"])
    count = tally(played, archive, items)
    p50, worst = played.watch.stats_ms()
    row.lost, row.duplicated, row.late = count.lost, count.duplicated, count.late
    row.reconnect_p50_ms, row.reconnect_max_ms, row.seconds = p50, worst, round(took(), 1)
    archived_logs = chaos.log.matching("run archived", speedrun_id=played.created["speedrun_id"])
    row.details = {
        "acknowledged": count.acknowledged,
        "timed_out": count.timed_out,
        "reconnected": len(played.watch.came_back),
        "reconnect_p90_ms": played.watch.percentile_ms(90),
        # Where the time from the fault to each socket's next welcome went (see Reconnect).
        "reconnect_parts_ms": played.watch.parts_ms(),
        "slowest_reconnects_ms": played.watch.slowest(),
        "stranded": played.watch.stranded,
        "cpu_cores_while_reconnecting": played.cpu_while_reconnecting(),
        "summaries": count.summaries,
        "archived_log_lines": len(archived_logs),
        "bot_errors": sorted({e for r in played.reports for e in r.errors}),
        "problems": count.problems[:10],
    }
    run, participants, _ = archive
    assert run.end_reason == "completed"
    assert len(participants) == size.participants
    assert all(r.finished for r in played.reports)
    assert (count.lost, count.duplicated, count.late) == (0, 0, 0), count.problems
    assert count.summaries == 1
    assert len(archived_logs) == 1, archived_logs
    # Every sleeper's unanswered question timed out: its deadline fired on a live instance.
    assert count.sleepy_deadlines_fired == len(played.sleepers)
    # Roughly half the sockets were on the instance that went away; all came back quickly.
    assert len(played.watch.came_back) >= size.participants // 4
    assert not played.watch.stranded, played.watch.stranded
    assert worst is not None and worst <= RECONNECT_LIMIT_MS, played.watch.slowest(10)
    return None


async def test_kill_instance_mid_run_loses_nothing(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    await _instance_fault(healthy, size, chaos_record, signal.SIGKILL, "instance killed (-9)")


async def test_sigterm_instance_mid_run_is_only_a_reconnect(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    await _instance_fault(healthy, size, chaos_record, signal.SIGTERM, "instance deployed (TERM)")
