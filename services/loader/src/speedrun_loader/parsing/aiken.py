"""Moodle's Aiken format: a one-line question, options ``A.`` or ``A)``, then ``ANSWER: X``.

As an extension, ``ANSWER: A, C`` marks several correct options. Locations are ``line N``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from speedrun_loader.parsing.common import Collected, Draft, Loc

OPTION_RE = re.compile(r"^([A-Z])[.)]\s+(.*)$")
ANSWER_RE = re.compile(r"^ANSWER\s*:(.*)$")


def looks_like_aiken(text: str) -> bool:
    """Whether the text has an ``ANSWER:`` line after option lines."""
    lines = [line.strip() for line in text.splitlines()]
    return any(ANSWER_RE.match(line) for line in lines) and any(
        OPTION_RE.match(line) for line in lines
    )


@dataclass
class _Pending:
    text: str
    line: int
    options: list[str] = field(default_factory=list)
    option_lines: list[int] = field(default_factory=list)
    letters: list[str] = field(default_factory=list)


def read_aiken(text: str) -> Collected:
    """Read every question; report each problem with its line."""
    collected = Collected()
    pending: _Pending | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        option = OPTION_RE.match(line)
        answer = ANSWER_RE.match(line)
        if pending is None:
            if option or answer:
                collected.problem(f"line {number}", "expected a question line here")
            else:
                pending = _Pending(text=line, line=number)
        elif answer:
            _finish(pending, answer.group(1), number, collected)
            pending = None
        elif option:
            letter = option.group(1)
            expected = chr(ord("A") + len(pending.options))
            if letter != expected:
                collected.problem(f"line {number}", f"expected option {expected}., found {letter}.")
            pending.options.append(option.group(2))
            pending.option_lines.append(number)
            pending.letters.append(letter)
        elif not pending.options:
            collected.problem(
                f"line {number}",
                "the question must be on one line (Aiken), followed by options 'A. ...'",
            )
        else:
            collected.problem(
                f"line {pending.line}",
                f"the question has no 'ANSWER:' line (a new question starts at line {number})",
            )
            pending = _Pending(text=line, line=number)
    if pending is not None:
        collected.problem(f"line {pending.line}", "the question has no 'ANSWER:' line")
    return collected


def _finish(pending: _Pending, answer: str, line: int, collected: Collected) -> None:
    fields: dict[str, Any] = {"text": pending.text, "options": pending.options}
    reported: set[str] = set()
    letters = [part.strip() for part in re.split(r"[,\s]+", answer.strip()) if part.strip()]
    correct: list[int] = []
    if not letters:
        collected.problem(f"line {line}", "ANSWER: names no option")
    for letter in letters:
        if letter not in pending.letters:
            known = ", ".join(pending.letters) or "none"
            collected.problem(
                f"line {line}", f"ANSWER: {letter!r} is not one of the options ({known})"
            )
        elif pending.letters.index(letter) not in correct:
            correct.append(pending.letters.index(letter))
    if len(correct) == len(letters) and letters:
        fields["correct"] = correct
    else:
        reported.add("correct")
    collected.drafts.append(Draft(fields=fields, locate=_locator(pending, line), reported=reported))


def _locator(pending: _Pending, answer_line: int) -> Any:
    def locate(loc: Loc) -> str:
        head = loc[0] if loc else None
        if head == "options" and len(loc) > 1 and isinstance(loc[1], int):
            index = loc[1]
            if index < len(pending.option_lines):
                return f"line {pending.option_lines[index]}"
        if head == "correct":
            return f"line {answer_line}"
        return f"line {pending.line}"

    return locate
