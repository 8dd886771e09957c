"""The Lambda handler against a real Redis and the AWS endpoint: archives, idempotency, partial
failures, missing runs and the TTL left on Redis."""

from __future__ import annotations

from collections import Counter

from speedrun_protocol.archive import SUMMARY_SK, participant_sk, run_pk
from speedrun_protocol.state import ARCHIVED_TTL_S, MetaField, RunKeys
from speedrun_reporter.archiver import archive_run
from speedrun_reporter.lambda_handler import handler


def _failures(result: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def test_handler_archives_1000_participants_readable_from_dynamodb(
    write_finished_run, event, read_archive, redis
) -> None:
    # GIVEN a finished run of 1,000 participants and 20 questions, and its completion message
    sqs_event, (sid, *_) = event("completion_one")
    game = write_finished_run(participants=1000, questions=20, speedrun_id=sid)

    # WHEN the handler processes it
    result = handler(sqs_event, None)

    # THEN nothing failed and DynamoDB holds what the game reported
    assert _failures(result) == []
    run, participants, stats = read_archive(sid)
    assert (run.speedrun_id, run.participant_count, run.question_count) == (sid, 1000, 20)
    assert run.questions == game.questions
    assert run.end_reason == "completed" and run.ended_at_ms > run.started_at_ms
    assert {p.participant_id: p.score for p in participants} == game.scores
    expected = {(a.participant_id, a.question_index): a for a in game.answers}
    for p in participants:
        assert [a.question_index for a in p.answers] == list(range(20))
        for a in p.answers:
            played = expected[(p.participant_id, a.question_index)]
            assert (a.selected, a.correct, a.timed_out, a.points, a.elapsed_ms) == (
                played.selected,
                played.correct,
                played.timed_out,
                played.points,
                played.elapsed_ms,
            )
        assert p.correct_count == sum(a.correct for a in p.answers)
    scores = sorted(game.scores.values(), reverse=True)
    assert [p.rank for p in participants] == [scores.index(p.score) + 1 for p in participants]
    for s in stats:
        mine = [a for a in game.answers if a.question_index == s.question_index]
        chosen = Counter(o for a in mine for o in a.selected)
        assert s.counts == [chosen[i] for i in range(4)]
        assert s.answered + s.timed_out == 1000
        assert s.correct == sum(a.correct for a in mine)
    assert redis.hget(RunKeys(sid).meta, MetaField.ARCHIVED) == "1"


def test_handler_same_message_three_times_leaves_one_archive(
    write_finished_run, event, archived_items
) -> None:
    sqs_event, (sid, *_) = event("completion_one")
    write_finished_run(participants=30, questions=4, speedrun_id=sid)

    results = [handler(sqs_event, None) for _ in range(3)]

    assert [_failures(r) for r in results] == [[], [], []]
    items = archived_items(sid)
    assert len(items) == 30 + 4 + 1
    assert [i["sk"] for i in items].count(SUMMARY_SK) == 1


def test_archive_run_after_a_partial_write_rewrites_identical_items(
    write_finished_run, clients, archived_items, settings
) -> None:
    # GIVEN an archived run whose write was interrupted: SUMMARY and some items missing, no flag
    game = write_finished_run(participants=40, questions=5)
    sid = game.config.speedrun_id
    assert archive_run(clients, sid, settings.ARCHIVED_TTL_S).status == "archived"
    complete = archived_items(sid)
    for p in game.participants[:15]:
        clients.table.delete_item(Key={"pk": run_pk(sid), "sk": participant_sk(p.participant_id)})
    clients.table.delete_item(Key={"pk": run_pk(sid), "sk": SUMMARY_SK})
    clients.redis.hdel(RunKeys(sid).meta, MetaField.ARCHIVED)

    # WHEN the message is retried
    outcome = archive_run(clients, sid, settings.ARCHIVED_TTL_S)

    # THEN exactly the same items exist again
    assert outcome.status == "archived"
    assert archived_items(sid) == complete


def test_archive_run_already_archived_writes_nothing(
    write_finished_run, clients, archived_items, settings
) -> None:
    sid = write_finished_run().config.speedrun_id
    archive_run(clients, sid, settings.ARCHIVED_TTL_S)
    before = archived_items(sid)

    outcome = archive_run(clients, sid, settings.ARCHIVED_TTL_S)

    assert (outcome.status, outcome.items) == ("already_archived", 0)
    assert archived_items(sid) == before


def test_handler_failure_mid_batch_reports_only_that_record(
    write_finished_run, event, read_archive
) -> None:
    # GIVEN a batch of three completions whose middle run is not in Redis
    sqs_event, (first, missing, last) = event("completion_batch")
    write_finished_run(speedrun_id=first)
    write_finished_run(speedrun_id=last)

    result = handler(sqs_event, None)

    assert _failures(result) == [sqs_event["Records"][1]["messageId"]]
    assert read_archive(first) is not None
    assert read_archive(last) is not None
    assert read_archive(missing) is None


def test_handler_missing_run_fails_every_time(event, read_archive) -> None:
    sqs_event, (sid, *_) = event("completion_one")

    results = [handler(sqs_event, None) for _ in range(2)]

    assert [_failures(r) for r in results] == [[sqs_event["Records"][0]["messageId"]]] * 2
    assert read_archive(sid) is None


def test_handler_run_not_finished_fails_the_record(write_finished_run, event, read_archive) -> None:
    sqs_event, (sid, *_) = event("completion_one")
    write_finished_run(speedrun_id=sid, status="running")

    result = handler(sqs_event, None)

    assert _failures(result) == [sqs_event["Records"][0]["messageId"]]
    assert read_archive(sid) is None


def test_handler_malformed_message_fails_the_record(event) -> None:
    sqs_event, _ = event("completion_malformed")

    result = handler(sqs_event, None)

    assert _failures(result) == [sqs_event["Records"][0]["messageId"]]


def test_handler_run_gone_from_redis_after_archive_succeeds(
    write_finished_run, event, redis, read_archive
) -> None:
    # GIVEN an archived run whose Redis keys have since expired
    sqs_event, (sid, *_) = event("completion_one")
    write_finished_run(speedrun_id=sid)
    assert _failures(handler(sqs_event, None)) == []
    redis.delete(*RunKeys(sid).all())

    # WHEN a late duplicate of its completion arrives
    result = handler(sqs_event, None)

    # THEN it is acknowledged, not dead-lettered
    assert _failures(result) == []
    assert read_archive(sid) is not None


def test_archive_run_sets_the_archived_ttl_on_every_key(
    write_finished_run, clients, settings
) -> None:
    sid = write_finished_run().config.speedrun_id
    keys = [k for k in RunKeys(sid).all() if clients.redis.exists(k)]
    assert len(keys) >= 9
    assert all(clients.redis.ttl(k) > ARCHIVED_TTL_S for k in keys)

    archive_run(clients, sid, settings.ARCHIVED_TTL_S)

    ttls = {k: clients.redis.ttl(k) for k in keys}
    assert all(0 < ttl <= ARCHIVED_TTL_S for ttl in ttls.values()), ttls
    assert clients.redis.exists(*keys) == len(keys)
