"""A hypothesis state machine over the engine: join, answer, late answer, reconnect, next, kick,
end.

The engine runs against the real Redis on a virtual clock (every command takes ``now``); due
deadlines are fired by the scheduler's own claim step. After every step the invariants hold:
at most one scored answer per participant and question, scores never decrease, sequence numbers
strictly increase, nothing is scored after its deadline.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from redis.asyncio import Redis

from speedrun_protocol.errors import ErrorCode
from speedrun_protocol.events import BusEvent
from speedrun_protocol.state import AnswerRecord, ParticipantProgress, RunKeys
from speedrun_run.engine import Engine
from speedrun_run.errors import Rejected
from speedrun_run.scheduler import Scheduler
from speedrun_run.views import build_snapshot

QUESTIONS = 3
LIMIT_S = 5


def build_machine(redis_url: str, runs: Any) -> type[RuleBasedStateMachine]:
    class EngineMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.redis = Redis.from_url(redis_url, decode_responses=True)
            self.engine = Engine(self.redis, "i-sm", grace_s=30, host_grace_s=600)
            self.scheduler = Scheduler(self.engine, self.redis, lease_s=5)
            self.now = int(time.time() * 1000)
            self.run_ = None
            self.connected: dict[str, int] = {}
            self.kicked: set[str] = set()
            self.best: dict[str, float] = {}
            self.last_seq = 0
            self.refusals: list[ErrorCode] = []
            self.steps = 0

        def go(self, coro: Any) -> Any:
            return self.loop.run_until_complete(coro)

        def teardown(self) -> None:
            self.go(self.redis.aclose())
            self.loop.close()

        @property
        def sid(self) -> str:
            assert self.run_ is not None
            return self.run_.speedrun_id

        def attempt(self, coro: Any) -> None:
            try:
                self.go(coro)
            except Rejected as exc:
                self.refusals.append(exc.code)

        def meta(self) -> dict[str, str]:
            return self.go(self.redis.hgetall(RunKeys(self.sid).meta))

        def live(self) -> list[str]:
            return [p for p in self.run_.pids if p not in self.kicked]

        @initialize(
            mode=st.sampled_from(["self-paced", "host-paced"]),
            n=st.integers(1, 3),
            started=st.sampled_from([True, True, True, False]),
        )
        def create(self, mode: str, n: int, started: bool) -> None:
            names = tuple(f"p{i}" for i in range(n))
            self.run_ = runs.create(mode, nicknames=names, count=QUESTIONS, time_limit_s=LIMIT_S)
            if started:
                self.go(self.engine.start(self.sid, now=self.now))

        @rule()
        def join(self) -> None:
            if self.meta()["status"] != "finished":
                runs.join(self.run_, f"late{len(self.run_.pids)}")

        @rule(i=st.integers(0, 9))
        def connect(self, i: int) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            value = self.connected.get(pid, 0) + 1
            self.connected[pid] = value
            self.attempt(self.engine.connect(self.sid, pid, f"i-sm|{value}", now=self.now))

        @rule(i=st.integers(0, 9))
        def reconnect(self, i: int) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            value = self.connected.get(pid, 0)
            self.go(self.engine.disconnect(self.sid, pid, f"i-sm|{value}", now=self.now))
            self.connected[pid] = value + 1
            self.attempt(self.engine.connect(self.sid, pid, f"i-sm|{value + 1}", now=self.now))
            if pid in self.kicked:
                return
            static = self.go(self.engine.static(self.sid))
            view = self.go(build_snapshot(self.engine, static, pid, self.now, 10))
            raw = self.go(self.redis.hget(RunKeys(self.sid).progress, pid))
            progress = ParticipantProgress.model_validate_json(raw) if raw else None
            assert view.snapshot.own is not None
            if progress is not None and static.self_paced:
                assert view.snapshot.own.score == progress.score
                if view.snapshot.current_question is not None:
                    assert view.snapshot.current_question.deadline_ms == progress.deadline_ms

        @rule()
        def start(self) -> None:
            self.attempt(self.engine.start(self.sid, now=self.now))

        def open_question(self, pid: str) -> tuple[int, int] | None:
            """The question open for ``pid`` and its deadline, if any."""
            meta = self.meta()
            raw = self.go(self.redis.hget(RunKeys(self.sid).progress, pid))
            progress = ParticipantProgress.model_validate_json(raw) if raw else None
            if progress is not None and progress.deadline_ms is not None:
                assert progress.current_question is not None
                return progress.current_question, progress.deadline_ms
            if meta.get("phase") == "question" and "question_deadline_ms" in meta:
                return int(meta["current_question"]), int(meta["question_deadline_ms"])
            return None

        @rule(
            i=st.integers(0, 9),
            right=st.booleans(),
            picks=st.sets(st.integers(0, 3), min_size=1, max_size=3),
        )
        def answer(self, i: int, right: bool, picks: set[int]) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            found = self.open_question(pid)
            if found is None:
                return
            q = found[0]
            static = self.go(self.engine.static(self.sid))
            chosen = list(static.questions[q].correct) if right else sorted(picks)
            self.attempt(self.engine.answer(self.sid, pid, q, chosen, self.now))

        @rule(i=st.integers(0, 9), right=st.booleans())
        def answer_again(self, i: int, right: bool) -> None:
            """Answering is most of a game: a second rule makes it as likely as it should be."""
            self.answer(i, right, {3})

        @rule(
            i=st.integers(0, 9),
            q=st.integers(0, QUESTIONS - 1),
            picks=st.sets(st.integers(0, 3), min_size=1, max_size=3),
        )
        def answer_any(self, i: int, q: int, picks: set[int]) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            self.attempt(self.engine.answer(self.sid, pid, q, sorted(picks), self.now))

        @rule(i=st.integers(0, 9), over=st.integers(1, 3000))
        def late_answer(self, i: int, over: int) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            keys = RunKeys(self.sid)
            found = self.open_question(pid)
            if found is None:
                return
            q, deadline = found
            before = self.go(self.redis.hlen(keys.answers))
            try:
                self.go(self.engine.answer(self.sid, pid, q, [0], deadline + over))
            except Rejected as exc:
                assert exc.code in (
                    ErrorCode.DEADLINE_PASSED,
                    ErrorCode.QUESTION_NOT_OPEN,
                    ErrorCode.ALREADY_ANSWERED,
                    ErrorCode.WRONG_STATE,
                    ErrorCode.KICKED,
                )
                assert self.go(self.redis.hlen(keys.answers)) == before
            else:
                raise AssertionError("a late answer was accepted")

        @rule(ms=st.sampled_from([100, 1000, 2500, LIMIT_S * 1000 + 1]))
        def advance(self, ms: int) -> None:
            self.now += ms
            self.go(self.scheduler.fire_due(now=self.now))

        @rule()
        def next(self) -> None:
            self.attempt(self.engine.next(self.sid, now=self.now))

        @rule()
        def reveal(self) -> None:
            self.attempt(self.engine.reveal(self.sid, now=self.now))

        @precondition(lambda self: not self.kicked)
        @rule(i=st.integers(0, 9))
        def kick(self, i: int) -> None:
            pid = self.run_.pids[i % len(self.run_.pids)]
            try:
                self.go(self.engine.kick(self.sid, pid, now=self.now))
                self.kicked.add(pid)
            except Rejected as exc:
                assert exc.code in (ErrorCode.UNKNOWN_PARTICIPANT, ErrorCode.WRONG_STATE)

        @precondition(lambda self: self.steps >= 25)
        @rule()
        def end(self) -> None:
            self.attempt(self.engine.end(self.sid, now=self.now))

        # -------------------------------------------------------------------------------------

        @invariant()
        def sequence_numbers_strictly_increase(self) -> None:
            self.steps += 1
            if self.run_ is None:
                return
            keys = RunKeys(self.sid)
            entries = self.go(self.redis.xrange(keys.events, min=f"0-{self.last_seq + 1}"))
            for entry_id, fields in entries:
                seq = int(entry_id.split("-")[1])
                assert seq == self.last_seq + 1
                event = BusEvent.from_line(fields["e"])
                assert event.seq == seq
                assert event.frame.startswith(f'{{"seq":{seq},')
                self.last_seq = seq
            assert int(self.meta()["seq"]) == self.last_seq

        @invariant()
        def one_scored_answer_nothing_late_scores_never_decrease(self) -> None:
            if self.run_ is None:
                return
            keys = RunKeys(self.sid)
            answers = self.go(self.redis.hgetall(keys.answers))
            progress = self.go(self.redis.hgetall(keys.progress))
            meta = self.meta()
            per_pid: dict[str, int] = {}
            settled_upto = int(meta.get("current_question", -1))
            if meta.get("phase") in ("question", "closed"):
                settled_upto -= 1
            self_paced = self.go(self.engine.static(self.sid)).self_paced
            for field, raw in answers.items():
                record = AnswerRecord.model_validate_json(raw)
                assert field == f"{record.participant_id}:{record.question_index}"
                if not record.timed_out:
                    assert record.elapsed_ms <= LIMIT_S * 1000, "scored after its deadline"
                else:
                    assert record.points == 0
                if self_paced or record.question_index <= settled_upto:
                    per_pid[record.participant_id] = (
                        per_pid.get(record.participant_id, 0) + record.points
                    )
            for pid in self.live():
                score = self.go(self.redis.zscore(keys.scores, pid))
                assert score is not None
                assert score >= self.best.get(pid, 0), "a score decreased"
                self.best[pid] = score
                if pid in progress:
                    mine = ParticipantProgress.model_validate_json(progress[pid])
                    assert mine.score == score == per_pid.get(pid, 0)
            finished = [
                f
                for _, f in self.go(self.redis.xrange(keys.events))
                if '"type":"run_finished"' in BusEvent.from_line(f["e"]).frame
            ]
            assert len(finished) == (1 if meta["status"] == "finished" else 0)

    return EngineMachine


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_engine_state_machine_keeps_its_invariants(redis_url: str, runs: Any) -> None:
    machine = build_machine(redis_url, runs)
    machine.TestCase.settings = settings(
        max_examples=20,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()
