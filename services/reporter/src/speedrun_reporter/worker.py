"""The local reporter: long-polls the completion queue and calls the Lambda handler with the
same SQS event shape the event source mapping builds.

Like the mapping with ``ReportBatchItemFailures``, it deletes only the messages the handler did
not report as failed; failed ones reappear after the visibility timeout and reach the dead-letter
queue after ``maxReceiveCount`` receives. ``make run`` starts it as
``python -m speedrun_reporter.worker``. SIGTERM or SIGINT stops it cleanly: during a long poll at
once, during a batch once the batch is done.
"""

from __future__ import annotations

import base64
import signal
import threading
from types import FrameType
from typing import Any

from speedrun_aws import aws_client
from speedrun_reporter.config import Settings, get_settings
from speedrun_reporter.lambda_handler import handler
from speedrun_reporter.log import logger

WAIT_TIME_S = 20
"""Long-poll wait per ReceiveMessage (the SQS maximum)."""
BATCH_SIZE = 10
"""Messages per batch (the SQS maximum per ReceiveMessage)."""
RETRY_DELAY_S = 1.0
"""Pause after a failed poll (e.g. the queue endpoint is down)."""


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [
            base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])
        ],
        "dataType": value["DataType"],
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """Wrap ReceiveMessage results in the event a Lambda SQS event source mapping delivers.

    Args:
        messages: ``Messages`` of a ReceiveMessage answer (with all attributes asked for).
        queue_arn: The queue's ARN.
        region: The queue's region.

    Returns:
        ``{"Records": [...]}`` in Lambda's shape.
    """
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": {
                    name: _lambda_attribute(value)
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class Worker:
    """Polls the completion queue and feeds the handler until stopped."""

    def __init__(self, settings: Settings, sqs: Any | None = None) -> None:
        """Prepare a worker for ``settings.COMPLETION_QUEUE_URL``."""
        if not settings.COMPLETION_QUEUE_URL:
            raise ValueError("COMPLETION_QUEUE_URL is required for the local worker")
        self.queue_url = settings.COMPLETION_QUEUE_URL
        self.sqs = sqs or aws_client("sqs")
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.region = self.queue_arn.split(":")[3]
        self.stopping = threading.Event()
        self.batch = threading.Lock()
        """Held while a batch is being handled, so stopping waits for it."""

    def poll_once(self) -> int:
        """Receive one batch, hand it to the handler, delete what succeeded.

        Returns:
            How many messages were received.
        """
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=WAIT_TIME_S,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = received.get("Messages", [])
        if not messages:
            return 0
        with self.batch:
            result = handler(sqs_event(messages, self.queue_arn, self.region), None)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
        logger.info(
            "batch processed",
            extra={"received": len(messages), "failed": len(failed), "deleted": len(done)},
        )
        return len(messages)

    def _poll_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("polling the completion queue failed; retrying")
                self.stopping.wait(RETRY_DELAY_S)

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("worker stopping", extra={"signal": signal.Signals(signum).name})
        self.stopping.set()

    def run(self) -> None:
        """Poll until SIGTERM or SIGINT.

        Polling runs in a daemon thread: a long poll cannot be interrupted, so on a signal the
        main thread waits only for a batch being handled, then returns and the poll dies with
        the process (messages it may have just received reappear after the visibility timeout).
        """
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        logger.info("worker polling", extra={"queue_url": self.queue_url})
        threading.Thread(target=self._poll_forever, name="poll", daemon=True).start()
        self.stopping.wait()
        with self.batch:
            logger.info("worker stopped")


def main() -> None:
    """Run the local worker with the environment's settings."""
    settings = get_settings()
    logger.setLevel(settings.LOG_LEVEL.upper())
    Worker(settings).run()


if __name__ == "__main__":
    main()
