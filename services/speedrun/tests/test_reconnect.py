"""Reconnects: resume with missed events, nothing missed, beyond the stream, after the end."""

from __future__ import annotations

import redis

from speedrun_protocol.frames import (
    AnswerFrame,
    AnswerResultFrame,
    EndFrame,
    ErrorFrame,
    LockChangedFrame,
    LockFrame,
    QuestionFrame,
    RunFinishedFrame,
    StartFrame,
)
from speedrun_protocol.state import RunKeys


async def test_reconnect_with_missed_events_replays_them_with_the_same_timer(
    pair, runs, make_client
) -> None:
    a, b = pair
    run = runs.create("self-paced")
    host = make_client(a, run.host_token)
    ann = make_client(a, run.participants[run.pids[0]])
    await host.connect()
    await ann.connect()
    await host.send(StartFrame())
    q0 = await ann.expect(QuestionFrame)
    await ann.close()
    # WHEN something happens while ann is away
    await host.send(LockFrame(locked=True))
    await host.expect(LockChangedFrame)
    # THEN ann, back on the other instance with her last seq, gets it and the same deadline
    ann.url = b.ws_url
    welcome = await ann.connect(resume=True)
    assert welcome.resumed and welcome.participant_id == run.pids[0]
    assert welcome.nickname == "ann"
    current = welcome.snapshot.current_question
    assert current is not None and current.question_index == 0
    assert current.deadline_ms == q0.question.deadline_ms
    assert current.remaining_ms <= q0.question.remaining_ms
    missed = await ann.expect(LockChangedFrame)
    assert missed.seq > q0.seq
    # and play goes on from where it was
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    result = await ann.expect(AnswerResultFrame)
    # scored on the server's clock from when question 0 first reached her: the away time counts
    assert result.correct and 500 <= result.points <= 1000 and result.elapsed_ms is not None


async def test_reconnect_without_missed_events_replays_nothing(pair, runs, make_client) -> None:
    a, b = pair
    run = runs.create("host-paced")
    ann = make_client(a, run.participants[run.pids[0]])
    first = await ann.connect()
    await ann.close()
    ann.url = b.ws_url
    again = await ann.connect(resume=True)
    # her own disconnect and reconnect may be events too, for the host only: nothing for her
    assert again.resumed and again.seq >= first.seq
    await ann.send(LockFrame(locked=True))  # refused (participant): an error, not an event
    assert (await ann.expect(ErrorFrame)).code == "forbidden"
    assert ann.events == []


async def test_reconnect_beyond_the_stream_gets_a_fresh_snapshot(
    pair, runs, make_client, redis_url
) -> None:
    a, b = pair
    run = runs.create("self-paced")
    host = make_client(a, run.host_token)
    await host.connect()
    await host.close()
    await make_client(a, run.host_token).connect()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    runs.join(run, "cat")
    runs.join(run, "dan")
    r.xtrim(RunKeys(run.speedrun_id).events, maxlen=1, approximate=False)
    host.url = b.ws_url
    welcome = await host.connect(resume=True)
    assert not welcome.resumed
    assert [p.nickname for p in welcome.snapshot.participants] == ["ann", "bob", "cat", "dan"]


async def test_reconnect_after_the_run_finished_gets_final_results(pair, runs, make_client) -> None:
    a, b = pair
    run = runs.create("self-paced")
    host = make_client(a, run.host_token)
    ann = make_client(b, run.participants[run.pids[0]])
    await host.connect()
    await ann.connect()
    await host.send(StartFrame())
    await ann.expect(QuestionFrame)
    await ann.send(AnswerFrame(question_index=0, selected=[0]))
    await ann.expect(AnswerResultFrame)
    await host.send(EndFrame())
    finished = await ann.expect(RunFinishedFrame)
    assert finished.reason == "ended_by_host"
    assert await ann.closed() == 1000
    for instance in (a, b):
        ann.url = instance.ws_url
        welcome = await ann.connect(resume=True)
        assert welcome.snapshot.status == "finished"
        own = welcome.snapshot.own
        assert own is not None and (own.score, own.rank) == (1000, 1)
        assert welcome.snapshot.leaderboard[0].nickname == "ann"
        assert await ann.closed() == 1000
