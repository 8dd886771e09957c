"""The client factory honours endpoint overrides; local resources match Terraform's settings."""

from __future__ import annotations

import json

import pytest

from speedrun_aws import aws_client, endpoint_url, ensure_local_resources
from speedrun_protocol.names import COMPLETION_MAX_RECEIVE_COUNT, completion_queue_name


def test_endpoint_url_prefers_explicit_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("USE_LOCALSTACK", raising=False)
    assert endpoint_url() is None
    monkeypatch.setenv("USE_LOCALSTACK", "1")
    monkeypatch.setenv("LOCALSTACK_HOST", "ls:4566")
    assert endpoint_url() == "http://ls:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://env:1")
    assert endpoint_url() == "http://env:1"
    assert endpoint_url("http://explicit:2") == "http://explicit:2"


def test_aws_client_talks_to_the_endpoint(aws_env: str) -> None:
    sqs = aws_client("sqs")
    assert sqs.meta.endpoint_url == aws_env
    sqs.create_queue(QueueName="factory-probe")
    assert any(u.endswith("factory-probe") for u in sqs.list_queues()["QueueUrls"])


def test_ensure_local_resources_matches_terraform_settings(aws_env: str) -> None:
    sqs, ddb = aws_client("sqs"), aws_client("dynamodb")
    made = ensure_local_resources(sqs, ddb, "ci1")
    assert made.queue_url.endswith(completion_queue_name("ci1"))
    attrs = sqs.get_queue_attributes(QueueUrl=made.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == COMPLETION_MAX_RECEIVE_COUNT
    assert redrive["deadLetterTargetArn"].endswith("speedrun-ci1-completion-dlq")
    assert int(attrs["VisibilityTimeout"]) == 360
    table = ddb.describe_table(TableName=made.table_name)["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }


def test_ensure_local_resources_twice_is_harmless(aws_env: str) -> None:
    sqs, ddb = aws_client("sqs"), aws_client("dynamodb")
    first = ensure_local_resources(sqs, ddb, "ci2")
    second = ensure_local_resources(sqs, ddb, "ci2")
    assert first == second
