"""The archive: ranks, per-question statistics and the DynamoDB items, checked as properties."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speedrun_protocol.archive import (
    SUMMARY_SK,
    archive_from_items,
    archive_items,
    build_archive,
    leaderboard_from,
    participant_sk,
    question_sk,
    run_pk,
)
from speedrun_protocol.state import AnswerRecord, ParticipantRecord, RunConfig, RunQuestion

SID = "sr_" + "a" * 26


@dataclass
class RunState:
    """A finished run's state, as the reporter reads it from Redis."""

    config: RunConfig
    questions: list[RunQuestion]
    meta: dict[str, str]
    participants: list[ParticipantRecord]
    answers: list[AnswerRecord]
    scores: dict[str, float]


@st.composite
def run_states(draw: st.DrawFn) -> RunState:
    question_count = draw(st.integers(min_value=1, max_value=5))
    questions = [
        RunQuestion(
            source_index=i,
            text=f"Q{i}?",
            options=[f"o{k}" for k in range(draw(st.integers(min_value=2, max_value=4)))],
            correct=[0],
            time_limit_s=20,
            points=1000,
        )
        for i in range(question_count)
    ]
    count = draw(st.integers(min_value=0, max_value=12))
    participants = [
        ParticipantRecord(
            participant_id=f"p_{i:026d}",
            nickname=draw(st.sampled_from(["ann", "bob", "cy", "dee"])) + str(i),
            joined_at_ms=1_000 + i,
            kicked=draw(st.booleans()),
        )
        for i in range(count)
    ]
    answers: list[AnswerRecord] = []
    for p in participants:
        for q, question in enumerate(questions):
            if not draw(st.booleans()):
                continue
            timed_out = draw(st.booleans())
            selected = (
                []
                if timed_out
                else [draw(st.integers(min_value=0, max_value=len(question.options) - 1))]
            )
            correct = selected == question.correct
            answers.append(
                AnswerRecord(
                    participant_id=p.participant_id,
                    question_index=q,
                    selected=selected,
                    correct=correct,
                    timed_out=timed_out,
                    points=draw(st.sampled_from([500, 1000])) if correct else 0,
                    elapsed_ms=draw(st.integers(min_value=0, max_value=20_000)),
                    answered_at_ms=2_000,
                )
            )
    scores = {
        p.participant_id: float(
            sum(a.points for a in answers if a.participant_id == p.participant_id)
        )
        for p in participants
        if not p.kicked
    }
    return RunState(
        config=RunConfig(
            speedrun_id=SID,
            join_code="123456",
            mode="self-paced",
            title="Set",
            question_set_id="qs_" + "b" * 26,
            question_count=question_count,
            default_time_limit_s=20,
            max_participants=100,
            created_at_ms=500,
        ),
        questions=questions,
        meta={
            "status": "finished",
            "started_at_ms": "900",
            "ended_at_ms": "3000",
            "end_reason": "ended_by_host",
        },
        participants=participants,
        answers=answers,
        scores=scores,
    )


def _build(state: RunState):  # type: ignore[no-untyped-def]
    return build_archive(
        state.config, state.questions, state.meta, state.participants, state.answers, state.scores
    )


@settings(max_examples=50, deadline=None)
@given(run_states())
def test_build_archive_ranks_share_equal_scores_and_count_those_above(state: RunState) -> None:
    _, participants, _ = _build(state)
    staying = [p for p in participants if not p.kicked]
    for p in staying:
        assert p.rank == 1 + sum(o.score > p.score for o in staying)
    order = [(-p.score, p.nickname) for p in staying]
    assert order == sorted(order)
    assert all(p.kicked for p in participants[len(staying) :])


@settings(max_examples=50, deadline=None)
@given(run_states())
def test_build_archive_scores_come_from_the_leaderboard_or_the_points(state: RunState) -> None:
    _, participants, _ = _build(state)
    for p in participants:
        assert p.score == sum(a.points for a in p.answers)
        assert p.correct_count == sum(a.correct for a in p.answers)
        assert [a.question_index for a in p.answers] == sorted(
            {a.question_index for a in p.answers}
        )


@settings(max_examples=50, deadline=None)
@given(run_states())
def test_build_archive_question_stats_add_up(state: RunState) -> None:
    run, _, stats = _build(state)
    assert [s.question_index for s in stats] == list(range(run.question_count))
    for s in stats:
        mine = [a for a in state.answers if a.question_index == s.question_index]
        in_time = [a for a in mine if not a.timed_out]
        assert s.answered == len(in_time)
        assert s.timed_out == len(mine) - len(in_time)
        assert sum(s.counts) == sum(len(a.selected) for a in in_time)
        assert s.correct == sum(a.correct for a in mine)
        assert 0.0 <= s.correct_rate <= 1.0
        if in_time:
            assert s.mean_elapsed_ms == sum(a.elapsed_ms for a in in_time) / len(in_time)
        else:
            assert s.mean_elapsed_ms is None


@settings(max_examples=50, deadline=None)
@given(run_states(), st.randoms(use_true_random=False))
def test_build_archive_ignores_input_order(state: RunState, rnd) -> None:  # type: ignore[no-untyped-def]
    first = _build(state)
    rnd.shuffle(state.participants)
    rnd.shuffle(state.answers)
    assert _build(state) == first


@settings(max_examples=50, deadline=None)
@given(run_states())
def test_leaderboard_from_lists_everyone_not_kicked_best_first(state: RunState) -> None:
    _, participants, _ = _build(state)
    board = leaderboard_from(list(reversed(participants)))
    assert [e.participant_id for e in board] == [
        p.participant_id for p in participants if not p.kicked
    ]
    assert [e.rank for e in board] == sorted(e.rank for e in board)


@settings(max_examples=50, deadline=None)
@given(run_states())
def test_archive_items_round_trip_with_summary_last(state: RunState) -> None:
    run, participants, stats = _build(state)
    items = archive_items(run, participants, stats)
    assert items[-1]["sk"] == SUMMARY_SK
    assert {i["pk"] for i in items} == {run_pk(SID)}
    assert len({i["sk"] for i in items}) == len(items)
    assert archive_from_items(list(reversed(items))) == (run, participants, stats)
    assert archive_from_items(items[:-1]) is None


def test_build_archive_uses_meta_and_keeps_kicked_last() -> None:
    questions = [
        RunQuestion(
            source_index=0, text="Q", options=["a", "b"], correct=[1], time_limit_s=10, points=1000
        )
    ]
    people = [
        ParticipantRecord(participant_id=f"p_{n}", nickname=n, joined_at_ms=1, kicked=n == "zed")
        for n in ("bob", "ann", "cy", "zed")
    ]
    scores = {"p_bob": 900.0, "p_ann": 900.0, "p_cy": 100.0, "p_zed": 5000.0}
    config = RunConfig(
        speedrun_id=SID,
        join_code="1",
        mode="host-paced",
        title="T",
        question_set_id="qs",
        question_count=1,
        default_time_limit_s=10,
        max_participants=10,
        created_at_ms=1,
    )
    run, participants, stats = build_archive(
        config, questions, {"ended_at_ms": "77", "end_reason": "abandoned"}, people, [], scores
    )
    assert [(p.nickname, p.rank) for p in participants] == [
        ("ann", 1),
        ("bob", 1),
        ("cy", 3),
        ("zed", 4),
    ]
    assert (run.ended_at_ms, run.end_reason, run.started_at_ms) == (77, "abandoned", None)
    assert stats[0].correct_rate == 0.0
    assert participant_sk("p_x") == "P#p_x" and question_sk(7) == "Q#0007"


def test_build_archive_without_end_time_fails() -> None:
    state = RunState(
        config=RunConfig(
            speedrun_id=SID,
            join_code="1",
            mode="host-paced",
            title="T",
            question_set_id="qs",
            question_count=0,
            default_time_limit_s=10,
            max_participants=10,
            created_at_ms=1,
        ),
        questions=[],
        meta={"status": "running"},
        participants=[],
        answers=[],
        scores={},
    )
    with pytest.raises(ValueError, match="ended_at_ms"):
        _build(state)
