"""The DynamoDB side: writing a run's archive items, and reading them back.

Items come from :func:`speedrun_protocol.archive.archive_items` with deterministic keys, so a
repeated write replaces each item with an identical one. The ``SUMMARY`` item is written only
after every other item has been acknowledged: its presence means the archive is complete.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.conditions import Key

from speedrun_protocol.archive import SUMMARY_SK, run_pk

WRITERS = 8
"""Batch writers working at once: BatchWriteItem is latency-bound, so 10,000 participants (400
requests) are written by several threads sharing the thread-safe low-level client."""


def _write_batch(table: Any, items: list[dict[str, str]]) -> None:
    # The batch writer sends 25 items per BatchWriteItem and resends unprocessed ones; leaving
    # its block flushes everything.
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        for item in items:
            batch.put_item(Item=item)


def write_archive(table: Any, items: list[dict[str, str]]) -> None:
    """Write a run's items: everything but the last with batch writes, then the last (SUMMARY).

    Args:
        table: The boto3 DynamoDB ``Table``.
        items: As :func:`~speedrun_protocol.archive.archive_items` returns them, SUMMARY last.
    """
    *body, summary = items
    share = -(-len(body) // WRITERS) if body else 1
    shares = [body[i : i + share] for i in range(0, len(body), share)]
    if len(shares) <= 1:
        for part in shares:
            _write_batch(table, part)
    else:
        with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix="ddb") as pool:
            # list() re-raises the first failure; the pool's exit waits for all of them.
            list(pool.map(lambda part: _write_batch(table, part), shares))
    # Only now, with every other item acknowledged, the item that says "complete".
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
