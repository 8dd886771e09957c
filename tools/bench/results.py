"""Figures, their targets, and how they are written: the table, latest.json and one chart each."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Comparison = Literal["<=", ">="]


def median(values: Sequence[float]) -> float:
    """Return the median (NaN for no values)."""
    return percentile(values, 50.0)


def percentile(values: Sequence[float], pct: float) -> float:
    """Return a percentile by linear interpolation between closest ranks (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass(frozen=True)
class Target:
    """What a figure must reach: on the ratio to its baseline, or on its value."""

    on: Literal["ratio", "value"]
    comparison: Comparison
    bound: float
    text: str

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Tell whether the target is met (None when it cannot be judged)."""
        subject = ratio if self.on == "ratio" else value
        if subject is None or math.isnan(subject):
            return None
        return subject <= self.bound if self.comparison == "<=" else subject >= self.bound


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the issue's table."""

    name: str
    title: str
    unit: str
    target: Target | None
    higher_is_better: bool


FIGURES: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in (
        FigureSpec(
            "question_broadcast",
            "question broadcast (host-paced), until the last participant has it",
            "ms",
            Target("ratio", "<=", 1.0, "<= 1.0 x bare send_str loop"),
            higher_is_better=False,
        ),
        FigureSpec(
            "question_broadcast_floor",
            "broadcast's floor: one Redis publish, two bare servers sending to half each",
            "ms",
            None,
            higher_is_better=False,
        ),
        FigureSpec(
            "answer_ingest",
            "answer ingest: validate, score atomically in Redis, acknowledge",
            "answers/s",
            Target("ratio", ">=", 0.6, ">= 0.6 x bare pipelined rate"),
            higher_is_better=True,
        ),
        FigureSpec(
            "answer_ingest_floor",
            "ingest's floor: two bare servers sharing the N, each pipelining its answers",
            "answers/s",
            None,
            higher_is_better=True,
        ),
        FigureSpec(
            "joins",
            "joins (sign-on + WebSocket hello)",
            "joins/s",
            Target("ratio", ">=", 0.5, ">= 0.5 x bare connection rate, 0 failures"),
            higher_is_better=True,
        ),
        FigureSpec(
            "joins_floor",
            "joins' floor: a sign-on that does no work, then the bare hello",
            "joins/s",
            None,
            higher_is_better=True,
        ),
        FigureSpec(
            "joins_hello",
            "the joins' socket phase alone: WebSocket + hello -> welcome, like the bare server's",
            "hellos/s",
            None,
            higher_is_better=True,
        ),
        FigureSpec(
            "joins_interleaved",
            "joins one by one (sign-on, then the socket at once), as in a real lobby",
            "joins/s",
            Target("ratio", ">=", 0.5, ">= 0.5 x bare connection rate, 0 failures"),
            higher_is_better=True,
        ),
        FigureSpec(
            "memory_per_participant",
            "server memory per connected participant",
            "KB",
            Target("value", "<=", 30.0, "<= 30 KB"),
            higher_is_better=False,
        ),
        FigureSpec(
            "cross_instance_latency",
            "extra latency, host and participants on different instances",
            "ms",
            Target("value", "<=", 2.0, "<= 2 ms"),
            higher_is_better=False,
        ),
        FigureSpec(
            "cross_instance_floor",
            "cross-instance floor: the other bare server's first arrival minus the publisher's",
            "ms",
            None,
            higher_is_better=False,
        ),
        FigureSpec(
            "self_paced_answers",
            "self-paced, answer -> result -> next question, two instances",
            "answers/s",
            Target("value", ">=", 5000.0, ">= 5,000 answers/s"),
            higher_is_better=True,
        ),
        FigureSpec(
            "leaderboard_update",
            "leaderboard update to all N",
            "ms",
            Target("ratio", "<=", 1.5, "<= 1.5 x bare broadcast"),
            higher_is_better=False,
        ),
        FigureSpec(
            "host_page_stall",
            "host's page (chromium): longest stall of its main thread while N join",
            "ms",
            Target("value", "<=", 500.0, "<= 500 ms (ours, not the issue's)"),
            higher_is_better=False,
        ),
        FigureSpec(
            "host_page_lag",
            "host's page: its player count reads N this long after the last join",
            "ms",
            Target("value", "<=", 1000.0, "<= 1 s (ours, not the issue's)"),
            higher_is_better=False,
        ),
        FigureSpec(
            "host_reconnect_stall",
            "a participant's longest ping round trip while the host reconnects (its welcome "
            "lists all N)",
            "ms",
            Target("value", "<=", 50.0, "<= 50 ms (ours, not the issue's)"),
            higher_is_better=False,
        ),
        FigureSpec(
            "generator_cost",
            "load generator CPU per received frame, against the servers' CPU per frame",
            "us/frame",
            Target("ratio", "<=", 1.0, "below the servers' cost per frame"),
            higher_is_better=False,
        ),
    )
}


@dataclass
class Result:
    """One measured figure at one N, as written to ``latest.json``."""

    name: str
    n: int
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    target: float | None
    met: bool | None
    p99: float | None = None
    baseline_p99: float | None = None
    target_on: str | None = None
    comparison: str | None = None
    reps: int = 1
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object: the issue's eight keys first, then the details."""
        data = asdict(self)
        return {k: _clean(v) for k, v in data.items()}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def make_result(
    name: str,
    n: int,
    values: Sequence[float],
    baselines: Sequence[float] | None,
    note: str = "",
    extra: dict[str, Any] | None = None,
    failures: int = 0,
    paired: bool = False,
) -> Result:
    """Summarise repetitions of a figure (and of its baseline) into a :class:`Result`.

    The value is the median; for a rate the p99 is the 1st percentile (the slow tail), for a time
    the 99th. The ratio is the value's to the baseline's median; with ``paired`` (each baseline
    repetition measured next to the figure's, see :class:`~tools.bench.bare_suite.PairedBare`)
    it is the median of the repetitions' own ratios, each taken at one speed of the machine. A
    figure with failures (joins) never meets its target.

    Raises:
        ValueError: ``paired`` repetitions that do not pair up.
    """
    spec = FIGURES.get(name)
    unit = spec.unit if spec else "ms"
    higher = spec.higher_is_better if spec else False
    tail = 1.0 if higher else 99.0
    value = median(values)
    baseline = median(baselines) if baselines else None
    ratio = value / baseline if baseline else None
    if paired and baselines:
        if len(baselines) != len(values):
            raise ValueError(f"{name}: {len(values)} repetitions, {len(baselines)} baselines")
        ratio = median([v / b for v, b in zip(values, baselines, strict=True) if b])
    target = spec.target if spec else None
    met = target.met(value, ratio) if target else None
    if met is not None and failures:
        met = False
    return Result(
        name=name,
        n=n,
        value=value,
        unit=unit,
        baseline=baseline,
        ratio=ratio,
        target=target.bound if target else None,
        met=met,
        p99=percentile(values, tail),
        baseline_p99=percentile(baselines, tail) if baselines else None,
        target_on=target.on if target else None,
        comparison=target.comparison if target else None,
        reps=len(values),
        note=note,
        extra=dict(extra or {}, failures=failures) if failures or extra else {},
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(results: Iterable[Result]) -> str:
    """Render the results as a fixed-width text table."""
    header = ("figure", "N", "value (median)", "p99/p1", "baseline", "ratio", "target", "met")
    rows = [header]
    for r in results:
        spec = FIGURES.get(r.name)
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        rows.append(
            (
                r.name,
                f"{r.n:,}",
                f"{_fmt(r.value)} {r.unit}",
                _fmt(r.p99),
                _fmt(r.baseline),
                _fmt(r.ratio),
                spec.target.text if spec and spec.target else "-",
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(results: Iterable[Result], path: Path) -> None:
    """Write ``latest.json``: a list of result objects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")


def write_charts(results: Sequence[Result], folder: Path) -> list[Path]:
    """Draw one PNG per figure: its value against its baseline and target, for each N.

    Returns:
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    names = list(dict.fromkeys(r.name for r in results))
    for name in names:
        rows = sorted((r for r in results if r.name == name), key=lambda r: r.n)
        spec = FIGURES.get(name)
        labels = [f"N={r.n:,}" for r in rows]
        xs = list(range(len(rows)))
        fig, ax = plt.subplots(figsize=(7, 4.2))
        has_base = any(r.baseline is not None for r in rows)
        width = 0.38 if has_base else 0.6
        measured = [r.value for r in rows]
        ours = [x - width / 2 if has_base else x for x in xs]
        # The tail (p99 of a time, p1 of a rate) as a whisker from the median.
        tails = [r.p99 if r.p99 is not None and not math.isnan(r.p99) else r.value for r in rows]
        low = [max(0.0, v - t) for v, t in zip(measured, tails, strict=True)]
        high = [max(0.0, t - v) for v, t in zip(measured, tails, strict=True)]
        ax.bar(
            ours,
            measured,
            width,
            yerr=[low, high],
            capsize=4,
            label="speedrun (median, whisker: p99 / p1)",
            color="#3b6fb6",
        )
        if has_base:
            ax.bar(
                [x + width / 2 for x in xs],
                [r.baseline or 0 for r in rows],
                width,
                label="bare baseline",
                color="#9aa5b1",
            )
        if spec and spec.target:
            tgt = spec.target
            if tgt.on == "value":
                ax.axhline(tgt.bound, color="#c0392b", linestyle="--", label=f"target {tgt.text}")
            else:
                bounds = [(r.baseline or 0) * tgt.bound for r in rows]
                ax.scatter(ours, bounds, marker="_", s=900, color="#c0392b", label=tgt.text)
        ax.set_xticks(xs, labels)
        ax.set_ylabel(rows[0].unit)
        ax.set_title(spec.title if spec else name, fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = folder / f"{name}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        written.append(out)
    return written
