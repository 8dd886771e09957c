"""The run state in Redis: key names and the records stored under them.

Sign-on creates a run; the speedrun instances play it; the reporter archives it. All three read
and write these keys, so they are defined here once. Every key of one run shares the hash tag
``{<speedrun id>}`` so a Lua script may touch them together (and a Redis Cluster keeps them on one
slot).

Keys of a run (``sr:{id}:...``):

=============== ========= ==========================================================
key              type      holds
=============== ========= ==========================================================
``config``       string    :class:`RunConfig` JSON (immutable)
``questions``    string    JSON list of :class:`RunQuestion` (immutable)
``meta``         hash      mutable run fields, see :class:`MetaField`
``participants`` hash      participant id -> :class:`ParticipantRecord` JSON
``nicks``        hash      case-folded nickname -> participant id (uniqueness)
``scores``       zset      participant id -> score (the leaderboard)
``answers``      hash      ``<participant id>:<question index>`` -> :class:`AnswerRecord`
``progress``     hash      participant id -> :class:`ParticipantProgress` JSON
``events``       stream    the run's recent events, for replay on reconnect (field ``e``:
                           the event's line, see :class:`~speedrun_protocol.events.BusEvent`)
``presence``     hash      ``host`` or participant id -> ``<instance id>|<connection id>`` of
                           the one live connection of that identity (the engine's)
``pending``      set       host-paced: connected participants yet to answer the open question
``qstats``       hash      per-question counters: ``<q>:answered``, ``<q>:timed_out``,
                           ``<q>:correct``, ``<q>:o<option>`` (how many chose each option)
``present``      set       participant ids in ``presence`` (the host's is not): a question's
                           ``pending`` is a copy of it
=============== ========= ==========================================================

Global keys: ``joincode:<code>`` -> speedrun id (``SET NX`` with the run's TTL, so a code is unique
among live runs and is released when the run expires).

Lifetimes: every key of a run gets :data:`RUN_TTL_S` when created and again on every state change,
so an abandoned run disappears by itself; once archived, the reporter shortens them to
:data:`ARCHIVED_TTL_S` so a late reconnect still sees the final results.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from speedrun_protocol.frames import Mode
from speedrun_protocol.questions import Points

RUN_TTL_S = 12 * 60 * 60
"""Seconds a run's keys live after its last state change (12 h)."""
ARCHIVED_TTL_S = 60 * 60
"""Seconds a run's keys live after the reporter archived it (1 h)."""


def join_code_key(code: str) -> str:
    """Return the key that maps a join code to its live run.

    Args:
        code: Six digits.

    Returns:
        ``joincode:<code>``.
    """
    return f"joincode:{code}"


class RunKeys:
    """The Redis key names of one run."""

    __slots__ = (
        "answers",
        "config",
        "events",
        "meta",
        "nicks",
        "participants",
        "pending",
        "presence",
        "present",
        "progress",
        "qstats",
        "questions",
        "scores",
        "speedrun_id",
    )

    def __init__(self, speedrun_id: str) -> None:
        """Name every key of a run.

        Args:
            speedrun_id: The run.
        """
        base = f"sr:{{{speedrun_id}}}"
        self.speedrun_id = speedrun_id
        self.config = f"{base}:config"
        self.questions = f"{base}:questions"
        self.meta = f"{base}:meta"
        self.participants = f"{base}:participants"
        self.nicks = f"{base}:nicks"
        self.scores = f"{base}:scores"
        self.answers = f"{base}:answers"
        self.progress = f"{base}:progress"
        self.events = f"{base}:events"
        self.presence = f"{base}:presence"
        self.pending = f"{base}:pending"
        self.qstats = f"{base}:qstats"
        self.present = f"{base}:present"

    def all(self) -> list[str]:
        """Every key of the run, e.g. to set a TTL on all of them."""
        return [
            self.config,
            self.questions,
            self.meta,
            self.participants,
            self.nicks,
            self.scores,
            self.answers,
            self.progress,
            self.events,
            self.presence,
            self.pending,
            self.qstats,
            self.present,
        ]


class MetaField(StrEnum):
    """Fields of the run's ``meta`` hash (all values are strings)."""

    STATUS = "status"
    """lobby, running or finished."""
    PHASE = "phase"
    """See :data:`speedrun_protocol.frames.Phase`."""
    LOCKED = "locked"
    """"1" when joining is locked by the host, else "0"."""
    SEQ = "seq"
    """The last sequence number given to an event of this run."""
    STARTED_AT_MS = "started_at_ms"
    """When the host started the run (Unix ms)."""
    ENDED_AT_MS = "ended_at_ms"
    """When the run finished (Unix ms)."""
    END_REASON = "end_reason"
    """completed, ended_by_host or abandoned."""
    CURRENT_QUESTION = "current_question"
    """Host-paced: the index of the question open or last opened."""
    QUESTION_OPENED_MS = "question_opened_ms"
    """Host-paced: when the current question opened (Unix ms)."""
    QUESTION_DEADLINE_MS = "question_deadline_ms"
    """Host-paced: when the current question closes (Unix ms)."""
    CLOSED_REASON = "closed_reason"
    """Host-paced: why the last question closed (deadline, all_answered or host)."""
    RESULTS_DUE_MS = "results_due_ms"
    """Host-paced: while a large reveal's results are still being sent, when they will have been
    at the latest (Unix ms); the next question waits for them until then."""
    RESULTS_SENT_TO = "results_sent_to"
    """Host-paced: meanwhile, the last participant (in id order) whose result is out: the next
    chunk follows it, whichever instance sends it."""
    PARTICIPANT_COUNT = "participant_count"
    """Participants joined and not kicked."""
    ARCHIVED = "archived"
    """"1" once the reporter has archived the run."""
    PLAYING_COUNT = "playing_count"
    """Self-paced: participants (not kicked) who have received their first question."""
    FINISHED_COUNT = "finished_count"
    """Self-paced: participants (not kicked) done with every question (or forfeited)."""


class RunQuestion(BaseModel):
    """A question as a run plays it: copied from the set at creation, options possibly shuffled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_index: int = Field(description="Its index in the question set.")
    text: str = Field(description="The question text.")
    options: list[str] = Field(description="Options in this run's display order.")
    correct: list[int] = Field(description="Indexes (into this run's options) of correct ones.")
    category: str | None = Field(default=None, description="Category, if any.")
    time_limit_s: int = Field(
        description="Seconds allowed (the run default when the set had none)."
    )
    points: Points = Field(description="0, 1000 or 2000.")

    @property
    def multi(self) -> bool:
        """True when more than one option is correct."""
        return len(self.correct) > 1


class RunConfig(BaseModel):
    """A run's settings, fixed when sign-on creates it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speedrun_id: str = Field(description="The run's id.")
    join_code: str = Field(description="Six digits, unique among live runs.")
    mode: Mode = Field(description="self-paced or host-paced.")
    title: str = Field(description="The question set's title.")
    question_set_id: str = Field(description="The set the questions were copied from.")
    question_count: int = Field(description="Number of questions in the run.")
    default_time_limit_s: int = Field(description="Time limit used where a question had none.")
    max_participants: int = Field(description="Joining is refused beyond this many.")
    created_at_ms: int = Field(description="When the run was created (Unix ms).")


class ParticipantRecord(BaseModel):
    """A participant, as sign-on records them on joining."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: str = Field(description="Their id.")
    nickname: str = Field(description="Normalised nickname (render as text).")
    joined_at_ms: int = Field(description="When they joined (Unix ms).")
    kicked: bool = Field(default=False, description="Removed by the host.")


class AnswerRecord(BaseModel):
    """One scored answer (or time-out): written once, atomically, never changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: str = Field(description="Who answered.")
    question_index: int = Field(description="Which question (index in the run).")
    selected: list[int] = Field(description="Options chosen; empty when timed out.")
    correct: bool = Field(description="Fully correct.")
    timed_out: bool = Field(default=False, description="No answer before the deadline.")
    points: int = Field(description="Points awarded, streak bonus included.")
    streak_bonus: int = Field(default=0, description="The part of points that is streak bonus.")
    elapsed_ms: int = Field(
        description="Server time from the question reaching them to the answer."
    )
    answered_at_ms: int = Field(description="Server time of the answer (Unix ms).")


class ParticipantProgress(BaseModel):
    """Where a participant is in a run (the engine's per-participant state)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    current_question: int | None = Field(
        default=None, description="Self-paced: the question open for them, if any."
    )
    issued_at_ms: int | None = Field(
        default=None, description="When the current question reached them (Unix ms)."
    )
    deadline_ms: int | None = Field(default=None, description="When it times out (Unix ms).")
    streak: int = Field(default=0, description="Correct answers in a row.")
    answered_count: int = Field(default=0, description="Questions answered or timed out.")
    correct_count: int = Field(default=0, description="Questions answered correctly.")
    score: int = Field(default=0, description="Total points.")
    finished_at_ms: int | None = Field(
        default=None, description="Self-paced: when they finished every question."
    )


# ---------------------------------------------------------------------------------------------
# The run's event log: sequence numbers, replay and the bus, in one atomic step
# ---------------------------------------------------------------------------------------------

EVENT_LOG_MAXLEN = 100_000
"""Events kept per run for replay (approximate trim); older misses get a fresh snapshot."""

EMIT_LUA = """
local bus_channel, bus_lines = nil, {}
local function emit(meta_key, events_key, channel, speedrun_id, audience, pid, body, close, maxlen)
  local seq = redis.call('HINCRBY', meta_key, 'seq', 1)
  local line = seq .. '\\t' .. audience .. '\\t' .. pid .. '\\t' .. close ..
               '\\t{"seq":' .. seq .. ',' .. string.sub(body, 2)
  redis.call('XADD', events_key, 'MAXLEN', '~', maxlen, '0-' .. seq, 'e', line)
  if not bus_channel then
    bus_channel, bus_lines[1] = channel, speedrun_id
  end
  bus_lines[#bus_lines + 1] = line
  return seq
end
local function publish_events()
  if bus_channel then
    redis.call('PUBLISH', bus_channel, table.concat(bus_lines, '\\n'))
    bus_channel, bus_lines = nil, {}
  end
end
"""
"""Lua functions other scripts include (string concatenation) to emit run events.

``emit`` takes the next sequence number from the ``meta`` hash and writes the event's line (see
:class:`~speedrun_protocol.events.BusEvent`: seq, audience, participant id or '', close or '', and
the frame with ``"seq": N`` put first) into the run's ``events`` stream under the id ``0-<seq>``
(so replay is ``XRANGE events 0-<last_seq+1> +``), field ``e``; and keeps the line for the bus.
``body`` is the frame's JSON without ``seq`` (see :func:`frame_body`). ``publish_events`` then
publishes the script's events as one bus message (the run's id, then the lines, in sequence
order) on the run's channel: a script that emits must call it last.
"""

EMIT_EVENT_SCRIPT = (
    EMIT_LUA
    + """
local seq = emit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
publish_events()
return seq
"""
)
"""A script that emits one event: KEYS = meta, events; ARGV = channel, speedrun id, audience,
participant id or '', frame body, close or '', maxlen. Returns the sequence number."""


def frame_body(frame: BaseModel) -> str:
    """Encode a server frame without its ``seq``, ready for :data:`EMIT_LUA` to number it.

    Args:
        frame: A server frame.

    Returns:
        Its JSON text without the ``seq`` field.
    """
    return frame.model_dump_json(exclude={"seq"})
