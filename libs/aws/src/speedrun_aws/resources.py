"""The completion queue, its dead-letter queue and the run table, created like Terraform does.

``make run`` and the tests call :func:`ensure_local_resources` against a LocalStack-compatible
endpoint; the names come from :mod:`speedrun_protocol.names`, the same Terraform uses, and the
settings (redrive limit, visibility timeout, key schema) match ``terraform/modules``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from speedrun_protocol.names import (
    COMPLETION_MAX_RECEIVE_COUNT,
    completion_dlq_name,
    completion_queue_name,
    run_table_name,
)

REPORTER_TIMEOUT_S = 60
"""The reporter Lambda's timeout; the queue's visibility timeout is six times this."""


@dataclass(frozen=True)
class LocalResources:
    """What :func:`ensure_local_resources` made."""

    queue_url: str
    dlq_url: str
    table_name: str


def ensure_local_resources(
    sqs: Any,
    dynamodb: Any,
    environment: str,
    visibility_timeout_s: int = 6 * REPORTER_TIMEOUT_S,
) -> LocalResources:
    """Create (or find) the completion queue, its DLQ and the run table.

    Args:
        sqs: An SQS client.
        dynamodb: A DynamoDB client.
        environment: The environment name, ``local`` for ``make run`` and tests.
        visibility_timeout_s: The queue's visibility timeout (tests shorten it).

    Returns:
        The queue URLs and the table name.
    """
    dlq_url = sqs.create_queue(
        QueueName=completion_dlq_name(environment),
        Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=completion_queue_name(environment),
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": COMPLETION_MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    table = run_table_name(environment)
    try:
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    except dynamodb.exceptions.ResourceInUseException:
        pass
    return LocalResources(queue_url=queue_url, dlq_url=dlq_url, table_name=table)
