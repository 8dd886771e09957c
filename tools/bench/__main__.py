"""``make bench``: every figure of issue 10 against its bare baseline, in one run.

``python -m tools.bench`` (from the repository root) measures N = 1,000 / 5,000 / 10,000;
``--quick`` measures N = 200 with few repetitions (a smoke run of under two minutes). It prints
progress on stderr and a table at the end, and writes ``bench-results/latest.json``,
``bench-results/details.json``, ``bench-results/notes.md`` and one PNG chart per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp

from speedrun_protocol.runtime import tune_gc
from speedrun_testkit.browser import chromium_path
from tools.bench import profiler
from tools.bench.bare_suite import BareFigures, FrameSizes, run_bare, run_pair
from tools.bench.common import Progress, two_phase_rates
from tools.bench.host_page import host_page
from tools.bench.paired import PairedProcess
from tools.bench.procs import REPO, Child, start_bare, start_bare_signon, start_redis
from tools.bench.real_suite import (
    Joined,
    RealFigures,
    StackInfo,
    close,
    create_run,
    host_paced,
    host_reconnects,
    interleaved_joins,
    join_all,
    self_paced,
    servers_idle,
    sign_on_all,
    upload_set,
)
from tools.bench.results import (
    FIGURES,
    Result,
    make_result,
    median,
    table,
    write_charts,
    write_json,
)
from tools.bench.sizes import frame_sizes
from tools.bench.system import Placement, pin, plan_placement, raise_nofile, run_loop
from tools.bench.wsclient import client_frame, parse_cost_ns

FULL_NS = (1_000, 5_000, 10_000)
QUICK_NS = (200,)
HOST_RECONNECTS = 5
"""Host reconnects per N (each a welcome that lists all N participants)."""
FD_MARGIN = 500
"""Open files the generator keeps beyond the participants' (control sockets, the session)."""


def profile_questions(n: int) -> int:
    """Questions played under py-spy after a missed host-paced target, at N participants: enough
    for a profile of hundreds of samples (at 1,000 players a question keeps the host's instance
    busy ~0.1 s, and 3 of them gave 30 samples), 3 at 10,000, at most 30."""
    return min(30, max(3, 30_000 // n))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N=200, few repetitions (smoke run)")
    parser.add_argument("--n", type=int, nargs="+", help="participant counts (default 1k 5k 10k)")
    parser.add_argument("--reps", type=int, help="measured repetitions (default 20; quick 3)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured repetitions first")
    parser.add_argument("--self-paced-questions", type=int, help="questions of the self-paced run")
    parser.add_argument(
        "--self-paced-runs", type=int, help="self-paced runs per N, each joined anew (default 3)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="joins in flight at once")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="output folder")
    parser.add_argument(
        "--profile",
        choices=("auto", "never"),
        default="auto",
        help="auto: py-spy the servers where a target is missed",
    )
    parser.add_argument("--skip-real", action="store_true", help="bare baselines only")
    parser.add_argument(
        "--interleaved-joins",
        type=int,
        help="also join this many one by one at the first N (default min(N, 1000); 0: no)",
    )
    parser.add_argument("--no-charts", action="store_true", help="do not draw PNG charts")
    parser.add_argument("--reporter-sizes", type=int, nargs="*", help="runs to archive (ms)")
    args = parser.parse_args(argv)
    args.ns = tuple(args.n or (QUICK_NS if args.quick else FULL_NS))
    args.reps = args.reps or (3 if args.quick else 20)
    args.sp_questions = args.self_paced_questions or (5 if args.quick else 10)
    args.sp_runs = args.self_paced_runs or (1 if args.quick else 3)
    if args.reporter_sizes is None:
        args.reporter_sizes = [200] if args.quick else [1_000, 10_000]
    return args


# ---------------------------------------------------------------------------------------------
# The real stack, in its own process on the servers' cores
# ---------------------------------------------------------------------------------------------


class StackProcess:
    """:mod:`tools.bench.stackhost` as a child pinned to the servers' cores."""

    def __init__(self, placement: Placement, progress: Progress) -> None:
        """Start the stack and wait until it has written where it answers."""
        self.info_file = Path(tempfile.mkstemp(prefix="bench-stack-", suffix=".json")[1])
        self.info_file.unlink()
        self.log = Path(tempfile.mkstemp(prefix="bench-stack-", suffix=".log")[1])
        self.placement = placement
        cores = placement.server_cores

        def _pin() -> None:  # runs in the child: it and every service it starts stay there
            os.sched_setaffinity(0, cores)

        progress.step("starting the stack (Redis, AWS endpoint, loader, sign-on, 2 speedrun)")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tools.bench.stackhost", str(self.info_file), "2"],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_pin,
            )
        deadline = time.monotonic() + 240
        while not self.info_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"the stack did not start:\n{tail}")
            time.sleep(0.2)
        self.info = StackInfo.from_json(json.loads(self.info_file.read_text()))
        for pid in self.info.pids.values():
            pin(pid, cores)
            raise_nofile(pid)

    def isolate(self, pid: int | None) -> None:
        """Give one service the servers' cores to itself, the others the generator's (None: all
        back on the servers' cores).

        A profile is taken so: on a shared core py-spy counts a process that another one
        preempted inside a send as busy in that send (``writelines`` held 38 % of an instance's
        samples during joins on the shared core, 0.7 % alone). Never while a figure is measured.
        """
        for other in (*self.info.pids.values(), self.proc.pid):
            alone = pid is None or other == pid
            pin(other, self.placement.server_cores if alone else self.placement.generator_cores)

    def stop(self) -> None:
        """Stop the stack (it stops every service it started)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------
# One N
# ---------------------------------------------------------------------------------------------


class Bench:
    """Everything measured in one ``make bench``."""

    def __init__(self, args: argparse.Namespace, placement: Placement, progress: Progress) -> None:
        """Prepare (nothing starts yet)."""
        self.args = args
        self.placement = placement
        self.progress = progress
        self.results: list[Result] = []
        self.details: dict[str, Any] = {
            "placement": placement.describe(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "ns": list(args.ns),
            "reps": args.reps,
            "warmup": args.warmup,
            "per_n": {},
            "profiles": {},
            "errors": [],
            "unpaired": [],
        }
        self.stack: StackProcess | None = None
        self.redis: Child | None = None
        self.redis_url = ""

    # -- helpers ---------------------------------------------------------------------------------

    def _profile_dir(self) -> Path:
        return Path(self.args.out) / "profiles"

    def _start_profiles(self, name: str, pids: list[int]) -> list[profiler.Recording]:
        if self.args.profile == "never":
            return []
        recordings = []
        for pid in pids:
            out = self._profile_dir() / f"{name}-{pid}.txt"
            rec = profiler.start(pid, out, cores=self.placement.generator_cores)
            if rec is not None:
                recordings.append(rec)
        return recordings

    def _stop_profiles(self, name: str, recordings: list[profiler.Recording], how: str) -> None:
        for rec in recordings:
            path = rec.stop()
            if path is not None:
                summary = profiler.summarise(path)
                self.details["profiles"].setdefault(name, []).append(
                    {"pid": rec.pid, "how": how, "file": str(path), "summary": summary.lines(8)}
                )

    def _profile_alone(self, name: str, pid: int) -> list[profiler.Recording]:
        """Start profiling one service with the servers' cores to itself (:meth:`_stop_alone`)."""
        assert self.stack is not None
        recordings = self._start_profiles(name, [pid])
        if recordings:
            self.stack.isolate(pid)
        return recordings

    def _stop_alone(self, name: str, recordings: list[profiler.Recording], what: str) -> None:
        assert self.stack is not None
        if recordings:
            self.stack.isolate(None)
        self._stop_profiles(name, recordings, f"{what}, alone on the servers' cores")

    # -- the run -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Measure every N, then the loader and reporter hooks."""
        args = self.args
        sample = (
            b'{"seq":123,"type":"question","question":{"question_index":4,"text":"'
            + b"x" * 250
            + b'"}}'
        )
        self.details["generator_parse_ns_per_frame"] = await parse_cost_ns(sample)
        if args.skip_real:
            self.redis, self.redis_url = start_redis()
            pin(self.redis.pid, self.placement.server_cores)
        host_questions = args.warmup + args.reps + max(map(profile_questions, args.ns))
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                for index, n in enumerate(args.ns):
                    # A fresh stack per N: the servers' memory growth is then theirs alone (a
                    # process keeps freed memory), and no run of a smaller N is left in Redis.
                    keep = index == len(args.ns) - 1
                    await self._stack_up()
                    set_id = ""
                    if self.stack is not None:
                        set_id = await upload_set(
                            session, self.stack.info.loader,
                            max(host_questions, args.sp_questions),
                        )  # fmt: skip
                    await self.one_n(session, set_id, n, host_questions)
                    if not keep:
                        await self._stack_down()
            if self.stack is not None:
                await self.hooks()
        finally:
            await self._stack_down()
            if self.redis is not None:
                self.redis.stop()

    async def _stack_up(self) -> None:
        if self.args.skip_real or self.stack is not None:
            return
        self.stack = await asyncio.to_thread(StackProcess, self.placement, self.progress)
        self.redis_url = self.stack.info.redis

    async def _stack_down(self) -> None:
        if self.stack is not None:
            self.progress.step("stopping the stack")
            await asyncio.to_thread(self.stack.stop)
            self.stack = None

    @contextlib.contextmanager
    def _serving(self, server: Child) -> Iterator[Child]:
        """A baseline server on the servers' cores with the open-file limit raised, stopped
        after."""
        pin(server.pid, self.placement.server_cores)
        raise_nofile(server.pid)
        try:
            yield server
        finally:
            server.stop()

    async def _bare(self, n: int, sizes: FrameSizes) -> BareFigures:
        """Measure every bare baseline once at N, on a fresh bare server, then the broadcast's
        floor on two (:func:`~tools.bench.bare_suite.run_pair`)."""
        args = self.args
        with self._serving(start_bare(self.redis_url)) as bare:
            figures = await run_bare(
                "127.0.0.1", bare.port, bare.pid, n, args.reps, args.warmup, sizes, self.progress,
                concurrency=args.concurrency,
            )  # fmt: skip
        with (
            self._serving(start_bare(self.redis_url)) as first,
            self._serving(start_bare(self.redis_url)) as second,
        ):
            await run_pair(
                "127.0.0.1", (first.port, second.port), figures, sizes, args.reps, args.warmup,
                self.progress, args.concurrency,
            )  # fmt: skip
        return figures

    @contextlib.asynccontextmanager
    async def _paired(self, n: int, sizes: FrameSizes) -> AsyncIterator[PairedProcess | None]:
        """A bare server, and a generator process of its own holding N connections to it, for
        the host-paced questions' paired baselines (:mod:`tools.bench.paired`); None, and the
        baselines measured before and after judge, when that process may not open N
        connections or they fail."""
        allowed = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        needed = n + FD_MARGIN
        if allowed < needed:
            self.progress.step(
                f"  no paired baseline at N={n:,}: {allowed:,} open files allowed, "
                f"{needed:,} needed"
            )
            self.details["unpaired"].append(n)
            yield None
            return
        with self._serving(start_bare(self.redis_url)) as server:
            paired = None
            try:
                self.progress.step(f"bare N={n:,}: connecting the paired baseline")
                paired = await PairedProcess.open(
                    "127.0.0.1", server.port, n, sizes, self.args.concurrency
                )
            except (RuntimeError, TimeoutError, OSError) as exc:
                self.progress.step(f"  no paired baseline at N={n:,}: {exc}")
                self.details["unpaired"].append(n)
            try:
                yield paired
            finally:
                if paired is not None:
                    await paired.close()

    async def _join_floor(self, session: aiohttp.ClientSession, bf: BareFigures) -> None:
        """Sign on N at the joins' floor (:mod:`tools.bench.bare_signon`) into ``bf``."""
        with self._serving(start_bare_signon()) as floor:
            url = f"http://127.0.0.1:{floor.port}/signon/speedruns/123456/participants"
            signed = await sign_on_all(url, session, bf.n, self.progress, self.args.concurrency)
        bf.signon_rate = len(signed.tokens) / signed.seconds if signed.seconds else 0.0
        bf.join_floor_rates = two_phase_rates(signed.spans, bf.connect_spans)
        bf.signon_failures = len(signed.errors)

    async def one_n(
        self, session: aiohttp.ClientSession, set_id: str, n: int, host_questions: int
    ) -> None:
        """Measure the bare baselines, the real system, then the baselines again, at one N."""
        args = self.args
        sizes = frame_sizes(n, host_questions)
        bf = await self._bare(n, sizes)
        await self._join_floor(session, bf)
        per_n: dict[str, Any] = {"model_sizes": asdict(sizes), "bare": _jsonable(bf)}
        self.details["per_n"][str(n)] = per_n
        if self.stack is None:
            self.results += summarise(n, bf, None)
            return
        info = self.stack.info
        rf = RealFigures(n=n)
        joined: Joined | None = None
        try:
            run = await create_run(session, info.signon, set_id, "host-paced", n, host_questions)
            joined = await join_all(info, session, run, n, rf, self.progress, args.concurrency)
            async with self._paired(n, sizes) as paired:
                self.progress.step(
                    f"real N={n:,}: host-paced, {args.warmup}+{args.reps} questions"
                    + (", each next to the paired bare baseline" if paired else "")
                )
                await host_paced(
                    info, joined, rf, args.reps, args.warmup, self.progress, paired=paired
                )
            missed = [r for r in summarise(n, bf, rf) if r.met is False and r.name in _HOST_PACED]
            if missed and args.profile != "never":
                names = ", ".join(r.name for r in missed)
                more = profile_questions(n)
                self.progress.step(f"real N={n:,}: profiling {more} more ({names})")
                # The host's instance: the commands, and half of the participants.
                name = f"host-paced-n{n}"
                recs = self._profile_alone(name, info.instance_pids[0])
                scratch = RealFigures(n=n)
                first = args.warmup + args.reps
                try:
                    await host_paced(info, joined, scratch, more, 0, self.progress, first)
                finally:
                    self._stop_alone(name, recs, f"the host's instance, {more} more questions")
            self.progress.step(f"real N={n:,}: the host reconnects {HOST_RECONNECTS} times")
            await host_reconnects(info, joined, rf, HOST_RECONNECTS, self.progress)
            joined.host.send(client_frame(b'{"type":"end"}'))
        except (RuntimeError, TimeoutError, OSError, aiohttp.ClientError, KeyError) as exc:
            rf.errors.append(f"host-paced: {type(exc).__name__}: {exc}")
            self.progress.step(f"  host-paced failed: {type(exc).__name__}: {exc}")
        finally:
            if joined is not None:
                close(joined)
        await asyncio.sleep(0.5)
        interleaved = args.interleaved_joins
        if interleaved is None:
            interleaved = min(n, 1000)
        if interleaved and n == args.ns[0]:
            try:
                run = await create_run(
                    session, info.signon, set_id, "host-paced", interleaved, host_questions
                )
                ij = await interleaved_joins(
                    info, session, run, interleaved, self.progress, args.concurrency
                )
                per_n["interleaved_joins"] = asdict(ij)
                self.results.append(
                    make_result(
                        "joins_interleaved", interleaved, ij.rates, bf.connect_rates,
                        failures=ij.failures,
                        note=f"{ij.frames:,} frames reached the participants while joining",
                        extra={"frames": ij.frames, "rate": ij.rate},
                    )
                )  # fmt: skip
            except (RuntimeError, TimeoutError, OSError, aiohttp.ClientError, KeyError) as exc:
                rf.errors.append(f"interleaved joins: {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.5)
        joins_missed = any(r.name == "joins" and r.met is False for r in summarise(n, bf, rf))
        profiling = args.profile != "never" and profiler.py_spy() is not None
        for run_index in range(args.sp_runs):
            self.progress.step(
                f"real N={n:,}: self-paced run {run_index + 1} of {args.sp_runs}, "
                f"{args.sp_questions} questions each"
            )
            # The last run's join is profiled when joins were missed (so it is not measured);
            # the others' are more repetitions of the joins figure. The last run is sampled.
            last = run_index == args.sp_runs - 1
            profile_joins = last and joins_missed and profiling
            await self._self_paced_run(session, info, set_id, n, rf, last, profile_joins)
            await asyncio.sleep(0.5)
        await self._host_page(session, info, set_id, n, rf)
        per_n["real"] = _jsonable(rf)
        # The bare baselines again, after the real system: the machine's speed drifts within
        # minutes (once 2x for the bare ingest at 1,000), and both halves bracket the real run.
        await servers_idle(info)
        after = await self._bare(n, sizes)
        per_n["bare_after"] = _jsonable(after)
        bf.pool(after)
        produced = summarise(n, bf, rf)
        if not any(r.name == "self_paced_answers" and r.met is False for r in produced):
            self.details["profiles"].pop(f"self-paced-n{n}", None)
        self.results += produced
        self.progress.step(f"N={n:,} done:\n{table(produced)}")
        await asyncio.sleep(1.0)

    async def _self_paced_run(
        self,
        session: aiohttp.ClientSession,
        info: StackInfo,
        set_id: str,
        n: int,
        rf: RealFigures,
        sampled: bool,
        profile_joins: bool,
    ) -> None:
        """Open a self-paced run, join all N (a joins repetition unless profiled) and play it."""
        args = self.args
        joined = None
        try:
            run = await create_run(session, info.signon, set_id, "self-paced", n, args.sp_questions)
            joins = None
            if profile_joins and info.signon_pid:
                joins = _JoinProfiles(self, n, info.signon_pid, info.instance_pids[0])
            try:
                joined = await join_all(
                    info, session, run, n, None if joins else rf, self.progress,
                    args.concurrency, joins.sockets if joins else None,
                )  # fmt: skip
            finally:
                if joins:
                    joins.stop()
            # Sampled while measured, so not alone: instance time preempted in sends shows.
            recs = self._start_profiles(f"self-paced-n{n}", info.instance_pids) if sampled else []
            await self_paced(info, joined, rf, args.sp_questions, self.progress)
            self._stop_profiles(f"self-paced-n{n}", recs, "while measured, on the shared core")
        except (RuntimeError, TimeoutError, OSError, aiohttp.ClientError, KeyError) as exc:
            rf.errors.append(f"self-paced: {type(exc).__name__}: {exc}")
            self.progress.step(f"  self-paced failed: {type(exc).__name__}: {exc}")
        finally:
            if joined is not None:
                close(joined)

    async def _host_page(
        self, session: aiohttp.ClientSession, info: StackInfo, set_id: str, n: int, rf: RealFigures
    ) -> None:
        """The host's page while N join, in chromium (skipped, with a note, without it)."""
        try:
            chromium_path()
        except RuntimeError as exc:
            rf.errors.append(f"host page: not measured: {exc}")
            return
        self.progress.step(f"real N={n:,}: the host's page in chromium while {n:,} join")
        try:
            run = await create_run(session, info.signon, set_id, "self-paced", n, 1)
            page = await host_page(info, session, run, n, self.progress, self.args.concurrency)
            rf.host_page_stall_ms.append(page.stall_ms)
            rf.host_page_lag_ms.append(page.lag_ms)
        except Exception as exc:  # a browser failure costs this figure only
            rf.errors.append(f"host page: {type(exc).__name__}: {exc}")

    async def hooks(self) -> None:
        """The loader's parse time per format and the reporter's archive time."""
        assert self.stack is not None
        size, runs = (200, 1) if self.args.quick else (1000, 5)
        self.progress.step(f"loader: parse + validate + store {size:,} questions per format")
        try:
            from speedrun_loader import bench as loader_bench

            timings = await asyncio.to_thread(loader_bench.run, size, runs)
            for fmt, ms in timings.items():
                self.results.append(make_result(f"loader_parse_{fmt}", size, [ms], None))
        except Exception as exc:
            self.details["errors"].append(f"loader bench: {type(exc).__name__}: {exc}")
        info = self.stack.info
        for key, value in info.aws_env.items():
            os.environ.setdefault(key, value)
        try:
            from speedrun_reporter import bench as reporter_bench

            for size in self.args.reporter_sizes:
                self.progress.step(f"reporter: archive a run of {size:,} participants x 20")
                seconds = await asyncio.to_thread(
                    reporter_bench.run, size, 20, redis_url=info.redis, endpoint=info.aws
                )
                self.results.append(make_result("reporter_archive", size, [seconds * 1000], None))
        except Exception as exc:
            self.details["errors"].append(f"reporter bench: {type(exc).__name__}: {exc}")


class _JoinProfiles:
    """A join is a sign-on, then a WebSocket hello: sign-on is profiled alone while the
    participants sign on, then the host's instance alone while they connect."""

    def __init__(self, bench: Bench, n: int, signon_pid: int, instance_pid: int) -> None:
        self.bench, self.name, self.instance_pid = bench, f"joins-n{n}", instance_pid
        self.what = "sign-on, during the sign-ons"
        self.recordings = bench._profile_alone(self.name, signon_pid)

    def sockets(self) -> None:
        """The sign-ons are done: profile the host's instance during the hellos."""
        self.stop()
        self.what = "the host's instance, during the hellos"
        self.recordings = self.bench._profile_alone(self.name, self.instance_pid)

    def stop(self) -> None:
        """Stop the current profile and put every service back on the servers' cores."""
        self.bench._stop_alone(self.name, self.recordings, self.what)
        self.recordings = []


_HOST_PACED = frozenset(
    {"question_broadcast", "answer_ingest", "leaderboard_update", "cross_instance_latency"}
)


def _jsonable(obj: Any) -> Any:
    data = asdict(obj)
    return json.loads(json.dumps(data, default=str))


def _cost(costs: list[Any]) -> tuple[float, float]:
    gen = [c.generator_us for c in costs if c.frames and not math.isnan(c.generator_us)]
    srv = [c.server_us for c in costs if c.frames and not math.isnan(c.server_us)]
    return (median(gen) if gen else math.nan, median(srv) if srv else math.nan)


def summarise(n: int, bare: BareFigures, real: RealFigures | None) -> list[Result]:
    """Turn one N's repetitions into the table's results."""
    out: list[Result] = []
    gen_bare, srv_bare = _cost(bare.costs)
    if bare.join_floor_rates:
        out.append(
            make_result(
                "joins_floor", n, bare.join_floor_rates, bare.connect_rates,
                failures=bare.signon_failures,
                note="a FastAPI sign-on that does no work, then the bare WebSocket hello",
                extra={"signon_rate": bare.signon_rate},
            )
        )  # fmt: skip
    # The architecture's floors: the bare servers as two, one publish (bare_suite.run_pair).
    floors = (
        ("question_broadcast_floor", bare.pair_broadcast_ms, bare.broadcast_ms,
         "the bare loop as the architecture splits it: one publish, two processes", None),
        ("answer_ingest_floor", bare.pair_ingest_rate, bare.ingest_pipe_rate,
         "the bare pipelined ingest as the architecture splits it: two processes", None),
        ("cross_instance_floor", bare.pair_cross_ms, None,
         "first arrival from the other bare server minus from the publishing one",
         _sides(bare.pair_cross_ms)),
    )  # fmt: skip
    for name, values, baseline, note, extra in floors:
        if values:
            out.append(make_result(name, n, values, baseline, note=note, extra=extra))
    if real is None:
        out.append(
            make_result("generator_cost", n, [gen_bare], [srv_bare], note="bare broadcast phase")
        )
        return out
    if not real.joined and real.errors:
        cost = make_result("generator_cost", n, [gen_bare], [srv_bare], note="bare broadcast phase")
        return [*_not_run(n, bare, real), cost]
    share = real.paired_stack_cpu_s / real.paired_bare_s if real.paired_bare_s else None
    if real.broadcast_ms:
        out.append(
            _against(
                "question_broadcast", n, real.broadcast_ms, real.paired_broadcast_ms,
                bare.broadcast_ms, stack_share=share,
            )
        )  # fmt: skip
    if real.ingest_rate:
        out.append(
            _against(
                "answer_ingest", n, real.ingest_rate, real.paired_ingest_rate,
                bare.ingest_pipe_rate, failures=real.ingest_failures,
                note="answers refused with an error count as failures",
                extra={"bare_awaited_rate": median(bare.ingest_await_rate)}, stack_share=share,
            )
        )  # fmt: skip
    if real.join_rates or real.join_failures:
        out.append(
            make_result(
                "joins", n, real.join_rates, bare.connect_rates,
                failures=real.join_failures,
                note="sign-on of all, then WebSocket hello of all; a rate per twentieth of a join",
                extra={"signon_rate": median(real.signon_rates),
                       "ws_rate": median(real.ws_rates), "errors": real.join_errors,
                       "floor_ratio": _ratio_to(real.join_rates, bare.join_floor_rates)},
            )
        )  # fmt: skip
    if real.hello_rates:
        out.append(
            make_result(
                "joins_hello", n, real.hello_rates, bare.connect_rates,
                note="the joins' socket phase alone (no sign-on): what a join over the WebSocket "
                "could reach at most",
            )
        )  # fmt: skip
    if real.joined:
        out.append(
            make_result(
                "memory_per_participant", n, [real.memory_kb_per_participant],
                [bare.memory_kb_per_conn], note="RSS growth of both instances / N",
            )
        )  # fmt: skip
    if real.cross_ms:
        out.append(
            make_result(
                "cross_instance_latency", n, real.cross_ms, None,
                note="first arrival on the other instance minus on the host's",
                extra=_sides(real.cross_ms),
            )
        )  # fmt: skip
    if real.self_paced_rates:
        out.append(
            make_result(
                "self_paced_answers", n, real.self_paced_rates, bare.ingest_pipe_rate,
                note="a rate per twentieth of a self-paced run's answers",
                extra={"answers": real.self_paced_answers,
                       "retries_after_unavailable": real.self_paced_retries,
                       "whole_run_rates": real.self_paced_run_rates},
            )
        )  # fmt: skip
    if real.leaderboard_ms:
        out.append(
            _against(
                "leaderboard_update", n, real.leaderboard_ms, real.paired_leaderboard_ms,
                bare.leaderboard_spread_ms, stack_share=share,
                note="time from the first to the last participant's leaderboard frame",
            )
        )  # fmt: skip
    if real.host_reconnect_stall_ms:
        out.append(
            make_result(
                "host_reconnect_stall", n, real.host_reconnect_stall_ms, None,
                note="one per host reconnect; the welcome took "
                f"{median(real.host_welcome_ms):.0f} ms (median)",
                extra={"welcome_ms": real.host_welcome_ms},
            )
        )  # fmt: skip
    if real.host_page_stall_ms:
        out.append(make_result("host_page_stall", n, real.host_page_stall_ms, None))
        out.append(make_result("host_page_lag", n, real.host_page_lag_ms, None))
    gen_real, srv_real = _cost(real.costs)
    out.append(
        make_result(
            "generator_cost", n, [gen_real], [srv_real],
            note="host-paced phases; bare broadcast: "
            f"generator {gen_bare:.1f} vs server {srv_bare:.1f} us/frame",
        )
    )  # fmt: skip
    return out


def _sides(cross_ms: list[float]) -> dict[str, int]:
    """How often the first of two servers went first (a positive difference), out of how many:
    on one shared core the cross-instance figure is mostly this."""
    return {"first_went_first": sum(1 for ms in cross_ms if ms > 0), "repetitions": len(cross_ms)}


def _ratio_to(values: list[float], floor: list[float]) -> float | None:
    """The median of ``values`` over the median of ``floor`` (None without a floor)."""
    below = median(floor) if floor else 0.0
    return median(values) / below if values and below else None


def _against(
    name: str,
    n: int,
    values: list[float],
    paired: list[float],
    bracketing: list[float],
    note: str = "",
    extra: dict[str, Any] | None = None,
    failures: int = 0,
    stack_share: float | None = None,
) -> Result:
    """A figure judged against its paired baseline (measured next to each repetition) when
    it has one, else against the baselines measured before and after the real system; the other
    baseline's median is kept in the details, and the share of the servers' core the real stack
    used while the paired baselines were measured (``stack_share``)."""
    if not paired:
        return make_result(name, n, values, bracketing, note, extra, failures)
    note = "; ".join(x for x in (note, "baseline paired: the bare run next to each") if x)
    extra = dict(extra or {}, bracketing_baseline=median(bracketing))
    if stack_share is not None:
        extra["stack_cpu_share_during_baselines"] = stack_share
    return make_result(name, n, values, paired, note, extra, failures, paired=True)


def _not_run(n: int, bare: BareFigures, real: RealFigures) -> list[Result]:
    """Rows for an N the real system could not run: the baselines, no value, not met."""
    baselines = {
        "question_broadcast": bare.broadcast_ms,
        "answer_ingest": bare.ingest_pipe_rate,
        "joins": bare.connect_rates,
        "memory_per_participant": [bare.memory_kb_per_conn],
        "cross_instance_latency": None,
        "self_paced_answers": bare.ingest_pipe_rate,
        "leaderboard_update": bare.leaderboard_spread_ms,
    }
    rows = []
    for name, baseline in baselines.items():
        row = make_result(name, n, [], baseline, note=f"not run: {real.errors[0][:300]}")
        row.met = False
        rows.append(row)
    return rows


def closing_note(results: list[Result], details: dict[str, Any]) -> str:
    """Say, for each missed target, by how much and what the profile shows."""
    lines = ["# Closing note", "", f"Placement: {details['placement']}.", ""]
    parse_ns = details.get("generator_parse_ns_per_frame")
    if parse_ns:
        lines.append(f"Generator parser alone: {parse_ns / 1000:.2f} us per frame.")
    if profiler.py_spy() is None:
        lines.append("py-spy is not installed (root dev group): no profiles were taken.")
    missed = [r for r in results if r.met is False]
    if not missed:
        lines.append("Every target was met.")
    for r in missed:
        spec = FIGURES.get(r.name)
        target = spec.target.text if spec and spec.target else "-"
        subject = r.ratio if r.target_on == "ratio" else r.value
        by = ""
        if subject and r.target:
            by = f" (missed by {abs(subject / r.target - 1) * 100:.0f}%)"
        failures = r.extra.get("failures")
        lines.append(
            f"- **{r.name}** at N={r.n:,}: {r.value:,.2f} {r.unit}, ratio "
            f"{'-' if r.ratio is None else f'{r.ratio:.2f}'}, target {target}{by}"
            + (f"; {failures} failures" if failures else "")
        )
        reading = _reading(r)
        if reading:
            lines.append(f"  - {reading}")
        key = {
            "question_broadcast": "host-paced",
            "answer_ingest": "host-paced",
            "leaderboard_update": "host-paced",
            "cross_instance_latency": "host-paced",
            "self_paced_answers": "self-paced",
            "joins": "joins",
        }.get(r.name)
        for profile in details["profiles"].get(f"{key}-n{r.n}", []):
            lines.append(
                f"  - profile of pid {profile['pid']}, {profile['how']} ({profile['file']}):"
            )
            lines += [f"    {line}" for line in profile["summary"]]
    errors = list(details.get("errors", []))
    for n, per_n in details.get("per_n", {}).items():
        real = per_n.get("real", {})
        errors += [f"N={n}: {e}" for e in real.get("errors", [])[:5]]
        for text, count in sorted(real.get("error_frames", {}).items(), key=lambda kv: -kv[1]):
            errors.append(f"N={n}: {count:,} error frames `{text}`")
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


def _reading(result: Result) -> str:
    """What a missed figure's row says about its cause, where it says something (the joins'
    ratio to the frameworks' floor; how often the host's instance went first)."""
    extra = result.extra
    if result.name == "joins" and extra.get("floor_ratio") is not None:
        return (
            f"{extra['floor_ratio']:.2f}x the joins' floor, the frameworks alone doing no work "
            "(joins_floor)"
        )
    if result.name == "cross_instance_latency" and extra.get("repetitions"):
        return (
            f"the host's instance had the question first in {extra['first_went_first']} of "
            f"{extra['repetitions']}: on one shared core this figure is mostly which instance "
            "the scheduler runs first (cross_instance_floor: the same with no work)"
        )
    return ""


def main(argv: list[str] | None = None) -> None:
    """Run the bench and write its results."""
    args = parse_args(argv)
    # Every simulated player's socket comes from this one machine: lift the engine's per-address
    # socket limit for the stack under test (sign-on still sees one address per player).
    os.environ.setdefault("MAX_CONNECTIONS_PER_ADDRESS", "0")
    progress = Progress()
    soft, hard = raise_nofile()
    placement = plan_placement()
    if placement.separated:
        os.sched_setaffinity(0, placement.generator_cores)
    progress.step(f"open-file limit {soft}; {placement.describe()}")
    bench = Bench(args, placement, progress)
    # The generator holds N sockets' objects as the servers do: with the default collector a
    # 1,000-player run made 1,778 collections in it (0.78 s, 14 of them full, the longest 56 ms,
    # any of which could fall in a measured 10 ms broadcast); with the servers' settings, 10.
    tune_gc()
    started = time.monotonic()
    try:
        run_loop(bench.run())
    except KeyboardInterrupt:
        progress.step("interrupted: writing what was measured")
    bench.details["seconds"] = round(time.monotonic() - started, 1)
    bench.details["nofile"] = [soft, hard]
    out: Path = args.out
    write_json(bench.results, out / "latest.json")
    (out / "details.json").write_text(json.dumps(bench.details, indent=2, default=str) + "\n")
    note = closing_note(bench.results, bench.details)
    (out / "notes.md").write_text(note)
    if not args.no_charts and bench.results:
        try:
            write_charts([r for r in bench.results if r.name in FIGURES], out / "charts")
        except ImportError:
            progress.step("matplotlib is not installed (root dev group): no charts")
    print(table(bench.results))
    print()
    print(f"placement: {placement.describe()}; open-file limit {soft}")
    print(note)
    print(f"written: {out / 'latest.json'}, details.json, notes.md, charts/")


if __name__ == "__main__":
    main()
