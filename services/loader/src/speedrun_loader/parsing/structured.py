"""JSON and YAML: the original mc-speedrun array, and our canonical model in either syntax.

Locations are JSON pointers into the document (``/questions/3/options/1``, ``/3/answers``),
for YAML too; syntax errors point at a line and column.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from speedrun_loader.parsing.common import Collected, Draft, Loc, blank_to_none, json_pointer

STORED_ONLY_KEYS = ("id", "created_at", "source_format", "warnings")
"""Keys of a stored set (``GET /question-sets/{id}``): ignored, so a download can be uploaded
again. The server makes a new id."""

_MC_FIELDS = {
    "question": "text",
    "options": "options",
    "answers": "correct",
    "category": "category",
}
_MC_KEYS = {model: original for original, model in _MC_FIELDS.items()}


class JsonSyntaxError(ValueError):
    """The text is not JSON; carries where."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(message)
        self.location = location
        self.message = message


def load_json(text: str) -> Any:
    """Parse JSON text, turning a syntax error into a located one."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonSyntaxError(f"line {exc.lineno}, column {exc.colno}", exc.msg) from exc
    except RecursionError as exc:
        raise JsonSyntaxError("line 1", "the document is nested too deeply") from exc


def read_mc_speedrun(document: list[Any]) -> Collected:
    """Read the original project's array of ``{question, category, options, answers}``."""
    collected = Collected(empty_location="")
    for index, item in enumerate(document):
        base = (index,)
        if not isinstance(item, dict):
            collected.problem(json_pointer(*base), "each question must be a JSON object")
            continue
        fields: dict[str, Any] = {}
        for key, value in item.items():
            if key in _MC_FIELDS:
                fields[_MC_FIELDS[key]] = value
            else:
                collected.warnings.append(f"{json_pointer(index, key)}: unknown key ignored")
        fields["category"] = blank_to_none(fields.get("category"))
        collected.drafts.append(Draft(fields=fields, locate=_mc_locator(index)))
    return collected


def _mc_locator(index: int) -> Any:
    def locate(loc: Loc) -> str:
        if not loc:
            return json_pointer(index)
        head, *rest = loc
        return json_pointer(index, _MC_KEYS.get(str(head), head), *rest)

    return locate


def read_canonical(document: Any, *, where: str = "") -> Collected:
    """Read ``{title, questions: [...]}`` (the protocol's QuestionSet) from JSON or YAML."""
    collected = Collected(title_location="/title", empty_location="/questions")
    if not isinstance(document, dict):
        collected.problem(
            where, "expected an object with 'title' and 'questions' (or a JSON array of questions)"
        )
        return collected
    for key in document:
        if key in STORED_ONLY_KEYS:
            collected.warnings.append(f"/{key}: ignored (the server sets it)")
        elif key not in ("title", "questions"):
            collected.problem(json_pointer(str(key)), f"unknown field {str(key)!r}")
    collected.title = document.get("title")
    questions = document.get("questions")
    if questions is None:
        collected.problem("/questions", "questions: is required")
        return collected
    if not isinstance(questions, list):
        collected.problem("/questions", "questions: must be a list")
        return collected
    for index, item in enumerate(questions):
        if not isinstance(item, dict):
            collected.problem(json_pointer("questions", index), "each question must be an object")
            continue
        collected.drafts.append(Draft(fields=item, locate=_canonical_locator(index)))
    return collected


def _canonical_locator(index: int) -> Any:
    def locate(loc: Loc) -> str:
        return json_pointer("questions", index, *loc)

    return locate


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TextLoader(_BaseLoader):  # type: ignore[misc]
    """A safe YAML loader (libyaml when present) that keeps text as text.

    ``yes``/``no``, ``1.5`` and dates stay strings: an answer "No" must not become False.
    """


_TextLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:null")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _refuse_aliases(text: str) -> None:
    """Aliases (``*name``) can make a small file expand enormously: refuse them."""
    if "*" not in text:
        return
    for event in yaml.parse(text, Loader=_TextLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise YamlSyntaxError(
                f"line {mark.line + 1}, column {mark.column + 1}",
                "aliases (*name) are not accepted",
            )


class YamlSyntaxError(JsonSyntaxError):
    """The text is not YAML; carries where."""


def load_yaml(text: str) -> Any:
    """Parse YAML text safely, turning a syntax error into a located one."""
    try:
        _refuse_aliases(text)
        return yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line 1"
        raise YamlSyntaxError(location, str(exc.problem or exc.context or "invalid YAML")) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise YamlSyntaxError("line 1", f"invalid YAML: {exc}") from exc


def textify_yaml(document: Any) -> Any:
    """Turn integers YAML read in text places (an answer ``1969``) back into text."""
    if not isinstance(document, dict):
        return document
    if _is_number(document.get("title")):
        document["title"] = str(document["title"])
    questions = document.get("questions")
    if isinstance(questions, list):
        for question in questions:
            if not isinstance(question, dict):
                continue
            for key in ("text", "category"):
                if _is_number(question.get(key)):
                    question[key] = str(question[key])
            options = question.get("options")
            if isinstance(options, list):
                question["options"] = [str(o) if _is_number(o) else o for o in options]
    return document


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
