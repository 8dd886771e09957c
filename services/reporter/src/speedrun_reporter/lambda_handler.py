"""The Lambda entry point: an SQS batch of completion messages, each archived on its own.

The event source mapping has ``ReportBatchItemFailures``: a record that fails is listed in
``batchItemFailures`` and only it is redelivered; the others are deleted from the queue. After
the queue's receive limit, SQS moves a failing message to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from speedrun_protocol.events import CompletionMessage
from speedrun_reporter.archiver import archive_run
from speedrun_reporter.clients import get_clients
from speedrun_reporter.config import get_settings
from speedrun_reporter.errors import ReporterError
from speedrun_reporter.log import logger

# Even when every record fails, answer with the list of failures rather than raising: SQS then
# treats the batch exactly as a partial failure, and each record's fate stays its own.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    """Archive the run one completion message names; raise to fail just this record."""
    context: dict[str, Any] = {
        "message_id": record.message_id,
        "receive_count": record.attributes.approximate_receive_count,
    }
    try:
        message = CompletionMessage.model_validate_json(record.body)
        context["speedrun_id"] = message.data.speedrun_id
        settings = get_settings()
        archive_run(get_clients(settings), message.data.speedrun_id, settings.ARCHIVED_TTL_S)
    except ReporterError as exc:
        logger.error("completion not archived", extra={**context, "reason": str(exc)})
        raise
    except Exception:
        logger.exception("completion failed unexpectedly", extra=context)
        raise


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Process one SQS batch.

    Args:
        event: The SQS event (``Records``).
        context: The Lambda context (None from the local worker).

    Returns:
        ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``.
    """
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
