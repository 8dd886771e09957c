"""The DynamoDB side: writing a run's archive items, and reading them back.

Items come from :func:`speedrun_protocol.archive.archive_items` with deterministic keys, so a
repeated write replaces each item with an identical one. The ``SUMMARY`` item is written only
after every other item has been acknowledged: its presence means the archive is complete.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from speedrun_protocol.archive import SUMMARY_SK, run_pk


def write_archive(table: Any, items: list[dict[str, str]]) -> None:
    """Write a run's items: everything but the last with batch writes, then the last (SUMMARY).

    Args:
        table: The boto3 DynamoDB ``Table``.
        items: As :func:`~speedrun_protocol.archive.archive_items` returns them, SUMMARY last.
    """
    *body, summary = items
    # The batch writer sends 25 items per BatchWriteItem and resends unprocessed ones; leaving
    # its block flushes everything, so the summary below is only written after all of them.
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        for item in body:
            batch.put_item(Item=item)
    table.put_item(Item=summary)


def has_summary(table: Any, speedrun_id: str) -> bool:
    """Tell whether a run's archive is complete (its ``SUMMARY`` item exists)."""
    found = table.get_item(
        Key={"pk": run_pk(speedrun_id), "sk": SUMMARY_SK},
        ProjectionExpression="pk",
        ConsistentRead=True,
    )
    return "Item" in found


def read_items(table: Any, speedrun_id: str) -> list[dict[str, Any]]:
    """Read every item of a run's partition (all pages), for ``archive_from_items``."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {
        "KeyConditionExpression": Key("pk").eq(run_pk(speedrun_id)),
        "ConsistentRead": True,
    }
    while True:
        page = table.query(**query)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
