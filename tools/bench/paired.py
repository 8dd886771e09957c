"""The paired bare baseline's N connections, held by a generator process of their own.

The host-paced questions measure each broadcast, ingest and leaderboard twice in a row, on a bare
server and on the real system (:class:`~tools.bench.bare_suite.PairedBare`). Both fleets in one
process need 2 × N open files, more than this machine allows at 10,000 (a limit of 20,000, which
only a privileged process may raise). The limit is per process, so the bare fleet lives in a
child on the generator's cores, with the generator's code, its event loop and its collector
settings, and measures each baseline itself: only the result crosses the pipe, never a timing.

``python -m tools.bench.paired HOST PORT N CONCURRENCY SIZES_JSON`` is the child. It connects
the N, writes ``{"live": n}`` (or ``{"error": …}``) as a line on stdout, then answers each line
of stdin (``broadcast``, ``leaderboard``, ``ingest Q``) with ``{"value": x}`` or
``{"error": …}``, and closes the fleet at the end of stdin. Errors go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import asdict

import orjson

from speedrun_protocol.runtime import tune_gc
from tools.bench.bare_suite import FrameSizes, PairedBare, phase_timeout
from tools.bench.procs import REPO
from tools.bench.system import raise_nofile, run_loop

_SETTLE_S = 30.0
"""Seconds the parent allows beyond the child's own timeout (it ends a stuck phase itself)."""


class PairedProcess:
    """The parent's side: the same three measurements as :class:`PairedBare`, each run by the
    child and its result read back."""

    def __init__(self, proc: asyncio.subprocess.Process, live: int, n: int) -> None:
        """Wrap a child that has connected ``live`` of ``n`` (see :meth:`open`)."""
        self.proc = proc
        self.live = live
        self.timeout = phase_timeout(n) + _SETTLE_S

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        n: int,
        sizes: FrameSizes,
        concurrency: int = 100,
    ) -> PairedProcess:
        """Start the child and have it connect N participants to the bare server.

        Raises:
            RuntimeError: The child could not connect every one of them, or ended.
        """
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tools.bench.paired", host, str(port), str(n),
            str(concurrency), json.dumps(asdict(sizes)),
            cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        paired = cls(proc, 0, n)
        try:
            paired.live = int(await paired._reply("live"))
        except BaseException:
            await paired.close()
            raise
        return paired

    async def broadcast(self) -> float:
        """One question-size broadcast: ms from the trigger to the last arrival."""
        return await self._ask("broadcast")

    async def leaderboard(self) -> float:
        """One leaderboard-size broadcast: ms from the first arrival to the last."""
        return await self._ask("leaderboard")

    async def ingest(self, question: int) -> float:
        """Everyone answers at once, pipelined by the server: answers acknowledged per second."""
        return await self._ask(f"ingest {question}")

    async def close(self) -> None:
        """End the child's input: it drops every connection and exits (killed if it does not
        within 30 s)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    async def _ask(self, command: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._reply("value")

    async def _reply(self, key: str) -> float:
        """The child's next line's ``key``.

        Raises:
            RuntimeError: The child answered with an error, or ended.
        """
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), self.timeout)
        if not line:
            code = await self.proc.wait()
            raise RuntimeError(f"the paired bare generator ended (exit status {code})")
        reply = orjson.loads(line)
        if key not in reply:
            raise RuntimeError(f"the paired bare generator: {reply.get('error', reply)}")
        return float(reply[key])


async def _serve(host: str, port: int, n: int, concurrency: int, sizes: FrameSizes) -> int:
    """The child: connect, then run each command of stdin on the fleet until stdin ends."""
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)

    def answer(reply: dict[str, object]) -> None:
        sys.stdout.buffer.write(orjson.dumps(reply) + b"\n")
        sys.stdout.buffer.flush()

    try:
        paired = await PairedBare.open(host, port, n, sizes, concurrency)
    except (RuntimeError, TimeoutError, OSError) as exc:
        answer({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    answer({"live": paired.live})
    try:
        while line := await commands.readline():
            kind, _, arg = line.decode().strip().partition(" ")
            try:
                if kind == "broadcast":
                    value = await paired.broadcast()
                elif kind == "leaderboard":
                    value = await paired.leaderboard()
                elif kind == "ingest":
                    value = await paired.ingest(int(arg))
                else:
                    answer({"error": f"unknown command {kind!r}"})
                    continue
            except (RuntimeError, TimeoutError, OSError) as exc:
                answer({"error": f"{kind}: {type(exc).__name__}: {exc}"})
                continue
            answer({"value": value})
    finally:
        paired.close()
        await asyncio.sleep(0.05)  # the transports' connection_lost closes the fds
    return 0


def main() -> None:
    """The child's entry point: the generator's settings (open files, collector, uvloop)."""
    host, port, n, concurrency, sizes = sys.argv[1:6]
    raise_nofile()
    tune_gc()
    code = run_loop(
        _serve(host, int(port), int(n), int(concurrency), FrameSizes(**json.loads(sizes)))
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
