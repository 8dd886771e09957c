"""The local worker: the Lambda event shape, deletes only what succeeded, and a missing run
reaching the dead-letter queue through the real redrive policy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

from speedrun_aws import aws_client
from speedrun_protocol.events import CompletionMessage
from speedrun_protocol.ids import new_speedrun_id
from speedrun_protocol.names import COMPLETION_MAX_RECEIVE_COUNT
from speedrun_reporter.worker import Worker, sqs_event
from speedrun_testkit import wait_until


def _send(sqs, queue_url: str, speedrun_id: str) -> str:  # type: ignore[no-untyped-def]
    body = CompletionMessage.for_run(speedrun_id, "completed", "speedrun/test").model_dump_json()
    return str(sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"])


def _count(sqs, queue_url: str) -> int:  # type: ignore[no-untyped-def]
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _short_queue(sqs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A queue like the completion queue, with a 1 s visibility timeout: (queue url, dlq url)."""
    name = f"reporter-test-{uuid.uuid4().hex[:12]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": COMPLETION_MAX_RECEIVE_COUNT}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    return queue_url, dlq_url


def test_sqs_event_matches_the_lambda_shape(event) -> None:
    lambda_event, _ = event("completion_one")
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": "{}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {"trace": {"StringValue": "x", "DataType": "String"}},
    }

    record = sqs_event([message], "arn:aws:sqs:eu-west-1:1:q", "eu-west-1")["Records"][0]

    assert record.keys() == lambda_event["Records"][0].keys()
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["trace"]["stringValue"] == "x"
    assert record["messageAttributes"]["trace"]["dataType"] == "String"
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "eu-west-1")


def test_worker_poll_archives_and_deletes_only_what_succeeded(
    write_finished_run, settings, resources, read_archive
) -> None:
    # GIVEN one completion of a finished run and one of a missing run on the queue
    sqs = aws_client("sqs")
    sqs.purge_queue(QueueUrl=resources.queue_url)
    good = write_finished_run().config.speedrun_id
    missing = new_speedrun_id()
    _send(sqs, resources.queue_url, good)
    _send(sqs, resources.queue_url, missing)
    worker = Worker(settings, sqs)

    # WHEN the worker has received both
    received = 0
    while received < 2:
        received += worker.poll_once()

    # THEN the good one is archived and deleted; the missing one stays on the queue (in flight)
    assert read_archive(good) is not None
    assert read_archive(missing) is None
    assert _count(sqs, resources.queue_url) == 1


def test_worker_missing_run_reaches_the_dead_letter_queue(resources, settings, redis_url) -> None:
    # GIVEN the worker polling a queue with a 1 s visibility timeout and the real redrive policy
    sqs = aws_client("sqs")
    queue_url, dlq_url = _short_queue(sqs)
    env = {**os.environ, "COMPLETION_QUEUE_URL": queue_url, "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "speedrun_reporter.worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # WHEN a completion names a run that is not in Redis
        message_id = _send(sqs, queue_url, new_speedrun_id())

        # THEN after the receive limit it lands in the dead-letter queue, and only there
        wait_until(lambda: _count(sqs, dlq_url) == 1, timeout=45, what="message in the DLQ")
        moved = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"])["Messages"][0]
        assert moved["MessageId"] == message_id
        assert int(moved["Attributes"]["ApproximateReceiveCount"]) >= COMPLETION_MAX_RECEIVE_COUNT
        assert _count(sqs, queue_url) == 0
    finally:
        # AND the worker stops cleanly on SIGTERM, in the middle of a long poll
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=15)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    assert b"completion not archived" in stderr
