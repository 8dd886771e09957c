"""A whole host-paced run with participants on two instances, checked move by move."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from speedrun_protocol.events import BusEvent
from speedrun_protocol.frames import (
    AnswerAcceptedFrame,
    AnswerFrame,
    AnswerProgressFrame,
    AnswerResultFrame,
    ErrorFrame,
    LeaderboardFrame,
    NextFrame,
    OwnStanding,
    PingFrame,
    PongFrame,
    QuestionClosedFrame,
    QuestionFrame,
    QuestionRevealedFrame,
    RevealFrame,
    RunFinishedFrame,
    RunStartedFrame,
    StartFrame,
)
from speedrun_protocol.state import RunKeys
from speedrun_run.client import RunClient
from speedrun_run.engine import RESULTS_TAKEOVER_MS, Engine
from speedrun_run.scoring import speed_points
from speedrun_run.scripts import DEADLINES_KEY


def seqs_increase(client: RunClient) -> bool:
    seqs = [f.seq for f in client.events]
    return seqs == sorted(set(seqs))


async def test_a_socket_reads_on_while_its_answers_are_in_flight(pair, runs, make_client) -> None:
    # GIVEN a host-paced run with question 0 open, ann on the instance without the host
    a, b = pair
    run = runs.create("host-paced", nicknames=("ann", "bob"))
    host = make_client(a, run.host_token)
    ann = make_client(b, run.participants[run.pids[0]])
    for c in (host, ann):
        await c.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)

    # WHEN ann sends an answer, the same answer again and a ping, without waiting in between
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    await ann.send(AnswerFrame(question_index=0, selected=[1]))
    await ann.send(PingFrame(id=7))

    # THEN each gets its own reply: the first answer stands, the second is refused, the ping is
    # answered, and the socket stays open
    accepted = await ann.expect(AnswerAcceptedFrame)
    assert accepted.selected == [0]
    refused = await ann.expect(ErrorFrame)
    assert (refused.code, refused.ref) == ("already_answered", "answer")
    assert (await ann.expect(PongFrame)).id == 7


async def test_a_host_that_reconnects_has_the_answered_count_in_its_welcome(
    pair, runs, connect_three
) -> None:
    # GIVEN a host-paced run with question 0 open and ann's answer in; host and ann on A
    a, _ = pair
    run = runs.create("host-paced", nicknames=("ann", "bob"))
    host, ann, bob = await connect_three(run, a, a, a)
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    await ann.expect(AnswerAcceptedFrame)
    await host.expect(AnswerProgressFrame)

    # WHEN the host reconnects to the same instance (which sent it that count already)
    welcome = await host.connect()
    # THEN its welcome has the count; a participant's has none
    assert (welcome.snapshot.phase, welcome.snapshot.answered) == ("question", 1)
    assert (await ann.connect()).snapshot.answered is None
    # AND once the last answer closed the question, a reconnect has the final count
    await bob.send(AnswerFrame(question_index=0, selected=[1]))
    assert (await host.expect(QuestionClosedFrame)).answered == 2
    welcome = await host.connect()
    assert (welcome.snapshot.phase, welcome.snapshot.answered) == ("closed", 2)
    assert welcome.snapshot.closed_reason == "all_answered"
    # AND after the reveal the distribution says it instead
    await host.send(RevealFrame())
    await host.expect(QuestionRevealedFrame)
    welcome = await host.connect()
    assert (welcome.snapshot.answered, welcome.snapshot.closed_reason) == (None, None)
    assert welcome.snapshot.last_distribution is not None
    assert welcome.snapshot.last_distribution.answered == 2


async def test_host_paced_run_over_two_instances_reveals_and_ranks(
    pair, runs, connect_three
) -> None:
    # GIVEN a host-paced run of 2 questions; host on A, ann on A, bob on B
    a, b = pair
    run = runs.create("host-paced", nicknames=("ann", "bob"))
    host, ann, bob = await connect_three(run, a, a, b)

    # WHEN the host starts, question 0 opens for everyone
    await host.send(StartFrame())
    for c in (host, ann, bob):
        await c.expect(RunStartedFrame)
        q = await c.expect(QuestionFrame)
        assert q.question.question_index == 0

    # ann answers right, bob wrong; answers are accepted without the result
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    accepted = await ann.expect(AnswerAcceptedFrame)
    assert accepted.selected == [0]
    progress = await host.expect(AnswerProgressFrame)
    assert (progress.answered, progress.total) == (1, 2)
    # a reply and a coalesced view, not run events: N answers cost no events in the stream
    assert not [f for f in host.events if isinstance(f, AnswerProgressFrame)]
    assert not [f for f in ann.events if isinstance(f, AnswerAcceptedFrame)]
    assert accepted.seq == ann.last_seq  # it repeats the last number the socket had
    # a second answer is refused and changes nothing
    await ann.send(AnswerFrame(question_index=0, selected=[1]))
    refused = await ann.expect(ErrorFrame)
    assert refused.code == "already_answered"
    await bob.send(AnswerFrame(question_index=0, selected=[2]))
    await bob.expect(AnswerAcceptedFrame)
    # every connected participant answered: answering closes by itself
    for c in (host, ann, bob):
        closed = await c.expect(QuestionClosedFrame)
        assert (closed.reason, closed.answered) == ("all_answered", 2)
    assert not any(isinstance(f, AnswerResultFrame) for f in ann.received + bob.received)

    # the host reveals: the distribution to all, each participant's result to them
    await host.send(RevealFrame())
    for c in (host, ann, bob):
        revealed = await c.expect(QuestionRevealedFrame)
        assert revealed.distribution.correct_options == [0]
        assert revealed.distribution.counts == [1, 0, 1, 0]
        assert (revealed.distribution.answered, revealed.distribution.correct) == (2, 1)
    ann_result = await ann.expect(AnswerResultFrame)
    assert ann_result.correct and ann_result.elapsed_ms == accepted.elapsed_ms
    assert ann_result.points == speed_points(1000, accepted.elapsed_ms, 20_000)
    assert ann_result.score == ann_result.points
    first_points = ann_result.points
    bob_result = await bob.expect(AnswerResultFrame)
    assert not bob_result.correct and bob_result.points == 0
    board = await host.expect(LeaderboardFrame, where=lambda f: bool(f.top) and f.top[0].score > 0)
    assert [(e.nickname, e.score, e.rank) for e in board.top] == [
        ("ann", first_points, 1),
        ("bob", 0, 2),
    ]
    board = await bob.expect(
        LeaderboardFrame, where=lambda f: f.own is not None and f.own.rank == 2
    )
    assert board.participant_count == 2 and board.own == OwnStanding(rank=2, score=0)

    # question 1: only ann answers; the host reveals (closing it), bob times out
    await host.send(NextFrame())
    for c in (host, ann, bob):
        q = await c.expect(QuestionFrame)
        assert q.question.question_index == 1
    await ann.send(AnswerFrame(question_index=1, selected=[1]))
    await ann.expect(AnswerAcceptedFrame)
    await host.send(RevealFrame())
    closed = await host.expect(QuestionClosedFrame)
    assert (closed.reason, closed.answered) == ("host", 1)
    await host.expect(QuestionRevealedFrame)
    bob_result = await bob.expect(AnswerResultFrame, where=lambda f: f.question_index == 1)
    assert bob_result.timed_out and bob_result.points == 0
    ann_result = await ann.expect(AnswerResultFrame, where=lambda f: f.question_index == 1)
    assert ann_result.streak == 2 and ann_result.streak_bonus == 100
    assert ann_result.points == 100 + speed_points(1000, ann_result.elapsed_ms or 0, 20_000)
    total = first_points + ann_result.points
    # a late answer is refused
    await bob.send(AnswerFrame(question_index=1, selected=[1]))
    assert (await bob.expect(ErrorFrame)).code == "deadline_passed"

    # THEN next after the last question finishes the run with a podium
    await host.send(NextFrame())
    await host.send(NextFrame())  # one more: refused or ignored, never a second finish
    for c in (host, ann, bob):
        finished = await c.expect(RunFinishedFrame)
        assert [(e.nickname, e.score) for e in finished.leaderboard] == [("ann", total), ("bob", 0)]
        assert await c.closed() == 1000
        assert seqs_increase(c)
    assert sum(isinstance(f, RunFinishedFrame) for f in host.received) == 1


async def test_host_paced_deadline_closes_question_on_the_other_instance(
    pair, runs, make_client
) -> None:
    # GIVEN a host-paced run of 1-second questions started through instance A
    a, b = pair
    run = runs.create("host-paced", nicknames=("ann",), count=2, time_limit_s=1)
    host = make_client(a, run.host_token)
    ann = make_client(b, run.participants[run.pids[0]])
    await host.connect()
    await ann.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    # WHEN A stops before the deadline (its sockets get 1012)
    stopping = asyncio.create_task(a.stop())
    assert await host.closed() == 1012
    await stopping
    # THEN B fires the deadline: answering closes with reason "deadline"
    closed = await ann.expect(QuestionClosedFrame, timeout=6)
    assert (closed.reason, closed.question_index, closed.answered) == ("deadline", 0, 0)
    # and the host, reconnecting to B, resumes with the events it missed
    host.url = b.ws_url
    welcome = await host.connect(resume=True)
    assert welcome.resumed and welcome.snapshot.phase == "closed"
    again = await host.expect(QuestionClosedFrame)
    assert again.seq == closed.seq


async def test_a_question_of_a_run_of_thousands_waits_for_every_connected_player(
    runs, redis_url
) -> None:
    # GIVEN a host-paced run of 2,345 players (a question's opening marks them 1,000 at a time)
    # of whom 2,001 and the host have connected
    keys, client, engine, now, pids = host_paced_run(runs, redis_url, 2_345, count=3)
    connected = set(pids[:2_001])
    sid = keys.speedrun_id
    await asyncio.gather(
        *(engine.connect(sid, who, f"i-a|{who}", now) for who in [*connected, "host"])
    )

    # WHEN the host starts, and later opens the second question
    await engine.start(sid, now)
    # THEN the first question waits for exactly the connected players
    assert await client.smembers(keys.pending) == connected
    # AND when 345 of them have left and one was removed, the second question waits for the
    # others only
    await engine.reveal(sid, now + 1_000)
    left = set(pids[:345])
    await asyncio.gather(*(engine.disconnect(sid, who, f"i-a|{who}", now) for who in left))
    await engine.kick(sid, pids[345], now + 1_500)
    # (the connections keep the set a question's pending set is copied from)
    assert await client.smembers(keys.present) == connected - left - {pids[345]}
    await engine.next(sid, now + 2_000)
    assert await client.smembers(keys.pending) == connected - left - {pids[345]}
    assert await client.hget(keys.meta, "current_question") == "1"
    # AND one connecting meanwhile is waited for too
    await engine.connect(sid, pids[2_100], f"i-a|{pids[2_100]}", now + 2_500)
    assert await client.sismember(keys.pending, pids[2_100])
    await client.aclose()


async def test_a_run_whose_present_set_was_not_kept_is_mended_when_a_question_opens(
    runs, redis_url
) -> None:
    # GIVEN a host-paced run whose connections an earlier version recorded: in the presence hash
    # only, without the set of present players a question's pending set is copied from
    keys, client, engine, now, pids = host_paced_run(runs, redis_url, 1_200, count=3)
    connected = set(pids[:1_100])
    presence = {pid: f"i-a|{pid}" for pid in connected} | {"host": "i-a|h"}
    await client.hset(keys.presence, mapping=presence)

    # WHEN the host starts
    await engine.start(keys.speedrun_id, now)

    # THEN the question waits for exactly the connected players, and the set is whole again
    assert await client.smembers(keys.pending) == connected
    assert await client.smembers(keys.present) == connected
    await client.aclose()


def host_paced_run(
    runs,
    redis_url: str,
    players: int = 0,
    nicknames: tuple[str, ...] = (),
    count: int = 2,
    instance: str = "i-a",
) -> tuple[RunKeys, Redis, Engine, int, list[str]]:
    """A host-paced run of ``count`` questions (``nicknames`` joined, then ``players`` more) in
    the lobby, and an engine on it. Returns its keys, the client, the engine, the clock and the
    extra players' ids."""
    run = runs.create("host-paced", nicknames=nicknames, count=count)
    pids = runs.join_many(run, players) if players else []
    client = Redis.from_url(redis_url, decode_responses=True)
    engine = Engine(client, instance, grace_s=30, host_grace_s=600)
    return RunKeys(run.speedrun_id), client, engine, int(time.time() * 1000), pids


async def first_open(
    runs,
    redis_url: str,
    players: int = 0,
    nicknames: tuple[str, ...] = (),
    count: int = 2,
    instance: str = "i-a",
) -> tuple[RunKeys, Redis, Engine, int, int, list[str]]:
    """A :func:`host_paced_run` whose first question the engine has opened. Returns its keys,
    the client, the engine, the clock, the run's seq after the opening, and the extra players'
    ids."""
    keys, client, engine, now, pids = host_paced_run(
        runs, redis_url, players, nicknames, count, instance
    )
    await engine.start(keys.speedrun_id, now)
    seq = int(await client.hget(keys.meta, "seq") or 0)
    return keys, client, engine, now, seq, pids


async def first_revealed(
    runs, redis_url: str, *instances: str
) -> tuple[RunKeys, Redis, list[Engine], int]:
    """A host-paced run of 3 questions (ann joined) with an engine per instance; the first one
    has started it and revealed question 1. Returns its keys, the client, the engines, the clock."""
    keys, client, first, now, _, _ = await first_open(
        runs, redis_url, nicknames=("ann",), count=3, instance=instances[0]
    )
    await first.reveal(keys.speedrun_id, now + 1_000)
    others = [Engine(client, name, grace_s=30, host_grace_s=600) for name in instances[1:]]
    return keys, client, [first, *others], now


async def test_next_after_a_reveal_here_opens_the_question_in_one_script(runs, redis_url) -> None:
    # GIVEN a host-paced run whose first question this instance has revealed
    keys, client, (engine,), now = await first_revealed(runs, redis_url, "i-a")
    await client.config_resetstat()

    # WHEN the host asks for the next question
    await engine.next(keys.speedrun_id, now + 2_000)

    # THEN it is open after one script and no read of the phase (the one HMGET is the script's
    # own check of the state it expects; reading the phase first would make two)
    assert await client.hget(keys.meta, "current_question") == "1"
    calls = command_calls(await client.info("commandstats"))
    assert calls.get("evalsha") == 1 and calls.get("hmget") == 1
    await client.aclose()


def command_calls(stats: dict[str, Any]) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}


async def test_a_reveal_of_an_open_question_reads_the_phase_once(runs, redis_url) -> None:
    # GIVEN a host-paced run whose first question is open
    keys, client, engine, now, _, _ = await first_open(runs, redis_url, nicknames=("ann",))
    await client.config_resetstat()

    # WHEN the host reveals it
    await engine.reveal(keys.speedrun_id, now + 1_000)

    # THEN it took the close and the settle, and one read of the phase: the HMGETs are that
    # read, each script's own check and the settle's read of the answers (each step says
    # which phase it left, so none is read again)
    assert await client.hget(keys.meta, "phase") == "revealed"
    calls = command_calls(await client.info("commandstats"))
    assert (calls["evalsha"], calls["hmget"]) == (2, 4)
    await client.aclose()


async def test_next_after_the_run_moved_on_elsewhere_reads_the_phase(runs, redis_url) -> None:
    # GIVEN a host-paced run: instance A revealed question 1, then B opened and revealed question 2
    keys, client, (a, b), now = await first_revealed(runs, redis_url, "i-a", "i-b")
    await b.next(keys.speedrun_id, now + 2_000)
    await b.reveal(keys.speedrun_id, now + 3_000)

    # WHEN A is asked for the next question
    await a.next(keys.speedrun_id, now + 4_000)

    # THEN it opens question 3, not question 2 again
    assert await client.hget(keys.meta, "current_question") == "2"
    assert await client.hget(keys.meta, "phase") == "question"
    await client.aclose()


async def events_after(client: Redis, keys: RunKeys, seq: int) -> list[BusEvent]:
    return [BusEvent.from_line(f["e"]) for _, f in await client.xrange(keys.events, f"0-{seq + 1}")]


async def test_a_reveal_of_thousands_sends_the_results_a_thousand_per_script(
    runs, redis_url
) -> None:
    # GIVEN a host-paced run of 2,345 players whose first question is open
    keys, client, engine, now, seq, pids = await first_open(runs, redis_url, players=2_345)
    await client.config_resetstat()

    # WHEN the host reveals it (closing it: nobody answered)
    await engine.reveal(keys.speedrun_id, now + 1_000)

    # THEN every player has exactly one result, the first 1,000 with the settle (before the
    # distribution), the others in two more scripts, and nothing makes the next question wait
    events = await events_after(client, keys, seq)
    kinds = [json.loads(e.frame)["type"] for e in events]
    assert kinds[0] == "question_closed"
    assert kinds[1:1_001] == ["answer_result"] * 1_000
    assert kinds[1_001] == "question_revealed"
    assert kinds[1_002:] == ["answer_result"] * 1_345
    results = [e for e in events if json.loads(e.frame)["type"] == "answer_result"]
    assert sorted(e.participant_id for e in results) == sorted(pids)
    assert all(json.loads(e.frame)["timed_out"] for e in results)
    calls = command_calls(await client.info("commandstats"))
    assert calls["evalsha"] == 4  # close, settle with 1,000 results, 1,000 more, the last 345
    assert await client.hmget(keys.meta, "results_due_ms", "results_sent_to") == [None, None]
    # ... and no other instance is due to take the sending over
    assert await client.zscore(DEADLINES_KEY, f"r|{keys.speedrun_id}|0") is None
    await client.aclose()


async def test_next_waits_for_the_results_another_instance_is_still_sending(
    runs, redis_url
) -> None:
    # GIVEN a revealed question whose remaining results another instance is still sending
    keys, client, (_, b), _ = await first_revealed(runs, redis_url, "i-a", "i-b")
    due = int(time.time() * 1000) + 3_000
    await client.hset(keys.meta, "results_due_ms", due)

    async def last_chunk_sent() -> float:
        await asyncio.sleep(0.3)
        await client.hdel(keys.meta, "results_due_ms")
        return time.time() * 1000

    # WHEN the host asks another instance for the next question meanwhile
    sent = asyncio.create_task(last_chunk_sent())
    await b.next(keys.speedrun_id)

    # THEN the question opened once the results were out, not before
    opened = int(await client.hget(keys.meta, "question_opened_ms") or 0)
    assert await client.hget(keys.meta, "current_question") == "1"
    assert opened >= int(await sent) - 1
    await client.aclose()


async def test_next_goes_ahead_when_the_sender_of_the_results_stopped(runs, redis_url) -> None:
    # GIVEN a revealed question whose results sender stopped before its last chunk
    keys, client, (_, b), _ = await first_revealed(runs, redis_url, "i-a", "i-b")
    due = int(time.time() * 1000) + 300
    await client.hset(keys.meta, "results_due_ms", due)

    # WHEN the host asks for the next question
    await b.next(keys.speedrun_id)

    # THEN it opens once the window is over, and the mark is gone
    assert await client.hget(keys.meta, "current_question") == "1"
    assert int(await client.hget(keys.meta, "question_opened_ms") or 0) >= due
    assert not await client.hexists(keys.meta, "results_due_ms")
    await client.aclose()


async def test_results_of_a_question_the_run_has_moved_past_are_not_sent(runs, redis_url) -> None:
    # GIVEN a run that has moved on to its second question
    keys, client, (a,), now = await first_revealed(runs, redis_url, "i-a")
    (pid,) = await client.zrange(keys.scores, 0, -1)
    await a.next(keys.speedrun_id, now + 2_000)
    seq = int(await client.hget(keys.meta, "seq") or 0)

    # WHEN a late chunk of the first question's results arrives
    reply = await a._script("host_results", keys.speedrun_id, now, 0, "1", "", pid, '{"type":"x"}')

    # THEN it is refused and nothing is sent
    assert reply == ["stale"]
    assert await events_after(client, keys, seq) == []
    await client.aclose()


def fail_results_after(monkeypatch: Any, engine: Engine, chunks: int) -> None:
    """From now on, the engine's Redis fails at the result chunks after the first ``chunks``."""
    script = engine._script
    sent = 0

    async def failing(name: str, *args: Any, **kwargs: Any) -> list[Any]:
        nonlocal sent
        if name == "host_results":
            sent += 1
            if sent > chunks:
                raise RedisConnectionError("connection lost")
        return await script(name, *args, **kwargs)

    monkeypatch.setattr(engine, "_script", failing)


async def test_a_reveal_whose_later_results_cannot_be_sent_is_still_a_reveal(
    runs, redis_url, monkeypatch, caplog
) -> None:
    # GIVEN a host-paced run of 1,500 players whose first question is open, and a Redis that
    # fails once the settle is done
    keys, client, engine, now, seq, _ = await first_open(runs, redis_url, players=1_500)
    fail_results_after(monkeypatch, engine, 0)

    # WHEN the host reveals it
    await engine.reveal(keys.speedrun_id, now + 1_000)

    # THEN the reveal stands (no error for the host): revealed, scored, 1,000 results out,
    # the 500 others logged as unsent, and the next question waits out the window
    assert await client.hget(keys.meta, "phase") == "revealed"
    kinds = [json.loads(e.frame)["type"] for e in await events_after(client, keys, seq)]
    assert kinds.count("answer_result") == 1_000 and kinds[-1] == "question_revealed"
    (record,) = [r for r in caplog.records if r.message == "reveal results not all sent"]
    assert record.unsent == 500  # type: ignore[attr-defined]
    assert await client.hexists(keys.meta, "results_due_ms")
    await client.aclose()


@pytest.mark.parametrize("takers", [1, 2])
async def test_results_a_reveal_left_unsent_are_sent_once_by_other_instances(
    runs, redis_url, monkeypatch, takers
) -> None:
    # GIVEN a host-paced run of 2,500 players, five of whom answered, whose first question
    # instance a revealed: the settle's 1,000 results and one more chunk went out, then its
    # Redis failed (or it stopped)
    keys, client, a, now, seq, pids = await first_open(runs, redis_url, players=2_500)
    answered = sorted(pids)[-5:]  # last in id order: among the results left unsent
    # (together: with nobody connected, the first answer recorded closes the question)
    await asyncio.gather(*(a.answer(keys.speedrun_id, p, 0, [0], now + 500) for p in answered))
    fail_results_after(monkeypatch, a, 1)
    await a.reveal(keys.speedrun_id, now + 1_000)
    sent = [e for e in await events_after(client, keys, seq) if "answer_result" in e.frame]
    assert len(sent) == 2_000

    # WHEN the takeover comes due and the schedulers of other instances fire it (two at once:
    # each takes the chunks the other has not sent)
    item = f"r|{keys.speedrun_id}|0"
    due = await client.zscore(DEADLINES_KEY, item)
    assert due == now + 1_000 + RESULTS_TAKEOVER_MS
    others = [Engine(client, f"i-{i}", grace_s=30, host_grace_s=600) for i in range(takers)]
    await asyncio.gather(*(engine.fire(item, int(due)) for engine in others))

    # THEN every player has exactly one result, and those rebuilt are what the settle made
    results = {}
    for event in await events_after(client, keys, seq):
        frame = json.loads(event.frame)
        if frame["type"] == "answer_result":
            assert event.participant_id not in results
            results[event.participant_id] = frame
    assert sorted(results) == sorted(pids)
    for pid in answered:
        frame = results[pid]
        assert (frame["correct"], frame["timed_out"]) == (True, False)
        assert frame["points"] == frame["score"] == speed_points(1000, 500, 20_000)
    assert results[sorted(pids)[0]]["timed_out"]
    # ... and the next question no longer waits for them
    assert await client.hmget(keys.meta, "results_due_ms", "results_sent_to") == [None, None]
    assert await client.zscore(DEADLINES_KEY, item) is None
    await client.aclose()
