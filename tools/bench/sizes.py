"""The sizes of the real frames of a bench run, from the protocol's own models.

The bare baselines send frames of these sizes, so they are known before the real run; the real
run then reports the sizes it saw, to show they match.
"""

from __future__ import annotations

import time

from speedrun_protocol.frames import (
    AnswerAcceptedFrame,
    LeaderboardEntry,
    LeaderboardFrame,
    OwnStanding,
    QuestionFrame,
    QuestionView,
    encode_frame,
)
from speedrun_protocol.ids import new_participant_id
from tools.bench.bare_suite import FrameSizes
from tools.bench.real_suite import bench_question_set


def frame_sizes(n: int, question_count: int, top: int = 10) -> FrameSizes:
    """Sizes of the question, leaderboard and answer_accepted frames of a bench run of N."""
    raw = bench_question_set(question_count)["questions"][question_count // 2]
    now = int(time.time() * 1000)
    question = QuestionFrame(
        seq=3 * n,
        question=QuestionView(
            question_index=question_count // 2,
            question_count=question_count,
            text=raw["text"],
            options=raw["options"],
            multi=False,
            category=raw["category"],
            points=1000,
            time_limit_s=raw["time_limit_s"],
            deadline_ms=now + 240_000,
            remaining_ms=239_998,
        ),
    )
    board = LeaderboardFrame(
        seq=3 * n,
        top=[
            LeaderboardEntry(
                participant_id=new_participant_id(), nickname=f"p{n - i}", score=9000, rank=i + 1
            )
            for i in range(top)
        ],
        participant_count=n,
        own=OwnStanding(rank=n // 2, score=4500),  # a participant's, whose standing changed
    )
    accepted = AnswerAcceptedFrame(seq=3 * n, question_index=7, selected=[0], elapsed_ms=1234)
    return FrameSizes(
        question=len(encode_frame(question)),
        leaderboard=len(encode_frame(board)),
        ack=len(encode_frame(accepted)),
    )
