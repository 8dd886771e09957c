"""``make run``'s console: every process's log lines, prefixed with its name and made readable.

The services log JSON lines (:mod:`speedrun_protocol.logs`); here each becomes
``12:03:04.120 INFO  speedrun-1 | message key=value ...``, coloured when the output is a terminal.
Lines that are not JSON (Redis, moto, a crash's traceback) are shown as they are.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, TextIO

import orjson

RESET = "\x1b[0m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
NAME_COLOURS = ["\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[32m", "\x1b[33m", "\x1b[96m", "\x1b[95m"]
LEVEL_COLOURS = {
    "debug": DIM,
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_SHOWN_KEYS = frozenset(
    {"time", "timestamp", "level", "service", "logger", "location", "message", "exception"}
)
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and "=" not in value else repr(value)
    return orjson.dumps(value).decode()


def format_line(line: str) -> tuple[str, str | None, str]:
    """Turn one output line into ``(time, level, text)``; level is None for non-JSON lines.

    Args:
        line: A line a process wrote.

    Returns:
        The time (``HH:MM:SS.mmm``, or empty), the lower-case level (or None) and the rest:
        the message, then ``key=value`` for each extra field, then any exception on new lines.
    """
    if not line.startswith("{"):
        return "", None, line
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "", None, line
    if not isinstance(record, dict):
        return "", None, line
    # Ours: "2026-01-02T03:04:05.678Z"; Powertools' (the reporter): "2026-01-02 03:04:05,678+0000".
    stamp = str(record.get("time") or record.get("timestamp") or "")
    time_part = re.sub(r"^\S+[T ]", "", stamp).rstrip("Z").split("+")[0].replace(",", ".")
    level = str(record.get("level", "info")).lower()
    extras = " ".join(f"{k}={_value(v)}" for k, v in record.items() if k not in _SHOWN_KEYS)
    text = str(record.get("message", ""))
    if extras:
        text = f"{text}  {extras}"
    if record.get("exception"):
        text = f"{text}\n{record['exception']}"
    return time_part, level, text


class Console:
    """Writes the stack's log lines and messages to a stream, one whole line at a time."""

    def __init__(
        self,
        stream: TextIO | None = None,
        colour: bool | None = None,
        level: str = "INFO",
        quiet: frozenset[str] = frozenset({"moto"}),
    ) -> None:
        """Make a console.

        Args:
            stream: Where to write; stdout by default.
            colour: Force colours on or off; on when the stream is a terminal by default.
            level: JSON lines below this level are not shown.
            quiet: Processes whose plain (non-JSON) lines are shown only at DEBUG: moto's
                server logs every request it answers, and the reporter polls it all the time.
        """
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() if colour is None else colour
        self.min_level = LEVELS.get(level.lower(), 20)
        self.quiet = quiet
        self._names: dict[str, str] = {}
        self._width = 10
        self._lock = threading.Lock()

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{RESET}" if self.colour and colour else text

    def _name(self, name: str) -> str:
        colour = self._names.setdefault(name, NAME_COLOURS[len(self._names) % len(NAME_COLOURS)])
        self._width = max(self._width, len(name))
        return self._paint(name.ljust(self._width), colour)

    def log(self, name: str, line: str) -> None:
        """Show one output line of the process ``name``."""
        time_part, level, text = format_line(line)
        if level is not None and LEVELS.get(level, 20) < self.min_level:
            return
        if level is None and name in self.quiet and self.min_level > LEVELS["debug"]:
            return
        prefix = self._name(name) + self._paint(" | ", DIM)
        if level is not None:
            prefix += self._paint(time_part, DIM) + " "
            prefix += self._paint(level.upper().ljust(5), LEVEL_COLOURS.get(level, "")) + " "
        body = text.replace("\n", "\n" + " " * (self._width + 3))
        self.write(prefix + body)

    def say(self, text: str, bold: bool = False) -> None:
        """Show a message of the stack itself."""
        self.write(self._paint(text, BOLD) if bold else text)

    def error(self, text: str) -> None:
        """Show an error of the stack itself."""
        self.write(self._paint(text, "\x1b[1;31m"))

    def write(self, text: str) -> None:
        """Write ``text`` and a newline, whole, even when several threads write."""
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()
