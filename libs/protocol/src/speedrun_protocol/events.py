"""Messages between processes that are not WebSocket frames: the Redis bus and the queue.

Redis holds the truth; the :class:`BusEvent` list published on a run's channel only wakes the
instances that hold sockets of that run, carrying the already-encoded frames so each is encoded
once. One bus message is a JSON array of the events one script emitted, in sequence order (an
answer's result and the next question travel together).
A :class:`CompletionMessage` goes to the SQS completion queue, exactly once per finished run from
the engine's side (duplicates downstream are tolerated by the reporter).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AudienceKind = Literal["all", "host", "participants", "participant"]


class BusEvent(BaseModel):
    """One run event as published on Redis pub/sub (channel :func:`run_channel`), in a JSON array
    with the other events of the same script."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speedrun_id: str = Field(description="The run.")
    seq: int = Field(ge=0, description="The run's sequence number of this event.")
    audience: AudienceKind = Field(description="Who receives the frame.")
    participant_id: str | None = Field(
        default=None, description="With audience 'participant' (or a kick): the one recipient."
    )
    frame: str | None = Field(
        default=None, description="The server frame, already encoded as JSON text."
    )
    close: Literal["kicked", "finished"] | None = Field(
        default=None,
        description="Also close the matching sockets: 'kicked' closes participant_id's, "
        "'finished' closes every socket of the run after the frame.",
    )


def run_channel(speedrun_id: str) -> str:
    """Return the Redis pub/sub channel of one run.

    Args:
        speedrun_id: The run.

    Returns:
        The channel name.
    """
    return f"sr:{{{speedrun_id}}}:bus"


class CompletionData(BaseModel):
    """The payload of a completion message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speedrun_id: str = Field(description="The finished run; the reporter's idempotency key.")
    reason: Literal["completed", "ended_by_host", "abandoned"] = Field(
        description="Why the run ended."
    )
    ended_at: datetime = Field(description="When it ended (UTC).")


class CompletionMessage(BaseModel):
    """A CloudEvents 1.0 style envelope sent to the completion queue when a run ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents version.")
    type: Literal["speedrun.run.completed"] = Field(
        default="speedrun.run.completed", description="The event type."
    )
    source: str = Field(description="Who sent it, e.g. 'speedrun/<instance id>'.")
    id: str = Field(description="Unique per message (not per run).")
    time: datetime = Field(description="When it was sent (UTC).")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="The data's media type."
    )
    data: CompletionData = Field(description="Which run finished.")

    @classmethod
    def for_run(
        cls,
        speedrun_id: str,
        reason: Literal["completed", "ended_by_host", "abandoned"],
        source: str,
        ended_at: datetime | None = None,
    ) -> CompletionMessage:
        """Build the completion message of a run.

        Args:
            speedrun_id: The finished run.
            reason: Why it ended.
            source: The sender, e.g. ``speedrun/<instance id>``.
            ended_at: When it ended; now when omitted.

        Returns:
            A message with a fresh id.
        """
        now = datetime.now(UTC)
        return cls(
            source=source,
            id=str(uuid.uuid4()),
            time=now,
            data=CompletionData(speedrun_id=speedrun_id, reason=reason, ended_at=ended_at or now),
        )
