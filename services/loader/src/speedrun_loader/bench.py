"""Benchmark: parse + validate + store a large set in each format (``make bench``).

Run with ``python -m speedrun_loader.bench``; prints one JSON object of milliseconds per format.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from speedrun_loader.parsing import parse_upload
from speedrun_loader.render import FILE_NAMES, WRITERS
from speedrun_loader.store import QuestionSetStore
from speedrun_protocol.questions import Question, QuestionSet

RUNS = 5


def make_set(n_questions: int) -> QuestionSet:
    """A set of ``n_questions`` questions: 4 options, every fifth one with two right answers."""
    categories = ["history", "science", "geography", "arts", "sport"]
    return QuestionSet(
        title=f"Benchmark set of {n_questions}",
        questions=[
            Question(
                text=f"Question {n}: which of these options is the right one for number {n}?",
                options=[f"Option {letter} for question {n}" for letter in "ABCD"],
                correct=[n % 4, (n + 1) % 4] if n % 5 == 0 else [n % 4],
                category=categories[n % len(categories)],
                time_limit_s=20,
            )
            for n in range(n_questions)
        ],
    )


def run(n_questions: int = 1000, runs: int = RUNS) -> dict[str, float]:
    """Median milliseconds to parse, validate and store a set of ``n_questions``, per format.

    Args:
        n_questions: Questions in the generated set.
        runs: Timed runs per format (the median is reported; at least 5 is sensible).

    Returns:
        Format name -> median milliseconds.
    """
    question_set = make_set(n_questions)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="speedrun-loader-bench-") as directory:
        store = QuestionSetStore(Path(directory))
        for source_format, writer in WRITERS.items():
            data = writer(question_set)
            timings: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                result = parse_upload(data, FILE_NAMES[source_format], None)
                store.save(result)
                timings.append((time.perf_counter() - started) * 1000)
            if result.format != source_format or len(result.question_set.questions) != n_questions:
                raise RuntimeError(f"{source_format}: the benchmark file did not read back")
            results[source_format] = round(statistics.median(timings), 2)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))  # noqa: T201 - the benchmark's output
