"""boto3 clients, made in one place so endpoint overrides and retries are the same everywhere.

The endpoint is, in order: the ``endpoint`` argument; ``AWS_ENDPOINT_URL``; LocalStack's
convention ``LOCALSTACK_HOST`` when ``USE_LOCALSTACK=1``; otherwise AWS itself. The region is
``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then ``us-east-1``.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
)


def endpoint_url(explicit: str | None = None) -> str | None:
    """Return the AWS endpoint override in force, or None for AWS itself.

    Args:
        explicit: An endpoint given by configuration; wins over the environment.

    Returns:
        The endpoint URL, or None.
    """
    if explicit:
        return explicit
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    if os.environ.get("USE_LOCALSTACK") == "1":
        return f"http://{os.environ.get('LOCALSTACK_HOST', 'localhost:4566')}"
    return None


def _region(explicit: str | None) -> str:
    return (
        explicit
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )


def aws_client(service: str, endpoint: str | None = None, region: str | None = None) -> Any:
    """Make a boto3 client.

    Args:
        service: The boto3 service name, e.g. ``sqs`` or ``dynamodb``.
        endpoint: An explicit endpoint override.
        region: An explicit region.

    Returns:
        The client.
    """
    return boto3.client(
        service, endpoint_url=endpoint_url(endpoint), region_name=_region(region), config=_CONFIG
    )


def aws_resource(service: str, endpoint: str | None = None, region: str | None = None) -> Any:
    """Make a boto3 resource (for DynamoDB's batch writer).

    Args:
        service: The boto3 service name.
        endpoint: An explicit endpoint override.
        region: An explicit region.

    Returns:
        The resource.
    """
    return boto3.resource(
        service, endpoint_url=endpoint_url(endpoint), region_name=_region(region), config=_CONFIG
    )
