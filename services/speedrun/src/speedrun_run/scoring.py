"""Scoring: a pure function of the question, the selection, the server-measured time and the streak.

The rule (documented in the README):

* **Speed.** A fully correct answer scores ``round(P * (1 - (t / T) / 2))`` (half up), where
  ``P`` is the question's points, ``t`` the server time from the question reaching the
  participant to the answer arriving and ``T`` the time limit. Under :data:`FULL_POINTS_MS` it
  scores the full ``P``.
  At the deadline it is worth ``P / 2``; after it, nothing (and the engine refuses it anyway).
* **Multi-select partial credit.** With ``k`` correct options, picking ``c`` of them and ``w`` wrong
  ones earns the fraction ``max(0, c - w) / k`` of the speed score, rounded half up. Only an exact
  match is "correct" (it keeps the streak going and can earn a streak bonus).
* **Streak bonus.** A correct answer after ``s`` correct answers in a row adds
  ``min(STREAK_STEP * s, STREAK_CAP)`` points (none on a 0-point question). A wrong answer or a
  time-out resets the streak to 0.

So points are never negative, never more than ``P + STREAK_CAP``, never increase with ``t``, and are
zero for a wrong or late answer.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

FULL_POINTS_MS = 500
"""Answers faster than this (server time) score the question's full points."""
STREAK_STEP = 100
"""Bonus points per correct answer already in the streak."""
STREAK_CAP = 500
"""The largest streak bonus of one answer."""


@dataclass(frozen=True, slots=True)
class Score:
    """The outcome of one answer."""

    points: int
    """Points awarded, streak bonus included."""
    streak_bonus: int
    """The part of ``points`` that is streak bonus."""
    correct: bool
    """The selection is exactly the correct options."""
    streak: int
    """Correct answers in a row after this one."""


def _round_div(numerator: int, denominator: int) -> int:
    """Divide non-negative integers, rounding half up (exact: no floating point)."""
    return (2 * numerator + denominator) // (2 * denominator)


def speed_points(points: int, elapsed_ms: int, time_limit_ms: int) -> int:
    """Return the points of a fully correct answer given after ``elapsed_ms``.

    Args:
        points: The question's points ``P``.
        elapsed_ms: Server time from the question reaching the participant to the answer.
        time_limit_ms: The time limit ``T``.

    Returns:
        ``P`` under :data:`FULL_POINTS_MS`, ``round(P * (1 - (t/T)/2))`` up to ``T``, 0 after.
    """
    if points <= 0 or elapsed_ms > time_limit_ms:
        return 0
    if elapsed_ms < FULL_POINTS_MS:
        return points
    elapsed = max(0, elapsed_ms)
    return _round_div(points * (2 * time_limit_ms - elapsed), 2 * time_limit_ms)


def streak_bonus(streak_before: int) -> int:
    """Return the bonus of a correct answer after ``streak_before`` correct answers in a row."""
    return min(STREAK_STEP * max(0, streak_before), STREAK_CAP)


def score_answer(
    *,
    points: int,
    correct_options: Collection[int],
    selected: Collection[int] | None,
    elapsed_ms: int,
    time_limit_ms: int,
    streak_before: int,
) -> Score:
    """Score one answer (or a time-out, when ``selected`` is None).

    Args:
        points: The question's points ``P`` (0, 1000 or 2000).
        correct_options: The correct option indexes.
        selected: The chosen option indexes, or None when the time ran out.
        elapsed_ms: Server time from the question reaching the participant to the answer.
        time_limit_ms: The question's time limit in ms.
        streak_before: Correct answers in a row before this one.

    Returns:
        The points, the bonus part, whether it is correct and the streak after it.
    """
    if selected is None or elapsed_ms > time_limit_ms:
        return Score(points=0, streak_bonus=0, correct=False, streak=0)
    right = set(correct_options)
    picked = set(selected)
    correct = picked == right
    hits = len(picked & right)
    misses = len(picked - right)
    base = speed_points(points, elapsed_ms, time_limit_ms)
    earned = _round_div(base * max(0, hits - misses), len(right)) if right else 0
    if not correct:
        return Score(points=earned, streak_bonus=0, correct=False, streak=0)
    bonus = streak_bonus(streak_before) if points > 0 else 0
    return Score(points=earned + bonus, streak_bonus=bonus, correct=True, streak=streak_before + 1)
