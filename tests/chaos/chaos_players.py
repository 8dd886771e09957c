"""The simulated participants of a chaos run, played in processes of their own.

The chaos stack's gateway runs inside the test process (on a thread of its own); with the 200
bots of the full size in that interpreter too, the bots' frames and the gateway's relaying
take turns on one GIL, and a reconnect storm starved the gateway for seconds. Here the bots of
``speedrun_cli.bots`` run in child processes instead, as real players run on other machines.

:class:`BotPlayers` is the test's side: it starts the children, mirrors their progress (for the
test's waits) and returns every bot's :class:`~speedrun_cli.bots.BotReport` once they are done.
A child (``python chaos_players.py CONFIG``) reads its :class:`PlayersConfig`, plays with
:func:`~speedrun_cli.bots.run_bots`, prints a :class:`PlayersProgress` line on stdout whenever
the counts change, stops its bots' sockets when it reads ``stop`` (or end of file: its test is
gone) on stdin, and writes its reports as JSON to the config's ``out`` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from speedrun_cli.bots import BotReport, BotsProgress, BotStyle, run_bots

PROGRESS_INTERVAL_S = 0.05
"""How often a child checks whether its counts changed."""

REPORTS = TypeAdapter(list[BotReport])


class PlayersConfig(BaseModel):
    """What one child plays."""

    base_url: str
    join_code: str
    count: int
    key: dict[str, frozenset[str]]
    styles: list[BotStyle]
    seed: int
    prefix: str
    out: Path


class PlayersProgress(BaseModel):
    """The counts of ``BotsProgress`` the chaos tests wait on, summed over the children."""

    joined: int = 0
    connected: int = 0
    """Bots with a live, welcomed connection now."""
    answers_sent: int = 0
    finished: int = 0


class BotPlayers:
    """``count`` bots in ``processes`` child processes, and what they report."""

    def __init__(
        self,
        base_url: str,
        join_code: str,
        count: int,
        *,
        key: dict[str, frozenset[str]],
        styles: tuple[BotStyle, ...],
        seed: int,
        prefix: str,
        workdir: Path,
        processes: int = 1,
    ) -> None:
        """Prepare (not start) the children; :meth:`play` starts them."""
        share, extra = divmod(count, processes)
        self.configs = [
            PlayersConfig(
                base_url=base_url,
                join_code=join_code,
                count=share + (index < extra),
                key=key,
                styles=list(styles),
                seed=seed + index,
                prefix=prefix if processes == 1 else f"{prefix}{index + 1}",
                out=workdir / f"players-{index + 1}.json",
            )
            for index in range(processes)
        ]
        self.count = count
        self._children: list[PlayersProgress] = [PlayersProgress() for _ in self.configs]
        self._procs: list[asyncio.subprocess.Process] = []

    @property
    def progress(self) -> PlayersProgress:
        """Every child's last counts, added up."""
        return PlayersProgress(
            **{n: sum(getattr(c, n) for c in self._children) for n in PlayersProgress.model_fields}
        )

    async def play(self) -> list[BotReport]:
        """Start the children, follow them until all are done, and return every report.

        Raises:
            RuntimeError: A child failed (its last lines of stderr say why).
        """
        try:
            for config in self.configs:
                path = config.out.with_suffix(".config.json")
                path.write_text(config.model_dump_json())
                self._procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, __file__, str(path),
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                    )
                )  # fmt: skip
            await asyncio.gather(*(self._follow(i, p) for i, p in enumerate(self._procs)))
        finally:
            for proc in self._procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        return [r for c in self.configs for r in REPORTS.validate_json(c.out.read_bytes())]

    @property
    def pids(self) -> dict[str, int]:
        """The children's process ids, by name."""
        return {f"bots-{i + 1}": p.pid for i, p in enumerate(self._procs)}

    async def stop(self) -> None:
        """Ask every child to close its bots' sockets (1000) and finish."""
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.write(b"stop\n")
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.drain()

    async def _follow(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.create_task(proc.stderr.read())
        async for line in proc.stdout:
            self._children[index] = PlayersProgress.model_validate_json(line)
        code = await proc.wait()
        if code != 0:
            tail = (await errors).decode(errors="replace").strip().splitlines()[-15:]
            raise RuntimeError(f"bot process {index + 1} exited with {code}:\n" + "\n".join(tail))
        await errors


# ---------------------------------------------------------------------------------------------
# The child
# ---------------------------------------------------------------------------------------------


def _counts(progress: BotsProgress) -> PlayersProgress:
    return PlayersProgress(
        joined=progress.joined,
        connected=progress.connected,
        answers_sent=progress.answers_sent,
        finished=progress.finished,
    )


async def _report_progress(progress: BotsProgress) -> None:
    last = None
    while True:
        counts = _counts(progress)
        if counts != last:
            sys.stdout.write(counts.model_dump_json() + "\n")
            sys.stdout.flush()
            last = counts
        await asyncio.sleep(PROGRESS_INTERVAL_S)


async def _stop_when_told(progress: BotsProgress) -> None:
    stdin = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    await stdin.readline()  # "stop", or end of file when the test is gone
    for socket in list(progress.sockets):
        await socket.stop()


async def _play(config: PlayersConfig) -> None:
    progress = BotsProgress()
    reporting = asyncio.create_task(_report_progress(progress))
    stopping = asyncio.create_task(_stop_when_told(progress))
    try:
        reports = await run_bots(
            config.base_url, config.join_code, config.count, key=config.key,
            styles=config.styles, seed=config.seed, progress=progress, prefix=config.prefix,
        )  # fmt: skip
    finally:
        stopping.cancel()
        reporting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporting
    config.out.write_bytes(REPORTS.dump_json(reports))
    sys.stdout.write(_counts(progress).model_dump_json() + "\n")


def main() -> None:
    """Play the bots of the config file named on the command line."""
    config = PlayersConfig.model_validate_json(Path(sys.argv[1]).read_text())
    asyncio.run(_play(config))


if __name__ == "__main__":
    main()
