"""Properties of the scoring rule (a pure function)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from speedrun_run.scoring import FULL_POINTS_MS, STREAK_CAP, score_answer, speed_points

points_st = st.sampled_from([0, 1000, 2000])
limit_st = st.integers(min_value=1_000, max_value=240_000)
streak_st = st.integers(min_value=0, max_value=50)


@st.composite
def question_and_pick(draw):  # type: ignore[no-untyped-def]
    options = draw(st.integers(min_value=2, max_value=6))
    correct = draw(st.sets(st.integers(0, options - 1), min_size=1, max_size=options))
    selected = draw(st.sets(st.integers(0, options - 1), min_size=1, max_size=options))
    return sorted(correct), sorted(selected)


@given(question_and_pick(), points_st, limit_st, st.integers(-10, 300_000), streak_st)
def test_score_is_never_negative_and_bounded(qp, points, limit, elapsed, streak) -> None:
    correct, selected = qp
    score = score_answer(
        points=points,
        correct_options=correct,
        selected=selected,
        elapsed_ms=elapsed,
        time_limit_ms=limit,
        streak_before=streak,
    )
    assert 0 <= score.points <= points + STREAK_CAP
    assert 0 <= score.streak_bonus <= STREAK_CAP
    assert score.streak == (streak + 1 if score.correct else 0)


@given(
    question_and_pick(),
    points_st,
    limit_st,
    st.integers(0, 300_000),
    st.integers(0, 300_000),
    streak_st,
)
def test_score_does_not_increase_with_time(qp, points, limit, t1, t2, streak) -> None:
    correct, selected = qp
    early, late = sorted((t1, t2))

    def at(t: int) -> int:
        return score_answer(
            points=points,
            correct_options=correct,
            selected=selected,
            elapsed_ms=t,
            time_limit_ms=limit,
            streak_before=streak,
        ).points

    assert at(early) >= at(late)


@given(question_and_pick(), points_st, limit_st, st.integers(1, 100_000), streak_st)
def test_score_is_zero_when_late_or_timed_out(qp, points, limit, over, streak) -> None:
    correct, selected = qp
    late = score_answer(
        points=points,
        correct_options=correct,
        selected=selected,
        elapsed_ms=limit + over,
        time_limit_ms=limit,
        streak_before=streak,
    )
    timed_out = score_answer(
        points=points,
        correct_options=correct,
        selected=None,
        elapsed_ms=limit,
        time_limit_ms=limit,
        streak_before=streak,
    )
    assert late.points == timed_out.points == 0
    assert late.streak == timed_out.streak == 0


@given(points_st, limit_st, st.integers(0, 100_000), streak_st)
def test_score_is_zero_for_a_wrong_single_choice(points, limit, elapsed, streak) -> None:
    score = score_answer(
        points=points,
        correct_options=[1],
        selected=[2],
        elapsed_ms=min(elapsed, limit),
        time_limit_ms=limit,
        streak_before=streak,
    )
    assert score.points == 0 and not score.correct


@given(limit_st, st.integers(FULL_POINTS_MS, 240_000))
def test_speed_points_follow_the_formula(limit, elapsed) -> None:
    if elapsed > limit:
        assert speed_points(1000, elapsed, limit) == 0
    else:
        exact = 1000 * (1 - (elapsed / limit) / 2)
        assert abs(speed_points(1000, elapsed, limit) - exact) <= 0.5 + 1e-9  # float noise


def test_speed_points_are_full_under_half_a_second() -> None:
    assert speed_points(2000, FULL_POINTS_MS - 1, 20_000) == 2000
    assert speed_points(1000, 20_000, 20_000) == 500


def test_multi_select_partial_credit_is_picks_minus_wrong_over_correct() -> None:
    # correct {0, 1, 2}: two right and one wrong earn (2 - 1) / 3 of the speed score
    score = score_answer(
        points=1000,
        correct_options=[0, 1, 2],
        selected=[0, 1, 3],
        elapsed_ms=0,
        time_limit_ms=20_000,
        streak_before=4,
    )
    assert (score.points, score.correct, score.streak_bonus, score.streak) == (333, False, 0, 0)
    exact = score_answer(
        points=1000,
        correct_options=[0, 1, 2],
        selected=[2, 1, 0],
        elapsed_ms=0,
        time_limit_ms=20_000,
        streak_before=4,
    )
    assert (exact.points, exact.correct, exact.streak_bonus, exact.streak) == (1400, True, 400, 5)


def test_streak_bonus_is_capped() -> None:
    score = score_answer(
        points=1000,
        correct_options=[0],
        selected=[0],
        elapsed_ms=0,
        time_limit_ms=20_000,
        streak_before=40,
    )
    assert score.streak_bonus == STREAK_CAP and score.points == 1000 + STREAK_CAP
