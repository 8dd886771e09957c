"""Names of the shared AWS resources, the same in Terraform, the local stack and the tests.

Terraform names every resource ``speedrun-<environment>-...``; the local stack and the tests use
the environment ``local``.
"""

from __future__ import annotations

LOCAL_ENVIRONMENT = "local"
"""The environment name used by ``make run`` and the tests."""


def resource_prefix(environment: str) -> str:
    """Return the name prefix of every AWS resource of an environment.

    Args:
        environment: ``dev``, ``prod`` or ``local``.

    Returns:
        ``speedrun-<environment>``.
    """
    return f"speedrun-{environment}"


def completion_queue_name(environment: str) -> str:
    """Return the name of the SQS completion queue.

    Args:
        environment: The deployment environment.

    Returns:
        ``speedrun-<environment>-completion``.
    """
    return f"{resource_prefix(environment)}-completion"


def completion_dlq_name(environment: str) -> str:
    """Return the name of the completion queue's dead-letter queue.

    Args:
        environment: The deployment environment.

    Returns:
        ``speedrun-<environment>-completion-dlq``.
    """
    return f"{resource_prefix(environment)}-completion-dlq"


def run_table_name(environment: str) -> str:
    """Return the name of the DynamoDB table of archived runs.

    Args:
        environment: The deployment environment.

    Returns:
        ``speedrun-<environment>-runs``.
    """
    return f"{resource_prefix(environment)}-runs"


COMPLETION_MAX_RECEIVE_COUNT = 5
"""Deliveries of one completion message before SQS moves it to the dead-letter queue."""
