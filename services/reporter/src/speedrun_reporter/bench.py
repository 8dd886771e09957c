"""The archive benchmark (issue 10's ``make bench``): seconds to archive one synthetic run.

``python -m speedrun_reporter.bench 1000 10000`` prints one JSON line per size.
"""

from __future__ import annotations

import json
import sys
import time

from redis import Redis

from speedrun_aws import aws_client, aws_resource, ensure_local_resources
from speedrun_protocol.ids import new_speedrun_id
from speedrun_protocol.names import LOCAL_ENVIRONMENT, run_table_name
from speedrun_reporter.archiver import archive_run
from speedrun_reporter.clients import Clients
from speedrun_reporter.config import get_settings
from speedrun_reporter.synthetic import make_run, write_run


def run(
    participants: int,
    questions: int,
    *,
    redis_url: str | None = None,
    endpoint: str | None = None,
) -> float:
    """Write a finished synthetic run to Redis, then time archiving it to DynamoDB.

    Args:
        participants: Participants in the run.
        questions: Questions in the run (everyone answers each).
        redis_url: A real Redis; ``REDIS_URL`` when omitted.
        endpoint: The AWS endpoint; ``AWS_ENDPOINT_URL`` (or AWS) when omitted.

    Returns:
        Seconds from reading the run to its Redis keys being marked archived.
    """
    table_name = run_table_name(LOCAL_ENVIRONMENT)
    ensure_local_resources(
        aws_client("sqs", endpoint), aws_client("dynamodb", endpoint), LOCAL_ENVIRONMENT
    )
    redis = Redis.from_url(redis_url or get_settings().REDIS_URL, decode_responses=True)
    try:
        clients = Clients(redis=redis, table=aws_resource("dynamodb", endpoint).Table(table_name))
        synthetic = make_run(new_speedrun_id(), participants, questions)
        write_run(redis, synthetic)
        started = time.perf_counter()
        archive_run(clients, synthetic.config.speedrun_id, ttl_s=60)
        return time.perf_counter() - started
    finally:
        redis.close()


def main() -> None:
    """Benchmark each participant count given on the command line (20 questions each)."""
    sizes = [int(arg) for arg in sys.argv[1:]] or [1_000, 10_000]
    for size in sizes:
        seconds = run(size, 20)
        sys.stdout.write(
            json.dumps(
                {
                    "bench": "reporter_archive",
                    "participants": size,
                    "questions": 20,
                    "seconds": round(seconds, 3),
                }
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
