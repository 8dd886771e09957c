"""A whole self-paced run with participants on two instances, checked move by move."""

from __future__ import annotations

import json
import time

import redis
from redis.asyncio import Redis

from speedrun_protocol.events import BusEvent
from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    ParticipantFinishedFrame,
    ParticipantsProgressFrame,
    QuestionFrame,
    RunFinishedFrame,
    RunStartedFrame,
    StartFrame,
)
from speedrun_protocol.state import RUN_TTL_S, AnswerRecord, ParticipantProgress, RunKeys
from speedrun_run.client import RunClient
from speedrun_run.engine import Engine
from speedrun_run.scoring import score_answer
from speedrun_run.scripts import DEADLINES_KEY, OUTBOX_KEY


def assert_strictly_increasing(client: RunClient) -> None:
    seqs = [f.seq for f in client.events]
    assert seqs == sorted(set(seqs)), seqs


async def test_self_paced_run_over_two_instances_scores_and_finishes(
    pair, runs, make_client, redis_url
) -> None:
    # GIVEN a self-paced run of 3 questions, the host and ann on instance A, bob on B
    a, b = pair
    run = runs.create("self-paced")
    ann_id, bob_id = run.pids
    host = make_client(a, run.host_token)
    ann = make_client(a, run.participants[ann_id])
    bob = make_client(b, run.participants[bob_id])
    welcome = await host.connect()
    assert welcome.role == "host"
    assert welcome.snapshot.status == "lobby"
    assert [p.nickname for p in welcome.snapshot.participants] == ["ann", "bob"]
    assert welcome.snapshot.join_code is not None
    assert welcome.snapshot.leaderboard == []  # no board in the lobby
    for c in (ann, bob):
        w = await c.connect()
        assert w.role == "participant" and w.snapshot.own is not None
        assert w.snapshot.join_code is None

    # WHEN the host starts
    await host.send(StartFrame())
    for c in (host, ann, bob):
        started = await c.expect(RunStartedFrame)
        assert started.mode == "self-paced" and started.question_count == 3
    q0_ann = await ann.expect(QuestionFrame)
    q0_bob = await bob.expect(QuestionFrame)
    assert q0_ann.question.question_index == 0 == q0_bob.question.question_index
    assert "correct" not in q0_ann.model_dump_json()

    # ann: right, right, right; bob: wrong, right, right (questions' correct option is i % 3)
    plan = {ann: [0, 1, 2], bob: [3, 1, 2]}
    streaks = {ann: [0, 1, 2], bob: [0, 0, 1]}  # correct answers in a row before each
    totals = {ann: 0, bob: 0}
    ids = {ann: ann_id, bob: bob_id}
    running: dict[str, list[int]] = {ann_id: [], bob_id: []}  # each one's total after each answer
    for index in range(3):
        for c, picks in plan.items():
            await c.send(AnswerFrame(question_index=index, selected=[picks[index]]))
            result = await c.expect(AnswerResultFrame)
            assert result.question_index == index
            assert result.correct_options == [index % 3]
            # scored by the rule on the server's own measure of the time
            assert result.elapsed_ms is not None and 0 <= result.elapsed_ms < 20_000
            expected = score_answer(
                points=1000,
                correct_options=[index % 3],
                selected=[picks[index]],
                elapsed_ms=result.elapsed_ms,
                time_limit_ms=20_000,
                streak_before=streaks[c][index],
            )
            assert (result.points, result.streak_bonus) == (expected.points, expected.streak_bonus)
            totals[c] += result.points
            assert result.score == totals[c]
            running[ids[c]].append(totals[c])
            if index < 2:
                nxt = await c.expect(QuestionFrame)
                assert nxt.question.question_index == index + 1
                assert 0 < nxt.question.remaining_ms <= 20_000
        if index == 0:
            # the host hears of both in coalesced views within a leaderboard interval
            seen: set[str] = set()
            while seen != {ann_id, bob_id}:
                view = await host.expect(ParticipantsProgressFrame)
                seen |= {v.participant_id for v in view.participants}
            # the first answers created the answers and stats hashes: every run key expires
            store = redis.Redis.from_url(redis_url)
            run_keys = RunKeys(run.speedrun_id).all()
            ttls = {key: store.ttl(key) for key in run_keys if store.exists(key)}
            assert (
                RunKeys(run.speedrun_id).answers in ttls and RunKeys(run.speedrun_id).qstats in ttls
            )
            assert all(0 < ttl <= RUN_TTL_S for ttl in ttls.values()), ttls
            store.close()
    # THEN everyone sees both finish and the final board
    for c in (host, ann, bob):
        finished = await c.expect(RunFinishedFrame)
        assert finished.reason == "completed"
        assert [(e.nickname, e.score, e.rank) for e in finished.leaderboard] == [
            ("ann", totals[ann], 1),
            ("bob", totals[bob], 2),
        ]
        assert await c.closed() == 1000
        assert_strictly_increasing(c)
    done = [f.participant_id for f in host.events if isinstance(f, ParticipantFinishedFrame)]
    assert sorted(done) == sorted([ann_id, bob_id])
    # each participant hears of their own finish only (N finishes must not cost N² frames)
    for c, pid in ((ann, ann_id), (bob, bob_id)):
        assert [f.participant_id for f in c.events if isinstance(f, ParticipantFinishedFrame)] == [
            pid
        ]
    # the host followed them in coalesced views (a few a second), each true at its time
    views = [
        v for f in host.received if isinstance(f, ParticipantsProgressFrame) for v in f.participants
    ]
    assert views
    for v in views:
        done = v.answered_count
        assert 1 <= done <= 3 and v.score == running[v.participant_id][done - 1]
        assert (v.current_question, v.finished) == ((done, False) if done < 3 else (None, True))
    # every client saw the same run events in the same order (their own cut of them)
    assert [f.seq for f in ann.events if isinstance(f, RunFinishedFrame)] == [
        f.seq for f in host.events if isinstance(f, RunFinishedFrame)
    ]

    # AND the state is what the reporter reads
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = RunKeys(run.speedrun_id)
    meta = r.hgetall(keys.meta)
    assert meta["status"] == "finished" and meta["end_reason"] == "completed"
    assert "ended_at_ms" in meta and "started_at_ms" in meta
    answers = {k: AnswerRecord.model_validate_json(v) for k, v in r.hgetall(keys.answers).items()}
    assert len(answers) == 6
    assert answers[f"{bob_id}:0"].correct is False and answers[f"{bob_id}:0"].points == 0
    ann_progress = ParticipantProgress.model_validate_json(r.hget(keys.progress, ann_id))
    assert (ann_progress.score, ann_progress.correct_count, ann_progress.streak) == (
        totals[ann],
        3,
        3,
    )
    assert ann_progress.finished_at_ms is not None
    assert r.zscore(keys.scores, ann_id) == totals[ann]
    assert r.zscore(OUTBOX_KEY, run.speedrun_id) is not None


async def test_a_participant_who_joins_after_the_start_gets_question_one_once(
    runs, redis_url
) -> None:
    # GIVEN a self-paced run started with ann
    run = runs.create("self-paced", nicknames=("ann",), count=3)
    (ann,) = run.pids
    keys = RunKeys(run.speedrun_id)
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)
    now = int(time.time() * 1000)
    await engine.connect(run.speedrun_id, ann, "i-a|a1", now)
    await engine.start(run.speedrun_id, now)

    # WHEN bob joins afterwards and connects
    bob = runs.join(run, "bob")
    await engine.connect(run.speedrun_id, bob, "i-a|b1", now + 1000)

    # THEN question 1 is issued to him from then on, and he counts as playing
    raw = await client.hget(keys.progress, bob)
    progress = ParticipantProgress.model_validate_json(raw)
    assert (progress.current_question, progress.issued_at_ms) == (0, now + 1000)
    assert await client.hget(keys.meta, "playing_count") == "2"
    # AND connecting again later does not issue it again
    await engine.disconnect(run.speedrun_id, bob, "i-a|b1", now + 2000)
    await engine.connect(run.speedrun_id, bob, "i-a|b2", now + 3000)
    assert await client.hget(keys.progress, bob) == raw
    assert await client.hget(keys.meta, "playing_count") == "2"
    await client.aclose()


async def test_the_start_issues_question_one_once_to_everyone_on_the_board(runs, redis_url) -> None:
    # GIVEN a self-paced run of ann (connected), bob (not connected) and cat (kicked)
    run = runs.create("self-paced", nicknames=("ann", "bob", "cat"), count=3)
    ann, bob, cat = run.pids
    keys = RunKeys(run.speedrun_id)
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)
    now = int(time.time() * 1000)
    await engine.connect(run.speedrun_id, ann, "i-a|a1", now)
    await engine.kick(run.speedrun_id, cat, now)
    (last_before,) = await client.xrevrange(keys.events, count=1)

    # WHEN the host starts
    await engine.start(run.speedrun_id, now + 10)

    # THEN two events follow: the start to all, and question 1 once, to all participants
    added = await client.xrange(keys.events, f"({last_before[0]}", "+")
    events = [BusEvent.from_line(f["e"]) for _, f in added]
    assert [(e.audience, json.loads(e.frame)["type"]) for e in events] == [
        ("all", "run_started"),
        ("participants", "question"),
    ]
    question = QuestionFrame.model_validate_json(events[1].frame)
    assert question.question.question_index == 0
    # AND ann and bob have question 1 from the start, the kicked cat nothing
    for pid in (ann, bob):
        progress = ParticipantProgress.model_validate_json(await client.hget(keys.progress, pid))
        assert (progress.current_question, progress.issued_at_ms) == (0, now + 10)
        assert progress.deadline_ms == question.question.deadline_ms
    assert await client.hget(keys.progress, cat) is None
    assert await client.hget(keys.meta, "playing_count") == "2"
    # AND each has a deadline; only bob, who is not connected, the grace period's too
    deadlines = set(await client.zrange(DEADLINES_KEY, 0, -1))
    sid = run.speedrun_id
    assert {f"a|{sid}|{ann}|0", f"a|{sid}|{bob}|0", f"g|{sid}|{bob}"} <= deadlines
    assert not {f"a|{sid}|{cat}|0", f"g|{sid}|{ann}", f"g|{sid}|{cat}"} & deadlines
    await client.aclose()


async def test_the_start_of_a_run_of_thousands_reaches_every_player(runs, redis_url) -> None:
    # GIVEN a self-paced run of 2,345 players (the start writes them 1,000 at a time), every
    # third of them connected
    run = runs.create("self-paced", nicknames=(), count=3)
    pids = runs.join_many(run, 2_345)
    connected = set(pids[::3])
    keys = RunKeys(run.speedrun_id)
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.hset(keys.presence, mapping={pid: f"i-a|{pid}" for pid in connected})
    engine = Engine(client, "i-a", grace_s=30, host_grace_s=600)

    # WHEN the host starts
    await engine.start(run.speedrun_id, int(time.time() * 1000))

    # THEN every player has question 1 (the same progress) and its answer deadline
    progress = await client.hgetall(keys.progress)
    assert set(progress) == set(pids) and len(set(progress.values())) == 1
    assert await client.hget(keys.meta, "playing_count") == "2345"
    sid = run.speedrun_id
    deadlines = set(await client.zrange(DEADLINES_KEY, 0, -1))
    answers_due = {m for m in deadlines if m.startswith(f"a|{sid}|")}
    assert answers_due == {f"a|{sid}|{pid}|0" for pid in pids}
    # AND the grace period runs for exactly those not connected
    graces = {m for m in deadlines if m.startswith(f"g|{sid}|")}
    assert graces == {f"g|{sid}|{pid}" for pid in pids if pid not in connected}
    await client.aclose()
