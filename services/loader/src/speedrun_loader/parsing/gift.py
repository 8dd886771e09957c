"""Moodle GIFT, the multiple-choice subset.

Read: ``=right ~wrong`` options; weights (``~%50%``, ``~%-100%``: a positive weight marks a
correct option, so several may be correct); true/false (``{T}``, ``{TRUE}``, ``{F}``,
``{FALSE}``) as the options True and False; ``::name::`` (dropped: the model has no question
names); ``// comment`` lines; ``$CATEGORY:`` (its last path segment becomes the category of the
questions after it); ``[html]``/``[markdown]``/``[plain]``/``[moodle]`` markers (dropped, the
text is kept as it is); backslash escapes (``\\~ \\= \\# \\{ \\} \\: \\\\``, ``\\n``); questions
over several lines; text after the answer block (a "missing word" question: the block becomes
``_____``).

Dropped, with a warning: per-answer feedback (``#...``) and general feedback (``####...``).

Refused, naming the construct and its line: essay (``{}``), numerical (``{#...}``), short
answer (only ``=`` options), matching (``->``), description (no answer block), and more than
one answer block in a question.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from speedrun_loader.parsing.common import Collected, Draft, Loc, blank_to_none

_SPECIAL = "~=#{}:"
_TRUE_FALSE_RE = re.compile(r"^(T|TRUE|F|FALSE)\s*(#.*)?$", re.DOTALL | re.IGNORECASE)
_WEIGHT_RE = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
_FORMAT_RE = re.compile(r"^\s*\[(html|moodle|plain|markdown)\]", re.IGNORECASE)
_ONLY_MC = "only multiple choice (= and ~ options) and true/false questions are supported"


def looks_like_gift(text: str) -> bool:
    """Whether the text has GIFT's marks: an answer block, a ``::name::`` or ``$CATEGORY:``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("$CATEGORY:") or re.match(r"^::.*::", stripped):
            return True
    for match in re.finditer(r"(?<!\\)\{([^{}]*)(?<!\\)\}", text):
        body = match.group(1).strip()
        if "=" in body or "~" in body or _TRUE_FALSE_RE.match(body):
            return True
    return False


@dataclass
class _Block:
    """One question's text, with the line of every character."""

    text: str
    line_starts: list[int]
    first_line: int

    def line_of(self, offset: int) -> int:
        return self.first_line + bisect.bisect_right(self.line_starts, offset) - 1


def read_gift(text: str) -> Collected:
    """Read every question of a GIFT file; report each problem with its line."""
    collected = Collected()
    state = _State()
    for block in _blocks(text):
        _read_block(block, state, collected)
    if state.feedback:
        collected.warnings.append(f"feedback (#...) dropped from {state.feedback} questions")
    if state.names:
        collected.warnings.append(f"question names (::name::) dropped from {state.names} questions")
    return collected


@dataclass
class _State:
    category: str | None = None
    category_line: int = 0
    feedback: int = 0
    names: int = 0


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    current: list[tuple[int, str]] = []

    def close() -> None:
        if current:
            starts, offset = [], 0
            for _, line in current:
                starts.append(offset)
                offset += len(line) + 1
            joined = "\n".join(line for _, line in current)
            blocks.append(_Block(text=joined, line_starts=starts, first_line=current[0][0]))
            current.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if not stripped:
            close()
        else:
            current.append((number, line))
    close()
    return blocks


_SCANNERS: dict[str, re.Pattern[str]] = {}


def _find(text: str, targets: str, start: int = 0) -> int:
    """Index of the first unescaped character of ``targets`` at or after ``start``, or -1."""
    return _find_pattern(text, "[" + re.escape(targets) + "]", start)


def _find_string(text: str, target: str, start: int = 0) -> int:
    """Index of the first unescaped ``target`` at or after ``start``, or -1."""
    return _find_pattern(text, re.escape(target), start)


def _find_pattern(text: str, wanted: str, start: int) -> int:
    scanner = _SCANNERS.get(wanted)
    if scanner is None:
        # An escape pair is consumed whole, so an escaped target never matches.
        scanner = _SCANNERS.setdefault(wanted, re.compile(rf"\\.|({wanted})", re.DOTALL))
    for match in scanner.finditer(text, start):
        if match.group(1) is not None:
            return match.start(1)
    return -1


def unescape(text: str) -> str:
    """Undo GIFT's backslash escapes (``\\n`` is a new line)."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            out.append("\n" if following == "n" else following)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _read_block(block: _Block, state: _State, collected: Collected) -> None:
    text = block.text
    if text.strip().startswith("$CATEGORY:"):
        first, _, rest = text.strip().partition("\n")
        state.category = _category(first[len("$CATEGORY:") :])
        state.category_line = block.first_line
        if not rest.strip():
            return
        offset = text.index(rest)
        block = _Block(
            text=text[offset:],
            line_starts=[s - offset for s in block.line_starts if s >= offset],
            first_line=block.line_of(offset),
        )
        text = block.text

    where = f"line {block.first_line}"
    opening = _find(text, "{")
    if opening < 0:
        collected.problem(
            where, f"GIFT description (text with no answer block {{...}}): {_ONLY_MC}"
        )
        return
    closing = _find(text, "{}", opening + 1)
    if closing < 0 or text[closing] == "{":
        collected.problem(
            f"line {block.line_of(opening)}", "the answer block opened here has no closing }"
        )
        return
    tail = text[closing + 1 :]
    if _find(tail, "{") >= 0:
        collected.problem(
            f"line {block.line_of(closing + 1 + _find(tail, '{'))}",
            f"a second answer block in one question (GIFT cloze-style): {_ONLY_MC}",
        )
        return

    head = text[:opening]
    if head.lstrip().startswith("::"):
        start = head.index("::") + 2
        end = _find_string(head, "::", start)
        if end < 0:
            collected.problem(where, "the question name (::name::) has no closing ::")
            return
        head = head[end + 2 :]
        state.names += 1
    head = _FORMAT_RE.sub("", head, count=1)
    tail = _FORMAT_RE.sub("", tail, count=1)
    question = unescape(head).strip()
    if tail.strip():
        question = f"{question} _____ {unescape(tail).strip()}".strip()

    body_start = opening + 1
    body = text[body_start:closing]
    general = _find_string(body, "####")
    if general >= 0:
        body = body[:general]
        state.feedback += 1
    block_line = block.line_of(opening)
    parsed = _read_answers(body, body_start, block, block_line, state, collected)
    if parsed is None:
        return
    options, option_lines, correct = parsed
    fields: dict[str, Any] = {
        "text": question,
        "options": options,
        "correct": correct,
        "category": blank_to_none(state.category),
    }
    collected.drafts.append(
        Draft(
            fields=fields,
            locate=_locator(block.first_line, block_line, option_lines, state.category_line),
        )
    )


def _read_answers(
    body: str, body_start: int, block: _Block, block_line: int, state: _State, collected: Collected
) -> tuple[list[str], list[int], list[int]] | None:
    where = f"line {block_line}"
    stripped = body.strip()
    if not stripped:
        collected.problem(where, f"GIFT essay question ({{}}): {_ONLY_MC}")
        return None
    if stripped.startswith("#"):
        collected.problem(where, f"GIFT numerical question ({{#...}}): {_ONLY_MC}")
        return None
    true_false = _TRUE_FALSE_RE.match(stripped)
    if true_false:
        if true_false.group(2):
            state.feedback += 1
        is_true = true_false.group(1).upper().startswith("T")
        return ["True", "False"], [block_line, block_line], [0 if is_true else 1]

    first = _find(body, "=~")
    if first < 0 or body[:first].strip():
        collected.problem(
            where, "answer block: expected options starting with = (right) or ~ (wrong)"
        )
        return None
    options: list[str] = []
    option_lines: list[int] = []
    correct: list[int] = []
    markers: list[str] = []
    had_feedback = False
    position = first
    while position >= 0:
        following = _find(body, "=~", position + 1)
        raw = body[position + 1 : following if following >= 0 else len(body)]
        line = block.line_of(body_start + position)
        marker = body[position]
        markers.append(marker)
        weight = _WEIGHT_RE.match(raw)
        if weight:
            raw = raw[weight.end() :]
        feedback_at = _find(raw, "#")
        if feedback_at >= 0:
            raw = raw[:feedback_at]
            had_feedback = True
        if _find_string(raw, "->") >= 0:
            collected.problem(f"line {line}", f"GIFT matching question (->): {_ONLY_MC}")
            return None
        is_correct = float(weight.group(1)) > 0 if weight else marker == "="
        if is_correct:
            correct.append(len(options))
        options.append(unescape(raw).strip())
        option_lines.append(line)
        position = following
    if "~" not in markers:
        collected.problem(
            where, f"GIFT short answer question (only = answers, no ~ option): {_ONLY_MC}"
        )
        return None
    if had_feedback:
        state.feedback += 1
    if not correct:
        collected.problem(where, "no correct option: mark one with = or a positive ~%weight%")
        return None
    return options, option_lines, correct


def _category(path: str) -> str | None:
    # Moodle writes a '/' inside a category name as '//'.
    parts = [p.replace("\0", "/").strip() for p in path.replace("//", "\0").split("/")]
    parts = [p for p in parts if p and not (p.startswith("$") and p.endswith("$"))]
    if not parts or parts[-1].lower() == "top":
        return None
    return parts[-1]


def _locator(first_line: int, block_line: int, option_lines: list[int], category_line: int) -> Any:
    def locate(loc: Loc) -> str:
        head = loc[0] if loc else None
        index = loc[1] if head == "options" and len(loc) > 1 else None
        if isinstance(index, int) and index < len(option_lines):
            return f"line {option_lines[index]}"
        if head in ("options", "correct"):
            return f"line {block_line}"
        if head == "category" and category_line:
            return f"line {category_line}"
        return f"line {first_line}"

    return locate
