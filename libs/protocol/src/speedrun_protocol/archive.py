"""The archived run: what the reporter writes to DynamoDB and the results API serves.

One table, one partition per run (``pk = RUN#<speedrun id>``), with sort keys:

* ``SUMMARY`` — :class:`ArchivedRun`;
* ``P#<participant id>`` — :class:`ArchivedParticipant` (with every answer);
* ``Q#<question index, 4 digits>`` — :class:`QuestionStats`.

Keys are deterministic, so writing the same run twice leaves exactly the same items. Every item
holds its record as JSON in ``data`` (see :func:`archive_items`); the ``SUMMARY`` item is written
last, so its presence means the archive is complete (:func:`archive_from_items` returns None
without it).

:func:`build_archive` turns a finished run's Redis state into these records; the results API uses
it for live runs too, so a run reads the same before and after it is archived.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from speedrun_protocol.frames import LeaderboardEntry, Mode
from speedrun_protocol.state import AnswerRecord, ParticipantRecord, RunConfig, RunQuestion

SUMMARY_SK = "SUMMARY"


def run_pk(speedrun_id: str) -> str:
    """Return the partition key of a run.

    Args:
        speedrun_id: The run.

    Returns:
        ``RUN#<speedrun id>``.
    """
    return f"RUN#{speedrun_id}"


def participant_sk(participant_id: str) -> str:
    """Return the sort key of a participant item.

    Args:
        participant_id: The participant.

    Returns:
        ``P#<participant id>``.
    """
    return f"P#{participant_id}"


def question_sk(question_index: int) -> str:
    """Return the sort key of a question-statistics item.

    Args:
        question_index: Zero-based index in the run.

    Returns:
        ``Q#`` and the index on four digits.
    """
    return f"Q#{question_index:04d}"


class ArchivedAnswer(BaseModel):
    """One answer of one participant, as archived."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_index: int = Field(description="Zero-based index in the run.")
    selected: list[int] = Field(description="Options chosen; empty when timed out.")
    correct: bool = Field(description="Fully correct.")
    timed_out: bool = Field(description="No answer before the deadline.")
    points: int = Field(description="Points awarded, streak bonus included.")
    elapsed_ms: int = Field(description="Server-measured answer time.")


class ArchivedParticipant(BaseModel):
    """A participant's final standing and answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: str = Field(description="Their id.")
    nickname: str = Field(description="Their nickname.")
    score: int = Field(description="Final score.")
    rank: int = Field(description="Final 1-based rank; equal scores share a rank.")
    correct_count: int = Field(description="Questions answered correctly.")
    kicked: bool = Field(default=False, description="Removed by the host.")
    answers: list[ArchivedAnswer] = Field(description="Their answers, by question index.")


class QuestionStats(BaseModel):
    """How one question went."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_index: int = Field(description="Zero-based index in the run.")
    text: str = Field(description="The question text.")
    options: list[str] = Field(description="The options in the run's order.")
    correct_options: list[int] = Field(description="The correct options.")
    counts: list[int] = Field(description="How many chose each option.")
    answered: int = Field(description="Participants who answered in time.")
    timed_out: int = Field(description="Participants who timed out.")
    correct: int = Field(description="Participants who were fully correct.")
    correct_rate: float = Field(description="correct / (answered + timed_out), 0 when nobody.")
    mean_elapsed_ms: float | None = Field(description="Mean answer time of those who answered.")


class ArchivedRun(BaseModel):
    """The summary item of an archived run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speedrun_id: str = Field(description="The run.")
    title: str = Field(description="The question set's title.")
    mode: Mode = Field(description="self-paced or host-paced.")
    question_set_id: str = Field(description="The set the questions came from.")
    question_count: int = Field(description="Questions in the run.")
    participant_count: int = Field(description="Participants (kicked ones included).")
    created_at_ms: int = Field(description="Created (Unix ms).")
    started_at_ms: int | None = Field(description="Started (Unix ms).")
    ended_at_ms: int = Field(description="Ended (Unix ms).")
    end_reason: Literal["completed", "ended_by_host", "abandoned"] = Field(
        description="Why it ended."
    )
    questions: list[RunQuestion] = Field(description="The questions as played.")


class ResultsResponse(BaseModel):
    """``GET /signon/speedruns/{id}/results``: a host sees everything; a participant sees the
    leaderboard and their own answers."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["live", "archive"] = Field(description="Read from Redis or from DynamoDB.")
    run: ArchivedRun = Field(description="The run's summary.")
    leaderboard: list[LeaderboardEntry] = Field(description="Every participant, best first.")
    participants: list[ArchivedParticipant] = Field(
        description="Host: everyone. Participant: only themselves."
    )
    questions: list[QuestionStats] = Field(
        default_factory=list, description="Host only: statistics per question."
    )


# ---------------------------------------------------------------------------------------------
# Building an archive from a finished run's state (pure: the reporter and live results share it)
# ---------------------------------------------------------------------------------------------


def _meta_int(meta: dict[str, str], field: str) -> int | None:
    value = meta.get(field)
    return int(value) if value not in (None, "") else None


def _ranked(
    records: list[ParticipantRecord], totals: dict[str, int]
) -> list[tuple[int, ParticipantRecord]]:
    """Order by score (desc), nickname, id; equal scores share the rank of the first of them.

    Kicked participants come after everyone else, ranked among themselves the same way, so the
    ranks of those who stayed are 1, 1, 3, ... without gaps left by the kicked.
    """
    ranked: list[tuple[int, ParticipantRecord]] = []
    position = 0
    for group in (
        [p for p in records if not p.kicked],
        [p for p in records if p.kicked],
    ):
        group.sort(key=lambda p: (-totals[p.participant_id], p.nickname, p.participant_id))
        previous: int | None = None
        rank = 0
        for record in group:
            position += 1
            score = totals[record.participant_id]
            if score != previous:
                rank = position
                previous = score
            ranked.append((rank, record))
    return ranked


def _question_stats(
    index: int, question: RunQuestion, answers: list[AnswerRecord]
) -> QuestionStats:
    counts = [0] * len(question.options)
    answered = timed_out = correct = 0
    elapsed_total = 0
    for answer in answers:
        if answer.correct:
            correct += 1
        if answer.timed_out:
            timed_out += 1
            continue
        answered += 1
        elapsed_total += answer.elapsed_ms
        for option in set(answer.selected):
            if 0 <= option < len(counts):
                counts[option] += 1
    seen = answered + timed_out
    return QuestionStats(
        question_index=index,
        text=question.text,
        options=list(question.options),
        correct_options=list(question.correct),
        counts=counts,
        answered=answered,
        timed_out=timed_out,
        correct=correct,
        correct_rate=correct / seen if seen else 0.0,
        mean_elapsed_ms=elapsed_total / answered if answered else None,
    )


def build_archive(
    config: RunConfig,
    questions: list[RunQuestion],
    meta: dict[str, str],
    participants: list[ParticipantRecord],
    answers: list[AnswerRecord],
    scores: dict[str, float],
) -> tuple[ArchivedRun, list[ArchivedParticipant], list[QuestionStats]]:
    """Turn a run's state (as read from Redis) into its archive.

    The same input in any order gives the same output, so archiving a run twice writes the same
    items. Answers of unknown participants or questions are ignored. A participant's score is
    their entry in the ``scores`` leaderboard, or the sum of their points when they have none.

    Args:
        config: The run's ``config``.
        questions: The run's ``questions``.
        meta: The run's ``meta`` hash (needs ``ended_at_ms``; ``end_reason`` defaults to
            ``completed``; a live run may pass the current time as ``ended_at_ms``).
        participants: Every participant record, kicked ones included.
        answers: Every answer record.
        scores: The ``scores`` sorted set: participant id -> score.

    Returns:
        The summary, the participants best first (with rank and answers by question index),
        and the statistics of every question in order.

    Raises:
        ValueError: If ``meta`` has no ``ended_at_ms``.
    """
    ended_at_ms = _meta_int(meta, "ended_at_ms")
    if ended_at_ms is None:
        raise ValueError(f"run {config.speedrun_id} has no ended_at_ms in its meta")
    known = {p.participant_id: p for p in participants}
    by_participant: dict[str, list[AnswerRecord]] = {pid: [] for pid in known}
    by_question: list[list[AnswerRecord]] = [[] for _ in questions]
    for answer in sorted(answers, key=lambda a: (a.participant_id, a.question_index)):
        if answer.participant_id in known and 0 <= answer.question_index < len(questions):
            by_participant[answer.participant_id].append(answer)
            by_question[answer.question_index].append(answer)
    totals = {
        pid: int(scores[pid]) if pid in scores else sum(a.points for a in by_participant[pid])
        for pid in known
    }
    # Every value below comes from records pydantic has already validated, so construct without
    # validating again: it is most of the CPU time of a 10,000-participant archive otherwise.
    archived = [
        ArchivedParticipant.model_construct(
            participant_id=record.participant_id,
            nickname=record.nickname,
            score=totals[record.participant_id],
            rank=rank,
            correct_count=sum(a.correct for a in by_participant[record.participant_id]),
            kicked=record.kicked,
            answers=[
                ArchivedAnswer.model_construct(
                    question_index=a.question_index,
                    selected=list(a.selected),
                    correct=a.correct,
                    timed_out=a.timed_out,
                    points=a.points,
                    elapsed_ms=a.elapsed_ms,
                )
                for a in by_participant[record.participant_id]
            ],
        )
        for rank, record in _ranked(list(known.values()), totals)
    ]
    stats = [_question_stats(i, q, by_question[i]) for i, q in enumerate(questions)]
    run = ArchivedRun(
        speedrun_id=config.speedrun_id,
        title=config.title,
        mode=config.mode,
        question_set_id=config.question_set_id,
        question_count=len(questions),
        participant_count=len(known),
        created_at_ms=config.created_at_ms,
        started_at_ms=_meta_int(meta, "started_at_ms"),
        ended_at_ms=ended_at_ms,
        end_reason=_END_REASONS.get(meta.get("end_reason", ""), "completed"),
        questions=list(questions),
    )
    return run, archived, stats


_END_REASONS: dict[str, Literal["completed", "ended_by_host", "abandoned"]] = {
    "completed": "completed",
    "ended_by_host": "ended_by_host",
    "abandoned": "abandoned",
}


def leaderboard_from(participants: list[ArchivedParticipant]) -> list[LeaderboardEntry]:
    """Return the leaderboard of archived participants: everyone not kicked, best first.

    Args:
        participants: As :func:`build_archive` returns them (any order).

    Returns:
        One entry per participant who was not kicked, by rank, then nickname.
    """
    staying = sorted(
        (p for p in participants if not p.kicked),
        key=lambda p: (p.rank, p.nickname, p.participant_id),
    )
    return [
        LeaderboardEntry(
            participant_id=p.participant_id, nickname=p.nickname, score=p.score, rank=p.rank
        )
        for p in staying
    ]


# ---------------------------------------------------------------------------------------------
# DynamoDB items
# ---------------------------------------------------------------------------------------------

ITEM_DATA = "data"
"""The attribute holding a record's JSON (a string, so no number conversion is ever needed)."""
ITEM_QUESTION = "question"
"""On ``Q#`` items: the :class:`RunQuestion` JSON as played."""


def archive_items(
    run: ArchivedRun, participants: list[ArchivedParticipant], stats: list[QuestionStats]
) -> list[dict[str, str]]:
    """Encode an archive as DynamoDB items, in the order they must be written.

    Every item is ``{pk, sk, data}`` with ``data`` the record's JSON. The summary's
    ``questions`` travel in the ``Q#`` items (attribute ``question``) instead, because 1,000
    questions at their maximum sizes do not fit in one 400 KB item. The ``SUMMARY`` item is last:
    a run whose ``SUMMARY`` exists is completely archived.

    Args:
        run: The summary.
        participants: Every participant.
        stats: Every question's statistics, one per question of ``run``.

    Returns:
        The items, ``SUMMARY`` last.
    """
    pk = run_pk(run.speedrun_id)
    items = [
        {"pk": pk, "sk": participant_sk(p.participant_id), ITEM_DATA: p.model_dump_json()}
        for p in participants
    ]
    items += [
        {
            "pk": pk,
            "sk": question_sk(s.question_index),
            ITEM_DATA: s.model_dump_json(),
            ITEM_QUESTION: run.questions[s.question_index].model_dump_json(),
        }
        for s in stats
    ]
    items.append(
        {"pk": pk, "sk": SUMMARY_SK, ITEM_DATA: run.model_dump_json(exclude={"questions"})}
    )
    return items


def archive_from_items(
    items: list[dict[str, Any]],
) -> tuple[ArchivedRun, list[ArchivedParticipant], list[QuestionStats]] | None:
    """Decode the items of one run's partition (e.g. every page of a ``Query`` on its ``pk``).

    Args:
        items: The items, in any order.

    Returns:
        The summary (with its questions), the participants by rank then nickname, and the
        question statistics in order; None when there is no ``SUMMARY`` (not archived, or not
        completely yet).
    """
    summary: dict[str, Any] | None = None
    participants: list[ArchivedParticipant] = []
    stats: list[tuple[QuestionStats, RunQuestion]] = []
    for item in items:
        sk = str(item["sk"])
        if sk == SUMMARY_SK:
            summary = item
        elif sk.startswith("P#"):
            participants.append(ArchivedParticipant.model_validate_json(item[ITEM_DATA]))
        elif sk.startswith("Q#"):
            stats.append(
                (
                    QuestionStats.model_validate_json(item[ITEM_DATA]),
                    RunQuestion.model_validate_json(item[ITEM_QUESTION]),
                )
            )
    if summary is None:
        return None
    stats.sort(key=lambda pair: pair[0].question_index)
    fields = json.loads(summary[ITEM_DATA])
    fields["questions"] = [question.model_dump() for _, question in stats]
    run = ArchivedRun.model_validate(fields)
    participants.sort(key=lambda p: (p.kicked, p.rank, p.nickname, p.participant_id))
    return run, participants, [s for s, _ in stats]
