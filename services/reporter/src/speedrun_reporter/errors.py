"""Why archiving a run fails. Each one fails its SQS record, which SQS redelivers and, after the
queue's receive limit, moves to the dead-letter queue."""

from __future__ import annotations


class ReporterError(Exception):
    """A completion message that cannot be archived (now)."""


class RunNotFoundError(ReporterError):
    """The run's config is not in Redis and no archive of it exists: nothing to archive."""


class RunNotFinishedError(ReporterError):
    """The run's meta status is not ``finished``; archiving it now would lose later answers."""


class RunStateCorruptError(ReporterError):
    """A key of the run holds something that is not a valid protocol record."""
