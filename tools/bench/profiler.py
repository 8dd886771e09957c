"""Sampling profiles of server processes with py-spy, summarised for the closing note.

py-spy attaches to a running process (root, or ptrace rights), samples its Python stacks without
pausing it (``--nonblocking``) and writes collapsed stacks (``--format raw``): one line per
distinct stack, ``frame;frame;frame count``. :func:`summarise` turns that into the functions that
hold the most samples, on top (self) and anywhere on the stack (inclusive). Self time of
``run_app`` (aiohttp/web.py) is time inside uvloop's C event loop: socket reads and writes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def py_spy() -> str | None:
    """Return the py-spy binary: next to this interpreter, else on PATH, else None."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


@dataclass
class Recording:
    """A running py-spy, writing collapsed stacks of one process to a file."""

    pid: int
    output: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> Path | None:
        """Stop sampling and return the output (None if py-spy failed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output if self.output.exists() and self.output.stat().st_size else None


def start(
    pid: int, output: Path, rate: int = 200, cores: frozenset[int] | None = None
) -> Recording | None:
    """Start sampling ``pid`` (None when py-spy is not installed)."""
    binary = py_spy()
    if binary is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking",
            "--format", "raw", "--output", str(output)]  # fmt: skip

    def _pin() -> None:  # runs in the child: keep py-spy off the servers' cores
        if cores:
            os.sched_setaffinity(0, cores)

    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_pin
    )
    return Recording(pid, output, proc)


@dataclass
class Summary:
    """The hottest functions of a profile."""

    samples: int
    self_top: list[tuple[str, float]]
    inclusive_top: list[tuple[str, float]]

    def lines(self, count: int = 6) -> list[str]:
        """Human lines: ``share%  function`` for the hottest self-time functions."""
        out = [f"{self.samples} samples; self time:"]
        out += [f"  {share:5.1f}%  {name}" for name, share in self.self_top[:count]]
        out.append("inclusive, our functions:")
        out += [f"  {share:5.1f}%  {name}" for name, share in self.inclusive_top[:count]]
        return out


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "send_str (aiohttp/web_ws.py:123)": drop the line number.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path})" if path else name


def summarise(path: Path, top: int = 12) -> Summary:
    """Read py-spy's collapsed stacks and rank functions by self and inclusive samples."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return Summary(0, [], [])

    def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100.0 * c / total) for name, c in counter.most_common(top)]

    # Inclusive time is ranked over our own functions (speedrun_*): the outer frames of the
    # process and the event loop are on nearly every stack and say nothing.
    ours = Counter({k: v for k, v in inclusive.items() if "speedrun_" in k and "__main__" not in k})
    return Summary(total, ranked(self_counts), ranked(ours))
