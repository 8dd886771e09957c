"""Redis goes away: cut for 3 s through the proxy, or restarted with its data lost.

The services must notice (``/healthz`` 503, so the load balancer stops sending clients), tell the
clients clearly (``unavailable`` error frames or a 1013 close, never silence), recover by
themselves when Redis is back, and never count anything twice. A Redis that comes back empty
must not be mistaken for a run that carries on.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx
from chaos_game import holds_within, play_run, tally, timed, wait_archived
from chaos_players import BotPlayers
from chaos_stack import Chaos, ChaosSize

from speedrun_cli.host import HostSession

CUT_S = 3.0
UNHEALTHY_WITHIN_S = 3.0
RECOVERED_WITHIN_S = 10.0
DATA_LOSS_NOTICE_S = 8.0


async def _statuses(urls: list[str]) -> list[int]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:

        async def status(url: str) -> int:
            try:
                async with session.get(f"{url}/healthz") as resp:
                    return resp.status
            except (aiohttp.ClientError, TimeoutError):
                return 0

        return list(await asyncio.gather(*(status(u) for u in urls)))


async def _wait_statuses(urls: list[str], wanted: int, timeout: float) -> float:
    """Poll every URL's /healthz until all answer ``wanted``; return the seconds it took."""
    start = time.monotonic()
    while True:
        if all(s == wanted for s in await _statuses(urls)):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"/healthz not {wanted} everywhere after {timeout}s: {urls}")
        await asyncio.sleep(0.05)


async def test_healthz_turns_503_while_redis_is_unreachable(
    healthy: Chaos, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "healthz without Redis", "2 instances + sign-on, idle", "Redis cut until all 503"
    )
    probed = [*stack.urls.instances, stack.urls.signon]
    assert await _statuses(probed) == [200] * len(probed)
    healthy.proxy.cut()
    try:
        unhealthy_after = await _wait_statuses(probed, 503, UNHEALTHY_WITHIN_S)
        # The load balancer's view: the gateway's health checks mark both instances down.
        gateway_marked = await holds_within(
            lambda: not any(i.healthy for i in stack.pool.instances), 5
        )
    finally:
        healthy.proxy.restore()
    recovered_after = await _wait_statuses(probed, 200, RECOVERED_WITHIN_S)
    row.details = {
        "unhealthy_after_s": round(unhealthy_after, 2),
        "recovered_after_s": round(recovered_after, 2),
        "gateway_marked_down": gateway_marked,
    }
    row.lost = row.duplicated = row.late = 0
    assert gateway_marked


BURST = 60


async def test_services_answer_at_once_when_redis_returns(
    healthy: Chaos, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "requests right after Redis returns", f"{BURST} concurrent requests per service",
        "Redis cut, restored, then a burst",
    )  # fmt: skip
    urls = [f"{u}/healthz" for u in [*stack.urls.instances, stack.urls.signon]]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def burst() -> list[int]:
            replies = await asyncio.gather(*(client.get(u) for u in urls for _ in range(BURST)))
            return [r.status_code for r in replies]

        assert set(await burst()) == {200}  # every pool now holds about BURST connections
        healthy.proxy.cut()
        await _wait_statuses(stack.urls.instances, 503, UNHEALTHY_WITHIN_S)
        healthy.proxy.restore()
        await _wait_statuses([stack.urls.signon, *stack.urls.instances], 200, RECOVERED_WITHIN_S)
        statuses = await burst()
    failed = len([s for s in statuses if s != 200])
    row.lost = row.duplicated = row.late = 0
    row.details = {"requests": len(statuses), "failed_after_recovery": failed}
    assert failed == 0


async def test_redis_cut_for_3s_mid_run_recovers_without_double_counting(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "Redis unreachable 3 s", f"{size.participants} participants, 2 instances",
        "TCP proxy cut 3 s mid-run",
    )  # fmt: skip
    timings: dict[str, float] = {}

    async def fault() -> None:
        healthy.proxy.cut()
        cut_at = time.monotonic()
        try:
            timings["unhealthy_after_s"] = await _wait_statuses(
                stack.urls.instances, 503, UNHEALTHY_WITHIN_S
            )
            await asyncio.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
        finally:
            healthy.proxy.restore()
        timings["recovered_after_s"] = await _wait_statuses(
            stack.urls.instances, 200, RECOVERED_WITHIN_S
        )

    with timed() as took:
        played = await play_run(stack, size.participants, fault, time_limit_s=size.time_limit_s)
        archive, items = await wait_archived(stack, played.created["speedrun_id"])
    count = tally(played, archive, items)
    errors = [e for r in played.reports for e in r.errors]
    closes = sorted({r.close_code for r in played.reports if r.close_code is not None})
    p50, worst = played.watch.stats_ms()
    row.lost, row.duplicated, row.late = count.lost, count.duplicated, count.late
    row.reconnect_p50_ms, row.reconnect_max_ms, row.seconds = p50, worst, round(took(), 1)
    row.details = {
        **{k: round(v, 2) for k, v in timings.items()},
        "acknowledged": count.acknowledged,
        "timed_out": count.timed_out,
        "error_frames": {code: errors.count(code) for code in sorted(set(errors))},
        "reconnected": len(played.watch.came_back),
        "last_close_codes": closes,
        "problems": count.problems[:10],
    }
    run, participants, _ = archive
    assert run.end_reason == "completed"
    assert len(participants) == size.participants
    assert (count.lost, count.duplicated, count.late) == (0, 0, 0), count.problems
    assert count.summaries == 1
    # Whoever spoke during the cut was told plainly; nothing else went wrong.
    assert set(errors) <= {"unavailable"}, errors
    assert count.sleepy_deadlines_fired == len(played.sleepers)


async def test_redis_restart_with_data_loss_is_reported_to_every_client(
    healthy: Chaos, size: ChaosSize, chaos_record: object
) -> None:
    stack = healthy.stack
    row = chaos_record(  # type: ignore[operator]
        "Redis restarted empty", f"{size.participants} participants, 2 instances",
        "redis-server restarted mid-run, data lost",
    )  # fmt: skip
    seen: dict[str, object] = {}

    async def fault() -> None:
        await asyncio.to_thread(healthy.redis.stop)
        await asyncio.to_thread(healthy.redis.start)

    async def everyone_told(host: HostSession, players: BotPlayers) -> bool:
        await holds_within(
            lambda: not (players.progress.connected or host.socket.connected), DATA_LOSS_NOTICE_S
        )
        seen.update(
            host_status=host.view.status,
            host_errors=list(host.view.errors),
            host_close=host.socket.close_code,
            still_connected=players.progress.connected + host.socket.connected,
        )
        return bool(host.view.status == "finished")

    played = await play_run(
        stack, size.participants, fault, time_limit_s=size.time_limit_s, until=everyone_told
    )
    errors = [e for r in played.reports for e in r.errors]
    told = [r for r in played.reports if r.errors or r.close_code is not None]
    row.details = {
        **seen,
        "participants_told": len(told),
        "error_frames": {code: errors.count(code) for code in sorted(set(errors))},
        "participant_close_codes": sorted({str(r.close_code) for r in played.reports}),
    }
    # Nobody is told something false, and nobody is left looking at a run that cannot go on.
    assert "kicked" not in errors
    assert seen["still_connected"] == 0
    assert len(told) == len(played.reports)
    assert seen["host_errors"] or seen["host_close"] is not None
