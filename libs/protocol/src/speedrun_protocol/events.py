"""Messages between processes that are not WebSocket frames: the Redis bus and the queue.

Redis holds the truth; the run events published on a run's channel only wake the instances that
hold sockets of that run, carrying the already-encoded frames so each is encoded once.

A run event travels as one line (a :class:`BusEvent`): its seq, audience, participant id (or
''), close (or '') and frame, joined by tabs. The frame comes last and is compact JSON, which holds
no raw tab or newline (both are escaped inside JSON strings). The same line is the event's entry
in the run's ``events`` stream (field ``e``, see :mod:`speedrun_protocol.state`), so replay reads
what the bus carried. One bus message holds the events one script emitted, in sequence order (an
answer's result and the next question travel together): the run's id on the first line, then one
line per event. Redis builds these in Lua, where lines cost a third less than JSON-encoding each
event (whose frame, itself JSON, had every quote escaped again) into the stream's four fields and
a JSON array: emitting 10,000 results in one script, 67 ms of Redis instead of 105.

A :class:`CompletionMessage` goes to the SQS completion queue, exactly once per finished run from
the engine's side (duplicates downstream are tolerated by the reporter).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

AudienceKind = Literal["all", "host", "participants", "participant"]

EventFields = tuple[int, str, str, str, str]
"""A run event as the hub handles it: seq, audience, participant id or '', frame, close or ''."""


class BusEvent(BaseModel):
    """One run event as it travels on the Redis bus (channel :func:`run_channel`) and sits in the
    run's ``events`` stream: one line of five tab-separated fields, in this order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1, description="The run's sequence number of this event.")
    audience: AudienceKind = Field(description="Who receives the frame.")
    participant_id: str = Field(
        default="",
        pattern=r"^[^\t\n]*$",
        description="With audience 'participant' (or a kick): the one recipient.",
    )
    close: Literal["", "kicked", "finished"] = Field(
        default="",
        description="Also close the matching sockets: 'kicked' closes participant_id's, "
        "'finished' closes every socket of the run after the frame.",
    )
    frame: str = Field(
        pattern=r"^[^\n]*$",
        description="The server frame, encoded as compact JSON text (its seq first).",
    )

    def line(self) -> str:
        """Encode the event as its line."""
        return "\t".join(
            (str(self.seq), self.audience, self.participant_id, self.close, self.frame)
        )

    @classmethod
    def from_line(cls, line: str) -> BusEvent:
        """Decode and validate one event's line (the hub's hot path uses :func:`split_event`)."""
        seq, audience, participant_id, frame, close = split_event(line)
        return cls.model_validate(
            {
                "seq": seq,
                "audience": audience,
                "participant_id": participant_id,
                "close": close,
                "frame": frame,
            }
        )


def split_event(line: str) -> EventFields:
    """Split one event's line into its fields, without validating them.

    Args:
        line: A line as Redis emitted it.

    Returns:
        seq, audience, participant id or '', frame, close or ''.
    """
    seq, audience, participant_id, close, frame = line.split("\t", 4)
    return int(seq), audience, participant_id, frame, close


def bus_message(speedrun_id: str, events: Iterable[BusEvent]) -> str:
    """Encode a bus message as the scripts publish it (Python's side: tests and tools).

    Args:
        speedrun_id: The run.
        events: Its events, in sequence order.

    Returns:
        The run's id, then one line per event.
    """
    return "\n".join([speedrun_id, *(event.line() for event in events)])


def read_bus_message(data: str) -> tuple[str, list[EventFields]]:
    """Decode a bus message into the run's id and its events, without validating them.

    A JSON array of event objects (the format before lines) is read too: during a rolling
    deploy, processes of the previous release still publish it.

    Args:
        data: The published message.

    Returns:
        The run's id and its events, in sequence order.
    """
    if data.startswith("["):
        legacy = orjson.loads(data)
        speedrun_id = legacy[0]["speedrun_id"] if legacy else ""
        return speedrun_id, [_legacy_event(event) for event in legacy]
    speedrun_id, *lines = data.split("\n")
    return speedrun_id, [split_event(line) for line in lines]


def stream_event(entry_id: str, fields: dict[str, str]) -> EventFields:
    """Decode one entry of a run's ``events`` stream (see :mod:`speedrun_protocol.state`).

    An entry of the previous release (fields ``a``, ``p``, ``f``, ``c``) is read too: a run that
    started before a deploy keeps its events.

    Args:
        entry_id: The entry's id, ``0-<seq>``.
        fields: Its fields.

    Returns:
        The event.
    """
    line = fields.get("e")
    if line is not None:
        return split_event(line)
    seq = int(entry_id.split("-", 1)[1])
    return seq, fields["a"], fields.get("p", ""), fields["f"], fields.get("c", "")


def _legacy_event(event: dict[str, Any]) -> EventFields:
    return (
        int(event["seq"]),
        event["audience"],
        event.get("participant_id") or "",
        event["frame"],
        event.get("close") or "",
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
